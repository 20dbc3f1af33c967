package redo

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"testing"

	"github.com/pagemill/pagemill/schema"
)

// hashTuple is a hash index tuple: heap TID, t_info with the MAXALIGNed
// size 16, the 4-byte hash key and 4 bytes of padding.
func hashTuple(key, blk uint32, off uint16) []byte {
	t := make([]byte, 16)
	copy(t, btTID(blk, off))
	binary.LittleEndian.PutUint16(t[6:], 16)
	binary.LittleEndian.PutUint32(t[8:], key)
	return t
}

// hashTestPage is a bucket or overflow page with the given special space
// and items at offsets 1..n, page LSN lsn.
func hashTestPage(t *testing.T, lsn schema.LSN, prev, next, bucket uint32, flag uint16, items ...[]byte) schema.Page {
	t.Helper()
	return opaqueTestPage(t, lsn, prev, next, bucket, flag, 0xFF80, items...) // 0xFF80: HASHO_PAGE_ID
}

// hashTestMeta is a metapage made by hashInitMetabuffer (checked on its
// own by TestHashInitMetaPage) for 8 buckets, then changed by set.
func hashTestMeta(t *testing.T, lsn schema.LSN, set func(m hashMeta)) schema.Page {
	t.Helper()
	p := make(schema.Page, schema.BLCKSZ)
	if !hashInitMetabuffer(p, 2260, 450, 307) {
		t.Fatal("hashInitMetabuffer refused")
	}
	if set != nil {
		set(hashPageGetMeta(p))
	}
	p.SetLSN(lsn)
	return p
}

// hashTestBitmap is a bitmap page of 4096 bytes with the given words
// (the rest of the bitmap all ones).
func hashTestBitmap(t *testing.T, lsn schema.LSN, words ...uint32) schema.Page {
	t.Helper()
	p := make(schema.Page, schema.BLCKSZ)
	if !hashInitBitmapBuffer(p, 4096) {
		t.Fatal("hashInitBitmapBuffer refused")
	}
	copy(p[24:], u32s(words...))
	p.SetLSN(lsn)
	return p
}

func hashRecord(t *testing.T, info uint8, md []byte, lsn schema.LSN, blocks ...schema.BlockSpec) *schema.DecodedRecord {
	t.Helper()
	return assemble(t, schema.RecordSpec{Xid: 900, Rmgr: schema.RmgrHash, Info: info, MainData: md, Blocks: blocks}, lsn)
}

// hashImage is a BlockSpec carrying an applied image of page.
func hashImage(id uint8, blk schema.BlockNumber, page schema.Page) schema.BlockSpec {
	return schema.BlockSpec{ID: id, Tag: testTag(blk), Image: page, HoleOffset: page.Lower(), HoleLength: page.Upper() - page.Lower(), Apply: true}
}

func hashCheckPage(t *testing.T, name string, got, want schema.Page) {
	t.Helper()
	if off, eq := ComparePages(got, want); !eq {
		t.Fatalf("%s differs at byte %d: got %x, want %x", name, off, got[off:min(off+8, len(got))], want[off:min(off+8, len(want))])
	}
}

func hashMustUnsupported(t *testing.T, e *Engine, rec *schema.DecodedRecord, pages Pages) {
	t.Helper()
	var uns *Unsupported
	if _, err := e.Apply(rec, pages); !errors.As(err, &uns) {
		t.Fatalf("Apply: err %v, want *Unsupported", err)
	}
}

func hashF64(v float64) []byte { return binary.LittleEndian.AppendUint64(nil, math.Float64bits(v)) }

// TestHashSplitpointMath checks _hash_spareindex and _hash_get_totalbuckets
// against values worked out from hashutil.c: one phase per group below
// 512 buckets, four phases per group from there.
func TestHashSplitpointMath(t *testing.T) {
	for _, c := range []struct{ buckets, index, total uint32 }{
		{1, 0, 1}, {2, 1, 2}, {3, 2, 4}, {4, 2, 4}, {5, 3, 8}, {8, 3, 8}, {9, 4, 16},
		{512, 9, 512}, {513, 10, 640}, {640, 10, 640}, {641, 11, 768}, {768, 11, 768},
		{896, 12, 896}, {1024, 13, 1024}, {1025, 14, 1280}, {13333, 28, 14336},
		{0x40000000, 93, 0x40000000},
	} {
		if got := hashSpareIndex(c.buckets); got != c.index {
			t.Errorf("_hash_spareindex(%d) = %d, want %d", c.buckets, got, c.index)
		}
		if got := hashGetTotalBuckets(c.index); got != c.total {
			t.Errorf("_hash_get_totalbuckets(%d) = %d, want %d", c.index, got, c.total)
		}
	}
}

// TestHashInitMetaPage: INIT_META_PAGE rebuilds the metapage whatever was
// there (_hash_init_metabuffer), the bucket count coming from num_tuples /
// ffactor with the double truncated.
func TestHashInitMetaPage(t *testing.T) {
	tests := []struct {
		name                       string
		numTuples                  float64
		ffactor                    uint16
		maxbucket, high, low, spix uint32
	}{
		{"empty", 0, 307, 1, 3, 1, 1},
		{"eight buckets", 2260, 307, 7, 15, 7, 3},
		{"many", 1e6, 75, 14335, 16383, 8191, 28},
		{"capped", 1e300, 1, 0x3FFFFFFF, 0x7FFFFFFF, 0x3FFFFFFF, 93},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEngine(t)
			pages := NewMemPages()
			pages.Put(testTag(0), hashTestPage(t, 0x9999999, 1, 2, 3, 0xFF, hashTuple(1, 2, 3)))
			md := append(hashF64(tt.numTuples), u32s(450)...)
			md = append(md, u16s(tt.ffactor)...)
			rec := hashRecord(t, schema.XLogHashInitMetaPage, md, 0x5000,
				schema.BlockSpec{ID: 0, Tag: testTag(0), WillInit: true})
			mustApply(t, e, rec, pages)

			want := make(schema.Page, schema.BLCKSZ)
			_ = PageInit(want, 16)
			le := binary.LittleEndian
			copy(want[24:], u32s(0x06440640, 4))
			le.PutUint16(want[40:], tt.ffactor)
			copy(want[42:], u16s(8152, 4096, 15))
			copy(want[48:], u32s(tt.maxbucket, tt.high, tt.low, tt.spix, 0, 0, 450))
			le.PutUint32(want[76+4*tt.spix:], 1)
			want.SetLower(4568)
			copy(want[8176:], u32s(0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF))
			copy(want[8188:], u16s(8, 0xFF80))
			want.SetLSN(rec.EndLSN)
			hashCheckPage(t, "metapage", mustPage(t, pages, 0), want)
		})
	}

	t.Run("NaN refused", func(t *testing.T) {
		e := newTestEngine(t)
		pages := NewMemPages()
		md := append(hashF64(0), u32s(450)...)
		md = append(md, u16s(0)...) // 0/0
		hashMustUnsupported(t, e, hashRecord(t, schema.XLogHashInitMetaPage, md, 0x5000,
			schema.BlockSpec{ID: 0, Tag: testTag(0), WillInit: true}), pages)
		if !pages.Unavailable(testTag(0)) {
			t.Fatal("metapage not invalidated")
		}
	})
}

// TestHashInitBitmapPage: the bitmap page is all ones; the metapage's next
// map entry is maxbucket + 2, whatever the bitmap page's block number.
func TestHashInitBitmapPage(t *testing.T) {
	e := newTestEngine(t)
	pages := NewMemPages()
	meta := hashTestMeta(t, 0x100, nil)
	pages.Put(testTag(0), meta)
	rec := hashRecord(t, schema.XLogHashInitBitmapPage, u16s(4096), 0x2000,
		schema.BlockSpec{ID: 0, Tag: testTag(9), WillInit: true},
		schema.BlockSpec{ID: 1, Tag: testTag(0)})
	mustApply(t, e, rec, pages)

	want := make(schema.Page, schema.BLCKSZ)
	_ = PageInit(want, 16)
	for i := 24; i < 24+4096; i++ {
		want[i] = 0xFF
	}
	want.SetLower(24 + 4096)
	copy(want[8176:], u32s(0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF))
	copy(want[8188:], u16s(4, 0xFF80))
	want.SetLSN(rec.EndLSN)
	hashCheckPage(t, "bitmap page", mustPage(t, pages, 9), want)

	wantMeta := hashTestMeta(t, rec.EndLSN, func(m hashMeta) {
		m.setU32(hashmMapp, 7+2)
		m.setU32(hashmNmaps, 1)
	})
	hashCheckPage(t, "metapage", mustPage(t, pages, 0), wantMeta)

	// Replayed again, the bitmap page is rebuilt and the metapage (BLK_DONE)
	// left alone.
	mustApply(t, e, rec, pages)
	hashCheckPage(t, "metapage again", mustPage(t, pages, 0), wantMeta)

	t.Run("map array full", func(t *testing.T) {
		pages := NewMemPages()
		pages.Put(testTag(0), hashTestMeta(t, 0x100, func(m hashMeta) { m.setU32(hashmNmaps, 1024) }))
		hashMustUnsupported(t, e, rec, pages)
	})
}

// TestHashInsert: the tuple goes in at the logged offset (the later ones
// shift) and the metapage counts it.
func TestHashInsert(t *testing.T) {
	e := newTestEngine(t)
	pages := NewMemPages()
	pages.Put(testTag(1), hashTestPage(t, 0x100, 7, 0xFFFFFFFF, 1, 0x02, hashTuple(10, 1, 1), hashTuple(30, 1, 2)))
	pages.Put(testTag(0), hashTestMeta(t, 0x100, func(m hashMeta) { m.setNtuples(2) }))
	rec := hashRecord(t, schema.XLogHashInsert, u16s(2), 0x2000,
		schema.BlockSpec{ID: 0, Tag: testTag(1), Data: hashTuple(20, 4, 4)},
		schema.BlockSpec{ID: 1, Tag: testTag(0)})
	mustApply(t, e, rec, pages)

	// PageAddItem's shuffle puts the new tuple lowest on the page.
	want := hashTestPage(t, rec.EndLSN, 7, 0xFFFFFFFF, 1, 0x02, hashTuple(10, 1, 1), hashTuple(30, 1, 2))
	if _, err := PageAddItem(want, hashTuple(20, 4, 4), 2, false, false); err != nil {
		t.Fatal(err)
	}
	hashCheckPage(t, "bucket page", mustPage(t, pages, 1), want)
	btCheckItems(t, "bucket page", mustPage(t, pages, 1), hashTuple(10, 1, 1), hashTuple(20, 4, 4), hashTuple(30, 1, 2))
	if got := hashPageGetMeta(mustPage(t, pages, 0)).ntuples(); got != 3 {
		t.Fatalf("ntuples %v", got)
	}

	// With the bucket page restored from an image only the metapage is
	// redone.
	pages.Put(testTag(0), hashTestMeta(t, 0x100, func(m hashMeta) { m.setNtuples(2) }))
	img := hashTestPage(t, 0, 7, 0xFFFFFFFF, 1, 0x02, hashTuple(99, 9, 9))
	rec = hashRecord(t, schema.XLogHashInsert, u16s(5), 0x3000, hashImage(0, 1, img), schema.BlockSpec{ID: 1, Tag: testTag(0)})
	mustApply(t, e, rec, pages)
	btCheckItems(t, "restored page", mustPage(t, pages, 1), hashTuple(99, 9, 9))
	if got := hashPageGetMeta(mustPage(t, pages, 0)).ntuples(); got != 3 {
		t.Fatalf("ntuples %v", got)
	}

	t.Run("offset past the end", func(t *testing.T) {
		pages := NewMemPages()
		pages.Put(testTag(1), hashTestPage(t, 0x100, 7, 0xFFFFFFFF, 1, 0x02, hashTuple(10, 1, 1)))
		pages.Put(testTag(0), hashTestMeta(t, 0x100, nil))
		hashMustUnsupported(t, e, hashRecord(t, schema.XLogHashInsert, u16s(3), 0x2000,
			schema.BlockSpec{ID: 0, Tag: testTag(1), Data: hashTuple(20, 4, 4)},
			schema.BlockSpec{ID: 1, Tag: testTag(0)}), pages)
		if !pages.Unavailable(testTag(1)) || !pages.Unavailable(testTag(0)) {
			t.Fatal("pages not invalidated")
		}
	})
}

// TestHashAddOvflPage covers the three shapes: a page from the splitpoint's
// spares, a recycled page (its bitmap bit set again), and a page followed
// by a new bitmap page.
func TestHashAddOvflPage(t *testing.T) {
	const ovflpoint = 3
	tests := []struct {
		name      string
		found     bool
		bitmap    bool // block 2
		newBitmap bool // block 3
		wantMeta  func(m hashMeta)
		wantWord  uint32
	}{
		{"spare page", false, false, false, func(m hashMeta) {
			m.setU32(hashmSpares+4*ovflpoint, 1+1)
		}, 0},
		{"recycled page", true, true, false, func(m hashMeta) {}, 0x0000_0009},
		{"new bitmap page", false, false, true, func(m hashMeta) {
			m.setU32(hashmSpares+4*ovflpoint, 1+2)
			m.setU32(hashmMapp+4, 20)
			m.setU32(hashmNmaps, 2)
		}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEngine(t)
			pages := NewMemPages()
			pages.Put(testTag(0), hashTestMeta(t, 0x100, func(m hashMeta) { m.setU32(hashmNmaps, 1) }))
			pages.Put(testTag(4), hashTestPage(t, 0x100, 8, 0xFFFFFFFF, 3, 0x02, hashTuple(3, 1, 1)))
			pages.Put(testTag(9), hashTestBitmap(t, 0x100, 0x0000_0001))
			md := append(u16s(4096), 0)
			if tt.found {
				md[2] = 1
			}
			blocks := []schema.BlockSpec{
				{ID: 0, Tag: testTag(19), WillInit: true, Data: u32s(3)},
				{ID: 1, Tag: testTag(4)},
			}
			if tt.bitmap {
				blocks = append(blocks, schema.BlockSpec{ID: 2, Tag: testTag(9), Data: u32s(3)})
			}
			if tt.newBitmap {
				blocks = append(blocks, schema.BlockSpec{ID: 3, Tag: testTag(20), WillInit: true})
			}
			blocks = append(blocks, schema.BlockSpec{ID: 4, Tag: testTag(0), Data: u32s(17)})
			rec := hashRecord(t, schema.XLogHashAddOvflPage, md, 0x2000, blocks...)
			mustApply(t, e, rec, pages)

			want := hashTestPage(t, rec.EndLSN, 4, 0xFFFFFFFF, 3, 0x01)
			hashCheckPage(t, "overflow page", mustPage(t, pages, 19), want)
			if got := opaqueFields(mustPage(t, pages, 4)); got != [5]uint32{8, 19, 3, 0x02, 0xFF80} {
				t.Fatalf("left page special %v", got)
			}
			wantMeta := hashTestMeta(t, rec.EndLSN, func(m hashMeta) {
				m.setU32(hashmNmaps, 1)
				m.setU32(hashmFirstfree, 17)
				tt.wantMeta(m)
			})
			hashCheckPage(t, "metapage", mustPage(t, pages, 0), wantMeta)
			if tt.bitmap {
				hashCheckPage(t, "bitmap page", mustPage(t, pages, 9), hashTestBitmap(t, rec.EndLSN, tt.wantWord))
			} else if mustPage(t, pages, 9).LSN() != 0x100 {
				t.Fatal("bitmap page changed")
			}
			if tt.newBitmap {
				hashCheckPage(t, "new bitmap page", mustPage(t, pages, 20), hashTestBitmap(t, rec.EndLSN, 0xFFFFFFFF))
			}
		})
	}

	t.Run("bucket data missing", func(t *testing.T) {
		e := newTestEngine(t)
		pages := NewMemPages()
		hashMustUnsupported(t, e, hashRecord(t, schema.XLogHashAddOvflPage, append(u16s(4096), 0), 0x2000,
			schema.BlockSpec{ID: 0, Tag: testTag(19), WillInit: true},
			schema.BlockSpec{ID: 1, Tag: testTag(4)},
			schema.BlockSpec{ID: 4, Tag: testTag(0), Data: u32s(17)}), pages)
	})
	t.Run("ovflpoint past spares", func(t *testing.T) {
		e := newTestEngine(t)
		pages := NewMemPages()
		pages.Put(testTag(0), hashTestMeta(t, 0x100, func(m hashMeta) { m.setU32(hashmOvflpoint, 98) }))
		hashMustUnsupported(t, e, hashRecord(t, schema.XLogHashAddOvflPage, append(u16s(4096), 0), 0x2000,
			schema.BlockSpec{ID: 0, Tag: testTag(19), WillInit: true, Data: u32s(3)},
			schema.BlockSpec{ID: 1, Tag: testTag(4)},
			schema.BlockSpec{ID: 4, Tag: testTag(0), Data: u32s(17)}), pages)
		if !pages.Unavailable(testTag(0)) {
			t.Fatal("metapage not invalidated")
		}
	})
}

// TestHashSplitAllocatePage: the old bucket is marked (also when restored
// from an image), the new bucket initialized, the metapage updated with
// the optional masks and splitpoint.
func TestHashSplitAllocatePage(t *testing.T) {
	md := append(u32s(9), u16s(0x22, 0x12)...)
	md = append(md, 0x03)
	metaData := u32s(7, 15, 4, 33)
	// Block reference 0, the old bucket, is redone or restored; the others are fixed.
	splitRecord := func(t *testing.T, old schema.BlockSpec) *schema.DecodedRecord {
		t.Helper()
		return hashRecord(t, schema.XLogHashSplitAllocatePage, md, 0x2000, old,
			schema.BlockSpec{ID: 1, Tag: testTag(10), WillInit: true},
			schema.BlockSpec{ID: 2, Tag: testTag(0), Data: metaData})
	}

	check := func(t *testing.T, pages *MemPages, rec *schema.DecodedRecord, oldItems ...[]byte) {
		t.Helper()
		hashCheckPage(t, "old bucket", mustPage(t, pages, 2), hashTestPage(t, rec.EndLSN, 9, 0xFFFFFFFF, 1, 0x22, oldItems...))
		hashCheckPage(t, "new bucket", mustPage(t, pages, 10), hashTestPage(t, rec.EndLSN, 9, 0xFFFFFFFF, 9, 0x12))
		hashCheckPage(t, "metapage", mustPage(t, pages, 0), hashTestMeta(t, rec.EndLSN, func(m hashMeta) {
			m.setU32(hashmMaxbucket, 9)
			m.setU32(hashmLowmask, 7)
			m.setU32(hashmHighmask, 15)
			m.setU32(hashmOvflpoint, 4)
			m.setU32(hashmSpares+4*4, 33)
		}))
	}
	e := newTestEngine(t)
	t.Run("needs redo", func(t *testing.T) {
		pages := NewMemPages()
		pages.Put(testTag(0), hashTestMeta(t, 0x100, nil))
		pages.Put(testTag(2), hashTestPage(t, 0x100, 7, 0xFFFFFFFF, 1, 0x02, hashTuple(1, 1, 1)))
		rec := splitRecord(t, schema.BlockSpec{ID: 0, Tag: testTag(2)})
		mustApply(t, e, rec, pages)
		check(t, pages, rec, hashTuple(1, 1, 1))
	})
	t.Run("old bucket restored", func(t *testing.T) {
		pages := NewMemPages()
		pages.Put(testTag(0), hashTestMeta(t, 0x100, nil))
		// An image taken before the flag change, so that the change shows.
		img := hashTestPage(t, 0, 7, 0xFFFFFFFF, 1, 0x02, hashTuple(5, 5, 5))
		rec := splitRecord(t, hashImage(0, 2, img))
		mustApply(t, e, rec, pages)
		check(t, pages, rec, hashTuple(5, 5, 5))
	})
	t.Run("only the restored page owned", func(t *testing.T) {
		mem := NewMemPages()
		img := hashTestPage(t, 0, 7, 0xFFFFFFFF, 1, 0x02)
		rec := splitRecord(t, hashImage(0, 2, img))
		mustApply(t, e, rec, onlyBlock{mem, 2})
		if got := opaqueFields(mustPage(t, mem, 2)); got != [5]uint32{9, 0xFFFFFFFF, 1, 0x22, 0xFF80} {
			t.Fatalf("old bucket special %v", got)
		}
		// Not owned, the restored page is another shard's to change.
		other := NewMemPages()
		mustApply(t, e, rec, onlyBlock{other, 10})
		if _, ok := other.Get(testTag(2)); ok || other.Unavailable(testTag(2)) {
			t.Fatal("foreign old bucket touched")
		}
	})
	t.Run("splitpoint past spares", func(t *testing.T) {
		pages := NewMemPages()
		pages.Put(testTag(0), hashTestMeta(t, 0x100, nil))
		hashMustUnsupported(t, e, hashRecord(t, schema.XLogHashSplitAllocatePage, md, 0x2000,
			schema.BlockSpec{ID: 0, Tag: testTag(2)},
			schema.BlockSpec{ID: 1, Tag: testTag(10), WillInit: true},
			schema.BlockSpec{ID: 2, Tag: testTag(0), Data: u32s(7, 15, 98, 33)}), pages)
		if !pages.Unavailable(testTag(0)) {
			t.Fatal("metapage not invalidated")
		}
	})
}

// TestHashSplitPage: the page must come from the record's image.
func TestHashSplitPage(t *testing.T) {
	e := newTestEngine(t)
	pages := NewMemPages()
	img := hashTestPage(t, 0, 9, 0xFFFFFFFF, 9, 0x12, hashTuple(9, 1, 1))
	rec := hashRecord(t, schema.XLogHashSplitPage, nil, 0x2000, hashImage(0, 10, img))
	mustApply(t, e, rec, pages)
	want := hashTestPage(t, rec.EndLSN, 9, 0xFFFFFFFF, 9, 0x12, hashTuple(9, 1, 1))
	hashCheckPage(t, "new bucket", mustPage(t, pages, 10), want)

	pages.Put(testTag(10), want)
	hashMustUnsupported(t, e, hashRecord(t, schema.XLogHashSplitPage, nil, 0x3000, schema.BlockSpec{ID: 0, Tag: testTag(10)}), pages)
}

// TestHashSplitComplete: both flags are set, on a page needing redo and
// on one restored from an image.
func TestHashSplitComplete(t *testing.T) {
	e := newTestEngine(t)
	pages := NewMemPages()
	pages.Put(testTag(2), hashTestPage(t, 0x100, 9, 0xFFFFFFFF, 1, 0x22, hashTuple(1, 1, 1)))
	img := hashTestPage(t, 0, 9, 0xFFFFFFFF, 9, 0x12, hashTuple(9, 1, 1))
	rec := hashRecord(t, schema.XLogHashSplitComplete, u16s(0x42, 0x02), 0x2000,
		schema.BlockSpec{ID: 0, Tag: testTag(2)}, hashImage(1, 10, img))
	mustApply(t, e, rec, pages)
	hashCheckPage(t, "old bucket", mustPage(t, pages, 2), hashTestPage(t, rec.EndLSN, 9, 0xFFFFFFFF, 1, 0x42, hashTuple(1, 1, 1)))
	hashCheckPage(t, "new bucket", mustPage(t, pages, 10), hashTestPage(t, rec.EndLSN, 9, 0xFFFFFFFF, 9, 0x02, hashTuple(9, 1, 1)))

	// Up to date (BLK_DONE): nothing changes.
	before := bytes.Clone(mustPage(t, pages, 2))
	mustApply(t, e, hashRecord(t, schema.XLogHashSplitComplete, u16s(0x7, 0x7), 0x1000, schema.BlockSpec{ID: 0, Tag: testTag(2)}, schema.BlockSpec{ID: 1, Tag: testTag(10)}), pages)
	hashCheckPage(t, "old bucket", mustPage(t, pages, 2), before)
}

// hashMovedData is the block data of MOVE_PAGE_CONTENTS and SQUEEZE_PAGE: the
// offsets, then the tuples.
func hashMovedData(offs []uint16, tuples ...[]byte) []byte {
	b := u16s(offs...)
	for _, t := range tuples {
		b = append(b, t...)
	}
	return b
}

// TestHashMovePageContents: tuples are added to the write page at their
// offsets and deleted from the read page.
func TestHashMovePageContents(t *testing.T) {
	for _, prim := range []bool{true, false} {
		name := "write page is the primary"
		md := u16s(2)
		md = append(md, 1)
		if !prim {
			name, md[2] = "write page is an overflow page", 0
		}
		t.Run(name, func(t *testing.T) {
			e := newTestEngine(t)
			pages := NewMemPages()
			pages.Put(testTag(1), hashTestPage(t, 0x100, 7, 5, 1, 0x02, hashTuple(10, 1, 1), hashTuple(40, 1, 2)))
			read := hashTestPage(t, 0x100, 1, 0xFFFFFFFF, 1, 0x01,
				hashTuple(20, 2, 1), hashTuple(25, 2, 2), hashTuple(30, 2, 3), hashTuple(35, 2, 4), hashTuple(45, 2, 5))
			pages.Put(testTag(5), bytes.Clone(read))
			blocks := []schema.BlockSpec{
				{ID: 1, Tag: testTag(1), Data: hashMovedData([]uint16{2, 3}, hashTuple(20, 2, 1), hashTuple(30, 2, 3))},
				{ID: 2, Tag: testTag(5), Data: u16s(1, 3, 5)},
			}
			if !prim {
				blocks = append([]schema.BlockSpec{{ID: 0, Tag: testTag(7)}}, blocks...)
			}
			rec := hashRecord(t, schema.XLogHashMovePageContents, md, 0x2000, blocks...)
			mustApply(t, e, rec, pages)
			btCheckItems(t, "write page", mustPage(t, pages, 1), hashTuple(10, 1, 1), hashTuple(20, 2, 1), hashTuple(30, 2, 3), hashTuple(40, 1, 2))
			wantRead := schema.Page(bytes.Clone(read))
			if err := PageIndexMultiDelete(wantRead, []schema.OffsetNumber{1, 3, 5}); err != nil {
				t.Fatal(err)
			}
			wantRead.SetLSN(rec.EndLSN)
			hashCheckPage(t, "read page", mustPage(t, pages, 5), wantRead)
			btCheckItems(t, "read page", mustPage(t, pages, 5), hashTuple(25, 2, 2), hashTuple(35, 2, 4))
			if _, ok := pages.Get(testTag(7)); ok || pages.Unavailable(testTag(7)) {
				t.Fatal("primary bucket page (lock only) touched")
			}
		})
	}

	t.Run("more tuples than ntups", func(t *testing.T) {
		e := newTestEngine(t)
		pages := NewMemPages()
		pages.Put(testTag(1), hashTestPage(t, 0x100, 7, 5, 1, 0x02))
		hashMustUnsupported(t, e, hashRecord(t, schema.XLogHashMovePageContents, append(u16s(1), 1), 0x2000,
			schema.BlockSpec{ID: 1, Tag: testTag(1), Data: hashMovedData([]uint16{1}, hashTuple(20, 2, 1), hashTuple(30, 2, 3))},
			schema.BlockSpec{ID: 2, Tag: testTag(5), Data: u16s(1)}), pages)
		if !pages.Unavailable(testTag(1)) {
			t.Fatal("write page not invalidated")
		}
	})
}

// TestHashSqueezePage: the freed overflow page becomes an unused page and
// is unlinked from its neighbours (the previous one being the write page
// or not), its bitmap bit cleared, firstfree moved.
func TestHashSqueezePage(t *testing.T) {
	for _, prevIsWrite := range []bool{false, true} {
		name := "previous page not the write page"
		if prevIsWrite {
			name = "previous page is the write page"
		}
		t.Run(name, func(t *testing.T) {
			e := newTestEngine(t)
			pages := NewMemPages()
			pages.Put(testTag(1), hashTestPage(t, 0x100, 7, 5, 1, 0x02, hashTuple(10, 1, 1)))
			pages.Put(testTag(5), hashTestPage(t, 0x100, 1, 6, 1, 0x01, hashTuple(11, 1, 2)))
			pages.Put(testTag(6), hashTestPage(t, 0x100, 5, 8, 1, 0x01, hashTuple(20, 2, 1)))
			pages.Put(testTag(8), hashTestPage(t, 0x100, 6, 0xFFFFFFFF, 1, 0x01, hashTuple(30, 2, 1)))
			pages.Put(testTag(9), hashTestBitmap(t, 0x100, 0xF))
			pages.Put(testTag(0), hashTestMeta(t, 0x100, func(m hashMeta) { m.setU32(hashmFirstfree, 40) }))

			md := append(u32s(5, 8), u16s(1)...)
			md = append(md, 1, 0)
			write := schema.BlockNumber(1)
			blocks := []schema.BlockSpec{
				{ID: 1, Tag: testTag(1), Data: hashMovedData([]uint16{2}, hashTuple(20, 2, 1))},
				{ID: 2, Tag: testTag(6)},
			}
			if prevIsWrite {
				write = 5
				md[10], md[11] = 0, 1
				blocks = []schema.BlockSpec{
					{ID: 0, Tag: testTag(1)},
					{ID: 1, Tag: testTag(5), Data: hashMovedData([]uint16{2}, hashTuple(20, 2, 1))},
					{ID: 2, Tag: testTag(6)},
				}
			} else {
				blocks = append(blocks, schema.BlockSpec{ID: 3, Tag: testTag(5)})
			}
			blocks = append(blocks,
				schema.BlockSpec{ID: 4, Tag: testTag(8)},
				schema.BlockSpec{ID: 5, Tag: testTag(9), Data: u32s(2)},
				schema.BlockSpec{ID: 6, Tag: testTag(0), Data: u32s(2)})
			rec := hashRecord(t, schema.XLogHashSqueezePage, md, 0x2000, blocks...)
			mustApply(t, e, rec, pages)

			w := mustPage(t, pages, write)
			if w.LSN() != rec.EndLSN || w.MaxOffsetNumber() != 2 {
				t.Fatalf("write page LSN %s, %d items", w.LSN(), w.MaxOffsetNumber())
			}
			if got := mustItem(t, w, 2); !bytes.Equal(got, hashTuple(20, 2, 1)) {
				t.Fatalf("moved tuple %x", got)
			}
			if got := opaqueFields(mustPage(t, pages, 5)); got[1] != 8 {
				t.Fatalf("previous page's next %d", got[1])
			}
			if got := opaqueFields(mustPage(t, pages, 1)); !prevIsWrite && got[1] != 5 {
				t.Fatalf("primary page's next changed to %d", got[1])
			}
			unused := make(schema.Page, schema.BLCKSZ)
			_ = PageInit(unused, 16)
			copy(unused[8176:], u32s(0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF))
			copy(unused[8188:], u16s(0, 0xFF80))
			unused.SetLSN(rec.EndLSN)
			hashCheckPage(t, "freed page", mustPage(t, pages, 6), unused)
			if got := opaqueFields(mustPage(t, pages, 8)); got[0] != 5 {
				t.Fatalf("next page's prev %d", got[0])
			}
			hashCheckPage(t, "bitmap page", mustPage(t, pages, 9), hashTestBitmap(t, rec.EndLSN, 0xB))
			hashCheckPage(t, "metapage", mustPage(t, pages, 0), hashTestMeta(t, rec.EndLSN, func(m hashMeta) { m.setU32(hashmFirstfree, 2) }))
		})
	}

	t.Run("previous page missing", func(t *testing.T) {
		e := newTestEngine(t)
		pages := NewMemPages()
		md := append(u32s(5, 8), u16s(0)...)
		md = append(md, 1, 0)
		hashMustUnsupported(t, e, hashRecord(t, schema.XLogHashSqueezePage, md, 0x2000,
			schema.BlockSpec{ID: 1, Tag: testTag(1)},
			schema.BlockSpec{ID: 2, Tag: testTag(6)},
			schema.BlockSpec{ID: 5, Tag: testTag(9), Data: u32s(2)}), pages)
	})
	t.Run("bit past the page", func(t *testing.T) {
		e := newTestEngine(t)
		pages := NewMemPages()
		pages.Put(testTag(9), hashTestBitmap(t, 0x100))
		md := append(u32s(1, 0xFFFFFFFF), u16s(0)...)
		md = append(md, 1, 1)
		hashMustUnsupported(t, e, hashRecord(t, schema.XLogHashSqueezePage, md, 0x2000,
			schema.BlockSpec{ID: 1, Tag: testTag(1)},
			schema.BlockSpec{ID: 2, Tag: testTag(6)},
			schema.BlockSpec{ID: 5, Tag: testTag(9), Data: u32s(8 * 8192)}), pages)
		if !pages.Unavailable(testTag(9)) {
			t.Fatal("bitmap page not invalidated")
		}
	})
}

// TestHashDelete: the offsets go (one and three items take PostgreSQL's
// two deletion paths), and the dead-tuples flag is cleared when asked.
func TestHashDelete(t *testing.T) {
	for _, tt := range []struct {
		name  string
		md    []byte
		offs  []uint16
		keep  [][]byte
		flag  uint16
		block []schema.BlockSpec
	}{
		{"one item on the primary", []byte{0, 1}, []uint16{2}, [][]byte{hashTuple(1, 1, 1), hashTuple(3, 1, 3), hashTuple(4, 1, 4)}, 0x82, nil},
		{"three items, clear dead marking", []byte{1, 0}, []uint16{1, 2, 4}, [][]byte{hashTuple(3, 1, 3)}, 0x02,
			[]schema.BlockSpec{{ID: 0, Tag: testTag(2)}}},
		{"no items, clear dead marking", []byte{1, 1}, nil, [][]byte{hashTuple(1, 1, 1), hashTuple(2, 1, 2), hashTuple(3, 1, 3), hashTuple(4, 1, 4)}, 0x02, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEngine(t)
			pages := NewMemPages()
			page := hashTestPage(t, 0x100, 7, 0xFFFFFFFF, 1, 0x82, hashTuple(1, 1, 1), hashTuple(2, 1, 2), hashTuple(3, 1, 3), hashTuple(4, 1, 4))
			pages.Put(testTag(1), bytes.Clone(page))
			rec := hashRecord(t, schema.XLogHashDelete, tt.md, 0x2000,
				append(tt.block, schema.BlockSpec{ID: 1, Tag: testTag(1), Data: u16s(tt.offs...)})...)
			mustApply(t, e, rec, pages)
			want := schema.Page(bytes.Clone(page))
			var offs []schema.OffsetNumber
			for _, o := range tt.offs {
				offs = append(offs, schema.OffsetNumber(o))
			}
			if err := PageIndexMultiDelete(want, offs); err != nil {
				t.Fatal(err)
			}
			binary.LittleEndian.PutUint16(want[8176+12:], tt.flag)
			want.SetLSN(rec.EndLSN)
			hashCheckPage(t, "page", mustPage(t, pages, 1), want)
			btCheckItems(t, "page", mustPage(t, pages, 1), tt.keep...)
		})
	}
	t.Run("offsets not ascending", func(t *testing.T) {
		e := newTestEngine(t)
		pages := NewMemPages()
		pages.Put(testTag(1), hashTestPage(t, 0x100, 7, 0xFFFFFFFF, 1, 0x02, hashTuple(1, 1, 1), hashTuple(2, 1, 2), hashTuple(3, 1, 3)))
		hashMustUnsupported(t, e, hashRecord(t, schema.XLogHashDelete, []byte{0, 1}, 0x2000,
			schema.BlockSpec{ID: 1, Tag: testTag(1), Data: u16s(3, 1, 2)}), pages)
		if !pages.Unavailable(testTag(1)) {
			t.Fatal("page not invalidated")
		}
	})
	t.Run("primary block missing", func(t *testing.T) {
		e := newTestEngine(t)
		hashMustUnsupported(t, e, hashRecord(t, schema.XLogHashDelete, []byte{0, 0}, 0x2000,
			schema.BlockSpec{ID: 1, Tag: testTag(1), Data: u16s(1)}), NewMemPages())
	})
}

// TestHashSplitCleanupAndUpdateMeta: SPLIT_CLEANUP clears one flag;
// UPDATE_META_PAGE stores the tuple count.
func TestHashSplitCleanupAndUpdateMeta(t *testing.T) {
	e := newTestEngine(t)
	pages := NewMemPages()
	pages.Put(testTag(2), hashTestPage(t, 0x100, 9, 0xFFFFFFFF, 1, 0xC2, hashTuple(1, 1, 1)))
	rec := hashRecord(t, schema.XLogHashSplitCleanup, nil, 0x2000, schema.BlockSpec{ID: 0, Tag: testTag(2)})
	mustApply(t, e, rec, pages)
	hashCheckPage(t, "bucket", mustPage(t, pages, 2), hashTestPage(t, rec.EndLSN, 9, 0xFFFFFFFF, 1, 0x82, hashTuple(1, 1, 1)))

	pages.Put(testTag(0), hashTestMeta(t, 0x100, func(m hashMeta) { m.setNtuples(12) }))
	rec = hashRecord(t, schema.XLogHashUpdateMetaPage, hashF64(0.5), 0x2000, schema.BlockSpec{ID: 0, Tag: testTag(0)})
	mustApply(t, e, rec, pages)
	hashCheckPage(t, "metapage", mustPage(t, pages, 0), hashTestMeta(t, rec.EndLSN, func(m hashMeta) { m.setNtuples(0.5) }))
}

// TestHashVacuumOnePage: the offsets come from the main data, so they are
// there even when the metapage's block has an image; the dead-tuples flag
// is always cleared; the metapage loses ntuples.
func TestHashVacuumOnePage(t *testing.T) {
	e := newTestEngine(t)
	pages := NewMemPages()
	page := hashTestPage(t, 0x100, 7, 0xFFFFFFFF, 1, 0x82, hashTuple(1, 1, 1), hashTuple(2, 1, 2), hashTuple(3, 1, 3), hashTuple(4, 1, 4))
	pages.Put(testTag(1), bytes.Clone(page))
	metaImg := hashTestMeta(t, 0, func(m hashMeta) { m.setNtuples(100) })
	md := append(u32s(900), u32s(3)...)
	md = append(md, u16s(1, 3, 4)...)
	rec := hashRecord(t, schema.XLogHashVacuumOnePage, md, 0x2000,
		schema.BlockSpec{ID: 0, Tag: testTag(1)}, hashImage(1, 0, metaImg))
	mustApply(t, e, rec, pages)
	want := schema.Page(bytes.Clone(page))
	if err := PageIndexMultiDelete(want, []schema.OffsetNumber{1, 3, 4}); err != nil {
		t.Fatal(err)
	}
	binary.LittleEndian.PutUint16(want[8176+12:], 0x02)
	want.SetLSN(rec.EndLSN)
	hashCheckPage(t, "page", mustPage(t, pages, 1), want)
	if got := hashPageGetMeta(mustPage(t, pages, 0)).ntuples(); got != 100 {
		t.Fatalf("restored metapage ntuples %v", got)
	}

	// Only the struct: no deletion, the flag still cleared; the metapage
	// needs redo.
	pages.Put(testTag(1), hashTestPage(t, 0x100, 7, 0xFFFFFFFF, 1, 0x82, hashTuple(1, 1, 1)))
	rec = hashRecord(t, schema.XLogHashVacuumOnePage, append(u32s(900), u32s(2)...), 0x10000,
		schema.BlockSpec{ID: 0, Tag: testTag(1)}, schema.BlockSpec{ID: 1, Tag: testTag(0)})
	mustApply(t, e, rec, pages)
	hashCheckPage(t, "page", mustPage(t, pages, 1), hashTestPage(t, rec.EndLSN, 7, 0xFFFFFFFF, 1, 0x02, hashTuple(1, 1, 1)))
	if got := hashPageGetMeta(mustPage(t, pages, 0)).ntuples(); got != 98 {
		t.Fatalf("metapage ntuples %v", got)
	}

	t.Run("offsets cut short", func(t *testing.T) {
		pages := NewMemPages()
		pages.Put(testTag(1), hashTestPage(t, 0x100, 7, 0xFFFFFFFF, 1, 0x82, hashTuple(1, 1, 1)))
		md := append(u32s(900), u32s(3)...)
		hashMustUnsupported(t, e, hashRecord(t, schema.XLogHashVacuumOnePage, append(md, u16s(1)...), 0x2000,
			schema.BlockSpec{ID: 0, Tag: testTag(1)}, schema.BlockSpec{ID: 1, Tag: testTag(0)}), pages)
		if !pages.Unavailable(testTag(1)) {
			t.Fatal("page not invalidated")
		}
	})
}

// TestHashRefused: records PostgreSQL would not write or could not replay
// are not applied and leave their pages unavailable.
func TestHashRefused(t *testing.T) {
	tests := []struct {
		name string
		rec  func(t *testing.T) *schema.DecodedRecord
	}{
		{"unknown opcode", func(t *testing.T) *schema.DecodedRecord {
			return hashRecord(t, 0xD0, nil, 0x2000, schema.BlockSpec{ID: 0, Tag: testTag(1)})
		}},
		{"short main data", func(t *testing.T) *schema.DecodedRecord {
			return hashRecord(t, schema.XLogHashInsert, []byte{1}, 0x2000, schema.BlockSpec{ID: 0, Tag: testTag(1), Data: hashTuple(1, 1, 1)}, schema.BlockSpec{ID: 1, Tag: testTag(0)})
		}},
		{"insert without metapage block", func(t *testing.T) *schema.DecodedRecord {
			return hashRecord(t, schema.XLogHashInsert, u16s(1), 0x2000, schema.BlockSpec{ID: 0, Tag: testTag(1), Data: hashTuple(1, 1, 1)})
		}},
		{"odd offset array", func(t *testing.T) *schema.DecodedRecord {
			return hashRecord(t, schema.XLogHashDelete, []byte{0, 1}, 0x2000, schema.BlockSpec{ID: 1, Tag: testTag(1), Data: []byte{1, 0, 2}})
		}},
		{"bitmap too large", func(t *testing.T) *schema.DecodedRecord {
			return hashRecord(t, schema.XLogHashInitBitmapPage, u16s(8153), 0x2000,
				schema.BlockSpec{ID: 0, Tag: testTag(1), WillInit: true}, schema.BlockSpec{ID: 1, Tag: testTag(0)})
		}},
		{"moved tuple cut", func(t *testing.T) *schema.DecodedRecord {
			return hashRecord(t, schema.XLogHashMovePageContents, append(u16s(1), 1), 0x2000,
				schema.BlockSpec{ID: 1, Tag: testTag(1), Data: hashMovedData([]uint16{1}, hashTuple(1, 1, 1)[:12])},
				schema.BlockSpec{ID: 2, Tag: testTag(5), Data: u16s(1)})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEngine(t)
			pages := NewMemPages()
			pages.Put(testTag(1), hashTestPage(t, 0x100, 7, 0xFFFFFFFF, 1, 0x02, hashTuple(1, 1, 1)))
			hashMustUnsupported(t, e, tt.rec(t), pages)
			if !pages.Unavailable(testTag(1)) {
				t.Fatal("page not invalidated")
			}
		})
	}
}

// TestHashChecksums: with data checksums every page redo writes gets one.
func TestHashChecksums(t *testing.T) {
	e := newTestEngine(t)
	e.DataChecksums = true
	pages := NewMemPages()
	pages.Put(testTag(1), hashTestPage(t, 0x100, 7, 0xFFFFFFFF, 1, 0x02))
	pages.Put(testTag(0), hashTestMeta(t, 0x100, nil))
	mustApply(t, e, hashRecord(t, schema.XLogHashInsert, u16s(1), 0x2000,
		schema.BlockSpec{ID: 0, Tag: testTag(1), Data: hashTuple(20, 4, 4)},
		schema.BlockSpec{ID: 1, Tag: testTag(0)}), pages)
	for _, blk := range []schema.BlockNumber{0, 1} {
		p := schema.Page(bytes.Clone(mustPage(t, pages, blk)))
		sum := p.Checksum()
		if err := PageSetChecksumInplace(p, blk); err != nil || p.Checksum() != sum || sum == 0 {
			t.Fatalf("block %d: checksum %#x, recomputed %#x (%v)", blk, sum, p.Checksum(), err)
		}
	}
}

// TestHashMaskPages: unused pages are blanked, bucket and overflow pages lose
// their line pointer flags, every page the dead-tuples flag; the metapage
// is compared in full below pd_lower.
func TestHashMaskPages(t *testing.T) {
	bucket := hashTestPage(t, 0x100, 7, 0xFFFFFFFF, 1, 0x82, hashTuple(1, 1, 1))
	if err := MaskHash(bucket, 1); err != nil {
		t.Fatal(err)
	}
	if lp := bucket.ItemID(1); lp.Flags() != schema.LPUnused || lp.Len() != 16 {
		t.Fatalf("line pointer %v", lp)
	}
	if got := opaqueFields(bucket); got[3] != 0x02 {
		t.Fatalf("flag %#x", got[3])
	}

	unused := hashTestPage(t, 0x100, 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0x80)
	if err := MaskHash(unused, 3); err != nil {
		t.Fatal(err)
	}
	want := make(schema.Page, schema.BLCKSZ)
	want.SetSpecial(8176)
	want.SetPageSizeAndVersion(schema.BLCKSZ, schema.PGPageLayoutVersion)
	hashCheckPage(t, "unused page", unused, want)

	meta := hashTestMeta(t, 0x100, nil)
	orig := schema.Page(bytes.Clone(meta))
	if err := MaskHash(meta, 0); err != nil {
		t.Fatal(err)
	}
	orig.SetLSN(0)
	hashCheckPage(t, "metapage", meta, orig)
}
