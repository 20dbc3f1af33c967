package redo

import (
	"encoding/binary"
	"errors"

	"github.com/pagemill/pagemill/schema"
)

// BRIN redo (access/brin/brin_xlog.c, brin_redo), with the conventions described at the
// top of heap.go. Each function is named after the C function it mirrors.
// Main data, block references and block data are checked before any page
// changes; a failure found on a page afterwards (PostgreSQL's ERROR or
// PANIC) returns false, and the caller invalidates the record's pages.

// BRIN page layout (access/brin_page.h, brin_revmap.h, brin_tuple.h).
const (
	brinPageTypeMeta    = 0xF091 // BRIN_PAGETYPE_META
	brinPageTypeRevmap  = 0xF092 // BRIN_PAGETYPE_REVMAP
	brinPageTypeRegular = 0xF093 // BRIN_PAGETYPE_REGULAR

	sizeOfBrinSpecialSpace = 8      // BrinSpecialSpace: uint16 vector[4]
	brinSpecialType        = 6      // vector[3], the page type, from pd_special
	brinSpecialFlags       = 4      // vector[2], the flags, from pd_special
	brinEvacuatePage       = 1 << 0 // BRIN_EVACUATE_PAGE

	brinMetaMagic          = 0xA8109CFA // BRIN_META_MAGIC
	brinPageContents       = 24         // PageGetContents: metadata, or the revmap TIDs
	brinMetaLastRevmapPage = 12         // BrinMetaPageData.lastRevmapPage
	sizeOfBrinMetaPageData = 16         // brinMagic, brinVersion, pagesPerRange, lastRevmapPage
	brinSizeOfItemPointer  = 6          // bi_hi, bi_lo, ip_posid
	revmapPageMaxItems     = (schema.BLCKSZ - brinPageContents - sizeOfBrinSpecialSpace) / brinSizeOfItemPointer
	sizeOfBrinTuple        = 5 // SizeOfBrinTuple: bt_blkno u32, bt_info u8
)

// brinRedo is brin_redo. It reports whether the record was applied (see heapRedo
// for the contract of the return value).
func (e *Engine) brinRedo(rec *schema.DecodedRecord, pages Pages, restored []bool, res *Result) bool {
	switch rec.Info() & schema.XLogBrinOpMask {
	case schema.XLogBrinCreateIndex:
		return e.brinXlogCreateidx(rec, pages, restored)
	case schema.XLogBrinInsert:
		return e.brinXlogInsert(rec, pages, restored, res)
	case schema.XLogBrinUpdate:
		return e.brinXlogUpdate(rec, pages, restored, res)
	case schema.XLogBrinSamepageUpdate:
		return e.brinXlogSamepageUpdate(rec, pages, restored, res)
	case schema.XLogBrinRevmapExtend:
		return e.brinXlogRevmapExtend(rec, pages, restored, res)
	case schema.XLogBrinDesummarize:
		return e.brinXlogDesummarizePage(rec, pages, restored, res)
	}
	return false // PANIC "brin_redo: unknown op code"
}

// brinPageInit is brin_page_init.
func brinPageInit(page schema.Page, typ uint16) {
	_ = PageInit(page, sizeOfBrinSpecialSpace) // cannot fail on a BLCKSZ page
	binary.LittleEndian.PutUint16(page[int(page.Special())+brinSpecialType:], typ)
}

// brinMetapageInit is brin_metapage_init.
func brinMetapageInit(page schema.Page, pagesPerRange schema.BlockNumber, version uint16) {
	brinPageInit(page, brinPageTypeMeta)
	md := page[brinPageContents : brinPageContents+sizeOfBrinMetaPageData]
	le := binary.LittleEndian
	le.PutUint32(md[0:], brinMetaMagic)
	le.PutUint32(md[4:], uint32(version))
	le.PutUint32(md[8:], uint32(pagesPerRange))
	le.PutUint32(md[brinMetaLastRevmapPage:], 0) // the metapage itself: see brin_metapage_init
	// pd_lower past the metadata, so that a compressed image keeps it.
	page.SetLower(brinPageContents + sizeOfBrinMetaPageData)
}

// brinSetHeapBlockItemptr is brinSetHeapBlockItemptr on a revmap page: the
// entry of heapBlk's range becomes (blk, off), or invalid when off is not
// a valid offset (ItemPointerIsValid looks at the offset only). It is
// false where PostgreSQL divides by a zero pagesPerRange.
func brinSetHeapBlockItemptr(page schema.Page, pagesPerRange, heapBlk, blk schema.BlockNumber, off schema.OffsetNumber) bool {
	if pagesPerRange == 0 {
		return false
	}
	idx := int((heapBlk / pagesPerRange) % revmapPageMaxItems)
	tid := page[brinPageContents+idx*brinSizeOfItemPointer:][:brinSizeOfItemPointer]
	if off == schema.InvalidOffsetNumber {
		blk = schema.InvalidBlockNumber
	}
	le := binary.LittleEndian
	le.PutUint16(tid[0:], uint16(blk>>16))
	le.PutUint16(tid[2:], uint16(blk))
	le.PutUint16(tid[4:], uint16(off))
	return true
}

// brinInitBufferForRedo is XLogInitBufferForRedo followed by
// brin_page_init.
func brinInitBufferForRedo(rec *schema.DecodedRecord, pages Pages, restored []bool, i int, typ uint16) schema.Page {
	return xlogInitBufferForRedo(rec, pages, restored, i, func(page schema.Page) { brinPageInit(page, typ) })
}

// brinBlocks returns the indexes in rec.Blocks of block ids 0..n-1, and
// false when one is missing (XLogReadBufferForRedo's ERROR) or when
// its BKPBLOCK_WILL_INIT flag does not match the read mode (its PANIC):
// init[id] says which ids redo reads with XLogInitBufferForRedo.
func brinBlocks(rec *schema.DecodedRecord, init ...bool) ([3]int, bool) {
	var idx [3]int // at most three ids; an array, so that no record allocates
	for id, zeroing := range init {
		idx[id] = blockIndex(rec, uint8(id))
		if idx[id] < 0 || !redoModeMatches(&rec.Blocks[idx[id]], zeroing) {
			return idx, false
		}
	}
	return idx, true
}

// brinHasTuple reports whether block i carries the BrinTuple redo reads
// when it replays the block: checked unless an applied image stands for
// the block (then PostgreSQL never reads its data, which is not logged).
func brinHasTuple(rec *schema.DecodedRecord, i int, isInit bool) bool {
	blk := &rec.Blocks[i]
	return (!isInit && blk.ApplyImage()) || len(blk.Data) >= sizeOfBrinTuple
}

// brinXlogCreateidx is brin_xlog_createidx.
func (e *Engine) brinXlogCreateidx(rec *schema.DecodedRecord, pages Pages, restored []bool) bool {
	xl, err := schema.DecodeXlBrinCreateidx(rec.MainData)
	if err != nil {
		return false
	}
	idx, ok := brinBlocks(rec, true)
	if !ok {
		return false
	}
	page := brinInitBufferForRedo(rec, pages, restored, idx[0], brinPageTypeMeta)
	brinMetapageInit(page, xl.PagesPerRange, xl.Version)
	return e.finishPage(rec, page, rec.Blocks[idx[0]].Tag.Block)
}

// brinXlogInsertUpdate is brin_xlog_insert_update: the tuple goes to block
// 0 (rebuilt first for +INIT) at xl.Offnum, and block 1's revmap entry for
// xl.HeapBlk points at it. The caller has checked blocks 0 and 1 with
// brinBlocks and brinHasTuple.
func (e *Engine) brinXlogInsertUpdate(rec *schema.DecodedRecord, pages Pages, restored []bool, res *Result, xl schema.XlBrinInsert, idx [3]int) bool {
	blk0 := &rec.Blocks[idx[0]]
	var page schema.Page
	action := blkNeedsRedo
	if rec.Info()&schema.XLogBrinInitPage != 0 {
		page = brinInitBufferForRedo(rec, pages, restored, idx[0], brinPageTypeRegular)
	} else {
		page, action = readBufferForRedoNormal(rec, pages, restored, idx[0], res)
	}
	// The revmap stores block 0's number: the record's, whether or not the
	// page is at hand.
	regpgno := blk0.Tag.Block
	if action == blkNeedsRedo {
		if int(page.MaxOffsetNumber())+1 < int(xl.Offnum) {
			return false // PANIC "invalid max offset number"
		}
		if _, err := PageAddItem(page, blk0.Data, xl.Offnum, true, false); err != nil {
			return false // PANIC "failed to add tuple"
		}
		if !e.finishPage(rec, page, regpgno) {
			return false
		}
	}

	revmap, action := readBufferForRedoNormal(rec, pages, restored, idx[1], res)
	if action == blkNeedsRedo {
		if !brinSetHeapBlockItemptr(revmap, xl.PagesPerRange, xl.HeapBlk, regpgno, xl.Offnum) {
			return false
		}
		return e.finishPage(rec, revmap, rec.Blocks[idx[1]].Tag.Block)
	}
	return true
}

// brinXlogInsert is brin_xlog_insert.
func (e *Engine) brinXlogInsert(rec *schema.DecodedRecord, pages Pages, restored []bool, res *Result) bool {
	xl, err := schema.DecodeXlBrinInsert(rec.MainData)
	if err != nil {
		return false
	}
	isInit := rec.Info()&schema.XLogBrinInitPage != 0
	idx, ok := brinBlocks(rec, isInit, false)
	if !ok || !brinHasTuple(rec, idx[0], isInit) {
		return false
	}
	return e.brinXlogInsertUpdate(rec, pages, restored, res, xl, idx)
}

// brinXlogUpdate is brin_xlog_update: the old tuple leaves block 2, then
// the new one is inserted as brin_xlog_insert_update does.
func (e *Engine) brinXlogUpdate(rec *schema.DecodedRecord, pages Pages, restored []bool, res *Result) bool {
	xl, err := schema.DecodeXlBrinUpdate(rec.MainData)
	if err != nil {
		return false
	}
	isInit := rec.Info()&schema.XLogBrinInitPage != 0
	idx, ok := brinBlocks(rec, isInit, false, false)
	if !ok || !brinHasTuple(rec, idx[0], isInit) {
		return false
	}
	page, action := readBufferForRedoNormal(rec, pages, restored, idx[2], res)
	if action == blkNeedsRedo {
		if err := PageIndexTupleDeleteNoCompact(page, xl.OldOffnum); err != nil {
			return false // ERROR from PageIndexTupleDeleteNoCompact
		}
		if !e.finishPage(rec, page, rec.Blocks[idx[2]].Tag.Block) {
			return false
		}
	}
	return e.brinXlogInsertUpdate(rec, pages, restored, res, xl.Insert, idx)
}

// brinXlogSamepageUpdate is brin_xlog_samepage_update.
func (e *Engine) brinXlogSamepageUpdate(rec *schema.DecodedRecord, pages Pages, restored []bool, res *Result) bool {
	xl, err := schema.DecodeXlBrinSamepageUpdate(rec.MainData)
	if err != nil {
		return false
	}
	idx, ok := brinBlocks(rec, false)
	if !ok || !brinHasTuple(rec, idx[0], false) {
		return false
	}
	blk := &rec.Blocks[idx[0]]
	page, action := readBufferForRedoNormal(rec, pages, restored, idx[0], res)
	if action != blkNeedsRedo {
		return true
	}
	if ok, err := PageIndexTupleOverwrite(page, xl.Offnum, blk.Data); err != nil || !ok {
		return false // ERROR, or PANIC "failed to replace tuple"
	}
	return e.finishPage(rec, page, blk.Tag.Block)
}

// brinXlogRevmapExtend is brin_xlog_revmap_extend: the metapage records
// the new last revmap page, which is (re)initialized.
func (e *Engine) brinXlogRevmapExtend(rec *schema.DecodedRecord, pages Pages, restored []bool, res *Result) bool {
	xl, err := schema.DecodeXlBrinRevmapExtend(rec.MainData)
	if err != nil {
		return false
	}
	idx, ok := brinBlocks(rec, false, true)
	if !ok {
		return false
	}
	metapg, action := readBufferForRedoNormal(rec, pages, restored, idx[0], res)
	if action == blkNeedsRedo {
		binary.LittleEndian.PutUint32(metapg[brinPageContents+brinMetaLastRevmapPage:], uint32(xl.TargetBlk))
		// Re-asserted because pg_upgraded pre-v11 metapages lack it.
		metapg.SetLower(brinPageContents + sizeOfBrinMetaPageData)
		if !e.finishPage(rec, metapg, rec.Blocks[idx[0]].Tag.Block) {
			return false
		}
	}
	page := brinInitBufferForRedo(rec, pages, restored, idx[1], brinPageTypeRevmap)
	return e.finishPage(rec, page, rec.Blocks[idx[1]].Tag.Block)
}

// brinXlogDesummarizePage is brin_xlog_desummarize_page: block 0's revmap
// entry for the range is invalidated and the summary tuple leaves block 1.
func (e *Engine) brinXlogDesummarizePage(rec *schema.DecodedRecord, pages Pages, restored []bool, res *Result) bool {
	xl, err := schema.DecodeXlBrinDesummarize(rec.MainData)
	if err != nil {
		return false
	}
	idx, ok := brinBlocks(rec, false, false)
	if !ok {
		return false
	}
	revmap, action := readBufferForRedoNormal(rec, pages, restored, idx[0], res)
	if action == blkNeedsRedo {
		if !brinSetHeapBlockItemptr(revmap, xl.PagesPerRange, xl.HeapBlk, schema.InvalidBlockNumber, schema.InvalidOffsetNumber) {
			return false
		}
		if !e.finishPage(rec, revmap, rec.Blocks[idx[0]].Tag.Block) {
			return false
		}
	}
	regPg, action := readBufferForRedoNormal(rec, pages, restored, idx[1], res)
	if action != blkNeedsRedo {
		return true
	}
	if err := PageIndexTupleDeleteNoCompact(regPg, xl.RegOffset); err != nil {
		return false // ERROR from PageIndexTupleDeleteNoCompact
	}
	return e.finishPage(rec, regPg, rec.Blocks[idx[1]].Tag.Block)
}

// MaskBRIN is brin_mask (access/brin/brin_xlog.c).
func MaskBRIN(page []byte, _ schema.BlockNumber) error {
	if err := maskCheckSize("brin_mask", page); err != nil {
		return err
	}
	maskLSNAndChecksum(page)
	maskHintBits(page)

	special, err := maskOpaque(page, sizeOfBrinSpecialSpace)
	// Regular pages, and meta pages whose pd_lower looks set, have a hole.
	if typ, ok := maskGet16(page, special+brinSpecialType); ok &&
		(typ == brinPageTypeRegular || (typ == brinPageTypeMeta && maskLower(page) > sizeOfPageHeader)) {
		err = errors.Join(err, maskUnusedSpace(page))
	}
	// BRIN_EVACUATE_PAGE is not WAL-logged.
	if flags, ok := maskGet16(page, special+brinSpecialFlags); ok {
		maskPut16(page, special+brinSpecialFlags, flags&^brinEvacuatePage)
	}
	return maskWrap("brin_mask", err)
}
