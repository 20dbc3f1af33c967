package schema

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// xlStructCase is one fixed struct: its bytes as PostgreSQL writes them,
// its decoder and the value it must give.
type xlStructCase struct {
	name   string
	b      []byte
	decode func([]byte) (any, error)
	want   any
}

// runXlStructCases decodes each struct at the length PostgreSQL writes,
// with trailing bytes (padding, arrays) ignored, and refuses one byte less
// with an error naming the struct.
func runXlStructCases(t *testing.T, tests []xlStructCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.decode(tt.b)
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %+v, %v; want %+v", got, err, tt.want)
			}
			if got, err := tt.decode(append(tt.b[:len(tt.b):len(tt.b)], 0xEE, 0xEE)); err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("with trailing bytes: got %+v, %v", got, err)
			}
			_, err = tt.decode(tt.b[:len(tt.b)-1])
			if err == nil || !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), tt.name) {
				t.Fatalf("short: err %v", err)
			}
		})
	}
}

func TestDecodeXlHeapStructs(t *testing.T) {
	runXlStructCases(t, []xlStructCase{
		{"xl_heap_insert", hxCat(hxU16s(7), []byte{0x09}),
			func(b []byte) (any, error) { return DecodeXlHeapInsert(b) },
			XlHeapInsert{Offnum: 7, Flags: XLHInsertAllVisibleCleared | XLHInsertContainsNewTuple}},
		{"xl_heap_delete", hxCat(hxU32s(745), hxU16s(3), []byte{0x11, 0x18}),
			func(b []byte) (any, error) { return DecodeXlHeapDelete(b) },
			XlHeapDelete{Xmax: 745, Offnum: 3, InfobitsSet: XLHLXmaxIsMulti | XLHLKeysUpdated, Flags: XLHDeleteIsSuper | XLHDeleteIsPartitionMove}},
		{"xl_heap_update", hxCat(hxU32s(100), hxU16s(2), []byte{0x10, 0x63}, hxU32s(5), hxU16s(9)),
			func(b []byte) (any, error) { return DecodeXlHeapUpdate(b) },
			XlHeapUpdate{OldXmax: 100, OldOffnum: 2, OldInfobitsSet: 0x10, Flags: 0x63, NewXmax: 5, NewOffnum: 9}},
		{"xl_heap_header", hxCat(hxU16s(0x0803, 0x0902), []byte{24}),
			func(b []byte) (any, error) { return DecodeXlHeapHeader(b) },
			XlHeapHeader{TInfomask2: 0x0803, TInfomask: 0x0902, THoff: 24}},
		{"xl_heap_confirm", hxU16s(4),
			func(b []byte) (any, error) { return DecodeXlHeapConfirm(b) },
			XlHeapConfirm{Offnum: 4}},
		{"xl_heap_lock", hxCat(hxU32s(0x80000001), hxU16s(1), []byte{0x0C, 0x01}),
			func(b []byte) (any, error) { return DecodeXlHeapLock(b) },
			XlHeapLock{LockingXid: 0x80000001, Offnum: 1, InfobitsSet: 0x0C, Flags: XLHLockAllFrozenCleared}},
		{"xl_heap_lock_updated", hxCat(hxU32s(800), hxU16s(3), []byte{0x02, 0x01}),
			func(b []byte) (any, error) { return DecodeXlHeapLockUpdated(b) },
			XlHeapLockUpdated{Xmax: 800, Offnum: 3, InfobitsSet: XLHLXmaxLockOnly, Flags: XLHLockAllFrozenCleared}},
		{"xl_heap_inplace", hxU16s(9),
			func(b []byte) (any, error) { return DecodeXlHeapInplace(b) },
			XlHeapInplace{Offnum: 9}},
		{"xl_heap_prune", hxCat(hxU32s(730), hxU16s(1, 2)),
			func(b []byte) (any, error) { return DecodeXlHeapPrune(b) },
			XlHeapPrune{LatestRemovedXid: 730, Nredirected: 1, Ndead: 2}},
		{"xl_heap_vacuum", hxU16s(12),
			func(b []byte) (any, error) { return DecodeXlHeapVacuum(b) },
			XlHeapVacuum{Nunused: 12}},
		{"xl_heap_freeze_page", hxCat(hxU32s(900), hxU16s(3)),
			func(b []byte) (any, error) { return DecodeXlHeapFreezePage(b) },
			XlHeapFreezePage{CutoffXid: 900, Ntuples: 3}},
		{"xl_heap_visible", hxCat(hxU32s(0), []byte{3}),
			func(b []byte) (any, error) { return DecodeXlHeapVisible(b) },
			XlHeapVisible{Flags: 3}},
		{"xl_heap_new_cid", hxCat(hxU32s(740, 0, 0xFFFFFFFF, 7, 1663, 5, 1259), hxU16s(1, 2, 7)),
			func(b []byte) (any, error) { return DecodeXlHeapNewCid(b) },
			XlHeapNewCid{TopXid: 740, Cmax: 0xFFFFFFFF, Combocid: 7, TargetNode: RelFileNode{1663, 5, 1259},
				TargetTid: ItemPointer{Block: 65538, Offset: 7}}},
		{"xl_heap_rewrite_mapping", hxCat(hxU32s(900, 5, 16384, 0xEEEEEEEE, 8192, 0), hxU32s(3, 0xEEEEEEEE), hxU32s(0x28, 1)),
			func(b []byte) (any, error) { return DecodeXlHeapRewriteMapping(b) },
			XlHeapRewriteMapping{MappedXid: 900, MappedDb: 5, MappedRel: 16384, Offset: 8192, NumMappings: 3, StartLsn: 0x1_00000028}},
	})
}

func TestDecodeXlHeapTruncate(t *testing.T) {
	b := hxCat(hxU32s(5, 2), []byte{3, 0xEE, 0xEE, 0xEE}, hxU32s(16384, 16390))
	x, err := DecodeXlHeapTruncate(b)
	if err != nil || x.DbID != 5 || x.Nrelids != 2 || x.Flags != XLHTruncateCascade|XLHTruncateRestartSeqs ||
		x.Relids.Len() != 2 || x.Relids.At(0) != 16384 || x.Relids.At(1) != 16390 || x.Complete() != nil {
		t.Fatalf("got %+v, %v", x, err)
	}
	// Bytes past nrelids are not relids; a missing one is reported.
	if x, _ := DecodeXlHeapTruncate(append(b, 1, 2, 3, 4)); x.Relids.Len() != 2 {
		t.Fatalf("extra bytes: %d relids", x.Relids.Len())
	}
	x, err = DecodeXlHeapTruncate(b[:len(b)-1])
	if err != nil || x.Relids.Len() != 1 || !errors.Is(x.Complete(), ErrCorrupt) {
		t.Fatalf("short relids: %+v, %v, %v", x, err, x.Complete())
	}
	if _, err := DecodeXlHeapTruncate(b[:SizeOfHeapTruncate-1]); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "xl_heap_truncate") {
		t.Fatalf("short struct: %v", err)
	}
}

func TestDecodeHeapUpdateNewTuple(t *testing.T) {
	hdr := hxCat(hxU16s(3, 0x0800), []byte{24})
	for _, tt := range []struct {
		flags uint8
		b     []byte
		want  HeapUpdateNewTuple
	}{
		{0, hxCat(hdr, []byte{1, 2}), HeapUpdateNewTuple{Header: XlHeapHeader{3, 0x0800, 24}, Data: []byte{1, 2}}},
		{XLHUpdatePrefixFromOld, hxCat(hxU16s(10), hdr), HeapUpdateNewTuple{PrefixLen: 10, Header: XlHeapHeader{3, 0x0800, 24}, Data: []byte{}}},
		{XLHUpdateSuffixFromOld, hxCat(hxU16s(4), hdr, []byte{9}), HeapUpdateNewTuple{SuffixLen: 4, Header: XlHeapHeader{3, 0x0800, 24}, Data: []byte{9}}},
		{XLHUpdatePrefixFromOld | XLHUpdateSuffixFromOld, hxCat(hxU16s(10, 4), hdr, []byte{9}),
			HeapUpdateNewTuple{PrefixLen: 10, SuffixLen: 4, Header: XlHeapHeader{3, 0x0800, 24}, Data: []byte{9}}},
	} {
		got, err := DecodeHeapUpdateNewTuple(tt.flags, tt.b)
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Fatalf("flags %#x: got %+v, %v; want %+v", tt.flags, got, err, tt.want)
		}
		n := len(tt.b) - len(tt.want.Data)
		if _, err := DecodeHeapUpdateNewTuple(tt.flags, tt.b[:n-1]); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("flags %#x short: %v", tt.flags, err)
		}
	}
}

// offsetsOf copies an OffsetNumberArray out.
func offsetsOf(a OffsetNumberArray) []OffsetNumber {
	offs := []OffsetNumber{}
	for i := range a.Len() {
		offs = append(offs, a.At(i))
	}
	return offs
}

func TestDecodeHeapPruneVacuumOffsets(t *testing.T) {
	b := hxU16s(1, 2, 3, 4, 5, 6)
	r, d, u, err := DecodeHeapPruneOffsets(XlHeapPrune{Nredirected: 1, Ndead: 2}, b)
	if err != nil || !reflect.DeepEqual(offsetsOf(r), []OffsetNumber{1, 2}) || !reflect.DeepEqual(offsetsOf(d), []OffsetNumber{3, 4}) ||
		!reflect.DeepEqual(offsetsOf(u), []OffsetNumber{5, 6}) {
		t.Fatalf("prune: %v %v %v %v", r, d, u, err)
	}
	if _, _, _, err := DecodeHeapPruneOffsets(XlHeapPrune{Nredirected: 2, Ndead: 3}, b); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("prune too many: %v", err)
	}
	if _, _, _, err := DecodeHeapPruneOffsets(XlHeapPrune{}, b[:5]); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("prune odd: %v", err)
	}
	offs, err := DecodeHeapVacuumOffsets(XlHeapVacuum{Nunused: 2}, b)
	if err != nil || !reflect.DeepEqual(offsetsOf(offs), []OffsetNumber{1, 2}) {
		t.Fatalf("vacuum: %v %v", offs, err)
	}
	if _, err := DecodeHeapVacuumOffsets(XlHeapVacuum{Nunused: 4}, b[:6]); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("vacuum too many: %v", err)
	}
}

func TestDecodeXlHeapFreezeTuples(t *testing.T) {
	plan := func(xmax uint32, off, im2, im uint16, flags byte) []byte {
		return hxCat(hxU32s(xmax), hxU16s(off, im2, im), []byte{flags, 0xEE})
	}
	b := hxCat(plan(0, 3, 0x0002, 0x0B00, XLHFreezeXvac), plan(7, 5, 0x4003, 0x0900, XLHInvalidXvac), []byte{0xEE})
	a, err := DecodeXlHeapFreezeTuples(XlHeapFreezePage{Ntuples: 2}, b)
	if err != nil || a.Len() != 2 {
		t.Fatalf("got %d, %v", a.Len(), err)
	}
	if got, want := a.At(1), (XlHeapFreezeTuple{Xmax: 7, Offset: 5, TInfomask2: 0x4003, TInfomask: 0x0900, Frzflags: XLHInvalidXvac}); got != want {
		t.Fatalf("plan 1: %+v, want %+v", got, want)
	}
	if _, err := DecodeXlHeapFreezeTuples(XlHeapFreezePage{Ntuples: 3}, b); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("short: %v", err)
	}
}

func TestDecodeXlHeapMultiInsert(t *testing.T) {
	x, err := DecodeXlHeapMultiInsert(hxCat([]byte{0x01, 0xEE}, hxU16s(2, 4, 5)))
	if err != nil || x.Flags != 1 || x.Ntuples != 2 {
		t.Fatalf("got %+v, %v", x, err)
	}
	if err := x.CheckOffsets(false); err != nil || x.Offset(0, false) != 4 || x.Offset(1, false) != 5 {
		t.Fatalf("offsets: %d %d %v", x.Offset(0, false), x.Offset(1, false), err)
	}
	if err := x.CheckOffsets(true); err != nil || x.Offset(0, true) != 1 || x.Offset(1, true) != 2 {
		t.Fatalf("init offsets: %d %d %v", x.Offset(0, true), x.Offset(1, true), err)
	}
	x, _ = DecodeXlHeapMultiInsert(hxCat([]byte{0, 0}, hxU16s(3, 4, 5)))
	if err := x.CheckOffsets(false); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("short offsets: %v", err)
	}
	if err := x.CheckOffsets(true); err != nil {
		t.Fatalf("init offsets are not logged: %v", err)
	}
	if _, err := DecodeXlHeapMultiInsert([]byte{1, 0, 2}); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "xl_heap_multi_insert") {
		t.Fatalf("short: %v", err)
	}

	// Tuples: each header SHORTALIGNed from the start of the data.
	tup := func(data ...byte) []byte { return hxCat(hxU16s(uint16(len(data)), 3, 0x0800), []byte{24}, data) }
	b := hxCat(tup(1, 2), []byte{0xEE}, tup(4))
	tuples, err := DecodeXlMultiInsertTuples(b, 2)
	want := []XlMultiInsertTuple{
		{Datalen: 2, TInfomask2: 3, TInfomask: 0x0800, THoff: 24, Data: []byte{1, 2}},
		{Datalen: 1, TInfomask2: 3, TInfomask: 0x0800, THoff: 24, Data: []byte{4}},
	}
	if err != nil || !reflect.DeepEqual(tuples, want) {
		t.Fatalf("tuples: %+v, %v", tuples, err)
	}
	for _, bad := range [][]byte{b[:len(b)-1], append(b, 0), b[:7]} {
		if _, err := DecodeXlMultiInsertTuples(bad, 2); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("%d bytes: %v", len(bad), err)
		}
	}
}
