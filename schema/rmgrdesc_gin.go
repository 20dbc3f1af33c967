package schema

import "fmt"

// GIN record descriptions (gindesc.c).

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
