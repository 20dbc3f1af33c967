package schema

import "fmt"

// GIN record descriptions (gindesc.c), decoded with ginxlog.go.

// Short names of the insert flags, kept for the desc tests.
const (
	rdGinInsertIsData = GinInsertIsData
	rdGinInsertIsLeaf = GinInsertIsLeaf
)

// rdAppendGinRecompressLeaf is desc_recompress_leaf.
func rdAppendGinRecompressLeaf(b []byte, data []byte) []byte {
	x, err := DecodeGinxlogRecompressDataLeaf(data)
	if err != nil {
		return rdTruncated(b)
	}
	b = fmt.Appendf(b, " %d segments:", x.NActions)
	it := x.Actions()
	for {
		a, ok := it.Next()
		if !ok {
			break
		}
		switch a.Type {
		case GinSegmentAddItems:
			b = fmt.Appendf(b, " %d (add %d items)", a.Segno, a.NItems)
		case GinSegmentDelete:
			b = fmt.Appendf(b, " %d (delete)", a.Segno)
		case GinSegmentInsert:
			b = fmt.Appendf(b, " %d (insert)", a.Segno)
		case GinSegmentReplace:
			b = fmt.Appendf(b, " %d (replace)", a.Segno)
		default:
			// gindesc.c cannot decode past an unknown action either.
			return fmt.Appendf(b, " %d unknown action %d ???", a.Segno, a.Type)
		}
	}
	if it.Err() != nil {
		return rdTruncated(b)
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
	switch d.op() {
	case XLogGinInsert:
		xl, err := DecodeGinxlogInsert(d.data)
		if err != nil && len(d.data) < SizeOfGinxlogInsert {
			return rdTruncated(b)
		}
		// A short non-leaf record still has its flags (see the decoder).
		b = fmt.Appendf(b, "isdata: %c isleaf: %c", rdBoolTF(xl.IsData()), rdBoolTF(xl.IsLeaf()))
		if err != nil {
			return rdTruncated(b)
		}
		if !xl.IsLeaf() {
			b = fmt.Appendf(b, " children: %d/%d", xl.LeftChildBlkno, xl.RightChildBlkno)
		}
		blk := d.r.Block(0)
		var img bool
		if b, img = rdAppendGinImage(b, blk); img {
			break
		}
		if blk == nil || len(blk.Data) == 0 {
			return rdTruncated(b)
		}
		switch {
		case !xl.IsData():
			x, err := DecodeGinxlogInsertEntry(blk.Data)
			if err != nil {
				return rdTruncated(b)
			}
			b = fmt.Appendf(b, " isdelete: %c", rdBoolTF(x.IsDelete))
		case xl.IsLeaf():
			b = rdAppendGinRecompressLeaf(b, blk.Data)
		default:
			x, err := DecodeGinxlogInsertDataInternal(blk.Data)
			if err != nil {
				return rdTruncated(b)
			}
			b = fmt.Appendf(b, " pitem: %d-%d/%d", x.NewItem.ChildBlkno, x.NewItem.Key.Block, x.NewItem.Key.Offset)
		}
	case XLogGinSplit:
		xl, err := DecodeGinxlogSplit(d.data)
		if err != nil {
			return rdTruncated(b)
		}
		b = fmt.Appendf(b, "isrootsplit: %c", rdBoolTF(xl.IsRoot()))
		b = fmt.Appendf(b, " isdata: %c isleaf: %c", rdBoolTF(xl.IsData()), rdBoolTF(xl.IsLeaf()))
	case XLogGinVacuumDataLeafPage:
		blk := d.r.Block(0)
		var img bool
		if b, img = rdAppendGinImage(b, blk); img {
			break
		}
		if blk == nil || len(blk.Data) == 0 {
			return rdTruncated(b)
		}
		b = rdAppendGinRecompressLeaf(b, blk.Data)
	case XLogGinDeleteListPage:
		xl, err := DecodeGinxlogDeleteListPages(d.data)
		if err != nil {
			return rdTruncated(b)
		}
		b = fmt.Appendf(b, "ndeleted: %d", xl.NDeleted)
	}
	// CREATE_PTREE, VACUUM_PAGE, DELETE_PAGE, UPDATE_META_PAGE and
	// INSERT_LISTPAGE print nothing.
	return b
}
