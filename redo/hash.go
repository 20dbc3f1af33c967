package redo

import (
	"errors"

	"github.com/pagemill/pagemill/schema"
)

// Hash redo (access/hash/hash_xlog.c, hash_redo), with the conventions
// described at the top of heap.go. Each function is named after the C
// function it mirrors. The parts of a record that do not depend on the
// pages (main data, required block references, block data of blocks that
// are always rebuilt) are checked before any page changes; where
// PostgreSQL would raise ERROR or PANIC on a page, the function returns
// false and the caller invalidates the record's pages.
//
// The cleanup lock hash redo takes on the primary bucket page
// (MOVE_PAGE_CONTENTS, SQUEEZE_PAGE, DELETE read block 0 only for it)
// changes no byte, so that block is not read here. Every block's redo
// depends only on its own page and the record, as in PostgreSQL.

// hashRedo is hash_redo. It reports whether the record was applied (see
// heapRedo for the contract of the return value).
func (e *Engine) hashRedo(rec *schema.DecodedRecord, pages Pages, restored []bool, res *Result) bool {
	switch rec.Info() & schema.XLRRmgrInfoMask {
	case schema.XLogHashInitMetaPage:
		return e.hashXlogInitMetaPage(rec, pages, restored)
	case schema.XLogHashInitBitmapPage:
		return e.hashXlogInitBitmapPage(rec, pages, restored, res)
	case schema.XLogHashInsert:
		return e.hashXlogInsert(rec, pages, restored, res)
	case schema.XLogHashAddOvflPage:
		return e.hashXlogAddOvflPage(rec, pages, restored, res)
	case schema.XLogHashSplitAllocatePage:
		return e.hashXlogSplitAllocatePage(rec, pages, restored, res)
	case schema.XLogHashSplitPage:
		return hashXlogSplitPage(rec, restored)
	case schema.XLogHashSplitComplete:
		return e.hashXlogSplitComplete(rec, pages, restored, res)
	case schema.XLogHashMovePageContents:
		return e.hashXlogMovePageContents(rec, pages, restored, res)
	case schema.XLogHashSqueezePage:
		return e.hashXlogSqueezePage(rec, pages, restored, res)
	case schema.XLogHashDelete:
		return e.hashXlogDelete(rec, pages, restored, res)
	case schema.XLogHashSplitCleanup:
		return e.hashXlogSplitCleanup(rec, pages, restored, res)
	case schema.XLogHashUpdateMetaPage:
		return e.hashXlogUpdateMetaPage(rec, pages, restored, res)
	case schema.XLogHashVacuumOnePage:
		return e.hashXlogVacuumOnePage(rec, pages, restored, res)
	}
	return false // PANIC "hash_redo: unknown op code"
}

// hashBlocks returns the indexes in rec.Blocks of the block ids (at most
// three; an array, so that no record allocates), and false if one is
// missing (PostgreSQL's "failed to locate backup block" PANIC).
func hashBlocks(rec *schema.DecodedRecord, ids ...uint8) ([3]int, bool) {
	var idx [3]int
	for k, id := range ids {
		if idx[k] = blockIndex(rec, id); idx[k] < 0 {
			return idx, false
		}
	}
	return idx, true
}

// hashInitBufferForRedo is XLogInitBufferForRedo: block i's page is handed
// out zeroed, for the caller to rebuild with one of the hash initializers.
func hashInitBufferForRedo(rec *schema.DecodedRecord, pages Pages, restored []bool, i int) schema.Page {
	return xlogInitBufferForRedo(rec, pages, restored, i, func(page schema.Page) { clear(page) })
}

// hashReadBufferForRedoOrRestored is XLogReadBufferForRedo for the steps
// that change a page also when it was just restored from an image
// (BLK_NEEDS_REDO or BLK_RESTORED). It returns nil when there is nothing to
// do: the page is up to date, unavailable, or another shard's.
func hashReadBufferForRedoOrRestored(rec *schema.DecodedRecord, pages Pages, restored []bool, i int, res *Result) schema.Page {
	if restored[i] {
		page, ok := pages.Get(rec.Blocks[i].Tag)
		if !ok || len(page) != schema.BLCKSZ {
			return nil
		}
		// Changed after the restore: on failure it must be invalidated.
		restored[i] = false
		return page
	}
	page, action := readBufferForRedo(rec, pages, restored, i, res)
	if action != blkNeedsRedo {
		return nil
	}
	return page
}

// hashUpdateOpaque changes the special space of block i's page with update
// when the page needs redo, and finishes the page.
func (e *Engine) hashUpdateOpaque(rec *schema.DecodedRecord, pages Pages, restored []bool, i int, res *Result, update func(hashOpaque)) bool {
	return e.redoBlock(rec, pages, restored, i, res, func(page schema.Page) bool {
		o, ok := hashPageGetOpaque(page)
		if ok {
			update(o)
		}
		return ok
	})
}

// hashUpdateMeta changes the metapage of block i with update when it needs
// redo, and finishes the page. update reports false where PostgreSQL would
// index past a metapage array.
func (e *Engine) hashUpdateMeta(rec *schema.DecodedRecord, pages Pages, restored []bool, i int, res *Result, update func(hashMeta) bool) bool {
	return e.redoBlock(rec, pages, restored, i, res, func(page schema.Page) bool { return update(hashPageGetMeta(page)) })
}

// hashXlogInitMetaPage is hash_xlog_init_meta_page. (An init fork's page
// is flushed at once by PostgreSQL, which changes no byte.)
func (e *Engine) hashXlogInitMetaPage(rec *schema.DecodedRecord, pages Pages, restored []bool) bool {
	xl, err := schema.DecodeXlHashInitMetaPage(rec.MainData)
	idx, ok := hashBlocks(rec, 0)
	if err != nil || !ok {
		return false
	}
	page := hashInitBufferForRedo(rec, pages, restored, idx[0])
	if !hashInitMetabuffer(page, xl.NumTuples, xl.Procid, xl.Ffactor) {
		return false
	}
	return e.finishPage(rec, page, rec.Blocks[idx[0]].Tag.Block)
}

// hashXlogInitBitmapPage is hash_xlog_init_bitmap_page.
func (e *Engine) hashXlogInitBitmapPage(rec *schema.DecodedRecord, pages Pages, restored []bool, res *Result) bool {
	xl, err := schema.DecodeXlHashInitBitmapPage(rec.MainData)
	idx, ok := hashBlocks(rec, 0, 1)
	if err != nil || !ok {
		return false
	}
	page := hashInitBufferForRedo(rec, pages, restored, idx[0])
	if !hashInitBitmapBuffer(page, xl.Bmsize) || !e.finishPage(rec, page, rec.Blocks[idx[0]].Tag.Block) {
		return false
	}
	// The new map's entry is the block after the initial buckets, as
	// _hash_init placed it: computed from the metapage, not the record.
	return e.hashUpdateMeta(rec, pages, restored, idx[1], res, func(m hashMeta) bool {
		nmaps := m.u32(hashmNmaps)
		off, ok := m.mapp(nmaps)
		if !ok {
			return false
		}
		numBuckets := m.u32(hashmMaxbucket) + 1
		m.setU32(off, numBuckets+1)
		m.setU32(hashmNmaps, nmaps+1)
		return true
	})
}

// hashXlogInsert is hash_xlog_insert.
func (e *Engine) hashXlogInsert(rec *schema.DecodedRecord, pages Pages, restored []bool, res *Result) bool {
	xl, err := schema.DecodeXlHashInsert(rec.MainData)
	idx, ok := hashBlocks(rec, 0, 1)
	if err != nil || !ok {
		return false
	}
	page, action := readBufferForRedo(rec, pages, restored, idx[0], res)
	if action == blkNeedsRedo {
		if _, err := PageAddItem(page, rec.Blocks[idx[0]].Data, xl.Offnum, false, false); err != nil {
			return false // PANIC "hash_xlog_insert: failed to add item"
		}
		if !e.finishPage(rec, page, rec.Blocks[idx[0]].Tag.Block) {
			return false
		}
	}
	return e.hashUpdateMeta(rec, pages, restored, idx[1], res, func(m hashMeta) bool {
		m.setNtuples(m.ntuples() + 1)
		return true
	})
}

// hashXlogAddOvflPage is hash_xlog_add_ovfl_page.
func (e *Engine) hashXlogAddOvflPage(rec *schema.DecodedRecord, pages Pages, restored []bool, res *Result) bool {
	xl, err := schema.DecodeXlHashAddOvflPage(rec.MainData)
	idx, ok := hashBlocks(rec, 0, 1, 4)
	if err != nil || !ok {
		return false
	}
	ovfl, left, meta := idx[0], idx[1], idx[2]
	numBucket, err := schema.DecodeHashBlockUint32(rec.Blocks[ovfl].Data)
	if err != nil {
		return false
	}
	rightblk := rec.Blocks[ovfl].Tag.Block
	leftblk := rec.Blocks[left].Tag.Block
	mapIdx, newMapIdx := blockIndex(rec, 2), blockIndex(rec, 3)

	// The new overflow page, linked back to the chain's old tail.
	page := hashInitBufferForRedo(rec, pages, restored, ovfl)
	hashInitBuf(page, uint32(schema.InvalidBlockNumber), numBucket, lhOverflowPage)
	o, _ := hashPageGetOpaque(page)
	o.setPrev(uint32(leftblk))
	if !e.finishPage(rec, page, rightblk) {
		return false
	}

	if !e.hashUpdateOpaque(rec, pages, restored, left, res, func(o hashOpaque) { o.setNext(uint32(rightblk)) }) {
		return false
	}

	// A recycled overflow page: its bit in the bitmap page is set again.
	if mapIdx >= 0 {
		page, action := readBufferForRedo(rec, pages, restored, mapIdx, res)
		if action == blkNeedsRedo {
			bit, err := schema.DecodeHashBlockUint32(rec.Blocks[mapIdx].Data)
			if err != nil {
				return false
			}
			if !hashSetBit(page, bit) || !e.finishPage(rec, page, rec.Blocks[mapIdx].Tag.Block) {
				return false
			}
		}
	}

	// The last bitmap page was full: a new one follows the overflow page.
	var newmapblk schema.BlockNumber
	if newMapIdx >= 0 {
		newmapblk = rec.Blocks[newMapIdx].Tag.Block
		page := hashInitBufferForRedo(rec, pages, restored, newMapIdx)
		if !hashInitBitmapBuffer(page, xl.Bmsize) || !e.finishPage(rec, page, newmapblk) {
			return false
		}
	}

	page, action := readBufferForRedo(rec, pages, restored, meta, res)
	if action != blkNeedsRedo {
		return true
	}
	firstfree, err := schema.DecodeHashBlockUint32(rec.Blocks[meta].Data)
	if err != nil {
		return false
	}
	m := hashPageGetMeta(page)
	m.setU32(hashmFirstfree, firstfree)
	if !xl.BmpageFound {
		// The page (and the new bitmap page) came from the current
		// splitpoint's spare pages.
		ovflpoint := m.u32(hashmOvflpoint)
		spare, ok := m.spare(ovflpoint)
		if !ok {
			return false
		}
		m.setU32(spare, m.u32(spare)+1)
		if newMapIdx >= 0 {
			nmaps := m.u32(hashmNmaps)
			mapp, ok := m.mapp(nmaps)
			if !ok {
				return false
			}
			m.setU32(mapp, uint32(newmapblk))
			m.setU32(hashmNmaps, nmaps+1)
			m.setU32(spare, m.u32(spare)+1)
		}
	}
	return e.finishPage(rec, page, rec.Blocks[meta].Tag.Block)
}

// hashXlogSplitAllocatePage is hash_xlog_split_allocate_page.
func (e *Engine) hashXlogSplitAllocatePage(rec *schema.DecodedRecord, pages Pages, restored []bool, res *Result) bool {
	xl, err := schema.DecodeXlHashSplitAllocatePage(rec.MainData)
	idx, ok := hashBlocks(rec, 0, 1, 2)
	if err != nil || !ok {
		return false
	}
	oldIdx, newIdx, meta := idx[0], idx[1], idx[2]

	// The old bucket is marked as being split, also on a restored image.
	if page := hashReadBufferForRedoOrRestored(rec, pages, restored, oldIdx, res); page != nil {
		o, ok := hashPageGetOpaque(page)
		if !ok {
			return false
		}
		o.setFlag(xl.OldBucketFlag)
		o.setPrev(xl.NewBucket)
		if !e.finishPage(rec, page, rec.Blocks[oldIdx].Tag.Block) {
			return false
		}
	}

	page := hashInitBufferForRedo(rec, pages, restored, newIdx)
	hashInitBuf(page, xl.NewBucket, xl.NewBucket, xl.NewBucketFlag)
	if !e.finishPage(rec, page, rec.Blocks[newIdx].Tag.Block) {
		return false
	}

	page, action := readBufferForRedo(rec, pages, restored, meta, res)
	if action != blkNeedsRedo {
		return true
	}
	md, err := schema.DecodeHashSplitAllocateMeta(xl.Flags, rec.Blocks[meta].Data)
	if err != nil {
		return false
	}
	m := hashPageGetMeta(page)
	spare, ok := m.spare(md.Ovflpoint)
	if md.HasSplitpoint && !ok {
		return false
	}
	m.setU32(hashmMaxbucket, xl.NewBucket)
	if md.HasMasks {
		m.setU32(hashmLowmask, md.Lowmask)
		m.setU32(hashmHighmask, md.Highmask)
	}
	if md.HasSplitpoint {
		m.setU32(spare, md.OvflPages)
		m.setU32(hashmOvflpoint, md.Ovflpoint)
	}
	return e.finishPage(rec, page, rec.Blocks[meta].Tag.Block)
}

// hashXlogSplitPage is hash_xlog_split_page: the page must have come from
// the record's image (PostgreSQL raises ERROR otherwise).
func hashXlogSplitPage(rec *schema.DecodedRecord, restored []bool) bool {
	i := blockIndex(rec, 0)
	return i >= 0 && restored[i]
}

// hashXlogSplitComplete is hash_xlog_split_complete.
func (e *Engine) hashXlogSplitComplete(rec *schema.DecodedRecord, pages Pages, restored []bool, res *Result) bool {
	xl, err := schema.DecodeXlHashSplitComplete(rec.MainData)
	idx, ok := hashBlocks(rec, 0, 1)
	if err != nil || !ok {
		return false
	}
	// Both flags are set also on restored images.
	for k, flag := range []uint16{xl.OldBucketFlag, xl.NewBucketFlag} {
		page := hashReadBufferForRedoOrRestored(rec, pages, restored, idx[k], res)
		if page == nil {
			continue
		}
		o, ok := hashPageGetOpaque(page)
		if !ok {
			return false
		}
		o.setFlag(flag)
		if !e.finishPage(rec, page, rec.Blocks[idx[k]].Tag.Block) {
			return false
		}
	}
	return true
}

// hashAddMovedTuples adds the tuples of MOVE_PAGE_CONTENTS or SQUEEZE_PAGE
// to the write page at their logged offsets, each with its MAXALIGNed
// length as PostgreSQL passes it.
func hashAddMovedTuples(page schema.Page, ntups uint16, data []byte) bool {
	offs, tuples, err := schema.DecodeHashMovedTuples(ntups, data)
	if err != nil {
		return false
	}
	for k, tup := range tuples {
		if _, err := PageAddItem(page, tup, offs[k], false, false); err != nil {
			return false // ERROR "failed to add item to hash index page"
		}
	}
	return true
}

// hashDeleteOffsets is the PageIndexMultiDelete of the offsets in block
// data, when there are any.
func hashDeleteOffsets(page schema.Page, data []byte) bool {
	offs, err := schema.DecodeHashOffsets(data)
	if err != nil {
		return false
	}
	return len(offs) == 0 || PageIndexMultiDelete(page, offs) == nil
}

// hashXlogMovePageContents is hash_xlog_move_page_contents.
func (e *Engine) hashXlogMovePageContents(rec *schema.DecodedRecord, pages Pages, restored []bool, res *Result) bool {
	xl, err := schema.DecodeXlHashMovePageContents(rec.MainData)
	idx, ok := hashBlocks(rec, 1, 2)
	if err != nil || !ok || (!xl.IsPrimBucketSameWrt && blockIndex(rec, 0) < 0) {
		return false
	}
	write, del := idx[0], idx[1]

	page, action := readBufferForRedo(rec, pages, restored, write, res)
	if action == blkNeedsRedo {
		if !hashAddMovedTuples(page, xl.Ntups, rec.Blocks[write].Data) ||
			!e.finishPage(rec, page, rec.Blocks[write].Tag.Block) {
			return false
		}
	}

	page, action = readBufferForRedo(rec, pages, restored, del, res)
	if action != blkNeedsRedo {
		return true
	}
	if !hashDeleteOffsets(page, rec.Blocks[del].Data) {
		return false
	}
	return e.finishPage(rec, page, rec.Blocks[del].Tag.Block)
}

// hashXlogSqueezePage is hash_xlog_squeeze_page.
func (e *Engine) hashXlogSqueezePage(rec *schema.DecodedRecord, pages Pages, restored []bool, res *Result) bool {
	xl, err := schema.DecodeXlHashSqueezePage(rec.MainData)
	idx, ok := hashBlocks(rec, 1, 2, 5)
	if err != nil || !ok || (!xl.IsPrimBucketSameWrt && blockIndex(rec, 0) < 0) {
		return false
	}
	write, ovfl, bitmap := idx[0], idx[1], idx[2]
	prevIdx, nextIdx, metaIdx := blockIndex(rec, 3), blockIndex(rec, 4), blockIndex(rec, 6)
	if !xl.IsPrevBucketSameWrt && prevIdx < 0 {
		return false
	}

	page, action := readBufferForRedo(rec, pages, restored, write, res)
	if action == blkNeedsRedo {
		if !hashAddMovedTuples(page, xl.Ntups, rec.Blocks[write].Data) {
			return false
		}
		// The write page precedes the freed page: unlink it here.
		if xl.IsPrevBucketSameWrt {
			o, ok := hashPageGetOpaque(page)
			if !ok {
				return false
			}
			o.setNext(uint32(xl.Nextblkno))
		}
		if !e.finishPage(rec, page, rec.Blocks[write].Tag.Block) {
			return false
		}
	}

	// The freed overflow page becomes an unused page.
	page, action = readBufferForRedo(rec, pages, restored, ovfl, res)
	if action == blkNeedsRedo {
		hashPageInit(page)
		o, _ := hashPageGetOpaque(page)
		o.set(uint32(schema.InvalidBlockNumber), uint32(schema.InvalidBlockNumber), hashInvalidBkt, lhUnusedPage)
		if !e.finishPage(rec, page, rec.Blocks[ovfl].Tag.Block) {
			return false
		}
	}

	if !xl.IsPrevBucketSameWrt {
		if !e.hashUpdateOpaque(rec, pages, restored, prevIdx, res, func(o hashOpaque) { o.setNext(uint32(xl.Nextblkno)) }) {
			return false
		}
	}
	if nextIdx >= 0 {
		if !e.hashUpdateOpaque(rec, pages, restored, nextIdx, res, func(o hashOpaque) { o.setPrev(uint32(xl.Prevblkno)) }) {
			return false
		}
	}

	// The freed page's bit is cleared in its bitmap page.
	page, action = readBufferForRedo(rec, pages, restored, bitmap, res)
	if action == blkNeedsRedo {
		bit, err := schema.DecodeHashBlockUint32(rec.Blocks[bitmap].Data)
		if err != nil {
			return false
		}
		if !hashClrBit(page, bit) || !e.finishPage(rec, page, rec.Blocks[bitmap].Tag.Block) {
			return false
		}
	}

	if metaIdx < 0 {
		return true
	}
	page, action = readBufferForRedo(rec, pages, restored, metaIdx, res)
	if action != blkNeedsRedo {
		return true
	}
	firstfree, err := schema.DecodeHashBlockUint32(rec.Blocks[metaIdx].Data)
	if err != nil {
		return false
	}
	hashPageGetMeta(page).setU32(hashmFirstfree, firstfree)
	return e.finishPage(rec, page, rec.Blocks[metaIdx].Tag.Block)
}

// hashXlogDelete is hash_xlog_delete.
func (e *Engine) hashXlogDelete(rec *schema.DecodedRecord, pages Pages, restored []bool, res *Result) bool {
	xl, err := schema.DecodeXlHashDelete(rec.MainData)
	idx, ok := hashBlocks(rec, 1)
	if err != nil || !ok || (!xl.IsPrimaryBucketPage && blockIndex(rec, 0) < 0) {
		return false
	}
	del := idx[0]
	page, action := readBufferForRedo(rec, pages, restored, del, res)
	if action != blkNeedsRedo {
		return true
	}
	if !hashDeleteOffsets(page, rec.Blocks[del].Data) {
		return false
	}
	if xl.ClearDeadMarking {
		o, ok := hashPageGetOpaque(page)
		if !ok {
			return false
		}
		o.clearFlag(lhPageHasDeadTuples)
	}
	return e.finishPage(rec, page, rec.Blocks[del].Tag.Block)
}

// hashXlogSplitCleanup is hash_xlog_split_cleanup.
func (e *Engine) hashXlogSplitCleanup(rec *schema.DecodedRecord, pages Pages, restored []bool, res *Result) bool {
	idx, ok := hashBlocks(rec, 0)
	if !ok {
		return false
	}
	return e.hashUpdateOpaque(rec, pages, restored, idx[0], res, func(o hashOpaque) { o.clearFlag(lhBucketNeedsSplitCleanup) })
}

// hashXlogUpdateMetaPage is hash_xlog_update_meta_page.
func (e *Engine) hashXlogUpdateMetaPage(rec *schema.DecodedRecord, pages Pages, restored []bool, res *Result) bool {
	xl, err := schema.DecodeXlHashUpdateMetaPage(rec.MainData)
	idx, ok := hashBlocks(rec, 0)
	if err != nil || !ok {
		return false
	}
	return e.hashUpdateMeta(rec, pages, restored, idx[0], res, func(m hashMeta) bool {
		m.setNtuples(xl.Ntuples)
		return true
	})
}

// hashXlogVacuumOnePage is hash_xlog_vacuum_one_page. Its recovery
// conflict changes no page.
func (e *Engine) hashXlogVacuumOnePage(rec *schema.DecodedRecord, pages Pages, restored []bool, res *Result) bool {
	xl, err := schema.DecodeXlHashVacuumOnePage(rec.MainData)
	if err != nil {
		return false
	}
	// The offsets are in the main data, present even with an image.
	offs, err := schema.DecodeHashVacuumOnePageOffsets(xl, rec.MainData)
	idx, ok := hashBlocks(rec, 0, 1)
	if err != nil || !ok {
		return false
	}
	page, action := readBufferForRedo(rec, pages, restored, idx[0], res)
	if action == blkNeedsRedo {
		if len(rec.MainData) > schema.SizeOfHashVacuumOnePage {
			if err := PageIndexMultiDelete(page, offs); err != nil {
				return false
			}
		}
		o, ok := hashPageGetOpaque(page)
		if !ok {
			return false
		}
		o.clearFlag(lhPageHasDeadTuples)
		if !e.finishPage(rec, page, rec.Blocks[idx[0]].Tag.Block) {
			return false
		}
	}
	return e.hashUpdateMeta(rec, pages, restored, idx[1], res, func(m hashMeta) bool {
		m.setNtuples(m.ntuples() - float64(xl.Ntuples))
		return true
	})
}

// MaskHash is hash_mask (access/hash/hash_xlog.c).
func MaskHash(page []byte, _ schema.BlockNumber) error {
	if err := maskCheckSize("hash_mask", page); err != nil {
		return err
	}
	maskLSNAndChecksum(page)
	maskHintBits(page)
	err := maskUnusedSpace(page)

	special, errS := maskOpaque(page, hashOpaqueSize)
	err = errors.Join(err, errS)
	if flag, ok := maskGet16(page, special+hashoFlag); ok {
		switch flag & lhPageType {
		case lhUnusedPage:
			maskPageContent(page)
		case lhBucketPage, lhOverflowPage:
			maskLPFlags(page)
		}
	}
	// Re-read: mask_page_content may have zeroed the special space.
	if flag, ok := maskGet16(page, special+hashoFlag); ok {
		maskPut16(page, special+hashoFlag, flag&^lhPageHasDeadTuples)
	}
	return maskWrap("hash_mask", err)
}
