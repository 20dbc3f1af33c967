package schema

import (
	"encoding/binary"
	"fmt"
)

// GIN WAL record layouts (access/ginxlog.h, access/ginblock.h, PostgreSQL
// 15). Each C struct has a Go type named after it and one decoder, which
// checks the length of the fields it reads (PostgreSQL writes some structs
// with sizeof, trailing padding included; the padding is not needed) and
// returns an error naming the struct. Redo (redo/gin.go) and the pg_waldump
// descriptions (rmgrdesc_gin.go) both decode through these, so each byte
// offset of a record is parsed here only.

// GIN record opcodes (XLOG_GIN_*), xl_info & ~XLR_INFO_MASK.
const (
	XLogGinCreatePTree        uint8  = 0x10 // XLOG_GIN_CREATE_PTREE
	XLogGinInsert             uint8  = 0x20 // XLOG_GIN_INSERT
	XLogGinSplit              uint8  = 0x30 // XLOG_GIN_SPLIT
	XLogGinVacuumPage         uint8  = 0x40 // XLOG_GIN_VACUUM_PAGE
	XLogGinDeletePage         uint8  = 0x50 // XLOG_GIN_DELETE_PAGE
	XLogGinUpdateMetaPage     uint8  = 0x60 // XLOG_GIN_UPDATE_META_PAGE
	XLogGinInsertListPage     uint8  = 0x70 // XLOG_GIN_INSERT_LISTPAGE
	XLogGinDeleteListPage     uint8  = 0x80 // XLOG_GIN_DELETE_LISTPAGE
	XLogGinVacuumDataLeafPage uint8  = 0x90 // XLOG_GIN_VACUUM_DATA_LEAF_PAGE
	GinInsertIsData           uint16 = 0x01 // GIN_INSERT_ISDATA (ginxlogInsert and ginxlogSplit flags)
	GinInsertIsLeaf           uint16 = 0x02 // GIN_INSERT_ISLEAF
	GinSplitRoot              uint16 = 0x04 // GIN_SPLIT_ROOT (ginxlogSplit only)
	GinNDeleteAtOnce                 = 16   // GIN_NDELETE_AT_ONCE: most pages one DELETE_LISTPAGE removes
	ginIndexTupleSizeMask            = 0x1FFF
	ginSizeOfItemPointerData         = 6
)

// Segment action types of a ginxlogRecompressDataLeaf (GIN_SEGMENT_*).
const (
	GinSegmentUnmodified uint8 = 0 // GIN_SEGMENT_UNMODIFIED: never in WAL
	GinSegmentDelete     uint8 = 1 // GIN_SEGMENT_DELETE: no data
	GinSegmentInsert     uint8 = 2 // GIN_SEGMENT_INSERT: a GinPostingList
	GinSegmentReplace    uint8 = 3 // GIN_SEGMENT_REPLACE: a GinPostingList
	GinSegmentAddItems   uint8 = 4 // GIN_SEGMENT_ADDITEMS: nitems u16, then ItemPointers
)

// Sizes of the record structs: the bytes of fields a decoder reads, and
// what PostgreSQL writes where that differs.
const (
	SizeOfGinxlogCreatePostingTree  = 4  // size u32; the posting lists follow
	SizeOfGinxlogInsert             = 2  // flags u16; two BlockIdData follow on a non-leaf insert
	SizeOfGinxlogInsertEntry        = 4  // offset u16, isDelete bool, pad; the tuple follows at 4
	SizeOfGinxlogInsertDataInternal = 12 // offset u16, newitem PostingItem
	SizeOfGinxlogRecompressDataLeaf = 2  // nactions u16; the actions follow
	SizeOfGinxlogSplit              = 26 // node, rrlink, leftChildBlkno, rightChildBlkno, flags (sizeof 28, all written)
	SizeOfGinxlogDeletePage         = 12 // parentOffset u16, pad, rightLink u32, deleteXid u32
	SizeOfGinMetaPageData           = 56 // GinMetaPageData, padding included (copied whole by redo)
	SizeOfGinxlogUpdateMeta         = 84 // node, pad, metadata @16, prevTail, newRightlink, ntuples (sizeof 88, all written)
	SizeOfGinxlogInsertListPage     = 8  // rightlink u32, ntuples int32
	SizeOfGinxlogDeleteListPages    = 60 // metadata, ndeleted int32 (sizeof 64, all written)
	SizeOfPostingItem               = 10 // child_blkno BlockIdData, key ItemPointerData
	SizeOfGinPostingListHeader      = 8  // GinPostingList: first ItemPointerData, nbytes u16; the varbyte data follows
)

var ginLE = binary.LittleEndian

// ginXlogShort is the error of a decoder given fewer bytes than it reads.
func ginXlogShort(name string, got, want int) error {
	return fmt.Errorf("%s: %d bytes, want at least %d: %w", name, got, want, ErrCorrupt)
}

// ginBlockID reads a BlockIdData (bi_hi, bi_lo).
func ginBlockID(b []byte) BlockNumber {
	return BlockNumber(ginLE.Uint16(b))<<16 | BlockNumber(ginLE.Uint16(b[2:]))
}

// GinItemPointer is an ItemPointerData as GIN reads it (block from bi_hi
// and bi_lo, offset).
type GinItemPointer struct {
	Block  BlockNumber
	Offset OffsetNumber
}

// DecodeGinItemPointer reads the 6-byte ItemPointerData at the start of b
// (which must hold it).
func DecodeGinItemPointer(b []byte) GinItemPointer {
	return GinItemPointer{Block: ginBlockID(b), Offset: OffsetNumber(ginLE.Uint16(b[4:]))}
}

// PostingItem is PostingItem (ginblock.h): a downlink of a posting tree
// internal page.
type PostingItem struct {
	ChildBlkno BlockNumber
	Key        GinItemPointer
}

// DecodePostingItem decodes a PostingItem.
func DecodePostingItem(b []byte) (PostingItem, error) {
	if len(b) < SizeOfPostingItem {
		return PostingItem{}, ginXlogShort("PostingItem", len(b), SizeOfPostingItem)
	}
	return PostingItem{ChildBlkno: ginBlockID(b), Key: DecodeGinItemPointer(b[4:])}, nil
}

// GinPostingListSize is SizeOfGinPostingList of the GinPostingList at the
// start of b: 8 + SHORTALIGN(nbytes). It reports false when b is shorter
// than the header or than that size.
func GinPostingListSize(b []byte) (int, bool) {
	if len(b) < SizeOfGinPostingListHeader {
		return 0, false
	}
	n := SizeOfGinPostingListHeader + (int(ginLE.Uint16(b[6:]))+1)&^1
	return n, n <= len(b)
}

// GinxlogCreatePostingTree is ginxlogCreatePostingTree, the main data of
// CREATE_PTREE, with the posting lists that follow it.
type GinxlogCreatePostingTree struct {
	Size uint32
	// Segments are the Size bytes of GinPostingList segments after the
	// struct, copied to the new leaf as they are.
	Segments []byte
}

// DecodeGinxlogCreatePostingTree decodes the main data of CREATE_PTREE.
func DecodeGinxlogCreatePostingTree(b []byte) (GinxlogCreatePostingTree, error) {
	if len(b) < SizeOfGinxlogCreatePostingTree {
		return GinxlogCreatePostingTree{}, ginXlogShort("ginxlogCreatePostingTree", len(b), SizeOfGinxlogCreatePostingTree)
	}
	size := ginLE.Uint32(b)
	rest := b[SizeOfGinxlogCreatePostingTree:]
	if uint64(len(rest)) < uint64(size) {
		return GinxlogCreatePostingTree{}, fmt.Errorf("ginxlogCreatePostingTree: size %d, but %d bytes of posting lists follow: %w", size, len(rest), ErrCorrupt)
	}
	return GinxlogCreatePostingTree{Size: size, Segments: rest[:size]}, nil
}

// GinxlogInsert is ginxlogInsert, the main data of INSERT, with the two
// BlockIdData that follow it on a non-leaf insert (the children whose split
// the insert completes).
type GinxlogInsert struct {
	Flags           uint16
	LeftChildBlkno  BlockNumber // InvalidBlockNumber on a leaf insert
	RightChildBlkno BlockNumber // InvalidBlockNumber on a leaf insert
}

// IsData reports GIN_INSERT_ISDATA.
func (x GinxlogInsert) IsData() bool { return x.Flags&GinInsertIsData != 0 }

// IsLeaf reports GIN_INSERT_ISLEAF.
func (x GinxlogInsert) IsLeaf() bool { return x.Flags&GinInsertIsLeaf != 0 }

// DecodeGinxlogInsert decodes the main data of INSERT. When the flags are
// there but a non-leaf insert's child block numbers are not, the flags are
// returned along with the error (pg_waldump prints them before reading the
// children).
func DecodeGinxlogInsert(b []byte) (GinxlogInsert, error) {
	if len(b) < SizeOfGinxlogInsert {
		return GinxlogInsert{}, ginXlogShort("ginxlogInsert", len(b), SizeOfGinxlogInsert)
	}
	x := GinxlogInsert{Flags: ginLE.Uint16(b), LeftChildBlkno: InvalidBlockNumber, RightChildBlkno: InvalidBlockNumber}
	if x.IsLeaf() {
		return x, nil
	}
	const need = SizeOfGinxlogInsert + 8
	if len(b) < need {
		return x, fmt.Errorf("ginxlogInsert: non-leaf insert of %d bytes, want %d with the child block numbers: %w", len(b), need, ErrCorrupt)
	}
	x.LeftChildBlkno = ginBlockID(b[2:])
	x.RightChildBlkno = ginBlockID(b[6:])
	return x, nil
}

// GinxlogInsertEntry is ginxlogInsertEntry, the block 0 data of an INSERT
// into an entry-tree page.
type GinxlogInsertEntry struct {
	Offset   OffsetNumber
	IsDelete bool
	// Tuple is the data from byte 4 on: the variable-length index tuple
	// field, unchecked (see IndexTuple).
	Tuple []byte
}

// DecodeGinxlogInsertEntry decodes an INSERT's entry-page block data.
// pg_waldump reads isDelete only, so 3 bytes are enough; the tuple is
// checked by IndexTuple.
func DecodeGinxlogInsertEntry(b []byte) (GinxlogInsertEntry, error) {
	if len(b) < 3 {
		return GinxlogInsertEntry{}, ginXlogShort("ginxlogInsertEntry", len(b), 3)
	}
	x := GinxlogInsertEntry{Offset: OffsetNumber(ginLE.Uint16(b)), IsDelete: b[2] != 0}
	if len(b) > SizeOfGinxlogInsertEntry {
		x.Tuple = b[SizeOfGinxlogInsertEntry:]
	}
	return x, nil
}

// IndexTuple returns the index tuple, IndexTupleSize bytes, or an error
// when the data does not hold a whole one.
func (x GinxlogInsertEntry) IndexTuple() ([]byte, error) {
	return ginIndexTuple("ginxlogInsertEntry", x.Tuple)
}

// ginIndexTuple returns the IndexTupleSize bytes of the index tuple at the
// start of b.
func ginIndexTuple(name string, b []byte) ([]byte, error) {
	if len(b) < SizeOfIndexTupleData {
		return nil, fmt.Errorf("%s: %d bytes left for an index tuple, want at least %d: %w", name, len(b), SizeOfIndexTupleData, ErrCorrupt)
	}
	size := int(ginLE.Uint16(b[6:]) & ginIndexTupleSizeMask)
	if size < SizeOfIndexTupleData || size > len(b) {
		return nil, fmt.Errorf("%s: index tuple of %d bytes, %d bytes left: %w", name, size, len(b), ErrCorrupt)
	}
	return b[:size:size], nil
}

// GinxlogInsertDataInternal is ginxlogInsertDataInternal, the block 0 data
// of an INSERT into a posting tree internal page.
type GinxlogInsertDataInternal struct {
	Offset  OffsetNumber
	NewItem PostingItem
}

// DecodeGinxlogInsertDataInternal decodes an INSERT's data-internal block
// data.
func DecodeGinxlogInsertDataInternal(b []byte) (GinxlogInsertDataInternal, error) {
	if len(b) < SizeOfGinxlogInsertDataInternal {
		return GinxlogInsertDataInternal{}, ginXlogShort("ginxlogInsertDataInternal", len(b), SizeOfGinxlogInsertDataInternal)
	}
	item, _ := DecodePostingItem(b[2:])
	return GinxlogInsertDataInternal{Offset: OffsetNumber(ginLE.Uint16(b)), NewItem: item}, nil
}

// GinxlogRecompressDataLeaf is ginxlogRecompressDataLeaf: the block 0 data
// of an INSERT into a posting tree leaf and of VACUUM_DATA_LEAF_PAGE. The
// actions are read with Actions.
type GinxlogRecompressDataLeaf struct {
	NActions uint16
	actions  []byte
}

// DecodeGinxlogRecompressDataLeaf decodes the struct; the actions are
// checked as Actions reads them.
func DecodeGinxlogRecompressDataLeaf(b []byte) (GinxlogRecompressDataLeaf, error) {
	if len(b) < SizeOfGinxlogRecompressDataLeaf {
		return GinxlogRecompressDataLeaf{}, ginXlogShort("ginxlogRecompressDataLeaf", len(b), SizeOfGinxlogRecompressDataLeaf)
	}
	return GinxlogRecompressDataLeaf{NActions: ginLE.Uint16(b), actions: b[SizeOfGinxlogRecompressDataLeaf:]}, nil
}

// Actions returns an iterator over the NActions segment actions.
func (x GinxlogRecompressDataLeaf) Actions() GinSegmentActions {
	return GinSegmentActions{data: x.actions, n: int(x.NActions)}
}

// GinxlogVacuumDataLeafPage is ginxlogVacuumDataLeafPage, the block 0 data
// of VACUUM_DATA_LEAF_PAGE.
type GinxlogVacuumDataLeafPage struct {
	Data GinxlogRecompressDataLeaf
}

// DecodeGinxlogVacuumDataLeafPage decodes VACUUM_DATA_LEAF_PAGE's block data.
func DecodeGinxlogVacuumDataLeafPage(b []byte) (GinxlogVacuumDataLeafPage, error) {
	d, err := DecodeGinxlogRecompressDataLeaf(b)
	if err != nil {
		return GinxlogVacuumDataLeafPage{}, fmt.Errorf("ginxlogVacuumDataLeafPage: %w", err)
	}
	return GinxlogVacuumDataLeafPage{Data: d}, nil
}

// GinxlogSegmentAction is one action of a ginxlogRecompressDataLeaf
// (ginxlogSegmentAction plus its data).
type GinxlogSegmentAction struct {
	Segno uint8 // segment of the page before the record that it applies to
	Type  uint8 // GinSegment*
	// Segment is the GinPostingList of an INSERT or REPLACE,
	// SizeOfGinPostingList bytes (its odd pad byte included).
	Segment []byte
	// NItems and Items: the ItemPointerData (6 bytes each, sorted) an
	// ADDITEMS adds.
	NItems uint16
	Items  []byte
}

// Item returns ADDITEMS item i.
func (a *GinxlogSegmentAction) Item(i int) GinItemPointer {
	return DecodeGinItemPointer(a.Items[ginSizeOfItemPointerData*i:])
}

// GinSegmentActions iterates over the actions of a
// ginxlogRecompressDataLeaf. Each action's data is checked as it is read.
type GinSegmentActions struct {
	data []byte
	pos  int // bytes of data read
	n    int // NActions
	read int // actions read
	err  error
}

// Next decodes the next action. It returns false at the end of the list
// or on malformed data (see Err). An action of an unknown type is returned
// (true) without data; as its length is unknown, it ends the list with an
// error.
func (it *GinSegmentActions) Next() (GinxlogSegmentAction, bool) {
	if it.read >= it.n || it.err != nil {
		return GinxlogSegmentAction{}, false
	}
	it.read++
	d := it.data[it.pos:]
	if len(d) < 2 {
		it.err = fmt.Errorf("ginxlogRecompressDataLeaf: action %d: truncated header: %w", it.index(), ErrCorrupt)
		return GinxlogSegmentAction{}, false
	}
	a := GinxlogSegmentAction{Segno: d[0], Type: d[1]}
	d = d[2:]
	n := 2
	switch a.Type {
	case GinSegmentInsert, GinSegmentReplace:
		size, ok := GinPostingListSize(d)
		if !ok {
			it.err = fmt.Errorf("ginxlogRecompressDataLeaf: action %d: GinPostingList runs past the data (%d bytes left): %w", it.index(), len(d), ErrCorrupt)
			return GinxlogSegmentAction{}, false
		}
		a.Segment = d[:size:size]
		n += size // SHORTALIGN(size) == size
	case GinSegmentAddItems:
		if len(d) < 2 {
			it.err = fmt.Errorf("ginxlogRecompressDataLeaf: action %d: truncated nitems: %w", it.index(), ErrCorrupt)
			return GinxlogSegmentAction{}, false
		}
		a.NItems = ginLE.Uint16(d)
		size := ginSizeOfItemPointerData * int(a.NItems)
		if len(d)-2 < size {
			it.err = fmt.Errorf("ginxlogRecompressDataLeaf: action %d: %d items, %d bytes left: %w", it.index(), a.NItems, len(d)-2, ErrCorrupt)
			return GinxlogSegmentAction{}, false
		}
		a.Items = d[2 : 2+size : 2+size]
		n += 2 + size
	case GinSegmentDelete:
	default:
		it.err = fmt.Errorf("ginxlogRecompressDataLeaf: action %d: unknown action type %d: %w", it.index(), a.Type, ErrCorrupt)
		return a, true
	}
	it.pos += n
	return a, true
}

// index is the number (from 0) of the action being read.
func (it *GinSegmentActions) index() int { return it.read - 1 }

// Err is the error that ended the iteration, if any.
func (it *GinSegmentActions) Err() error { return it.err }

// GinxlogSplit is ginxlogSplit, the main data of SPLIT.
type GinxlogSplit struct {
	Node            RelFileNode
	Rrlink          BlockNumber // right link, or the root's block number on a root split
	LeftChildBlkno  BlockNumber // valid on a non-leaf split
	RightChildBlkno BlockNumber
	Flags           uint16
}

// IsData reports GIN_INSERT_ISDATA.
func (x GinxlogSplit) IsData() bool { return x.Flags&GinInsertIsData != 0 }

// IsLeaf reports GIN_INSERT_ISLEAF.
func (x GinxlogSplit) IsLeaf() bool { return x.Flags&GinInsertIsLeaf != 0 }

// IsRoot reports GIN_SPLIT_ROOT.
func (x GinxlogSplit) IsRoot() bool { return x.Flags&GinSplitRoot != 0 }

// DecodeGinxlogSplit decodes the main data of SPLIT.
func DecodeGinxlogSplit(b []byte) (GinxlogSplit, error) {
	if len(b) < SizeOfGinxlogSplit {
		return GinxlogSplit{}, ginXlogShort("ginxlogSplit", len(b), SizeOfGinxlogSplit)
	}
	return GinxlogSplit{
		Node:            RelFileNode{SpcNode: ginLE.Uint32(b), DbNode: ginLE.Uint32(b[4:]), RelNode: ginLE.Uint32(b[8:])},
		Rrlink:          BlockNumber(ginLE.Uint32(b[12:])),
		LeftChildBlkno:  BlockNumber(ginLE.Uint32(b[16:])),
		RightChildBlkno: BlockNumber(ginLE.Uint32(b[20:])),
		Flags:           ginLE.Uint16(b[24:]),
	}, nil
}

// GinxlogDeletePage is ginxlogDeletePage, the main data of DELETE_PAGE.
type GinxlogDeletePage struct {
	ParentOffset OffsetNumber
	RightLink    BlockNumber
	DeleteXid    uint32 // TransactionId
}

// DecodeGinxlogDeletePage decodes the main data of DELETE_PAGE.
func DecodeGinxlogDeletePage(b []byte) (GinxlogDeletePage, error) {
	if len(b) < SizeOfGinxlogDeletePage {
		return GinxlogDeletePage{}, ginXlogShort("ginxlogDeletePage", len(b), SizeOfGinxlogDeletePage)
	}
	return GinxlogDeletePage{
		ParentOffset: OffsetNumber(ginLE.Uint16(b)),
		RightLink:    BlockNumber(ginLE.Uint32(b[4:])),
		DeleteXid:    ginLE.Uint32(b[8:]),
	}, nil
}

// GinMetaPageData is GinMetaPageData (ginblock.h), the metapage contents.
type GinMetaPageData struct {
	Head, Tail         BlockNumber
	TailFreeSize       uint32
	NPendingPages      BlockNumber
	NPendingHeapTuples int64
	NTotalPages        BlockNumber
	NEntryPages        BlockNumber
	NDataPages         BlockNumber
	NEntries           int64
	GinVersion         int32
	// Raw is the whole struct as logged, its padding included: what redo
	// copies onto the metapage.
	Raw [SizeOfGinMetaPageData]byte
}

// DecodeGinMetaPageData decodes a GinMetaPageData.
func DecodeGinMetaPageData(b []byte) (GinMetaPageData, error) {
	if len(b) < SizeOfGinMetaPageData {
		return GinMetaPageData{}, ginXlogShort("GinMetaPageData", len(b), SizeOfGinMetaPageData)
	}
	md := GinMetaPageData{
		Head:               BlockNumber(ginLE.Uint32(b)),
		Tail:               BlockNumber(ginLE.Uint32(b[4:])),
		TailFreeSize:       ginLE.Uint32(b[8:]),
		NPendingPages:      BlockNumber(ginLE.Uint32(b[12:])),
		NPendingHeapTuples: int64(ginLE.Uint64(b[16:])),
		NTotalPages:        BlockNumber(ginLE.Uint32(b[24:])),
		NEntryPages:        BlockNumber(ginLE.Uint32(b[28:])),
		NDataPages:         BlockNumber(ginLE.Uint32(b[32:])),
		NEntries:           int64(ginLE.Uint64(b[40:])),
		GinVersion:         int32(ginLE.Uint32(b[48:])),
	}
	copy(md.Raw[:], b)
	return md, nil
}

// GinxlogUpdateMeta is ginxlogUpdateMeta, the main data of
// UPDATE_META_PAGE. The tuples appended to the tail page, when NTuples >
// 0, are block 1's data (DecodeGinxlogTuples).
type GinxlogUpdateMeta struct {
	Node         RelFileNode
	Metadata     GinMetaPageData
	PrevTail     BlockNumber
	NewRightlink BlockNumber
	NTuples      int32
}

// DecodeGinxlogUpdateMeta decodes the main data of UPDATE_META_PAGE.
func DecodeGinxlogUpdateMeta(b []byte) (GinxlogUpdateMeta, error) {
	if len(b) < SizeOfGinxlogUpdateMeta {
		return GinxlogUpdateMeta{}, ginXlogShort("ginxlogUpdateMeta", len(b), SizeOfGinxlogUpdateMeta)
	}
	md, _ := DecodeGinMetaPageData(b[16:])
	return GinxlogUpdateMeta{
		Node:         RelFileNode{SpcNode: ginLE.Uint32(b), DbNode: ginLE.Uint32(b[4:]), RelNode: ginLE.Uint32(b[8:])},
		Metadata:     md,
		PrevTail:     BlockNumber(ginLE.Uint32(b[72:])),
		NewRightlink: BlockNumber(ginLE.Uint32(b[76:])),
		NTuples:      int32(ginLE.Uint32(b[80:])),
	}, nil
}

// GinxlogInsertListPage is ginxlogInsertListPage, the main data of
// INSERT_LISTPAGE; the tuples are block 0's data (DecodeGinxlogTuples).
type GinxlogInsertListPage struct {
	Rightlink BlockNumber
	NTuples   int32
}

// DecodeGinxlogInsertListPage decodes the main data of INSERT_LISTPAGE.
func DecodeGinxlogInsertListPage(b []byte) (GinxlogInsertListPage, error) {
	if len(b) < SizeOfGinxlogInsertListPage {
		return GinxlogInsertListPage{}, ginXlogShort("ginxlogInsertListPage", len(b), SizeOfGinxlogInsertListPage)
	}
	return GinxlogInsertListPage{Rightlink: BlockNumber(ginLE.Uint32(b)), NTuples: int32(ginLE.Uint32(b[4:]))}, nil
}

// GinxlogDeleteListPages is ginxlogDeleteListPages, the main data of
// DELETE_LISTPAGE.
type GinxlogDeleteListPages struct {
	Metadata GinMetaPageData
	NDeleted int32
}

// DecodeGinxlogDeleteListPages decodes the main data of DELETE_LISTPAGE.
func DecodeGinxlogDeleteListPages(b []byte) (GinxlogDeleteListPages, error) {
	if len(b) < SizeOfGinxlogDeleteListPages {
		return GinxlogDeleteListPages{}, ginXlogShort("ginxlogDeleteListPages", len(b), SizeOfGinxlogDeleteListPages)
	}
	md, _ := DecodeGinMetaPageData(b)
	return GinxlogDeleteListPages{Metadata: md, NDeleted: int32(ginLE.Uint32(b[56:]))}, nil
}

// GinxlogTuples are the index tuples that follow ginxlogInsertListPage and
// ginxlogUpdateMeta (as block data): NTuples tuples back to back, each
// IndexTupleSize bytes (not MAXALIGNed). Next returns them in order.
type GinxlogTuples struct {
	data []byte
	left int
}

// DecodeGinxlogTuples checks that b starts with ntuples whole index tuples
// (bytes after them are ignored, as redo ignores them) and returns them.
// ntuples <= 0 reads nothing.
func DecodeGinxlogTuples(b []byte, ntuples int32) (GinxlogTuples, error) {
	pos := 0
	for i := int32(0); i < ntuples; i++ {
		tup, err := ginIndexTuple("gin list tuples", b[pos:])
		if err != nil {
			return GinxlogTuples{}, fmt.Errorf("tuple %d of %d: %w", i+1, ntuples, err)
		}
		pos += len(tup)
	}
	return GinxlogTuples{data: b[:pos], left: max(int(ntuples), 0)}, nil
}

// Next returns the next tuple, or false after the last.
func (t *GinxlogTuples) Next() ([]byte, bool) {
	if t.left == 0 {
		return nil, false
	}
	t.left--
	size := int(ginLE.Uint16(t.data[6:]) & ginIndexTupleSizeMask)
	tup := t.data[:size:size]
	t.data = t.data[size:]
	return tup, true
}
