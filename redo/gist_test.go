package redo

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/pagemill/pagemill/schema"
)

// Hand-made GiST pages and records. The bytes of pages, tuples and record
// layouts are written out field by field here, independently of gist.go
// and schema/gistxlog.go.

const gistTestLSN = schema.LSN(0x5_0000_1000)

// gistTuple is an index tuple of size bytes (a multiple of 8): t_tid
// pointing at heap block blk, t_info = size, then the key byte repeated.
func gistTuple(key byte, blk uint32, size int) []byte {
	t := bytes.Repeat([]byte{key}, size)
	copy(t, btTID(blk, 1))
	binary.LittleEndian.PutUint16(t[6:], uint16(size))
	return t
}

// gistTestPage is a GiST page with the given special space fields and
// items at offsets 1..n, page LSN lsn.
func gistTestPage(t *testing.T, lsn schema.LSN, flags uint16, rightlink uint32, nsn schema.LSN, items ...[]byte) schema.Page {
	t.Helper()
	p := make(schema.Page, schema.BLCKSZ)
	if err := PageInit(p, 16); err != nil {
		t.Fatal(err)
	}
	o := p[p.Special():]
	binary.LittleEndian.PutUint32(o[0:], uint32(nsn>>32))
	binary.LittleEndian.PutUint32(o[4:], uint32(nsn))
	binary.LittleEndian.PutUint32(o[8:], rightlink)
	binary.LittleEndian.PutUint16(o[12:], flags)
	binary.LittleEndian.PutUint16(o[14:], 0xFF81)
	addTestItems(t, p, items...)
	p.SetLSN(lsn)
	return p
}

// gistSpecial reads nsn, rightlink, flags and page id.
func gistSpecial(p schema.Page) (nsn schema.LSN, rightlink uint32, flags, pageID uint16) {
	o := p[p.Special():]
	le := binary.LittleEndian
	return schema.LSN(le.Uint32(o[0:]))<<32 | schema.LSN(le.Uint32(o[4:])), le.Uint32(o[8:]), le.Uint16(o[12:]), le.Uint16(o[14:])
}

func gistRecord(t *testing.T, info uint8, md []byte, blocks ...schema.BlockSpec) *schema.DecodedRecord {
	t.Helper()
	return assemble(t, schema.RecordSpec{Xid: 901, Rmgr: schema.RmgrGist, Info: info, MainData: md, Blocks: blocks}, gistTestLSN)
}

// gistUpdateData is PAGE_UPDATE's block 0 data.
func gistUpdateData(del []uint16, tuples ...[]byte) []byte {
	b := u16s(del...)
	for _, t := range tuples {
		b = append(b, t...)
	}
	return b
}

// gistSplitData is a page block's data of PAGE_SPLIT: int32 num, tuples.
func gistSplitData(tuples ...[]byte) []byte {
	b := u32s(uint32(len(tuples)))
	for _, t := range tuples {
		b = append(b, t...)
	}
	return b
}

// gistSplitMain is gistxlogPageSplit with garbage in its padding.
func gistSplitMain(origrlink uint32, orignsn schema.LSN, origleaf bool, npage uint16, markfollowright bool) []byte {
	b := bytes.Repeat([]byte{0xEE}, 24)
	binary.LittleEndian.PutUint32(b[0:], origrlink)
	binary.LittleEndian.PutUint64(b[8:], uint64(orignsn))
	b[16] = 0
	if origleaf {
		b[16] = 1
	}
	binary.LittleEndian.PutUint16(b[18:], npage)
	b[20] = 0
	if markfollowright {
		b[20] = 1
	}
	return b
}

func gistCheckItems(t *testing.T, name string, p schema.Page, want ...[]byte) {
	t.Helper()
	btCheckItems(t, name, p, want...)
}

func gistMustUnsupported(t *testing.T, e *Engine, rec *schema.DecodedRecord, pages Pages) Result {
	t.Helper()
	res, err := e.Apply(rec, pages)
	var uns *Unsupported
	if !errors.As(err, &uns) {
		t.Fatalf("Apply: %v, want *Unsupported", err)
	}
	return res
}

// TestGistRedoPageUpdateInsert: tuples are appended after the last item,
// the LSN is the record's end, the special space is kept.
func TestGistRedoPageUpdateInsert(t *testing.T) {
	e := newTestEngine(t)
	pages := NewMemPages()
	a, b, c, d := gistTuple('a', 1, 24), gistTuple('b', 2, 40), gistTuple('c', 3, 24), gistTuple('d', 4, 16)
	pages.Put(testTag(3), gistTestPage(t, 0x100, gistFLeaf, 7, 0x200, a, b))
	rec := gistRecord(t, schema.XLogGistPageUpdate, u16s(0, 2), schema.BlockSpec{ID: 0, Tag: testTag(3), Data: gistUpdateData(nil, c, d)})
	mustApply(t, e, rec, pages)
	p := mustPage(t, pages, 3)
	gistCheckItems(t, "page", p, a, b, c, d)
	if p.LSN() != rec.EndLSN {
		t.Errorf("LSN %s, want %s", p.LSN(), rec.EndLSN)
	}
	if nsn, rl, fl, id := gistSpecial(p); nsn != 0x200 || rl != 7 || fl != gistFLeaf || id != 0xFF81 {
		t.Errorf("special %x %d %x %x", nsn, rl, fl, id)
	}

	// On an empty page the first tuple goes to offset 1.
	pages.Put(testTag(4), gistTestPage(t, 0x100, gistFLeaf, 7, 0))
	rec = gistRecord(t, schema.XLogGistPageUpdate, u16s(0, 1), schema.BlockSpec{ID: 0, Tag: testTag(4), Data: gistUpdateData(nil, c)})
	mustApply(t, e, rec, pages)
	gistCheckItems(t, "empty page", mustPage(t, pages, 4), c)
}

// TestGistRedoPageUpdateOverwrite: one tuple deleted and one inserted is
// PageIndexTupleOverwrite: the line pointer keeps its slot, the data
// below it moves by the change in size.
func TestGistRedoPageUpdateOverwrite(t *testing.T) {
	e := newTestEngine(t)
	pages := NewMemPages()
	a, b, c, bb := gistTuple('a', 10, 24), gistTuple('b', 11, 24), gistTuple('c', 12, 24), gistTuple('B', 11, 48)
	pages.Put(testTag(0), gistTestPage(t, 0x100, 0, uint32(schema.InvalidBlockNumber), 0, a, b, c))
	rec := gistRecord(t, schema.XLogGistPageUpdate, u16s(1, 1), schema.BlockSpec{ID: 0, Tag: testTag(0), Data: gistUpdateData([]uint16{2}, bb)})
	mustApply(t, e, rec, pages)
	p := mustPage(t, pages, 0)
	gistCheckItems(t, "page", p, a, bb, c)
	// a was stored first (highest) and stays; the new b takes 24 more
	// bytes, so b and c (stored below it) slide down by 24.
	if off := p.ItemID(1).Off(); off != 8176-24 {
		t.Errorf("item 1 at %d, want %d", off, 8176-24)
	}
	if off := p.ItemID(2).Off(); off != 8176-48-24 {
		t.Errorf("item 2 at %d, want %d", off, 8176-48-24)
	}
	if off := p.ItemID(3).Off(); off != 8176-72-24 {
		t.Errorf("item 3 at %d, want %d", off, 8176-72-24)
	}
	if p.Upper() != 8176-96 {
		t.Errorf("pd_upper %d", p.Upper())
	}
}

// TestGistRedoPageUpdateDelete: deletions use PageIndexMultiDelete; on a
// leaf they set F_TUPLES_DELETED (PostgreSQL 15.18), on an internal page
// not; new tuples follow the remaining ones.
func TestGistRedoPageUpdateDelete(t *testing.T) {
	e := newTestEngine(t)
	pages := NewMemPages()
	items := [][]byte{gistTuple('a', 1, 24), gistTuple('b', 2, 24), gistTuple('c', 3, 32), gistTuple('d', 4, 24)}
	pages.Put(testTag(5), gistTestPage(t, 0x100, gistFLeaf, 9, 0, items...))
	rec := gistRecord(t, schema.XLogGistPageUpdate, u16s(3, 0), schema.BlockSpec{ID: 0, Tag: testTag(5), Data: gistUpdateData([]uint16{1, 2, 4})})
	mustApply(t, e, rec, pages)
	p := mustPage(t, pages, 5)
	gistCheckItems(t, "leaf", p, items[2])
	if _, _, fl, _ := gistSpecial(p); fl != gistFLeaf|gistFTuplesDeleted {
		t.Errorf("leaf flags %#x", fl)
	}
	if p.Upper() != 8176-32 {
		t.Errorf("pd_upper %d after compaction", p.Upper())
	}

	// An internal page: one downlink replaced by two (a split completed).
	x, y := gistTuple('x', 20, 16), gistTuple('y', 21, 16)
	pages.Put(testTag(6), gistTestPage(t, 0x100, 0, 9, 0, items...))
	rec = gistRecord(t, schema.XLogGistPageUpdate, u16s(1, 2), schema.BlockSpec{ID: 0, Tag: testTag(6), Data: gistUpdateData([]uint16{2}, x, y)})
	mustApply(t, e, rec, pages)
	p = mustPage(t, pages, 6)
	gistCheckItems(t, "internal", p, items[0], items[2], items[3], x, y)
	if _, _, fl, _ := gistSpecial(p); fl != 0 {
		t.Errorf("internal flags %#x", fl)
	}
}

// TestGistRedoPageUpdateDone: a page at or past the record's LSN is not
// changed, but the left child still is.
func TestGistRedoPageUpdateDone(t *testing.T) {
	e := newTestEngine(t)
	pages := NewMemPages()
	a := gistTuple('a', 1, 24)
	pages.Put(testTag(1), gistTestPage(t, 0x9_0000_0000, 0, 9, 0, a))
	pages.Put(testTag(2), gistTestPage(t, 0x100, gistFLeaf|gistFFollowRight, 4, 0x50))
	before := bytes.Clone(mustPage(t, pages, 1))
	rec := gistRecord(t, schema.XLogGistPageUpdate, u16s(0, 1),
		schema.BlockSpec{ID: 0, Tag: testTag(1), Data: gistUpdateData(nil, a)},
		schema.BlockSpec{ID: 1, Tag: testTag(2)})
	mustApply(t, e, rec, pages)
	if !bytes.Equal(mustPage(t, pages, 1), before) {
		t.Error("page past the record changed")
	}
	child := mustPage(t, pages, 2)
	if nsn, rl, fl, _ := gistSpecial(child); nsn != rec.EndLSN || rl != 4 || fl != gistFLeaf {
		t.Errorf("child nsn %s rightlink %d flags %#x", nsn, rl, fl)
	}
	if child.LSN() != rec.EndLSN {
		t.Errorf("child LSN %s", child.LSN())
	}
}

// TestGistRedoClearFollowRight: the left child gets NSN and loses
// F_FOLLOW_RIGHT also when restored from an image; a child past the
// record is left alone; a restored child another PartialPages owns is not
// touched here.
func TestGistRedoClearFollowRight(t *testing.T) {
	a, b := gistTuple('a', 1, 24), gistTuple('b', 2, 24)
	img := gistTestPage(t, 0, gistFLeaf|gistFFollowRight, 4, 0x77, b)
	update := func(t *testing.T, child schema.BlockSpec) *schema.DecodedRecord {
		return gistRecord(t, schema.XLogGistPageUpdate, u16s(0, 1),
			schema.BlockSpec{ID: 0, Tag: testTag(1), Data: gistUpdateData(nil, a)}, child)
	}

	t.Run("restored", func(t *testing.T) {
		e := newTestEngine(t)
		e.DataChecksums = true
		pages := NewMemPages()
		pages.Put(testTag(1), gistTestPage(t, 0x100, 0, 9, 0))
		rec := update(t, schema.BlockSpec{ID: 1, Tag: testTag(2), Image: img, HoleOffset: img.Lower(), HoleLength: img.Upper() - img.Lower(), Apply: true})
		res := mustApply(t, e, rec, pages)
		if len(res.Restored) != 1 {
			t.Fatalf("restored %v", res.Restored)
		}
		child := mustPage(t, pages, 2)
		if nsn, _, fl, _ := gistSpecial(child); nsn != rec.EndLSN || fl != gistFLeaf {
			t.Errorf("child nsn %s flags %#x", nsn, fl)
		}
		gistCheckItems(t, "child", child, b)
		if want, _ := PGChecksumPage(child, 2); child.Checksum() != want {
			t.Errorf("child checksum %#x, want %#x", child.Checksum(), want)
		}
	})

	t.Run("done", func(t *testing.T) {
		e := newTestEngine(t)
		pages := NewMemPages()
		pages.Put(testTag(1), gistTestPage(t, 0x100, 0, 9, 0))
		pages.Put(testTag(2), gistTestPage(t, 0x9_0000_0000, gistFLeaf|gistFFollowRight, 4, 0x77, b))
		before := bytes.Clone(mustPage(t, pages, 2))
		mustApply(t, e, update(t, schema.BlockSpec{ID: 1, Tag: testTag(2)}), pages)
		if !bytes.Equal(mustPage(t, pages, 2), before) {
			t.Error("child past the record changed")
		}
	})

	t.Run("missing", func(t *testing.T) {
		// Neither page there: both stay unavailable, the record is done.
		e := newTestEngine(t)
		pages := NewMemPages()
		res := mustApply(t, e, update(t, schema.BlockSpec{ID: 1, Tag: testTag(2)}), pages)
		if len(res.Invalidated) != 2 || !pages.Unavailable(testTag(1)) || !pages.Unavailable(testTag(2)) {
			t.Errorf("invalidated %v", res.Invalidated)
		}
	})

	t.Run("partial", func(t *testing.T) {
		e := newTestEngine(t)
		mem := NewMemPages()
		mem.Put(testTag(1), gistTestPage(t, 0x100, 0, 9, 0))
		pages := OwnedPages{In: mem, Own: func(tag schema.BufferTag) bool { return tag == testTag(1) }}
		rec := update(t, schema.BlockSpec{ID: 1, Tag: testTag(2), Image: img, Apply: true})
		mustApply(t, e, rec, pages)
		gistCheckItems(t, "target", mustPage(t, mem, 1), a)
		if _, ok := mem.Get(testTag(2)); ok {
			t.Error("a page of another owner was stored")
		}
	})
}

// TestGistRedoDelete: the listed tuples go, F_HAS_GARBAGE is cleared and
// F_TUPLES_DELETED not set (the primary's gistprunepage does not set it).
func TestGistRedoDelete(t *testing.T) {
	e := newTestEngine(t)
	pages := NewMemPages()
	items := [][]byte{gistTuple('a', 1, 24), gistTuple('b', 2, 24), gistTuple('c', 3, 24), gistTuple('d', 4, 24)}
	pages.Put(testTag(8), gistTestPage(t, 0x100, gistFLeaf|gistFHasGarbage, 9, 0x33, items...))
	md := append(u32s(1234), u16s(3, 1, 2, 4)...) // latestRemovedXid, ntodelete, offsets
	rec := gistRecord(t, schema.XLogGistDelete, md, schema.BlockSpec{ID: 0, Tag: testTag(8)})
	mustApply(t, e, rec, pages)
	p := mustPage(t, pages, 8)
	gistCheckItems(t, "leaf", p, items[2])
	if nsn, rl, fl, _ := gistSpecial(p); fl != gistFLeaf || rl != 9 || nsn != 0x33 {
		t.Errorf("special nsn %s rightlink %d flags %#x", nsn, rl, fl)
	}
	if p.LSN() != rec.EndLSN {
		t.Errorf("LSN %s", p.LSN())
	}

	// No offsets after the struct: only the flag changes.
	pages.Put(testTag(9), gistTestPage(t, 0x100, gistFLeaf|gistFHasGarbage, 9, 0, items...))
	rec = gistRecord(t, schema.XLogGistDelete, append(u32s(1234), u16s(2)...), schema.BlockSpec{ID: 0, Tag: testTag(9)})
	mustApply(t, e, rec, pages)
	p = mustPage(t, pages, 9)
	gistCheckItems(t, "no offsets", p, items...)
	if _, _, fl, _ := gistSpecial(p); fl != gistFLeaf {
		t.Errorf("flags %#x", fl)
	}
}

// TestGistRedoPageSplit: a leaf split into two pages completing a child's
// split: the pages are rebuilt from scratch (old content, flags and NSN
// gone), chained by rightlink, the first marked F_FOLLOW_RIGHT; the child
// gets NSN and loses F_FOLLOW_RIGHT.
func TestGistRedoPageSplit(t *testing.T) {
	e := newTestEngine(t)
	pages := NewMemPages()
	junk := gistTestPage(t, 0x100, gistFLeaf|gistFHasGarbage|gistFTuplesDeleted, 77, 0x99, gistTuple('z', 9, 64))
	pages.Put(testTag(5), junk)
	pages.Put(testTag(4), gistTestPage(t, 0x100, gistFFollowRight, 8, 0))
	a, b, c := gistTuple('a', 1, 24), gistTuple('b', 2, 32), gistTuple('c', 3, 24)
	const orignsn = schema.LSN(0x4_A06859E8)
	rec := gistRecord(t, schema.XLogGistPageSplit, gistSplitMain(12, orignsn, true, 2, true),
		schema.BlockSpec{ID: 0, Tag: testTag(4)},
		schema.BlockSpec{ID: 1, Tag: testTag(5), WillInit: true, Data: gistSplitData(a, b)},
		schema.BlockSpec{ID: 2, Tag: testTag(9), WillInit: true, Data: gistSplitData(c)})
	mustApply(t, e, rec, pages)

	left, right := mustPage(t, pages, 5), mustPage(t, pages, 9)
	gistCheckItems(t, "left", left, a, b)
	gistCheckItems(t, "right", right, c)
	if nsn, rl, fl, id := gistSpecial(left); nsn != orignsn || rl != 9 || fl != gistFLeaf|gistFFollowRight || id != 0xFF81 {
		t.Errorf("left nsn %s rightlink %d flags %#x id %#x", nsn, rl, fl, id)
	}
	if nsn, rl, fl, _ := gistSpecial(right); nsn != orignsn || rl != 12 || fl != gistFLeaf {
		t.Errorf("right nsn %s rightlink %d flags %#x", nsn, rl, fl)
	}
	// The NSN is stored high half first.
	if o := left[left.Special():]; !bytes.Equal(o[:8], []byte{4, 0, 0, 0, 0xe8, 0x59, 0x68, 0xa0}) {
		t.Errorf("nsn bytes % x", o[:8])
	}
	// Everything else is a fresh page: compare with one built by hand.
	want := gistTestPage(t, rec.EndLSN, gistFLeaf|gistFFollowRight, 9, orignsn, a, b)
	if !bytes.Equal(left, want) {
		t.Error("left page differs from a fresh page with its tuples")
	}
	for _, p := range []schema.Page{left, right} {
		if p.LSN() != rec.EndLSN {
			t.Errorf("LSN %s", p.LSN())
		}
	}
	if nsn, rl, fl, _ := gistSpecial(mustPage(t, pages, 4)); nsn != rec.EndLSN || rl != 8 || fl != 0 {
		t.Errorf("child nsn %s rightlink %d flags %#x", nsn, rl, fl)
	}

	// Without markfollowright no page is marked.
	rec = gistRecord(t, schema.XLogGistPageSplit, gistSplitMain(12, orignsn, false, 2, false),
		schema.BlockSpec{ID: 1, Tag: testTag(5), WillInit: true, Data: gistSplitData(a, b)},
		schema.BlockSpec{ID: 2, Tag: testTag(9), WillInit: true, Data: gistSplitData(c)})
	mustApply(t, e, rec, pages)
	if _, _, fl, _ := gistSpecial(mustPage(t, pages, 5)); fl != 0 {
		t.Errorf("internal left flags %#x", fl)
	}
}

// TestGistRedoPageSplitRoot: the root (block 0) split into two leaves:
// the root becomes an internal page without right link; no page is
// marked F_FOLLOW_RIGHT; the last page's right link is origrlink.
func TestGistRedoPageSplitRoot(t *testing.T) {
	e := newTestEngine(t)
	pages := NewMemPages()
	d1, d2, a, b := gistTuple('1', 3, 16), gistTuple('2', 4, 16), gistTuple('a', 1, 24), gistTuple('b', 2, 24)
	rec := gistRecord(t, schema.XLogGistPageSplit, gistSplitMain(uint32(schema.InvalidBlockNumber), 0, true, 3, true),
		schema.BlockSpec{ID: 1, Tag: testTag(0), WillInit: true, Data: gistSplitData(d1, d2)},
		schema.BlockSpec{ID: 2, Tag: testTag(3), WillInit: true, Data: gistSplitData(a)},
		schema.BlockSpec{ID: 3, Tag: testTag(4), WillInit: true, Data: gistSplitData(b)})
	mustApply(t, e, rec, pages)
	root := mustPage(t, pages, 0)
	gistCheckItems(t, "root", root, d1, d2)
	if nsn, rl, fl, _ := gistSpecial(root); nsn != 0 || rl != uint32(schema.InvalidBlockNumber) || fl != 0 {
		t.Errorf("root nsn %s rightlink %d flags %#x", nsn, rl, fl)
	}
	if _, rl, fl, _ := gistSpecial(mustPage(t, pages, 3)); rl != 4 || fl != gistFLeaf {
		t.Errorf("left rightlink %d flags %#x", rl, fl)
	}
	if _, rl, fl, _ := gistSpecial(mustPage(t, pages, 4)); rl != uint32(schema.InvalidBlockNumber) || fl != gistFLeaf {
		t.Errorf("right rightlink %d flags %#x", rl, fl)
	}
}

// TestGistRedoPageDelete: the leaf is marked deleted with its deleteXid
// below pd_lower; the parent loses the downlink (PageIndexTupleDelete).
func TestGistRedoPageDelete(t *testing.T) {
	e := newTestEngine(t)
	pages := NewMemPages()
	d1, d2, d3 := gistTuple('1', 3, 16), gistTuple('2', 4, 24), gistTuple('3', 5, 16)
	pages.Put(testTag(4), gistTestPage(t, 0x100, gistFLeaf, 5, 0x10))
	pages.Put(testTag(0), gistTestPage(t, 0x100, 0, uint32(schema.InvalidBlockNumber), 0, d1, d2, d3))
	md := append(binary.LittleEndian.AppendUint64(nil, 3<<32|777), u16s(2)...)
	rec := gistRecord(t, schema.XLogGistPageDelete, md,
		schema.BlockSpec{ID: 0, Tag: testTag(4)}, schema.BlockSpec{ID: 1, Tag: testTag(0)})
	mustApply(t, e, rec, pages)
	leaf := mustPage(t, pages, 4)
	if _, rl, fl, _ := gistSpecial(leaf); fl != gistFLeaf|gistFDeleted || rl != 5 {
		t.Errorf("leaf flags %#x rightlink %d", fl, rl)
	}
	if leaf.Lower() != 32 || leaf.Upper() != 8176 {
		t.Errorf("leaf pd_lower %d pd_upper %d", leaf.Lower(), leaf.Upper())
	}
	if x := binary.LittleEndian.Uint64(leaf[24:]); x != 3<<32|777 {
		t.Errorf("deleteXid %#x", x)
	}
	parent := mustPage(t, pages, 0)
	gistCheckItems(t, "parent", parent, d1, d3)
	if leaf.LSN() != rec.EndLSN || parent.LSN() != rec.EndLSN {
		t.Errorf("LSNs %s %s", leaf.LSN(), parent.LSN())
	}
}

// TestGistRedoNoPage: PAGE_REUSE and ASSIGN_LSN change no page and are
// applied.
func TestGistRedoNoPage(t *testing.T) {
	e := newTestEngine(t)
	pages := NewMemPages()
	reuse := append(u32s(1663, 5, 16400, 7), binary.LittleEndian.AppendUint64(nil, 900)...)
	for _, rec := range []*schema.DecodedRecord{
		gistRecord(t, schema.XLogGistPageReuse, reuse),
		gistRecord(t, schema.XLogGistAssignLSN, u32s(0)),
	} {
		res := mustApply(t, e, rec, pages)
		if len(res.Invalidated)+len(res.Restored) != 0 || pages.Len() != 0 {
			t.Errorf("%s: %+v", schema.RecordTypeName(rec.Rmgr(), rec.Info()), res)
		}
	}
}

// TestGistRedoRefused: records PostgreSQL does not write, or whose redo
// would fail in PostgreSQL, are unsupported and their pages invalidated.
func TestGistRedoRefused(t *testing.T) {
	a := gistTuple('a', 1, 24)
	leaf := func(t *testing.T) schema.Page { return gistTestPage(t, 0x100, gistFLeaf, 9, 0, a) }
	for _, tc := range []struct {
		name string
		rec  func(t *testing.T) *schema.DecodedRecord
	}{
		{"update short main data", func(t *testing.T) *schema.DecodedRecord {
			return gistRecord(t, schema.XLogGistPageUpdate, u16s(0), schema.BlockSpec{ID: 0, Tag: testTag(1), Data: a})
		}},
		{"update tuple count", func(t *testing.T) *schema.DecodedRecord {
			return gistRecord(t, schema.XLogGistPageUpdate, u16s(0, 2), schema.BlockSpec{ID: 0, Tag: testTag(1), Data: a})
		}},
		{"update cut tuple", func(t *testing.T) *schema.DecodedRecord {
			return gistRecord(t, schema.XLogGistPageUpdate, u16s(0, 1), schema.BlockSpec{ID: 0, Tag: testTag(1), Data: a[:20]})
		}},
		{"update no block 0", func(t *testing.T) *schema.DecodedRecord {
			return gistRecord(t, schema.XLogGistPageUpdate, u16s(0, 1), schema.BlockSpec{ID: 1, Tag: testTag(1), Data: a})
		}},
		{"overwrite offset past the end", func(t *testing.T) *schema.DecodedRecord {
			return gistRecord(t, schema.XLogGistPageUpdate, u16s(1, 1), schema.BlockSpec{ID: 0, Tag: testTag(1), Data: gistUpdateData([]uint16{5}, a)})
		}},
		{"delete offset past the end", func(t *testing.T) *schema.DecodedRecord {
			return gistRecord(t, schema.XLogGistDelete, append(u32s(1), u16s(1, 4)...), schema.BlockSpec{ID: 0, Tag: testTag(1)})
		}},
		{"delete offsets cut", func(t *testing.T) *schema.DecodedRecord {
			return gistRecord(t, schema.XLogGistDelete, append(u32s(1), u16s(2, 1)...), schema.BlockSpec{ID: 0, Tag: testTag(1)})
		}},
		{"split block not WILL_INIT", func(t *testing.T) *schema.DecodedRecord {
			return gistRecord(t, schema.XLogGistPageSplit, gistSplitMain(0, 0, true, 1, false),
				schema.BlockSpec{ID: 1, Tag: testTag(1), Data: gistSplitData(a)})
		}},
		{"split fewer blocks than npage", func(t *testing.T) *schema.DecodedRecord {
			return gistRecord(t, schema.XLogGistPageSplit, gistSplitMain(0, 0, true, 2, false),
				schema.BlockSpec{ID: 1, Tag: testTag(1), WillInit: true, Data: gistSplitData(a)})
		}},
		{"split tuples do not fit", func(t *testing.T) *schema.DecodedRecord {
			big := gistTuple('b', 1, 4096)
			return gistRecord(t, schema.XLogGistPageSplit, gistSplitMain(0, 0, true, 1, false),
				schema.BlockSpec{ID: 1, Tag: testTag(1), WillInit: true, Data: gistSplitData(big, big)})
		}},
		{"page delete without parent", func(t *testing.T) *schema.DecodedRecord {
			return gistRecord(t, schema.XLogGistPageDelete, append(u32s(1, 0), u16s(1)...), schema.BlockSpec{ID: 0, Tag: testTag(1)})
		}},
		{"page reuse short", func(t *testing.T) *schema.DecodedRecord {
			return gistRecord(t, schema.XLogGistPageReuse, u32s(1663, 5, 16400))
		}},
		{"unknown opcode", func(t *testing.T) *schema.DecodedRecord {
			return gistRecord(t, 0x40, u32s(0), schema.BlockSpec{ID: 0, Tag: testTag(1)})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newTestEngine(t)
			pages := NewMemPages()
			pages.Put(testTag(1), leaf(t))
			rec := tc.rec(t)
			gistMustUnsupported(t, e, rec, pages)
			if len(rec.Blocks) > 0 && !pages.Unavailable(testTag(1)) {
				t.Error("page left available")
			}
		})
	}
}
