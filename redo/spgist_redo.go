package redo

import (
	"github.com/pagemill/pagemill/schema"
)

// The SP-GiST record redo functions of spgxlog.c; see spgist.go.

// spgRedoAddLeaf is spgRedoAddLeaf.
func (e *Engine) spgRedoAddLeaf(rec *schema.DecodedRecord, pages Pages, restored []bool, res *Result) bool {
	x, err := schema.DecodeSpgxlogAddLeaf(rec.MainData)
	if err != nil {
		return false
	}
	leaf := spgBlock(rec, 0, x.NewPage)
	if leaf < 0 {
		return false
	}
	parent := -1
	if x.OffnumParent != schema.InvalidOffsetNumber {
		if parent = spgBlock(rec, 1, false); parent < 0 {
			return false
		}
	}
	blknoLeaf := rec.Blocks[leaf].Tag.Block

	if page := spgTargetPage(rec, pages, restored, leaf, x.NewPage, spgLeafFlags(x.StoresNulls), res); page != nil {
		if x.OffnumLeaf != x.OffnumHeadLeaf {
			// The tuple was added by SpGistPageAddNewItem.
			if !addOrReplaceTuple(page, x.LeafTuple, x.OffnumLeaf) {
				return false
			}
			if x.OffnumHeadLeaf != schema.InvalidOffsetNumber {
				head, err := page.Item(x.OffnumHeadLeaf)
				if err != nil || len(head) < sgltTInfo+2 {
					return false
				}
				sgltSetNextOffset(head, x.OffnumLeaf)
			}
		} else {
			// Equal offsets: the tuple replaces a DEAD chain head.
			if !spgReplaceItemAt(page, x.LeafTuple, x.OffnumLeaf) {
				return false
			}
		}
		if !e.finishPage(rec, page, blknoLeaf) {
			return false
		}
	}

	return e.spgRedoParentLink(rec, pages, restored, parent, x.OffnumParent, x.NodeI, blknoLeaf, x.OffnumLeaf, res)
}

// spgRedoMoveLeafs is spgRedoMoveLeafs.
func (e *Engine) spgRedoMoveLeafs(rec *schema.DecodedRecord, pages Pages, restored []bool, res *Result) bool {
	x, err := schema.DecodeSpgxlogMoveLeafs(rec.MainData)
	if err != nil {
		return false
	}
	src, dst, parent := spgBlock(rec, 0, false), spgBlock(rec, 1, x.NewPage), spgBlock(rec, 2, false)
	if src < 0 || dst < 0 || parent < 0 {
		return false
	}
	blknoDst := rec.Blocks[dst].Tag.Block
	// Both the redirect and the downlink point at the last tuple inserted.
	target := x.ToInsert[x.NInsert()-1]

	// The destination first, so that the redirect is valid.
	if page := spgTargetPage(rec, pages, restored, dst, x.NewPage, spgLeafFlags(x.StoresNulls), res); page != nil {
		for i, tup := range x.LeafTuples {
			if !addOrReplaceTuple(page, tup, x.ToInsert[i]) {
				return false
			}
		}
		if !e.finishPage(rec, page, blknoDst) {
			return false
		}
	}

	firststate := uint8(schema.SpgistRedirect)
	if x.StateSrc.IsBuild {
		firststate = schema.SpgistPlaceholder
	}
	if !e.redoBlock(rec, pages, restored, src, res, func(page schema.Page) bool {
		return spgPageIndexMultiDelete(page, x.ToDelete, firststate, schema.SpgistPlaceholder, blknoDst, target, x.StateSrc.MyXid)
	}) {
		return false
	}

	return e.spgRedoParentLink(rec, pages, restored, parent, x.OffnumParent, x.NodeI, blknoDst, target, res)
}

// spgRedoAddNode is spgRedoAddNode.
func (e *Engine) spgRedoAddNode(rec *schema.DecodedRecord, pages Pages, restored []bool, res *Result) bool {
	x, err := schema.DecodeSpgxlogAddNode(rec.MainData)
	if err != nil {
		return false
	}
	orig := spgBlock(rec, 0, false)
	if orig < 0 {
		return false
	}
	if blockIndex(rec, 1) < 0 {
		// The enlarged tuple replaced the old one in place.
		return e.redoBlock(rec, pages, restored, orig, res, func(page schema.Page) bool {
			return spgReplaceItemAt(page, x.InnerTuple, x.Offnum)
		})
	}

	// The tuple moved to block 1, leaving a redirect behind.
	moved := spgBlock(rec, 1, x.NewPage)
	if moved < 0 {
		return false
	}
	parent := -1
	if x.ParentBlk == 2 {
		if parent = spgBlock(rec, 2, false); parent < 0 {
			return false
		}
	}
	blknoNew := rec.Blocks[moved].Tag.Block

	// The new tuple first, so that the redirect is valid. ADD_NODE never
	// happens on a nulls page.
	if page := spgTargetPage(rec, pages, restored, moved, x.NewPage, 0, res); page != nil {
		if !addOrReplaceTuple(page, x.InnerTuple, x.OffnumNew) {
			return false
		}
		if x.ParentBlk == 1 && !spgUpdateParentLink(page, x.OffnumParent, x.NodeI, blknoNew, x.OffnumNew) {
			return false
		}
		if !e.finishPage(rec, page, blknoNew) {
			return false
		}
	}

	if !e.redoBlock(rec, pages, restored, orig, res, func(page schema.Page) bool {
		o, ok := spgPageGetOpaque(page)
		if !ok {
			return false
		}
		var dt [schema.SGDTSIZE]byte
		if x.StateSrc.IsBuild {
			dt = spgFormDeadTuple(schema.SpgistPlaceholder, schema.InvalidBlockNumber, schema.InvalidOffsetNumber, x.StateSrc.MyXid)
		} else {
			dt = spgFormDeadTuple(schema.SpgistRedirect, blknoNew, x.OffnumNew, x.StateSrc.MyXid)
		}
		if !spgReplaceItemAt(page, dt[:], x.Offnum) {
			return false
		}
		if x.StateSrc.IsBuild {
			o.addPlaceholder(1)
		} else {
			o.addRedirection(1)
		}
		return x.ParentBlk != 0 || spgUpdateParentLink(page, x.OffnumParent, x.NodeI, blknoNew, x.OffnumNew)
	}) {
		return false
	}

	return e.spgRedoParentLink(rec, pages, restored, parent, x.OffnumParent, x.NodeI, blknoNew, x.OffnumNew, res)
}

// spgRedoSplitTuple is spgRedoSplitTuple.
func (e *Engine) spgRedoSplitTuple(rec *schema.DecodedRecord, pages Pages, restored []bool, res *Result) bool {
	x, err := schema.DecodeSpgxlogSplitTuple(rec.MainData)
	if err != nil {
		return false
	}
	prefix := spgBlock(rec, 0, false)
	if prefix < 0 {
		return false
	}
	postfix := -1
	if !x.PostfixBlkSame {
		if postfix = spgBlock(rec, 1, x.NewPage); postfix < 0 {
			return false
		}
	}

	// The postfix tuple first, so that the prefix tuple's link is valid.
	// SPLIT_TUPLE never happens on a nulls page.
	if postfix >= 0 {
		if page := spgTargetPage(rec, pages, restored, postfix, x.NewPage, 0, res); page != nil {
			if !addOrReplaceTuple(page, x.PostfixTuple, x.OffnumPostfix) ||
				!e.finishPage(rec, page, rec.Blocks[postfix].Tag.Block) {
				return false
			}
		}
	}

	return e.redoBlock(rec, pages, restored, prefix, res, func(page schema.Page) bool {
		return spgReplaceItemAt(page, x.PrefixTuple, x.OffnumPrefix) &&
			(!x.PostfixBlkSame || addOrReplaceTuple(page, x.PostfixTuple, x.OffnumPostfix))
	})
}

// spgRedoPickSplit is spgRedoPickSplit.
func (e *Engine) spgRedoPickSplit(rec *schema.DecodedRecord, pages Pages, restored []bool, res *Result) bool {
	x, err := schema.DecodeSpgxlogPickSplit(rec.MainData)
	if err != nil {
		return false
	}
	inner := spgBlock(rec, 2, x.InitInner)
	if inner < 0 {
		return false
	}
	src := -1
	if !x.IsRootSplit {
		// On a root split the root is touched only as the inner page.
		if src = spgBlock(rec, 0, x.InitSrc); src < 0 {
			return false
		}
	}
	dest := blockIndex(rec, 1)
	if dest >= 0 && spgBlock(rec, 1, x.InitDest) < 0 {
		return false
	}
	parent := blockIndex(rec, 3)
	if parent >= 0 && spgBlock(rec, 3, false) < 0 {
		return false
	}
	blknoInner := rec.Blocks[inner].Tag.Block
	leafFlags := spgLeafFlags(x.StoresNulls)

	// The source and destination pages being redone, else nil. Their
	// LSNs are set once the leaf tuples are in.
	var srcPage, destPage schema.Page
	if src >= 0 {
		if x.InitSrc {
			srcPage = spgInitBufferForRedo(rec, pages, restored, src, leafFlags)
		} else if page, action := readBufferForRedo(rec, pages, restored, src, res); action == blkNeedsRedo {
			// The inner tuple's place is known, so the redirect is
			// written with its final pointer.
			srcPage = page
			first, blk, off := uint8(schema.SpgistRedirect), blknoInner, x.OffnumInner
			if x.StateSrc.IsBuild {
				first, blk, off = schema.SpgistPlaceholder, schema.InvalidBlockNumber, schema.InvalidOffsetNumber
			}
			if !spgPageIndexMultiDelete(page, x.ToDelete, first, schema.SpgistPlaceholder, blk, off, x.StateSrc.MyXid) {
				return false
			}
		}
	}
	if dest >= 0 {
		if x.InitDest {
			destPage = spgInitBufferForRedo(rec, pages, restored, dest, leafFlags)
		} else if page, action := readBufferForRedo(rec, pages, restored, dest, res); action == blkNeedsRedo {
			destPage = page
		}
	}

	for i, tup := range x.LeafTuples {
		page := srcPage
		if x.LeafPageSelect[i] != 0 {
			page = destPage
		}
		if page == nil {
			continue // not being redone
		}
		if !addOrReplaceTuple(page, tup, x.ToInsert[i]) {
			return false
		}
	}
	if srcPage != nil && !e.finishPage(rec, srcPage, rec.Blocks[src].Tag.Block) {
		return false
	}
	if destPage != nil && !e.finishPage(rec, destPage, rec.Blocks[dest].Tag.Block) {
		return false
	}

	// The new inner tuple; on a root split its page is the root,
	// re-initialized as an inner page.
	if page := spgTargetPage(rec, pages, restored, inner, x.InitInner, spgInnerFlags(x.StoresNulls), res); page != nil {
		if !addOrReplaceTuple(page, x.InnerTuple, x.OffnumInner) {
			return false
		}
		if x.InnerIsParent && !spgUpdateParentLink(page, x.OffnumParent, x.NodeI, blknoInner, x.OffnumInner) {
			return false
		}
		if !e.finishPage(rec, page, blknoInner) {
			return false
		}
	}

	return e.spgRedoParentLink(rec, pages, restored, parent, x.OffnumParent, x.NodeI, blknoInner, x.OffnumInner, res)
}

// spgRedoVacuumLeaf is spgRedoVacuumLeaf: the steps of vacuumLeafPage, in
// its order.
func (e *Engine) spgRedoVacuumLeaf(rec *schema.DecodedRecord, pages Pages, restored []bool, res *Result) bool {
	x, err := schema.DecodeSpgxlogVacuumLeaf(rec.MainData)
	if err != nil {
		return false
	}
	i := spgBlock(rec, 0, false)
	if i < 0 {
		return false
	}
	return e.redoBlock(rec, pages, restored, i, res, func(page schema.Page) bool { return spgVacuumLeafPage(page, x) })
}

// spgVacuumLeafPage is the page change of spgRedoVacuumLeaf.
func spgVacuumLeafPage(page schema.Page, x schema.SpgxlogVacuumLeaf) bool {
	const none, noOff = schema.InvalidBlockNumber, schema.InvalidOffsetNumber
	xid := x.StateSrc.MyXid
	if !spgPageIndexMultiDelete(page, x.ToDead, schema.SpgistDead, schema.SpgistDead, none, noOff, xid) ||
		!spgPageIndexMultiDelete(page, x.ToPlaceholder, schema.SpgistPlaceholder, schema.SpgistPlaceholder, none, noOff, xid) {
		return false
	}
	// Moving a tuple is swapping its line pointer with the target's (see
	// vacuumLeafPage); the source then becomes a placeholder.
	maxoff := page.MaxOffsetNumber()
	for k := range x.MoveSrc {
		s, d := x.MoveSrc[k], x.MoveDest[k]
		if s == schema.InvalidOffsetNumber || s > maxoff || d == schema.InvalidOffsetNumber || d > maxoff {
			return false
		}
		idSrc, idDest := page.ItemID(s), page.ItemID(d)
		_ = page.SetItemID(s, idDest)
		_ = page.SetItemID(d, idSrc)
	}
	if !spgPageIndexMultiDelete(page, x.MoveSrc, schema.SpgistPlaceholder, schema.SpgistPlaceholder, none, noOff, xid) {
		return false
	}
	for k, s := range x.ChainSrc {
		lt, err := page.Item(s)
		if err != nil || len(lt) < sgltTInfo+2 {
			return false
		}
		sgltSetNextOffset(lt, x.ChainDest[k])
	}
	return true
}

// spgRedoVacuumRoot is spgRedoVacuumRoot: a root that is still a leaf page
// never has chains, so its tuples are plainly deleted.
func (e *Engine) spgRedoVacuumRoot(rec *schema.DecodedRecord, pages Pages, restored []bool, res *Result) bool {
	x, err := schema.DecodeSpgxlogVacuumRoot(rec.MainData)
	if err != nil {
		return false
	}
	i := spgBlock(rec, 0, false)
	if i < 0 {
		return false
	}
	return e.redoBlock(rec, pages, restored, i, res, func(page schema.Page) bool {
		return PageIndexMultiDelete(page, x.Offsets) == nil
	})
}

// spgRedoVacuumRedirect is spgRedoVacuumRedirect. The hot-standby conflict
// on newestRedirectXid has no page effect.
func (e *Engine) spgRedoVacuumRedirect(rec *schema.DecodedRecord, pages Pages, restored []bool, res *Result) bool {
	x, err := schema.DecodeSpgxlogVacuumRedirect(rec.MainData)
	if err != nil {
		return false
	}
	i := spgBlock(rec, 0, false)
	if i < 0 {
		return false
	}
	return e.redoBlock(rec, pages, restored, i, res, func(page schema.Page) bool { return spgVacuumRedirectPage(page, x) })
}

// spgVacuumRedirectPage is the page change of spgRedoVacuumRedirect.
func spgVacuumRedirectPage(page schema.Page, x schema.SpgxlogVacuumRedirect) bool {
	o, ok := spgPageGetOpaque(page)
	if !ok {
		return false
	}
	// Redirects become placeholders; their xid is left as it was.
	for _, off := range x.Offsets {
		dt, err := page.Item(off)
		if err != nil || len(dt) < sgdtPointer+sizeOfItemPointer {
			return false
		}
		schema.SpGistTupleWordOf(dt).WithState(schema.SpgistPlaceholder).Put(dt)
		spgSetItemPointer(dt[sgdtPointer:], schema.InvalidBlockNumber, schema.InvalidOffsetNumber)
	}
	o.addRedirection(-int(x.NToPlaceholder))
	o.addPlaceholder(int(x.NToPlaceholder))

	// Remove the placeholders at the end of the page. As in C, the count
	// is taken from offsets alone.
	if x.FirstPlaceholder != schema.InvalidOffsetNumber {
		maxoff := int(page.MaxOffsetNumber())
		n := maxoff - int(x.FirstPlaceholder) + 1
		o.addPlaceholder(-n)
		if n > 0 {
			var buf [schema.MaxIndexTuplesPerPage]schema.OffsetNumber
			toDelete := buf[:0]
			for off := int(x.FirstPlaceholder); off <= maxoff; off++ {
				toDelete = append(toDelete, schema.OffsetNumber(off))
			}
			if PageIndexMultiDelete(page, toDelete) != nil {
				return false
			}
		}
	}
	return true
}

// spgRedoParentLink is the last step of the redo routines whose parent
// downlink lives on a block of its own (block index parent, -1 if none):
// point node nodeI of the tuple at offnumParent at (blkno, off).
func (e *Engine) spgRedoParentLink(rec *schema.DecodedRecord, pages Pages, restored []bool, parent int,
	offnumParent schema.OffsetNumber, nodeI uint16, blkno schema.BlockNumber, off schema.OffsetNumber, res *Result) bool {
	return parent < 0 || e.redoBlock(rec, pages, restored, parent, res, func(page schema.Page) bool {
		return spgUpdateParentLink(page, offnumParent, nodeI, blkno, off)
	})
}
