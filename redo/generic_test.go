package redo

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/pagemill/pagemill/schema"
)

// genericFragment lays out one generic WAL delta fragment: offset, length, data.
func genericFragment(offset uint16, data ...byte) []byte {
	b := binary.LittleEndian.AppendUint16(nil, offset)
	b = binary.LittleEndian.AppendUint16(b, uint16(len(data)))
	return append(b, data...)
}

// genericTestPage is a page with 8 bytes of special space, lower 40, upper
// 8000, every byte past the header set to fill (so the hole is not zero).
func genericTestPage(lsn schema.LSN, fill byte) schema.Page {
	p := make(schema.Page, schema.BLCKSZ)
	_ = PageInit(p, 8)
	for i := 24; i < schema.BLCKSZ; i++ {
		p[i] = fill
	}
	p.SetLower(40)
	p.SetUpper(8000)
	p.SetLSN(lsn)
	return p
}

func genericRecord(t *testing.T, lsn schema.LSN, blocks ...schema.BlockSpec) *schema.DecodedRecord {
	t.Helper()
	return assemble(t, schema.RecordSpec{Rmgr: schema.RmgrGeneric, Blocks: blocks}, lsn)
}

// TestGenericRedo: fragments are copied in order (a later one wins), then
// the hole between the new pd_lower and pd_upper is zeroed and the LSN
// set; an up-to-date page is left alone.
func TestGenericRedo(t *testing.T) {
	e := newTestEngine(t)
	pages := NewMemPages()
	pages.Put(testTag(4), genericTestPage(0x100, 0xAB))
	delta := bytes.Join([][]byte{
		genericFragment(12, 48, 0),              // pd_lower 48
		genericFragment(14, 0x30, 0x1f),         // pd_upper 7984
		genericFragment(40, 1, 2, 3, 4, 5, 6),   // new line pointers, partly in the hole
		genericFragment(44, 9),                  // overwrites a byte of the previous one
		genericFragment(7984, 7, 7, 7, 7, 7, 7), // new tuple
	}, nil)
	rec := genericRecord(t, 0x2000, schema.BlockSpec{ID: 0, Tag: testTag(4), Data: delta})
	mustApply(t, e, rec, pages)

	want := genericTestPage(rec.EndLSN, 0xAB)
	want.SetLower(48)
	want.SetUpper(7984)
	copy(want[40:], []byte{1, 2, 3, 4, 9, 6})
	copy(want[7984:], []byte{7, 7, 7, 7, 7, 7})
	clear(want[48:7984])
	got := mustPage(t, pages, 4)
	if !bytes.Equal(got, want) {
		off, _ := ComparePages(got, want)
		t.Fatalf("page differs at %d", off)
	}
	before := bytes.Clone(got)
	mustApply(t, e, rec, pages)
	if !bytes.Equal(mustPage(t, pages, 4), before) {
		t.Fatal("BLK_DONE page changed")
	}

	// An empty delta still zeroes the hole and sets the LSN.
	pages.Put(testTag(5), genericTestPage(0x100, 0xCD))
	rec = genericRecord(t, 0x3000, schema.BlockSpec{ID: 0, Tag: testTag(5)})
	mustApply(t, e, rec, pages)
	p := mustPage(t, pages, 5)
	if !schema.AllZero(p[40:8000]) || p[8000] != 0xCD || p[39] != 0xCD || p.LSN() != rec.EndLSN {
		t.Fatalf("empty delta: hole not zeroed or LSN %s", p.LSN())
	}
}

// TestGenericRedoBlocks: each block on its own: an image restored, a
// delta applied, a missing or all-zero page made unavailable while the
// others are replayed.
func TestGenericRedoBlocks(t *testing.T) {
	e := newTestEngine(t)
	pages := NewMemPages()
	img := genericTestPage(0, 0x11)
	clear(img[40:8000])
	pages.Put(testTag(1), genericTestPage(0x100, 0x22))
	pages.Put(testTag(3), make(schema.Page, schema.BLCKSZ)) // all zero
	rec := genericRecord(t, 0x2000,
		schema.BlockSpec{ID: 0, Tag: testTag(0), Image: img, HoleOffset: 40, HoleLength: 7960, Apply: true},
		schema.BlockSpec{ID: 1, Tag: testTag(1), Data: genericFragment(8000, 0x99)},
		schema.BlockSpec{ID: 2, Tag: testTag(2), Data: genericFragment(8000, 0x99)},
		schema.BlockSpec{ID: 3, Tag: testTag(3), Data: genericFragment(8000, 0x99)})
	res := mustApply(t, e, rec, pages)
	if got := mustPage(t, pages, 0); got.LSN() != rec.EndLSN || got[8000] != 0x11 {
		t.Fatalf("image block: LSN %s", got.LSN())
	}
	if got := mustPage(t, pages, 1); got.LSN() != rec.EndLSN || got[8000] != 0x99 || !schema.AllZero(got[40:8000]) {
		t.Fatalf("delta block: LSN %s byte %#x", got.LSN(), got[8000])
	}
	if !pages.Unavailable(testTag(2)) || !pages.Unavailable(testTag(3)) || len(res.Invalidated) != 2 {
		t.Fatalf("invalidated %v", res.Invalidated)
	}
}

// TestGenericRedoRefused: deltas PostgreSQL never writes, and deltas that
// would make it write outside the page, change nothing but leave the
// record's pages unavailable.
func TestGenericRedoRefused(t *testing.T) {
	e := newTestEngine(t)
	for name, blocks := range map[string][]schema.BlockSpec{
		"fragment past the page": {{ID: 0, Tag: testTag(1), Data: genericFragment(8190, 1, 2, 3)}},
		"fragment cut short":     {{ID: 0, Tag: testTag(1), Data: genericFragment(100, 1, 2, 3)[:6]}},
		"header cut short":       {{ID: 0, Tag: testTag(1), Data: append(genericFragment(100, 1), 0, 0)}},
		"lower past upper":       {{ID: 0, Tag: testTag(1), Data: genericFragment(12, 0x50, 0x1f)}},
		"upper past the page":    {{ID: 0, Tag: testTag(1), Data: genericFragment(14, 0x01, 0x20)}},
		"block id 4":             {{ID: 0, Tag: testTag(1), Data: genericFragment(8000, 1)}, {ID: 4, Tag: testTag(2), Data: genericFragment(8000, 1)}},
		"WILL_INIT":              {{ID: 0, Tag: testTag(1), WillInit: true, Data: genericFragment(8000, 1)}},
	} {
		t.Run(name, func(t *testing.T) {
			pages := NewMemPages()
			pages.Put(testTag(1), genericTestPage(0x100, 0x22))
			pages.Put(testTag(2), genericTestPage(0x100, 0x22))
			brinMustRefuse(t, e, genericRecord(t, 0x2000, blocks...), pages, testTag(1))
		})
	}
}
