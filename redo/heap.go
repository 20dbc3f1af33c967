package redo

import (
	"encoding/binary"
	"slices"

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

// Tuple header offsets used here (access/htup_details.h); the infomask
// bits, record layouts, opcodes and flags are schema's (heaptuple.go,
// heapxlog.go).
const (
	htupXmin      = 0  // t_xmin
	htupXmax      = 4  // t_xmax
	htupCid       = 8  // t_cid
	htupCtid      = 12 // t_ctid: bi_hi, bi_lo, ip_posid
	htupCtidPosid = 16 // t_ctid.ip_posid
	htupInfomask2 = 18
	htupInfomask  = 20
	htupHoff      = 22

	specTokenOffsetNumber = 0xFFFE // SpecTokenOffsetNumber

	movedPartitionsBlock  = 0xFFFFFFFF // MovedPartitionsBlockNumber
	movedPartitionsOffset = 0xFFFD     // MovedPartitionsOffsetNumber

	vmValidBits = 0x03 // VISIBILITYMAP_VALID_BITS
	vmAllFrozen = 0x02 // VISIBILITYMAP_ALL_FROZEN
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
	switch rec.Info() & schema.XLogHeapOpMask {
	case schema.XLogHeapInsert:
		return e.heapInsert(rec, pages, restored, res)
	case schema.XLogHeapDelete:
		return e.heapDelete(rec, pages, restored, res)
	case schema.XLogHeapUpdate:
		return e.heapUpdate(rec, pages, restored, res, false)
	case schema.XLogHeapHotUpdate:
		return e.heapUpdate(rec, pages, restored, res, true)
	case schema.XLogHeapConfirm:
		return e.heapConfirm(rec, pages, restored, res)
	case schema.XLogHeapLock:
		return e.heapLock(rec, pages, restored, res)
	case schema.XLogHeapInplace:
		return e.heapInplace(rec, pages, restored, res)
	}
	return false
}

// heapMainBlock is the opening check of the heap redo functions: a block
// 0 of the main fork, whose index it returns.
func heapMainBlock(rec *schema.DecodedRecord) (int, bool) {
	i := blockIndex(rec, 0)
	return i, i >= 0 && rec.Blocks[i].Tag.Fork == schema.MainForkNum
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

// xlogInitBufferForRedo is XLogInitBufferForRedo followed by init, the
// access method's page initializer: block i's page is rebuilt without
// being read.
func xlogInitBufferForRedo(rec *schema.DecodedRecord, pages Pages, restored []bool, i int, init func(schema.Page)) schema.Page {
	tag := rec.Blocks[i].Tag
	page, ok := pages.Get(tag)
	if !ok || len(page) != schema.BLCKSZ {
		page = make(schema.Page, schema.BLCKSZ)
	}
	// From here on the page is this record's to rebuild: on failure the
	// caller must invalidate it even if an image was restored.
	restored[i] = false
	init(page)
	pages.Put(tag, page)
	return page
}

// initBufferForRedo is XLogInitBufferForRedo followed by the heap's
// PageInit(page, BLCKSZ, 0).
func initBufferForRedo(rec *schema.DecodedRecord, pages Pages, restored []bool, i int) schema.Page {
	return xlogInitBufferForRedo(rec, pages, restored, i, func(page schema.Page) {
		_ = PageInit(page, 0) // cannot fail on a BLCKSZ page
	})
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

// heapAddTuple adds the tuple heap redo rebuilds at off, as PageAddItem
// with overwrite on a heap page: a zeroed 23-byte header with
// t_infomask2, t_infomask and t_hoff from the WAL, xmin = the record's
// xid, cmin = FirstCommandId without HEAP_COMBOCID, ctid = (blk, off),
// followed by the parts of the body (null bitmap, padding and data as
// logged), written straight into the page. It returns the tuple, or false
// where PostgreSQL PANICs "failed to add tuple". No part may alias the
// free space of the page.
func heapAddTuple(page schema.Page, h schema.XlHeapHeader, xid uint32, blk schema.BlockNumber, off schema.OffsetNumber, body ...[]byte) ([]byte, bool) {
	n := schema.SizeofHeapTupleHeader
	for _, b := range body {
		n += len(b)
	}
	_, tup, err := pageAddItemSpace(page, n, off, PAIOverwrite|PAIIsHeap)
	if err != nil {
		return nil, false
	}
	le := binary.LittleEndian
	clear(tup[:schema.SizeofHeapTupleHeader])
	le.PutUint16(tup[htupInfomask2:], h.TInfomask2)
	le.PutUint16(tup[htupInfomask:], h.TInfomask&^schema.HeapComboCid)
	tup[htupHoff] = h.THoff
	le.PutUint32(tup[htupXmin:], xid)
	setCtid(tup, blk, off)
	pos := schema.SizeofHeapTupleHeader
	for _, b := range body {
		pos += copy(tup[pos:], b)
	}
	return tup, true
}

func setCtid(tup []byte, blk schema.BlockNumber, off schema.OffsetNumber) {
	le := binary.LittleEndian
	le.PutUint16(tup[htupCtid:], uint16(uint32(blk)>>16))
	le.PutUint16(tup[htupCtid+2:], uint16(uint32(blk)))
	le.PutUint16(tup[htupCtidPosid:], uint16(off))
}

// validTupleBody reports whether a logged tuple body (the tuple without
// its 23-byte header) of n bytes can be inserted: not empty, and not
// larger than MaxHeapTupleSize with the header.
func validTupleBody(n int) bool {
	return n > 0 && n <= schema.MaxHeapTupleSize-schema.SizeofHeapTupleHeader
}

// validHeapOffset reports whether off can be a heap tuple's offset number.
func validHeapOffset(off schema.OffsetNumber) bool {
	return off >= schema.FirstOffsetNumber && off <= schema.MaxHeapTuplesPerPage
}

// heapInsert is heap_xlog_insert.
func (e *Engine) heapInsert(rec *schema.DecodedRecord, pages Pages, restored []bool, res *Result) bool {
	xl, err := schema.DecodeXlHeapInsert(rec.MainData)
	i, found := heapMainBlock(rec)
	if err != nil || !found || !validHeapOffset(xl.Offnum) {
		return false
	}
	blk := &rec.Blocks[i]
	isInit := rec.Info()&schema.XLogHeapInitPage != 0
	// The tuple data is needed unless the block is restored (then PostgreSQL
	// never looks at it); check it before changing anything.
	var hdr schema.XlHeapHeader
	var body []byte
	if isInit || !restored[i] {
		if hdr, err = schema.DecodeXlHeapHeader(blk.Data); err != nil {
			return false
		}
		if body = blk.Data[schema.SizeOfHeapHeader:]; !validTupleBody(len(body)) {
			return false
		}
	}

	page, needsRedo := e.heapTargetPage(rec, pages, restored, i, xl.Flags&schema.XLHInsertAllVisibleCleared != 0, isInit, res)
	if !needsRedo {
		return true
	}
	if int(page.MaxOffsetNumber())+1 < int(xl.Offnum) {
		return false // PANIC "invalid max offset number"
	}
	if _, ok := heapAddTuple(page, hdr, rec.Xid(), blk.Tag.Block, xl.Offnum, body); !ok {
		return false // PANIC "failed to add tuple"
	}
	if xl.Flags&schema.XLHInsertAllVisibleCleared != 0 {
		page.ClearAllVisible()
	}
	return e.finishPage(rec, page, blk.Tag.Block)
}

// heapMultiInsert is heap_xlog_multi_insert.
func (e *Engine) heapMultiInsert(rec *schema.DecodedRecord, pages Pages, restored []bool, res *Result) bool {
	xl, err := schema.DecodeXlHeapMultiInsert(rec.MainData)
	i, found := heapMainBlock(rec)
	if err != nil || !found {
		return false
	}
	isInit := rec.Info()&schema.XLogHeapInitPage != 0
	blk := &rec.Blocks[i]
	if err := xl.CheckOffsets(isInit); err != nil {
		return false
	}
	for k := range int(xl.Ntuples) {
		if !validHeapOffset(xl.Offset(k, isInit)) {
			return false
		}
	}
	var tuples []schema.XlMultiInsertTuple
	if isInit || !restored[i] {
		if tuples, err = schema.DecodeXlMultiInsertTuples(blk.Data, int(xl.Ntuples)); err != nil {
			return false
		}
		for _, t := range tuples {
			if len(t.Data) > schema.MaxHeapTupleSize-schema.SizeofHeapTupleHeader {
				return false
			}
		}
	}

	page, needsRedo := e.heapTargetPage(rec, pages, restored, i, xl.Flags&schema.XLHInsertAllVisibleCleared != 0, isInit, res)
	if !needsRedo {
		return true
	}
	for k, t := range tuples {
		off := xl.Offset(k, isInit)
		if int(page.MaxOffsetNumber())+1 < int(off) {
			return false // PANIC "invalid max offset number"
		}
		h := schema.XlHeapHeader{TInfomask2: t.TInfomask2, TInfomask: t.TInfomask, THoff: t.THoff}
		if _, ok := heapAddTuple(page, h, rec.Xid(), blk.Tag.Block, off, t.Data); !ok {
			return false // PANIC "failed to add tuple"
		}
	}
	if xl.Flags&schema.XLHInsertAllVisibleCleared != 0 {
		page.ClearAllVisible()
	}
	// XLH_INSERT_ALL_FROZEN_SET (COPY FREEZE) implies all tuples are visible.
	if xl.Flags&schema.XLHInsertAllFrozenSet != 0 {
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
	infomask &^= schema.HeapXmaxIsMulti | schema.HeapXmaxLockOnly | schema.HeapXmaxKeyshrLock | schema.HeapXmaxExclLock
	infomask2 &^= schema.HeapKeysUpdated
	if infobits&schema.XLHLXmaxIsMulti != 0 {
		infomask |= schema.HeapXmaxIsMulti
	}
	if infobits&schema.XLHLXmaxLockOnly != 0 {
		infomask |= schema.HeapXmaxLockOnly
	}
	if infobits&schema.XLHLXmaxExclLock != 0 {
		infomask |= schema.HeapXmaxExclLock
	}
	if infobits&schema.XLHLXmaxKeyshrLock != 0 {
		infomask |= schema.HeapXmaxKeyshrLock
	}
	if infobits&schema.XLHLKeysUpdated != 0 {
		infomask2 |= schema.HeapKeysUpdated
	}
	return infomask, infomask2
}

// heapDelete is heap_xlog_delete.
func (e *Engine) heapDelete(rec *schema.DecodedRecord, pages Pages, restored []bool, res *Result) bool {
	xl, err := schema.DecodeXlHeapDelete(rec.MainData)
	i, found := heapMainBlock(rec)
	if err != nil || !found || !validHeapOffset(xl.Offnum) {
		return false
	}
	offnum, flags := xl.Offnum, xl.Flags
	blk := &rec.Blocks[i]

	page, needsRedo := e.heapTargetPage(rec, pages, restored, i, flags&schema.XLHDeleteAllVisibleCleared != 0, false, res)
	if !needsRedo {
		return true
	}
	htup, ok := normalTuple(page, offnum)
	if !ok {
		return false // PANIC "invalid lp"
	}
	le := binary.LittleEndian
	infomask, infomask2 := setXmaxInfobits(htup, xl.InfobitsSet)
	infomask2 &^= schema.HeapHotUpdated
	if flags&schema.XLHDeleteIsSuper == 0 {
		le.PutUint32(htup[htupXmax:], xl.Xmax)
	} else {
		le.PutUint32(htup[htupXmin:], 0)
	}
	infomask = setCmaxFirst(htup, infomask)
	le.PutUint16(htup[htupInfomask:], infomask)
	le.PutUint16(htup[htupInfomask2:], infomask2)

	setPrunable(page, rec.Xid())
	if flags&schema.XLHDeleteAllVisibleCleared != 0 {
		page.ClearAllVisible()
	}
	if flags&schema.XLHDeleteIsPartitionMove != 0 {
		setCtid(htup, movedPartitionsBlock, movedPartitionsOffset)
	} else {
		setCtid(htup, blk.Tag.Block, offnum)
	}
	return e.finishPage(rec, page, blk.Tag.Block)
}

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
	infomask = le.Uint16(htup[htupInfomask:]) &^ (schema.HeapXmaxBits | schema.HeapMoved)
	infomask2 = le.Uint16(htup[htupInfomask2:]) &^ schema.HeapKeysUpdated
	return fixInfomaskFromInfobits(infobits, infomask, infomask2)
}

// setCmaxFirst is HeapTupleHeaderSetCmax(htup, FirstCommandId, false).
func setCmaxFirst(htup []byte, infomask uint16) uint16 {
	binary.LittleEndian.PutUint32(htup[htupCid:], 0)
	return infomask &^ schema.HeapComboCid
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
	xl, err := schema.DecodeXlHeapUpdate(rec.MainData)
	ni := blockIndex(rec, 0)
	if err != nil || ni < 0 || rec.Blocks[ni].Tag.Fork != schema.MainForkNum {
		return false
	}
	flags, oldOff, newOff := xl.Flags, xl.OldOffnum, xl.NewOffnum
	isInit := rec.Info()&schema.XLogHeapInitPage != 0
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
	if flags&(schema.XLHUpdatePrefixFromOld|schema.XLHUpdateSuffixFromOld) != 0 && !samePage {
		return false
	}
	// Decode the new tuple's block data before changing anything; it is
	// needed unless block 0 was restored (and not re-initialized).
	var nt schema.HeapUpdateNewTuple
	if isInit && !samePage || !restored[ni] {
		if nt, err = schema.DecodeHeapUpdateNewTuple(flags, newBlk.Data); err != nil {
			return false
		}
		if hoff := int(nt.Header.THoff); nt.PrefixLen > 0 && (hoff < schema.SizeofHeapTupleHeader || hoff-schema.SizeofHeapTupleHeader > len(nt.Data)) {
			return false
		}
		if schema.SizeofHeapTupleHeader+len(nt.Data)+int(nt.PrefixLen)+int(nt.SuffixLen) > schema.MaxHeapTupleSize {
			return false
		}
	}
	prefixLen, suffixLen, tupData := int(nt.PrefixLen), int(nt.SuffixLen), nt.Data
	le := binary.LittleEndian

	// The old tuple version.
	oldPage, oldNeedsRedo := e.heapTargetPage(rec, pages, restored, oi, flags&schema.XLHUpdateOldAllVisibleCleared != 0, false, res)
	var oldTup []byte
	if oldNeedsRedo {
		htup, ok := normalTuple(oldPage, oldOff)
		if !ok {
			return false // PANIC "invalid lp"
		}
		oldTup = htup
		infomask, infomask2 := setXmaxInfobits(htup, xl.OldInfobitsSet)
		if hot {
			infomask2 |= schema.HeapHotUpdated
		} else {
			infomask2 &^= schema.HeapHotUpdated
		}
		le.PutUint32(htup[htupXmax:], xl.OldXmax)
		infomask = setCmaxFirst(htup, infomask)
		le.PutUint16(htup[htupInfomask:], infomask)
		le.PutUint16(htup[htupInfomask2:], infomask2)
		setCtid(htup, newBlk.Tag.Block, newOff)
		setPrunable(oldPage, rec.Xid())
		if flags&schema.XLHUpdateOldAllVisibleCleared != 0 {
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
		if flags&schema.XLHUpdateNewAllVisibleCleared != 0 {
			e.visibilitymapClear(pages, newBlk.Tag.Rel, newBlk.Tag.Block, vmValidBits, res)
		}
	default:
		newPage, newNeedsRedo = e.heapTargetPage(rec, pages, restored, ni, flags&schema.XLHUpdateNewAllVisibleCleared != 0, isInit, res)
	}
	if !newNeedsRedo {
		return true
	}
	if int(newPage.MaxOffsetNumber())+1 < int(newOff) {
		return false // PANIC "invalid max offset number"
	}
	// The new tuple: the logged data, with the prefix and suffix it
	// shares with the old tuple put back (heap_xlog_update's tbuf).
	var prefix, suffix []byte
	head, tail := tupData, []byte(nil)
	if prefixLen > 0 || suffixLen > 0 {
		oldHoff := int(oldTup[htupHoff])
		if oldHoff+prefixLen > len(oldTup) || suffixLen > len(oldTup)-oldHoff {
			return false
		}
		prefix = oldTup[oldHoff : oldHoff+prefixLen]
		suffix = oldTup[len(oldTup)-suffixLen:]
		if prefixLen > 0 {
			n := int(nt.Header.THoff) - schema.SizeofHeapTupleHeader
			head, tail = tupData[:n], tupData[n:]
		}
		// The old tuple lies at or above pd_upper on a sound page, away
		// from the space the new one takes. On a damaged page where it
		// lies below, its parts are copied first, as the C's tbuf does.
		if lp := newPage.ItemID(oldOff); int(lp.Off()) < int(newPage.Upper()) {
			prefix, suffix = slices.Clone(prefix), slices.Clone(suffix)
		}
	}
	tup, ok := heapAddTuple(newPage, nt.Header, rec.Xid(), newBlk.Tag.Block, newOff, head, prefix, tail, suffix)
	if !ok {
		return false // PANIC "failed to add tuple"
	}
	le.PutUint32(tup[htupXmax:], xl.NewXmax)
	if flags&schema.XLHUpdateNewAllVisibleCleared != 0 {
		newPage.ClearAllVisible()
	}
	return e.finishPage(rec, newPage, newBlk.Tag.Block)
}

// heapConfirm is heap_xlog_confirm: a speculative insertion's ctid is set
// to point at the tuple itself.
func (e *Engine) heapConfirm(rec *schema.DecodedRecord, pages Pages, restored []bool, res *Result) bool {
	xl, err := schema.DecodeXlHeapConfirm(rec.MainData)
	i, found := heapMainBlock(rec)
	if err != nil || !found {
		return false
	}
	return e.redoBlock(rec, pages, restored, i, res, func(page schema.Page) bool {
		htup, ok := normalTuple(page, xl.Offnum)
		if ok {
			setCtid(htup, rec.Blocks[i].Tag.Block, xl.Offnum)
		}
		return ok
	})
}

// xmaxIsLockedOnly is HEAP_XMAX_IS_LOCKED_ONLY.
func xmaxIsLockedOnly(infomask uint16) bool {
	return infomask&schema.HeapXmaxLockOnly != 0 || infomask&(schema.HeapXmaxIsMulti|schema.HeapLockMask) == schema.HeapXmaxExclLock
}

// heapLock is heap_xlog_lock.
func (e *Engine) heapLock(rec *schema.DecodedRecord, pages Pages, restored []bool, res *Result) bool {
	xl, err := schema.DecodeXlHeapLock(rec.MainData)
	i, found := heapMainBlock(rec)
	if err != nil || !found || !validHeapOffset(xl.Offnum) {
		return false
	}
	offnum := xl.Offnum
	blk := &rec.Blocks[i]
	if xl.Flags&schema.XLHLockAllFrozenCleared != 0 {
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
	infomask, infomask2 := setXmaxInfobits(htup, xl.InfobitsSet)
	if xmaxIsLockedOnly(infomask) {
		infomask2 &^= schema.HeapHotUpdated
		setCtid(htup, blk.Tag.Block, offnum)
	}
	le := binary.LittleEndian
	le.PutUint32(htup[htupXmax:], xl.LockingXid)
	infomask = setCmaxFirst(htup, infomask)
	le.PutUint16(htup[htupInfomask:], infomask)
	le.PutUint16(htup[htupInfomask2:], infomask2)
	return e.finishPage(rec, page, blk.Tag.Block)
}

// heapInplace is heap_xlog_inplace: the tuple's data (after t_hoff) is
// overwritten with a body of the same length.
func (e *Engine) heapInplace(rec *schema.DecodedRecord, pages Pages, restored []bool, res *Result) bool {
	xl, err := schema.DecodeXlHeapInplace(rec.MainData)
	i, found := heapMainBlock(rec)
	if err != nil || !found {
		return false
	}
	data := rec.Blocks[i].Data
	return e.redoBlock(rec, pages, restored, i, res, func(page schema.Page) bool {
		htup, ok := normalTuple(page, xl.Offnum)
		if !ok {
			return false
		}
		hoff := int(htup[htupHoff])
		if hoff > len(htup) || len(htup)-hoff != len(data) {
			return false // PANIC "wrong tuple length"
		}
		copy(htup[hoff:], data)
		return true
	})
}
