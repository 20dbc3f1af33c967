package schema

import "fmt"

// SP-GiST record descriptions (spgdesc.c).

func (d *descCtx) spg(b []byte) []byte {
	rec := d.data
	switch d.op() {
	case 0x10: // ADD_LEAF: newPage, storesNulls, offnumLeaf @2, offnumHeadLeaf @4, offnumParent @6, nodeI @8
		if len(rec) < 10 {
			return rdTruncated(b)
		}
		b = fmt.Appendf(b, "off: %d, headoff: %d, parentoff: %d, nodeI: %d",
			rdU16(rec, 2), rdU16(rec, 4), rdU16(rec, 6), rdU16(rec, 8))
		if rec[0] != 0 {
			b = append(b, " (newpage)"...)
		}
		if rec[1] != 0 {
			b = append(b, " (nulls)"...)
		}
	case 0x20: // MOVE_LEAFS: nMoves, newPage @2, replaceDead @3, storesNulls @4, offnumParent @6, nodeI @8
		if len(rec) < 10 {
			return rdTruncated(b)
		}
		b = fmt.Appendf(b, "nmoves: %d, parentoff: %d, nodeI: %d", rdU16(rec, 0), rdU16(rec, 6), rdU16(rec, 8))
		if rec[2] != 0 {
			b = append(b, " (newpage)"...)
		}
		if rec[3] != 0 {
			b = append(b, " (replacedead)"...)
		}
		if rec[4] != 0 {
			b = append(b, " (nulls)"...)
		}
	case 0x30: // ADD_NODE: offnum, offnumNew @2, newPage @4, parentBlk int8 @5, offnumParent @6, nodeI @8
		if len(rec) < 10 {
			return rdTruncated(b)
		}
		b = fmt.Appendf(b, "off: %d, newoff: %d, parentBlk: %d, parentoff: %d, nodeI: %d",
			rdU16(rec, 0), rdU16(rec, 2), int8(rec[5]), rdU16(rec, 6), rdU16(rec, 8))
		if rec[4] != 0 {
			b = append(b, " (newpage)"...)
		}
	case 0x40: // SPLIT_TUPLE: offnumPrefix, offnumPostfix @2, newPage @4, postfixBlkSame @5
		if len(rec) < 6 {
			return rdTruncated(b)
		}
		b = fmt.Appendf(b, "prefixoff: %d, postfixoff: %d", rdU16(rec, 0), rdU16(rec, 2))
		if rec[4] != 0 {
			b = append(b, " (newpage)"...)
		}
		if rec[5] != 0 {
			b = append(b, " (same)"...)
		}
	case 0x50: // PICKSPLIT
		// isRootSplit @0, nDelete @2, nInsert @4, initSrc @6, initDest @7,
		// offnumInner @8, initInner @10, storesNulls @11, innerIsParent @12,
		// offnumParent @14, nodeI @16
		if len(rec) < 18 {
			return rdTruncated(b)
		}
		b = fmt.Appendf(b, "ndelete: %d, ninsert: %d, inneroff: %d, parentoff: %d, nodeI: %d",
			rdU16(rec, 2), rdU16(rec, 4), rdU16(rec, 8), rdU16(rec, 14), rdU16(rec, 16))
		if rec[12] != 0 {
			b = append(b, " (innerIsParent)"...)
		}
		if rec[11] != 0 {
			b = append(b, " (nulls)"...)
		}
		if rec[0] != 0 {
			b = append(b, " (isRootSplit)"...)
		}
	case 0x60: // VACUUM_LEAF: nDead, nPlaceholder, nMove, nChain
		if len(rec) < 8 {
			return rdTruncated(b)
		}
		b = fmt.Appendf(b, "ndead: %d, nplaceholder: %d, nmove: %d, nchain: %d",
			rdU16(rec, 0), rdU16(rec, 2), rdU16(rec, 4), rdU16(rec, 6))
	case 0x70: // VACUUM_ROOT: nDelete
		if len(rec) < 2 {
			return rdTruncated(b)
		}
		b = fmt.Appendf(b, "ndelete: %d", rdU16(rec, 0))
	case 0x80: // VACUUM_REDIRECT: nToPlaceholder, firstPlaceholder @2, newestRedirectXid @4
		if len(rec) < 8 {
			return rdTruncated(b)
		}
		b = fmt.Appendf(b, "ntoplaceholder: %d, firstplaceholder: %d, newestredirectxid: %d",
			rdU16(rec, 0), rdU16(rec, 2), rdU32(rec, 4))
	}
	return b
}
