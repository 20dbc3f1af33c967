package schema

// The pages a record changes: its block references, plus the
// visibility-map pages heap redo clears bits on without naming them as
// block references (visibilitymap_clear in heap_xlog_insert and friends:
// the heap block's map page). Whoever materializes, routes or replays
// pages by what a record changes must see the record for both.

// HeapBlocksPerVMPage is HEAPBLOCKS_PER_PAGE: 2 bits per heap block in the
// usable space of a vm page (BLCKSZ - MAXALIGN(SizeOfPageHeaderData)).
const HeapBlocksPerVMPage = (BLCKSZ - 24) * 4

// VMBlockOf returns the vm page holding heapBlk's bits (HEAPBLK_TO_MAPBLOCK).
func VMBlockOf(heapBlk BlockNumber) BlockNumber { return heapBlk / HeapBlocksPerVMPage }

// PagesChanged appends to dst the pages rec changes: the tags of its
// block references, in order, then ImplicitVMPages. Auxiliary pages
// (pg_xact, pg_multixact, relation maps) are AuxPages'. A tag may appear
// twice; it does not allocate beyond growing dst.
func PagesChanged(dst []BufferTag, rec *DecodedRecord) []BufferTag {
	for i := range rec.Blocks {
		dst = append(dst, rec.Blocks[i].Tag)
	}
	return ImplicitVMPages(dst, rec)
}

// ImplicitVMPages appends to dst the vm pages rec clears bits on without
// referencing them as blocks. Malformed main data yields nothing; redo
// reports such records.
func ImplicitVMPages(dst []BufferTag, rec *DecodedRecord) []BufferTag {
	add := func(blockID uint8) {
		if b := rec.Block(blockID); b != nil {
			dst = append(dst, BufferTag{Rel: b.Tag.Rel, Fork: VisibilityMapFork, Block: VMBlockOf(b.Tag.Block)})
		}
	}
	op := rec.Info() & XLogHeapOpMask
	switch rec.Rmgr() {
	case RmgrHeap:
		switch op {
		case XLogHeapInsert:
			if xl, err := DecodeXlHeapInsert(rec.MainData); err == nil && xl.Flags&XLHInsertAllVisibleCleared != 0 {
				add(0)
			}
		case XLogHeapDelete:
			if xl, err := DecodeXlHeapDelete(rec.MainData); err == nil && xl.Flags&XLHDeleteAllVisibleCleared != 0 {
				add(0)
			}
		case XLogHeapUpdate, XLogHeapHotUpdate:
			xl, err := DecodeXlHeapUpdate(rec.MainData)
			if err != nil {
				break
			}
			if xl.Flags&XLHUpdateOldAllVisibleCleared != 0 {
				// The old tuple is on block 1, or on block 0 with the new one.
				if rec.Block(1) != nil {
					add(1)
				} else {
					add(0)
				}
			}
			if xl.Flags&XLHUpdateNewAllVisibleCleared != 0 {
				add(0)
			}
		case XLogHeapLock:
			if xl, err := DecodeXlHeapLock(rec.MainData); err == nil && xl.Flags&XLHLockAllFrozenCleared != 0 {
				add(0)
			}
		}
	case RmgrHeap2:
		switch op {
		case XLogHeap2MultiInsert:
			if xl, err := DecodeXlHeapMultiInsert(rec.MainData); err == nil && xl.Flags&XLHInsertAllVisibleCleared != 0 {
				add(0)
			}
		case XLogHeap2LockUpdated:
			if xl, err := DecodeXlHeapLockUpdated(rec.MainData); err == nil && xl.Flags&XLHLockAllFrozenCleared != 0 {
				add(0)
			}
		}
	}
	return dst
}
