package redo

import (
	"encoding/binary"

	"github.com/pagemill/pagemill/schema"
)

// Heap2 redo (access/heap/heapam.c heap2_redo, pruneheap.c
// heap_page_prune_execute, visibilitymap.c visibilitymap_set): PRUNE,
// VACUUM, FREEZE_PAGE, VISIBLE and LOCK_UPDATED here, MULTI_INSERT in
// heap.go; NEW_CID and REWRITE change no page (Engine.Apply). The
// conventions of heap.go apply. In particular:
//   - The free space map updates of PRUNE, VACUUM and VISIBLE are skipped.
//   - PostgreSQL's assertions (USE_ASSERT_CHECKING: the line pointer states
//     heap_page_prune_execute and heap_xlog_vacuum expect,
//     page_verify_redirects, HeapTupleHeaderSetXvac's HEAP_MOVED) are not
//     checked, as in a production build. Only what a production build
//     would do outside the page or the item is refused: an offset number
//     that is not a line pointer of the page, an item without storage.
//   - XLogHintBitIsNeeded() is taken to be Engine.DataChecksums. The WAL
//     does not say whether wal_log_hints was on; with wal_log_hints on and
//     checksums off, VISIBLE leaves the heap page's LSN where it was, where
//     PostgreSQL sets it to the record's end (the page contents are the
//     same).

// The record layouts, opcodes and flags are schema's (schema/heapxlog.go).

// heap2Redo is heap2_redo for the opcodes implemented so far (see
// heapRedo for the contract of the return value).
func (e *Engine) heap2Redo(rec *schema.DecodedRecord, pages Pages, restored []bool, res *Result) bool {
	switch rec.Info() & schema.XLogHeapOpMask {
	case schema.XLogHeap2Prune:
		return e.heapPrune(rec, pages, restored, res)
	case schema.XLogHeap2Vacuum:
		return e.heapVacuum(rec, pages, restored, res)
	case schema.XLogHeap2FreezePage:
		return e.heapFreezePage(rec, pages, restored, res)
	case schema.XLogHeap2Visible:
		return e.heapVisible(rec, pages, restored, res)
	case schema.XLogHeap2MultiInsert:
		return e.heapMultiInsert(rec, pages, restored, res)
	case schema.XLogHeap2LockUpdated:
		return e.heapLockUpdated(rec, pages, restored, res)
	}
	return false
}

// heap2LinePointer is PageGetItemId for an offset that must be one of the
// page's line pointers (1..PageGetMaxOffsetNumber, inside the page).
func heap2LinePointer(page schema.Page, off schema.OffsetNumber) (schema.ItemId, bool) {
	if off < schema.FirstOffsetNumber || off > page.MaxOffsetNumber() ||
		sizeOfPageHeader+sizeOfItemID*int(off) > len(page) {
		return 0, false
	}
	return page.ItemID(off), true
}

// heapPagePruneExecute is heap_page_prune_execute: set the redirects
// (pairs from, to), the dead and the unused line pointers, then
// PageRepairFragmentation. It reports false for an offset that is not a
// line pointer of the page, a redirect to an invalid offset, or a page
// PageRepairFragmentation refuses; the page may then be partly changed.
func heapPagePruneExecute(page schema.Page, redirected, nowdead, nowunused schema.OffsetNumberArray) bool {
	for k := 0; k+1 < redirected.Len(); k += 2 {
		from, to := redirected.At(k), redirected.At(k+1)
		lp, ok := heap2LinePointer(page, from)
		if !ok || !validHeapOffset(to) {
			return false
		}
		lp.SetRedirect(to)
		_ = page.SetItemID(from, lp) // in the page: checked above
	}
	return setLinePointers(page, nowdead, lpDead) &&
		setLinePointers(page, nowunused, lpUnused) &&
		PageRepairFragmentation(page) == nil
}

// setLinePointers sets the line pointers offs of page to lp (that of
// ItemIdSetDead or ItemIdSetUnused); false for an offset that is not one
// of the page's line pointers.
func setLinePointers(page schema.Page, offs schema.OffsetNumberArray, lp schema.ItemId) bool {
	for k := range offs.Len() {
		off := offs.At(k)
		if _, ok := heap2LinePointer(page, off); !ok {
			return false
		}
		_ = page.SetItemID(off, lp) // in the page: checked above
	}
	return true
}

// The line pointers ItemIdSetDead and ItemIdSetUnused make.
var (
	lpDead   = schema.NewItemId(0, schema.LPDead, 0)
	lpUnused = schema.ItemId(0)
)

// heapPrune is heap_xlog_prune. latestRemovedXid only serves recovery
// conflicts and is not used.
func (e *Engine) heapPrune(rec *schema.DecodedRecord, pages Pages, restored []bool, res *Result) bool {
	xl, err := schema.DecodeXlHeapPrune(rec.MainData)
	i, found := heapMainBlock(rec)
	if err != nil || !found {
		return false
	}
	blk := &rec.Blocks[i]
	// The offset arrays: nredirected pairs, ndead offsets, and the rest
	// (nunused is implied by the data length).
	var redirected, nowdead, nowunused schema.OffsetNumberArray
	if !restored[i] {
		if redirected, nowdead, nowunused, err = schema.DecodeHeapPruneOffsets(xl, blk.Data); err != nil {
			return false
		}
	}

	// The page's prunability hint (pd_prune_xid) is left as it is.
	return e.redoBlock(rec, pages, restored, i, res, func(page schema.Page) bool {
		return heapPagePruneExecute(page, redirected, nowdead, nowunused)
	})
}

// heapVacuum is heap_xlog_vacuum.
func (e *Engine) heapVacuum(rec *schema.DecodedRecord, pages Pages, restored []bool, res *Result) bool {
	xl, err := schema.DecodeXlHeapVacuum(rec.MainData)
	i, found := heapMainBlock(rec)
	if err != nil || !found {
		return false
	}
	blk := &rec.Blocks[i]
	var nowunused schema.OffsetNumberArray
	if !restored[i] {
		// PostgreSQL reads nunused offsets from the block data.
		if nowunused, err = schema.DecodeHeapVacuumOffsets(xl, blk.Data); err != nil {
			return false
		}
	}

	return e.redoBlock(rec, pages, restored, i, res, func(page schema.Page) bool {
		return setLinePointers(page, nowunused, lpUnused) && PageTruncateLinePointerArray(page) == nil
	})
}

// heapExecuteFreezeTuple is heap_execute_freeze_tuple for one
// xl_heap_freeze_tuple on tuple header htup.
func heapExecuteFreezeTuple(htup []byte, frz schema.XlHeapFreezeTuple) {
	le := binary.LittleEndian
	le.PutUint32(htup[htupXmax:], frz.Xmax)
	// HeapTupleHeaderSetXvac: t_xvac shares its bytes with t_cid.
	if frz.Frzflags&schema.XLHFreezeXvac != 0 {
		le.PutUint32(htup[htupCid:], schema.FrozenXid)
	}
	if frz.Frzflags&schema.XLHInvalidXvac != 0 {
		le.PutUint32(htup[htupCid:], 0)
	}
	le.PutUint16(htup[htupInfomask:], frz.TInfomask)
	le.PutUint16(htup[htupInfomask2:], frz.TInfomask2)
}

// heapFreezePage is heap_xlog_freeze_page. cutoff_xid only serves
// recovery conflicts and is not used.
func (e *Engine) heapFreezePage(rec *schema.DecodedRecord, pages Pages, restored []bool, res *Result) bool {
	xl, err := schema.DecodeXlHeapFreezePage(rec.MainData)
	i, found := heapMainBlock(rec)
	if err != nil || !found {
		return false
	}
	blk := &rec.Blocks[i]
	var plans schema.XlHeapFreezeTuples
	if !restored[i] {
		if plans, err = schema.DecodeXlHeapFreezeTuples(xl, blk.Data); err != nil {
			return false
		}
	}

	return e.redoBlock(rec, pages, restored, i, res, func(page schema.Page) bool {
		for k := range plans.Len() {
			frz := plans.At(k)
			htup, err := page.Item(frz.Offset)
			if err != nil || len(htup) < schema.SizeofHeapTupleHeader {
				return false
			}
			heapExecuteFreezeTuple(htup, frz)
		}
		return true
	})
}

// visibilitymapSet is visibilitymap_set as redo calls it (a valid recptr,
// no heap buffer): if heap block heapBlk's bits on vm page differ from
// flags, OR flags into them and set the page LSN to lsn. It reports
// whether the page changed.
func visibilitymapSet(vm schema.Page, heapBlk schema.BlockNumber, lsn schema.LSN, flags uint8) bool {
	rem := uint32(heapBlk) % schema.HeapBlocksPerVMPage
	pos := maxAlign(sizeOfPageHeader) + int(rem/4)
	shift := (rem % 4) * 2
	if flags == vm[pos]>>shift&vmValidBits {
		return false
	}
	vm[pos] |= flags << shift
	vm.SetLSN(lsn)
	return true
}

// heapVisible is heap_xlog_visible: block 1 (the heap page) gets
// PD_ALL_VISIBLE, its LSN set only when XLogHintBitIsNeeded(); then
// block 0 (the vm page, read zero-on-error and initialized when new) gets
// the flags through visibilitymap_set, whether or not the heap page needed
// redo. cutoff_xid only serves recovery conflicts and is not used.
func (e *Engine) heapVisible(rec *schema.DecodedRecord, pages Pages, restored []bool, res *Result) bool {
	xl, err := schema.DecodeXlHeapVisible(rec.MainData)
	vi, hi := blockIndex(rec, 0), blockIndex(rec, 1)
	if err != nil || vi < 0 || hi < 0 {
		return false
	}
	heapTag, vmTag := rec.Blocks[hi].Tag, rec.Blocks[vi].Tag
	// visibilitymap_pin would read the map page of the heap block, not
	// block 0, if they differed; PostgreSQL registers that page.
	if heapTag.Fork != schema.MainForkNum || vmTag.Fork != schema.VisibilityMapFork ||
		vmTag.Rel != heapTag.Rel || vmTag.Block != schema.VMBlockOf(heapTag.Block) {
		return false
	}

	// The heap page. When restored from an image (only with checksums or
	// wal_log_hints) there is nothing more to do.
	if page, action := readBufferForRedo(rec, pages, restored, hi, res); action == blkNeedsRedo {
		page.SetAllVisible()
		if e.DataChecksums { // XLogHintBitIsNeeded(); then the checksum too
			page.SetLSN(rec.EndLSN)
			if err := PageSetChecksumInplace(page, heapTag.Block); err != nil {
				return false
			}
		}
	}

	// The vm page: XLogReadBufferForRedoExtended(RBM_ZERO_ON_ERROR).
	vm, action := readBufferForRedo(rec, pages, restored, vi, res)
	if action != blkNeedsRedo {
		return true
	}
	changed := false
	if vm.IsNew() {
		_ = PageInit(vm, 0)
		changed = true
	}
	// "Don't set the bit if replay has already passed this point": always
	// true after BLK_NEEDS_REDO, kept as in PostgreSQL.
	if rec.EndLSN > vm.LSN() && visibilitymapSet(vm, heapTag.Block, rec.EndLSN, xl.Flags) {
		changed = true
	}
	if changed && e.DataChecksums {
		if err := PageSetChecksumInplace(vm, vmTag.Block); err != nil {
			return false
		}
	}
	return true
}

// heapLockUpdated is heap_xlog_lock_updated: clear the heap block's
// ALL_FROZEN vm bit if the record says so (even if the heap page is up to
// date), then set the locker's xmax and infomask bits on the tuple. Unlike
// heap_xlog_lock it leaves HOT_UPDATED, t_ctid and t_cid alone.
func (e *Engine) heapLockUpdated(rec *schema.DecodedRecord, pages Pages, restored []bool, res *Result) bool {
	xl, err := schema.DecodeXlHeapLockUpdated(rec.MainData)
	i, found := heapMainBlock(rec)
	if err != nil || !found {
		return false
	}
	blk := &rec.Blocks[i]

	if xl.Flags&schema.XLHLockAllFrozenCleared != 0 {
		e.visibilitymapClear(pages, blk.Tag.Rel, blk.Tag.Block, vmAllFrozen, res)
	}
	page, needsRedo := e.heapTargetPage(rec, pages, restored, i, false, false, res)
	if !needsRedo {
		return true
	}
	htup, ok := normalTuple(page, xl.Offnum)
	if !ok {
		return false // PANIC "invalid lp"
	}
	le := binary.LittleEndian
	infomask, infomask2 := setXmaxInfobits(htup, xl.InfobitsSet)
	le.PutUint16(htup[htupInfomask:], infomask)
	le.PutUint16(htup[htupInfomask2:], infomask2)
	le.PutUint32(htup[htupXmax:], xl.Xmax)
	return e.finishPage(rec, page, blk.Tag.Block)
}
