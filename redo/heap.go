package redo

import (
	"encoding/binary"

	"github.com/pagemill/pagemill/schema"
)

// Heap redo (access/heap/heapam.c, heap_redo): INSERT, DELETE, UPDATE,
// HOT_UPDATE, LOCK, INPLACE, CONFIRM, with or without XLOG_HEAP_INIT_PAGE,
// and the helpers heap2.go shares (Heap2 MULTI_INSERT is here too).
//
// Conventions, as for the rest of the engine:
//   - A block restored from an applied image is BLK_RESTORED: its redo is
//     skipped (unless the record re-initializes the page, which PostgreSQL
//     does even then).
//   - A page redo needs but the store does not have (never seen, or made
//     unavailable by an earlier record) is left unavailable (invalidated);
//     the rest of the record is still applied exactly.
//   - A record PostgreSQL does not write (short main data, an invalid
//     offset number, block data that does not parse) or one whose redo
//     would hit a PostgreSQL PANIC (a line pointer that is not there, a
//     tuple that does not fit) is not applied: the caller falls back to the
//     engine's generic rule, which reports it *Unsupported and invalidates
//     its pages.
//   - The free space map update heap redo does (XLogRecordPageWithFreeSpace
//     when less than 20% of the page is free) is skipped: FSM pages are not
//     WAL-logged, their contents in redo are heuristic and never compared
//     by wal_consistency_checking.

// Heap opcodes, flags and tuple header bits used here (access/heapam_xlog.h,
// access/htup_details.h).
const (
	heapInsertOp      = 0x00 // XLOG_HEAP_INSERT
	heapDeleteOp      = 0x10 // XLOG_HEAP_DELETE
	heap2MultiInsOp   = 0x50 // XLOG_HEAP2_MULTI_INSERT
	heapInitPage      = 0x80 // XLOG_HEAP_INIT_PAGE
	sizeOfHeapInsert  = 3    // xl_heap_insert: offnum u16, flags u8
	sizeOfHeapDelete  = 8    // xl_heap_delete: xmax u32, offnum u16, infobits u8, flags u8
	sizeOfHeapHeader  = 5    // xl_heap_header: t_infomask2, t_infomask, t_hoff
	sizeOfMultiInsert = 4    // xl_heap_multi_insert: flags u8, pad, ntuples u16
	sizeOfMultiTuple  = 7    // xl_multi_insert_tuple: datalen, t_infomask2, t_infomask, t_hoff

	xlhInsertAllVisibleCleared = 0x01 // XLH_INSERT_ALL_VISIBLE_CLEARED
	xlhInsertAllFrozenSet      = 0x20 // XLH_INSERT_ALL_FROZEN_SET
	xlhDeleteAllVisibleCleared = 0x01 // XLH_DELETE_ALL_VISIBLE_CLEARED
	xlhDeleteIsSuper           = 0x08 // XLH_DELETE_IS_SUPER
	xlhDeleteIsPartitionMove   = 0x10 // XLH_DELETE_IS_PARTITION_MOVE

	xlhlXmaxIsMulti   = 0x01 // XLHL_XMAX_IS_MULTI
	xlhlXmaxLockOnly  = 0x02 // XLHL_XMAX_LOCK_ONLY
	xlhlXmaxExclLock  = 0x04 // XLHL_XMAX_EXCL_LOCK
	xlhlXmaxKeyshLock = 0x08 // XLHL_XMAX_KEYSHR_LOCK
	xlhlKeysUpdated   = 0x10 // XLHL_KEYS_UPDATED

	htupXmin      = 0  // t_xmin
	htupXmax      = 4  // t_xmax
	htupCid       = 8  // t_cid
	htupCtid      = 12 // t_ctid: bi_hi, bi_lo, ip_posid
	htupInfomask2 = 18
	htupInfomask  = 20
	htupHoff      = 22

	heapXmaxKeyshrLock = 0x0010
	heapCombocid       = 0x0020
	heapXmaxExclLock   = 0x0040
	heapXmaxLockOnly   = 0x0080
	heapXmaxIsMulti    = 0x1000
	heapXmaxBits       = 0x1CD0 // HEAP_XMAX_BITS
	heapMoved          = 0xC000 // HEAP_MOVED
	heapKeysUpdated    = 0x2000 // infomask2
	heapHotUpdated     = 0x4000 // infomask2

	movedPartitionsBlock  = 0xFFFFFFFF // MovedPartitionsBlockNumber
	movedPartitionsOffset = 0xFFFD     // MovedPartitionsOffsetNumber

	vmValidBits = 0x03 // VISIBILITYMAP_VALID_BITS
)

// redoAction is XLogRedoAction, plus the engine's "page not available".
type redoAction int

const (
	blkNeedsRedo redoAction = iota // BLK_NEEDS_REDO
	blkDone                        // BLK_DONE
	blkRestored                    // BLK_RESTORED
	blkNotFound                    // the store does not have the page
)

// heapRedo is heap_redo for the opcodes implemented here. It reports
// whether the record was applied; false leaves the pages untouched or,
// after a failed page redo, to be invalidated by the caller.
func (e *Engine) heapRedo(rec *schema.DecodedRecord, pages Pages, restored []bool, res *Result) bool {
	switch rec.Info() & heapOpcodeMask {
	case heapInsertOp:
		return e.heapInsert(rec, pages, restored, res)
	case heapDeleteOp:
		return e.heapDelete(rec, pages, restored, res)
	case heapUpdateOp:
		return e.heapUpdate(rec, pages, restored, res, false)
	case heapHotUpdateOp:
		return e.heapUpdate(rec, pages, restored, res, true)
	case heapConfirmOp:
		return e.heapConfirm(rec, pages, restored, res)
	case heapLockOp:
		return e.heapLock(rec, pages, restored, res)
	case heapInplaceOp:
		return e.heapInplace(rec, pages, restored, res)
	}
	return false
}

// heapMainBlock is the opening check of the heap redo functions: main data
// of at least minMainData bytes and a block 0 of the main fork, whose
// index it returns.
func heapMainBlock(rec *schema.DecodedRecord, minMainData int) (int, bool) {
	i := blockIndex(rec, 0)
	return i, len(rec.MainData) >= minMainData && i >= 0 && rec.Blocks[i].Tag.Fork == schema.MainForkNum
}

// blockIndex returns the index in rec.Blocks of block id, or -1.
func blockIndex(rec *schema.DecodedRecord, id uint8) int {
	for i := range rec.Blocks {
		if rec.Blocks[i].ID == id {
			return i
		}
	}
	return -1
}

// readBufferForRedo is XLogReadBufferForRedo: a restored block is
// BLK_RESTORED, a page whose LSN is at or past the record's end BLK_DONE,
// otherwise BLK_NEEDS_REDO. A page the store lacks is made unavailable.
func readBufferForRedo(rec *schema.DecodedRecord, pages Pages, restored []bool, i int, res *Result) (schema.Page, redoAction) {
	tag := rec.Blocks[i].Tag
	if restored[i] {
		return nil, blkRestored
	}
	page, ok := pages.Get(tag)
	if !ok || len(page) != schema.BLCKSZ {
		pages.Invalidate(tag)
		res.Invalidated = append(res.Invalidated, tag)
		return nil, blkNotFound
	}
	if page.LSN() >= rec.EndLSN {
		return page, blkDone
	}
	return page, blkNeedsRedo
}

// initBufferForRedo is XLogInitBufferForRedo followed by the heap's
// PageInit(page, BLCKSZ, 0): the page is rebuilt without being read.
func initBufferForRedo(rec *schema.DecodedRecord, pages Pages, restored []bool, i int) schema.Page {
	tag := rec.Blocks[i].Tag
	page, ok := pages.Get(tag)
	if !ok || len(page) != schema.BLCKSZ {
		page = make(schema.Page, schema.BLCKSZ)
	}
	// From here on the page is this record's to rebuild: on failure the
	// caller must invalidate it even if an image was restored.
	restored[i] = false
	_ = PageInit(page, 0) // cannot fail on a BLCKSZ page
	pages.Put(tag, page)
	return page
}

// finishPage is PageSetLSN plus the checksum the engine writes.
func (e *Engine) finishPage(rec *schema.DecodedRecord, page schema.Page, blk schema.BlockNumber) bool {
	page.SetLSN(rec.EndLSN)
	if e.DataChecksums {
		if err := PageSetChecksumInplace(page, blk); err != nil {
			return false
		}
	}
	return true
}

// heapTargetPage is the opening every heap redo function shares: clear the
// heap block's visibility-map bits when the record says so (even if the
// heap page itself is up to date), then get block i's page — initialised
// for +INIT records, else as XLogReadBufferForRedo would — and report
// whether it needs redo.
func (e *Engine) heapTargetPage(rec *schema.DecodedRecord, pages Pages, restored []bool, i int, clearVM, isInit bool, res *Result) (schema.Page, bool) {
	blk := &rec.Blocks[i]
	if clearVM {
		e.visibilitymapClear(pages, blk.Tag.Rel, blk.Tag.Block, vmValidBits, res)
	}
	if isInit {
		return initBufferForRedo(rec, pages, restored, i), true
	}
	page, action := readBufferForRedo(rec, pages, restored, i, res)
	return page, action == blkNeedsRedo
}

// visibilitymapClear is visibilitymap_pin plus visibilitymap_clear of
// flags for heap block heapBlk, as heap redo does: the vm page, read with
// zero-on-error, is initialized when new, the bits are cleared, and the
// page LSN is not changed. A vm page the store lacks is made unavailable.
func (e *Engine) visibilitymapClear(pages Pages, rel schema.RelFileNode, heapBlk schema.BlockNumber, flags uint8, res *Result) {
	tag := schema.BufferTag{Rel: rel, Fork: schema.VisibilityMapFork, Block: schema.VMBlockOf(heapBlk)}
	page, ok := pages.Get(tag)
	if !ok || len(page) != schema.BLCKSZ {
		pages.Invalidate(tag)
		res.Invalidated = append(res.Invalidated, tag)
		return
	}
	changed := false
	if page.IsNew() {
		_ = PageInit(page, 0)
		changed = true
	}
	rem := uint32(heapBlk) % schema.HeapBlocksPerVMPage
	pos := maxAlign(sizeOfPageHeader) + int(rem/4)
	mask := flags << ((rem % 4) * 2)
	if page[pos]&mask != 0 {
		page[pos] &^= mask
		changed = true
	}
	if changed && e.DataChecksums {
		_ = PageSetChecksumInplace(page, tag.Block)
	}
	pages.Put(tag, page)
}

// buildHeapTuple is the tuple heap redo rebuilds: a zeroed 23-byte header
// with t_infomask2, t_infomask and t_hoff from the WAL, xmin = the
// record's xid, cmin = FirstCommandId without HEAP_COMBOCID, ctid = (blk,
// off), followed by body (null bitmap, padding and data as logged).
func buildHeapTuple(body []byte, infomask2, infomask uint16, hoff uint8, xid uint32, blk schema.BlockNumber, off schema.OffsetNumber) []byte {
	le := binary.LittleEndian
	tup := make([]byte, schema.SizeofHeapTupleHeader+len(body))
	copy(tup[schema.SizeofHeapTupleHeader:], body)
	le.PutUint16(tup[htupInfomask2:], infomask2)
	le.PutUint16(tup[htupInfomask:], infomask&^heapCombocid)
	tup[htupHoff] = hoff
	le.PutUint32(tup[htupXmin:], xid)
	le.PutUint32(tup[htupCid:], 0)
	setCtid(tup, blk, off)
	return tup
}

func setCtid(tup []byte, blk schema.BlockNumber, off schema.OffsetNumber) {
	le := binary.LittleEndian
	le.PutUint16(tup[htupCtid:], uint16(uint32(blk)>>16))
	le.PutUint16(tup[htupCtid+2:], uint16(uint32(blk)))
	le.PutUint16(tup[htupCtid+4:], uint16(off))
}

// validHeapOffset reports whether off can be a heap tuple's offset number.
func validHeapOffset(off schema.OffsetNumber) bool {
	return off >= schema.FirstOffsetNumber && off <= schema.MaxHeapTuplesPerPage
}

// heapInsert is heap_xlog_insert.
func (e *Engine) heapInsert(rec *schema.DecodedRecord, pages Pages, restored []bool, res *Result) bool {
	md := rec.MainData
	i, found := heapMainBlock(rec, sizeOfHeapInsert)
	if !found {
		return false
	}
	offnum := schema.OffsetNumber(binary.LittleEndian.Uint16(md[0:]))
	flags := md[2]
	blk := &rec.Blocks[i]
	isInit := rec.Info()&heapInitPage != 0
	if !validHeapOffset(offnum) {
		return false
	}
	// The tuple data is needed unless the block is restored (then PostgreSQL
	// never looks at it); check it before changing anything.
	needData := isInit || !restored[i]
	if needData && (len(blk.Data) <= sizeOfHeapHeader || len(blk.Data)-sizeOfHeapHeader > schema.MaxHeapTupleSize-schema.SizeofHeapTupleHeader) {
		return false
	}

	page, needsRedo := e.heapTargetPage(rec, pages, restored, i, flags&xlhInsertAllVisibleCleared != 0, isInit, res)
	if !needsRedo {
		return true
	}
	if int(page.MaxOffsetNumber())+1 < int(offnum) {
		return false // PANIC "invalid max offset number"
	}
	le := binary.LittleEndian
	d := blk.Data
	tup := buildHeapTuple(d[sizeOfHeapHeader:], le.Uint16(d[0:]), le.Uint16(d[2:]), d[4], rec.Xid(), blk.Tag.Block, offnum)
	if _, err := PageAddItemExtended(page, tup, offnum, PAIOverwrite|PAIIsHeap); err != nil {
		return false // PANIC "failed to add tuple"
	}
	if flags&xlhInsertAllVisibleCleared != 0 {
		page.ClearAllVisible()
	}
	return e.finishPage(rec, page, blk.Tag.Block)
}

// multiInsertTuple is one parsed xl_multi_insert_tuple and its data.
type multiInsertTuple struct {
	infomask2, infomask uint16
	hoff                uint8
	body                []byte
}

// parseMultiInsertTuples splits block data into n tuples, each header at a
// 2-byte boundary (SHORTALIGN) from the start of the data; the data must
// end exactly after the last one ("total tuple length mismatch").
func parseMultiInsertTuples(data []byte, n int) ([]multiInsertTuple, bool) {
	le := binary.LittleEndian
	tuples := make([]multiInsertTuple, 0, n)
	pos := 0
	for range n {
		pos = (pos + 1) &^ 1
		if pos+sizeOfMultiTuple > len(data) {
			return nil, false
		}
		datalen := int(le.Uint16(data[pos:]))
		t := multiInsertTuple{infomask2: le.Uint16(data[pos+2:]), infomask: le.Uint16(data[pos+4:]), hoff: data[pos+6]}
		pos += sizeOfMultiTuple
		if pos+datalen > len(data) || datalen > schema.MaxHeapTupleSize-schema.SizeofHeapTupleHeader {
			return nil, false
		}
		t.body = data[pos : pos+datalen]
		pos += datalen
		tuples = append(tuples, t)
	}
	return tuples, pos == len(data)
}

// heapMultiInsert is heap_xlog_multi_insert.
func (e *Engine) heapMultiInsert(rec *schema.DecodedRecord, pages Pages, restored []bool, res *Result) bool {
	md := rec.MainData
	i, found := heapMainBlock(rec, sizeOfMultiInsert)
	if !found {
		return false
	}
	le := binary.LittleEndian
	flags := md[0]
	ntuples := int(le.Uint16(md[2:]))
	isInit := rec.Info()&heapInitPage != 0
	blk := &rec.Blocks[i]
	offsets := make([]schema.OffsetNumber, ntuples)
	for k := range offsets {
		if isInit {
			offsets[k] = schema.FirstOffsetNumber + schema.OffsetNumber(k)
			continue
		}
		at := sizeOfMultiInsert + 2*k
		if at+2 > len(md) {
			return false
		}
		offsets[k] = schema.OffsetNumber(le.Uint16(md[at:]))
	}
	for _, off := range offsets {
		if !validHeapOffset(off) {
			return false
		}
	}
	var tuples []multiInsertTuple
	if isInit || !restored[i] {
		var ok bool
		if tuples, ok = parseMultiInsertTuples(blk.Data, ntuples); !ok {
			return false
		}
	}

	page, needsRedo := e.heapTargetPage(rec, pages, restored, i, flags&xlhInsertAllVisibleCleared != 0, isInit, res)
	if !needsRedo {
		return true
	}
	for k, t := range tuples {
		off := offsets[k]
		if int(page.MaxOffsetNumber())+1 < int(off) {
			return false // PANIC "invalid max offset number"
		}
		tup := buildHeapTuple(t.body, t.infomask2, t.infomask, t.hoff, rec.Xid(), blk.Tag.Block, off)
		if _, err := PageAddItemExtended(page, tup, off, PAIOverwrite|PAIIsHeap); err != nil {
			return false // PANIC "failed to add tuple"
		}
	}
	if flags&xlhInsertAllVisibleCleared != 0 {
		page.ClearAllVisible()
	}
	// XLH_INSERT_ALL_FROZEN_SET (COPY FREEZE) implies all tuples are visible.
	if flags&xlhInsertAllFrozenSet != 0 {
		page.SetAllVisible()
	}
	return e.finishPage(rec, page, blk.Tag.Block)
}

// transactionIDPrecedes is TransactionIdPrecedes.
func transactionIDPrecedes(id1, id2 uint32) bool {
	if id1 < 3 || id2 < 3 { // either not a normal xid
		return id1 < id2
	}
	return int32(id1-id2) < 0
}

// fixInfomaskFromInfobits is fix_infomask_from_infobits.
func fixInfomaskFromInfobits(infobits uint8, infomask, infomask2 uint16) (uint16, uint16) {
	infomask &^= heapXmaxIsMulti | heapXmaxLockOnly | heapXmaxKeyshrLock | heapXmaxExclLock
	infomask2 &^= heapKeysUpdated
	if infobits&xlhlXmaxIsMulti != 0 {
		infomask |= heapXmaxIsMulti
	}
	if infobits&xlhlXmaxLockOnly != 0 {
		infomask |= heapXmaxLockOnly
	}
	if infobits&xlhlXmaxExclLock != 0 {
		infomask |= heapXmaxExclLock
	}
	if infobits&xlhlXmaxKeyshLock != 0 {
		infomask |= heapXmaxKeyshrLock
	}
	if infobits&xlhlKeysUpdated != 0 {
		infomask2 |= heapKeysUpdated
	}
	return infomask, infomask2
}

// heapDelete is heap_xlog_delete.
func (e *Engine) heapDelete(rec *schema.DecodedRecord, pages Pages, restored []bool, res *Result) bool {
	md := rec.MainData
	i, found := heapMainBlock(rec, sizeOfHeapDelete)
	if !found {
		return false
	}
	le := binary.LittleEndian
	xmax := le.Uint32(md[0:])
	offnum := schema.OffsetNumber(le.Uint16(md[4:]))
	infobits := md[6]
	flags := md[7]
	blk := &rec.Blocks[i]
	if !validHeapOffset(offnum) {
		return false
	}

	page, needsRedo := e.heapTargetPage(rec, pages, restored, i, flags&xlhDeleteAllVisibleCleared != 0, false, res)
	if !needsRedo {
		return true
	}
	htup, ok := normalTuple(page, offnum)
	if !ok {
		return false // PANIC "invalid lp"
	}
	infomask, infomask2 := setXmaxInfobits(htup, infobits)
	infomask2 &^= heapHotUpdated
	if flags&xlhDeleteIsSuper == 0 {
		le.PutUint32(htup[htupXmax:], xmax)
	} else {
		le.PutUint32(htup[htupXmin:], 0)
	}
	infomask = setCmaxFirst(htup, infomask)
	le.PutUint16(htup[htupInfomask:], infomask)
	le.PutUint16(htup[htupInfomask2:], infomask2)

	setPrunable(page, rec.Xid())
	if flags&xlhDeleteAllVisibleCleared != 0 {
		page.ClearAllVisible()
	}
	if flags&xlhDeleteIsPartitionMove != 0 {
		setCtid(htup, movedPartitionsBlock, movedPartitionsOffset)
	} else {
		setCtid(htup, blk.Tag.Block, offnum)
	}
	return e.finishPage(rec, page, blk.Tag.Block)
}

// Heap record layouts and flags used by the functions below
// (access/heapam_xlog.h).
const (
	heapUpdateOp     = 0x20 // XLOG_HEAP_UPDATE
	heapHotUpdateOp  = 0x40 // XLOG_HEAP_HOT_UPDATE
	heapConfirmOp    = 0x50 // XLOG_HEAP_CONFIRM
	heapLockOp       = 0x60 // XLOG_HEAP_LOCK
	heapInplaceOp    = 0x70 // XLOG_HEAP_INPLACE
	sizeOfHeapUpdate = 14   // xl_heap_update: old_xmax, old_offnum, old_infobits_set, flags, new_xmax, new_offnum
	sizeOfHeapLock   = 8    // xl_heap_lock: locking_xid, offnum, infobits_set, flags
	sizeOfOffnum     = 2    // xl_heap_confirm, xl_heap_inplace: offnum

	xlhUpdateOldAllVisibleCleared = 0x01 // XLH_UPDATE_OLD_ALL_VISIBLE_CLEARED
	xlhUpdateNewAllVisibleCleared = 0x02 // XLH_UPDATE_NEW_ALL_VISIBLE_CLEARED
	xlhUpdatePrefixFromOld        = 0x20 // XLH_UPDATE_PREFIX_FROM_OLD
	xlhUpdateSuffixFromOld        = 0x40 // XLH_UPDATE_SUFFIX_FROM_OLD
	xlhLockAllFrozenCleared       = 0x01 // XLH_LOCK_ALL_FROZEN_CLEARED

	heapXmaxShrLock = 0x0050 // HEAP_XMAX_SHR_LOCK
	heapLockMask    = heapXmaxShrLock | heapXmaxExclLock | heapXmaxKeyshrLock
	vmAllFrozen     = 0x02 // VISIBILITYMAP_ALL_FROZEN
)

// normalTuple returns the tuple at offnum of a heap page, or false where
// PostgreSQL would PANIC with "invalid lp".
func normalTuple(page schema.Page, offnum schema.OffsetNumber) ([]byte, bool) {
	if !validHeapOffset(offnum) || page.MaxOffsetNumber() < offnum || !page.ItemID(offnum).IsNormal() {
		return nil, false
	}
	htup, err := page.Item(offnum)
	if err != nil || len(htup) < schema.SizeofHeapTupleHeader {
		return nil, false
	}
	return htup, true
}

// setXmaxInfobits is the tuple-header change heap_xlog_update (old tuple),
// heap_xlog_lock and heap_xlog_lock_updated share: clear the xmax bits,
// HEAP_MOVED and HEAP_KEYS_UPDATED, then set the logged infobits.
func setXmaxInfobits(htup []byte, infobits uint8) (infomask, infomask2 uint16) {
	le := binary.LittleEndian
	infomask = le.Uint16(htup[htupInfomask:]) &^ (heapXmaxBits | heapMoved)
	infomask2 = le.Uint16(htup[htupInfomask2:]) &^ heapKeysUpdated
	return fixInfomaskFromInfobits(infobits, infomask, infomask2)
}

// setCmaxFirst is HeapTupleHeaderSetCmax(htup, FirstCommandId, false).
func setCmaxFirst(htup []byte, infomask uint16) uint16 {
	binary.LittleEndian.PutUint32(htup[htupCid:], 0)
	return infomask &^ heapCombocid
}

// setPrunable is PageSetPrunable(page, xid).
func setPrunable(page schema.Page, xid uint32) {
	if page.PruneXid() == 0 || transactionIDPrecedes(xid, page.PruneXid()) {
		page.SetPruneXid(xid)
	}
}

// heapUpdate is heap_xlog_update, for UPDATE and HOT_UPDATE. Block 0 is the
// page of the new tuple, block 1 the old tuple's page when it differs.
func (e *Engine) heapUpdate(rec *schema.DecodedRecord, pages Pages, restored []bool, res *Result, hot bool) bool {
	md := rec.MainData
	ni := blockIndex(rec, 0)
	if len(md) < sizeOfHeapUpdate || ni < 0 || rec.Blocks[ni].Tag.Fork != schema.MainForkNum {
		return false
	}
	le := binary.LittleEndian
	oldXmax := le.Uint32(md[0:])
	oldOff := schema.OffsetNumber(le.Uint16(md[4:]))
	oldInfobits := md[6]
	flags := md[7]
	newXmax := le.Uint32(md[8:])
	newOff := schema.OffsetNumber(le.Uint16(md[12:]))
	isInit := rec.Info()&heapInitPage != 0
	newBlk := &rec.Blocks[ni]
	oi := blockIndex(rec, 1)
	samePage := oi < 0
	if samePage {
		oi = ni
	} else if hot || rec.Blocks[oi].Tag.Rel != newBlk.Tag.Rel || rec.Blocks[oi].Tag.Fork != schema.MainForkNum {
		return false // HOT updates never cross pages
	}
	if !validHeapOffset(oldOff) || !validHeapOffset(newOff) {
		return false
	}
	if flags&(xlhUpdatePrefixFromOld|xlhUpdateSuffixFromOld) != 0 && !samePage {
		return false
	}
	// Parse the new tuple's block data before changing anything; it is
	// needed unless block 0 was restored (and not re-initialized).
	var prefixLen, suffixLen int
	var xlhdr, tupData []byte
	if isInit && !samePage || !restored[ni] {
		d := newBlk.Data
		if flags&xlhUpdatePrefixFromOld != 0 {
			if len(d) < 2 {
				return false
			}
			prefixLen, d = int(le.Uint16(d)), d[2:]
		}
		if flags&xlhUpdateSuffixFromOld != 0 {
			if len(d) < 2 {
				return false
			}
			suffixLen, d = int(le.Uint16(d)), d[2:]
		}
		if len(d) < sizeOfHeapHeader {
			return false
		}
		xlhdr, tupData = d[:sizeOfHeapHeader], d[sizeOfHeapHeader:]
		if hoff := int(xlhdr[4]); prefixLen > 0 && (hoff < schema.SizeofHeapTupleHeader || hoff-schema.SizeofHeapTupleHeader > len(tupData)) {
			return false
		}
		if schema.SizeofHeapTupleHeader+len(tupData)+prefixLen+suffixLen > schema.MaxHeapTupleSize {
			return false
		}
	}

	// The old tuple version.
	oldPage, oldNeedsRedo := e.heapTargetPage(rec, pages, restored, oi, flags&xlhUpdateOldAllVisibleCleared != 0, false, res)
	var oldTup []byte
	if oldNeedsRedo {
		htup, ok := normalTuple(oldPage, oldOff)
		if !ok {
			return false // PANIC "invalid lp"
		}
		oldTup = htup
		infomask, infomask2 := setXmaxInfobits(htup, oldInfobits)
		if hot {
			infomask2 |= heapHotUpdated
		} else {
			infomask2 &^= heapHotUpdated
		}
		le.PutUint32(htup[htupXmax:], oldXmax)
		infomask = setCmaxFirst(htup, infomask)
		le.PutUint16(htup[htupInfomask:], infomask)
		le.PutUint16(htup[htupInfomask2:], infomask2)
		setCtid(htup, newBlk.Tag.Block, newOff)
		setPrunable(oldPage, rec.Xid())
		if flags&xlhUpdateOldAllVisibleCleared != 0 {
			oldPage.ClearAllVisible()
		}
		if !e.finishPage(rec, oldPage, rec.Blocks[oi].Tag.Block) {
			return false
		}
	}

	// The new tuple version, on the same page or another.
	var newPage schema.Page
	newNeedsRedo := oldNeedsRedo
	switch {
	case samePage:
		newPage = oldPage
		if flags&xlhUpdateNewAllVisibleCleared != 0 {
			e.visibilitymapClear(pages, newBlk.Tag.Rel, newBlk.Tag.Block, vmValidBits, res)
		}
	default:
		newPage, newNeedsRedo = e.heapTargetPage(rec, pages, restored, ni, flags&xlhUpdateNewAllVisibleCleared != 0, isInit, res)
	}
	if !newNeedsRedo {
		return true
	}
	if int(newPage.MaxOffsetNumber())+1 < int(newOff) {
		return false // PANIC "invalid max offset number"
	}
	body := make([]byte, 0, len(tupData)+prefixLen+suffixLen)
	if prefixLen > 0 || suffixLen > 0 {
		oldHoff := int(oldTup[htupHoff])
		if oldHoff+prefixLen > len(oldTup) || suffixLen > len(oldTup)-oldHoff {
			return false
		}
		if prefixLen > 0 {
			n := int(xlhdr[4]) - schema.SizeofHeapTupleHeader
			body = append(body, tupData[:n]...)
			body = append(body, oldTup[oldHoff:oldHoff+prefixLen]...)
			body = append(body, tupData[n:]...)
		} else {
			body = append(body, tupData...)
		}
		body = append(body, oldTup[len(oldTup)-suffixLen:]...)
	} else {
		body = append(body, tupData...)
	}
	tup := buildHeapTuple(body, le.Uint16(xlhdr[0:]), le.Uint16(xlhdr[2:]), xlhdr[4], rec.Xid(), newBlk.Tag.Block, newOff)
	le.PutUint32(tup[htupXmax:], newXmax)
	if _, err := PageAddItemExtended(newPage, tup, newOff, PAIOverwrite|PAIIsHeap); err != nil {
		return false // PANIC "failed to add tuple"
	}
	if flags&xlhUpdateNewAllVisibleCleared != 0 {
		newPage.ClearAllVisible()
	}
	return e.finishPage(rec, newPage, newBlk.Tag.Block)
}

// heapConfirm is heap_xlog_confirm: a speculative insertion's ctid is set
// to point at the tuple itself.
func (e *Engine) heapConfirm(rec *schema.DecodedRecord, pages Pages, restored []bool, res *Result) bool {
	i, found := heapMainBlock(rec, sizeOfOffnum)
	if !found {
		return false
	}
	offnum := schema.OffsetNumber(binary.LittleEndian.Uint16(rec.MainData))
	page, needsRedo := e.heapTargetPage(rec, pages, restored, i, false, false, res)
	if !needsRedo {
		return true
	}
	htup, ok := normalTuple(page, offnum)
	if !ok {
		return false
	}
	setCtid(htup, rec.Blocks[i].Tag.Block, offnum)
	return e.finishPage(rec, page, rec.Blocks[i].Tag.Block)
}

// xmaxIsLockedOnly is HEAP_XMAX_IS_LOCKED_ONLY.
func xmaxIsLockedOnly(infomask uint16) bool {
	return infomask&heapXmaxLockOnly != 0 || infomask&(heapXmaxIsMulti|heapLockMask) == heapXmaxExclLock
}

// heapLock is heap_xlog_lock.
func (e *Engine) heapLock(rec *schema.DecodedRecord, pages Pages, restored []bool, res *Result) bool {
	md := rec.MainData
	i, found := heapMainBlock(rec, sizeOfHeapLock)
	if !found {
		return false
	}
	le := binary.LittleEndian
	xid := le.Uint32(md[0:])
	offnum := schema.OffsetNumber(le.Uint16(md[4:]))
	infobits, flags := md[6], md[7]
	blk := &rec.Blocks[i]
	if !validHeapOffset(offnum) {
		return false
	}
	if flags&xlhLockAllFrozenCleared != 0 {
		e.visibilitymapClear(pages, blk.Tag.Rel, blk.Tag.Block, vmAllFrozen, res)
	}
	page, needsRedo := e.heapTargetPage(rec, pages, restored, i, false, false, res)
	if !needsRedo {
		return true
	}
	htup, ok := normalTuple(page, offnum)
	if !ok {
		return false
	}
	infomask, infomask2 := setXmaxInfobits(htup, infobits)
	if xmaxIsLockedOnly(infomask) {
		infomask2 &^= heapHotUpdated
		setCtid(htup, blk.Tag.Block, offnum)
	}
	le.PutUint32(htup[htupXmax:], xid)
	infomask = setCmaxFirst(htup, infomask)
	le.PutUint16(htup[htupInfomask:], infomask)
	le.PutUint16(htup[htupInfomask2:], infomask2)
	return e.finishPage(rec, page, blk.Tag.Block)
}

// heapInplace is heap_xlog_inplace: the tuple's data (after t_hoff) is
// overwritten with a body of the same length.
func (e *Engine) heapInplace(rec *schema.DecodedRecord, pages Pages, restored []bool, res *Result) bool {
	i, found := heapMainBlock(rec, sizeOfOffnum)
	if !found {
		return false
	}
	offnum := schema.OffsetNumber(binary.LittleEndian.Uint16(rec.MainData))
	blk := &rec.Blocks[i]
	page, needsRedo := e.heapTargetPage(rec, pages, restored, i, false, false, res)
	if !needsRedo {
		return true
	}
	htup, ok := normalTuple(page, offnum)
	if !ok {
		return false
	}
	hoff := int(htup[htupHoff])
	if hoff > len(htup) || len(htup)-hoff != len(blk.Data) {
		return false // PANIC "wrong tuple length"
	}
	copy(htup[hoff:], blk.Data)
	return e.finishPage(rec, page, blk.Tag.Block)
}
