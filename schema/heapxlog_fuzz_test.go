package schema

import (
	"encoding/binary"
	"testing"
)

// xlFuzzBytes reads little-endian fields of b at offsets, for checking
// what the decoders read against the C structs' layouts.
type xlFuzzBytes []byte

func (b xlFuzzBytes) u16(off int) uint16 { return binary.LittleEndian.Uint16(b[off:]) }
func (b xlFuzzBytes) u32(off int) uint32 { return binary.LittleEndian.Uint32(b[off:]) }
func (b xlFuzzBytes) u64(off int) uint64 { return binary.LittleEndian.Uint64(b[off:]) }

// xlFuzzCheck fails unless the decoder accepted exactly the inputs of at
// least size bytes and, when it did, read its fields where the struct has
// them.
func xlFuzzCheck(t *testing.T, name string, n int, err error, size int, fieldsOK func() bool) {
	t.Helper()
	if (err == nil) != (n >= size) {
		t.Fatalf("%s: %d bytes, err %v", name, n, err)
	}
	if err == nil && !fieldsOK() {
		t.Fatalf("%s: fields do not match the bytes", name)
	}
}

// FuzzDecodeXlHeap decodes arbitrary bytes as every Heap and Heap2 record
// layout (main data and block data) and describes them as each opcode:
// nothing may panic, each fixed struct must accept exactly the inputs at
// least as long as PostgreSQL writes and read its fields at their
// heapam_xlog.h offsets, and the array decoders must account for the
// bytes they were given.
func FuzzDecodeXlHeap(f *testing.F) {
	f.Add(uint8(0x20), uint16(2), []byte{100, 0, 0, 0, 2, 0, 0x10, 0x63, 5, 0, 0, 0, 9, 0, 10, 0, 3, 0, 0, 8, 24, 1})
	f.Add(uint8(0x30), uint16(2), []byte{5, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 0, 0x40, 0, 0, 6, 0x40, 0, 0})
	f.Add(uint8(0x50), uint16(1), []byte{1, 0, 2, 0, 4, 0, 5, 0, 2, 0, 3, 0, 0, 8, 24, 1, 2})
	f.Add(uint8(0x10), uint16(1), []byte{0xDA, 2, 0, 0, 1, 0, 2, 0, 1, 0, 2, 0, 3, 0, 4, 0})
	f.Add(uint8(0x70), uint16(0), make([]byte, 40))
	f.Fuzz(func(t *testing.T, info uint8, n uint16, in []byte) {
		b := xlFuzzBytes(in)
		fuzzXlHeapFixedStructs(t, in, b)
		fuzzXlHeapMultiInsert(t, in, b)
		fuzzXlHeapBlockData(t, info, n, in, b)

		// What routing, redo's opening checks and the descriptions make of
		// them.
		fuzzDescribeHeapRecords(info, in)
	})
}

// fuzzXlHeapFixedStructs checks every fixed-size Heap and Heap2 main-data
// struct decoder against in.
func fuzzXlHeapFixedStructs(t *testing.T, in []byte, b xlFuzzBytes) {
	t.Helper()
	ins, err := DecodeXlHeapInsert(in)
	xlFuzzCheck(t, "insert", len(in), err, SizeOfHeapInsert, func() bool { return uint16(ins.Offnum) == b.u16(0) && ins.Flags == b[2] })
	del, err := DecodeXlHeapDelete(in)
	xlFuzzCheck(t, "delete", len(in), err, SizeOfHeapDelete, func() bool {
		return del.Xmax == b.u32(0) && uint16(del.Offnum) == b.u16(4) && del.InfobitsSet == b[6] && del.Flags == b[7]
	})
	upd, err := DecodeXlHeapUpdate(in)
	xlFuzzCheck(t, "update", len(in), err, SizeOfHeapUpdate, func() bool {
		return upd.OldXmax == b.u32(0) && uint16(upd.OldOffnum) == b.u16(4) && upd.OldInfobitsSet == b[6] &&
			upd.Flags == b[7] && upd.NewXmax == b.u32(8) && uint16(upd.NewOffnum) == b.u16(12)
	})
	hdr, err := DecodeXlHeapHeader(in)
	xlFuzzCheck(t, "header", len(in), err, SizeOfHeapHeader, func() bool {
		return hdr.TInfomask2 == b.u16(0) && hdr.TInfomask == b.u16(2) && hdr.THoff == b[4]
	})
	tr, err := DecodeXlHeapTruncate(in)
	xlFuzzCheck(t, "truncate", len(in), err, SizeOfHeapTruncate, func() bool {
		ok := tr.DbID == b.u32(0) && tr.Nrelids == b.u32(4) && tr.Flags == b[8] &&
			uint64(tr.Relids.Len()) == min(uint64(tr.Nrelids), uint64(len(in)-SizeOfHeapTruncate)/4)
		for i := 0; ok && i < tr.Relids.Len(); i++ {
			ok = tr.Relids.At(i) == b.u32(SizeOfHeapTruncate+4*i)
		}
		return ok && (tr.Complete() == nil) == (tr.Relids.Len() == int(tr.Nrelids))
	})
	cf, err := DecodeXlHeapConfirm(in)
	xlFuzzCheck(t, "confirm", len(in), err, SizeOfHeapConfirm, func() bool { return uint16(cf.Offnum) == b.u16(0) })
	lk, err := DecodeXlHeapLock(in)
	xlFuzzCheck(t, "lock", len(in), err, SizeOfHeapLock, func() bool {
		return lk.LockingXid == b.u32(0) && uint16(lk.Offnum) == b.u16(4) && lk.InfobitsSet == b[6] && lk.Flags == b[7]
	})
	lu, err := DecodeXlHeapLockUpdated(in)
	xlFuzzCheck(t, "lock updated", len(in), err, SizeOfHeapLockUpdated, func() bool {
		return lu.Xmax == b.u32(0) && uint16(lu.Offnum) == b.u16(4) && lu.InfobitsSet == b[6] && lu.Flags == b[7]
	})
	ip, err := DecodeXlHeapInplace(in)
	xlFuzzCheck(t, "inplace", len(in), err, SizeOfHeapInplace, func() bool { return uint16(ip.Offnum) == b.u16(0) })
	pr, err := DecodeXlHeapPrune(in)
	xlFuzzCheck(t, "prune", len(in), err, SizeOfHeapPrune, func() bool {
		return pr.LatestRemovedXid == b.u32(0) && pr.Nredirected == b.u16(4) && pr.Ndead == b.u16(6)
	})
	va, err := DecodeXlHeapVacuum(in)
	xlFuzzCheck(t, "vacuum", len(in), err, SizeOfHeapVacuum, func() bool { return va.Nunused == b.u16(0) })
	fp, err := DecodeXlHeapFreezePage(in)
	xlFuzzCheck(t, "freeze page", len(in), err, SizeOfHeapFreezePage, func() bool { return fp.CutoffXid == b.u32(0) && fp.Ntuples == b.u16(4) })
	vi, err := DecodeXlHeapVisible(in)
	xlFuzzCheck(t, "visible", len(in), err, SizeOfHeapVisible, func() bool { return vi.CutoffXid == b.u32(0) && vi.Flags == b[4] })
	nc, err := DecodeXlHeapNewCid(in)
	xlFuzzCheck(t, "new cid", len(in), err, SizeOfHeapNewCid, func() bool {
		return nc.TopXid == b.u32(0) && nc.Cmin == b.u32(4) && nc.Cmax == b.u32(8) && nc.Combocid == b.u32(12) &&
			nc.TargetNode == (RelFileNode{b.u32(16), b.u32(20), b.u32(24)}) &&
			uint32(nc.TargetTid.Block) == uint32(b.u16(28))<<16|uint32(b.u16(30)) && uint16(nc.TargetTid.Offset) == b.u16(32)
	})
	rm, err := DecodeXlHeapRewriteMapping(in)
	xlFuzzCheck(t, "rewrite mapping", len(in), err, SizeOfHeapRewriteMapping, func() bool {
		return rm.MappedXid == b.u32(0) && rm.MappedDb == b.u32(4) && rm.MappedRel == b.u32(8) && uint64(rm.Offset) == b.u64(16) &&
			rm.NumMappings == b.u32(24) && uint64(rm.StartLsn) == b.u64(32)
	})
}

// fuzzXlHeapMultiInsert checks the multi-insert main data and its offsets.
func fuzzXlHeapMultiInsert(t *testing.T, in []byte, b xlFuzzBytes) {
	t.Helper()
	mi, err := DecodeXlHeapMultiInsert(in)
	xlFuzzCheck(t, "multi insert", len(in), err, SizeOfHeapMultiInsert, func() bool { return mi.Flags == b[0] && mi.Ntuples == b.u16(2) })
	if err == nil {
		err := mi.CheckOffsets(false)
		if (err == nil) != (len(in)-SizeOfHeapMultiInsert >= 2*int(mi.Ntuples)) {
			t.Fatalf("multi insert offsets: %d in %d bytes, err %v", mi.Ntuples, len(in), err)
		}
		if k := int(mi.Ntuples) - 1; err == nil && k >= 0 && uint16(mi.Offset(k, false)) != b.u16(SizeOfHeapMultiInsert+2*k) {
			t.Fatalf("multi insert offset %d: %d", k, mi.Offset(k, false))
		}
		if err := mi.CheckOffsets(true); err != nil || mi.Offset(int(mi.Ntuples), true) != OffsetNumber(mi.Ntuples)+1 {
			t.Fatalf("multi insert init offsets: %v", err)
		}
	}
}

// fuzzXlHeapBlockData checks the block-data decoders: the update's new
// tuple, the prune and vacuum offsets, the freeze plans and the
// multi-insert tuples.
func fuzzXlHeapBlockData(t *testing.T, info uint8, n uint16, in []byte, b xlFuzzBytes) {
	t.Helper()
	if nt, err := DecodeHeapUpdateNewTuple(info, in); err == nil {
		lens := 0
		if info&XLHUpdatePrefixFromOld != 0 {
			lens += 2
		}
		if info&XLHUpdateSuffixFromOld != 0 {
			lens += 2
		}
		if lens+SizeOfHeapHeader+len(nt.Data) != len(in) || nt.Header.THoff != in[lens+4] {
			t.Fatalf("update new tuple %#x: %+v from %d bytes", info, nt, len(in))
		}
	} else if len(in) >= 4+SizeOfHeapHeader {
		t.Fatalf("update new tuple %#x: %d bytes refused: %v", info, len(in), err)
	}
	pruneXl := XlHeapPrune{Nredirected: n & 0xFF, Ndead: n >> 8}
	if r, d, u, err := DecodeHeapPruneOffsets(pruneXl, in); err == nil {
		if r.Len() != 2*int(pruneXl.Nredirected) || d.Len() != int(pruneXl.Ndead) || 2*(r.Len()+d.Len()+u.Len()) != len(in) {
			t.Fatalf("prune offsets %+v: %d %d %d from %d bytes", pruneXl, r.Len(), d.Len(), u.Len(), len(in))
		}
	}
	if offs, err := DecodeHeapVacuumOffsets(XlHeapVacuum{Nunused: n}, in); err == nil && (offs.Len() != int(n) || len(in)%2 != 0) {
		t.Fatalf("vacuum offsets: %d for %d from %d bytes", offs.Len(), n, len(in))
	}
	if plans, err := DecodeXlHeapFreezeTuples(XlHeapFreezePage{Ntuples: n}, in); (err == nil) != (len(in) >= int(n)*SizeOfHeapFreezeTuple) ||
		(err == nil && plans.Len() != int(n)) {
		t.Fatalf("freeze plans: %d for %d from %d bytes, err %v", plans.Len(), n, len(in), err)
	} else if err == nil && n > 0 {
		last := plans.At(int(n) - 1)
		at := (int(n) - 1) * SizeOfHeapFreezeTuple
		if last.Xmax != b.u32(at) || uint16(last.Offset) != b.u16(at+4) || last.TInfomask2 != b.u16(at+6) ||
			last.TInfomask != b.u16(at+8) || last.Frzflags != b[at+10] {
			t.Fatalf("freeze plan %d: %+v", n-1, last)
		}
	}
	if tuples, err := DecodeXlMultiInsertTuples(in, int(n%64)); err == nil {
		used := 0
		for _, tu := range tuples {
			used = (used+1)&^1 + SizeOfMultiInsertTuple + len(tu.Data)
			if len(tu.Data) != int(tu.Datalen) {
				t.Fatalf("multi insert tuple: datalen %d, %d bytes", tu.Datalen, len(tu.Data))
			}
		}
		if len(tuples) != int(n%64) || used != len(in) {
			t.Fatalf("multi insert tuples: %d of %d, %d of %d bytes", len(tuples), n%64, used, len(in))
		}
	}
}

// fuzzDescribeHeapRecords routes and describes in as a Heap and a Heap2
// record with opcode info; it must not panic.
func fuzzDescribeHeapRecords(info uint8, in []byte) {
	for _, rmid := range []RmgrID{RmgrHeap, RmgrHeap2} {
		rec := &DecodedRecord{Header: XLogRecord{Rmid: uint8(rmid), Info: info}, MainData: in,
			Blocks: []DecodedBkpBlock{{ID: 0, Data: in}, {ID: 1, Data: in}}}
		_ = PagesChanged(nil, rec)
		_ = Describe(rec)
	}
}
