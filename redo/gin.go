package redo

import (
	"encoding/binary"
	"errors"

	"github.com/pagemill/pagemill/schema"
)

// GIN redo (access/gin/ginxlog.c, gin_redo), with the conventions described at the
// top of heap.go. Each function is named after the C function it mirrors.
// Everything a record says (main data, block references, block data) is
// checked before any page changes, so every shard of a record decides
// alike; a failure found on a page afterwards (where PostgreSQL would
// raise ERROR or PANIC, or an Assert would fail) returns false, and the
// caller invalidates the record's pages.

// GIN page layout (access/ginblock.h).
const (
	ginOpaqueSize     = 8 // GinPageOpaqueData: rightlink u32, maxoff u16, flags u16
	ginOpaqueMaxoff   = 4
	ginOpaqueFlags    = 6
	ginFData          = 0x01 // GIN_DATA
	ginFLeaf          = 0x02 // GIN_LEAF
	ginFDeleted       = 0x04 // GIN_DELETED
	ginFMeta          = 0x08 // GIN_META
	ginFList          = 0x10 // GIN_LIST
	ginFListFullRow   = 0x20 // GIN_LIST_FULLROW
	ginFIncompleteSpl = 0x40 // GIN_INCOMPLETE_SPLIT
	ginFCompressed    = 0x80 // GIN_COMPRESSED

	// ginDataPageData is GinDataPageGetData: after the header and the
	// MAXALIGNed right bound.
	ginDataPageData = 32
	// ginMetaData is GinPageGetMeta; GinInitMetabuffer sets pd_lower just
	// past GinMetaPageData.
	ginMetaData  = sizeOfPageHeader
	ginMetaLower = ginMetaData + schema.SizeOfGinMetaPageData
	// ginDataPageMaxDataSize is GinDataPageMaxDataSize.
	ginDataPageMaxDataSize = schema.BLCKSZ - ginDataPageData - ginOpaqueSize

	sizeOfPostingItem = schema.SizeOfPostingItem
)

// ginRedo is gin_redo. It reports whether the record was applied (see heapRedo
// for the contract of the return value).
func (e *Engine) ginRedo(rec *schema.DecodedRecord, pages Pages, restored []bool, res *Result) bool {
	switch rec.Info() & schema.XLRRmgrInfoMask {
	case schema.XLogGinCreatePTree:
		return e.ginRedoCreatePTree(rec, pages, restored)
	case schema.XLogGinInsert:
		return e.ginRedoInsert(rec, pages, restored, res)
	case schema.XLogGinSplit:
		return e.ginRedoSplit(rec, pages, restored, res)
	case schema.XLogGinVacuumPage:
		return ginRedoVacuumPage(rec, restored)
	case schema.XLogGinVacuumDataLeafPage:
		return e.ginRedoVacuumDataLeafPage(rec, pages, restored, res)
	case schema.XLogGinDeletePage:
		return e.ginRedoDeletePage(rec, pages, restored, res)
	case schema.XLogGinUpdateMetaPage:
		return e.ginRedoUpdateMetapage(rec, pages, restored, res)
	case schema.XLogGinInsertListPage:
		return e.ginRedoInsertListPage(rec, pages, restored)
	case schema.XLogGinDeleteListPage:
		return e.ginRedoDeleteListPages(rec, pages, restored)
	}
	return false // PANIC "gin_redo: unknown op code"
}

// ginOpaque is GinPageGetOpaque: the offset of the special space
// (pd_special), or false when the opaque data would not lie inside the
// page.
func ginOpaque(page schema.Page) (int, bool) {
	sp := int(page.Special())
	return sp, sp >= sizeOfPageHeader && sp+ginOpaqueSize <= schema.BLCKSZ
}

func ginGet16(page schema.Page, off int) uint16 { return binary.LittleEndian.Uint16(page[off:]) }

func ginPut16(page schema.Page, off int, v uint16) { binary.LittleEndian.PutUint16(page[off:], v) }

// ginPutBlockID is BlockIdSet: bi_hi, bi_lo.
func ginPutBlockID(b []byte, blk schema.BlockNumber) {
	binary.LittleEndian.PutUint16(b, uint16(blk>>16))
	binary.LittleEndian.PutUint16(b[2:], uint16(blk))
}

// ginInitPage is GinInitPage: PageInit with the opaque data, rightlink
// InvalidBlockNumber, maxoff 0.
func ginInitPage(page schema.Page, flags uint16) {
	_ = PageInit(page, ginOpaqueSize) // cannot fail on a BLCKSZ page
	sp := int(page.Special())
	binary.LittleEndian.PutUint32(page[sp:], uint32(schema.InvalidBlockNumber))
	ginPut16(page, sp+ginOpaqueFlags, flags)
}

// ginInitBufferForRedo is XLogInitBufferForRedo followed by GinInitBuffer:
// the page is rebuilt without being read (even when an image was restored,
// as PostgreSQL ignores XLogInitBufferForRedo's BLK_RESTORED). It returns
// nil for a page a PartialPages does not own: its owner rebuilds it.
func ginInitBufferForRedo(rec *schema.DecodedRecord, pages Pages, restored []bool, i int, flags uint16) schema.Page {
	tag := rec.Blocks[i].Tag
	if pp, ok := pages.(PartialPages); ok && !pp.Owns(tag) {
		return nil
	}
	return xlogInitBufferForRedo(rec, pages, restored, i, func(page schema.Page) { ginInitPage(page, flags) })
}

// ginInitMetabuffer is the rest of GinInitMetabuffer on a page GinInitPage
// made a metapage, followed by the memcpy of the logged GinMetaPageData
// that both metapage records do: the counters GinInitMetabuffer sets are
// all overwritten, and pd_lower is set past the struct.
func ginInitMetabuffer(page schema.Page, metadata []byte) {
	copy(page[ginMetaData:ginMetaLower], metadata)
	page.SetLower(ginMetaLower)
}

// ginBlock returns the index of block id, which the record must reference
// for redo to read (ERROR "failed to locate backup block") and whose
// WILL_INIT flag must match the way redo reads it (PANIC otherwise).
func ginBlock(rec *schema.DecodedRecord, id uint8, willInit bool) (int, bool) {
	i := blockIndex(rec, id)
	return i, i >= 0 && rec.Blocks[i].WillInit() == willInit
}

// ginNeedsRedo is XLogReadBufferForRedo on block index i: the page when
// it needs redo.
func ginNeedsRedo(rec *schema.DecodedRecord, pages Pages, restored []bool, i int, res *Result) (schema.Page, bool) {
	page, action := readBufferForRedo(rec, pages, restored, i, res)
	return page, action == blkNeedsRedo
}

// ginRedoClearIncompleteSplit is ginRedoClearIncompleteSplit for block
// index i.
func (e *Engine) ginRedoClearIncompleteSplit(rec *schema.DecodedRecord, pages Pages, restored []bool, i int, res *Result) bool {
	page, ok := ginNeedsRedo(rec, pages, restored, i, res)
	if !ok {
		return true
	}
	sp, ok := ginOpaque(page)
	if !ok {
		return false
	}
	ginPut16(page, sp+ginOpaqueFlags, ginGet16(page, sp+ginOpaqueFlags)&^ginFIncompleteSpl)
	return e.finishPage(rec, page, rec.Blocks[i].Tag.Block)
}

// ginRedoCreatePTree is ginRedoCreatePTree.
func (e *Engine) ginRedoCreatePTree(rec *schema.DecodedRecord, pages Pages, restored []bool) bool {
	xl, err := schema.DecodeGinxlogCreatePostingTree(rec.MainData)
	i, ok := ginBlock(rec, 0, true)
	// GinDataPageSetDataSize asserts the size fits; memcpy would overrun.
	if err != nil || !ok || xl.Size > ginDataPageMaxDataSize {
		return false
	}
	page := ginInitBufferForRedo(rec, pages, restored, i, ginFData|ginFLeaf|ginFCompressed)
	if page == nil {
		return true
	}
	copy(page[ginDataPageData:], xl.Segments)
	page.SetLower(uint16(ginDataPageData + len(xl.Segments)))
	return e.finishPage(rec, page, rec.Blocks[i].Tag.Block)
}

// ginInsertPayload is block 0's data of an INSERT, decoded by kind.
type ginInsertPayload struct {
	entry    schema.GinxlogInsertEntry
	tuple    []byte
	leaf     schema.GinxlogRecompressDataLeaf
	internal schema.GinxlogInsertDataInternal
}

// ginRedoInsert is ginRedoInsert.
func (e *Engine) ginRedoInsert(rec *schema.DecodedRecord, pages Pages, restored []bool, res *Result) bool {
	xl, err := schema.DecodeGinxlogInsert(rec.MainData)
	if err != nil {
		return false
	}
	i, ok := ginBlock(rec, 0, false)
	if !ok {
		return false
	}
	child := -1
	if !xl.IsLeaf() {
		if child, ok = ginBlock(rec, 1, false); !ok {
			return false
		}
	}
	// The payload is read only when block 0 needs redo, and is there then.
	var p ginInsertPayload
	if !restored[i] {
		data := rec.Blocks[i].Data
		switch {
		case !xl.IsData():
			if p.entry, err = schema.DecodeGinxlogInsertEntry(data); err == nil {
				p.tuple, err = p.entry.IndexTuple()
			}
		case xl.IsLeaf():
			if p.leaf, err = schema.DecodeGinxlogRecompressDataLeaf(data); err == nil && !ginCheckActions(p.leaf) {
				err = errGinPostingList
			}
		default:
			p.internal, err = schema.DecodeGinxlogInsertDataInternal(data)
		}
		if err != nil {
			return false
		}
	}

	if child >= 0 && !e.ginRedoClearIncompleteSplit(rec, pages, restored, child, res) {
		return false
	}
	page, ok := ginNeedsRedo(rec, pages, restored, i, res)
	if !ok {
		return true
	}
	switch {
	case !xl.IsData():
		ok = ginRedoInsertEntry(page, xl.RightChildBlkno, &p.entry, p.tuple)
	case xl.IsLeaf():
		ok = ginRedoRecompress(page, p.leaf)
	default:
		ok = ginRedoInsertData(page, xl.RightChildBlkno, &p.internal)
	}
	return ok && e.finishPage(rec, page, rec.Blocks[i].Tag.Block)
}

// ginRedoInsertEntry is ginRedoInsertEntry.
func ginRedoInsertEntry(page schema.Page, rightblkno schema.BlockNumber, data *schema.GinxlogInsertEntry, tuple []byte) bool {
	if rightblkno != schema.InvalidBlockNumber {
		// GinSetDownlink of the tuple whose split this insert completes.
		itup, err := page.Item(data.Offset)
		if err != nil || len(itup) < sizeOfItemPointer {
			return false
		}
		ginPutBlockID(itup, rightblkno)
		ginPut16(itup, 4, uint16(schema.InvalidOffsetNumber))
	}
	if data.IsDelete {
		if pageIndexTupleReplace(page, data.Offset, tuple) {
			return true
		}
		if err := PageIndexTupleDelete(page, data.Offset); err != nil {
			return false
		}
	}
	_, err := PageAddItem(page, tuple, data.Offset, false, false)
	return err == nil // ERROR "failed to add item to index page"
}

// ginRedoInsertData is ginRedoInsertData for an internal page (a leaf's
// insert is ginRedoRecompress).
func ginRedoInsertData(page schema.Page, rightblkno schema.BlockNumber, data *schema.GinxlogInsertDataInternal) bool {
	sp, ok := ginOpaque(page)
	if !ok {
		return false
	}
	maxoff := int(ginGet16(page, sp+ginOpaqueMaxoff))
	off := int(data.Offset)
	// GinDataPageAddPostingItem's memmove needs offset <= maxoff+1, and the
	// new item must end before the special space.
	if off < 1 || off > maxoff+1 || ginDataPageData+(maxoff+1)*sizeOfPostingItem > sp {
		return false
	}
	pos := ginDataPageData + (off-1)*sizeOfPostingItem
	// The old downlink now points to the right half of the split.
	ginPutBlockID(page[pos:], rightblkno)
	// GinDataPageAddPostingItem.
	end := ginDataPageData + maxoff*sizeOfPostingItem
	copy(page[pos+sizeOfPostingItem:], page[pos:end])
	ginPutBlockID(page[pos:], data.NewItem.ChildBlkno)
	ginPutBlockID(page[pos+4:], data.NewItem.Key.Block)
	ginPut16(page, pos+8, uint16(data.NewItem.Key.Offset))
	maxoff++
	ginPut16(page, sp+ginOpaqueMaxoff, uint16(maxoff))
	page.SetLower(uint16(ginDataPageData + maxoff*sizeOfPostingItem))
	return true
}

// ginCheckActions reports whether every action of x decodes and is one
// ginRedoRecompress knows (it ERRORs on the others).
func ginCheckActions(x schema.GinxlogRecompressDataLeaf) bool {
	it := x.Actions()
	for {
		a, ok := it.Next()
		if !ok {
			return it.Err() == nil
		}
		if a.Type < schema.GinSegmentDelete || a.Type > schema.GinSegmentAddItems {
			return false
		}
	}
}

// ginRedoRecompress is ginRedoRecompress: it applies the segment actions
// (checked by ginCheckActions) to a posting tree leaf. Old segments are
// read from the page until the first change, then from a copy of the rest
// of the posting list, so that the changes may overwrite it.
func ginRedoRecompress(page schema.Page, x schema.GinxlogRecompressDataLeaf) bool {
	sp, ok := ginOpaque(page)
	if !ok {
		return false
	}
	var scratch [schema.BLCKSZ]byte
	if ginGet16(page, sp+ginOpaqueFlags)&ginFCompressed == 0 {
		// A pre-9.4 leaf: compress its uncompressed items first.
		n := int(ginGet16(page, sp+ginOpaqueMaxoff))
		if ginDataPageData+n*sizeOfItemPointer > schema.BLCKSZ {
			return false
		}
		total := 0
		if n > 0 {
			var w ginSegmentWriter
			w.start(scratch[:], schema.BLCKSZ, ginTIDAt(page[ginDataPageData:]))
			for k := 1; k < n; k++ {
				if !w.add(scratch[:], ginTIDAt(page[ginDataPageData+k*sizeOfItemPointer:])) {
					return false
				}
			}
			total = w.finish(scratch[:])
			if ginDataPageData+total > sp {
				return false
			}
			copy(page[ginDataPageData:], scratch[:total])
		}
		page.SetLower(uint16(ginDataPageData + total))
		ginPut16(page, sp+ginOpaqueFlags, ginGet16(page, sp+ginOpaqueFlags)|ginFCompressed)
		ginPut16(page, sp+ginOpaqueMaxoff, uint16(schema.InvalidOffsetNumber))
	}

	lower := int(page.Lower())
	if lower < ginDataPageData || lower > sp {
		return false
	}
	var tail [schema.BLCKSZ]byte
	old := page[ginDataPageData:lower] // the old segments not yet passed
	copied := false
	write := ginDataPageData
	segno := 0
	put := func(b []byte) bool {
		if write+len(b) > sp {
			return false
		}
		copy(page[write:], b)
		write += len(b)
		return true
	}
	it := x.Actions()
	for {
		a, ok := it.Next()
		if !ok {
			break
		}
		for segno < int(a.Segno) {
			size, ok := schema.GinPostingListSize(old)
			if !ok {
				return false
			}
			if copied {
				if !put(old[:size]) {
					return false
				}
			} else {
				write += size
			}
			old = old[size:]
			segno++
		}
		typ, seg := a.Type, a.Segment
		if typ == schema.GinSegmentAddItems {
			// Rebuilt as a REPLACE from the old segment and the items. At
			// the end of the list there is no old segment (an Assert).
			size, ok := schema.GinPostingListSize(old)
			if !ok {
				return false
			}
			n, ok := ginMergeSegment(scratch[:], old[:size], &a)
			if !ok {
				return false
			}
			typ, seg = schema.GinSegmentReplace, scratch[:n]
		}
		segsize := 0
		if len(old) > 0 {
			if segsize, ok = schema.GinPostingListSize(old); !ok {
				return false
			}
		} else if typ != schema.GinSegmentInsert {
			return false // only INSERT may come after the last segment (an Assert)
		}
		if !copied && len(old) > 0 {
			old = tail[:copy(tail[:], old)]
			copied = true
		}
		switch typ {
		case schema.GinSegmentDelete:
			old = old[segsize:]
			segno++
		case schema.GinSegmentInsert:
			if !put(seg) {
				return false
			}
		case schema.GinSegmentReplace:
			if !put(seg) {
				return false
			}
			old = old[segsize:]
			segno++
		default:
			return false // ERROR "unexpected GIN leaf action"
		}
	}
	if it.Err() != nil {
		return false
	}
	// Without a change there is no copy, and the rest is dropped: an
	// empty action list (never written) empties the leaf, as in
	// PostgreSQL.
	if copied && len(old) > 0 && !put(old) {
		return false
	}
	page.SetLower(uint16(write)) // GinDataPageSetDataSize
	return true
}

// ginRedoSplit is ginRedoSplit: the halves (and a new root) come as
// images; only the child whose split a non-leaf split completes is
// changed.
func (e *Engine) ginRedoSplit(rec *schema.DecodedRecord, pages Pages, restored []bool, res *Result) bool {
	xl, err := schema.DecodeGinxlogSplit(rec.MainData)
	if err != nil {
		return false
	}
	ids := []uint8{0, 1, 2}
	if !xl.IsRoot() {
		ids = ids[:2]
	}
	for _, id := range ids {
		// ERROR "GIN split record did not contain a full-page image"
		if i, ok := ginBlock(rec, id, false); !ok || !restored[i] {
			return false
		}
	}
	if xl.IsLeaf() {
		return true
	}
	i, ok := ginBlock(rec, 3, false)
	return ok && e.ginRedoClearIncompleteSplit(rec, pages, restored, i, res)
}

// ginRedoVacuumPage is ginRedoVacuumPage: the record is an image of an
// entry-tree leaf.
func ginRedoVacuumPage(rec *schema.DecodedRecord, restored []bool) bool {
	i, ok := ginBlock(rec, 0, false)
	return ok && restored[i] // ERROR "replay of gin entry tree page vacuum did not restore the page"
}

// ginRedoVacuumDataLeafPage is ginRedoVacuumDataLeafPage.
func (e *Engine) ginRedoVacuumDataLeafPage(rec *schema.DecodedRecord, pages Pages, restored []bool, res *Result) bool {
	i, ok := ginBlock(rec, 0, false)
	if !ok {
		return false
	}
	var xl schema.GinxlogVacuumDataLeafPage
	if !restored[i] {
		var err error
		if xl, err = schema.DecodeGinxlogVacuumDataLeafPage(rec.Blocks[i].Data); err != nil || !ginCheckActions(xl.Data) {
			return false
		}
	}
	page, ok := ginNeedsRedo(rec, pages, restored, i, res)
	if !ok {
		return true
	}
	return ginRedoRecompress(page, xl.Data) && e.finishPage(rec, page, rec.Blocks[i].Tag.Block)
}

// ginRedoDeletePage is ginRedoDeletePage: the left sibling, the deleted
// page and the parent, in that order.
func (e *Engine) ginRedoDeletePage(rec *schema.DecodedRecord, pages Pages, restored []bool, res *Result) bool {
	xl, err := schema.DecodeGinxlogDeletePage(rec.MainData)
	if err != nil {
		return false
	}
	var idx [3]int
	for id := range idx {
		var ok bool
		if idx[id], ok = ginBlock(rec, uint8(id), false); !ok {
			return false
		}
	}
	if page, ok := ginNeedsRedo(rec, pages, restored, idx[2], res); ok {
		sp, ok := ginOpaque(page)
		if !ok {
			return false
		}
		binary.LittleEndian.PutUint32(page[sp:], uint32(xl.RightLink))
		if !e.finishPage(rec, page, rec.Blocks[idx[2]].Tag.Block) {
			return false
		}
	}
	if page, ok := ginNeedsRedo(rec, pages, restored, idx[0], res); ok {
		sp, ok := ginOpaque(page)
		if !ok {
			return false
		}
		// GinPageSetDeleted, GinPageSetDeleteXid.
		ginPut16(page, sp+ginOpaqueFlags, ginGet16(page, sp+ginOpaqueFlags)|ginFDeleted)
		page.SetPruneXid(xl.DeleteXid)
		if !e.finishPage(rec, page, rec.Blocks[idx[0]].Tag.Block) {
			return false
		}
	}
	if page, ok := ginNeedsRedo(rec, pages, restored, idx[1], res); ok {
		if !ginPageDeletePostingItem(page, xl.ParentOffset) {
			return false
		}
		return e.finishPage(rec, page, rec.Blocks[idx[1]].Tag.Block)
	}
	return true
}

// ginPageDeletePostingItem is GinPageDeletePostingItem.
func ginPageDeletePostingItem(page schema.Page, offset schema.OffsetNumber) bool {
	sp, ok := ginOpaque(page)
	if !ok {
		return false
	}
	maxoff := int(ginGet16(page, sp+ginOpaqueMaxoff))
	off := int(offset)
	// An Assert in PostgreSQL; past it the memmove would run wild.
	if off < 1 || off > maxoff || ginDataPageData+maxoff*sizeOfPostingItem > sp {
		return false
	}
	pos := ginDataPageData + (off-1)*sizeOfPostingItem
	copy(page[pos:], page[pos+sizeOfPostingItem:ginDataPageData+maxoff*sizeOfPostingItem])
	maxoff--
	ginPut16(page, sp+ginOpaqueMaxoff, uint16(maxoff))
	page.SetLower(uint16(ginDataPageData + maxoff*sizeOfPostingItem))
	return true
}

// ginRedoUpdateMetapage is ginRedoUpdateMetapage.
func (e *Engine) ginRedoUpdateMetapage(rec *schema.DecodedRecord, pages Pages, restored []bool, res *Result) bool {
	xl, err := schema.DecodeGinxlogUpdateMeta(rec.MainData)
	if err != nil {
		return false
	}
	meta, ok := ginBlock(rec, 0, true)
	if !ok {
		return false
	}
	tail := -1
	var tuples schema.GinxlogTuples
	if xl.NTuples > 0 || xl.PrevTail != schema.InvalidBlockNumber {
		if tail, ok = ginBlock(rec, 1, false); !ok {
			return false
		}
		if xl.NTuples > 0 && !restored[tail] {
			if tuples, err = schema.DecodeGinxlogTuples(rec.Blocks[tail].Data, xl.NTuples); err != nil {
				return false
			}
		}
	}

	// The metapage is restored unconditionally, like an image.
	if metapage := ginInitBufferForRedo(rec, pages, restored, meta, ginFMeta); metapage != nil {
		ginInitMetabuffer(metapage, xl.Metadata.Raw[:])
		if !e.finishPage(rec, metapage, rec.Blocks[meta].Tag.Block) {
			return false
		}
	}
	if tail < 0 {
		return true
	}
	page, ok := ginNeedsRedo(rec, pages, restored, tail, res)
	if !ok {
		return true
	}
	sp, ok := ginOpaque(page)
	if !ok {
		return false
	}
	if xl.NTuples > 0 {
		// Append to the tail page, then count one more heap row.
		off := page.MaxOffsetNumber() + 1
		for {
			tup, more := tuples.Next()
			if !more {
				break
			}
			if _, err := PageAddItem(page, tup, off, false, false); err != nil {
				return false // ERROR "failed to add item to index page"
			}
			off++
		}
		ginPut16(page, sp+ginOpaqueMaxoff, ginGet16(page, sp+ginOpaqueMaxoff)+1)
	} else {
		// A new sublist was linked after the old tail.
		binary.LittleEndian.PutUint32(page[sp:], uint32(xl.NewRightlink))
	}
	return e.finishPage(rec, page, rec.Blocks[tail].Tag.Block)
}

// ginRedoInsertListPage is ginRedoInsertListPage.
func (e *Engine) ginRedoInsertListPage(rec *schema.DecodedRecord, pages Pages, restored []bool) bool {
	xl, err := schema.DecodeGinxlogInsertListPage(rec.MainData)
	if err != nil {
		return false
	}
	i, ok := ginBlock(rec, 0, true)
	if !ok {
		return false
	}
	tuples, err := schema.DecodeGinxlogTuples(rec.Blocks[i].Data, xl.NTuples)
	if err != nil {
		return false
	}
	page := ginInitBufferForRedo(rec, pages, restored, i, ginFList)
	if page == nil {
		return true
	}
	sp := int(page.Special())
	binary.LittleEndian.PutUint32(page[sp:], uint32(xl.Rightlink))
	if xl.Rightlink == schema.InvalidBlockNumber {
		// The tail of a sublist holds the row's last tuples.
		ginPut16(page, sp+ginOpaqueFlags, ginFList|ginFListFullRow)
		ginPut16(page, sp+ginOpaqueMaxoff, 1)
	}
	for off := schema.FirstOffsetNumber; ; off++ {
		tup, more := tuples.Next()
		if !more {
			break
		}
		if _, err := PageAddItem(page, tup, off, false, false); err != nil {
			return false // ERROR "failed to add item to index page"
		}
	}
	return e.finishPage(rec, page, rec.Blocks[i].Tag.Block)
}

// ginRedoDeleteListPages is ginRedoDeleteListPages: the metapage and the
// deleted pages are all rebuilt (the deleted ones empty).
func (e *Engine) ginRedoDeleteListPages(rec *schema.DecodedRecord, pages Pages, restored []bool) bool {
	xl, err := schema.DecodeGinxlogDeleteListPages(rec.MainData)
	if err != nil {
		return false
	}
	meta, ok := ginBlock(rec, 0, true)
	if !ok {
		return false
	}
	for k := int32(0); k < xl.NDeleted; k++ {
		// Block ids stop at XLR_MAX_BLOCK_ID (32).
		if k >= 32 {
			return false
		}
		if _, ok := ginBlock(rec, uint8(k+1), true); !ok {
			return false
		}
	}
	if metapage := ginInitBufferForRedo(rec, pages, restored, meta, ginFMeta); metapage != nil {
		ginInitMetabuffer(metapage, xl.Metadata.Raw[:])
		if !e.finishPage(rec, metapage, rec.Blocks[meta].Tag.Block) {
			return false
		}
	}
	for k := int32(0); k < xl.NDeleted; k++ {
		i := blockIndex(rec, uint8(k+1))
		page := ginInitBufferForRedo(rec, pages, restored, i, ginFDeleted)
		if page != nil && !e.finishPage(rec, page, rec.Blocks[i].Tag.Block) {
			return false
		}
	}
	return true
}

// MaskGin is gin_mask (access/gin/ginxlog.c).
func MaskGin(page []byte, _ schema.BlockNumber) error {
	if err := maskCheckSize("gin_mask", page); err != nil {
		return err
	}
	maskLSNAndChecksum(page)
	special, err := maskOpaque(page, ginOpaqueSize)
	maskHintBits(page)

	// A deleted page is reinitialized empty: ignore all of its content.
	// Otherwise mask the hole if pd_lower looks set.
	if flags, ok := maskGet16(page, special+ginOpaqueFlags); ok && flags&ginFDeleted != 0 {
		maskPageContent(page)
	} else if maskLower(page) > sizeOfPageHeader {
		err = errors.Join(err, maskUnusedSpace(page))
	}
	return maskWrap("gin_mask", err)
}
