package schema

import (
	"errors"
	"reflect"
	"testing"
)

// btTuple is an index tuple of size bytes (t_info size), padded with pad
// bytes after it.
func btTuple(size, pad int, key byte) []byte {
	t := make([]byte, size+pad)
	t[6], t[7] = byte(size), byte(size>>8)
	if size > 8 {
		t[8] = key
	}
	return t
}

func TestDecodeXlBtreeStructs(t *testing.T) {
	runXlStructCases(t, []xlStructCase{
		{"xl_btree_metadata", hxCat(hxU32s(4, 3, 1, 3, 1, 5), []byte{1, 0xEE, 0xEE, 0xEE}),
			func(b []byte) (any, error) { return DecodeXlBtreeMetadata(b) },
			XlBtreeMetadata{Version: 4, Root: 3, Level: 1, Fastroot: 3, Fastlevel: 1, LastCleanupNumDelpages: 5, Allequalimage: true}},
		{"xl_btree_insert", hxU16s(12),
			func(b []byte) (any, error) { return DecodeXlBtreeInsert(b) },
			XlBtreeInsert{Offnum: 12}},
		{"xl_btree_split", hxCat(hxU32s(1), hxU16s(184, 200, 3)),
			func(b []byte) (any, error) { return DecodeXlBtreeSplit(b) },
			XlBtreeSplit{Level: 1, Firstrightoff: 184, Newitemoff: 200, Postingoff: 3}},
		{"xl_btree_dedup", hxU16s(3),
			func(b []byte) (any, error) { return DecodeXlBtreeDedup(b) },
			XlBtreeDedup{Nintervals: 3}},
		{"xl_btree_reuse_page", hxCat(hxU32s(1663, 5, 16400, 7), hxU32s(900, 1)),
			func(b []byte) (any, error) { return DecodeXlBtreeReusePage(b) },
			XlBtreeReusePage{Node: RelFileNode{1663, 5, 16400}, Block: 7, LatestRemovedFullXid: 1<<32 | 900}},
		{"xl_btree_vacuum", hxU16s(4, 1),
			func(b []byte) (any, error) { return DecodeXlBtreeVacuum(b) },
			XlBtreeVacuum{Ndeleted: 4, Nupdated: 1}},
		{"xl_btree_delete", hxCat(hxU32s(1000), hxU16s(2, 0)),
			func(b []byte) (any, error) { return DecodeXlBtreeDelete(b) },
			XlBtreeDelete{LatestRemovedXid: 1000, Ndeleted: 2}},
		{"xl_btree_mark_page_halfdead", hxCat(hxU16s(3, 0xEEEE), hxU32s(10, 9, 11, 12)),
			func(b []byte) (any, error) { return DecodeXlBtreeMarkPageHalfdead(b) },
			XlBtreeMarkPageHalfdead{Poffset: 3, Leafblk: 10, Leftblk: 9, Rightblk: 11, Topparent: 12}},
		{"xl_btree_unlink_page", hxCat(hxU32s(9, 11, 0, 0xEEEEEEEE), hxU32s(5000, 1), hxU32s(1, 2, 3)),
			func(b []byte) (any, error) { return DecodeXlBtreeUnlinkPage(b) },
			XlBtreeUnlinkPage{Leftsib: 9, Rightsib: 11, Safexid: 1<<32 | 5000, Leafleftsib: 1, Leafrightsib: 2, Leaftopparent: 3}},
		{"xl_btree_newroot", hxU32s(3, 1),
			func(b []byte) (any, error) { return DecodeXlBtreeNewroot(b) },
			XlBtreeNewroot{Rootblk: 3, Level: 1}},
	})
}

func TestDecodeBtreeInsertPostData(t *testing.T) {
	item := btTuple(16, 0, 7)
	d, err := DecodeBtreeInsertPostData(hxCat(hxU16s(2), item))
	if err != nil || d.Postingoff != 2 || !reflect.DeepEqual(d.Newitem, item) {
		t.Fatalf("got %+v, %v", d, err)
	}
	// The item must be exactly IndexTupleSize bytes.
	for _, bad := range [][]byte{hxCat(hxU16s(2), btTuple(16, 8, 7)), hxCat(hxU16s(2), item[:12]), hxU16s(2)} {
		if _, err := DecodeBtreeInsertPostData(bad); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("%d bytes: %v", len(bad), err)
		}
	}
}

func TestDecodeBtreeSplitLeftData(t *testing.T) {
	newitem, hikey := btTuple(12, 4, 1), btTuple(16, 0, 2)
	d, err := DecodeBtreeSplitLeftData(true, hxCat(newitem, hikey))
	if err != nil || !reflect.DeepEqual(d.Newitem, newitem) || !reflect.DeepEqual(d.LeftHikey, hikey) {
		t.Fatalf("with new item: %+v, %v", d, err)
	}
	d, err = DecodeBtreeSplitLeftData(false, hikey)
	if err != nil || d.Newitem != nil || !reflect.DeepEqual(d.LeftHikey, hikey) {
		t.Fatalf("without: %+v, %v", d, err)
	}
	for _, bad := range []struct {
		has bool
		b   []byte
	}{{true, hikey}, {false, hxCat(newitem, hikey)}, {true, newitem}, {false, append(hikey, 0)}, {true, nil}} {
		if _, err := DecodeBtreeSplitLeftData(bad.has, bad.b); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("%v %d bytes: %v", bad.has, len(bad.b), err)
		}
	}
}

func TestDecodeBtreeTuples(t *testing.T) {
	a, b := btTuple(12, 4, 1), btTuple(8, 0, 0)
	items, err := DecodeBtreeTuples(hxCat(a, b))
	if err != nil || !reflect.DeepEqual(items, [][]byte{a, b}) {
		t.Fatalf("got %v, %v", items, err)
	}
	if items, err := DecodeBtreeTuples(nil); err != nil || items != nil {
		t.Fatalf("empty: %v, %v", items, err)
	}
	for _, bad := range [][]byte{a[:12], hxCat(a, b[:4]), btTuple(0, 8, 0)} {
		if _, err := DecodeBtreeTuples(bad); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("%d bytes: %v", len(bad), err)
		}
	}
}

func TestDecodeBTDedupIntervals(t *testing.T) {
	a, err := DecodeBTDedupIntervals(XlBtreeDedup{Nintervals: 2}, hxU16s(2, 3, 7, 2, 0xEEEE))
	if err != nil || a.Len() != 2 || a.At(1) != (BTDedupInterval{Baseoff: 7, Nitems: 2}) {
		t.Fatalf("got %d %+v, %v", a.Len(), a, err)
	}
	if _, err := DecodeBTDedupIntervals(XlBtreeDedup{Nintervals: 3}, hxU16s(2, 3, 7, 2, 0xEEEE)); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("short: %v", err)
	}
}

func TestDecodeBtreeDeletion(t *testing.T) {
	// ndeleted 2, nupdated 2: offsets 3 5, updated offsets 4 6, then
	// update {2: 0 1} and {1: 3}.
	b := hxU16s(3, 5, 4, 6, 2, 0, 1, 1, 3)
	deleted, updates, err := DecodeBtreeDeletion(b, 2, 2)
	want := []XlBtreeUpdate{{Offnum: 4, Ndeletedtids: 2, Deletetids: []uint16{0, 1}}, {Offnum: 6, Ndeletedtids: 1, Deletetids: []uint16{3}}}
	if err != nil || !reflect.DeepEqual(deleted, []OffsetNumber{3, 5}) || !reflect.DeepEqual(updates, want) {
		t.Fatalf("got %v %+v, %v", deleted, updates, err)
	}
	// The updates' tids do not overlap.
	if u := updates[0].Deletetids; cap(u) != len(u) {
		t.Fatalf("tids of update 0 have room for %d", cap(u))
	}
	for n := range len(b) {
		if _, _, err := DecodeBtreeDeletion(b[:n], 2, 2); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("%d bytes: %v", n, err)
		}
	}
	if deleted, updates, err := DecodeBtreeDeletion(hxU16s(9), 1, 0); err != nil || len(deleted) != 1 || len(updates) != 0 {
		t.Fatalf("deletes only: %v %v %v", deleted, updates, err)
	}
}
