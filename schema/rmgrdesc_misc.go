package schema

import "fmt"

// Descriptions of the rmgrs without relation pages of their own:
// Storage (smgrdesc.c), CLOG, Database, Tablespace, MultiXact, RelMap,
// Standby, Sequence, CommitTs, ReplicationOrigin, Generic, LogicalMessage.

func (d *descCtx) smgr(b []byte) []byte {
	rec := d.data
	switch d.op() {
	case XLogSmgrCreate:
		xl, err := DecodeXlSmgrCreate(rec)
		if err != nil {
			return rdTruncated(b)
		}
		b = rdAppendRelPathPerm(b, xl.Rnode, xl.ForkNum)
	case XLogSmgrTruncate:
		xl, err := DecodeXlSmgrTruncate(rec)
		if err != nil {
			return rdTruncated(b)
		}
		b = rdAppendRelPathPerm(b, xl.Rnode, MainForkNum)
		b = fmt.Appendf(b, " to %d blocks flags %d", xl.Blkno, xl.Flags)
	}
	return b
}

func (d *descCtx) clog(b []byte) []byte {
	rec := d.data
	switch d.op() {
	case ClogZeropage:
		pageno, err := DecodeSlruPageno(rec)
		if err != nil {
			return rdTruncated(b)
		}
		b = fmt.Appendf(b, "page %d", pageno)
	case ClogTruncate:
		xl, err := DecodeXlClogTruncate(rec)
		if err != nil {
			return rdTruncated(b)
		}
		b = fmt.Appendf(b, "page %d; oldestXact %d", xl.Pageno, xl.OldestXact)
	}
	return b
}

func (d *descCtx) dbase(b []byte) []byte {
	rec := d.data
	switch d.op() {
	case XLogDbaseCreateFileCopy:
		xl, err := DecodeXlDbaseCreateFileCopyRec(rec)
		if err != nil {
			return rdTruncated(b)
		}
		b = fmt.Appendf(b, "copy dir %d/%d to %d/%d", xl.SrcTablespaceID, xl.SrcDbID, xl.TablespaceID, xl.DbID)
	case XLogDbaseCreateWalLog:
		xl, err := DecodeXlDbaseCreateWalLogRec(rec)
		if err != nil {
			return rdTruncated(b)
		}
		b = fmt.Appendf(b, "create dir %d/%d", xl.TablespaceID, xl.DbID)
	case XLogDbaseDrop:
		xl, err := DecodeXlDbaseDropRec(rec)
		if err != nil {
			return rdTruncated(b)
		}
		b, _ = rdAppendArray(append(b, "dir"...), "", xl.NTablespaces, xl.TablespaceIDs.Len(), func(b []byte, i int) []byte {
			return fmt.Appendf(b, " %d/%d", xl.TablespaceIDs.At(i), xl.DbID)
		})
	}
	return b
}

func (d *descCtx) tblspc(b []byte) []byte {
	rec := d.data
	switch d.op() {
	case 0x00: // CREATE: ts_id, NUL-terminated ts_path
		if len(rec) < 4 {
			return rdTruncated(b)
		}
		path, ok := rdCString(rec, 4)
		b = fmt.Appendf(b, "%d \"%s\"", rdU32(rec, 0), path)
		if !ok {
			return rdTruncated(b)
		}
	case 0x10: // DROP: ts_id
		if len(rec) < 4 {
			return rdTruncated(b)
		}
		b = fmt.Appendf(b, "%d", rdU32(rec, 0))
	}
	return b
}

// rdMultiXactStatusNames are out_member's labels, by MultiXactStatus.
var rdMultiXactStatusNames = [...]string{
	"(keysh) ", "(sh) ", "(fornokeyupd) ", "(forupd) ", "(nokeyupd) ", "(upd) ",
}

func (d *descCtx) multixact(b []byte) []byte {
	rec := d.data
	switch d.op() {
	case XLogMultixactZeroOffPage, XLogMultixactZeroMemPage:
		pageno, err := DecodeSlruPageno(rec)
		if err != nil {
			return rdTruncated(b)
		}
		b = fmt.Appendf(b, "%d", pageno)
	case XLogMultixactCreateID:
		xl, err := DecodeXlMultixactCreate(rec)
		if err != nil {
			return rdTruncated(b)
		}
		b = fmt.Appendf(b, "%d offset %d nmembers %d: ", xl.Mid, xl.Moff, xl.Nmembers)
		b, _ = rdAppendArray(b, "", xl.Nmembers, xl.Members.Len(), func(b []byte, i int) []byte {
			m := xl.Members.At(i)
			b = fmt.Appendf(b, "%d ", m.Xid)
			if m.Status < uint32(len(rdMultiXactStatusNames)) {
				return append(b, rdMultiXactStatusNames[m.Status]...)
			}
			return append(b, "(unk) "...)
		})
	case XLogMultixactTruncateID:
		xl, err := DecodeXlMultixactTruncate(rec)
		if err != nil {
			return rdTruncated(b)
		}
		b = fmt.Appendf(b, "offsets [%d, %d), members [%d, %d)",
			xl.StartTruncOff, xl.EndTruncOff, xl.StartTruncMemb, xl.EndTruncMemb)
	}
	return b
}

func (d *descCtx) relmap(b []byte) []byte {
	if d.op() == XLogRelmapUpdate {
		xl, err := DecodeXlRelmapUpdate(d.data)
		if err != nil {
			return rdTruncated(b)
		}
		b = fmt.Appendf(b, "database %d tablespace %d size %d", xl.Dbid, xl.Tsid, xl.Nbytes)
	}
	return b
}

func (d *descCtx) standby(b []byte) []byte {
	rec := d.data
	switch d.op() {
	case XLogStandbyLock:
		xl, err := DecodeXlStandbyLocks(rec)
		if err != nil {
			return rdTruncated(b)
		}
		b, _ = rdAppendArray(b, "", xl.Nlocks, xl.Locks.Len(), func(b []byte, i int) []byte {
			l := xl.Locks.At(i)
			return fmt.Appendf(b, "xid %d db %d rel %d ", l.Xid, l.DbOid, l.RelOid)
		})
	case XLogRunningXacts:
		xl, err := DecodeXlRunningXacts(rec)
		if err != nil {
			return rdTruncated(b)
		}
		b = fmt.Appendf(b, "nextXid %d latestCompletedXid %d oldestRunningXid %d",
			xl.NextXid, xl.LatestCompletedXid, xl.OldestRunningXid)
		if xl.Xcnt > 0 {
			b = fmt.Appendf(b, "; %d xacts:", xl.Xcnt)
		}
		var ok bool
		if b, ok = rdAppendArray(b, "", xl.Xcnt, min(xl.Xids.Len(), int(xl.Xcnt)), func(b []byte, i int) []byte {
			return fmt.Appendf(b, " %d", xl.Xids.At(i))
		}); !ok {
			return b
		}
		if xl.SubxidOverflow {
			b = append(b, "; subxid ovf"...)
		}
	case XLogInvalidations:
		xl, err := DecodeXlInvalidations(rec)
		if err != nil {
			return rdTruncated(b)
		}
		b, _ = rdAppendInvalidations(b, xl.Nmsgs, xl.Msgs, xl.DbID, xl.TsID, xl.RelcacheInitFileInval)
	}
	return b
}

func (d *descCtx) seq(b []byte) []byte {
	if d.op() == XLogSeqLog {
		xl, err := DecodeXlSeqRec(d.data)
		if err != nil {
			return rdTruncated(b)
		}
		rn := xl.Node
		b = fmt.Appendf(b, "rel %d/%d/%d", rn.SpcNode, rn.DbNode, rn.RelNode)
	}
	return b
}

func (d *descCtx) commitTs(b []byte) []byte {
	rec := d.data
	switch d.op() {
	case 0x00: // ZEROPAGE: int pageno
		if len(rec) < 4 {
			return rdTruncated(b)
		}
		b = fmt.Appendf(b, "%d", rdI32(rec, 0))
	case 0x10: // TRUNCATE: pageno, oldestXid
		if len(rec) < 8 {
			return rdTruncated(b)
		}
		b = fmt.Appendf(b, "pageno %d, oldestXid %d", rdI32(rec, 0), rdU32(rec, 4))
	}
	return b
}

func (d *descCtx) replorigin(b []byte) []byte {
	rec := d.data
	switch d.op() {
	case 0x00: // SET: remote_lsn, node_id u16 @8, force bool @10
		if len(rec) < 11 {
			return rdTruncated(b)
		}
		b = fmt.Appendf(b, "set %d; lsn %s; force: %d", rdU16(rec, 8), LSN(rdU64(rec, 0)).Short(), rec[10])
	case 0x10: // DROP: node_id
		if len(rec) < 2 {
			return rdTruncated(b)
		}
		b = fmt.Appendf(b, "drop %d", rdU16(rec, 0))
	}
	return b
}

// logicalmsg: dbId, transactional bool @4, prefix_size u64 @8,
// message_size u64 @16, then prefix (NUL-terminated) and payload @24.
func (d *descCtx) logicalmsg(b []byte) []byte {
	rec := d.data
	if d.op() != 0x00 {
		return b
	}
	const hdr = 24
	if len(rec) < hdr {
		return rdTruncated(b)
	}
	prefixSize, msgSize := rdU64(rec, 8), rdU64(rec, 16)
	prefix, _ := rdCString(rec, hdr)
	b = fmt.Appendf(b, "%s, prefix \"%s\"; payload (%d bytes): ",
		rdBoolStr(rec[4], "transactional", "non-transactional"), prefix, msgSize)
	if prefixSize > uint64(len(rec)-hdr) {
		return rdTruncated(b)
	}
	msg := rec[hdr+int(prefixSize):]
	for i := uint64(0); i < msgSize; i++ {
		if i >= uint64(len(msg)) {
			return rdTruncated(b)
		}
		if i > 0 {
			b = append(b, ' ')
		}
		const hexDigits = "0123456789ABCDEF"
		b = append(b, hexDigits[msg[i]>>4], hexDigits[msg[i]&0x0F])
	}
	return b
}
