package schema

import "fmt"

// SP-GiST record descriptions (spgdesc.c), from the fixed parts the
// decoders of spgxlog.go read. spg_desc prints only fixed fields, so a
// record is described as long as it holds the fields printed.

// spgDesc is one case of spg_desc: the bytes its fields need
// (spgDescFixed), the struct's size, and the printing of the fixed part.
type spgDesc struct {
	need, size int
	desc       func(b, fixed []byte) []byte
}

// spgDescs are spg_desc's cases, by opcode.
var spgDescs = map[uint8]spgDesc{
	XLogSpgistAddLeaf: {spgAddLeafDescLen, SizeOfSpgxlogAddLeaf, func(b, fixed []byte) []byte {
		x := decodeSpgxlogAddLeafFixed(fixed)
		b = fmt.Appendf(b, "off: %d, headoff: %d, parentoff: %d, nodeI: %d",
			x.OffnumLeaf, x.OffnumHeadLeaf, x.OffnumParent, x.NodeI)
		b = spgDescFlag(b, x.NewPage, " (newpage)")
		return spgDescFlag(b, x.StoresNulls, " (nulls)")
	}},
	XLogSpgistMoveLeafs: {spgMoveLeafsDescLen, SizeOfSpgxlogMoveLeafs, func(b, fixed []byte) []byte {
		x := decodeSpgxlogMoveLeafsFixed(fixed)
		b = fmt.Appendf(b, "nmoves: %d, parentoff: %d, nodeI: %d", x.NMoves, x.OffnumParent, x.NodeI)
		b = spgDescFlag(b, x.NewPage, " (newpage)")
		b = spgDescFlag(b, x.ReplaceDead, " (replacedead)")
		return spgDescFlag(b, x.StoresNulls, " (nulls)")
	}},
	XLogSpgistAddNode: {spgAddNodeDescLen, SizeOfSpgxlogAddNode, func(b, fixed []byte) []byte {
		x := decodeSpgxlogAddNodeFixed(fixed)
		b = fmt.Appendf(b, "off: %d, newoff: %d, parentBlk: %d, parentoff: %d, nodeI: %d",
			x.Offnum, x.OffnumNew, x.ParentBlk, x.OffnumParent, x.NodeI)
		return spgDescFlag(b, x.NewPage, " (newpage)")
	}},
	XLogSpgistSplitTuple: {spgSplitTupleDescLen, SizeOfSpgxlogSplitTuple, func(b, fixed []byte) []byte {
		x := decodeSpgxlogSplitTupleFixed(fixed)
		b = fmt.Appendf(b, "prefixoff: %d, postfixoff: %d", x.OffnumPrefix, x.OffnumPostfix)
		b = spgDescFlag(b, x.NewPage, " (newpage)")
		return spgDescFlag(b, x.PostfixBlkSame, " (same)")
	}},
	XLogSpgistPickSplit: {spgPickSplitDescLen, SizeOfSpgxlogPickSplit, func(b, fixed []byte) []byte {
		x := decodeSpgxlogPickSplitFixed(fixed)
		b = fmt.Appendf(b, "ndelete: %d, ninsert: %d, inneroff: %d, parentoff: %d, nodeI: %d",
			x.NDelete, x.NInsert, x.OffnumInner, x.OffnumParent, x.NodeI)
		b = spgDescFlag(b, x.InnerIsParent, " (innerIsParent)")
		b = spgDescFlag(b, x.StoresNulls, " (nulls)")
		return spgDescFlag(b, x.IsRootSplit, " (isRootSplit)")
	}},
	XLogSpgistVacuumLeaf: {spgVacuumLeafDescLen, SizeOfSpgxlogVacuumLeaf, func(b, fixed []byte) []byte {
		x := decodeSpgxlogVacuumLeafFixed(fixed)
		return fmt.Appendf(b, "ndead: %d, nplaceholder: %d, nmove: %d, nchain: %d",
			x.NDead, x.NPlaceholder, x.NMove, x.NChain)
	}},
	XLogSpgistVacuumRoot: {spgVacuumRootDescLen, SizeOfSpgxlogVacuumRoot, func(b, fixed []byte) []byte {
		return fmt.Appendf(b, "ndelete: %d", decodeSpgxlogVacuumRootFixed(fixed).NDelete)
	}},
	XLogSpgistVacuumRedirect: {spgVacuumRedirectDescLen, SizeOfSpgxlogVacuumRedirect, func(b, fixed []byte) []byte {
		x := decodeSpgxlogVacuumRedirectFixed(fixed)
		return fmt.Appendf(b, "ntoplaceholder: %d, firstplaceholder: %d, newestredirectxid: %d",
			x.NToPlaceholder, x.FirstPlaceholder, x.NewestRedirectXid)
	}},
}

func (d *descCtx) spg(b []byte) []byte {
	c, ok := spgDescs[d.op()]
	if !ok {
		return b
	}
	fixed := spgDescFixed(d.data, c.need, c.size)
	if fixed == nil {
		return rdTruncated(b)
	}
	return c.desc(b, fixed)
}

// spgDescFlag appends s when set.
func spgDescFlag(b []byte, set bool, s string) []byte {
	if set {
		b = append(b, s...)
	}
	return b
}
