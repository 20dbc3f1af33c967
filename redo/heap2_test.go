package redo

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"testing"

	"github.com/pagemill/pagemill/internal/pgtest"
	"github.com/pagemill/pagemill/schema"
)

// heap2Tuple is a 32-byte heap tuple (header, t_hoff 24, 8 data bytes)
// with the given infomask bits, xmin, xmax and ctid (blk, off).
func heap2Tuple(xmin, xmax uint32, off uint16, infomask2, infomask uint16, marker byte) []byte {
	tup := wantTuple(xmin, 0, off, infomask2, infomask, 24, []byte{0, marker, marker, marker, marker, marker, marker, marker, marker})
	binary.LittleEndian.PutUint32(tup[htupXmax:], xmax)
	binary.LittleEndian.PutUint16(tup[htupInfomask:], infomask) // keep COMBOCID if asked
	return tup
}

func h2OffsetBytes(offs ...uint16) []byte {
	b := make([]byte, 2*len(offs))
	for k, o := range offs {
		binary.LittleEndian.PutUint16(b[2*k:], o)
	}
	return b
}

func h2PruneMain(nredirected, ndead uint16) []byte {
	md := make([]byte, schema.SizeOfHeapPrune)
	binary.LittleEndian.PutUint32(md, 999) // latestRemovedXid: unused by redo
	binary.LittleEndian.PutUint16(md[4:], nredirected)
	binary.LittleEndian.PutUint16(md[6:], ndead)
	return md
}

func h2WantUnsupported(t *testing.T, e *Engine, rec *schema.DecodedRecord, pages Pages) {
	t.Helper()
	var uns *Unsupported
	if _, err := e.Apply(rec, pages); !errors.As(err, &uns) {
		t.Fatalf("err = %v, want *Unsupported", err)
	}
}

func TestHeap2Prune(t *testing.T) {
	e := newTestEngine(t)
	pages := NewMemPages()
	const heapOnly, hotUpdated = 0x8000, 0x4000
	// 1: HOT chain root, 2: dead heap-only member, 3: live heap-only end;
	// 4: a deleted tuple (becomes dead), 5: live, 6: dead heap-only (last).
	tups := [][]byte{
		heap2Tuple(10, 11, 2, 2|hotUpdated, 0x0100, 1),
		heap2Tuple(11, 12, 3, 2|heapOnly|hotUpdated, 0x0100|0x2000, 2),
		heap2Tuple(12, 0, 3, 2|heapOnly, 0x0100|0x0800|0x2000, 3),
		heap2Tuple(13, 14, 4, 2, 0x0100, 4),
		heap2Tuple(15, 0, 5, 2, 0x0900, 5),
		heap2Tuple(16, 17, 6, 2|heapOnly, 0x0100, 6),
	}
	p := heapPageWith(t, 0x100, tups...)
	p.SetPruneXid(11)
	pages.Put(testTag(2), p)
	data := append(h2OffsetBytes(1, 3), h2OffsetBytes(4)...) // redirect 1→3, dead 4
	data = append(data, h2OffsetBytes(2, 6)...)              // unused 2, 6
	rec := assemble(t, schema.RecordSpec{Rmgr: schema.RmgrHeap2, Info: schema.XLogHeap2Prune, MainData: h2PruneMain(1, 1), Blocks: []schema.BlockSpec{
		{ID: 0, Tag: testTag(2), Data: data},
	}}, 0x10000)
	mustApply(t, e, rec, pages)
	p, _ = pages.Get(testTag(2))
	if p.MaxOffsetNumber() != 5 || p.LSN() != rec.EndLSN || !p.HasFreeLinePointers() || p.PruneXid() != 11 {
		t.Fatalf("maxoff %d lsn %s flags %x prune %d", p.MaxOffsetNumber(), p.LSN(), p.Flags(), p.PruneXid())
	}
	if lp := p.ItemID(1); !lp.IsRedirected() || lp.Redirect() != 3 || lp.Len() != 0 {
		t.Errorf("lp 1 %v", lp)
	}
	if lp := p.ItemID(2); lp != 0 {
		t.Errorf("lp 2 %v", lp)
	}
	if lp := p.ItemID(4); !lp.IsDead() || lp.Off() != 0 || lp.Len() != 0 {
		t.Errorf("lp 4 %v", lp)
	}
	// The two remaining tuples are packed against pd_special in line
	// pointer order: 3 at the top, then 5.
	if lp := p.ItemID(3); lp.Off() != schema.BLCKSZ-32 || !bytes.Equal(mustItem(t, p, 3), tups[2]) {
		t.Errorf("lp 3 %v", lp)
	}
	if lp := p.ItemID(5); lp.Off() != schema.BLCKSZ-64 || !bytes.Equal(mustItem(t, p, 5), tups[4]) {
		t.Errorf("lp 5 %v", lp)
	}
	if p.Upper() != schema.BLCKSZ-64 || p.Lower() != 24+4*5 {
		t.Errorf("lower %d upper %d", p.Lower(), p.Upper())
	}

	// Replaying again: BLK_DONE.
	before := bytes.Clone(p)
	mustApply(t, e, rec, pages)
	if p, _ := pages.Get(testTag(2)); !bytes.Equal(p, before) {
		t.Fatal("up-to-date page changed")
	}

	// Unused only, nothing left with storage: pd_upper = pd_special.
	pages.Put(testTag(3), heapPageWith(t, 0x100, heap2Tuple(1, 2, 1, 0x8000|2, 0, 1)))
	rec = assemble(t, schema.RecordSpec{Rmgr: schema.RmgrHeap2, Info: schema.XLogHeap2Prune, MainData: h2PruneMain(0, 0), Blocks: []schema.BlockSpec{
		{ID: 0, Tag: testTag(3), Data: h2OffsetBytes(1)},
	}}, 0x11000)
	mustApply(t, e, rec, pages)
	if p, _ := pages.Get(testTag(3)); p.Upper() != schema.BLCKSZ || p.Lower() != 24 || p.HasFreeLinePointers() {
		t.Fatalf("lower %d upper %d flags %x", p.Lower(), p.Upper(), p.Flags())
	}

	// A missing page is made unavailable; the record is applied.
	rec = assemble(t, schema.RecordSpec{Rmgr: schema.RmgrHeap2, Info: schema.XLogHeap2Prune, MainData: h2PruneMain(0, 1), Blocks: []schema.BlockSpec{
		{ID: 0, Tag: testTag(4), Data: h2OffsetBytes(1)},
	}}, 0x12000)
	if res := mustApply(t, e, rec, pages); len(res.Invalidated) != 1 || !pages.Unavailable(testTag(4)) {
		t.Fatalf("invalidated %v", res.Invalidated)
	}

	// Refused: an offset past the line pointer array, a redirect to offset
	// 0, arrays longer than the data, odd data.
	bad := []struct {
		md   []byte
		data []byte
	}{
		{h2PruneMain(0, 1), h2OffsetBytes(2)},
		{h2PruneMain(1, 0), h2OffsetBytes(1, 0)},
		{h2PruneMain(2, 0), h2OffsetBytes(1, 1)},
		{h2PruneMain(0, 0), []byte{1, 0, 0}},
		{h2PruneMain(0, 0)[:7], h2OffsetBytes(1)},
	}
	for k, b := range bad {
		pages.Put(testTag(5), heapPageWith(t, 0x100, heap2Tuple(1, 2, 1, 2, 0, 1)))
		rec = assemble(t, schema.RecordSpec{Rmgr: schema.RmgrHeap2, Info: schema.XLogHeap2Prune, MainData: b.md, Blocks: []schema.BlockSpec{
			{ID: 0, Tag: testTag(5), Data: b.data},
		}}, schema.LSN(0x13000+0x100*k))
		h2WantUnsupported(t, e, rec, pages)
		if !pages.Unavailable(testTag(5)) {
			t.Fatalf("case %d: page still available", k)
		}
	}
}

func TestHeap2Vacuum(t *testing.T) {
	e := newTestEngine(t)
	pages := NewMemPages()
	p := heapPageWith(t, 0x100, heap2Tuple(1, 0, 1, 2, 0x0900, 1), heap2Tuple(2, 0, 2, 2, 0x0900, 2), heap2Tuple(3, 0, 3, 2, 0x0900, 3))
	// Line pointers 4 and 5: LP_DEAD without storage, as pruning leaves them.
	lower := p.Lower()
	p.SetLower(lower + 8)
	dead := schema.NewItemId(0, schema.LPDead, 0)
	_ = p.SetItemID(4, dead)
	_ = p.SetItemID(5, dead)
	_ = p.SetItemID(2, dead)
	p.SetAllVisible()
	pages.Put(testTag(1), p)
	md := []byte{3, 0}
	rec := assemble(t, schema.RecordSpec{Rmgr: schema.RmgrHeap2, Info: schema.XLogHeap2Vacuum, MainData: md, Blocks: []schema.BlockSpec{
		{ID: 0, Tag: testTag(1), Data: h2OffsetBytes(2, 4, 5)},
	}}, 0x20000)
	mustApply(t, e, rec, pages)
	p, _ = pages.Get(testTag(1))
	// 4 and 5 are cut off, 2 stays as a free line pointer; nothing moves.
	if p.MaxOffsetNumber() != 3 || p.ItemID(2) != 0 || !p.HasFreeLinePointers() || p.LSN() != rec.EndLSN || !p.IsAllVisible() {
		t.Fatalf("maxoff %d lp2 %v flags %x lsn %s", p.MaxOffsetNumber(), p.ItemID(2), p.Flags(), p.LSN())
	}
	if p.Upper() != schema.BLCKSZ-3*32 || !bytes.Equal(mustItem(t, p, 3), heap2Tuple(3, 0, 3, 2, 0x0900, 3)) {
		t.Fatalf("upper %d", p.Upper())
	}

	// Item 1 is never cut off.
	p = heapPageWith(t, 0x100, heap2Tuple(1, 0, 1, 2, 0x0900, 1))
	_ = p.SetItemID(1, dead)
	pages.Put(testTag(1), p)
	rec = assemble(t, schema.RecordSpec{Rmgr: schema.RmgrHeap2, Info: schema.XLogHeap2Vacuum, MainData: []byte{1, 0}, Blocks: []schema.BlockSpec{
		{ID: 0, Tag: testTag(1), Data: h2OffsetBytes(1)},
	}}, 0x21000)
	mustApply(t, e, rec, pages)
	if p, _ = pages.Get(testTag(1)); p.MaxOffsetNumber() != 1 || p.ItemID(1) != 0 || !p.HasFreeLinePointers() {
		t.Fatalf("maxoff %d flags %x", p.MaxOffsetNumber(), p.Flags())
	}

	// Fewer offsets than nunused, or an offset past the array: refused.
	for k, b := range [][]byte{h2OffsetBytes(1), h2OffsetBytes(1, 9)} {
		pages.Put(testTag(1), heapPageWith(t, 0x100, heap2Tuple(1, 0, 1, 2, 0x0900, 1)))
		rec = assemble(t, schema.RecordSpec{Rmgr: schema.RmgrHeap2, Info: schema.XLogHeap2Vacuum, MainData: []byte{2, 0}, Blocks: []schema.BlockSpec{
			{ID: 0, Tag: testTag(1), Data: b},
		}}, schema.LSN(0x22000+0x100*k))
		h2WantUnsupported(t, e, rec, pages)
	}
}

func h2FreezeTuple(xmax uint32, off, infomask2, infomask uint16, flags uint8) []byte {
	b := make([]byte, schema.SizeOfHeapFreezeTuple)
	le := binary.LittleEndian
	le.PutUint32(b, xmax)
	le.PutUint16(b[4:], off)
	le.PutUint16(b[6:], infomask2)
	le.PutUint16(b[8:], infomask)
	b[10] = flags
	b[11] = 0xAA // padding, ignored
	return b
}

func TestHeap2FreezePage(t *testing.T) {
	e := newTestEngine(t)
	pages := NewMemPages()
	t1 := heap2Tuple(100, 200, 1, 2, 0x0100|0x0040, 1)
	binary.LittleEndian.PutUint32(t1[htupCid:], 7)
	t2 := heap2Tuple(101, 0, 2, 3, 0x4000|0x0800, 2) // HEAP_MOVED_OFF
	binary.LittleEndian.PutUint32(t2[htupCid:], 55)  // t_xvac
	t3 := heap2Tuple(102, 0, 3, 3, 0x8000|0x0800, 3) // HEAP_MOVED_IN
	binary.LittleEndian.PutUint32(t3[htupCid:], 56)
	pages.Put(testTag(6), heapPageWith(t, 0x100, t1, t2, t3))

	md := []byte{0x10, 0, 0, 0, 3, 0}
	data := append(h2FreezeTuple(0, 1, 2, 0x0300|0x0800, 0), h2FreezeTuple(0, 2, 3, 0x0B00|0x4000, schema.XLHFreezeXvac)...)
	data = append(data, h2FreezeTuple(9, 3, 0x4003, 0x0B00, schema.XLHInvalidXvac)...)
	rec := assemble(t, schema.RecordSpec{Rmgr: schema.RmgrHeap2, Info: schema.XLogHeap2FreezePage, MainData: md, Blocks: []schema.BlockSpec{
		{ID: 0, Tag: testTag(6), Data: data},
	}}, 0x30000)
	mustApply(t, e, rec, pages)
	p, _ := pages.Get(testTag(6))
	le := binary.LittleEndian
	check := func(off schema.OffsetNumber, xmax, cid uint32, infomask2, infomask uint16) {
		t.Helper()
		got := mustItem(t, p, off)
		if le.Uint32(got[htupXmin:]) != uint32(99+off) || le.Uint32(got[htupXmax:]) != xmax || le.Uint32(got[htupCid:]) != cid ||
			le.Uint16(got[htupInfomask2:]) != infomask2 || le.Uint16(got[htupInfomask:]) != infomask {
			t.Errorf("tuple %d: %x", off, got[:23])
		}
	}
	check(1, 0, 7, 2, 0x0B00)
	check(2, 0, 2, 3, 0x4B00)
	check(3, 9, 0, 0x4003, 0x0B00)
	if p.LSN() != rec.EndLSN {
		t.Errorf("lsn %s", p.LSN())
	}

	// Data shorter than ntuples plans, or an offset without a tuple.
	for k, d := range [][]byte{data[:30], h2FreezeTuple(0, 4, 2, 0x0B00, 0)} {
		pages.Put(testTag(6), heapPageWith(t, 0x100, t1, t2, t3))
		md[4] = byte(len(d) / schema.SizeOfHeapFreezeTuple)
		if len(d) == 30 {
			md[4] = 3
		}
		rec = assemble(t, schema.RecordSpec{Rmgr: schema.RmgrHeap2, Info: schema.XLogHeap2FreezePage, MainData: md, Blocks: []schema.BlockSpec{
			{ID: 0, Tag: testTag(6), Data: d},
		}}, schema.LSN(0x31000+0x100*k))
		h2WantUnsupported(t, e, rec, pages)
	}
}

func h2VisibleRec(t *testing.T, heapBlk schema.BlockNumber, flags uint8, lsn schema.LSN, heapImage []byte) *schema.DecodedRecord {
	t.Helper()
	md := []byte{0x20, 0, 0, 0, flags}
	heap := schema.BlockSpec{ID: 1, Tag: testTag(heapBlk)}
	if heapImage != nil {
		heap.Image, heap.Apply = heapImage, true
	}
	vmTag := schema.BufferTag{Rel: testRel, Fork: schema.VisibilityMapFork, Block: schema.VMBlockOf(heapBlk)}
	return assemble(t, schema.RecordSpec{Rmgr: schema.RmgrHeap2, Info: schema.XLogHeap2Visible, MainData: md, Blocks: []schema.BlockSpec{
		{ID: 0, Tag: vmTag}, heap,
	}}, lsn)
}

func h2VMPage(t *testing.T, lsn schema.LSN) schema.Page {
	t.Helper()
	vm := make(schema.Page, schema.BLCKSZ)
	if err := PageInit(vm, 0); err != nil {
		t.Fatal(err)
	}
	vm.SetLSN(lsn)
	return vm
}

func TestHeap2Visible(t *testing.T) {
	for _, checksums := range []bool{false, true} {
		t.Run(fmt.Sprintf("checksums=%v", checksums), func(t *testing.T) {
			e := newTestEngine(t)
			e.DataChecksums = checksums
			r := &h2VisibleRun{t: t, e: e, pages: NewMemPages(), checksums: checksums}
			r.setsBits()
			r.frozenThenEqualFlags()
			r.heapAheadOrMissing()
			r.heapFromImageNewVMPage()
			r.vmAheadOrMissing()
		})
	}
}

// h2VisibleRun replays VISIBLE records, one step after another, on the
// same pages.
type h2VisibleRun struct {
	t         *testing.T
	e         *Engine
	pages     *MemPages
	checksums bool
}

// setsBits replays a first VISIBLE record: heap block 5 is on vm byte 1,
// bits 2-3.
func (r *h2VisibleRun) setsBits() {
	heapLSN := schema.LSN(0x100)
	r.pages.Put(testTag(5), heapPageWith(r.t, heapLSN, heap2Tuple(1, 0, 1, 2, 0x0900, 1)))
	r.pages.Put(testVMTag, h2VMPage(r.t, 0x80))

	rec := h2VisibleRec(r.t, 5, 0x01, 0x40000, nil)
	mustApply(r.t, r.e, rec, r.pages)
	p, _ := r.pages.Get(testTag(5))
	vm, _ := r.pages.Get(testVMTag)
	if !p.IsAllVisible() || vm[25] != 0x04 || vm.LSN() != rec.EndLSN {
		r.t.Fatalf("heap flags %x vm byte %02x vm lsn %s", p.Flags(), vm[25], vm.LSN())
	}
	// The heap page LSN moves only when XLogHintBitIsNeeded().
	if want := map[bool]schema.LSN{false: heapLSN, true: rec.EndLSN}[r.checksums]; p.LSN() != want {
		r.t.Fatalf("heap lsn %s, want %s", p.LSN(), want)
	}
	if r.checksums {
		for _, pg := range []struct {
			p   schema.Page
			blk schema.BlockNumber
		}{{p, 5}, {vm, 0}} {
			if err := PageIsVerifiedExtended(pg.p, pg.blk, true); err != nil {
				r.t.Fatal(err)
			}
		}
	}
}

// frozenThenEqualFlags sets ALL_FROZEN on top of ALL_VISIBLE, then
// replays flags equal to the bits.
func (r *h2VisibleRun) frozenThenEqualFlags() {
	var rec *schema.DecodedRecord
	var vm schema.Page
	// ALL_FROZEN on top of ALL_VISIBLE: the bits differ from the
	// flags, so they are ORed and the LSN set.
	rec = h2VisibleRec(r.t, 5, 0x02, 0x41000, nil)
	mustApply(r.t, r.e, rec, r.pages)
	if vm, _ = r.pages.Get(testVMTag); vm[25] != 0x0C || vm.LSN() != rec.EndLSN {
		r.t.Fatalf("vm byte %02x lsn %s", vm[25], vm.LSN())
	}
	// Flags equal to the bits: nothing changes, not even the LSN.
	rec = h2VisibleRec(r.t, 5, 0x03, 0x42000, nil)
	mustApply(r.t, r.e, rec, r.pages)
	if vm, _ = r.pages.Get(testVMTag); vm[25] != 0x0C || vm.LSN() != 0x41000+schema.LSN(len(rec.Raw)) {
		r.t.Fatalf("vm byte %02x lsn %s", vm[25], vm.LSN())
	}
}

// heapAheadOrMissing replays with the heap page ahead and then missing.
func (r *h2VisibleRun) heapAheadOrMissing() {
	var rec *schema.DecodedRecord
	var p, vm schema.Page
	// The heap page is ahead (BLK_DONE): still set the vm bit.
	ahead := heapPageWith(r.t, 0x50000, heap2Tuple(1, 0, 1, 2, 0x0900, 1))
	r.pages.Put(testTag(6), bytes.Clone(ahead))
	rec = h2VisibleRec(r.t, 6, 0x01, 0x43000, nil)
	mustApply(r.t, r.e, rec, r.pages)
	if p, _ = r.pages.Get(testTag(6)); !bytes.Equal(p, ahead) {
		r.t.Fatal("up-to-date heap page changed")
	}
	if vm, _ = r.pages.Get(testVMTag); vm[25] != 0x1C {
		r.t.Fatalf("vm byte %02x", vm[25])
	}

	// The heap page missing: unavailable, the vm is still set.
	rec = h2VisibleRec(r.t, 7, 0x03, 0x44000, nil)
	res := mustApply(r.t, r.e, rec, r.pages)
	if vm, _ = r.pages.Get(testVMTag); vm[25] != 0xDC || len(res.Invalidated) != 1 || !r.pages.Unavailable(testTag(7)) {
		r.t.Fatalf("vm byte %02x invalidated %v", vm[25], res.Invalidated)
	}
}

// heapFromImageNewVMPage restores the heap page from an image onto a new
// vm page.
func (r *h2VisibleRun) heapFromImageNewVMPage() {
	var rec *schema.DecodedRecord
	var p, vm schema.Page
	// The heap page restored from an image; a new (zero) vm page is
	// initialized first. Heap block 32672+8 is on vm page 1, byte 2.
	img := heapPageWith(r.t, 0x10, heap2Tuple(1, 0, 1, 2, 0x0900, 9))
	img.SetAllVisible()
	vm1 := schema.BufferTag{Rel: testRel, Fork: schema.VisibilityMapFork, Block: 1}
	r.pages.Put(vm1, make(schema.Page, schema.BLCKSZ))
	rec = h2VisibleRec(r.t, schema.HeapBlocksPerVMPage+8, 0x03, 0x45000, img)
	mustApply(r.t, r.e, rec, r.pages)
	vm, _ = r.pages.Get(vm1)
	want := h2VMPage(r.t, rec.EndLSN)
	want[26] = 0x03
	if r.checksums {
		_ = PageSetChecksumInplace(want, 1)
	}
	if off, eq := ComparePages(vm, want); !eq {
		r.t.Fatalf("new vm page differs at %d", off)
	}
	if p, _ = r.pages.Get(testTag(schema.HeapBlocksPerVMPage + 8)); !p.IsAllVisible() || p.LSN() != rec.EndLSN {
		r.t.Fatalf("restored heap page flags %x lsn %s", p.Flags(), p.LSN())
	}
}

// vmAheadOrMissing replays with the vm page ahead and then missing.
func (r *h2VisibleRun) vmAheadOrMissing() {
	var vm schema.Page
	var res Result
	// The vm page ahead of the record: BLK_DONE.
	vmAhead := h2VMPage(r.t, 0x90000)
	r.pages.Put(testVMTag, bytes.Clone(vmAhead))
	mustApply(r.t, r.e, h2VisibleRec(r.t, 5, 0x01, 0x46000, nil), r.pages)
	if vm, _ = r.pages.Get(testVMTag); !bytes.Equal(vm, vmAhead) {
		r.t.Fatal("up-to-date vm page changed")
	}

	// The vm page missing: unavailable.
	r.pages.Invalidate(testVMTag)
	res = mustApply(r.t, r.e, h2VisibleRec(r.t, 5, 0x01, 0x47000, nil), r.pages)
	if len(res.Invalidated) != 1 || res.Invalidated[0] != testVMTag {
		r.t.Fatalf("invalidated %v", res.Invalidated)
	}
}

func TestHeap2VisibleRefused(t *testing.T) {
	e := newTestEngine(t)
	pages := NewMemPages()
	pages.Put(testTag(5), heapPageWith(t, 0x100, heap2Tuple(1, 0, 1, 2, 0x0900, 1)))
	pages.Put(testVMTag, h2VMPage(t, 0x80))
	// Block 0 is not the heap block's map page.
	rec := assemble(t, schema.RecordSpec{Rmgr: schema.RmgrHeap2, Info: schema.XLogHeap2Visible, MainData: []byte{0, 0, 0, 0, 1}, Blocks: []schema.BlockSpec{
		{ID: 0, Tag: schema.BufferTag{Rel: testRel, Fork: schema.VisibilityMapFork, Block: 1}}, {ID: 1, Tag: testTag(5)},
	}}, 0x48000)
	h2WantUnsupported(t, e, rec, pages)
	// No heap block.
	rec = assemble(t, schema.RecordSpec{Rmgr: schema.RmgrHeap2, Info: schema.XLogHeap2Visible, MainData: []byte{0, 0, 0, 0, 1}, Blocks: []schema.BlockSpec{
		{ID: 0, Tag: testVMTag},
	}}, 0x49000)
	h2WantUnsupported(t, e, rec, pages)
	if !pages.Unavailable(testVMTag) {
		t.Fatal("vm page still available")
	}
}

func TestHeap2LockUpdated(t *testing.T) {
	e := newTestEngine(t)
	pages := NewMemPages()
	// The new version of an updated row: xmax invalid, heap-only, updated,
	// with a stale lock bit and HEAP_MOVED bits to clear.
	tup := heap2Tuple(300, 0, 1, 0x8000|0x4000|0x2000|2, 0x2000|0x0800|0x0100|0x0040|0xC000|0x0020, 1)
	binary.LittleEndian.PutUint32(tup[htupCid:], 4)
	setCtid(tup, 3, 2)
	p := heapPageWith(t, 0x100, tup)
	pages.Put(testTag(3), p)
	vm := h2VMPage(t, 0x80)
	vm[24] = 0xFF
	pages.Put(testVMTag, vm)

	rec := assemble(t, schema.RecordSpec{Rmgr: schema.RmgrHeap2, Info: schema.XLogHeap2LockUpdated, MainData: xmaxMain(555, 1, schema.XLHLXmaxKeyshrLock|schema.XLHLXmaxLockOnly, schema.XLHLockAllFrozenCleared), Blocks: []schema.BlockSpec{
		{ID: 0, Tag: testTag(3)},
	}}, 0x50000)
	mustApply(t, e, rec, pages)
	p, _ = pages.Get(testTag(3))
	got := mustItem(t, p, 1)
	want := bytes.Clone(tup)
	le := binary.LittleEndian
	le.PutUint32(want[htupXmax:], 555)
	le.PutUint16(want[htupInfomask:], 0x2000|0x0100|0x0020|0x0080|0x0010) // xmax bits and MOVED replaced by infobits
	le.PutUint16(want[htupInfomask2:], 0x8000|0x4000|2)                   // KEYS_UPDATED cleared, HOT_UPDATED kept
	if !bytes.Equal(got, want) {
		t.Fatalf("tuple\n got %x\nwant %x", got, want)
	}
	if p.LSN() != rec.EndLSN {
		t.Fatalf("lsn %s", p.LSN())
	}
	// Heap block 3: only ALL_FROZEN (bit 7) cleared; vm LSN unchanged.
	if vm, _ = pages.Get(testVMTag); vm[24] != 0x7F || vm.LSN() != 0x80 {
		t.Fatalf("vm byte %02x lsn %s", vm[24], vm.LSN())
	}

	// Up to date: only the vm is fixed.
	vm[24] = 0xFF
	before := bytes.Clone(p)
	mustApply(t, e, rec, pages)
	if p, _ = pages.Get(testTag(3)); !bytes.Equal(p, before) || vm[24] != 0x7F {
		t.Fatalf("page changed or vm byte %02x", vm[24])
	}

	// Multi and KEYS_UPDATED infobits.
	rec = assemble(t, schema.RecordSpec{Rmgr: schema.RmgrHeap2, Info: schema.XLogHeap2LockUpdated, MainData: xmaxMain(77, 1, schema.XLHLXmaxIsMulti|schema.XLHLXmaxExclLock|schema.XLHLKeysUpdated, 0), Blocks: []schema.BlockSpec{
		{ID: 0, Tag: testTag(3)},
	}}, 0x51000)
	mustApply(t, e, rec, pages)
	p, _ = pages.Get(testTag(3))
	got = mustItem(t, p, 1)
	if le.Uint32(got[htupXmax:]) != 77 || le.Uint16(got[htupInfomask:]) != 0x2000|0x0100|0x0020|0x1000|0x0040 || le.Uint16(got[htupInfomask2:]) != 0x8000|0x4000|0x2000|2 {
		t.Fatalf("tuple %x", got[:23])
	}

	// Not a normal line pointer: PANIC "invalid lp".
	for k, off := range []uint16{2, 0} {
		rec = assemble(t, schema.RecordSpec{Rmgr: schema.RmgrHeap2, Info: schema.XLogHeap2LockUpdated, MainData: xmaxMain(1, off, 0, 0), Blocks: []schema.BlockSpec{
			{ID: 0, Tag: testTag(3)},
		}}, schema.LSN(0x52000+0x100*k))
		h2WantUnsupported(t, e, rec, pages)
		pages.Put(testTag(3), before)
	}
}

// h2StrictHeapMask masks less than heap_mask: only what PostgreSQL changes
// without WAL or redo sets differently (LSN, checksum, pd_prune_xid,
// PD_PAGE_FULL and PD_HAS_FREE_LINES, free space, the infomask commit
// hints and COMBOCID, t_cid, padding). Lock and update bits of t_infomask,
// which heap_mask hides for unfrozen tuples, are compared.
func h2StrictHeapMask(page schema.Page) {
	page.SetLSN(0)
	page.SetChecksum(0)
	page.SetPruneXid(0)
	page.SetFlags(page.Flags() &^ (schema.PDPageFull | schema.PDHasFreeLines))
	if lo, up := int(page.Lower()), int(page.Upper()); lo <= up && up <= len(page) {
		clear(page[lo:up])
	}
	le := binary.LittleEndian
	for off := schema.FirstOffsetNumber; off <= page.MaxOffsetNumber(); off++ {
		lp := page.ItemID(off)
		if !lp.HasStorage() || int(lp.Off())+maxAlign(int(lp.Len())) > len(page) {
			continue
		}
		item := page[lp.Off() : int(lp.Off())+maxAlign(int(lp.Len()))]
		clear(item[lp.Len():])
		if lp.IsNormal() && len(item) >= schema.SizeofHeapTupleHeader {
			// Commit hints; but the frozen bits (both xmin bits) are logged.
			im := le.Uint16(item[htupInfomask:])
			hints := uint16(0x0F00 | schema.HeapComboCid)
			if im&0x0300 == 0x0300 {
				hints = 0x0C00 | schema.HeapComboCid
			}
			le.PutUint16(item[htupInfomask:], im&^hints)
			le.PutUint32(item[htupCid:], 0)
		}
	}
}

// strictHeap2Check replays the cluster's WAL from start with an engine of
// the cluster's checksum setting and, after each Heap2 record of the types
// implemented here, compares every block with a consistency image more
// strictly than heap_mask does: vm pages in full (but the LSN and checksum),
// heap pages with h2StrictHeapMask. With checksums, every page such a record
// left available must carry a valid checksum. It returns the number of
// blocks compared per record type.
func strictHeap2Check(t *testing.T, c *pgtest.Cluster, start string, checksums bool) map[string]int {
	t.Helper()
	d := clusterWAL(t, c, start)
	e := newTestEngine(t)
	e.DataChecksums = checksums
	compared, features := map[string]int{}, map[string]int{}
	failures := 0
	primary := make(schema.Page, schema.BLCKSZ)
	apply := func(rec *schema.DecodedRecord, pages Pages) (Result, error) {
		res, err := e.Apply(rec, pages)
		if err != nil || rec.Rmgr() != schema.RmgrHeap2 {
			return res, err
		}
		switch rec.Info() & schema.XLogHeapOpMask {
		case schema.XLogHeap2Prune, schema.XLogHeap2Vacuum, schema.XLogHeap2FreezePage, schema.XLogHeap2Visible, schema.XLogHeap2LockUpdated:
		default:
			return res, err
		}
		name := schema.RecordTypeName(rec.Rmgr(), rec.Info())
		heap2Features(rec, features)
		for i := range rec.Blocks {
			blk := &rec.Blocks[i]
			page, ok := pages.Get(blk.Tag)
			if !ok {
				continue
			}
			if checksums {
				if err := PageIsVerifiedExtended(page, blk.Tag.Block, true); err != nil && failures < 10 {
					failures++
					t.Errorf("%s at %s, %s: %v", name, rec.LSN, blk.Tag, err)
				}
			}
			if !ConsistencyCheckBlock(rec, blk) || page.LSN() > rec.EndLSN {
				continue
			}
			if err := e.Restorer.Restore(primary, rec, blk); err != nil {
				return res, err
			}
			a, b := bytes.Clone(primary), bytes.Clone(page)
			if blk.Tag.Fork == schema.VisibilityMapFork {
				for _, p := range []schema.Page{a, b} {
					p.SetLSN(0)
					p.SetChecksum(0)
				}
			} else {
				h2StrictHeapMask(a)
				h2StrictHeapMask(b)
			}
			compared[name]++
			if off, eq := ComparePages(a, b); !eq && failures < 10 {
				failures++
				t.Errorf("strict: %s at %s, %s differs at byte %d: primary %x replay %x", name, rec.LSN, blk.Tag, off,
					a[off&^7:min(off&^7+16, len(a))], b[off&^7:min(off&^7+16, len(b))])
			}
		}
		return res, err
	}
	if _, err := verifyWith(context.Background(), d, e.Restorer, apply); err != nil {
		t.Fatal(err)
	}
	t.Logf("record features: %v", features)
	want := []string{"PRUNE redirected", "PRUNE dead", "PRUNE unused", "VISIBLE flags 0x01", "VISIBLE flags 0x02", "VISIBLE flags 0x03", "VISIBLE vm image"}
	if checksums {
		want = append(want, "VISIBLE heap image")
	}
	for _, f := range want {
		if features[f] == 0 {
			t.Errorf("no record with %s", f)
		}
	}
	return compared
}

// heap2Features counts what a record exercises.
func heap2Features(rec *schema.DecodedRecord, features map[string]int) {
	md := rec.MainData
	blk := rec.Block(0)
	switch rec.Info() & schema.XLogHeapOpMask {
	case schema.XLogHeap2Prune:
		if blk == nil || len(md) < schema.SizeOfHeapPrune || blk.ApplyImage() {
			return
		}
		nred, ndead := int(binary.LittleEndian.Uint16(md[4:])), int(binary.LittleEndian.Uint16(md[6:]))
		if nred > 0 {
			features["PRUNE redirected"]++
		}
		if ndead > 0 {
			features["PRUNE dead"]++
		}
		if len(blk.Data)/2 > 2*nred+ndead {
			features["PRUNE unused"]++
		}
	case schema.XLogHeap2Visible:
		if len(md) >= schema.SizeOfHeapVisible {
			features[fmt.Sprintf("VISIBLE flags 0x%02x", md[4])]++
		}
		if b := rec.Block(1); b != nil && b.ApplyImage() {
			features["VISIBLE heap image"]++
		}
		if blk != nil && blk.ApplyImage() {
			features["VISIBLE vm image"]++
		}
	case schema.XLogHeap2LockUpdated:
		if len(md) >= schema.SizeOfHeapLockUpdated && md[7]&schema.XLHLockAllFrozenCleared != 0 {
			features["LOCK_UPDATED all-frozen cleared"]++
		}
	}
}

// heap2Workload runs SQL that writes every Heap2 record type implemented
// here, with checkpoints placed so that the pages they touch are available
// (not made unavailable by Heap UPDATE and LOCK, which may not be
// implemented yet) and not restored from an image by the record itself.
func heap2Workload(t *testing.T, c *pgtest.Cluster) {
	ctx := context.Background()
	// a: no index (VACUUM sets LP_DEAD items unused in its first pass);
	// h: HOT chains (redirects) and an index (second heap pass).
	c.Exec(t, `CREATE TABLE a (id int, v text) WITH (autovacuum_enabled = off);
		CREATE TABLE h (id int, v text) WITH (fillfactor = 50, autovacuum_enabled = off);
		CREATE INDEX h_id ON h (id);
		CREATE TABLE l (id int, v text) WITH (autovacuum_enabled = off)`)
	c.Exec(t, `INSERT INTO a SELECT g, repeat('a', g % 50) FROM generate_series(1, 1500) g`)
	c.Exec(t, `INSERT INTO h SELECT g, 'h' || g FROM generate_series(1, 300) g`)
	c.Exec(t, `INSERT INTO l SELECT g, 'l' || g FROM generate_series(1, 20) g`)
	c.Exec(t, `DELETE FROM a WHERE id % 3 = 0`)
	c.Exec(t, `VACUUM a`) // PRUNE (dead), VACUUM, VISIBLE (vm page 0 new: image)
	c.Exec(t, `DELETE FROM a WHERE id % 7 = 0`)
	c.Exec(t, `VACUUM a`)        // again: VISIBLE on an available vm page
	c.Exec(t, `VACUUM FREEZE a`) // FREEZE_PAGE, VISIBLE (ALL_FROZEN)

	// HOT updates; a checkpoint, then a delete on every page makes it
	// available from an image even without Heap UPDATE redo.
	for range 3 {
		c.Exec(t, `UPDATE h SET v = v || 'x' WHERE id % 4 <> 0`)
	}
	c.Checkpoint(t)
	c.Exec(t, `DELETE FROM h WHERE id % 10 = 0`)
	c.Exec(t, `DELETE FROM h WHERE id % 10 = 5`)
	c.Exec(t, `VACUUM h`) // PRUNE with redirects, dead and unused; btree; VACUUM; VISIBLE
	c.Exec(t, `VACUUM FREEZE h`)
	// Opportunistic pruning by a scan of a page with old dead tuples.
	c.Exec(t, `DELETE FROM a WHERE id % 5 = 1`)
	c.Exec(t, `INSERT INTO a SELECT g, repeat('b', 60) FROM generate_series(1, 300) g`)
	c.Exec(t, `SELECT count(*) FROM a`)

	// LOCK_UPDATED: while an update of a row (no key change) is in
	// progress, FOR KEY SHARE in another session locks the old version and
	// follows the update chain, locking the new version too.
	upd, err := c.Connect(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	defer upd.Close(ctx)
	locker, err := c.Connect(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	defer locker.Close(ctx)
	tx, err := upd.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `UPDATE l SET v = v || '!' WHERE id <= 4`); err != nil {
		t.Fatal(err)
	}
	for id := 1; id <= 4; id++ {
		// Without Heap UPDATE and LOCK redo, the HOT update and the lock
		// of the old version leave l's page unavailable: a checkpoint and
		// an insert restore it from an image before each lock.
		c.Checkpoint(t)
		c.Exec(t, `INSERT INTO l VALUES (100, 'touch')`)
		if _, err := locker.Exec(ctx, `SELECT * FROM l WHERE id = $1 FOR KEY SHARE`, id); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	c.Checkpoint(t)
	c.Exec(t, `VACUUM FREEZE l`)

	// VISIBLE as the first change after a checkpoint (hint bits set
	// before it, nothing to prune or freeze): with checksums the heap page
	// is restored from the record's image.
	c.Exec(t, `CREATE TABLE v (id int) WITH (autovacuum_enabled = off);
		INSERT INTO v SELECT generate_series(1, 500)`)
	c.Exec(t, `SELECT count(*) FROM v`)
	c.Checkpoint(t)
	c.Exec(t, `VACUUM v`)
	// VACUUM commits without an xid, so nothing has flushed its records:
	// pg_current_wal_lsn() (the write position) may not cover them yet.
	c.Checkpoint(t)
}

// TestVerifyHeap2 replays the WAL of a workload reaching every Heap2 type
// implemented here, from clusters with wal_consistency_checking=all with
// and without data checksums, and checks every compared block against the
// primary's image (and, more strictly, with strictHeap2Check).
func TestVerifyHeap2(t *testing.T) {
	for _, checksums := range []bool{false, true} {
		t.Run(fmt.Sprintf("checksums=%v", checksums), func(t *testing.T) {
			c := pgtest.Start(t, pgtest.Options{
				WALConsistencyChecking: "all",
				DataChecksums:          checksums,
				ExtraConf:              map[string]string{"autovacuum": "off"},
			})
			start := c.CreatePhysicalSlot(t, "keep")
			heap2Workload(t, c)
			rep := verifyCluster(t, c, start)
			if rep.Mismatches != 0 {
				t.Errorf("%d mismatches", rep.Mismatches)
			}
			wantVerifiedClean(t, rep, "Heap2/PRUNE", "Heap2/VACUUM", "Heap2/FREEZE_PAGE", "Heap2/VISIBLE", "Heap2/LOCK_UPDATED")
			strict := strictHeap2Check(t, c, start, checksums)
			t.Logf("strict comparisons: %v", strict)
			for _, n := range []string{"Heap2/PRUNE", "Heap2/VACUUM", "Heap2/FREEZE_PAGE", "Heap2/VISIBLE", "Heap2/LOCK_UPDATED"} {
				if strict[n] == 0 {
					t.Errorf("%s: no strict comparison", n)
				}
			}
		})
	}
}
