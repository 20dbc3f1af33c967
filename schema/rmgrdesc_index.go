package schema

import "fmt"

// Descriptions of the non-btree index access methods: Hash (hashdesc.c),
// Gin (gindesc.c), Gist (gistdesc.c), SPGist (spgdesc.c), BRIN
// (brindesc.c).

func (d *descCtx) hash(b []byte) []byte {
	rec := d.data
	need := func(n int) bool { return len(rec) >= n }
	switch d.op() {
	case 0x00: // INIT_META_PAGE: num_tuples f64, procid @8, ffactor u16 @12
		if !need(14) {
			return rdTruncated(b)
		}
		b = append(b, "num_tuples "...)
		b = rdAppendCFloatG(b, rdF64(rec, 0))
		b = fmt.Appendf(b, ", fillfactor %d", rdU16(rec, 12))
	case 0x10: // INIT_BITMAP_PAGE: bmsize u16
		if !need(2) {
			return rdTruncated(b)
		}
		b = fmt.Appendf(b, "bmsize %d", rdU16(rec, 0))
	case 0x20: // INSERT: offnum
		if !need(2) {
			return rdTruncated(b)
		}
		b = fmt.Appendf(b, "off %d", rdU16(rec, 0))
	case 0x30: // ADD_OVFL_PAGE: bmsize u16, bmpage_found bool
		if !need(3) {
			return rdTruncated(b)
		}
		b = fmt.Appendf(b, "bmsize %d, bmpage_found %c", rdU16(rec, 0), rdBoolTF(rec[2] != 0))
	case 0x40: // SPLIT_ALLOCATE_PAGE: new_bucket, old/new_bucket_flag, flags u8 @8
		if !need(9) {
			return rdTruncated(b)
		}
		b = fmt.Appendf(b, "new_bucket %d, meta_page_masks_updated %c, issplitpoint_changed %c",
			rdU32(rec, 0), rdBoolTF(rec[8]&0x01 != 0), rdBoolTF(rec[8]&0x02 != 0))
	case 0x60: // SPLIT_COMPLETE: old_bucket_flag, new_bucket_flag
		if !need(4) {
			return rdTruncated(b)
		}
		b = fmt.Appendf(b, "old_bucket_flag %d, new_bucket_flag %d", rdU16(rec, 0), rdU16(rec, 2))
	case 0x70: // MOVE_PAGE_CONTENTS: ntups u16, is_prim_bucket_same_wrt
		if !need(3) {
			return rdTruncated(b)
		}
		b = fmt.Appendf(b, "ntups %d, is_primary %c", rdU16(rec, 0), rdBoolTF(rec[2] != 0))
	case 0x80: // SQUEEZE_PAGE: prevblkno, nextblkno, ntups u16 @8, is_prim @10
		if !need(11) {
			return rdTruncated(b)
		}
		b = fmt.Appendf(b, "prevblkno %d, nextblkno %d, ntups %d, is_primary %c",
			rdU32(rec, 0), rdU32(rec, 4), rdU16(rec, 8), rdBoolTF(rec[10] != 0))
	case 0x90: // DELETE: clear_dead_marking, is_primary_bucket_page
		if !need(2) {
			return rdTruncated(b)
		}
		b = fmt.Appendf(b, "clear_dead_marking %c, is_primary %c", rdBoolTF(rec[0] != 0), rdBoolTF(rec[1] != 0))
	case 0xB0: // UPDATE_META_PAGE: ntuples f64
		if !need(8) {
			return rdTruncated(b)
		}
		b = append(b, "ntuples "...)
		b = rdAppendCFloatG(b, rdF64(rec, 0))
	case 0xC0: // VACUUM_ONE_PAGE: latestRemovedXid, ntuples int
		if !need(8) {
			return rdTruncated(b)
		}
		b = fmt.Appendf(b, "ntuples %d, latestRemovedXid %d", rdI32(rec, 4), rdU32(rec, 0))
	}
	// SPLIT_PAGE (0x50) and SPLIT_CLEANUP (0xA0) print nothing.
	return b
}

// GIN flag bits (access/ginxlog.h).
const (
	rdGinInsertIsData = 0x01
	rdGinInsertIsLeaf = 0x02
	rdGinSplitRoot    = 0x04
)

// rdAppendGinRecompressLeaf is desc_recompress_leaf over a
// ginxlogRecompressDataLeaf (nactions u16, then the actions).
func rdAppendGinRecompressLeaf(b []byte, data []byte) []byte {
	if len(data) < 2 {
		return rdTruncated(b)
	}
	nactions := int(rdU16(data, 0))
	b = fmt.Appendf(b, " %d segments:", nactions)
	p := 2
	for i := 0; i < nactions; i++ {
		if p+2 > len(data) {
			return rdTruncated(b)
		}
		segno, action := data[p], data[p+1]
		p += 2
		nitems := 0
		switch action {
		case 2, 3: // GIN_SEGMENT_INSERT, GIN_SEGMENT_REPLACE: a GinPostingList follows
			// first ItemPointerData (6), nbytes u16 @6, bytes @8
			if p+8 > len(data) {
				return rdTruncated(b)
			}
			nbytes := int(rdU16(data, p+6))
			segSize := 8 + (nbytes+1)&^1 // SizeOfGinPostingList
			p += (segSize + 1) &^ 1
		case 4: // GIN_SEGMENT_ADDITEMS: nitems u16, then ItemPointers
			if p+2 > len(data) {
				return rdTruncated(b)
			}
			nitems = int(rdU16(data, p))
			p += 2 + 6*nitems
		}
		switch action {
		case 4:
			b = fmt.Appendf(b, " %d (add %d items)", segno, nitems)
		case 1:
			b = fmt.Appendf(b, " %d (delete)", segno)
		case 2:
			b = fmt.Appendf(b, " %d (insert)", segno)
		case 3:
			b = fmt.Appendf(b, " %d (replace)", segno)
		default:
			return fmt.Appendf(b, " %d unknown action %d ???", segno, action)
		}
	}
	return b
}

// rdAppendGinImage appends the "(full page image...)" note when block 0
// carries an image, reporting whether it did.
func rdAppendGinImage(b []byte, blk *DecodedBkpBlock) ([]byte, bool) {
	if blk == nil || !blk.HasImage {
		return b, false
	}
	if blk.ApplyImage() {
		return append(b, " (full page image)"...), true
	}
	return append(b, " (full page image, for WAL verification)"...), true
}

func (d *descCtx) gin(b []byte) []byte {
	rec := d.data
	switch d.op() {
	case 0x20: // INSERT: flags u16, then for non-leaf two BlockIdData children
		if len(rec) < 2 {
			return rdTruncated(b)
		}
		flags := rdU16(rec, 0)
		b = fmt.Appendf(b, "isdata: %c isleaf: %c",
			rdBoolTF(flags&rdGinInsertIsData != 0), rdBoolTF(flags&rdGinInsertIsLeaf != 0))
		if flags&rdGinInsertIsLeaf == 0 {
			if len(rec) < 10 {
				return rdTruncated(b)
			}
			b = fmt.Appendf(b, " children: %d/%d", rdBlockID(rec, 2), rdBlockID(rec, 6))
		}
		blk := d.r.Block(0)
		var img bool
		if b, img = rdAppendGinImage(b, blk); img {
			break
		}
		if blk == nil || len(blk.Data) == 0 {
			return rdTruncated(b)
		}
		payload := blk.Data
		switch {
		case flags&rdGinInsertIsData == 0: // ginxlogInsertEntry: offset, isDelete @2
			if len(payload) < 3 {
				return rdTruncated(b)
			}
			b = fmt.Appendf(b, " isdelete: %c", rdBoolTF(payload[2] != 0))
		case flags&rdGinInsertIsLeaf != 0:
			b = rdAppendGinRecompressLeaf(b, payload)
		default: // ginxlogInsertDataInternal: offset, PostingItem @2
			if len(payload) < 12 {
				return rdTruncated(b)
			}
			b = fmt.Appendf(b, " pitem: %d-%d/%d", rdBlockID(payload, 2), rdBlockID(payload, 6), rdU16(payload, 10))
		}
	case 0x30: // SPLIT: RelFileNode, rrlink, leftChildBlkno, rightChildBlkno, flags u16 @24
		if len(rec) < 26 {
			return rdTruncated(b)
		}
		flags := rdU16(rec, 24)
		b = fmt.Appendf(b, "isrootsplit: %c", rdBoolTF(flags&rdGinSplitRoot != 0))
		b = fmt.Appendf(b, " isdata: %c isleaf: %c",
			rdBoolTF(flags&rdGinInsertIsData != 0), rdBoolTF(flags&rdGinInsertIsLeaf != 0))
	case 0x90: // VACUUM_DATA_LEAF_PAGE: block 0 data is a ginxlogRecompressDataLeaf
		blk := d.r.Block(0)
		var img bool
		if b, img = rdAppendGinImage(b, blk); img {
			break
		}
		if blk == nil || len(blk.Data) == 0 {
			return rdTruncated(b)
		}
		b = rdAppendGinRecompressLeaf(b, blk.Data)
	case 0x80: // DELETE_LISTPAGE: GinMetaPageData (56 bytes), ndeleted int32
		if len(rec) < 60 {
			return rdTruncated(b)
		}
		b = fmt.Appendf(b, "ndeleted: %d", rdI32(rec, 56))
	}
	// CREATE_PTREE, VACUUM_PAGE, DELETE_PAGE, UPDATE_META_PAGE and
	// INSERT_LISTPAGE print nothing.
	return b
}

func (d *descCtx) gist(b []byte) []byte {
	rec := d.data
	switch d.op() {
	case 0x20: // PAGE_REUSE: RelFileNode, block @12, latestRemovedFullXid u64 @16
		if len(rec) < 24 {
			return rdTruncated(b)
		}
		rn := rdRel(rec, 0)
		b = fmt.Appendf(b, "rel %d/%d/%d; blk %d; latestRemovedXid ", rn.SpcNode, rn.DbNode, rn.RelNode, rdU32(rec, 12))
		b = rdAppendFullXid(b, rdU64(rec, 16))
	case 0x10: // DELETE: latestRemovedXid, ntodelete u16
		if len(rec) < 6 {
			return rdTruncated(b)
		}
		b = fmt.Appendf(b, "delete: latestRemovedXid %d, nitems: %d", rdU32(rec, 0), rdU16(rec, 4))
	case 0x30: // PAGE_SPLIT: origrlink, orignsn u64 @8, origleaf @16, npage u16 @18
		if len(rec) < 20 {
			return rdTruncated(b)
		}
		b = fmt.Appendf(b, "page_split: splits to %d pages", rdU16(rec, 18))
	case 0x60: // PAGE_DELETE: deleteXid u64, downlinkOffset u16 @8
		if len(rec) < 10 {
			return rdTruncated(b)
		}
		b = append(b, "deleteXid "...)
		b = rdAppendFullXid(b, rdU64(rec, 0))
		b = fmt.Appendf(b, "; downlink %d", rdU16(rec, 8))
	}
	// PAGE_UPDATE and ASSIGN_LSN print nothing.
	return b
}

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

func (d *descCtx) brin(b []byte) []byte {
	rec := d.data
	switch d.op() & 0x70 { // XLOG_BRIN_OPMASK: +INIT is described like the plain op
	case 0x00: // CREATE_INDEX: pagesPerRange, version u16 @4
		if len(rec) < 6 {
			return rdTruncated(b)
		}
		b = fmt.Appendf(b, "v%d pagesPerRange %d", rdU16(rec, 4), rdU32(rec, 0))
	case 0x10: // INSERT: heapBlk, pagesPerRange, offnum @8
		if len(rec) < 10 {
			return rdTruncated(b)
		}
		b = fmt.Appendf(b, "heapBlk %d pagesPerRange %d offnum %d", rdU32(rec, 0), rdU32(rec, 4), rdU16(rec, 8))
	case 0x20: // UPDATE: oldOffnum, xl_brin_insert @4
		if len(rec) < 14 {
			return rdTruncated(b)
		}
		b = fmt.Appendf(b, "heapBlk %d pagesPerRange %d old offnum %d, new offnum %d",
			rdU32(rec, 4), rdU32(rec, 8), rdU16(rec, 0), rdU16(rec, 12))
	case 0x30: // SAMEPAGE_UPDATE: offnum
		if len(rec) < 2 {
			return rdTruncated(b)
		}
		b = fmt.Appendf(b, "offnum %d", rdU16(rec, 0))
	case 0x40: // REVMAP_EXTEND: targetBlk
		if len(rec) < 4 {
			return rdTruncated(b)
		}
		b = fmt.Appendf(b, "targetBlk %d", rdU32(rec, 0))
	case 0x50: // DESUMMARIZE: pagesPerRange, heapBlk, regOffset @8
		if len(rec) < 10 {
			return rdTruncated(b)
		}
		b = fmt.Appendf(b, "pagesPerRange %d, heapBlk %d, page offset %d", rdU32(rec, 0), rdU32(rec, 4), rdU16(rec, 8))
	}
	return b
}
