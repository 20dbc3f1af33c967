package schema

import "fmt"

// Descriptions of the rmgrs without relation pages of their own:
// Storage (smgrdesc.c), CLOG, Database, Tablespace, MultiXact, RelMap,
// Standby, Sequence, CommitTs, ReplicationOrigin, Generic, LogicalMessage.

func (d *descCtx) smgr(b []byte) []byte {
	rec := d.data
	switch d.op() {
	case 0x10: // CREATE: RelFileNode, forkNum int
		if len(rec) < 16 {
			return rdTruncated(b)
		}
		b = rdAppendRelPathPerm(b, rdRel(rec, 0), ForkNumber(rdI32(rec, 12)))
	case 0x20: // TRUNCATE: blkno, RelFileNode @4, flags int @16
		if len(rec) < 20 {
			return rdTruncated(b)
		}
		b = rdAppendRelPathPerm(b, rdRel(rec, 4), MainForkNum)
		b = fmt.Appendf(b, " to %d blocks flags %d", rdU32(rec, 0), rdI32(rec, 16))
	}
	return b
}

func (d *descCtx) clog(b []byte) []byte {
	rec := d.data
	switch d.op() {
	case 0x00: // ZEROPAGE: int pageno
		if len(rec) < 4 {
			return rdTruncated(b)
		}
		b = fmt.Appendf(b, "page %d", rdI32(rec, 0))
	case 0x10: // TRUNCATE: pageno, oldestXact, oldestXactDb
		if len(rec) < 8 {
			return rdTruncated(b)
		}
		b = fmt.Appendf(b, "page %d; oldestXact %d", rdI32(rec, 0), rdU32(rec, 4))
	}
	return b
}

func (d *descCtx) dbase(b []byte) []byte {
	rec := d.data
	switch d.op() {
	case 0x00: // CREATE_FILE_COPY: db_id, tablespace_id, src_db_id, src_tablespace_id
		if len(rec) < 16 {
			return rdTruncated(b)
		}
		b = fmt.Appendf(b, "copy dir %d/%d to %d/%d", rdU32(rec, 12), rdU32(rec, 8), rdU32(rec, 4), rdU32(rec, 0))
	case 0x10: // CREATE_WAL_LOG: db_id, tablespace_id
		if len(rec) < 8 {
			return rdTruncated(b)
		}
		b = fmt.Appendf(b, "create dir %d/%d", rdU32(rec, 4), rdU32(rec, 0))
	case 0x20: // DROP: db_id, ntablespaces, tablespace_ids[]
		if len(rec) < 8 {
			return rdTruncated(b)
		}
		b = append(b, "dir"...)
		db := rdU32(rec, 0)
		n := rdI32(rec, 4)
		for i := 0; i < int(n); i++ {
			if !rdInRange(rec, 8, i, 4) {
				return rdTruncated(b)
			}
			b = fmt.Appendf(b, " %d/%d", rdU32(rec, 8+4*i), db)
		}
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
	case 0x00, 0x10: // ZERO_OFF_PAGE, ZERO_MEM_PAGE: int pageno
		if len(rec) < 4 {
			return rdTruncated(b)
		}
		b = fmt.Appendf(b, "%d", rdI32(rec, 0))
	case 0x20: // CREATE_ID: mid, moff, nmembers, {xid, status}[]
		if len(rec) < 12 {
			return rdTruncated(b)
		}
		n := rdI32(rec, 8)
		b = fmt.Appendf(b, "%d offset %d nmembers %d: ", rdU32(rec, 0), rdU32(rec, 4), n)
		for i := 0; i < int(n); i++ {
			if !rdInRange(rec, 12, i, 8) {
				return rdTruncated(b)
			}
			o := 12 + 8*i
			b = fmt.Appendf(b, "%d ", rdU32(rec, o))
			if st := rdU32(rec, o+4); st < uint32(len(rdMultiXactStatusNames)) {
				b = append(b, rdMultiXactStatusNames[st]...)
			} else {
				b = append(b, "(unk) "...)
			}
		}
	case 0x30: // TRUNCATE_ID: oldestMultiDB, startTruncOff, endTruncOff, startTruncMemb, endTruncMemb
		if len(rec) < 20 {
			return rdTruncated(b)
		}
		b = fmt.Appendf(b, "offsets [%d, %d), members [%d, %d)",
			rdU32(rec, 4), rdU32(rec, 8), rdU32(rec, 12), rdU32(rec, 16))
	}
	return b
}

func (d *descCtx) relmap(b []byte) []byte {
	rec := d.data
	if d.op() == 0x00 { // UPDATE: dbid, tsid, nbytes
		if len(rec) < 12 {
			return rdTruncated(b)
		}
		b = fmt.Appendf(b, "database %d tablespace %d size %d", rdU32(rec, 0), rdU32(rec, 4), rdI32(rec, 8))
	}
	return b
}

func (d *descCtx) standby(b []byte) []byte {
	rec := d.data
	switch d.op() {
	case 0x00: // LOCK: nlocks, {xid, dbOid, relOid}[]
		if len(rec) < 4 {
			return rdTruncated(b)
		}
		n := rdI32(rec, 0)
		for i := 0; i < int(n); i++ {
			if !rdInRange(rec, 4, i, 12) {
				return rdTruncated(b)
			}
			o := 4 + 12*i
			b = fmt.Appendf(b, "xid %d db %d rel %d ", rdU32(rec, o), rdU32(rec, o+4), rdU32(rec, o+8))
		}
	case 0x10: // RUNNING_XACTS
		// xcnt, subxcnt, subxid_overflow, nextXid @12, oldestRunningXid @16,
		// latestCompletedXid @20, xids[] @24
		if len(rec) < 24 {
			return rdTruncated(b)
		}
		b = fmt.Appendf(b, "nextXid %d latestCompletedXid %d oldestRunningXid %d",
			rdU32(rec, 12), rdU32(rec, 20), rdU32(rec, 16))
		if xcnt := rdI32(rec, 0); xcnt > 0 {
			b = fmt.Appendf(b, "; %d xacts:", xcnt)
			for i := 0; i < int(xcnt); i++ {
				if !rdInRange(rec, 24, i, 4) {
					return rdTruncated(b)
				}
				b = fmt.Appendf(b, " %d", rdU32(rec, 24+4*i))
			}
		}
		if rec[8] != 0 {
			b = append(b, "; subxid ovf"...)
		}
	case 0x20: // INVALIDATIONS: dbId, tsId, relcacheInitFileInval, nmsgs @12, msgs @16
		if len(rec) < 16 {
			return rdTruncated(b)
		}
		b, _ = rdAppendInvalidations(b, rec, rdI32(rec, 12), 16, rdU32(rec, 0), rdU32(rec, 4), rec[8] != 0)
	}
	return b
}

func (d *descCtx) seq(b []byte) []byte {
	if d.op() == 0x00 { // LOG: RelFileNode, then the tuple
		if len(d.data) < SizeOfRelFileNode {
			return rdTruncated(b)
		}
		rn := rdRel(d.data, 0)
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
