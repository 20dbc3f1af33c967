package redo

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"slices"
	"testing"

	"github.com/pagemill/pagemill/schema"
)

var testRel = schema.RelFileNode{SpcNode: 1663, DbNode: 5, RelNode: 16384}

func testTag(blk schema.BlockNumber) schema.BufferTag {
	return schema.BufferTag{Rel: testRel, Fork: schema.MainForkNum, Block: blk}
}

// testHeapPage returns an initialized page with one item and a marker
// byte, so images can be told apart.
func testHeapPage(t *testing.T, marker byte) schema.Page {
	t.Helper()
	p := make(schema.Page, schema.BLCKSZ)
	if err := PageInit(p, 0); err != nil {
		t.Fatal(err)
	}
	item := make([]byte, 40)
	item[30] = marker
	if _, err := PageAddItem(p, item, 1, false, true); err != nil {
		t.Fatal(err)
	}
	return p
}

func assemble(t *testing.T, spec schema.RecordSpec, lsn schema.LSN) *schema.DecodedRecord {
	t.Helper()
	raw := schema.AssembleRecord(spec)
	binary.LittleEndian.PutUint32(raw[20:], schema.RecordCRC(raw)) // xl_crc
	rec, err := schema.DecodeRecord(raw, lsn, lsn+schema.LSN(len(raw)))
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

func newTestEngine(t *testing.T) *Engine {
	t.Helper()
	e, err := NewEngine()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Restorer.Close)
	return e
}

func TestEngineFPIRestoresAndSetsLSN(t *testing.T) {
	e := newTestEngine(t)
	pages := NewMemPages()
	img := testHeapPage(t, 7)
	hole := img.Lower()
	rec := assemble(t, schema.RecordSpec{Rmgr: schema.RmgrXLOG, Info: schema.XLogFPI, Blocks: []schema.BlockSpec{
		{ID: 0, Tag: testTag(3), Image: img, HoleOffset: hole, HoleLength: img.Upper() - hole, Apply: true},
	}}, 0x1000028)
	res, err := e.Apply(rec, pages)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Restored) != 1 || res.Restored[0] != testTag(3) {
		t.Fatalf("restored %v", res.Restored)
	}
	got, ok := pages.Get(testTag(3))
	if !ok {
		t.Fatal("page not stored")
	}
	if got.LSN() != rec.EndLSN {
		t.Fatalf("page LSN %s, want record end %s", got.LSN(), rec.EndLSN)
	}
	want := append(schema.Page(nil), img...)
	want.SetLSN(rec.EndLSN)
	if off, eq := ComparePages(got, want); !eq {
		t.Fatalf("restored page differs at %d", off)
	}
}

func TestEngineNewPageKeepsZeroLSN(t *testing.T) {
	e := newTestEngine(t)
	pages := NewMemPages()
	zero := make([]byte, schema.BLCKSZ)
	rec := assemble(t, schema.RecordSpec{Rmgr: schema.RmgrXLOG, Info: schema.XLogFPI, Blocks: []schema.BlockSpec{
		{ID: 0, Tag: testTag(0), Image: zero, Apply: true},
	}}, 0x2000)
	if _, err := e.Apply(rec, pages); err != nil {
		t.Fatal(err)
	}
	p, _ := pages.Get(testTag(0))
	if p.LSN() != 0 || !p.IsNew() {
		t.Fatalf("new page got LSN %s", p.LSN())
	}
}

func TestEngineChecksums(t *testing.T) {
	e := newTestEngine(t)
	e.DataChecksums = true
	pages := NewMemPages()
	rec := assemble(t, schema.RecordSpec{Rmgr: schema.RmgrXLOG, Info: schema.XLogFPIForHint, Blocks: []schema.BlockSpec{
		{ID: 0, Tag: testTag(9), Image: testHeapPage(t, 1), Apply: true},
	}}, 0x3000)
	if _, err := e.Apply(rec, pages); err != nil {
		t.Fatal(err)
	}
	p, _ := pages.Get(testTag(9))
	if err := PageIsVerifiedExtended(p, 9, true); err != nil {
		t.Fatal(err)
	}
}

func TestEngineUnsupportedInvalidates(t *testing.T) {
	e := newTestEngine(t)
	pages := NewMemPages()
	// Block 0 has an applied image, block 1 only a consistency image:
	// block 1 needs heap redo, which is not implemented.
	old := testHeapPage(t, 1)
	pages.Put(testTag(1), old)
	md := make([]byte, 14) // xl_heap_update, flags at 7 = 0
	rec := assemble(t, schema.RecordSpec{Rmgr: schema.RmgrHeap, Info: 0x20, MainData: md, Blocks: []schema.BlockSpec{
		{ID: 0, Tag: testTag(2), Image: testHeapPage(t, 2), Apply: true},
		{ID: 1, Tag: testTag(1), Image: testHeapPage(t, 3)},
	}}, 0x4000)
	res, err := e.Apply(rec, pages)
	var uns *Unsupported
	if !errors.As(err, &uns) {
		t.Fatalf("err = %v, want *Unsupported", err)
	}
	if uns.Rmgr != schema.RmgrHeap || uns.LSN != rec.LSN {
		t.Fatalf("unsupported %+v", uns)
	}
	if msg := err.Error(); msg != "redo of Heap/UPDATE at 0/00004000 is not supported" {
		t.Fatalf("message %q", msg)
	}
	if _, ok := pages.Get(testTag(1)); ok || !pages.Unavailable(testTag(1)) {
		t.Fatal("unreplayed page still available")
	}
	if _, ok := pages.Get(testTag(2)); !ok {
		t.Fatal("restored page of an unsupported record must stay available (redo skips BLK_RESTORED)")
	}
	if len(res.Invalidated) != 1 || res.Invalidated[0] != testTag(1) {
		t.Fatalf("invalidated %v", res.Invalidated)
	}

	// A later FPI makes the page available again.
	fpi := assemble(t, schema.RecordSpec{Rmgr: schema.RmgrXLOG, Info: schema.XLogFPI, Blocks: []schema.BlockSpec{
		{ID: 0, Tag: testTag(1), Image: testHeapPage(t, 4), Apply: true},
	}}, 0x5000)
	if _, err := e.Apply(fpi, pages); err != nil {
		t.Fatal(err)
	}
	if _, ok := pages.Get(testTag(1)); !ok || pages.Unavailable(testTag(1)) {
		t.Fatal("FPI did not repair the page")
	}
}

func TestEngineAllBlocksRestoredApplied(t *testing.T) {
	e := newTestEngine(t)
	pages := NewMemPages()
	md := make([]byte, 3) // xl_heap_insert: offnum, flags 0
	rec := assemble(t, schema.RecordSpec{Rmgr: schema.RmgrHeap, Info: 0x00, MainData: md, Blocks: []schema.BlockSpec{
		{ID: 0, Tag: testTag(5), Image: testHeapPage(t, 5), Apply: true, Data: []byte{1, 2, 3, 4, 5, 6}},
	}}, 0x6000)
	if _, err := e.Apply(rec, pages); err != nil {
		t.Fatalf("all blocks restored: %v", err)
	}

	// The same, but the insert clears the page's all-visible bit: the vm
	// page changes implicitly, so the record is not fully applied.
	md[2] = 0x01
	rec = assemble(t, schema.RecordSpec{Rmgr: schema.RmgrHeap, Info: 0x00, MainData: md, Blocks: []schema.BlockSpec{
		{ID: 0, Tag: testTag(5), Image: testHeapPage(t, 6), Apply: true, Data: []byte{1, 2, 3, 4, 5, 6}},
	}}, 0x7000)
	vm := schema.BufferTag{Rel: testRel, Fork: schema.VisibilityMapFork, Block: 0}
	pages.Put(vm, make(schema.Page, schema.BLCKSZ))
	var uns *Unsupported
	if _, err := e.Apply(rec, pages); !errors.As(err, &uns) {
		t.Fatalf("err = %v, want *Unsupported", err)
	}
	if !pages.Unavailable(vm) {
		t.Fatal("implicit vm page not invalidated")
	}
	if _, ok := pages.Get(testTag(5)); !ok {
		t.Fatal("restored heap page lost")
	}
}

func TestEngineIgnoredRmgrsApplied(t *testing.T) {
	e := newTestEngine(t)
	cases := []struct {
		rmgr schema.RmgrID
		info uint8
		md   []byte
	}{
		{schema.RmgrXLOG, schema.XLogCheckpointOnline, make([]byte, 88)},
		{schema.RmgrXLOG, schema.XLogNextOid, make([]byte, 4)},
		{schema.RmgrXLOG, schema.XLogSwitch, nil},
		{schema.RmgrStandby, 0x10, make([]byte, 24)},
		{schema.RmgrDatabase, 0x00, make([]byte, 16)},
		{schema.RmgrTablespace, 0x00, make([]byte, 8)},
		{schema.RmgrLogicalMessage, 0x00, make([]byte, 24)},
		{schema.RmgrCommitTs, 0x00, make([]byte, 8)},
		{schema.RmgrReplicationOrigin, 0x00, make([]byte, 8)},
		{schema.RmgrHeap2, schema.XLogHeap2NewCid, make([]byte, 32)},
		{schema.RmgrHeap2, schema.XLogHeap2Rewrite, make([]byte, 32)},
		{schema.RmgrHeap, schema.XLogHeapTruncate, make([]byte, 16)},
		{schema.RmgrBtree, schema.XLogBtreeReusePage, make([]byte, 20)},
		{schema.RmgrStorage, schema.XLogSmgrCreate, make([]byte, 16)},
	}
	for _, c := range cases {
		pages := NewMemPages()
		pages.Put(testTag(0), testHeapPage(t, 1))
		rec := assemble(t, schema.RecordSpec{Rmgr: c.rmgr, Info: c.info, MainData: c.md}, 0x8000)
		res, err := e.Apply(rec, pages)
		if err != nil {
			t.Errorf("%s: %v", schema.RecordTypeName(c.rmgr, c.info), err)
		}
		if len(res.Invalidated) != 0 || pages.Len() != 1 {
			t.Errorf("%s: pages changed: %+v", schema.RecordTypeName(c.rmgr, c.info), res)
		}
	}
}

func TestEngineStorageTruncate(t *testing.T) {
	e := newTestEngine(t)
	pages := NewMemPages()
	for b := schema.BlockNumber(0); b < 4; b++ {
		pages.Put(testTag(b), testHeapPage(t, byte(b)))
	}
	vm := schema.BufferTag{Rel: testRel, Fork: schema.VisibilityMapFork}
	pages.Put(vm, make(schema.Page, schema.BLCKSZ))
	md := make([]byte, 20)
	binary.LittleEndian.PutUint32(md[0:], 2)
	binary.LittleEndian.PutUint32(md[4:], testRel.SpcNode)
	binary.LittleEndian.PutUint32(md[8:], testRel.DbNode)
	binary.LittleEndian.PutUint32(md[12:], testRel.RelNode)
	binary.LittleEndian.PutUint32(md[16:], 0x01|0x02) // SMGR_TRUNCATE_HEAP | SMGR_TRUNCATE_VM
	rec := assemble(t, schema.RecordSpec{Rmgr: schema.RmgrStorage, Info: schema.XLogSmgrTruncate, MainData: md}, 0x9000)
	res, err := e.Apply(rec, pages)
	if err != nil {
		t.Fatal(err)
	}
	if res.Truncate == nil || res.Truncate.Rel != testRel || res.Truncate.MainBlocks != 2 || !res.Truncate.Main || !res.Truncate.VM || res.Truncate.FSM {
		t.Fatalf("truncate %+v", res.Truncate)
	}
	pages.Truncate(res.Truncate)
	for b := schema.BlockNumber(0); b < 4; b++ {
		if _, ok := pages.Get(testTag(b)); ok != (b < 2) {
			t.Errorf("block %d present=%v after truncation to 2", b, ok)
		}
	}
	if !pages.Unavailable(vm) {
		t.Error("vm page not invalidated")
	}
}

func TestEngineUnsupportedWithoutImages(t *testing.T) {
	e := newTestEngine(t)
	pages := NewMemPages()
	pages.Put(testTag(0), testHeapPage(t, 1))
	md := make([]byte, 3)
	rec := assemble(t, schema.RecordSpec{Rmgr: schema.RmgrHeap, Info: 0x00, MainData: md, Blocks: []schema.BlockSpec{
		{ID: 0, Tag: testTag(0), Data: []byte{1, 2, 3, 4, 5, 6}},
	}}, 0xA000)
	var uns *Unsupported
	if _, err := e.Apply(rec, pages); !errors.As(err, &uns) {
		t.Fatalf("err = %v", err)
	}
	if !pages.Unavailable(testTag(0)) {
		t.Fatal("page not invalidated")
	}
}

// onlyBlock is a PartialPages owning one block of a MemPages.
type onlyBlock struct {
	*MemPages
	own schema.BlockNumber
}

func (o onlyBlock) Owns(tag schema.BufferTag) bool { return tag.Block == o.own }

// TestEnginePartialPagesSkipForeignImages: images of pages the Pages does
// not own are neither restored nor stored, and the record still counts as
// applied.
func TestEnginePartialPagesSkipForeignImages(t *testing.T) {
	e := newTestEngine(t)
	mem := NewMemPages()
	rec := assemble(t, schema.RecordSpec{Rmgr: schema.RmgrXLOG, Info: schema.XLogFPI, Blocks: []schema.BlockSpec{
		{ID: 0, Tag: testTag(0), Image: testHeapPage(t, 1), Apply: true},
		{ID: 1, Tag: testTag(1), Image: testHeapPage(t, 2), Apply: true},
	}}, 0x1000)
	res, err := e.Apply(rec, onlyBlock{mem, 0})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := mem.Get(testTag(0)); !ok {
		t.Fatal("own page not restored")
	}
	if _, ok := mem.Get(testTag(1)); ok || mem.Unavailable(testTag(1)) {
		t.Fatal("foreign page touched")
	}
	if len(res.Restored) != 1 || res.Restored[0] != testTag(0) {
		t.Fatalf("restored %v", res.Restored)
	}
}

// TestApplyToWithReusedRecords replays each testdata case twice: with the
// ordinary reader and Apply, and with a reader that reuses its records
// and ApplyTo into one Result. Every record's result, and every page at
// the end, must be the same.
func TestApplyToWithReusedRecords(t *testing.T) {
	for _, c := range testdataCases(t) {
		t.Run(c.name, func(t *testing.T) {
			d := c.open(t)
			r, err := schema.OpenWALDir(os.DirFS(c.wal), schema.DirOptions{Start: c.start, End: c.end, ReuseRecords: true})
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			e1, e2 := newTestEngine(t), newTestEngine(t)
			p1, p2 := NewMemPages(), NewMemPages()
			var res Result
			n := 0
			for ; ; n++ {
				rec1, err1 := d.Next()
				rec2, err2 := r.Next()
				if err1 != nil || err2 != nil {
					if !errors.Is(err1, io.EOF) || !errors.Is(err2, io.EOF) {
						t.Fatalf("record %d: %v, with ReuseRecords %v", n, err1, err2)
					}
					break
				}
				want, werr := e1.Apply(rec1, p1)
				gerr := e2.ApplyTo(&res, rec2, p2)
				if fmt.Sprint(werr) != fmt.Sprint(gerr) || !slices.Equal(want.Restored, res.Restored) ||
					!slices.Equal(want.Invalidated, res.Invalidated) || !reflect.DeepEqual(want.Truncate, res.Truncate) {
					t.Fatalf("record %d at %s: Apply %+v, %v; ApplyTo %+v, %v", n, rec1.LSN, want, werr, res, gerr)
				}
				if want.Truncate != nil {
					p1.Truncate(want.Truncate)
					p2.Truncate(res.Truncate)
				}
			}
			if n < 1000 || p1.Len() == 0 {
				t.Fatalf("%d records, %d pages", n, p1.Len())
			}
			if p1.Len() != p2.Len() {
				t.Fatalf("%d pages, with ReuseRecords and ApplyTo %d", p1.Len(), p2.Len())
			}
			for key, rel := range p1.rels {
				for i, c1 := range rel.dir {
					if c1 == nil {
						continue
					}
					c2 := p2.rels[key].dir[i]
					if c1.avail != c2.avail || c1.unavail != c2.unavail {
						t.Fatalf("relation %v chunk %d: availability differs", key, i)
					}
					for b := range c1.pages {
						if !bytes.Equal(c1.pages[b], c2.pages[b]) {
							t.Fatalf("relation %v block %d differs", key, i*memChunkSize+b)
						}
					}
				}
			}
		})
	}
}
