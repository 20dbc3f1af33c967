package redo

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/pagemill/pagemill/schema"
)

// Hand-made BRIN pages and records. Layouts are written out field by field
// here (brin_page.h, brin_xlog.h), independently of brin.go.

const (
	tBrinMeta    = 0xF091
	tBrinRevmap  = 0xF092
	tBrinRegular = 0xF093
)

// brinTestPage is a BRIN page of type typ (special space 8 bytes, type in
// its last two bytes) with items at offsets 1..n and page LSN lsn.
func brinTestPage(t *testing.T, lsn schema.LSN, typ uint16, items ...[]byte) schema.Page {
	t.Helper()
	p := make(schema.Page, schema.BLCKSZ)
	if err := PageInit(p, 8); err != nil {
		t.Fatal(err)
	}
	binary.LittleEndian.PutUint16(p[schema.BLCKSZ-2:], typ)
	addTestItems(t, p, items...)
	p.SetLSN(lsn)
	return p
}

// brinTestTuple is a BrinTuple of size bytes (a multiple of 8): bt_blkno,
// bt_info with data offset 8, then fill.
func brinTestTuple(heapBlk uint32, fill byte, size int) []byte {
	tup := bytes.Repeat([]byte{fill}, size)
	binary.LittleEndian.PutUint32(tup[0:], heapBlk)
	tup[4] = 8
	clear(tup[5:8])
	return tup
}

// revmapEntry reads the TID of revmap slot idx: block and offset.
func revmapEntry(p schema.Page, idx int) (uint32, uint16) {
	le := binary.LittleEndian
	e := p[24+6*idx:]
	return uint32(le.Uint16(e[0:]))<<16 | uint32(le.Uint16(e[2:])), le.Uint16(e[4:])
}

func brinInsertMain(heapBlk, ppr uint32, off uint16) []byte {
	return append(u32s(heapBlk, ppr), u16s(off)...)
}

func brinRecord(t *testing.T, info uint8, md []byte, lsn schema.LSN, blocks ...schema.BlockSpec) *schema.DecodedRecord {
	t.Helper()
	return assemble(t, schema.RecordSpec{Xid: 900, Rmgr: schema.RmgrBRIN, Info: info, MainData: md, Blocks: blocks}, lsn)
}

func brinCheckItems(t *testing.T, name string, p schema.Page, want ...[]byte) {
	t.Helper()
	if int(p.MaxOffsetNumber()) != len(want) {
		t.Fatalf("%s: %d line pointers, want %d", name, p.MaxOffsetNumber(), len(want))
	}
	for i, w := range want {
		off := schema.OffsetNumber(i + 1)
		if w == nil {
			if id := p.ItemID(off); id != 0 {
				t.Fatalf("%s: line pointer %d is %v, want unused", name, off, id)
			}
			continue
		}
		if got := mustItem(t, p, off); !bytes.Equal(got, w) {
			t.Fatalf("%s: item %d\n got %x\nwant %x", name, off, got, w)
		}
	}
}

func brinType(p schema.Page) uint16 { return binary.LittleEndian.Uint16(p[schema.BLCKSZ-2:]) }

// brinMustRefuse applies rec, which PostgreSQL would not replay: the
// record is unsupported and its pages made unavailable.
func brinMustRefuse(t *testing.T, e *Engine, rec *schema.DecodedRecord, pages *MemPages, tags ...schema.BufferTag) {
	t.Helper()
	var uns *Unsupported
	if _, err := e.Apply(rec, pages); !errors.As(err, &uns) {
		t.Fatalf("err %v, want *Unsupported", err)
	}
	for _, tag := range tags {
		if !pages.Unavailable(tag) {
			t.Fatalf("%v still available", tag)
		}
	}
}

// TestBrinCreateIndex: CREATE_INDEX builds the metapage whatever was there.
func TestBrinCreateIndex(t *testing.T) {
	rec := brinRecord(t, schema.XLogBrinCreateIndex, append(u32s(128), u16s(1)...), 0x5000,
		schema.BlockSpec{ID: 0, Tag: testTag(0), WillInit: true})
	want := make(schema.Page, schema.BLCKSZ)
	_ = PageInit(want, 8)
	copy(want[24:], u32s(0xA8109CFA, 1, 128, 0))
	binary.LittleEndian.PutUint16(want[schema.BLCKSZ-2:], tBrinMeta)
	want.SetLower(40)
	checkMetapageInit(t, rec, brinTestPage(t, 0x999999, tBrinRegular, brinTestTuple(1, 0xAA, 64)), want)
}

// TestBrinInsert covers INSERT and INSERT+INIT: the tuple lands at the
// logged offset (appended, or in an unused slot), and the revmap entry of
// the range points at it.
func TestBrinInsert(t *testing.T) {
	e := newTestEngine(t)
	t1, t2 := brinTestTuple(0, 0x11, 24), brinTestTuple(4, 0x22, 32)
	tnew := brinTestTuple(1360*4+8, 0x33, 16)

	t.Run("init", func(t *testing.T) {
		pages := NewMemPages()
		pages.Put(testTag(1), brinTestPage(t, 0x100, tBrinRevmap))
		// A stale page at block 5 with a later LSN: +INIT rebuilds it anyway.
		pages.Put(testTag(5), brinTestPage(t, 0x900000, tBrinRegular, t1, t2))
		// heapBlk 1360*4+8 with 4 pages per range: range 1362, slot 2.
		rec := brinRecord(t, schema.XLogBrinInsert|schema.XLogBrinInitPage, brinInsertMain(1360*4+8, 4, 1), 0x2000,
			schema.BlockSpec{ID: 0, Tag: testTag(5), WillInit: true, Data: tnew},
			schema.BlockSpec{ID: 1, Tag: testTag(1)})
		mustApply(t, e, rec, pages)
		p := mustPage(t, pages, 5)
		brinCheckItems(t, "regular", p, tnew)
		if brinType(p) != tBrinRegular || p.Special() != schema.BLCKSZ-8 || p.LSN() != rec.EndLSN || p.Upper() != schema.BLCKSZ-8-16 {
			t.Fatalf("type %#x special %d upper %d LSN %s", brinType(p), p.Special(), p.Upper(), p.LSN())
		}
		r := mustPage(t, pages, 1)
		if blk, off := revmapEntry(r, 2); blk != 5 || off != 1 || r.LSN() != rec.EndLSN {
			t.Fatalf("revmap entry (%d,%d) LSN %s", blk, off, r.LSN())
		}
	})

	t.Run("append and reuse", func(t *testing.T) {
		pages := NewMemPages()
		pages.Put(testTag(1), brinTestPage(t, 0x100, tBrinRevmap))
		reg := brinTestPage(t, 0x100, tBrinRegular, t1, t2, brinTestTuple(8, 0x44, 8))
		if err := PageIndexTupleDeleteNoCompact(reg, 2); err != nil {
			t.Fatal(err)
		}
		pages.Put(testTag(3), reg)
		// Slot 2 is unused: overwrite reuses it.
		rec := brinRecord(t, schema.XLogBrinInsert, brinInsertMain(0x10000*4, 4, 2), 0x2000,
			schema.BlockSpec{ID: 0, Tag: testTag(3), Data: tnew},
			schema.BlockSpec{ID: 1, Tag: testTag(1)})
		mustApply(t, e, rec, pages)
		p := mustPage(t, pages, 3)
		brinCheckItems(t, "reuse", p, t1, tnew, brinTestTuple(8, 0x44, 8))
		if blk, off := revmapEntry(mustPage(t, pages, 1), 0x10000%1360); blk != 3 || off != 2 {
			t.Fatalf("revmap entry (%d,%d)", blk, off)
		}
		// Replaying again finds both pages up to date.
		before := bytes.Clone(p)
		mustApply(t, e, rec, pages)
		if !bytes.Equal(mustPage(t, pages, 3), before) {
			t.Fatal("BLK_DONE page changed")
		}
		// Appending at maxoff+1.
		rec = brinRecord(t, schema.XLogBrinInsert, brinInsertMain(12, 4, 4), 0x3000,
			schema.BlockSpec{ID: 0, Tag: testTag(3), Data: t2},
			schema.BlockSpec{ID: 1, Tag: testTag(1)})
		mustApply(t, e, rec, pages)
		brinCheckItems(t, "append", mustPage(t, pages, 3), t1, tnew, brinTestTuple(8, 0x44, 8), t2)
		if blk, off := revmapEntry(mustPage(t, pages, 1), 3); blk != 3 || off != 4 {
			t.Fatalf("revmap entry (%d,%d)", blk, off)
		}
	})

	t.Run("missing regular page", func(t *testing.T) {
		// The regular page is unavailable; the revmap still gets block 3,
		// from the record.
		pages := NewMemPages()
		pages.Put(testTag(1), brinTestPage(t, 0x100, tBrinRevmap))
		rec := brinRecord(t, schema.XLogBrinInsert, brinInsertMain(7, 1, 9), 0x2000,
			schema.BlockSpec{ID: 0, Tag: testTag(3), Data: tnew},
			schema.BlockSpec{ID: 1, Tag: testTag(1)})
		res := mustApply(t, e, rec, pages)
		if len(res.Invalidated) != 1 || !pages.Unavailable(testTag(3)) {
			t.Fatalf("invalidated %v", res.Invalidated)
		}
		if blk, off := revmapEntry(mustPage(t, pages, 1), 7); blk != 3 || off != 9 {
			t.Fatalf("revmap entry (%d,%d)", blk, off)
		}
	})

	t.Run("new page is not found", func(t *testing.T) {
		// An all-zero page is BLK_NOTFOUND for RBM_NORMAL.
		pages := NewMemPages()
		pages.Put(testTag(1), brinTestPage(t, 0x100, tBrinRevmap))
		pages.Put(testTag(3), make(schema.Page, schema.BLCKSZ))
		rec := brinRecord(t, schema.XLogBrinInsert, brinInsertMain(7, 1, 1), 0x2000,
			schema.BlockSpec{ID: 0, Tag: testTag(3), Data: tnew},
			schema.BlockSpec{ID: 1, Tag: testTag(1)})
		mustApply(t, e, rec, pages)
		if !pages.Unavailable(testTag(3)) {
			t.Fatal("zero page still available")
		}
	})
}

// TestBrinInsertRefused: records PostgreSQL does not write, or whose
// replay would PANIC.
func TestBrinInsertRefused(t *testing.T) {
	e := newTestEngine(t)
	tup := brinTestTuple(0, 0x11, 16)
	setup := func() *MemPages {
		pages := NewMemPages()
		pages.Put(testTag(1), brinTestPage(t, 0x100, tBrinRevmap))
		pages.Put(testTag(3), brinTestPage(t, 0x100, tBrinRegular, tup))
		return pages
	}
	blocks := func(data []byte) []schema.BlockSpec {
		return []schema.BlockSpec{{ID: 0, Tag: testTag(3), Data: data}, {ID: 1, Tag: testTag(1)}}
	}
	cases := map[string]*schema.DecodedRecord{
		"offnum past maxoff+1": brinRecord(t, schema.XLogBrinInsert, brinInsertMain(0, 1, 3), 0x2000, blocks(tup)...),
		"used slot":            brinRecord(t, schema.XLogBrinInsert, brinInsertMain(0, 1, 1), 0x2000, blocks(tup)...),
		"short main data":      brinRecord(t, schema.XLogBrinInsert, brinInsertMain(0, 1, 2)[:9], 0x2000, blocks(tup)...),
		"no tuple":             brinRecord(t, schema.XLogBrinInsert, brinInsertMain(0, 1, 2), 0x2000, blocks(nil)...),
		"no revmap block":      brinRecord(t, schema.XLogBrinInsert, brinInsertMain(0, 1, 2), 0x2000, blocks(tup)[0]),
		"zero pagesPerRange":   brinRecord(t, schema.XLogBrinInsert, brinInsertMain(0, 0, 2), 0x2000, blocks(tup)...),
		"init without WILL_INIT": brinRecord(t, schema.XLogBrinInsert|schema.XLogBrinInitPage, brinInsertMain(0, 1, 1), 0x2000,
			blocks(tup)...),
		"WILL_INIT without init": brinRecord(t, schema.XLogBrinInsert, brinInsertMain(0, 1, 2), 0x2000,
			schema.BlockSpec{ID: 0, Tag: testTag(3), WillInit: true, Data: tup}, schema.BlockSpec{ID: 1, Tag: testTag(1)}),
	}
	for name, rec := range cases {
		t.Run(name, func(t *testing.T) {
			brinMustRefuse(t, e, rec, setup(), testTag(3))
		})
	}
}

// TestBrinUpdate: the old tuple leaves block 2 without compaction of the
// line pointers (removed only when last), the new one goes to block 0.
func TestBrinUpdate(t *testing.T) {
	e := newTestEngine(t)
	t1, t2, t3 := brinTestTuple(0, 0x11, 24), brinTestTuple(1, 0x22, 32), brinTestTuple(2, 0x33, 16)
	tnew := brinTestTuple(1, 0x55, 40)
	updateMain := func(old uint16, heapBlk uint32, off uint16) []byte {
		return append(u16s(old, 0xEEEE), brinInsertMain(heapBlk, 1, off)...)
	}
	for _, tc := range []struct {
		name    string
		info    uint8
		old     uint16
		wantOld [][]byte
	}{
		{"middle", schema.XLogBrinUpdate, 2, [][]byte{t1, nil, t3}},
		{"last, init", schema.XLogBrinUpdate | schema.XLogBrinInitPage, 3, [][]byte{t1, t2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pages := NewMemPages()
			pages.Put(testTag(1), brinTestPage(t, 0x100, tBrinRevmap))
			pages.Put(testTag(2), brinTestPage(t, 0x100, tBrinRegular, t1, t2, t3))
			pages.Put(testTag(4), brinTestPage(t, 0x100, tBrinRegular, t3))
			init := tc.info&schema.XLogBrinInitPage != 0
			off := uint16(2)
			if init {
				off = 1
			}
			rec := brinRecord(t, tc.info, updateMain(tc.old, 1, off), 0x2000,
				schema.BlockSpec{ID: 0, Tag: testTag(4), WillInit: init, Data: tnew},
				schema.BlockSpec{ID: 1, Tag: testTag(1)},
				schema.BlockSpec{ID: 2, Tag: testTag(2)})
			mustApply(t, e, rec, pages)
			old := mustPage(t, pages, 2)
			brinCheckItems(t, "old page", old, tc.wantOld...)
			if old.LSN() != rec.EndLSN {
				t.Fatalf("old page LSN %s", old.LSN())
			}
			if init {
				brinCheckItems(t, "new page", mustPage(t, pages, 4), tnew)
			} else {
				brinCheckItems(t, "new page", mustPage(t, pages, 4), t3, tnew)
			}
			if blk, o := revmapEntry(mustPage(t, pages, 1), 1); blk != 4 || o != off {
				t.Fatalf("revmap entry (%d,%d)", blk, o)
			}
		})
	}
	t.Run("missing old page", func(t *testing.T) {
		pages := NewMemPages()
		pages.Put(testTag(1), brinTestPage(t, 0x100, tBrinRevmap))
		pages.Put(testTag(4), brinTestPage(t, 0x100, tBrinRegular, t3))
		rec := brinRecord(t, schema.XLogBrinUpdate, updateMain(2, 1, 2), 0x2000,
			schema.BlockSpec{ID: 0, Tag: testTag(4), Data: tnew},
			schema.BlockSpec{ID: 1, Tag: testTag(1)},
			schema.BlockSpec{ID: 2, Tag: testTag(2)})
		mustApply(t, e, rec, pages)
		brinCheckItems(t, "new page", mustPage(t, pages, 4), t3, tnew)
		if !pages.Unavailable(testTag(2)) {
			t.Fatal("old page available")
		}
	})
	t.Run("refused", func(t *testing.T) {
		pages := NewMemPages()
		pages.Put(testTag(1), brinTestPage(t, 0x100, tBrinRevmap))
		pages.Put(testTag(2), brinTestPage(t, 0x100, tBrinRegular, t1))
		pages.Put(testTag(4), brinTestPage(t, 0x100, tBrinRegular, t3))
		// Old offset 2 does not exist: PageIndexTupleDeleteNoCompact ERRORs.
		rec := brinRecord(t, schema.XLogBrinUpdate, updateMain(2, 1, 2), 0x2000,
			schema.BlockSpec{ID: 0, Tag: testTag(4), Data: tnew},
			schema.BlockSpec{ID: 1, Tag: testTag(1)},
			schema.BlockSpec{ID: 2, Tag: testTag(2)})
		brinMustRefuse(t, e, rec, pages, testTag(1), testTag(2), testTag(4))
		// Without block 2.
		rec = brinRecord(t, schema.XLogBrinUpdate, updateMain(1, 1, 2), 0x2000,
			schema.BlockSpec{ID: 0, Tag: testTag(4), Data: tnew},
			schema.BlockSpec{ID: 1, Tag: testTag(1)})
		brinMustRefuse(t, e, rec, NewMemPages())
	})
}

// TestBrinSamepageUpdate: PageIndexTupleOverwrite in place, the tuples
// below it sliding by the change in size.
func TestBrinSamepageUpdate(t *testing.T) {
	e := newTestEngine(t)
	t1, t2, t3 := brinTestTuple(0, 0x11, 24), brinTestTuple(1, 0x22, 32), brinTestTuple(2, 0x33, 16)
	for _, size := range []int{32, 56, 8} {
		pages := NewMemPages()
		pages.Put(testTag(2), brinTestPage(t, 0x100, tBrinRegular, t1, t2, t3))
		tnew := brinTestTuple(1, 0x77, size)
		rec := brinRecord(t, schema.XLogBrinSamepageUpdate, u16s(2), 0x2000, schema.BlockSpec{ID: 0, Tag: testTag(2), Data: tnew})
		mustApply(t, e, rec, pages)
		p := mustPage(t, pages, 2)
		brinCheckItems(t, "samepage", p, t1, tnew, t3)
		if int(p.Upper()) != schema.BLCKSZ-8-24-16-size || p.LSN() != rec.EndLSN {
			t.Fatalf("size %d: upper %d LSN %s", size, p.Upper(), p.LSN())
		}
	}
	// A tuple that does not fit: PANIC in PostgreSQL.
	pages := NewMemPages()
	pages.Put(testTag(2), brinTestPage(t, 0x100, tBrinRegular, t1, brinTestTuple(1, 0x22, 4000), brinTestTuple(2, 0x33, 4000)))
	rec := brinRecord(t, schema.XLogBrinSamepageUpdate, u16s(1), 0x2000,
		schema.BlockSpec{ID: 0, Tag: testTag(2), Data: brinTestTuple(1, 0x77, 200)})
	brinMustRefuse(t, e, rec, pages, testTag(2))
}

// TestBrinRevmapExtend: the metapage records the new last revmap page,
// which is initialized whatever it held (an evacuated regular page).
func TestBrinRevmapExtend(t *testing.T) {
	e := newTestEngine(t)
	pages := NewMemPages()
	meta := brinTestPage(t, 0x100, tBrinMeta)
	copy(meta[24:], u32s(0xA8109CFA, 1, 1, 1))
	meta.SetLower(24) // as a pg_upgraded pre-v11 metapage
	pages.Put(testTag(0), meta)
	pages.Put(testTag(2), brinTestPage(t, 0x100, tBrinRegular, brinTestTuple(0, 0x11, 24)))
	rec := brinRecord(t, schema.XLogBrinRevmapExtend, u32s(2), 0x2000,
		schema.BlockSpec{ID: 0, Tag: testTag(0)},
		schema.BlockSpec{ID: 1, Tag: testTag(2), WillInit: true})
	mustApply(t, e, rec, pages)
	m := mustPage(t, pages, 0)
	if got := binary.LittleEndian.Uint32(m[36:]); got != 2 || m.Lower() != 40 || m.LSN() != rec.EndLSN {
		t.Fatalf("lastRevmapPage %d lower %d LSN %s", got, m.Lower(), m.LSN())
	}
	want := make(schema.Page, schema.BLCKSZ)
	_ = PageInit(want, 8)
	binary.LittleEndian.PutUint16(want[schema.BLCKSZ-2:], tBrinRevmap)
	want.SetLSN(rec.EndLSN)
	if got := mustPage(t, pages, 2); !bytes.Equal(got, want) {
		off, _ := ComparePages(got, want)
		t.Fatalf("revmap page differs at %d", off)
	}
	// Without the new page's block reference PostgreSQL ERRORs.
	rec = brinRecord(t, schema.XLogBrinRevmapExtend, u32s(3), 0x3000, schema.BlockSpec{ID: 0, Tag: testTag(0)})
	brinMustRefuse(t, e, rec, pages, testTag(0))
}

// TestBrinDesummarize: the revmap entry becomes invalid (not zero) and
// the summary tuple leaves its page.
func TestBrinDesummarize(t *testing.T) {
	e := newTestEngine(t)
	pages := NewMemPages()
	r := brinTestPage(t, 0x100, tBrinRevmap)
	copy(r[24+6*5:], []byte{0, 0, 3, 0, 2, 0}) // range 5 -> (3,2)
	pages.Put(testTag(1), r)
	t1, t2, t3 := brinTestTuple(0, 0x11, 24), brinTestTuple(5, 0x22, 32), brinTestTuple(2, 0x33, 16)
	pages.Put(testTag(3), brinTestPage(t, 0x100, tBrinRegular, t1, t2, t3))
	rec := brinRecord(t, schema.XLogBrinDesummarize, append(u32s(2, 10), u16s(2)...), 0x2000,
		schema.BlockSpec{ID: 0, Tag: testTag(1)},
		schema.BlockSpec{ID: 1, Tag: testTag(3)})
	mustApply(t, e, rec, pages)
	rp := mustPage(t, pages, 1)
	if got := rp[24+6*5 : 24+6*6]; !bytes.Equal(got, []byte{0xff, 0xff, 0xff, 0xff, 0, 0}) || rp.LSN() != rec.EndLSN {
		t.Fatalf("revmap entry %x LSN %s", got, rp.LSN())
	}
	p := mustPage(t, pages, 3)
	brinCheckItems(t, "regular", p, t1, nil, t3)
	if p.Upper() != schema.BLCKSZ-8-24-16 || p.LSN() != rec.EndLSN {
		t.Fatalf("upper %d LSN %s", p.Upper(), p.LSN())
	}
}

// TestBrinChecksums: with data checksums every page redo writes carries
// its checksum.
func TestBrinChecksums(t *testing.T) {
	e := newTestEngine(t)
	e.DataChecksums = true
	pages := NewMemPages()
	pages.Put(testTag(1), brinTestPage(t, 0x100, tBrinRevmap))
	rec := brinRecord(t, schema.XLogBrinInsert|schema.XLogBrinInitPage, brinInsertMain(0, 1, 1), 0x2000,
		schema.BlockSpec{ID: 0, Tag: testTag(2), WillInit: true, Data: brinTestTuple(0, 1, 16)},
		schema.BlockSpec{ID: 1, Tag: testTag(1)})
	mustApply(t, e, rec, pages)
	for _, blk := range []schema.BlockNumber{1, 2} {
		p := mustPage(t, pages, blk)
		want := schema.Page(bytes.Clone(p))
		if err := PageSetChecksumInplace(want, blk); err != nil {
			t.Fatal(err)
		}
		if p.Checksum() == 0 || p.Checksum() != want.Checksum() {
			t.Fatalf("block %d checksum %#x, want %#x", blk, p.Checksum(), want.Checksum())
		}
	}
}

// TestBrinUnknownOpcode: opcode 0x60 and up do not exist.
func TestBrinUnknownOpcode(t *testing.T) {
	e := newTestEngine(t)
	pages := NewMemPages()
	pages.Put(testTag(1), brinTestPage(t, 0x100, tBrinRevmap))
	rec := brinRecord(t, 0x60, u32s(1, 2, 3), 0x2000, schema.BlockSpec{ID: 0, Tag: testTag(1)})
	brinMustRefuse(t, e, rec, pages, testTag(1))
}
