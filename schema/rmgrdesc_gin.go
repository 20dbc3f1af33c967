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

// ginBlockData returns block 0's data for INSERT and
// VACUUM_DATA_LEAF_PAGE to describe, or nil with b extended by what
// gin_desc prints instead: the "(full page image...)" note when the block
// is an image, the truncation marker when it has no data.
func (d *descCtx) ginBlockData(b []byte) ([]byte, []byte) {
	blk := d.r.Block(0)
	switch {
	case blk != nil && blk.HasImage && blk.ApplyImage():
		return append(b, " (full page image)"...), nil
	case blk != nil && blk.HasImage:
		return append(b, " (full page image, for WAL verification)"...), nil
	case blk == nil || len(blk.Data) == 0:
		return rdTruncated(b), nil
	}
	return b, blk.Data
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
		var data []byte
		if b, data = d.ginBlockData(b); data == nil {
			break
		}
		switch {
		case !xl.IsData():
			x, err := DecodeGinxlogInsertEntry(data)
			if err != nil {
				return rdTruncated(b)
			}
			b = fmt.Appendf(b, " isdelete: %c", rdBoolTF(x.IsDelete))
		case xl.IsLeaf():
			b = rdAppendGinRecompressLeaf(b, data)
		default:
			x, err := DecodeGinxlogInsertDataInternal(data)
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
		var data []byte
		if b, data = d.ginBlockData(b); data != nil {
			b = rdAppendGinRecompressLeaf(b, data)
		}
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
