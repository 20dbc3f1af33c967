package schema

import (
	"encoding/binary"
	"reflect"
	"testing"
)

// TestRecordSlabReset: Fits says when the next Decode would allocate, and
// Reset hands the same arrays out again, cleared.
func TestRecordSlabReset(t *testing.T) {
	var s RecordSlab
	if s.Fits() {
		t.Fatal("an empty slab fits a record without allocating")
	}
	s.Reset()
	first, _ := s.next()
	first.LSN = 42
	n := 1
	for s.Fits() {
		s.next()
		n++
	}
	if n != 256 {
		t.Fatalf("%d records fit, want 256", n)
	}
	s.Reset()
	again, blocks := s.next()
	if again != first || again.LSN != 0 || cap(blocks) != XLRMaxBlockID+1 {
		t.Fatalf("after Reset: the same record %v, cleared %v, block room %d", again == first, again.LSN == 0, cap(blocks))
	}
}

// TestRecordSlabXactEnd: a transaction end decoded through a slab is
// parsed once, at decoding, and every reader of it (the tree, the end,
// the xids, the pg_xact pages) answers as for the same record decoded
// without a slab; a record decoded into again forgets the parse.
func TestRecordSlabXactEnd(t *testing.T) {
	spec := RecordSpec{Xid: 3, Rmgr: RmgrTransaction, Info: XLogXactCommitPrepared | XLogXactHasInfo, MainData: xactCommitFull()}
	raw := AssembleRecord(spec)
	binary.LittleEndian.PutUint32(raw[20:], RecordCRC(raw))
	plain, err := DecodeRecord(raw, 0x1000, 0x1000+LSN(len(raw)))
	if err != nil {
		t.Fatal(err)
	}
	var s RecordSlab
	s.Reset()
	rec, err := s.Decode(raw, 0x1000, 0x1000+LSN(len(raw)))
	if err != nil {
		t.Fatal(err)
	}
	if rec.xact == nil || plain.xact != nil {
		t.Fatalf("parsed at decoding: slab %v, plain %v; want the slab's only", rec.xact != nil, plain.xact != nil)
	}
	rec.MainData = nil // only the parse is left to answer from
	for _, r := range []*DecodedRecord{plain, rec} {
		tree, err := XactTreeOf(r)
		if err != nil || tree.Xid != 777 || !reflect.DeepEqual(tree.Subxids, []uint32{801, 802}) {
			t.Fatalf("tree: %+v, %v", tree, err)
		}
		if end, err := XactEndOf(r); err != nil || *end != (XactEnd{Commit: true, Time: 1000, Prepared: true, Xid: 777}) {
			t.Fatalf("end: %+v, %v", end, err)
		}
		if pages := AuxPages(nil, r); len(pages) != 1 || pages[0] != SlruTag(AuxRelXact, 0) {
			t.Fatalf("aux pages: %v", pages)
		}
	}
	// The same record decoded into again, as a non-transaction record.
	other := AssembleRecord(RecordSpec{Xid: 3, Rmgr: RmgrHeap, Info: 0, MainData: []byte{1, 2, 3}})
	binary.LittleEndian.PutUint32(other[20:], RecordCRC(other))
	if err := DecodeRecordInto(rec, other, 0x2000, 0x2000+LSN(len(other))); err != nil {
		t.Fatal(err)
	}
	if rec.xact != nil {
		t.Fatal("a record decoded into again kept the parse of the one before")
	}
}
