package redo

import (
	"encoding/binary"
	"math"

	"github.com/pagemill/pagemill/schema"
)

// Btree redo (access/nbtree/nbtxlog.c, btree_redo) for every record type,
// with the conventions described at the top of heap.go. Each function is
// named after the C function it mirrors. The parts of a record that do not
// depend on the pages (main data, block references, block data) are
// checked before any page changes; a failure found on a page afterwards
// (where PostgreSQL would raise ERROR or PANIC) returns false, and the
// caller invalidates the record's pages.

// The record layouts and opcodes are schema's (schema/nbtxlog.go).

// btreeRedo is btree_redo (access/nbtree/nbtxlog.c). It reports whether the
// record was applied (see heapRedo for the contract of the return value).
func (e *Engine) btreeRedo(rec *schema.DecodedRecord, pages Pages, restored []bool, res *Result) bool {
	switch rec.Info() & schema.XLRRmgrInfoMask {
	case schema.XLogBtreeInsertLeaf:
		return e.btreeXlogInsert(true, false, false, rec, pages, restored, res)
	case schema.XLogBtreeInsertUpper:
		return e.btreeXlogInsert(false, false, false, rec, pages, restored, res)
	case schema.XLogBtreeInsertMeta:
		return e.btreeXlogInsert(false, true, false, rec, pages, restored, res)
	case schema.XLogBtreeSplitL:
		return e.btreeXlogSplit(true, rec, pages, restored, res)
	case schema.XLogBtreeSplitR:
		return e.btreeXlogSplit(false, rec, pages, restored, res)
	case schema.XLogBtreeInsertPost:
		return e.btreeXlogInsert(true, false, true, rec, pages, restored, res)
	case schema.XLogBtreeDedup:
		return e.btreeXlogDedup(rec, pages, restored, res)
	case schema.XLogBtreeVacuum:
		return e.btreeXlogVacuum(rec, pages, restored, res)
	case schema.XLogBtreeDelete:
		return e.btreeXlogDelete(rec, pages, restored, res)
	case schema.XLogBtreeMarkPageHalfdead:
		return e.btreeXlogMarkPageHalfdead(rec, pages, restored, res)
	case schema.XLogBtreeUnlinkPage, schema.XLogBtreeUnlinkPageMeta:
		return e.btreeXlogUnlinkPage(rec.Info()&schema.XLRRmgrInfoMask, rec, pages, restored, res)
	case schema.XLogBtreeNewroot:
		return e.btreeXlogNewroot(rec, pages, restored, res)
	case schema.XLogBtreeReusePage:
		// btree_xlog_reuse_page: a recovery conflict only, no page change.
		return true
	case schema.XLogBtreeMetaCleanup:
		md, ok := btreeMetadata(rec, 0)
		if !ok {
			return false
		}
		return e.btRestoreMeta(rec, pages, restored, 0, md)
	}
	return false // PANIC "btree_redo: unknown op code"
}

// btInitBufferForRedo is XLogInitBufferForRedo followed by _bt_pageinit.
func btInitBufferForRedo(rec *schema.DecodedRecord, pages Pages, restored []bool, i int) schema.Page {
	return xlogInitBufferForRedo(rec, pages, restored, i, btPageInit)
}

// btRebuildPage is btInitBufferForRedo of block i with the special space
// the split, page deletion and newroot redo give a page they rebuild from
// scratch: sibling links prev and next, level, flags, and no cycle id.
func btRebuildPage(rec *schema.DecodedRecord, pages Pages, restored []bool, i int, prev, next, level uint32, flags uint16) (schema.Page, btOpaque) {
	page := btInitBufferForRedo(rec, pages, restored, i)
	o := btOpaqueOf(page)
	o.setPrev(prev)
	o.setNext(next)
	o.setLevel(level)
	o.setFlags(flags)
	o.setCycleID(0)
	return page, o
}

// btOpaqueOf is btPageGetOpaque of a freshly initialized page.
func btOpaqueOf(page schema.Page) btOpaque {
	o, _ := btPageGetOpaque(page)
	return o
}

// btreeMetadata returns the xl_btree_metadata block id carries, and false
// when the block is not referenced or its data is not exactly the struct
// (the length _bt_restore_meta asserts).
func btreeMetadata(rec *schema.DecodedRecord, id uint8) (schema.XlBtreeMetadata, bool) {
	i := blockIndex(rec, id)
	if i < 0 || len(rec.Blocks[i].Data) != schema.SizeOfBtreeMetadata {
		return schema.XlBtreeMetadata{}, false
	}
	md, err := schema.DecodeXlBtreeMetadata(rec.Blocks[i].Data)
	return md, err == nil
}

// btRestorePage is _bt_restore_page for the items of schema.DecodeBtreeTuples:
// they are added in reverse, so that the first one (lowest on the original
// page) gets the highest offset number.
func btRestorePage(page schema.Page, items [][]byte) bool {
	nitems := len(items)
	for i := nitems - 1; i >= 0; i-- {
		if _, err := PageAddItem(page, items[i], schema.OffsetNumber(nitems-i), false, false); err != nil {
			return false // PANIC "_bt_restore_page: cannot add item to page"
		}
	}
	return true
}

// btRestoreMeta is _bt_restore_meta: the metapage (block id) is rebuilt
// from xl, the xl_btree_metadata in its block data (see btreeMetadata).
func (e *Engine) btRestoreMeta(rec *schema.DecodedRecord, pages Pages, restored []bool, id uint8, xl schema.XlBtreeMetadata) bool {
	i := blockIndex(rec, id)
	blk := &rec.Blocks[i]
	le := binary.LittleEndian
	metapg := btInitBufferForRedo(rec, pages, restored, i)
	md := metapg[btMetaContents : btMetaContents+sizeOfBTMetaPageData]
	le.PutUint32(md[btmMagic:], btreeMagic)
	le.PutUint32(md[btmVersion:], xl.Version)
	le.PutUint32(md[btmRoot:], uint32(xl.Root))
	le.PutUint32(md[btmLevel:], xl.Level)
	le.PutUint32(md[btmFastroot:], uint32(xl.Fastroot))
	le.PutUint32(md[btmFastlevel:], xl.Fastlevel)
	le.PutUint32(md[btmLastCleanupNumDelpages:], xl.LastCleanupNumDelpages)
	le.PutUint64(md[btmLastCleanupHeapTups:], math.Float64bits(-1.0))
	md[btmAllEqualImage] = 0
	if xl.Allequalimage {
		md[btmAllEqualImage] = 1
	}
	btOpaqueOf(metapg).setFlags(schema.BTPMeta)
	// pd_lower just past the metadata, so that a compressed image keeps it.
	metapg.SetLower(btMetaContents + sizeOfBTMetaPageData)
	return e.finishPage(rec, metapg, blk.Tag.Block)
}

// btClearIncompleteSplit is _bt_clear_incomplete_split for block index i.
func (e *Engine) btClearIncompleteSplit(rec *schema.DecodedRecord, pages Pages, restored []bool, i int, res *Result) bool {
	return e.btUpdateOpaque(rec, pages, restored, i, res, func(o btOpaque) { o.clearFlags(schema.BTPIncompleteSplit) })
}

// btUpdateOpaque changes the special space of block i's page with update
// when the page needs redo, and finishes the page: the shape of every
// btree redo step that touches only a neighbour's opaque data.
func (e *Engine) btUpdateOpaque(rec *schema.DecodedRecord, pages Pages, restored []bool, i int, res *Result, update func(btOpaque)) bool {
	return e.btRedoBlock(rec, pages, restored, i, res, func(_ schema.Page, o btOpaque) bool {
		update(o)
		return true
	})
}

// btRedoBlock is redoBlock for a btree page: change gets the page's
// special space too.
func (e *Engine) btRedoBlock(rec *schema.DecodedRecord, pages Pages, restored []bool, i int, res *Result, change func(schema.Page, btOpaque) bool) bool {
	return e.redoBlock(rec, pages, restored, i, res, func(page schema.Page) bool {
		o, ok := btPageGetOpaque(page)
		return ok && change(page, o)
	})
}

// btreeXlogInsert is btree_xlog_insert.
func (e *Engine) btreeXlogInsert(isleaf, ismeta, posting bool, rec *schema.DecodedRecord, pages Pages, restored []bool, res *Result) bool {
	xl, err := schema.DecodeXlBtreeInsert(rec.MainData)
	i := blockIndex(rec, 0)
	if err != nil || i < 0 {
		return false
	}
	offnum := xl.Offnum
	child := -1
	if !isleaf {
		if child = blockIndex(rec, 1); child < 0 {
			return false
		}
	}
	var meta schema.XlBtreeMetadata
	if ismeta {
		var ok bool
		if meta, ok = btreeMetadata(rec, 2); !ok {
			return false
		}
	}
	// The new item is needed unless the block is restored.
	var item []byte
	postingoff := 0
	if !restored[i] {
		item = rec.Blocks[i].Data
		if posting {
			d, err := schema.DecodeBtreeInsertPostData(item)
			if err != nil {
				return false
			}
			postingoff, item = int(d.Postingoff), d.Newitem
		}
		if len(item) == 0 {
			return false
		}
	}

	if !isleaf && !e.btClearIncompleteSplit(rec, pages, restored, child, res) {
		return false
	}
	page, action := readBufferForRedo(rec, pages, restored, i, res)
	if action == blkNeedsRedo {
		if posting {
			// Repeat the posting list split: the posting tuple before
			// offnum is replaced in place by its post-split version, and
			// the final new item (not the logged one) is inserted.
			if offnum <= schema.FirstOffsetNumber {
				return false
			}
			oposting, err := page.Item(offnum - 1)
			if err != nil {
				return false
			}
			newitem := indexTuple(append([]byte(nil), item...))
			nposting, ok := btSwapPosting(newitem, oposting, postingoff)
			if !ok {
				return false
			}
			n := maxAlign(nposting.size())
			if n > len(oposting) || n > len(nposting) {
				return false
			}
			copy(oposting, nposting[:n])
			item = newitem
		}
		if _, err := PageAddItem(page, item, offnum, false, false); err != nil {
			return false // PANIC "failed to add new item"
		}
		if !e.finishPage(rec, page, rec.Blocks[i].Tag.Block) {
			return false
		}
	}
	if ismeta {
		return e.btRestoreMeta(rec, pages, restored, 2, meta)
	}
	return true
}

// btreeXlogSplit is btree_xlog_split.
func (e *Engine) btreeXlogSplit(newitemonleft bool, rec *schema.DecodedRecord, pages Pages, restored []bool, res *Result) bool {
	xl, err := schema.DecodeXlBtreeSplit(rec.MainData)
	if err != nil {
		return false
	}
	level := xl.Level
	firstrightoff, newitemoff, postingoff := int(xl.Firstrightoff), int(xl.Newitemoff), int(xl.Postingoff)
	isleaf := level == 0

	i0, i1, i2, i3 := blockIndex(rec, 0), blockIndex(rec, 1), blockIndex(rec, 2), blockIndex(rec, 3)
	if i0 < 0 || i1 < 0 || (!isleaf && i3 < 0) {
		return false
	}
	origpagenumber := uint32(rec.Blocks[i0].Tag.Block)
	rightpagenumber := uint32(rec.Blocks[i1].Tag.Block)
	spagenumber := uint32(pNone)
	if i2 >= 0 {
		spagenumber = uint32(rec.Blocks[i2].Tag.Block)
	}
	ritems, err := schema.DecodeBtreeTuples(rec.Blocks[i1].Data)
	if err != nil {
		return false
	}
	// The left page's data: the new item (or the original new item of a
	// posting list split), then the new high key.
	var left schema.BtreeSplitLeftData
	if !restored[i0] {
		if left, err = schema.DecodeBtreeSplitLeftData(newitemonleft || postingoff != 0, rec.Blocks[i0].Data); err != nil {
			return false
		}
	}

	if !isleaf && !e.btClearIncompleteSplit(rec, pages, restored, i3, res) {
		return false
	}

	// Reconstruct the right (new) sibling page from scratch.
	var rflags uint16
	if isleaf {
		rflags = schema.BTPLeaf
	}
	rpage, _ := btRebuildPage(rec, pages, restored, i1, origpagenumber, spagenumber, level, rflags)
	if !btRestorePage(rpage, ritems) || !e.finishPage(rec, rpage, rec.Blocks[i1].Tag.Block) {
		return false
	}

	// Now reconstruct the original page (left half of the split).
	origpage, action := readBufferForRedo(rec, pages, restored, i0, res)
	if action == blkNeedsRedo {
		if !btSplitLeftPage(origpage, newitemonleft, isleaf, firstrightoff, newitemoff, postingoff, left.Newitem, left.LeftHikey, rightpagenumber) ||
			!e.finishPage(rec, origpage, rec.Blocks[i0].Tag.Block) {
			return false
		}
	}

	// Fix the left-link of the page to the right of the new right sibling.
	if spagenumber != pNone && !e.btFixSiblingLink(rec, pages, restored, i2, res, btOpaque.setPrev, rightpagenumber) {
		return false
	}
	return true
}

// btSplitLeftPage is the left page part of btree_xlog_split: the items are
// added, in item number order, to a temporary empty page (the high key
// first, the new item at newitemoff if it went left, the post-split
// posting list in place of the original one), which then replaces the
// page, and the opaque fields are fixed.
func btSplitLeftPage(origpage schema.Page, newitemonleft, isleaf bool, firstrightoff, newitemoff, postingoff int, newitem, leftHikey []byte, rightpagenumber uint32) bool {
	oopaque, ok := btPageGetOpaque(origpage)
	if !ok {
		return false
	}
	var nposting indexTuple
	replacepostingoff := -1
	if postingoff != 0 {
		// The posting list is at the offset number before the new item's.
		replacepostingoff = int(uint16(newitemoff - 1))
		newitem = append([]byte(nil), newitem...) // mutable copy for _bt_swap_posting
		oposting, err := origpage.Item(schema.OffsetNumber(replacepostingoff))
		if err != nil {
			return false
		}
		if nposting, ok = btSwapPosting(newitem, oposting, postingoff); !ok {
			return false
		}
		if sz := maxAlign(nposting.size()); sz <= len(nposting) {
			nposting = nposting[:sz]
		} else {
			return false
		}
	}

	leftpage, err := PageGetTempPageCopySpecial(origpage)
	if err != nil {
		return false
	}
	add := func(item []byte, off int) bool {
		_, err := PageAddItem(leftpage, item, schema.OffsetNumber(off), false, false)
		return err == nil // ERROR "failed to add ... to left page after split"
	}
	leftoff := int(pHikey)
	if !add(leftHikey, leftoff) {
		return false
	}
	leftoff++

	off := int(oopaque.firstDataKey())
	for ; off < firstrightoff; off++ {
		if off == replacepostingoff {
			// Add the replacement posting list instead of oposting.
			if !add(nposting, leftoff) {
				return false
			}
			leftoff++
			continue
		} else if newitemonleft && off == newitemoff {
			if !add(newitem, leftoff) {
				return false
			}
			leftoff++
		}
		item, err := origpage.Item(schema.OffsetNumber(off))
		if err != nil || !add(item, leftoff) {
			return false
		}
		leftoff++
	}
	// The new item may go at the end.
	if newitemonleft && off == newitemoff {
		if !add(newitem, leftoff) {
			return false
		}
	}

	_ = PageRestoreTempPage(leftpage, origpage)
	flags := uint16(schema.BTPIncompleteSplit)
	if isleaf {
		flags |= schema.BTPLeaf
	}
	oopaque.setFlags(flags)
	oopaque.setNext(rightpagenumber)
	oopaque.setCycleID(0)
	return true
}

// btreeXlogDedup is btree_xlog_dedup.
func (e *Engine) btreeXlogDedup(rec *schema.DecodedRecord, pages Pages, restored []bool, res *Result) bool {
	xl, err := schema.DecodeXlBtreeDedup(rec.MainData)
	i := blockIndex(rec, 0)
	if err != nil || i < 0 {
		return false
	}
	var intervals schema.BTDedupIntervals
	if !restored[i] {
		if intervals, err = schema.DecodeBTDedupIntervals(xl, rec.Blocks[i].Data); err != nil {
			return false
		}
	}
	return e.btRedoBlock(rec, pages, restored, i, res, func(page schema.Page, opaque btOpaque) bool {
		return btDedupPage(page, opaque, intervals)
	})
}

// btDedupPage is the page change of btree_xlog_dedup: the page's items
// merged into posting lists as the intervals say.
func btDedupPage(page schema.Page, opaque btOpaque, intervals schema.BTDedupIntervals) bool {
	nintervals := intervals.Len()
	// Conservatively use a larger maxpostingsize than the primary.
	state := &btDedupState{maxpostingsize: btMaxItemSize}
	minoff := opaque.firstDataKey()
	maxoff := page.MaxOffsetNumber()
	if minoff > maxoff {
		return false // nothing to deduplicate: PostgreSQL never logs this
	}
	newpage, err := PageGetTempPageCopySpecial(page)
	if err != nil {
		return false
	}
	if !opaque.rightmost() {
		hikey, err := page.Item(pHikey)
		if err != nil {
			return false
		}
		if _, err := PageAddItem(newpage, hikey, pHikey, false, false); err != nil {
			return false // ERROR "deduplication failed to add highkey"
		}
	}
	for offnum := minoff; offnum <= maxoff; offnum++ {
		item, err := page.Item(offnum)
		if err != nil || len(item) < sizeOfIndexTuple {
			return false
		}
		itup := indexTuple(item)
		if offnum == minoff {
			if !btDedupStartPending(state, itup, offnum) {
				return false
			}
			continue
		}
		if state.nintervals < nintervals {
			if iv := intervals.At(state.nintervals); state.baseoff == iv.Baseoff && state.nitems < int(iv.Nitems) {
				if saved, ok := btDedupSaveHtid(state, itup); !saved || !ok {
					return false // ERROR "deduplication failed to add heap tid to pending posting list"
				}
				continue
			}
		}
		if !btDedupFinishPending(newpage, state) || !btDedupStartPending(state, itup, offnum) {
			return false
		}
	}
	if !btDedupFinishPending(newpage, state) {
		return false
	}
	if opaque.hasGarbage() {
		btOpaqueOf(newpage).clearFlags(schema.BTPHasGarbage)
	}
	return PageRestoreTempPage(newpage, page) == nil
}

// btreeXlogUpdates is btree_xlog_updates: each updated posting list tuple
// loses the TIDs listed and is overwritten in place.
func btreeXlogUpdates(page schema.Page, updates []schema.XlBtreeUpdate) bool {
	for _, u := range updates {
		origtuple, err := page.Item(u.Offnum)
		if err != nil {
			return false
		}
		itup, ok := btUpdatePosting(indexTuple(origtuple), u.Deletetids)
		if !ok {
			return false
		}
		itemsz := maxAlign(itup.size())
		if itemsz > len(itup) {
			return false
		}
		if ok, err := PageIndexTupleOverwrite(page, u.Offnum, itup[:itemsz]); err != nil || !ok {
			return false // PANIC "failed to update partially dead item"
		}
	}
	return true
}

// btreeXlogVacuum is btree_xlog_vacuum.
func (e *Engine) btreeXlogVacuum(rec *schema.DecodedRecord, pages Pages, restored []bool, res *Result) bool {
	xl, err := schema.DecodeXlBtreeVacuum(rec.MainData)
	if err != nil {
		return false
	}
	return e.btreeDeleteItems(rec, pages, restored, res, xl.Ndeleted, xl.Nupdated)
}

// btreeXlogDelete is btree_xlog_delete (the recovery conflict it resolves
// in hot standby has no page effect).
func (e *Engine) btreeXlogDelete(rec *schema.DecodedRecord, pages Pages, restored []bool, res *Result) bool {
	xl, err := schema.DecodeXlBtreeDelete(rec.MainData)
	if err != nil {
		return false
	}
	return e.btreeDeleteItems(rec, pages, restored, res, xl.Ndeleted, xl.Nupdated)
}

// btreeDeleteItems is the page change btree_xlog_vacuum and
// btree_xlog_delete share: updates first, then PageIndexMultiDelete of the
// deleted items, then BTP_HAS_GARBAGE cleared.
func (e *Engine) btreeDeleteItems(rec *schema.DecodedRecord, pages Pages, restored []bool, res *Result, ndeleted, nupdated uint16) bool {
	i := blockIndex(rec, 0)
	if i < 0 {
		return false
	}
	var deleted []schema.OffsetNumber
	var updates []schema.XlBtreeUpdate
	if !restored[i] {
		var err error
		if deleted, updates, err = schema.DecodeBtreeDeletion(rec.Blocks[i].Data, ndeleted, nupdated); err != nil {
			return false
		}
	}
	return e.btRedoBlock(rec, pages, restored, i, res, func(page schema.Page, opaque btOpaque) bool {
		if len(updates) > 0 && !btreeXlogUpdates(page, updates) {
			return false
		}
		if len(deleted) > 0 && PageIndexMultiDelete(page, deleted) != nil {
			return false
		}
		opaque.clearFlags(schema.BTPHasGarbage)
		return true
	})
}

// btAddDummyHikey adds the dummy high key of a half-dead leaf page: an
// 8-byte IndexTupleData pointing at the top parent.
func btAddDummyHikey(page schema.Page, topparent uint32) bool {
	trunctuple := make(indexTuple, sizeOfIndexTuple)
	trunctuple.setInfo(sizeOfIndexTuple)
	btreeTupleSetTopParent(trunctuple, topparent)
	_, err := PageAddItem(page, trunctuple, pHikey, false, false)
	return err == nil // ERROR "could not add dummy high key to half-dead page"
}

// btreeXlogMarkPageHalfdead is btree_xlog_mark_page_halfdead.
func (e *Engine) btreeXlogMarkPageHalfdead(rec *schema.DecodedRecord, pages Pages, restored []bool, res *Result) bool {
	xl, err := schema.DecodeXlBtreeMarkPageHalfdead(rec.MainData)
	i0, i1 := blockIndex(rec, 0), blockIndex(rec, 1)
	if err != nil || i0 < 0 || i1 < 0 {
		return false
	}
	poffset := xl.Poffset
	leftblk, rightblk, topparent := uint32(xl.Leftblk), uint32(xl.Rightblk), uint32(xl.Topparent)

	// The to-be-deleted subtree's parent page: the downlink of the item
	// after poffset moves into poffset's, and that item goes.
	page, action := readBufferForRedo(rec, pages, restored, i1, res)
	if action == blkNeedsRedo {
		nextoffset := poffset + 1
		next, err := page.Item(nextoffset)
		if err != nil || len(next) < sizeOfIndexTuple {
			return false
		}
		rightsib := indexTuple(next).tidBlock()
		itup, err := page.Item(poffset)
		if err != nil || len(itup) < sizeOfIndexTuple {
			return false
		}
		indexTuple(itup).setTidBlock(rightsib)
		if err := PageIndexTupleDelete(page, nextoffset); err != nil {
			return false
		}
		if !e.finishPage(rec, page, rec.Blocks[i1].Tag.Block) {
			return false
		}
	}

	// Rewrite the leaf page as a half-dead page.
	leaf, _ := btRebuildPage(rec, pages, restored, i0, leftblk, rightblk, 0, schema.BTPHalfDead|schema.BTPLeaf)
	if !btAddDummyHikey(leaf, topparent) {
		return false
	}
	return e.finishPage(rec, leaf, rec.Blocks[i0].Tag.Block)
}

// btreeXlogUnlinkPage is btree_xlog_unlink_page.
func (e *Engine) btreeXlogUnlinkPage(info uint8, rec *schema.DecodedRecord, pages Pages, restored []bool, res *Result) bool {
	xl, err := schema.DecodeXlBtreeUnlinkPage(rec.MainData)
	if err != nil {
		return false
	}
	leftsib, rightsib, level := uint32(xl.Leftsib), uint32(xl.Rightsib), xl.Level
	safexid := xl.Safexid
	leafleftsib, leafrightsib, leaftopparent := uint32(xl.Leafleftsib), uint32(xl.Leafrightsib), uint32(xl.Leaftopparent)
	isleaf := level == 0
	i0, i1, i2, i3 := blockIndex(rec, 0), blockIndex(rec, 1), blockIndex(rec, 2), blockIndex(rec, 3)
	if i0 < 0 || i2 < 0 || (leftsib != pNone && i1 < 0) {
		return false
	}
	var meta schema.XlBtreeMetadata
	if info == schema.XLogBtreeUnlinkPageMeta {
		var ok bool
		if meta, ok = btreeMetadata(rec, 4); !ok {
			return false
		}
	}

	// Fix the right-link of the left sibling, if any.
	if leftsib != pNone && !e.btFixSiblingLink(rec, pages, restored, i1, res, btOpaque.setNext, rightsib) {
		return false
	}

	// Rewrite the target page as an empty deleted page.
	var tflags uint16
	if isleaf {
		tflags = schema.BTPLeaf
	}
	target, pageop := btRebuildPage(rec, pages, restored, i0, leftsib, rightsib, level, tflags)
	btPageSetDeleted(target, pageop, safexid)
	if !e.finishPage(rec, target, rec.Blocks[i0].Tag.Block) {
		return false
	}

	// Fix the left-link of the right sibling.
	if !e.btFixSiblingLink(rec, pages, restored, i2, res, btOpaque.setPrev, leftsib) {
		return false
	}

	// When a parent of the leaf was deleted, the leaf (rebuilt from
	// scratch) points to the next child in the subtree being deleted.
	if i3 >= 0 {
		leaf, _ := btRebuildPage(rec, pages, restored, i3, leafleftsib, leafrightsib, 0, schema.BTPHalfDead|schema.BTPLeaf)
		if !btAddDummyHikey(leaf, leaftopparent) || !e.finishPage(rec, leaf, rec.Blocks[i3].Tag.Block) {
			return false
		}
	}

	if info == schema.XLogBtreeUnlinkPageMeta {
		return e.btRestoreMeta(rec, pages, restored, 4, meta)
	}
	return true
}

// btreeXlogNewroot is btree_xlog_newroot.
func (e *Engine) btreeXlogNewroot(rec *schema.DecodedRecord, pages Pages, restored []bool, res *Result) bool {
	xl, err := schema.DecodeXlBtreeNewroot(rec.MainData)
	i0, i1 := blockIndex(rec, 0), blockIndex(rec, 1)
	if err != nil || i0 < 0 {
		return false
	}
	meta, ok := btreeMetadata(rec, 2)
	if !ok {
		return false
	}
	level := xl.Level
	var items [][]byte
	if level > 0 {
		if items, err = schema.DecodeBtreeTuples(rec.Blocks[i0].Data); err != nil || i1 < 0 {
			return false
		}
	}

	flags := uint16(schema.BTPRoot)
	if level == 0 {
		flags |= schema.BTPLeaf
	}
	root, _ := btRebuildPage(rec, pages, restored, i0, pNone, pNone, level, flags)
	if level > 0 {
		if !btRestorePage(root, items) {
			return false
		}
		// Clear the incomplete-split flag in the left child.
		if !e.btClearIncompleteSplit(rec, pages, restored, i1, res) {
			return false
		}
	}
	if !e.finishPage(rec, root, rec.Blocks[i0].Tag.Block) {
		return false
	}
	return e.btRestoreMeta(rec, pages, restored, 2, meta)
}

// btFixSiblingLink sets one sibling link (btpo_prev or btpo_next, by set)
// of block i's page to blk when the page needs redo, as split and unlink
// redo do for the neighbours of the pages they rebuild.
func (e *Engine) btFixSiblingLink(rec *schema.DecodedRecord, pages Pages, restored []bool, i int, res *Result, set func(btOpaque, uint32), blk uint32) bool {
	return e.btUpdateOpaque(rec, pages, restored, i, res, func(o btOpaque) { set(o, blk) })
}
