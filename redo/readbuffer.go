package redo

import "github.com/pagemill/pagemill/schema"

// Redo-buffer helpers BRIN and Generic WAL redo use, which the other
// redo files could share too: XLogReadBufferForRedoExtended's checks that
// readBufferForRedo and initBufferForRedo leave out.

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

// redoModeMatches is XLogReadBufferForRedoExtended's PANIC test: a block
// with BKPBLOCK_WILL_INIT must be read with a zeroing mode
// (XLogInitBufferForRedo), and a zeroing mode needs the flag.
func redoModeMatches(blk *schema.DecodedBkpBlock, zeroing bool) bool {
	return blk.WillInit() == zeroing
}
