package schema

import "fmt"

// SP-GiST record descriptions (spgdesc.c), from the fixed parts the
// decoders of spgxlog.go read. spg_desc prints only fixed fields, so a
// record is described as long as it holds the fields printed.

func (d *descCtx) spg(b []byte) []byte {
	rec := d.data
	switch d.op() {
	case XLogSpgistAddLeaf:
		fixed := spgDescFixed(rec, spgAddLeafDescLen, SizeOfSpgxlogAddLeaf)
		if fixed == nil {
			return rdTruncated(b)
		}
		x := decodeSpgxlogAddLeafFixed(fixed)
		b = fmt.Appendf(b, "off: %d, headoff: %d, parentoff: %d, nodeI: %d",
			x.OffnumLeaf, x.OffnumHeadLeaf, x.OffnumParent, x.NodeI)
		b = spgDescFlag(b, x.NewPage, " (newpage)")
		b = spgDescFlag(b, x.StoresNulls, " (nulls)")
	case XLogSpgistMoveLeafs:
		fixed := spgDescFixed(rec, spgMoveLeafsDescLen, SizeOfSpgxlogMoveLeafs)
		if fixed == nil {
			return rdTruncated(b)
		}
		x := decodeSpgxlogMoveLeafsFixed(fixed)
		b = fmt.Appendf(b, "nmoves: %d, parentoff: %d, nodeI: %d", x.NMoves, x.OffnumParent, x.NodeI)
		b = spgDescFlag(b, x.NewPage, " (newpage)")
		b = spgDescFlag(b, x.ReplaceDead, " (replacedead)")
		b = spgDescFlag(b, x.StoresNulls, " (nulls)")
	case XLogSpgistAddNode:
		fixed := spgDescFixed(rec, spgAddNodeDescLen, SizeOfSpgxlogAddNode)
		if fixed == nil {
			return rdTruncated(b)
		}
		x := decodeSpgxlogAddNodeFixed(fixed)
		b = fmt.Appendf(b, "off: %d, newoff: %d, parentBlk: %d, parentoff: %d, nodeI: %d",
			x.Offnum, x.OffnumNew, x.ParentBlk, x.OffnumParent, x.NodeI)
		b = spgDescFlag(b, x.NewPage, " (newpage)")
	case XLogSpgistSplitTuple:
		fixed := spgDescFixed(rec, spgSplitTupleDescLen, SizeOfSpgxlogSplitTuple)
		if fixed == nil {
			return rdTruncated(b)
		}
		x := decodeSpgxlogSplitTupleFixed(fixed)
		b = fmt.Appendf(b, "prefixoff: %d, postfixoff: %d", x.OffnumPrefix, x.OffnumPostfix)
		b = spgDescFlag(b, x.NewPage, " (newpage)")
		b = spgDescFlag(b, x.PostfixBlkSame, " (same)")
	case XLogSpgistPickSplit:
		fixed := spgDescFixed(rec, spgPickSplitDescLen, SizeOfSpgxlogPickSplit)
		if fixed == nil {
			return rdTruncated(b)
		}
		x := decodeSpgxlogPickSplitFixed(fixed)
		b = fmt.Appendf(b, "ndelete: %d, ninsert: %d, inneroff: %d, parentoff: %d, nodeI: %d",
			x.NDelete, x.NInsert, x.OffnumInner, x.OffnumParent, x.NodeI)
		b = spgDescFlag(b, x.InnerIsParent, " (innerIsParent)")
		b = spgDescFlag(b, x.StoresNulls, " (nulls)")
		b = spgDescFlag(b, x.IsRootSplit, " (isRootSplit)")
	case XLogSpgistVacuumLeaf:
		fixed := spgDescFixed(rec, spgVacuumLeafDescLen, SizeOfSpgxlogVacuumLeaf)
		if fixed == nil {
			return rdTruncated(b)
		}
		x := decodeSpgxlogVacuumLeafFixed(fixed)
		b = fmt.Appendf(b, "ndead: %d, nplaceholder: %d, nmove: %d, nchain: %d",
			x.NDead, x.NPlaceholder, x.NMove, x.NChain)
	case XLogSpgistVacuumRoot:
		fixed := spgDescFixed(rec, spgVacuumRootDescLen, SizeOfSpgxlogVacuumRoot)
		if fixed == nil {
			return rdTruncated(b)
		}
		b = fmt.Appendf(b, "ndelete: %d", decodeSpgxlogVacuumRootFixed(fixed).NDelete)
	case XLogSpgistVacuumRedirect:
		fixed := spgDescFixed(rec, spgVacuumRedirectDescLen, SizeOfSpgxlogVacuumRedirect)
		if fixed == nil {
			return rdTruncated(b)
		}
		x := decodeSpgxlogVacuumRedirectFixed(fixed)
		b = fmt.Appendf(b, "ntoplaceholder: %d, firstplaceholder: %d, newestredirectxid: %d",
			x.NToPlaceholder, x.FirstPlaceholder, x.NewestRedirectXid)
	}
	return b
}

// spgDescFlag appends s when set.
func spgDescFlag(b []byte, set bool, s string) []byte {
	if set {
		b = append(b, s...)
	}
	return b
}
