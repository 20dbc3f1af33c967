package schema

import (
	"bytes"
	"testing"
)

// FuzzDecodeMiscXlog decodes arbitrary bytes as every XLOG, Storage,
// Database, CLOG, MultiXact, Standby, RelMap and Sequence record layout
// and describes them, routes them and takes their relation-level and
// auxiliary-page effects: nothing may panic, each fixed struct must accept
// exactly the inputs at least as long as PostgreSQL writes and read its
// fields at their offsets, and the arrays must hold the entries present,
// at most their counts.
func FuzzDecodeMiscXlog(f *testing.F) {
	f.Add(uint8(0x20), []byte{5, 0, 0, 0, 9, 0, 0, 0, 2, 0, 0, 0, 0xEE, 2, 0, 0, 0, 0, 0, 0, 0xEF, 2, 0, 0, 5, 0, 0, 0})
	f.Add(uint8(0x10), []byte{2, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0xE4, 2, 0, 0, 0xE2, 2, 0, 0, 0xE3, 2, 0, 0, 0xE2, 2, 0, 0})
	f.Add(uint8(0x70), []byte{0, 0, 0, 0, 0, 0, 0, 0, 'r', 'p', 0})
	f.Add(uint8(0x00), []byte{0, 0, 0, 0, 0x80, 6, 0, 0, 4, 0, 0, 0, 1, 2, 3, 4})
	f.Fuzz(func(t *testing.T, info uint8, in []byte) {
		b := xlFuzzBytes(in)
		fuzzMiscXLOG(t, in, b)
		fuzzMiscStorageDatabase(t, in, b)
		fuzzMiscSlru(t, in, b)
		fuzzMiscStandbyRelmapSequence(t, in, b)
		fuzzMiscConsumers(info, in)
	})
}

// fuzzMiscXLOG checks the XLOG rmgr's main-data decoders.
func fuzzMiscXLOG(t *testing.T, in []byte, b xlFuzzBytes) {
	t.Helper()
	oid, err := DecodeXLogNextOid(in)
	xlFuzzCheck(t, "nextoid", len(in), err, SizeOfXLogNextOid, func() bool { return oid == b.u32(0) })
	be, err := DecodeXLogBackupEnd(in)
	xlFuzzCheck(t, "backup end", len(in), err, SizeOfXLogBackupEnd, func() bool { return uint64(be) == b.u64(0) })
	fpw, err := DecodeXLogFPWChange(in)
	xlFuzzCheck(t, "fpw change", len(in), err, SizeOfXLogFPWChange, func() bool { return fpw == (b[0] != 0) })
	rp, err := DecodeXlRestorePoint(in)
	if len(in) >= SizeOfXLogRestorePointTime {
		name := in[SizeOfXLogRestorePointTime:]
		nul := bytes.IndexByte(name, 0)
		if uint64(rp.RpTime) != b.u64(0) || (err == nil) != (nul >= 0) || (nul >= 0 && rp.RpName != string(name[:nul])) ||
			(nul < 0 && rp.RpName != string(name)) {
			t.Fatalf("restore point: %+v, %v", rp, err)
		}
	} else if err == nil {
		t.Fatalf("restore point of %d bytes accepted", len(in))
	}
	eor, err := DecodeXlEndOfRecovery(in)
	xlFuzzCheck(t, "end of recovery", len(in), err, SizeOfXLogEndOfRecovery, func() bool {
		return uint64(eor.EndTime) == b.u64(0) && uint32(eor.ThisTimeLineID) == b.u32(8) && uint32(eor.PrevTimeLineID) == b.u32(12)
	})
	oc, err := DecodeXlOverwriteContrecord(in)
	xlFuzzCheck(t, "overwrite contrecord", len(in), err, SizeOfXLogOverwriteContrec, func() bool {
		return uint64(oc.OverwrittenLsn) == b.u64(0) && uint64(oc.OverwriteTime) == b.u64(8)
	})
}

// fuzzMiscStorageDatabase checks the Storage and Database decoders.
func fuzzMiscStorageDatabase(t *testing.T, in []byte, b xlFuzzBytes) {
	t.Helper()
	sc, err := DecodeXlSmgrCreate(in)
	xlFuzzCheck(t, "smgr create", len(in), err, SizeOfSmgrCreate, func() bool {
		return sc.Rnode == (RelFileNode{b.u32(0), b.u32(4), b.u32(8)}) && sc.ForkNum == ForkNumber(b.u32(12))
	})
	st, err := DecodeXlSmgrTruncate(in)
	xlFuzzCheck(t, "smgr truncate", len(in), err, SizeOfSmgrTruncate, func() bool {
		return uint32(st.Blkno) == b.u32(0) && st.Rnode == (RelFileNode{b.u32(4), b.u32(8), b.u32(12)}) && uint32(st.Flags) == b.u32(16)
	})
	fc, err := DecodeXlDbaseCreateFileCopyRec(in)
	xlFuzzCheck(t, "dbase copy", len(in), err, SizeOfDbaseCreateFileCopy, func() bool {
		return fc.DbID == b.u32(0) && fc.TablespaceID == b.u32(4) && fc.SrcDbID == b.u32(8) && fc.SrcTablespaceID == b.u32(12)
	})
	wl, err := DecodeXlDbaseCreateWalLogRec(in)
	xlFuzzCheck(t, "dbase wal log", len(in), err, SizeOfDbaseCreateWalLog, func() bool { return wl.DbID == b.u32(0) && wl.TablespaceID == b.u32(4) })
	dr, err := DecodeXlDbaseDropRec(in)
	xlFuzzCheck(t, "dbase drop", len(in), err, SizeOfDbaseDrop, func() bool {
		return dr.DbID == b.u32(0) && uint32(dr.NTablespaces) == b.u32(4) &&
			xlFuzzArrayOK(dr.TablespaceIDs.Len(), int64(dr.NTablespaces), len(in)-SizeOfDbaseDrop, 4) &&
			xlFuzzCompleteOK(dr.TablespaceIDs.Len(), int64(dr.NTablespaces), dr.Complete()) &&
			(dr.TablespaceIDs.Len() == 0 || dr.TablespaceIDs.At(dr.TablespaceIDs.Len()-1) == b.u32(SizeOfDbaseDrop+4*(dr.TablespaceIDs.Len()-1)))
	})
}

// fuzzMiscSlru checks the CLOG and MultiXact decoders.
func fuzzMiscSlru(t *testing.T, in []byte, b xlFuzzBytes) {
	t.Helper()
	pn, err := DecodeSlruPageno(in)
	xlFuzzCheck(t, "pageno", len(in), err, SizeOfClogPageno, func() bool { return uint32(pn) == b.u32(0) })
	ct, err := DecodeXlClogTruncate(in)
	xlFuzzCheck(t, "clog truncate", len(in), err, SizeOfClogTruncate, func() bool {
		return uint32(ct.Pageno) == b.u32(0) && ct.OldestXact == b.u32(4) && ct.OldestXactDb == b.u32(8)
	})
	mc, err := DecodeXlMultixactCreate(in)
	xlFuzzCheck(t, "multixact create", len(in), err, SizeOfMultiXactCreate, func() bool {
		ok := mc.Mid == b.u32(0) && mc.Moff == b.u32(4) && uint32(mc.Nmembers) == b.u32(8) &&
			xlFuzzArrayOK(mc.Members.Len(), int64(mc.Nmembers), len(in)-SizeOfMultiXactCreate, SizeOfMultiXactMember) &&
			xlFuzzCompleteOK(mc.Members.Len(), int64(mc.Nmembers), mc.Complete())
		if k := mc.Members.Len() - 1; ok && k >= 0 {
			m := mc.Members.At(k)
			ok = m.Xid == b.u32(12+8*k) && m.Status == b.u32(16+8*k)
		}
		return ok
	})
	mt, err := DecodeXlMultixactTruncate(in)
	xlFuzzCheck(t, "multixact truncate", len(in), err, SizeOfMultiXactTruncate, func() bool {
		return mt.OldestMultiDB == b.u32(0) && mt.StartTruncOff == b.u32(4) && mt.EndTruncOff == b.u32(8) &&
			mt.StartTruncMemb == b.u32(12) && mt.EndTruncMemb == b.u32(16)
	})
}

// fuzzMiscStandbyRelmapSequence checks the Standby, RelMap and Sequence
// decoders.
func fuzzMiscStandbyRelmapSequence(t *testing.T, in []byte, b xlFuzzBytes) {
	t.Helper()
	sl, err := DecodeXlStandbyLocks(in)
	xlFuzzCheck(t, "standby locks", len(in), err, SizeOfStandbyLocks, func() bool {
		ok := uint32(sl.Nlocks) == b.u32(0) && xlFuzzArrayOK(sl.Locks.Len(), int64(sl.Nlocks), len(in)-SizeOfStandbyLocks, SizeOfStandbyLock)
		if k := sl.Locks.Len() - 1; ok && k >= 0 {
			ok = sl.Locks.At(k) == XlStandbyLock{b.u32(4 + 12*k), b.u32(8 + 12*k), b.u32(12 + 12*k)}
		}
		return ok
	})
	rx, err := DecodeXlRunningXacts(in)
	xlFuzzCheck(t, "running xacts", len(in), err, SizeOfXactRunningXacts, func() bool {
		n := max(int64(rx.Xcnt), 0) + max(int64(rx.Subxcnt), 0)
		return uint32(rx.Xcnt) == b.u32(0) && uint32(rx.Subxcnt) == b.u32(4) && rx.SubxidOverflow == (b[8] != 0) &&
			rx.NextXid == b.u32(12) && rx.OldestRunningXid == b.u32(16) && rx.LatestCompletedXid == b.u32(20) &&
			xlFuzzArrayOK(rx.Xids.Len(), n, len(in)-SizeOfXactRunningXacts, 4)
	})
	iv, err := DecodeXlInvalidations(in)
	xlFuzzCheck(t, "invalidations", len(in), err, SizeOfInvalidations, func() bool {
		return iv.DbID == b.u32(0) && iv.TsID == b.u32(4) && iv.RelcacheInitFileInval == (b[8] != 0) &&
			uint32(iv.Nmsgs) == b.u32(12) &&
			xlFuzzArrayOK(iv.Msgs.Len(), int64(iv.Nmsgs), len(in)-SizeOfInvalidations, SizeOfSharedInvalMessage)
	})
	ru, err := DecodeXlRelmapUpdate(in)
	xlFuzzCheck(t, "relmap update", len(in), err, SizeOfRelmapUpdate, func() bool {
		ok := ru.Dbid == b.u32(0) && ru.Tsid == b.u32(4) && uint32(ru.Nbytes) == b.u32(8)
		d, derr := ru.Data()
		fits := ru.Nbytes >= 0 && ru.Nbytes <= RelMapFileSize && int(ru.Nbytes) <= len(in)-SizeOfRelmapUpdate
		return ok && (derr == nil) == fits && (derr != nil || len(d) == int(ru.Nbytes))
	})
	sq, err := DecodeXlSeqRec(in)
	xlFuzzCheck(t, "seq rec", len(in), err, SizeOfSeqRec, func() bool {
		return sq.Node == (RelFileNode{b.u32(0), b.u32(4), b.u32(8)}) && len(sq.Tuple) == len(in)-SizeOfSeqRec
	})
}

// fuzzMiscConsumers runs every consumer on in as a record of each of
// these rmgrs with opcode info; none may panic.
func fuzzMiscConsumers(info uint8, in []byte) {
	for _, rmid := range []RmgrID{RmgrXLOG, RmgrStorage, RmgrDatabase, RmgrCLOG, RmgrMultiXact, RmgrStandby, RmgrRelMap, RmgrSequence} {
		rec := &DecodedRecord{Header: XLogRecord{Rmid: uint8(rmid), Info: info}, MainData: in}
		_ = Describe(rec)
		_ = PagesChanged(nil, rec)
		_ = AuxPages(nil, rec)
		_, _ = RelChangeOf(rec)
		_, _ = SlruPageNo(rec)
		_, _ = ControlEventOf(rec)
		XidsOf(rec, func(uint32) {})
	}
}

// xlFuzzArrayOK reports whether an array view holds the entries present
// in rest bytes, at most its count (none for a negative one).
func xlFuzzArrayOK(have int, count int64, rest, size int) bool {
	return int64(have) == min(max(count, 0), int64(rest/size))
}

// xlFuzzCompleteOK reports whether Complete's verdict is right.
func xlFuzzCompleteOK(have int, count int64, complete error) bool {
	return (complete == nil) == (count >= 0 && int64(have) == count)
}
