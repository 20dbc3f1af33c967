package schema

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pagemill/pagemill/internal/pgtest"
)

// ginTuple is an index tuple of size bytes (size >= 8) whose t_tid is tid.
func ginTuple(size int, tid byte) []byte {
	t := make([]byte, size)
	t[4] = tid
	rdLE.PutUint16(t[6:], uint16(size))
	for i := 8; i < size; i++ {
		t[i] = byte(i)
	}
	return t
}

// ginShort checks that every prefix of b shorter than want fails naming
// name, and that b itself decodes.
func ginShort[T any](t *testing.T, name string, b []byte, want int, decode func([]byte) (T, error)) T {
	t.Helper()
	for n := 0; n < want; n++ {
		_, err := decode(b[:n])
		if err == nil || !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), name) {
			t.Fatalf("%s of %d bytes: err = %v", name, n, err)
		}
	}
	v, err := decode(b)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return v
}

func TestGinxlogFixedStructs(t *testing.T) {
	split := newDescBuf().rel(1663, 5, 16400).u32(7).u32(8).u32(9).u16(GinInsertIsData | GinSplitRoot).pad(2).b
	s := ginShort(t, "ginxlogSplit", split, SizeOfGinxlogSplit, DecodeGinxlogSplit)
	if s != (GinxlogSplit{Node: RelFileNode{1663, 5, 16400}, Rrlink: 7, LeftChildBlkno: 8, RightChildBlkno: 9, Flags: 5}) ||
		!s.IsData() || s.IsLeaf() || !s.IsRoot() {
		t.Fatalf("split %+v", s)
	}

	del := newDescBuf().u16(3).pad(2).u32(12).u32(900).b
	if d := ginShort(t, "ginxlogDeletePage", del, SizeOfGinxlogDeletePage, DecodeGinxlogDeletePage); d != (GinxlogDeletePage{3, 12, 900}) {
		t.Fatalf("delete page %+v", d)
	}

	lp := newDescBuf().u32(uint32(InvalidBlockNumber)).i32(4).b
	if l := ginShort(t, "ginxlogInsertListPage", lp, SizeOfGinxlogInsertListPage, DecodeGinxlogInsertListPage); l != (GinxlogInsertListPage{InvalidBlockNumber, 4}) {
		t.Fatalf("insert list page %+v", l)
	}

	di := newDescBuf().u16(2).blockID(0x10002).blockID(0x30004).u16(5).b
	if x := ginShort(t, "ginxlogInsertDataInternal", di, SizeOfGinxlogInsertDataInternal, DecodeGinxlogInsertDataInternal); x !=
		(GinxlogInsertDataInternal{Offset: 2, NewItem: PostingItem{ChildBlkno: 0x10002, Key: GinItemPointer{0x30004, 5}}}) {
		t.Fatalf("insert data internal %+v", x)
	}
}

// ginMeta is a GinMetaPageData with distinct values and non-zero padding.
func ginMeta() []byte {
	return newDescBuf().u32(1).u32(2).u32(3).u32(4).i64(5).u32(6).u32(7).u32(8).raw(0xAA, 0xBB, 0xCC, 0xDD).
		i64(9).i32(2).raw(0xEE, 0, 0, 0xFF).b
}

func TestGinxlogMetadata(t *testing.T) {
	want := GinMetaPageData{Head: 1, Tail: 2, TailFreeSize: 3, NPendingPages: 4, NPendingHeapTuples: 5, NTotalPages: 6,
		NEntryPages: 7, NDataPages: 8, NEntries: 9, GinVersion: 2}
	check := func(got GinMetaPageData) {
		t.Helper()
		copy(want.Raw[:], ginMeta())
		if got != want {
			t.Fatalf("metadata %+v", got)
		}
	}
	check(ginShort(t, "GinMetaPageData", ginMeta(), SizeOfGinMetaPageData, DecodeGinMetaPageData))

	um := newDescBuf().rel(1663, 5, 16400).pad(4).raw(ginMeta()...).u32(10).u32(11).i32(-1).pad(4).b
	u := ginShort(t, "ginxlogUpdateMeta", um, SizeOfGinxlogUpdateMeta, DecodeGinxlogUpdateMeta)
	check(u.Metadata)
	if u.Node != (RelFileNode{1663, 5, 16400}) || u.PrevTail != 10 || u.NewRightlink != 11 || u.NTuples != -1 {
		t.Fatalf("update meta %+v", u)
	}

	dl := newDescBuf().raw(ginMeta()...).i32(16).pad(4).b
	d := ginShort(t, "ginxlogDeleteListPages", dl, SizeOfGinxlogDeleteListPages, DecodeGinxlogDeleteListPages)
	check(d.Metadata)
	if d.NDeleted != 16 {
		t.Fatalf("ndeleted %d", d.NDeleted)
	}
}

func TestGinxlogCreatePostingTree(t *testing.T) {
	b := newDescBuf().u32(3).raw(1, 2, 3, 4).b
	x, err := DecodeGinxlogCreatePostingTree(b)
	if err != nil || x.Size != 3 || !bytes.Equal(x.Segments, []byte{1, 2, 3}) {
		t.Fatalf("%+v %v", x, err)
	}
	for _, bad := range [][]byte{nil, {3, 0, 0}, newDescBuf().u32(5).raw(1, 2, 3, 4).b, newDescBuf().u32(0xFFFFFFFF).b} {
		if _, err := DecodeGinxlogCreatePostingTree(bad); err == nil || !strings.Contains(err.Error(), "ginxlogCreatePostingTree") {
			t.Fatalf("%x: err = %v", bad, err)
		}
	}
}

func TestGinxlogInsert(t *testing.T) {
	x, err := DecodeGinxlogInsert(newDescBuf().u16(GinInsertIsLeaf).b)
	if err != nil || !x.IsLeaf() || x.IsData() || x.LeftChildBlkno != InvalidBlockNumber || x.RightChildBlkno != InvalidBlockNumber {
		t.Fatalf("leaf %+v %v", x, err)
	}
	x, err = DecodeGinxlogInsert(newDescBuf().u16(GinInsertIsData).blockID(0x10005).blockID(6).b)
	if err != nil || x.IsLeaf() || !x.IsData() || x.LeftChildBlkno != 0x10005 || x.RightChildBlkno != 6 {
		t.Fatalf("internal %+v %v", x, err)
	}
	// A short non-leaf record keeps its flags.
	x, err = DecodeGinxlogInsert(newDescBuf().u16(GinInsertIsData).blockID(5).b)
	if err == nil || !strings.Contains(err.Error(), "ginxlogInsert") || x.Flags != GinInsertIsData {
		t.Fatalf("short internal %+v %v", x, err)
	}
	if _, err := DecodeGinxlogInsert([]byte{2}); err == nil {
		t.Fatal("1 byte decoded")
	}
}

func TestGinxlogInsertEntry(t *testing.T) {
	tup := ginTuple(24, 9)
	b := append(newDescBuf().u16(4).u8(1).pad(1).b, tup...)
	b = append(b, 0xEE) // ignored, as redo ignores it
	x, err := DecodeGinxlogInsertEntry(b)
	if err != nil || x.Offset != 4 || !x.IsDelete {
		t.Fatalf("%+v %v", x, err)
	}
	if got, err := x.IndexTuple(); err != nil || !bytes.Equal(got, tup) {
		t.Fatalf("tuple %x %v", got, err)
	}
	// The header alone describes the record; redo needs the tuple.
	x, err = DecodeGinxlogInsertEntry([]byte{4, 0, 0})
	if err != nil || x.IsDelete || x.Tuple != nil {
		t.Fatalf("header only: %+v %v", x, err)
	}
	if _, err := x.IndexTuple(); err == nil {
		t.Fatal("missing tuple accepted")
	}
	if _, err := DecodeGinxlogInsertEntry([]byte{4, 0}); err == nil {
		t.Fatal("2 bytes decoded")
	}
	for _, bad := range [][]byte{tup[:23], tup[:7], ginTuple(8, 0)[:8:8]} {
		if bad2 := bad; len(bad2) == 8 {
			rdLE.PutUint16(bad2[6:], 4) // IndexTupleSize below the header
		}
		x, _ := DecodeGinxlogInsertEntry(append([]byte{1, 0, 0, 0}, bad...))
		if _, err := x.IndexTuple(); err == nil || !strings.Contains(err.Error(), "ginxlogInsertEntry") {
			t.Fatalf("tuple %x: err = %v", bad, err)
		}
	}
}

// ginLeafActions is a ginxlogRecompressDataLeaf with one action of each
// kind: ADDITEMS of two items, REPLACE with a 3-byte posting list, INSERT
// with a 2-byte one, DELETE.
func ginLeafActions() []byte {
	return newDescBuf().u16(4).
		u8(0).u8(GinSegmentAddItems).u16(2).blockID(1).u16(2).blockID(1).u16(3).
		u8(1).u8(GinSegmentReplace).blockID(2).u16(1).u16(3).raw(1, 2, 3).pad(1).
		u8(2).u8(GinSegmentInsert).blockID(3).u16(1).u16(2).raw(4, 5).
		u8(2).u8(GinSegmentDelete).b
}

func TestGinxlogRecompressDataLeaf(t *testing.T) {
	x, err := DecodeGinxlogRecompressDataLeaf(ginLeafActions())
	if err != nil || x.NActions != 4 {
		t.Fatalf("%+v %v", x, err)
	}
	it := x.Actions()
	var got []GinxlogSegmentAction
	for {
		a, ok := it.Next()
		if !ok {
			break
		}
		got = append(got, a)
	}
	if it.Err() != nil || len(got) != 4 {
		t.Fatalf("%d actions, err %v", len(got), it.Err())
	}
	if a := got[0]; a.Segno != 0 || a.Type != GinSegmentAddItems || a.NItems != 2 || len(a.Items) != 12 ||
		a.Item(1) != (GinItemPointer{1, 3}) || a.Segment != nil {
		t.Fatalf("additems %+v", a)
	}
	if a := got[1]; a.Segno != 1 || a.Type != GinSegmentReplace || !bytes.Equal(a.Segment, []byte{0, 0, 2, 0, 1, 0, 3, 0, 1, 2, 3, 0}) {
		t.Fatalf("replace %+v", a)
	}
	if a := got[2]; a.Segno != 2 || a.Type != GinSegmentInsert || len(a.Segment) != 10 {
		t.Fatalf("insert %+v", a)
	}
	if a := got[3]; a.Segno != 2 || a.Type != GinSegmentDelete || a.Segment != nil || a.Items != nil {
		t.Fatalf("delete %+v", a)
	}
	if _, ok := it.Next(); ok {
		t.Fatal("action past nactions")
	}

	// Every truncation fails at the action it cuts, after the whole ones.
	full := ginLeafActions()
	ends := []int{2, 2 + 4 + 12, 2 + 4 + 12 + 2 + 12, 2 + 4 + 12 + 2 + 12 + 2 + 10, len(full)}
	for n := 2; n < len(full); n++ {
		x, _ := DecodeGinxlogRecompressDataLeaf(full[:n])
		it := x.Actions()
		whole := 0
		for {
			if _, ok := it.Next(); !ok {
				break
			}
			whole++
		}
		want := 0
		for want+1 < len(ends) && ends[want+1] <= n {
			want++
		}
		if whole != want || it.Err() == nil || !errors.Is(it.Err(), ErrCorrupt) {
			t.Fatalf("%d bytes: %d whole actions (want %d), err %v", n, whole, want, it.Err())
		}
	}

	// An unknown action is returned, and ends the list.
	x, _ = DecodeGinxlogRecompressDataLeaf(newDescBuf().u16(2).u8(5).u8(9).u8(0).u8(1).b)
	it = x.Actions()
	if a, ok := it.Next(); !ok || a.Segno != 5 || a.Type != 9 {
		t.Fatalf("unknown action %+v %v", a, ok)
	}
	if _, ok := it.Next(); ok || it.Err() == nil || !strings.Contains(it.Err().Error(), "unknown action type 9") {
		t.Fatalf("after unknown: %v", it.Err())
	}

	v, err := DecodeGinxlogVacuumDataLeafPage(ginLeafActions())
	if err != nil || v.Data.NActions != 4 {
		t.Fatalf("vacuum %+v %v", v, err)
	}
	if _, err := DecodeGinxlogVacuumDataLeafPage([]byte{1}); err == nil || !strings.Contains(err.Error(), "ginxlogVacuumDataLeafPage") {
		t.Fatalf("short vacuum: %v", err)
	}
}

func TestGinPostingListSize(t *testing.T) {
	for _, c := range []struct {
		b    []byte
		size int
		ok   bool
	}{
		{nil, 0, false},
		{make([]byte, 8), 8, true},
		{[]byte{0, 0, 0, 0, 1, 0, 3, 0, 1, 2, 3, 0}, 12, true},
		{[]byte{0, 0, 0, 0, 1, 0, 3, 0, 1, 2, 3}, 12, false},
		{[]byte{0, 0, 0, 0, 1, 0, 2, 0, 1, 2}, 10, true},
	} {
		if size, ok := GinPostingListSize(c.b); size != c.size || ok != c.ok {
			t.Errorf("%x: %d %v, want %d %v", c.b, size, ok, c.size, c.ok)
		}
	}
}

func TestGinxlogTuples(t *testing.T) {
	a, b := ginTuple(16, 1), ginTuple(13, 2) // not MAXALIGNed: the next starts right after
	data := append(append(append([]byte(nil), a...), b...), 0xEE)
	tu, err := DecodeGinxlogTuples(data, 2)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range [][]byte{a, b} {
		got, ok := tu.Next()
		if !ok || !bytes.Equal(got, want) {
			t.Fatalf("tuple %d: %x %v", i, got, ok)
		}
	}
	if _, ok := tu.Next(); ok {
		t.Fatal("third tuple")
	}
	for _, n := range []int32{0, -3} {
		tu, err := DecodeGinxlogTuples(nil, n)
		if _, ok := tu.Next(); err != nil || ok {
			t.Fatalf("ntuples %d: %v", n, err)
		}
	}
	if _, err := DecodeGinxlogTuples(data, 3); err == nil || !strings.Contains(err.Error(), "tuple 3 of 3") {
		t.Fatalf("three tuples: %v", err)
	}
	zero := ginTuple(8, 0)
	rdLE.PutUint16(zero[6:], 0)
	if _, err := DecodeGinxlogTuples(zero, 1); err == nil {
		t.Fatal("zero-size tuple accepted")
	}
}

// TestGinDescribeMatchesWaldump runs the GIN workload (without
// wal_consistency_checking, so that records carry their block data, and
// with checkpoints, so that some carry applied images) and compares every
// Gin line with pg_waldump's: the segment actions, entry and internal
// inserts, splits and list records as PostgreSQL itself prints them.
func TestGinDescribeMatchesWaldump(t *testing.T) {
	c := pgtest.Start(t, pgtest.Options{ExtraConf: pgtest.IndexAMConf()})
	start := c.CurrentWALLSN(t)
	c.RunIndexAMWorkload(t, pgtest.GinWorkload())
	end := c.CurrentWALLSN(t)
	dir := t.TempDir()
	c.CopyWAL(t, dir)
	out, err := exec.Command(filepath.Join(pgtest.BinDir(), "pg_waldump"), "-p", dir, "-s", start, "-e", end, "-r", "Gin").Output()
	if err != nil {
		t.Fatalf("pg_waldump: %v", err)
	}
	want := strings.SplitAfter(string(out), "\n")
	want = want[:len(want)-1] // after the last newline

	s, _ := ParseLSN(start)
	e, _ := ParseLSN(end)
	d, err := OpenWALDir(os.DirFS(dir), DirOptions{Start: s, End: e})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	var line []byte
	n, bad := 0, 0
	kinds := map[string]bool{}
	for {
		rec, err := d.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if rec.Rmgr() != RmgrGin {
			continue
		}
		line = AppendWaldumpLine(line[:0], rec, time.UTC, false)
		if n < len(want) && string(line) != want[n] {
			if bad++; bad <= 5 {
				t.Errorf("record %d:\n got %s\nwant %s", n, line, want[n])
			}
		}
		n++
		desc := string(line[strings.Index(string(line), "desc: "):])
		for _, k := range []string{"(add ", "(replace)", "(insert)", "(delete)", "isdelete: T", "isdelete: F", "pitem:",
			"(full page image)", "isrootsplit: T", "ndeleted:", "CREATE_PTREE", "INSERT_LISTPAGE", "UPDATE_META_PAGE", "DELETE_PAGE", "VACUUM_PAGE"} {
			if strings.Contains(desc, k) {
				kinds[k] = true
			}
		}
	}
	if n != len(want) || bad > 0 {
		t.Fatalf("%d records, pg_waldump printed %d lines; %d differ", n, len(want), bad)
	}
	if len(kinds) != 15 {
		t.Errorf("descriptions seen: %v", kinds)
	}
	t.Logf("%d Gin records described as pg_waldump does", n)
}
