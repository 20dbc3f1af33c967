package redo

import (
	"encoding/binary"
	"errors"

	"github.com/pagemill/pagemill/schema"
)

// GiST redo (access/gist/gistxlog.c, gist_redo) for every record type,
// with the conventions described at the top of heap.go. Each function is
// named after the C function it mirrors. The record layouts are decoded by
// schema/gistxlog.go. What a record says independently of the pages (main
// data, block references, block data) is checked before any page changes;
// a failure found on a page afterwards (where PostgreSQL would raise ERROR
// or PANIC) returns false, and the caller invalidates the record's pages.
//
// F_TUPLES_DELETED follows PostgreSQL 15.18 where its primary and its
// replay agree: PAGE_UPDATE with deletions on a leaf sets it (VACUUM's
// gistvacuumpage does so on the primary). DELETE redo does not set it:
// 15.15-15.18 replay does, but the primary (gistprunepage) never does, so
// the page would differ from the primary's in a bit no mask hides (15.20
// replay no longer sets it either); see gistDeleteMarksTuplesDeleted.

// GiST page layout (access/gist.h).
const (
	sizeOfGistPageOpaque = 16 // sizeof(GISTPageOpaqueData)

	// GISTPageOpaqueData fields, from pd_special.
	gistoNSN       = 0 // nsn: PageXLogRecPtr (xlogid u32, xrecoff u32)
	gistoRightlink = 8
	gistoFlags     = 12
	gistoPageID    = 14

	gistFLeaf          = 1 << 0 // F_LEAF
	gistFDeleted       = 1 << 1 // F_DELETED
	gistFTuplesDeleted = 1 << 2 // F_TUPLES_DELETED
	gistFFollowRight   = 1 << 3 // F_FOLLOW_RIGHT
	gistFHasGarbage    = 1 << 4 // F_HAS_GARBAGE

	gistPageID    = 0xFF81 // GIST_PAGE_ID
	gistRootBlkno = 0      // GIST_ROOT_BLKNO

	// GistPageSetDeleted: pd_lower = MAXALIGN(SizeOfPageHeaderData) +
	// sizeof(GISTDeletedPageContents), the FullTransactionId deleteXid at
	// PageGetContents.
	gistDeletedContents   = 24
	sizeOfGistDeletedPage = 8
)

// gistDeleteMarksTuplesDeleted says whether DELETE redo sets
// F_TUPLES_DELETED. See the top of this file.
const gistDeleteMarksTuplesDeleted = false

// gistOpaque is a page's GISTPageOpaqueData (the 16 bytes at pd_special).
type gistOpaque []byte

// gistPageGetOpaque is GistPageGetOpaque; false if the special space does
// not hold the struct (a page PostgreSQL would index out of).
func gistPageGetOpaque(page schema.Page) (gistOpaque, bool) {
	special := int(page.Special())
	if len(page) != schema.BLCKSZ || special < sizeOfPageHeader || special+sizeOfGistPageOpaque > schema.BLCKSZ {
		return nil, false
	}
	return gistOpaque(page[special : special+sizeOfGistPageOpaque]), true
}

func (o gistOpaque) flags() uint16         { return binary.LittleEndian.Uint16(o[gistoFlags:]) }
func (o gistOpaque) setFlags(f uint16)     { binary.LittleEndian.PutUint16(o[gistoFlags:], f) }
func (o gistOpaque) addFlags(f uint16)     { o.setFlags(o.flags() | f) }
func (o gistOpaque) clearFlags(f uint16)   { o.setFlags(o.flags() &^ f) }
func (o gistOpaque) isLeaf() bool          { return o.flags()&gistFLeaf != 0 } // GistPageIsLeaf
func (o gistOpaque) setRightlink(b uint32) { binary.LittleEndian.PutUint32(o[gistoRightlink:], b) }
func (o gistOpaque) setPageID(id uint16)   { binary.LittleEndian.PutUint16(o[gistoPageID:], id) }

// setNSN is GistPageSetNSN.
func (o gistOpaque) setNSN(nsn schema.LSN) {
	binary.LittleEndian.PutUint32(o[gistoNSN:], uint32(nsn>>32))
	binary.LittleEndian.PutUint32(o[gistoNSN+4:], uint32(nsn))
}

// gistinitpage is gistinitpage (GISTInitBuffer): an empty page with the
// GiST special space, no right sibling, the given flags and NSN 0.
func gistinitpage(page schema.Page, flags uint16) {
	_ = PageInit(page, sizeOfGistPageOpaque) // cannot fail on a BLCKSZ page
	o, _ := gistPageGetOpaque(page)
	o.setRightlink(uint32(schema.InvalidBlockNumber))
	o.setFlags(flags)
	o.setPageID(gistPageID)
}

// gistfillbuffer is gistfillbuffer with a valid offset: the tuples are
// added at consecutive offsets from off.
func gistfillbuffer(page schema.Page, tuples [][]byte, off schema.OffsetNumber) bool {
	for _, t := range tuples {
		if _, err := PageAddItem(page, t, off, false, false); err != nil {
			return false // ERROR "failed to add item to GiST index page"
		}
		off++
	}
	return true
}

// gistPageSetDeleted is GistPageSetDeleted (its Assert that the page is
// empty is not checked by a release build, nor here).
func gistPageSetDeleted(page schema.Page, o gistOpaque, deleteXid uint64) {
	o.addFlags(gistFDeleted)
	page.SetLower(gistDeletedContents + sizeOfGistDeletedPage)
	binary.LittleEndian.PutUint64(page[gistDeletedContents:], deleteXid)
}

// gistInitBufferForRedo is XLogInitBufferForRedo followed by
// GISTInitBuffer.
func gistInitBufferForRedo(rec *schema.DecodedRecord, pages Pages, restored []bool, i int, flags uint16) schema.Page {
	return xlogInitBufferForRedo(rec, pages, restored, i, func(page schema.Page) { gistinitpage(page, flags) })
}

// gistReadBufferForRedo is readBufferForRedo that also returns the page of
// a block restored from an image (BLK_RESTORED), which
// gistRedoClearFollowRight changes too. A restored page that a
// PartialPages does not own is its owner's to change: nil, BLK_RESTORED.
func gistReadBufferForRedo(rec *schema.DecodedRecord, pages Pages, restored []bool, i int, res *Result) (schema.Page, redoAction) {
	page, action := readBufferForRedo(rec, pages, restored, i, res)
	if action != blkRestored {
		return page, action
	}
	tag := rec.Blocks[i].Tag
	if partial, ok := pages.(PartialPages); ok && !partial.Owns(tag) {
		return nil, blkRestored
	}
	page, ok := pages.Get(tag)
	if !ok || len(page) != schema.BLCKSZ {
		return nil, blkNotFound
	}
	return page, blkRestored
}

// gistRedo is gist_redo. It reports whether the record was applied (see
// heapRedo for the contract of the return value).
func (e *Engine) gistRedo(rec *schema.DecodedRecord, pages Pages, restored []bool, res *Result) bool {
	switch rec.Info() & schema.XLRRmgrInfoMask {
	case schema.XLogGistPageUpdate:
		return e.gistRedoPageUpdateRecord(rec, pages, restored, res)
	case schema.XLogGistDelete:
		return e.gistRedoDeleteRecord(rec, pages, restored, res)
	case schema.XLogGistPageReuse:
		return gistRedoPageReuse(rec)
	case schema.XLogGistPageSplit:
		return e.gistRedoPageSplitRecord(rec, pages, restored, res)
	case schema.XLogGistPageDelete:
		return e.gistRedoPageDelete(rec, pages, restored, res)
	case schema.XLogGistAssignLSN:
		// A no-op (see gistGetFakeLSN): the record only moves the LSN.
		_, err := schema.DecodeGistxlogAssignLSN(rec.MainData)
		return err == nil
	}
	return false // PANIC "gist_redo: unknown op code"
}

// gistRedoClearFollowRight is gistRedoClearFollowRight: the left child of
// a split whose downlink the record inserts gets NSN = the record's end
// and loses F_FOLLOW_RIGHT, also when restored from an image (the primary
// changes it only after writing the record, so the image lacks this).
func (e *Engine) gistRedoClearFollowRight(rec *schema.DecodedRecord, pages Pages, restored []bool, i int, res *Result) bool {
	page, action := gistReadBufferForRedo(rec, pages, restored, i, res)
	if page == nil || (action != blkNeedsRedo && action != blkRestored) {
		return true
	}
	o, ok := gistPageGetOpaque(page)
	if !ok {
		return false
	}
	o.setNSN(rec.EndLSN)
	o.clearFlags(gistFFollowRight)
	return e.finishPage(rec, page, rec.Blocks[i].Tag.Block)
}

// gistRedoPageUpdateRecord is gistRedoPageUpdateRecord.
func (e *Engine) gistRedoPageUpdateRecord(rec *schema.DecodedRecord, pages Pages, restored []bool, res *Result) bool {
	xl, err := schema.DecodeGistxlogPageUpdate(rec.MainData)
	i := blockIndex(rec, 0)
	if err != nil || i < 0 {
		return false
	}
	var data schema.GistxlogPageUpdateData
	if !restored[i] {
		// Without an applied image the block data is there (and
		// needed). Decoded into the engine's arrays, which keep the
		// largest size needed (a vacuum's update deletes many tuples).
		if data, err = schema.AppendGistxlogPageUpdateData(e.gistOffs[:0], e.gistTuples[:0], rec.Blocks[i].Data, xl); err != nil {
			return false
		}
		e.gistOffs, e.gistTuples = data.ToDelete[:0], data.Tuples[:0]
	}

	page, action := readBufferForRedo(rec, pages, restored, i, res)
	if action == blkNeedsRedo {
		o, ok := gistPageGetOpaque(page)
		if !ok || !gistPageUpdate(page, o, xl, data) {
			return false
		}
		if !e.finishPage(rec, page, rec.Blocks[i].Tag.Block) {
			return false
		}
	}

	// While PostgreSQL still holds the target page, and even if that no
	// longer exists.
	if child := blockIndex(rec, 1); child >= 0 {
		return e.gistRedoClearFollowRight(rec, pages, restored, child, res)
	}
	return true
}

// gistPageUpdate is the page change of gistRedoPageUpdateRecord.
func gistPageUpdate(page schema.Page, o gistOpaque, xl schema.GistxlogPageUpdate, data schema.GistxlogPageUpdateData) bool {
	if xl.NToDelete == 1 && xl.NToInsert == 1 {
		// One tuple replaced by one: PageIndexTupleOverwrite, as
		// gistplacetopage does.
		ok, err := PageIndexTupleOverwrite(page, data.ToDelete[0], data.Tuples[0])
		return ok && err == nil // ERROR "failed to add item to GiST index page"
	}
	if xl.NToDelete > 0 {
		if err := PageIndexMultiDelete(page, data.ToDelete); err != nil {
			return false
		}
		if o.isLeaf() {
			o.addFlags(gistFTuplesDeleted) // GistMarkTuplesDeleted
		}
	}
	if len(data.Tuples) > 0 {
		off := schema.FirstOffsetNumber
		if !page.IsEmpty() {
			off = page.MaxOffsetNumber() + 1
		}
		return gistfillbuffer(page, data.Tuples, off)
	}
	return true
}

// gistRedoDeleteRecord is gistRedoDeleteRecord (the LP_DEAD tuples an
// insertion removed from a leaf). Its hot standby conflict changes no
// page.
func (e *Engine) gistRedoDeleteRecord(rec *schema.DecodedRecord, pages Pages, restored []bool, res *Result) bool {
	xl, err := schema.DecodeGistxlogDelete(rec.MainData)
	if err != nil {
		return false
	}
	todelete, err := schema.DecodeGistxlogDeleteOffsets(rec.MainData, xl)
	i := blockIndex(rec, 0)
	if err != nil || i < 0 {
		return false
	}
	page, action := readBufferForRedo(rec, pages, restored, i, res)
	if action != blkNeedsRedo {
		return true
	}
	o, ok := gistPageGetOpaque(page)
	if !ok {
		return false
	}
	if todelete != nil {
		if err := PageIndexMultiDelete(page, todelete); err != nil {
			return false
		}
	}
	o.clearFlags(gistFHasGarbage)
	if gistDeleteMarksTuplesDeleted {
		o.addFlags(gistFTuplesDeleted)
	}
	return e.finishPage(rec, page, rec.Blocks[i].Tag.Block)
}

// gistRedoPageSplitRecord is gistRedoPageSplitRecord: blocks 1..npage are
// the pages of the split, in right-link order, rebuilt from their tuples;
// block 0, if present, is the left child whose split this one completes.
func (e *Engine) gistRedoPageSplitRecord(rec *schema.DecodedRecord, pages Pages, restored []bool, res *Result) bool {
	xl, err := schema.DecodeGistxlogPageSplit(rec.MainData)
	if err != nil || xl.NPage == 0 || int(xl.NPage) > schema.XLRMaxBlockID {
		return false
	}
	npage := int(xl.NPage)
	var idxBuf [schema.XLRMaxBlockID]int
	var splitBuf [schema.XLRMaxBlockID]schema.GistxlogPage
	idx, split := idxBuf[:npage], splitBuf[:npage]
	for j := range idx {
		k := blockIndex(rec, uint8(j+1))
		if k < 0 || !rec.Blocks[k].WillInit() {
			return false // no such block, or XLogInitBufferForRedo's PANIC
		}
		if split[j], err = schema.DecodeGistxlogPage(rec.Blocks[k].Data); err != nil {
			return false
		}
		idx[j] = k
	}

	isRootSplit := false
	for j, k := range idx {
		blkno := rec.Blocks[k].Tag.Block
		if blkno == gistRootBlkno {
			isRootSplit = true
		}
		var flags uint16
		if xl.OrigLeaf && blkno != gistRootBlkno {
			flags = gistFLeaf
		}
		page := gistInitBufferForRedo(rec, pages, restored, k, flags)
		if !gistfillbuffer(page, split[j].Tuples, schema.FirstOffsetNumber) {
			return false
		}
		o, _ := gistPageGetOpaque(page)
		last := j == npage-1
		if blkno == gistRootBlkno {
			o.setRightlink(uint32(schema.InvalidBlockNumber))
			o.setNSN(xl.OrigNSN)
			o.clearFlags(gistFFollowRight)
		} else {
			if !last {
				o.setRightlink(uint32(rec.Blocks[idx[j+1]].Tag.Block))
			} else {
				o.setRightlink(uint32(xl.OrigRlink))
			}
			o.setNSN(xl.OrigNSN)
			if !last && !isRootSplit && xl.MarkFollowRight {
				o.addFlags(gistFFollowRight)
			} else {
				o.clearFlags(gistFFollowRight)
			}
		}
		if !e.finishPage(rec, page, blkno) {
			return false
		}
	}

	if child := blockIndex(rec, 0); child >= 0 {
		return e.gistRedoClearFollowRight(rec, pages, restored, child, res)
	}
	return true
}

// gistRedoPageDelete is gistRedoPageDelete: block 0 is the emptied leaf,
// marked deleted; block 1 its parent, which loses the downlink.
func (e *Engine) gistRedoPageDelete(rec *schema.DecodedRecord, pages Pages, restored []bool, res *Result) bool {
	xl, err := schema.DecodeGistxlogPageDelete(rec.MainData)
	leaf, parent := blockIndex(rec, 0), blockIndex(rec, 1)
	if err != nil || leaf < 0 || parent < 0 {
		return false
	}
	if page, action := readBufferForRedo(rec, pages, restored, leaf, res); action == blkNeedsRedo {
		o, ok := gistPageGetOpaque(page)
		if !ok {
			return false
		}
		gistPageSetDeleted(page, o, xl.DeleteXid)
		if !e.finishPage(rec, page, rec.Blocks[leaf].Tag.Block) {
			return false
		}
	}
	if page, action := readBufferForRedo(rec, pages, restored, parent, res); action == blkNeedsRedo {
		if err := PageIndexTupleDelete(page, xl.DownlinkOffset); err != nil {
			return false
		}
		if !e.finishPage(rec, page, rec.Blocks[parent].Tag.Block) {
			return false
		}
	}
	return true
}

// gistRedoPageReuse is gistRedoPageReuse: a hot standby conflict for the
// reuse of a deleted page, no page change.
func gistRedoPageReuse(rec *schema.DecodedRecord) bool {
	_, err := schema.DecodeGistxlogPageReuse(rec.MainData)
	return err == nil
}

// MaskGist is gist_mask (access/gist/gistxlog.c).
func MaskGist(page []byte, _ schema.BlockNumber) error {
	if err := maskCheckSize("gist_mask", page); err != nil {
		return err
	}
	maskLSNAndChecksum(page)
	maskHintBits(page)
	err := maskUnusedSpace(page)

	special, errS := maskOpaque(page, sizeOfGistPageOpaque)
	err = errors.Join(err, errS)
	// The NSN is a special-purpose LSN.
	maskPut32(page, special+gistoNSN, MaskMarker)
	maskPut32(page, special+gistoNSN+4, MaskMarker)
	// F_FOLLOW_RIGHT is updated after the WAL record is written: force it on.
	if flags, ok := maskGet16(page, special+gistoFlags); ok {
		maskPut16(page, special+gistoFlags, flags|gistFFollowRight)
	}
	if flags, ok := maskGet16(page, special+gistoFlags); ok && flags&gistFLeaf != 0 {
		maskLPFlags(page)
	}
	if flags, ok := maskGet16(page, special+gistoFlags); ok {
		maskPut16(page, special+gistoFlags, flags&^gistFHasGarbage)
	}
	return maskWrap("gist_mask", err)
}
