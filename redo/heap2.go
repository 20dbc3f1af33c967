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

// Heap2 opcodes, record sizes and flags (access/heapam_xlog.h,
// access/visibilitymap.h, access/htup_details.h). Prefixed h2 to stay
// clear of heap.go's names.
const (
	h2OpPrune       = 0x10 // XLOG_HEAP2_PRUNE
	h2OpVacuum      = 0x20 // XLOG_HEAP2_VACUUM
	h2OpFreezePage  = 0x30 // XLOG_HEAP2_FREEZE_PAGE
	h2OpVisible     = 0x40 // XLOG_HEAP2_VISIBLE
	h2OpLockUpdated = 0x60 // XLOG_HEAP2_LOCK_UPDATED

	h2SizeOfPrune       = 8  // xl_heap_prune: latestRemovedXid u32, nredirected u16, ndead u16
	h2SizeOfVacuum      = 2  // xl_heap_vacuum: nunused u16
	h2SizeOfFreezePage  = 6  // xl_heap_freeze_page: cutoff_xid u32, ntuples u16
	h2SizeOfFreezeTuple = 12 // xl_heap_freeze_tuple: xmax u32, offset u16, t_infomask2 u16, t_infomask u16, frzflags u8, pad
	h2SizeOfVisible     = 5  // xl_heap_visible: cutoff_xid u32, flags u8
	h2SizeOfLockUpdated = 8  // xl_heap_lock_updated: xmax u32, offnum u16, infobits_set u8, flags u8

	h2FreezeXvac  = 0x02 // XLH_FREEZE_XVAC
	h2InvalidXvac = 0x04 // XLH_INVALID_XVAC
	h2FrozenXid   = 2    // FrozenTransactionId
)

// heap2Redo is heap2_redo for the opcodes implemented so far (see
// heapRedo for the contract of the return value).
func (e *Engine) heap2Redo(rec *schema.DecodedRecord, pages Pages, restored []bool, res *Result) bool {
	switch rec.Info() & heapOpcodeMask {
	case h2OpPrune:
		return e.heapPrune(rec, pages, restored, res)
	case h2OpVacuum:
		return e.heapVacuum(rec, pages, restored, res)
	case h2OpFreezePage:
		return e.heapFreezePage(rec, pages, restored, res)
	case h2OpVisible:
		return e.heapVisible(rec, pages, restored, res)
	case heap2MultiInsOp:
		return e.heapMultiInsert(rec, pages, restored, res)
	case h2OpLockUpdated:
		return e.heapLockUpdated(rec, pages, restored, res)
	}
	return false
}

// heap2Offsets reads block data that is an array of OffsetNumbers; it must
// have an even length.
func heap2Offsets(data []byte) ([]schema.OffsetNumber, bool) {
	if len(data)%2 != 0 {
		return nil, false
	}
	offs := make([]schema.OffsetNumber, len(data)/2)
	for k := range offs {
		offs[k] = schema.OffsetNumber(binary.LittleEndian.Uint16(data[2*k:]))
	}
	return offs, true
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
func heapPagePruneExecute(page schema.Page, redirected, nowdead, nowunused []schema.OffsetNumber) bool {
	for k := 0; k+1 < len(redirected); k += 2 {
		from, to := redirected[k], redirected[k+1]
		lp, ok := heap2LinePointer(page, from)
		if !ok || !validHeapOffset(to) {
			return false
		}
		lp.SetRedirect(to)
		_ = page.SetItemID(from, lp) // in the page: checked above
	}
	for _, off := range nowdead {
		lp, ok := heap2LinePointer(page, off)
		if !ok {
			return false
		}
		lp.SetDead()
		_ = page.SetItemID(off, lp)
	}
	for _, off := range nowunused {
		lp, ok := heap2LinePointer(page, off)
		if !ok {
			return false
		}
		lp.SetUnused()
		_ = page.SetItemID(off, lp)
	}
	return PageRepairFragmentation(page) == nil
}

// heapPrune is heap_xlog_prune. latestRemovedXid only serves recovery
// conflicts and is not used.
func (e *Engine) heapPrune(rec *schema.DecodedRecord, pages Pages, restored []bool, res *Result) bool {
	md := rec.MainData
	i, found := heapMainBlock(rec, h2SizeOfPrune)
	if !found {
		return false
	}
	le := binary.LittleEndian
	nredirected := int(le.Uint16(md[4:]))
	ndead := int(le.Uint16(md[6:]))
	blk := &rec.Blocks[i]
	// The offset arrays: nredirected pairs, ndead offsets, and the rest
	// (nunused is implied by the data length).
	var offs []schema.OffsetNumber
	if !restored[i] {
		var ok bool
		if offs, ok = heap2Offsets(blk.Data); !ok || 2*nredirected+ndead > len(offs) {
			return false
		}
	}

	page, action := readBufferForRedo(rec, pages, restored, i, res)
	if action != blkNeedsRedo {
		return true
	}
	redirected := offs[:2*nredirected]
	nowdead := offs[2*nredirected : 2*nredirected+ndead]
	nowunused := offs[2*nredirected+ndead:]
	if !heapPagePruneExecute(page, redirected, nowdead, nowunused) {
		return false
	}
	// The page's prunability hint (pd_prune_xid) is left as it is.
	return e.finishPage(rec, page, blk.Tag.Block)
}

// heapVacuum is heap_xlog_vacuum.
func (e *Engine) heapVacuum(rec *schema.DecodedRecord, pages Pages, restored []bool, res *Result) bool {
	md := rec.MainData
	i, found := heapMainBlock(rec, h2SizeOfVacuum)
	if !found {
		return false
	}
	nunused := int(binary.LittleEndian.Uint16(md[0:]))
	blk := &rec.Blocks[i]
	var nowunused []schema.OffsetNumber
	if !restored[i] {
		// PostgreSQL reads nunused offsets from the block data.
		offs, ok := heap2Offsets(blk.Data)
		if !ok || nunused > len(offs) {
			return false
		}
		nowunused = offs[:nunused]
	}

	page, action := readBufferForRedo(rec, pages, restored, i, res)
	if action != blkNeedsRedo {
		return true
	}
	for _, off := range nowunused {
		lp, ok := heap2LinePointer(page, off)
		if !ok {
			return false
		}
		lp.SetUnused()
		_ = page.SetItemID(off, lp)
	}
	if err := PageTruncateLinePointerArray(page); err != nil {
		return false
	}
	return e.finishPage(rec, page, blk.Tag.Block)
}

// heapExecuteFreezeTuple is heap_execute_freeze_tuple for one
// xl_heap_freeze_tuple (frz, 12 bytes) on tuple header htup.
func heapExecuteFreezeTuple(htup, frz []byte) {
	le := binary.LittleEndian
	le.PutUint32(htup[htupXmax:], le.Uint32(frz[0:]))
	flags := frz[10]
	// HeapTupleHeaderSetXvac: t_xvac shares its bytes with t_cid.
	if flags&h2FreezeXvac != 0 {
		le.PutUint32(htup[htupCid:], h2FrozenXid)
	}
	if flags&h2InvalidXvac != 0 {
		le.PutUint32(htup[htupCid:], 0)
	}
	le.PutUint16(htup[htupInfomask:], le.Uint16(frz[8:]))
	le.PutUint16(htup[htupInfomask2:], le.Uint16(frz[6:]))
}

// heapFreezePage is heap_xlog_freeze_page. cutoff_xid only serves
// recovery conflicts and is not used.
func (e *Engine) heapFreezePage(rec *schema.DecodedRecord, pages Pages, restored []bool, res *Result) bool {
	md := rec.MainData
	i, found := heapMainBlock(rec, h2SizeOfFreezePage)
	if !found {
		return false
	}
	ntuples := int(binary.LittleEndian.Uint16(md[4:]))
	blk := &rec.Blocks[i]
	if !restored[i] && len(blk.Data) < ntuples*h2SizeOfFreezeTuple {
		return false
	}

	page, action := readBufferForRedo(rec, pages, restored, i, res)
	if action != blkNeedsRedo {
		return true
	}
	for k := range ntuples {
		frz := blk.Data[k*h2SizeOfFreezeTuple : (k+1)*h2SizeOfFreezeTuple]
		off := schema.OffsetNumber(binary.LittleEndian.Uint16(frz[4:]))
		htup, err := page.Item(off)
		if err != nil || len(htup) < schema.SizeofHeapTupleHeader {
			return false
		}
		heapExecuteFreezeTuple(htup, frz)
	}
	return e.finishPage(rec, page, blk.Tag.Block)
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
	md := rec.MainData
	vi, hi := blockIndex(rec, 0), blockIndex(rec, 1)
	if len(md) < h2SizeOfVisible || vi < 0 || hi < 0 {
		return false
	}
	flags := md[4]
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
	if rec.EndLSN > vm.LSN() && visibilitymapSet(vm, heapTag.Block, rec.EndLSN, flags) {
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
	md := rec.MainData
	i, found := heapMainBlock(rec, h2SizeOfLockUpdated)
	if !found {
		return false
	}
	le := binary.LittleEndian
	xmax := le.Uint32(md[0:])
	offnum := schema.OffsetNumber(le.Uint16(md[4:]))
	infobits := md[6]
	flags := md[7]
	blk := &rec.Blocks[i]

	if flags&xlhLockAllFrozenCleared != 0 {
		e.visibilitymapClear(pages, blk.Tag.Rel, blk.Tag.Block, vmAllFrozen, res)
	}
	page, needsRedo := e.heapTargetPage(rec, pages, restored, i, false, false, res)
	if !needsRedo {
		return true
	}
	htup, ok := normalTuple(page, offnum)
	if !ok {
		return false // PANIC "invalid lp"
	}
	infomask, infomask2 := setXmaxInfobits(htup, infobits)
	le.PutUint16(htup[htupInfomask:], infomask)
	le.PutUint16(htup[htupInfomask2:], infomask2)
	le.PutUint32(htup[htupXmax:], xmax)
	return e.finishPage(rec, page, blk.Tag.Block)
}
