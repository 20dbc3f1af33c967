package redo

import (
	"encoding/binary"
	"slices"

	"github.com/pagemill/pagemill/schema"
)

// SP-GiST redo (access/spgist/spgxlog.c, spg_redo), with the conventions
// described at the top of heap.go. Each function is named after the C
// function it mirrors. A record's main data is decoded and its block
// references checked (schema.DecodeSpgxlog*) before any page changes; a
// failure found on a page afterwards (where PostgreSQL would raise ERROR
// or PANIC) returns false, and the caller invalidates the record's pages.
// The record functions are in spgist_redo.go; the page and tuple helpers
// they share are here.

// SP-GiST page layout (access/spgist_private.h).
const (
	spgistLeaf             = 0x04   // SPGIST_LEAF
	spgistNulls            = 0x08   // SPGIST_NULLS
	spgistPageID           = 0xFF82 // SPGIST_PAGE_ID
	sizeOfSpGistPageOpaque = 8      // sizeof(SpGistPageOpaqueData)

	// SpGistPageOpaqueData fields, from pd_special.
	spgoFlags        = 0
	spgoNRedirection = 2
	spgoNPlaceholder = 4
	spgoPageID       = 6

	// SpGistLeafTupleData.t_info: nextOffset in the low 14 bits, two flag
	// bits above (SGLT_GET_NEXTOFFSET / SGLT_SET_NEXTOFFSET).
	sgltTInfo          = 4
	sgltNextOffsetMask = 0x3FFF

	// SpGistDeadTupleData: word, t_info u16 (0), pointer @6, xid @12.
	sgdtPointer = 6
	sgdtXid     = 12
)

// spgRedo is spg_redo. It reports whether the record was applied (see
// heapRedo for the contract of the return value).
func (e *Engine) spgRedo(rec *schema.DecodedRecord, pages Pages, restored []bool, res *Result) bool {
	switch rec.Info() & schema.XLRRmgrInfoMask {
	case schema.XLogSpgistAddLeaf:
		return e.spgRedoAddLeaf(rec, pages, restored, res)
	case schema.XLogSpgistMoveLeafs:
		return e.spgRedoMoveLeafs(rec, pages, restored, res)
	case schema.XLogSpgistAddNode:
		return e.spgRedoAddNode(rec, pages, restored, res)
	case schema.XLogSpgistSplitTuple:
		return e.spgRedoSplitTuple(rec, pages, restored, res)
	case schema.XLogSpgistPickSplit:
		return e.spgRedoPickSplit(rec, pages, restored, res)
	case schema.XLogSpgistVacuumLeaf:
		return e.spgRedoVacuumLeaf(rec, pages, restored, res)
	case schema.XLogSpgistVacuumRoot:
		return e.spgRedoVacuumRoot(rec, pages, restored, res)
	case schema.XLogSpgistVacuumRedirect:
		return e.spgRedoVacuumRedirect(rec, pages, restored, res)
	}
	return false // PANIC "spg_redo: unknown op code"
}

// spgOpaque is a page's SpGistPageOpaqueData (the 8 bytes at pd_special).
type spgOpaque []byte

// spgPageGetOpaque is SpGistPageGetOpaque; false if the special space does
// not lie inside the page.
func spgPageGetOpaque(page schema.Page) (spgOpaque, bool) {
	sp := int(page.Special())
	if sp < sizeOfPageHeader || sp+sizeOfSpGistPageOpaque > len(page) {
		return nil, false
	}
	return spgOpaque(page[sp : sp+sizeOfSpGistPageOpaque]), true
}

func (o spgOpaque) flags() uint16 { return binary.LittleEndian.Uint16(o[spgoFlags:]) }
func (o spgOpaque) nRedirection() uint16 {
	return binary.LittleEndian.Uint16(o[spgoNRedirection:])
}
func (o spgOpaque) nPlaceholder() uint16 {
	return binary.LittleEndian.Uint16(o[spgoNPlaceholder:])
}

// The counters are uint16 in C: they wrap the same way.
func (o spgOpaque) addRedirection(d int) {
	binary.LittleEndian.PutUint16(o[spgoNRedirection:], o.nRedirection()+uint16(d))
}
func (o spgOpaque) addPlaceholder(d int) {
	binary.LittleEndian.PutUint16(o[spgoNPlaceholder:], o.nPlaceholder()+uint16(d))
}

// spgInitPage is SpGistInitPage: PageInit with the opaque data as special
// space, then its flags and page id.
func spgInitPage(page schema.Page, flags uint16) {
	_ = PageInit(page, sizeOfSpGistPageOpaque) // cannot fail on a BLCKSZ page
	o, _ := spgPageGetOpaque(page)
	binary.LittleEndian.PutUint16(o[spgoFlags:], flags)
	binary.LittleEndian.PutUint16(o[spgoPageID:], spgistPageID)
}

// spgInitBufferForRedo is XLogInitBufferForRedo followed by
// SpGistInitBuffer.
func spgInitBufferForRedo(rec *schema.DecodedRecord, pages Pages, restored []bool, i int, flags uint16) schema.Page {
	return xlogInitBufferForRedo(rec, pages, restored, i, func(page schema.Page) { spgInitPage(page, flags) })
}

// spgTargetPage is the opening of each block's redo: with init, the page is
// initialized (XLogInitBufferForRedo + SpGistInitBuffer) and needs redo;
// otherwise it is read as XLogReadBufferForRedo does. It returns the page
// when it needs redo, else nil.
func spgTargetPage(rec *schema.DecodedRecord, pages Pages, restored []bool, i int, init bool, flags uint16, res *Result) schema.Page {
	if init {
		return spgInitBufferForRedo(rec, pages, restored, i, flags)
	}
	page, action := readBufferForRedo(rec, pages, restored, i, res)
	if action != blkNeedsRedo {
		return nil
	}
	return page
}

// spgBlock returns the index of block id, checking that its WILL_INIT flag
// agrees with whether redo initializes it (XLogReadBufferForRedoExtended
// PANICs otherwise); -1 if it is absent or disagrees.
func spgBlock(rec *schema.DecodedRecord, id uint8, init bool) int {
	i := blockIndex(rec, id)
	if i < 0 || rec.Blocks[i].WillInit() != init {
		return -1
	}
	return i
}

// spgLeafFlags are the flags of a leaf page of the main or the nulls tree.
func spgLeafFlags(storesNulls bool) uint16 {
	if storesNulls {
		return spgistLeaf | spgistNulls
	}
	return spgistLeaf
}

// spgInnerFlags are the flags of an inner page.
func spgInnerFlags(storesNulls bool) uint16 {
	if storesNulls {
		return spgistNulls
	}
	return 0
}

// addOrReplaceTuple is addOrReplaceTuple: put tuple at offset, replacing
// the PLACEHOLDER there if offset is in use.
func addOrReplaceTuple(page schema.Page, tuple []byte, offset schema.OffsetNumber) bool {
	if offset == schema.InvalidOffsetNumber {
		return false
	}
	if offset <= page.MaxOffsetNumber() {
		dt, err := page.Item(offset)
		if err != nil || len(dt) < 4 || schema.SpGistTupleWordOf(dt).State() != schema.SpgistPlaceholder {
			return false // ERROR "SPGiST tuple to be replaced is not a placeholder"
		}
		o, ok := spgPageGetOpaque(page)
		if !ok {
			return false
		}
		o.addPlaceholder(-1)
		return spgReplaceItemAt(page, tuple, offset)
	}
	return spgPageAddItemAt(page, tuple, offset)
}

// spgReplaceItemAt is PageIndexTupleDelete(page, offset) followed by
// spgPageAddItemAt(page, item, offset), done in one pass when both
// succeed (pageIndexTupleReplace).
func spgReplaceItemAt(page schema.Page, item []byte, offset schema.OffsetNumber) bool {
	if pageIndexTupleReplace(page, offset, item) {
		return true
	}
	return PageIndexTupleDelete(page, offset) == nil && spgPageAddItemAt(page, item, offset)
}

// spgPageAddItemAt is PageAddItem(page, item, size, offset, false, false)
// that must return offset (else ERROR "failed to add item").
func spgPageAddItemAt(page schema.Page, item []byte, offset schema.OffsetNumber) bool {
	got, err := PageAddItem(page, item, offset, false, false)
	return err == nil && got == offset
}

// spgFormDeadTuple is spgFormDeadTuple: a REDIRECT points at (blkno,
// offnum) and carries xid (the record's state->myXid); DEAD and
// PLACEHOLDER tuples have an invalid pointer and no xid.
func spgFormDeadTuple(tupstate uint8, blkno schema.BlockNumber, offnum schema.OffsetNumber, xid uint32) [schema.SGDTSIZE]byte {
	var t [schema.SGDTSIZE]byte
	schema.NewSpGistTupleWord(tupstate, schema.SGDTSIZE).Put(t[:])
	// t_info (nextOffset and flags) is 0.
	if tupstate == schema.SpgistRedirect {
		spgSetItemPointer(t[sgdtPointer:], blkno, offnum)
		binary.LittleEndian.PutUint32(t[sgdtXid:], xid)
	} else {
		spgSetItemPointer(t[sgdtPointer:], schema.InvalidBlockNumber, schema.InvalidOffsetNumber)
	}
	return t
}

// spgSetItemPointer is ItemPointerSet: bi_hi, bi_lo, ip_posid.
func spgSetItemPointer(p []byte, blkno schema.BlockNumber, offnum schema.OffsetNumber) {
	binary.LittleEndian.PutUint16(p[0:], uint16(blkno>>16))
	binary.LittleEndian.PutUint16(p[2:], uint16(blkno))
	binary.LittleEndian.PutUint16(p[4:], uint16(offnum))
}

// sgltSetNextOffset is SGLT_SET_NEXTOFFSET: the two flag bits of t_info
// are kept. tup holds at least sgltTInfo+2 bytes.
func sgltSetNextOffset(tup []byte, off schema.OffsetNumber) {
	info := binary.LittleEndian.Uint16(tup[sgltTInfo:])
	binary.LittleEndian.PutUint16(tup[sgltTInfo:], info&^sgltNextOffsetMask|uint16(off)&sgltNextOffsetMask)
}

// spgPageIndexMultiDelete is spgPageIndexMultiDelete (spgdoinsert.c): the
// items are deleted and each replaced, at the same offset, by a dead tuple
// of state firststate (for itemnos[0], before sorting) or reststate.
func spgPageIndexMultiDelete(page schema.Page, itemnos []schema.OffsetNumber, firststate, reststate uint8, blkno schema.BlockNumber, offnum schema.OffsetNumber, xid uint32) bool {
	if len(itemnos) == 0 {
		return true
	}
	o, ok := spgPageGetOpaque(page)
	if !ok || len(itemnos) > schema.MaxIndexTuplesPerPage {
		return false
	}
	var buf [schema.MaxIndexTuplesPerPage]schema.OffsetNumber
	sorted := append(buf[:0], itemnos...)
	slices.Sort(sorted)
	if PageIndexMultiDelete(page, sorted) != nil {
		return false
	}
	for _, itemno := range sorted {
		tupstate := reststate
		if itemno == itemnos[0] {
			tupstate = firststate
		}
		dt := spgFormDeadTuple(tupstate, blkno, offnum, xid)
		if !spgPageAddItemAt(page, dt[:], itemno) {
			return false
		}
		switch tupstate {
		case schema.SpgistRedirect:
			o.addRedirection(1)
		case schema.SpgistPlaceholder:
			o.addPlaceholder(1)
		}
	}
	return true
}

// spgUpdateNodeLink is spgUpdateNodeLink (spgdoinsert.c): the downlink of
// node nodeN of inner tuple tup becomes (blkno, offset).
func spgUpdateNodeLink(tup []byte, nodeN int, blkno schema.BlockNumber, offset schema.OffsetNumber) bool {
	if len(tup) < schema.SizeOfSpGistInnerTupleData {
		return false
	}
	w := schema.SpGistTupleWordOf(tup)
	pos := schema.SizeOfSpGistInnerTupleData + w.PrefixSize() // SGITNODEPTR
	for i := 0; i < w.NNodes(); i++ {
		if pos+sizeOfIndexTuple > len(tup) {
			return false // the node array runs past the tuple
		}
		node := indexTuple(tup[pos:])
		if i == nodeN {
			spgSetItemPointer(node, blkno, offset)
			return true
		}
		pos += node.size()
	}
	return false // ERROR "failed to find requested node"
}

// spgUpdateParentLink is the parent downlink update several records do:
// spgUpdateNodeLink of the inner tuple at offnumParent.
func spgUpdateParentLink(page schema.Page, offnumParent schema.OffsetNumber, nodeI uint16, blkno schema.BlockNumber, offset schema.OffsetNumber) bool {
	tup, err := page.Item(offnumParent)
	return err == nil && spgUpdateNodeLink(tup, int(nodeI), blkno, offset)
}

// MaskSPGist is spg_mask (access/spgist/spgxlog.c): the LSN, checksum and
// hint bits, and the unused space when pd_lower looks set.
func MaskSPGist(page []byte, _ schema.BlockNumber) error {
	if err := maskCheckSize("spg_mask", page); err != nil {
		return err
	}
	maskLSNAndChecksum(page)
	maskHintBits(page)
	var err error
	if maskLower(page) >= sizeOfPageHeader {
		err = maskUnusedSpace(page)
	}
	return maskWrap("spg_mask", err)
}
