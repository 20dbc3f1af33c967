package redo

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/pagemill/pagemill/internal/pgtest"
	"github.com/pagemill/pagemill/schema"
)

var testVMTag = schema.BufferTag{Rel: testRel, Fork: schema.VisibilityMapFork, Block: 0}

// heapPageWith returns an initialized heap page holding the given tuples
// at offsets 1..n, with page LSN lsn.
func heapPageWith(t *testing.T, lsn schema.LSN, tuples ...[]byte) schema.Page {
	t.Helper()
	p := make(schema.Page, schema.BLCKSZ)
	if err := PageInit(p, 0); err != nil {
		t.Fatal(err)
	}
	for i, tup := range tuples {
		if _, err := PageAddItemExtended(p, tup, schema.OffsetNumber(i+1), PAIOverwrite|PAIIsHeap); err != nil {
			t.Fatal(err)
		}
	}
	p.SetLSN(lsn)
	return p
}

// walTuple is the xl_heap_header plus body an INSERT logs.
func walTuple(infomask2, infomask uint16, hoff uint8, body []byte) []byte {
	d := make([]byte, schema.SizeOfHeapHeader, schema.SizeOfHeapHeader+len(body))
	binary.LittleEndian.PutUint16(d[0:], infomask2)
	binary.LittleEndian.PutUint16(d[2:], infomask)
	d[4] = hoff
	return append(d, body...)
}

// wantTuple is the tuple redo must build, written out field by field.
func wantTuple(xid uint32, blk schema.BlockNumber, off uint16, infomask2, infomask uint16, hoff uint8, body []byte) []byte {
	tup := make([]byte, 23, 23+len(body))
	le := binary.LittleEndian
	le.PutUint32(tup[0:], xid)                 // t_xmin
	le.PutUint16(tup[12:], uint16(blk>>16))    // ctid bi_hi
	le.PutUint16(tup[14:], uint16(blk&0xFFFF)) // ctid bi_lo
	le.PutUint16(tup[16:], off)                // ctid posid
	le.PutUint16(tup[18:], infomask2)
	le.PutUint16(tup[20:], infomask&^0x0020)
	tup[22] = hoff
	return append(tup, body...)
}

func insertMain(off uint16, flags uint8) []byte {
	md := make([]byte, 3)
	binary.LittleEndian.PutUint16(md, off)
	md[2] = flags
	return md
}

func mustApply(t *testing.T, e *Engine, rec *schema.DecodedRecord, pages Pages) Result {
	t.Helper()
	res, err := e.Apply(rec, pages)
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	return res
}

func mustItem(t *testing.T, p schema.Page, off schema.OffsetNumber) []byte {
	t.Helper()
	it, err := p.Item(off)
	if err != nil {
		t.Fatal(err)
	}
	return it
}

func TestHeapInsertInitPage(t *testing.T) {
	e := newTestEngine(t)
	pages := NewMemPages()
	// bitmap byte 0x01 (first attribute not null), padding to t_hoff 24, data.
	body := []byte{0x01, 0xAA, 0xBB, 0xCC, 0xDD, 0xEE}
	rec := assemble(t, schema.RecordSpec{Xid: 731, Rmgr: schema.RmgrHeap, Info: schema.XLogHeapInitPage, MainData: insertMain(1, 0), Blocks: []schema.BlockSpec{
		{ID: 0, Tag: testTag(7), WillInit: true, Data: walTuple(2, 0x0801|0x0020, 24, body)},
	}}, 0x10000)
	mustApply(t, e, rec, pages)
	p, ok := pages.Get(testTag(7))
	if !ok {
		t.Fatal("page not created")
	}
	want := wantTuple(731, 7, 1, 2, 0x0801, 24, body)
	if got := mustItem(t, p, 1); !bytes.Equal(got, want) {
		t.Fatalf("tuple\n got %x\nwant %x", got, want)
	}
	if p.LSN() != rec.EndLSN || p.Lower() != 28 || int(p.Upper()) != schema.BLCKSZ-maxAlign(len(want)) || p.Flags() != 0 {
		t.Fatalf("header lsn %s lower %d upper %d flags %x", p.LSN(), p.Lower(), p.Upper(), p.Flags())
	}
	// +INIT rebuilds even an up-to-date page.
	other := heapPageWith(t, rec.EndLSN+100, make([]byte, 40), make([]byte, 40))
	pages.Put(testTag(7), other)
	mustApply(t, e, rec, pages)
	if p, _ := pages.Get(testTag(7)); p.MaxOffsetNumber() != 1 || p.LSN() != rec.EndLSN {
		t.Fatalf("init did not rebuild: maxoff %d lsn %s", p.MaxOffsetNumber(), p.LSN())
	}
}

func TestHeapInsertExisting(t *testing.T) {
	e := newTestEngine(t)
	pages := NewMemPages()
	old := make([]byte, 30)
	p := heapPageWith(t, 0x100, old)
	p.SetAllVisible()
	pages.Put(testTag(3), p)
	vm := make(schema.Page, schema.BLCKSZ)
	if err := PageInit(vm, 0); err != nil {
		t.Fatal(err)
	}
	vm.SetLSN(0x50)
	vm[24] = 0xFF // heap blocks 0..3 all-visible and all-frozen
	pages.Put(testVMTag, vm)

	body := make([]byte, 9)
	body[1] = 0x42
	rec := assemble(t, schema.RecordSpec{Xid: 900, Rmgr: schema.RmgrHeap, Info: 0, MainData: insertMain(2, schema.XLHInsertAllVisibleCleared), Blocks: []schema.BlockSpec{
		{ID: 0, Tag: testTag(3), Data: walTuple(1, 0x0802, 24, body)},
	}}, 0x2000)
	mustApply(t, e, rec, pages)
	p, _ = pages.Get(testTag(3))
	want := wantTuple(900, 3, 2, 1, 0x0802, 24, body)
	if got := mustItem(t, p, 2); !bytes.Equal(got, want) {
		t.Fatalf("tuple\n got %x\nwant %x", got, want)
	}
	if p.IsAllVisible() || p.LSN() != rec.EndLSN || p.MaxOffsetNumber() != 2 {
		t.Fatalf("flags %x lsn %s maxoff %d", p.Flags(), p.LSN(), p.MaxOffsetNumber())
	}
	vm, _ = pages.Get(testVMTag)
	// heap block 3: bits 6-7 of byte 0 cleared; LSN unchanged.
	if vm[24] != 0x3F || vm.LSN() != 0x50 {
		t.Fatalf("vm byte %02x lsn %s", vm[24], vm.LSN())
	}

	// Replaying again: the page is up to date (BLK_DONE), nothing changes.
	before := bytes.Clone(p)
	mustApply(t, e, rec, pages)
	if p, _ := pages.Get(testTag(3)); !bytes.Equal(p, before) {
		t.Fatal("up-to-date page changed")
	}
}

func TestHeapInsertMissingPages(t *testing.T) {
	e := newTestEngine(t)
	pages := NewMemPages()
	rec := assemble(t, schema.RecordSpec{Xid: 5, Rmgr: schema.RmgrHeap, Info: 0, MainData: insertMain(1, schema.XLHInsertAllVisibleCleared), Blocks: []schema.BlockSpec{
		{ID: 0, Tag: testTag(1), Data: walTuple(1, 0x0802, 24, []byte{0, 1})},
	}}, 0x3000)
	res := mustApply(t, e, rec, pages)
	if !pages.Unavailable(testTag(1)) || !pages.Unavailable(testVMTag) || len(res.Invalidated) != 2 {
		t.Fatalf("invalidated %v", res.Invalidated)
	}

	// A new (all-zero) vm page is initialized, as vm_readbuf does.
	pages.Put(testVMTag, make(schema.Page, schema.BLCKSZ))
	mustApply(t, e, rec, pages)
	vm, _ := pages.Get(testVMTag)
	if vm.IsNew() || vm.Lower() != 24 || vm.Upper() != schema.BLCKSZ || vm.LSN() != 0 {
		t.Fatalf("vm page lower %d upper %d lsn %s", vm.Lower(), vm.Upper(), vm.LSN())
	}
}

func TestHeapInsertRefused(t *testing.T) {
	e := newTestEngine(t)
	pages := NewMemPages()
	pages.Put(testTag(0), heapPageWith(t, 0x10, make([]byte, 30)))
	// offnum 3 on a page with one item: PostgreSQL PANICs.
	rec := assemble(t, schema.RecordSpec{Xid: 5, Rmgr: schema.RmgrHeap, Info: 0, MainData: insertMain(3, 0), Blocks: []schema.BlockSpec{
		{ID: 0, Tag: testTag(0), Data: walTuple(1, 0x0802, 24, []byte{0, 1})},
	}}, 0x3000)
	var uns *Unsupported
	if _, err := e.Apply(rec, pages); !errors.As(err, &uns) || !pages.Unavailable(testTag(0)) {
		t.Fatalf("err %v", err)
	}
	// Occupied slot: PageAddItem refuses to overwrite.
	pages.Put(testTag(0), heapPageWith(t, 0x10, make([]byte, 30)))
	rec = assemble(t, schema.RecordSpec{Xid: 5, Rmgr: schema.RmgrHeap, Info: 0, MainData: insertMain(1, 0), Blocks: []schema.BlockSpec{
		{ID: 0, Tag: testTag(0), Data: walTuple(1, 0x0802, 24, []byte{0, 1})},
	}}, 0x3000)
	if _, err := e.Apply(rec, pages); !errors.As(err, &uns) || !pages.Unavailable(testTag(0)) {
		t.Fatalf("err %v", err)
	}
}

func multiInsertData(tuples ...[]byte) []byte {
	// each element: datalen, infomask2 1, infomask 0x0800, hoff 24, then data
	var d []byte
	for _, body := range tuples {
		if len(d)%2 == 1 {
			d = append(d, 0xEE) // SHORTALIGN padding
		}
		h := make([]byte, schema.SizeOfMultiInsertTuple)
		binary.LittleEndian.PutUint16(h[0:], uint16(len(body)))
		binary.LittleEndian.PutUint16(h[2:], 1)
		binary.LittleEndian.PutUint16(h[4:], 0x0800)
		h[6] = 24
		d = append(append(d, h...), body...)
	}
	return d
}

func TestHeapMultiInsert(t *testing.T) {
	e := newTestEngine(t)
	pages := NewMemPages()
	bodies := [][]byte{{0, 1, 2, 3, 4}, {0, 9, 9, 9, 9, 9}, {0, 7, 7, 7, 7}}

	// +INIT: offsets implied 1..n, ALL_FROZEN_SET sets PD_ALL_VISIBLE.
	md := []byte{schema.XLHInsertAllFrozenSet, 0, 3, 0}
	rec := assemble(t, schema.RecordSpec{Xid: 44, Rmgr: schema.RmgrHeap2, Info: 0x50 | schema.XLogHeapInitPage, MainData: md, Blocks: []schema.BlockSpec{
		{ID: 0, Tag: testTag(70000), WillInit: true, Data: multiInsertData(bodies...)},
	}}, 0x5000)
	mustApply(t, e, rec, pages)
	p, _ := pages.Get(testTag(70000))
	for i, b := range bodies {
		want := wantTuple(44, 70000, uint16(i+1), 1, 0x0800, 24, b)
		if got := mustItem(t, p, schema.OffsetNumber(i+1)); !bytes.Equal(got, want) {
			t.Fatalf("tuple %d\n got %x\nwant %x", i+1, got, want)
		}
	}
	if !p.IsAllVisible() || p.LSN() != rec.EndLSN || p.MaxOffsetNumber() != 3 {
		t.Fatalf("flags %x lsn %s", p.Flags(), p.LSN())
	}

	// Into an existing page with explicit offsets, clearing all-visible;
	// heap block 70000 is on vm page 2.
	vmTag := schema.BufferTag{Rel: testRel, Fork: schema.VisibilityMapFork, Block: 2}
	vm := make(schema.Page, schema.BLCKSZ)
	_ = PageInit(vm, 0)
	pos := 24 + (70000%schema.HeapBlocksPerVMPage)/4
	vm[pos] = 0xFF
	pages.Put(vmTag, vm)
	md = []byte{schema.XLHInsertAllVisibleCleared, 0, 2, 0, 4, 0, 5, 0}
	rec = assemble(t, schema.RecordSpec{Xid: 45, Rmgr: schema.RmgrHeap2, Info: 0x50, MainData: md, Blocks: []schema.BlockSpec{
		{ID: 0, Tag: testTag(70000), Data: multiInsertData(bodies[1], bodies[0])},
	}}, 0x6000)
	mustApply(t, e, rec, pages)
	p, _ = pages.Get(testTag(70000))
	if got, want := mustItem(t, p, 5), wantTuple(45, 70000, 5, 1, 0x0800, 24, bodies[0]); !bytes.Equal(got, want) {
		t.Fatalf("tuple 5\n got %x\nwant %x", got, want)
	}
	if p.IsAllVisible() || p.MaxOffsetNumber() != 5 {
		t.Fatalf("flags %x maxoff %d", p.Flags(), p.MaxOffsetNumber())
	}
	vm, _ = pages.Get(vmTag)
	if shift := (70000 % 4) * 2; vm[pos] != 0xFF&^(3<<shift) {
		t.Fatalf("vm byte %02x", vm[pos])
	}

	// Trailing bytes after the last tuple: "total tuple length mismatch".
	bad := append(multiInsertData(bodies[0]), 1, 2)
	rec = assemble(t, schema.RecordSpec{Xid: 46, Rmgr: schema.RmgrHeap2, Info: 0x50 | schema.XLogHeapInitPage, MainData: []byte{0, 0, 1, 0}, Blocks: []schema.BlockSpec{
		{ID: 0, Tag: testTag(9), WillInit: true, Data: bad},
	}}, 0x7000)
	var uns *Unsupported
	if _, err := e.Apply(rec, pages); !errors.As(err, &uns) || !pages.Unavailable(testTag(9)) {
		t.Fatalf("err %v", err)
	}
}

// xmaxMain is the main data of DELETE and of Heap2 LOCK_UPDATED, which
// share a layout: xmax, offnum, infobits_set, flags.
func xmaxMain(xmax uint32, off uint16, infobits, flags uint8) []byte {
	md := make([]byte, schema.SizeOfHeapDelete)
	binary.LittleEndian.PutUint32(md, xmax)
	binary.LittleEndian.PutUint16(md[4:], off)
	md[6], md[7] = infobits, flags
	return md
}

func TestHeapDelete(t *testing.T) {
	e := newTestEngine(t)
	pages := NewMemPages()
	tup := wantTuple(100, 4, 1, 0x4000|0x2000|3, 0x0800|0x0100|0x0020|0x4000, 24, []byte{1, 2, 3, 4})
	binary.LittleEndian.PutUint32(tup[8:], 77) // old cid
	p := heapPageWith(t, 0x10, tup)
	p.SetAllVisible()
	p.SetPruneXid(300)
	pages.Put(testTag(4), p)

	rec := assemble(t, schema.RecordSpec{Xid: 200, Rmgr: schema.RmgrHeap, Info: 0x10, MainData: xmaxMain(200, 1, schema.XLHLKeysUpdated, schema.XLHDeleteAllVisibleCleared), Blocks: []schema.BlockSpec{
		{ID: 0, Tag: testTag(4)},
	}}, 0x8000)
	res := mustApply(t, e, rec, pages)
	if len(res.Invalidated) != 1 || res.Invalidated[0] != testVMTag {
		t.Fatalf("invalidated %v (vm page unknown)", res.Invalidated)
	}
	p, _ = pages.Get(testTag(4))
	got := mustItem(t, p, 1)
	le := binary.LittleEndian
	if x := le.Uint32(got[4:]); x != 200 {
		t.Errorf("xmax %d", x)
	}
	if c := le.Uint32(got[8:]); c != 0 {
		t.Errorf("cid %d", c)
	}
	if im := le.Uint16(got[20:]); im != 0x0100 {
		t.Errorf("infomask %04x, want 0100 (xmax bits, moved and combocid cleared)", im)
	}
	if im2 := le.Uint16(got[18:]); im2 != 0x2000|3 {
		t.Errorf("infomask2 %04x, want keys-updated from infobits, hot-updated cleared", im2)
	}
	if p.PruneXid() != 200 || p.IsAllVisible() || p.LSN() != rec.EndLSN {
		t.Errorf("prune %d flags %x lsn %s", p.PruneXid(), p.Flags(), p.LSN())
	}

	// Speculative abort and partition move.
	rec = assemble(t, schema.RecordSpec{Xid: 400, Rmgr: schema.RmgrHeap, Info: 0x10, MainData: xmaxMain(400, 1, schema.XLHLXmaxIsMulti|schema.XLHLXmaxLockOnly, schema.XLHDeleteIsSuper|schema.XLHDeleteIsPartitionMove), Blocks: []schema.BlockSpec{
		{ID: 0, Tag: testTag(4)},
	}}, 0x9000)
	mustApply(t, e, rec, pages)
	p, _ = pages.Get(testTag(4))
	got = mustItem(t, p, 1)
	if le.Uint32(got[0:]) != 0 || le.Uint32(got[4:]) != 200 {
		t.Errorf("xmin %d xmax %d", le.Uint32(got[0:]), le.Uint32(got[4:]))
	}
	if !bytes.Equal(got[12:18], []byte{0xFF, 0xFF, 0xFF, 0xFF, 0xFD, 0xFF}) {
		t.Errorf("ctid %x", got[12:18])
	}
	if im := le.Uint16(got[20:]); im != 0x0100|0x1000|0x0080 {
		t.Errorf("infomask %04x", im)
	}
	if p.PruneXid() != 200 {
		t.Errorf("prune xid %d, want the older 200", p.PruneXid())
	}

	// An item that is not LP_NORMAL: PANIC "invalid lp" → unsupported.
	rec = assemble(t, schema.RecordSpec{Xid: 500, Rmgr: schema.RmgrHeap, Info: 0x10, MainData: xmaxMain(500, 2, 0, 0), Blocks: []schema.BlockSpec{
		{ID: 0, Tag: testTag(4)},
	}}, 0xA000)
	var uns *Unsupported
	if _, err := e.Apply(rec, pages); !errors.As(err, &uns) || !pages.Unavailable(testTag(4)) {
		t.Fatalf("err %v", err)
	}
}

// TestVerifyHeapRecords replays a workload of heap inserts, multi-inserts
// and deletes on a cluster with wal_consistency_checking=all and checks
// every compared block against the primary's image.
func TestVerifyHeapRecords(t *testing.T) {
	c := pgtest.Start(t, pgtest.Options{WALConsistencyChecking: "all"})
	start := c.CreatePhysicalSlot(t, "keep")
	c.Exec(t, `CREATE TABLE t1 (id int, v text, w int); CREATE TABLE t2 (i int); CREATE TABLE t3 (a int, b text)`)
	c.Exec(t, `INSERT INTO t3 SELECT g, 'row ' || g FROM generate_series(1, 20) g`)
	c.Checkpoint(t)
	c.Exec(t, `VACUUM t3`) // all-visible: later deletes clear the vm bits
	c.Checkpoint(t)
	c.Exec(t, `DO $$ BEGIN
		FOR i IN 1..600 LOOP
			INSERT INTO t1 VALUES (i, CASE WHEN i % 3 = 0 THEN NULL ELSE repeat('x', i % 70) END, CASE WHEN i % 5 = 0 THEN NULL ELSE i END);
		END LOOP; END $$`)
	c.Exec(t, `COPY t2 FROM PROGRAM 'seq 1 5000'`)
	c.Exec(t, `INSERT INTO t2 SELECT g FROM generate_series(1, 3000) g`)
	c.Exec(t, `COPY t1 (id, v) FROM PROGRAM 'seq 1 800 | sed s/$/,abc/' WITH (FORMAT csv)`)
	c.Exec(t, `DELETE FROM t1 WHERE id % 4 = 0`)
	c.Exec(t, `DELETE FROM t2 WHERE i % 7 = 0`)
	c.Exec(t, `DELETE FROM t3 WHERE a % 3 = 0`)
	c.Exec(t, `INSERT INTO t3 VALUES (100, 'new')`)
	c.Exec(t, `BEGIN; DELETE FROM t1 WHERE id % 9 = 1; ROLLBACK`)
	rep := verifyCluster(t, c, start)
	wantVerifiedClean(t, rep, "Heap/INSERT", "Heap/INSERT+INIT", "Heap2/MULTI_INSERT", "Heap2/MULTI_INSERT+INIT", "Heap/DELETE")
}
