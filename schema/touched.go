package schema

// Pages a record changes without naming them as block references.
//
// Heap redo clears visibility-map bits on the vm fork (visibilitymap_clear
// in heap_xlog_insert and friends) for the heap block's map page, which is
// not a block reference of the record. Whoever materializes that vm page
// must see the record too.

// HeapBlocksPerVMPage is HEAPBLOCKS_PER_PAGE: 2 bits per heap block in the
// usable space of a vm page (BLCKSZ - MAXALIGN(SizeOfPageHeaderData)).
const HeapBlocksPerVMPage = (BLCKSZ - 24) * 4

// VMBlockOf returns the vm page holding heapBlk's bits (HEAPBLK_TO_MAPBLOCK).
func VMBlockOf(heapBlk BlockNumber) BlockNumber { return heapBlk / HeapBlocksPerVMPage }

// Heap and Heap2 opcodes and flag bits used here (access/heapam_xlog.h).
const (
	heapOpMask       = 0x70
	heapInsert       = 0x00
	heapDelete       = 0x10
	heapUpdate       = 0x20
	heapHotUpdate    = 0x40
	heapLock         = 0x60
	heap2MultiInsert = 0x50
	heap2LockUpdated = 0x60

	xlhInsertAllVisibleCleared    = 0x01
	xlhDeleteAllVisibleCleared    = 0x01
	xlhUpdateOldAllVisibleCleared = 0x01
	xlhUpdateNewAllVisibleCleared = 0x02
	xlhLockAllFrozenCleared       = 0x01
)

// ImplicitVMPages appends to dst the vm pages rec clears bits on without
// referencing them as blocks. Malformed main data yields nothing; redo
// reports such records.
func ImplicitVMPages(dst []BufferTag, rec *DecodedRecord) []BufferTag {
	md := rec.MainData
	flagAt := func(off int, bit uint8) bool { return off < len(md) && md[off]&bit != 0 }
	add := func(blockID uint8) {
		if b := rec.Block(blockID); b != nil {
			dst = append(dst, BufferTag{Rel: b.Tag.Rel, Fork: VisibilityMapFork, Block: VMBlockOf(b.Tag.Block)})
		}
	}
	op := rec.Info() & heapOpMask
	switch rec.Rmgr() {
	case RmgrHeap:
		switch op {
		case heapInsert:
			if flagAt(2, xlhInsertAllVisibleCleared) {
				add(0)
			}
		case heapDelete:
			if flagAt(7, xlhDeleteAllVisibleCleared) {
				add(0)
			}
		case heapUpdate, heapHotUpdate:
			if flagAt(7, xlhUpdateOldAllVisibleCleared) {
				if rec.Block(1) != nil {
					add(1)
				} else {
					add(0)
				}
			}
			if flagAt(7, xlhUpdateNewAllVisibleCleared) {
				add(0)
			}
		case heapLock:
			if flagAt(7, xlhLockAllFrozenCleared) {
				add(0)
			}
		}
	case RmgrHeap2:
		switch op {
		case heap2MultiInsert:
			if flagAt(0, xlhInsertAllVisibleCleared) {
				add(0)
			}
		case heap2LockUpdated:
			if flagAt(7, xlhLockAllFrozenCleared) {
				add(0)
			}
		}
	}
	return dst
}
