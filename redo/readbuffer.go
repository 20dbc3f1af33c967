package redo

import "github.com/pagemill/pagemill/schema"

// Redo-buffer helpers: the shape of a one-block redo step, and
// XLogReadBufferForRedoExtended's checks that readBufferForRedo and
// initBufferForRedo leave out (BRIN and Generic WAL redo use them).

// readBufferForRedoNormal is XLogReadBufferForRedo (RBM_NORMAL) including
// XLogReadBufferExtended's PageIsNew test: an all-zero page is
// BLK_NOTFOUND (PostgreSQL logs it as an invalid page and skips the
// block), so it is made unavailable like a page the store lacks.
func readBufferForRedoNormal(rec *schema.DecodedRecord, pages Pages, restored []bool, i int, res *Result) (schema.Page, redoAction) {
	page, action := readBufferForRedo(rec, pages, restored, i, res)
	if action == blkNeedsRedo && page.IsNew() {
		tag := rec.Blocks[i].Tag
		pages.Invalidate(tag)
		res.Invalidated = append(res.Invalidated, tag)
		return nil, blkNotFound
	}
	return page, action
}

// redoBlock is the shape of a redo step on one block: when block i's page
// needs redo (XLogReadBufferForRedo's BLK_NEEDS_REDO), change changes it,
// and the page gets the record's LSN (finishPage). It is false where
// change is: where PostgreSQL would raise ERROR or PANIC.
func (e *Engine) redoBlock(rec *schema.DecodedRecord, pages Pages, restored []bool, i int, res *Result, change func(schema.Page) bool) bool {
	page, action := readBufferForRedo(rec, pages, restored, i, res)
	if action != blkNeedsRedo {
		return true
	}
	return change(page) && e.finishPage(rec, page, rec.Blocks[i].Tag.Block)
}

// redoModeMatches is XLogReadBufferForRedoExtended's PANIC test: a block
// with BKPBLOCK_WILL_INIT must be read with a zeroing mode
// (XLogInitBufferForRedo), and a zeroing mode needs the flag.
func redoModeMatches(blk *schema.DecodedBkpBlock, zeroing bool) bool {
	return blk.WillInit() == zeroing
}
