package redo

import (
	"encoding/binary"

	"github.com/pagemill/pagemill/schema"
)

// Btree page and tuple layout (access/nbtree.h, access/itup.h) and the
// nbtree routines btree redo repeats: _bt_pageinit (nbtpage.c) and the
// posting list and deduplication routines of nbtdedup.c. Where the C
// would read or write outside a tuple or a page (a corrupt page, an
// assertion a release build does not check), these report failure instead
// and the caller does not apply the record.

const (
	// BTPageOpaqueData fields, from pd_special.
	btoPrev    = 0 // btpo_prev
	btoNext    = 4 // btpo_next
	btoLevel   = 8 // btpo_level
	btoFlags   = 12
	btoCycleID = 14

	pNone     = 0 // P_NONE
	pHikey    = schema.OffsetNumber(1)
	pFirstKey = schema.OffsetNumber(2)

	// IndexTupleData: t_tid (bi_hi u16, bi_lo u16, ip_posid u16), t_info u16.
	itupTidBlockHi    = 0
	itupTidBlockLo    = 2
	itupTidOffset     = 4
	itupInfo          = 6
	sizeOfIndexTuple  = schema.SizeOfIndexTupleData
	sizeOfItemPointer = 6
	indexSizeMask     = 0x1FFF // INDEX_SIZE_MASK
	indexAltTidMask   = 0x2000 // INDEX_ALT_TID_MASK (INDEX_AM_RESERVED_BIT)
	btOffsetMask      = 0x0FFF // BT_OFFSET_MASK
	btStatusMask      = 0xF000 // BT_STATUS_OFFSET_MASK
	btIsPosting       = 0x2000 // BT_IS_POSTING

	// BTMaxItemSize for BLCKSZ 8192: MAXALIGN_DOWN((8192 -
	// MAXALIGN(24 + 3*4 + 3*6) - MAXALIGN(16)) / 3) = 2704.
	btMaxItemSize = ((schema.BLCKSZ - 56 - 16) / 3) &^ (maxAlignOf - 1)

	btreeMagic     = 0x053162 // BTREE_MAGIC
	btMetaContents = 24       // PageGetContents: MAXALIGN(SizeOfPageHeaderData)
	// BTMetaPageData: magic, version, root, level, fastroot, fastlevel,
	// last_cleanup_num_delpages (u32 each), then
	// last_cleanup_num_heap_tuples float8 @32 and allequalimage bool @40.
	sizeOfBTMetaPageData      = 48
	btmMagic                  = 0
	btmVersion                = 4
	btmRoot                   = 8
	btmLevel                  = 12
	btmFastroot               = 16
	btmFastlevel              = 20
	btmLastCleanupNumDelpages = 24
	btmLastCleanupHeapTups    = 32
	btmAllEqualImage          = 40
	sizeOfBTDeletedPage       = 8 // BTDeletedPageData: FullTransactionId safexid
)

// btOpaque is a page's BTPageOpaqueData (the 16 bytes at pd_special).
type btOpaque []byte

// btPageGetOpaque is BTPageGetOpaque; false if the special space does not
// lie inside the page.
func btPageGetOpaque(page schema.Page) (btOpaque, bool) {
	s := int(page.Special())
	if s < sizeOfPageHeader || s+schema.SizeOfBTPageOpaque > len(page) {
		return nil, false
	}
	return btOpaque(page[s : s+schema.SizeOfBTPageOpaque]), true
}

func (o btOpaque) next() uint32         { return binary.LittleEndian.Uint32(o[btoNext:]) }
func (o btOpaque) flags() uint16        { return binary.LittleEndian.Uint16(o[btoFlags:]) }
func (o btOpaque) setPrev(b uint32)     { binary.LittleEndian.PutUint32(o[btoPrev:], b) }
func (o btOpaque) setNext(b uint32)     { binary.LittleEndian.PutUint32(o[btoNext:], b) }
func (o btOpaque) setLevel(l uint32)    { binary.LittleEndian.PutUint32(o[btoLevel:], l) }
func (o btOpaque) setFlags(f uint16)    { binary.LittleEndian.PutUint16(o[btoFlags:], f) }
func (o btOpaque) setCycleID(id uint16) { binary.LittleEndian.PutUint16(o[btoCycleID:], id) }
func (o btOpaque) rightmost() bool      { return o.next() == pNone } // P_RIGHTMOST
func (o btOpaque) hasGarbage() bool     { return o.flags()&schema.BTPHasGarbage != 0 }
func (o btOpaque) clearFlags(f uint16)  { o.setFlags(o.flags() &^ f) }
func (o btOpaque) addFlags(f uint16)    { o.setFlags(o.flags() | f) }
func (o btOpaque) firstDataKey() schema.OffsetNumber { // P_FIRSTDATAKEY
	if o.rightmost() {
		return pHikey
	}
	return pFirstKey
}

// btPageInit is _bt_pageinit: PageInit with the btree special space.
func btPageInit(page schema.Page) {
	_ = PageInit(page, schema.SizeOfBTPageOpaque) // cannot fail on a BLCKSZ page
}

// btPageSetDeleted is BTPageSetDeleted.
func btPageSetDeleted(page schema.Page, o btOpaque, safexid uint64) {
	o.clearFlags(schema.BTPHalfDead)
	o.addFlags(schema.BTPDeleted | schema.BTPHasFullXid)
	page.SetLower(btMetaContents + sizeOfBTDeletedPage)
	page.SetUpper(page.Special())
	binary.LittleEndian.PutUint64(page[btMetaContents:], safexid)
}

// indexTuple is an IndexTupleData and what follows it. Every method needs
// at least sizeOfIndexTuple bytes.
type indexTuple []byte

func (t indexTuple) info() uint16          { return binary.LittleEndian.Uint16(t[itupInfo:]) }
func (t indexTuple) setInfo(v uint16)      { binary.LittleEndian.PutUint16(t[itupInfo:], v) }
func (t indexTuple) size() int             { return int(t.info() & indexSizeMask) } // IndexTupleSize
func (t indexTuple) tidOffset() uint16     { return binary.LittleEndian.Uint16(t[itupTidOffset:]) }
func (t indexTuple) setTidOffset(v uint16) { binary.LittleEndian.PutUint16(t[itupTidOffset:], v) }

// tidBlock is ItemPointerGetBlockNumberNoCheck(&t_tid).
func (t indexTuple) tidBlock() uint32 {
	return uint32(binary.LittleEndian.Uint16(t[itupTidBlockHi:]))<<16 | uint32(binary.LittleEndian.Uint16(t[itupTidBlockLo:]))
}

// setTidBlock is ItemPointerSetBlockNumber(&t_tid) (BTreeTupleSetDownLink).
func (t indexTuple) setTidBlock(b uint32) {
	binary.LittleEndian.PutUint16(t[itupTidBlockHi:], uint16(b>>16))
	binary.LittleEndian.PutUint16(t[itupTidBlockLo:], uint16(b))
}

// isPosting is BTreeTupleIsPosting.
func (t indexTuple) isPosting() bool {
	return t.info()&indexAltTidMask != 0 && t.tidOffset()&btIsPosting != 0
}

func (t indexTuple) nPosting() int      { return int(t.tidOffset() & btOffsetMask) } // BTreeTupleGetNPosting
func (t indexTuple) postingOffset() int { return int(t.tidBlock()) }                 // BTreeTupleGetPostingOffset

// postingN is BTreeTupleGetPostingN, 6 bytes.
func (t indexTuple) postingN(n int) []byte {
	at := t.postingOffset() + n*sizeOfItemPointer
	return t[at : at+sizeOfItemPointer]
}

// postingInBounds reports whether t is a posting tuple whose posting list
// lies inside t.
func (t indexTuple) postingInBounds() bool {
	return len(t) >= sizeOfIndexTuple && t.isPosting() && t.postingOffset() >= sizeOfIndexTuple &&
		t.postingOffset()+t.nPosting()*sizeOfItemPointer <= len(t)
}

// btreeTupleSetPosting is BTreeTupleSetPosting.
func btreeTupleSetPosting(t indexTuple, nhtids int, postingOffset int) {
	t.setInfo(t.info() | indexAltTidMask)
	t.setTidOffset(uint16(nhtids) | btIsPosting)
	t.setTidBlock(uint32(postingOffset))
}

// btreeTupleSetTopParent is BTreeTupleSetTopParent: the block number, then
// BTreeTupleSetNAtts(t, 0, false).
func btreeTupleSetTopParent(t indexTuple, blk uint32) {
	t.setTidBlock(blk)
	t.setInfo(t.info() | indexAltTidMask)
	t.setTidOffset(0)
}

// btFormPosting is _bt_form_posting: a new tuple (zero padded, as palloc0)
// with base's key and the nhtids TIDs of htids.
func btFormPosting(base indexTuple, htids []byte, nhtids int) (indexTuple, bool) {
	var keysize int
	if base.isPosting() {
		keysize = base.postingOffset()
	} else {
		keysize = base.size()
	}
	if keysize < sizeOfIndexTuple || keysize > len(base) || nhtids < 1 || nhtids&btStatusMask != 0 ||
		len(htids) < nhtids*sizeOfItemPointer {
		return nil, false
	}
	itup, at, ok := btNewPosting(base[:keysize], nhtids)
	if ok {
		copy(itup[at:], htids[:nhtids*sizeOfItemPointer])
	}
	return itup, ok
}

// btNewPosting is the tuple _bt_form_posting and _bt_update_posting
// start from: key (the old tuple's key, its first keysize bytes) zero
// padded to hold nhtids TIDs, with the size in t_info and, for more than
// one TID, the posting list header. It returns where the TIDs go (the
// posting list, or t_tid for one TID), and false when the tuple would be
// too large.
func btNewPosting(key indexTuple, nhtids int) (indexTuple, int, bool) {
	keysize := len(key)
	newsize := keysize
	if nhtids > 1 {
		newsize = maxAlign(keysize + nhtids*sizeOfItemPointer)
	}
	if newsize > indexSizeMask {
		return nil, 0, false
	}
	itup := make(indexTuple, newsize)
	copy(itup, key)
	itup.setInfo(itup.info()&^indexSizeMask | uint16(newsize))
	if nhtids > 1 {
		btreeTupleSetPosting(itup, nhtids, keysize)
		return itup, keysize, true
	}
	itup.setInfo(itup.info() &^ indexAltTidMask)
	return itup, 0, true
}

// btUpdatePosting is _bt_update_posting: a new tuple (zero padded) holding
// origtuple's key and its TIDs except those at the posting list positions
// deletetids (ascending).
func btUpdatePosting(origtuple indexTuple, deletetids []uint16) (indexTuple, bool) {
	if !origtuple.postingInBounds() {
		return nil, false
	}
	norig := origtuple.nPosting()
	nhtids := norig - len(deletetids)
	if nhtids <= 0 {
		return nil, false
	}
	itup, htids, ok := btNewPosting(origtuple[:origtuple.postingOffset()], nhtids)
	if !ok {
		return nil, false
	}
	ui, d := 0, 0
	for i := range norig {
		if d < len(deletetids) && int(deletetids[d]) == i {
			d++
			continue
		}
		if ui == nhtids {
			return nil, false // the C would write past the tuple
		}
		copy(itup[htids+ui*sizeOfItemPointer:], origtuple.postingN(i))
		ui++
	}
	if ui != nhtids || d != len(deletetids) {
		return nil, false
	}
	return itup, true
}

// btSwapPosting is _bt_swap_posting: newitem (a private copy, changed in
// place) takes oposting's maximum TID, and the returned copy of oposting
// has newitem's original TID at postingoff.
func btSwapPosting(newitem, oposting indexTuple, postingoff int) (indexTuple, bool) {
	if len(newitem) < sizeOfIndexTuple || len(oposting) < sizeOfIndexTuple || oposting.size() > len(oposting) {
		return nil, false
	}
	// CopyIndexTuple copies IndexTupleSize bytes.
	nposting := indexTuple(append([]byte(nil), oposting[:oposting.size()]...))
	if !nposting.postingInBounds() {
		return nil, false
	}
	nhtids := nposting.nPosting()
	if !(postingoff > 0 && postingoff < nhtids) {
		return nil, false // ERROR "posting list tuple with %d items cannot be split at offset %d"
	}
	replacepos := nposting.postingOffset() + postingoff*sizeOfItemPointer
	nmovebytes := (nhtids - postingoff - 1) * sizeOfItemPointer
	copy(nposting[replacepos+sizeOfItemPointer:], nposting[replacepos:replacepos+nmovebytes])
	copy(nposting[replacepos:], newitem[:sizeOfItemPointer])
	copy(newitem[:sizeOfItemPointer], oposting.postingN(nhtids-1))
	return nposting, true
}

// btDedupState is the part of BTDedupStateData that btree_xlog_dedup
// uses. The intervals array is not kept: redo only compares it with the
// record's in assertions; nintervals counts the posting lists formed.
type btDedupState struct {
	maxpostingsize int
	base           indexTuple
	baseoff        schema.OffsetNumber
	basetupsize    int
	htids          []byte // nhtids TIDs
	nhtids         int
	nitems         int
	phystupsize    int
	nmaxitems      int
	nintervals     int
}

// btItemTIDs returns the TIDs of a non-pivot tuple: t_tid, or the posting
// list.
func btItemTIDs(itup indexTuple) ([]byte, int, bool) {
	if !itup.isPosting() {
		return itup[:sizeOfItemPointer], 1, true
	}
	if !itup.postingInBounds() {
		return nil, 0, false
	}
	n := itup.nPosting()
	at := itup.postingOffset()
	return itup[at : at+n*sizeOfItemPointer], n, true
}

// btDedupStartPending is _bt_dedup_start_pending.
func btDedupStartPending(state *btDedupState, base indexTuple, baseoff schema.OffsetNumber) bool {
	if len(base) < sizeOfIndexTuple || base.size() > len(base) {
		return false
	}
	htids, n, ok := btItemTIDs(base)
	if !ok {
		return false
	}
	state.htids = append(state.htids[:0], htids...)
	state.nhtids = n
	if base.isPosting() {
		state.basetupsize = base.postingOffset()
	} else {
		state.basetupsize = base.size()
	}
	state.nitems = 1
	state.base = base
	state.baseoff = baseoff
	state.phystupsize = maxAlign(base.size()) + sizeOfItemID
	return true
}

// btDedupSaveHtid is _bt_dedup_save_htid. ok is false when itup cannot be
// read.
func btDedupSaveHtid(state *btDedupState, itup indexTuple) (saved, ok bool) {
	if len(itup) < sizeOfIndexTuple {
		return false, false
	}
	htids, n, ok := btItemTIDs(itup)
	if !ok {
		return false, false
	}
	mergedtupsz := maxAlign(state.basetupsize + (state.nhtids+n)*sizeOfItemPointer)
	if mergedtupsz > state.maxpostingsize {
		if state.nhtids > 50 {
			state.nmaxitems++
		}
		return false, true
	}
	state.nitems++
	state.htids = append(state.htids, htids...)
	state.nhtids += n
	state.phystupsize += maxAlign(itup.size()) + sizeOfItemID
	return true, true
}

// btDedupFinishPending is _bt_dedup_finish_pending: the pending tuple (the
// base tuple unchanged, or a new posting list tuple) is added at the end of
// newpage. The space saving it returns in C is not needed by redo.
func btDedupFinishPending(newpage schema.Page, state *btDedupState) bool {
	if state.nitems < 1 {
		return false
	}
	tupoff := newpage.MaxOffsetNumber() + 1
	if state.nitems == 1 {
		if _, err := PageAddItem(newpage, state.base[:state.base.size()], tupoff, false, false); err != nil {
			return false
		}
	} else {
		final, ok := btFormPosting(state.base, state.htids, state.nhtids)
		if !ok {
			return false
		}
		if _, err := PageAddItem(newpage, final, tupoff, false, false); err != nil {
			return false
		}
		state.nintervals++
	}
	state.nhtids = 0
	state.htids = state.htids[:0]
	state.nitems = 0
	state.phystupsize = 0
	return true
}
