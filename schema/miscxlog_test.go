package schema

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestDecodeMiscXlogStructs(t *testing.T) {
	runXlStructCases(t, []xlStructCase{
		{"xl_smgr_create", hxU32s(1663, 5, 16384, 2),
			func(b []byte) (any, error) { return DecodeXlSmgrCreate(b) },
			XlSmgrCreate{Rnode: RelFileNode{1663, 5, 16384}, ForkNum: VisibilityMapFork}},
		{"xl_smgr_truncate", hxU32s(3, 1663, 5, 16384, 7),
			func(b []byte) (any, error) { return DecodeXlSmgrTruncate(b) },
			XlSmgrTruncate{Blkno: 3, Rnode: RelFileNode{1663, 5, 16384}, Flags: SmgrTruncateHeap | SmgrTruncateVM | SmgrTruncateFSM}},
		{"xl_dbase_create_file_copy_rec", hxU32s(16384, 1663, 1, 1663),
			func(b []byte) (any, error) { return DecodeXlDbaseCreateFileCopyRec(b) },
			XlDbaseCreateFileCopyRec{DbID: 16384, TablespaceID: 1663, SrcDbID: 1, SrcTablespaceID: 1663}},
		{"xl_dbase_create_wal_log_rec", hxU32s(16384, 1663),
			func(b []byte) (any, error) { return DecodeXlDbaseCreateWalLogRec(b) },
			XlDbaseCreateWalLogRec{DbID: 16384, TablespaceID: 1663}},
		{"SLRU zero-page pageno", hxU32s(0xFFFFFFFE),
			func(b []byte) (any, error) { return DecodeSlruPageno(b) },
			int32(-2)},
		{"xl_clog_truncate", hxU32s(1, 40000, 5),
			func(b []byte) (any, error) { return DecodeXlClogTruncate(b) },
			XlClogTruncate{Pageno: 1, OldestXact: 40000, OldestXactDb: 5}},
		{"xl_multixact_truncate", hxU32s(1, 1, 5, 1, 9),
			func(b []byte) (any, error) { return DecodeXlMultixactTruncate(b) },
			XlMultixactTruncate{OldestMultiDB: 1, StartTruncOff: 1, EndTruncOff: 5, StartTruncMemb: 1, EndTruncMemb: 9}},
	})
}

func TestDecodeXlDbaseDropRec(t *testing.T) {
	b := hxU32s(16384, 2, 1663, 16500)
	x, err := DecodeXlDbaseDropRec(b)
	if err != nil || x.DbID != 16384 || x.NTablespaces != 2 || x.TablespaceIDs.Len() != 2 ||
		x.TablespaceIDs.At(1) != 16500 || x.Complete() != nil {
		t.Fatalf("got %+v, %v", x, err)
	}
	x, err = DecodeXlDbaseDropRec(b[:14])
	if err != nil || x.TablespaceIDs.Len() != 1 || !errors.Is(x.Complete(), ErrCorrupt) {
		t.Fatalf("short ids: %+v, %v", x, err)
	}
	x, err = DecodeXlDbaseDropRec(hxU32s(5, 0xFFFFFFFF, 1))
	if err != nil || x.TablespaceIDs.Len() != 0 || !errors.Is(x.Complete(), ErrCorrupt) {
		t.Fatalf("negative count: %+v, %v", x, err)
	}
	if _, err := DecodeXlDbaseDropRec(b[:7]); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "xl_dbase_drop_rec") {
		t.Fatalf("short: %v", err)
	}
}

func TestDecodeXlMultixactCreate(t *testing.T) {
	b := hxU32s(5, 9, 2, 750, 0, 751, 5)
	x, err := DecodeXlMultixactCreate(b)
	if err != nil || x.Mid != 5 || x.Moff != 9 || x.Nmembers != 2 || x.Members.Len() != 2 || x.Complete() != nil ||
		x.Members.At(1) != (MultiXactMember{Xid: 751, Status: 5}) {
		t.Fatalf("got %+v, %v", x, err)
	}
	if x, _ := DecodeXlMultixactCreate(append(b, 1, 2, 3, 4, 5, 6, 7, 8)); x.Members.Len() != 2 {
		t.Fatalf("members past nmembers: %d", x.Members.Len())
	}
	x, err = DecodeXlMultixactCreate(b[:len(b)-1])
	if err != nil || x.Members.Len() != 1 || !errors.Is(x.Complete(), ErrCorrupt) {
		t.Fatalf("short members: %+v, %v", x, err)
	}
	if _, err := DecodeXlMultixactCreate(b[:11]); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "xl_multixact_create") {
		t.Fatalf("short: %v", err)
	}

	// The transaction index reads the members of a complete record only.
	rec := &DecodedRecord{Header: XLogRecord{Rmid: uint8(RmgrMultiXact), Info: XLogMultixactCreateID}, MainData: b}
	var xids []uint32
	XidsOf(rec, func(x uint32) { xids = append(xids, x) })
	if e, err := ControlEventOf(rec); err != nil || *e != (ControlEvent{Kind: EventMultiXact, A: 6, B: 11}) || !reflect.DeepEqual(xids, []uint32{750, 751}) {
		t.Fatalf("control event %+v, %v; xids %v", e, err, xids)
	}
	rec.MainData = b[:len(b)-1]
	xids = nil
	XidsOf(rec, func(x uint32) { xids = append(xids, x) })
	if _, err := ControlEventOf(rec); !errors.Is(err, ErrCorrupt) || xids != nil {
		t.Fatalf("short: %v; xids %v", err, xids)
	}
}

func TestDecodeStandbyRecords(t *testing.T) {
	l, err := DecodeXlStandbyLocks(hxU32s(2, 740, 5, 16384, 741, 0, 1262))
	if err != nil || l.Nlocks != 2 || l.Locks.Len() != 2 || l.Locks.At(1) != (XlStandbyLock{Xid: 741, RelOid: 1262}) {
		t.Fatalf("locks: %+v, %v", l, err)
	}
	if l, _ := DecodeXlStandbyLocks(hxU32s(2, 740, 5, 16384, 741)); l.Locks.Len() != 1 {
		t.Fatalf("short locks: %d", l.Locks.Len())
	}
	if _, err := DecodeXlStandbyLocks([]byte{1, 0, 0}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("short: %v", err)
	}

	r, err := DecodeXlRunningXacts(hxCat(hxU32s(2, 1), []byte{1, 0xEE, 0xEE, 0xEE}, hxU32s(740, 738, 739, 738, 739, 800, 999)))
	if err != nil || r.Xcnt != 2 || r.Subxcnt != 1 || !r.SubxidOverflow || r.NextXid != 740 || r.OldestRunningXid != 738 ||
		r.LatestCompletedXid != 739 || r.Xids.Len() != 3 || r.Xids.At(2) != 800 {
		t.Fatalf("running xacts: %+v, %v", r, err)
	}
	if _, err := DecodeXlRunningXacts(make([]byte, 23)); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "xl_running_xacts") {
		t.Fatalf("short: %v", err)
	}

	inv, err := DecodeXlInvalidations(hxCat(hxU32s(5, 1663), []byte{1, 0xEE, 0xEE, 0xEE}, hxU32s(1), make([]byte, 16)))
	if err != nil || inv.DbID != 5 || inv.TsID != 1663 || !inv.RelcacheInitFileInval || inv.Nmsgs != 1 || inv.Msgs.Len() != 1 {
		t.Fatalf("invalidations: %+v, %v", inv, err)
	}
	if _, err := DecodeXlInvalidations(make([]byte, 15)); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("short: %v", err)
	}
}

func TestDecodeXlRelmapUpdate(t *testing.T) {
	b := append(hxU32s(0, 1664, 512), make([]byte, 512)...)
	x, err := DecodeXlRelmapUpdate(b)
	if err != nil || x.Dbid != 0 || x.Tsid != 1664 || x.Nbytes != 512 {
		t.Fatalf("got %+v, %v", x, err)
	}
	if d, err := x.Data(); err != nil || len(d) != 512 {
		t.Fatalf("data: %d, %v", len(d), err)
	}
	for _, bad := range [][]byte{b[:len(b)-1], append(hxU32s(0, 1664, 513), make([]byte, 513)...), hxU32s(0, 1664, 0xFFFFFFFF)} {
		x, err := DecodeXlRelmapUpdate(bad)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := x.Data(); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("nbytes %d in %d: %v", x.Nbytes, len(bad), err)
		}
	}
	if _, err := DecodeXlRelmapUpdate(b[:11]); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "xl_relmap_update") {
		t.Fatalf("short: %v", err)
	}
}

func TestDecodeXlSeqRec(t *testing.T) {
	x, err := DecodeXlSeqRec(append(hxU32s(1663, 5, 16390), 1, 2, 3))
	if err != nil || x.Node != (RelFileNode{1663, 5, 16390}) || !reflect.DeepEqual(x.Tuple, []byte{1, 2, 3}) {
		t.Fatalf("got %+v, %v", x, err)
	}
	if _, err := DecodeXlSeqRec(make([]byte, 11)); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "xl_seq_rec") {
		t.Fatalf("short: %v", err)
	}
}

// TestPagesChanged: the block tags in order, then the vm pages cleared
// implicitly; AuxPages' pages are not among them.
func TestPagesChanged(t *testing.T) {
	rel := RelFileNode{1663, 5, 16384}
	heap := func(id uint8, blk BlockNumber) DecodedBkpBlock {
		return DecodedBkpBlock{ID: id, Tag: BufferTag{rel, MainForkNum, blk}}
	}
	rec := &DecodedRecord{Header: XLogRecord{Rmid: uint8(RmgrHeap), Info: XLogHeapUpdate},
		MainData: hxCat(hxU32s(0), hxU16s(1), []byte{0, 3}, hxU32s(0), hxU16s(1)),
		Blocks:   []DecodedBkpBlock{heap(0, 70000), heap(1, 2)}}
	got := PagesChanged(make([]BufferTag, 0, 4), rec)
	want := []BufferTag{{rel, MainForkNum, 70000}, {rel, MainForkNum, 2}, {rel, VisibilityMapFork, 0}, {rel, VisibilityMapFork, 2}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	if n := testing.AllocsPerRun(100, func() { got = PagesChanged(got[:0], rec) }); n != 0 {
		t.Fatalf("%v allocations", n)
	}
	mx := &DecodedRecord{Header: XLogRecord{Rmid: uint8(RmgrMultiXact), Info: XLogMultixactCreateID}, MainData: hxU32s(5, 9, 1, 750, 0)}
	if got := PagesChanged(nil, mx); len(got) != 0 {
		t.Fatalf("multixact: %v", got)
	}
}
