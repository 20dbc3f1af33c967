package schema

import (
	"encoding/binary"
	"fmt"
)

// GiST WAL record layouts (access/gistxlog.h, access/gist_private.h,
// PostgreSQL 15). Each C struct has a Go type named after it and one
// decoder, which checks the length PostgreSQL writes (SizeOfXxx where that
// is less than sizeof) and returns an error naming the struct. Redo
// (redo/gist.go) and the pg_waldump descriptions (rmgrdesc_gist.go) both
// decode through these, so each byte offset is parsed here only.

// GiST record opcodes (XLOG_GIST_*), xl_info & ~XLR_INFO_MASK.
const (
	XLogGistPageUpdate uint8 = 0x00 // XLOG_GIST_PAGE_UPDATE
	XLogGistDelete     uint8 = 0x10 // XLOG_GIST_DELETE
	XLogGistPageReuse  uint8 = 0x20 // XLOG_GIST_PAGE_REUSE
	XLogGistPageSplit  uint8 = 0x30 // XLOG_GIST_PAGE_SPLIT
	XLogGistPageDelete uint8 = 0x60 // XLOG_GIST_PAGE_DELETE
	XLogGistAssignLSN  uint8 = 0x70 // XLOG_GIST_ASSIGN_LSN
)

// Bytes PostgreSQL writes for each struct.
const (
	SizeOfGistxlogPageUpdate = 4  // ntodelete u16, ntoinsert u16
	SizeOfGistxlogDelete     = 6  // latestRemovedXid u32, ntodelete u16 (sizeof 8); offsets follow
	SizeOfGistxlogPageReuse  = 24 // node (12), block u32, latestRemovedFullXid u64
	SizeOfGistxlogPageSplit  = 24 // written with sizeof, padding included
	SizeOfGistxlogPageDelete = 10 // deleteXid u64, downlinkOffset u16 (sizeof 16)
	SizeOfGistxlogAssignLSN  = 4  // int32 dummy
	SizeOfGistxlogPageNum    = 4  // gistxlogPage.num, the part of it a split logs
)

var gistLE = binary.LittleEndian

// gistXlogShort is the error of a decoder given fewer bytes than
// PostgreSQL writes.
func gistXlogShort(name string, got, want int) error {
	return fmt.Errorf("%s: %d bytes, want %d: %w", name, got, want, ErrCorrupt)
}

// gistXlogBad is the error of a decoder whose input PostgreSQL would not
// have written.
func gistXlogBad(name, format string, args ...any) error {
	return fmt.Errorf("%s: %s: %w", name, fmt.Sprintf(format, args...), ErrCorrupt)
}

// gistOffsets reads n OffsetNumbers from the start of b.
func gistOffsets(b []byte, n int) []OffsetNumber {
	return appendGistOffsets(make([]OffsetNumber, 0, n), b, n)
}

// appendGistOffsets appends the n offset numbers at the start of b.
func appendGistOffsets(offs []OffsetNumber, b []byte, n int) []OffsetNumber {
	for i := 0; i < n; i++ {
		offs = append(offs, OffsetNumber(gistLE.Uint16(b[2*i:])))
	}
	return offs
}

// gistIndexTuples splits b into n index tuples laid back to back, each
// IndexTupleSize (t_info & INDEX_SIZE_MASK) bytes; b must be used up
// exactly. The tuples alias b.
func gistIndexTuples(name string, b []byte, n int) ([][]byte, error) {
	if n > len(b)/SizeOfIndexTupleData {
		return nil, gistXlogBad(name, "%d index tuples cannot fit in %d bytes", n, len(b))
	}
	return appendGistIndexTuples(make([][]byte, 0, n), name, b, n)
}

// appendGistIndexTuples is gistIndexTuples appending to tuples.
func appendGistIndexTuples(tuples [][]byte, name string, b []byte, n int) ([][]byte, error) {
	if n > len(b)/SizeOfIndexTupleData {
		return nil, gistXlogBad(name, "%d index tuples cannot fit in %d bytes", n, len(b))
	}
	pos := 0
	for i := 0; i < n; i++ {
		if len(b)-pos < SizeOfIndexTupleData {
			return nil, gistXlogBad(name, "index tuple %d of %d: %d bytes left, want at least %d", i, n, len(b)-pos, SizeOfIndexTupleData)
		}
		size := int(gistLE.Uint16(b[pos+6:]) & gistIndexSizeMask)
		if size < SizeOfIndexTupleData || size > len(b)-pos {
			return nil, gistXlogBad(name, "index tuple %d of %d: size %d, %d bytes left", i, n, size, len(b)-pos)
		}
		tuples = append(tuples, b[pos:pos+size])
		pos += size
	}
	if pos != len(b) {
		return nil, gistXlogBad(name, "%d bytes after %d index tuples", len(b)-pos, n)
	}
	return tuples, nil
}

// gistIndexSizeMask is INDEX_SIZE_MASK (access/itup.h).
const gistIndexSizeMask = 0x1FFF

// GistxlogPageUpdate is gistxlogPageUpdate, the main data of PAGE_UPDATE.
type GistxlogPageUpdate struct {
	NToDelete uint16
	NToInsert uint16
}

// DecodeGistxlogPageUpdate decodes the main data of PAGE_UPDATE.
func DecodeGistxlogPageUpdate(b []byte) (GistxlogPageUpdate, error) {
	if len(b) < SizeOfGistxlogPageUpdate {
		return GistxlogPageUpdate{}, gistXlogShort("gistxlogPageUpdate", len(b), SizeOfGistxlogPageUpdate)
	}
	return GistxlogPageUpdate{NToDelete: gistLE.Uint16(b), NToInsert: gistLE.Uint16(b[2:])}, nil
}

// GistxlogPageUpdateData is the payload of PAGE_UPDATE's block 0 (the
// comment in gistxlogPageUpdate): NToDelete offset numbers, then NToInsert
// index tuples back to back. Tuples alias the block data.
type GistxlogPageUpdateData struct {
	ToDelete []OffsetNumber
	Tuples   [][]byte
}

// DecodeGistxlogPageUpdateData decodes block 0's data of PAGE_UPDATE, as
// gistRedoPageUpdateRecord reads it for the counts in xl.
func DecodeGistxlogPageUpdateData(b []byte, xl GistxlogPageUpdate) (GistxlogPageUpdateData, error) {
	return AppendGistxlogPageUpdateData(nil, nil, b, xl)
}

// AppendGistxlogPageUpdateData is DecodeGistxlogPageUpdateData with the
// offsets and tuples appended to offs and tuples (length 0), so that redo
// can decode into arrays of its own instead of allocating.
func AppendGistxlogPageUpdateData(offs []OffsetNumber, tuples [][]byte, b []byte, xl GistxlogPageUpdate) (GistxlogPageUpdateData, error) {
	const name = "gistxlogPageUpdate block data"
	n := 2 * int(xl.NToDelete)
	if len(b) < n {
		return GistxlogPageUpdateData{}, gistXlogBad(name, "%d offsets to delete do not fit in %d bytes", xl.NToDelete, len(b))
	}
	if tuples == nil {
		tuples = make([][]byte, 0, min(int(xl.NToInsert), (len(b)-n)/SizeOfIndexTupleData))
	}
	tuples, err := appendGistIndexTuples(tuples, name, b[n:], int(xl.NToInsert))
	if err != nil {
		return GistxlogPageUpdateData{}, err
	}
	if offs == nil {
		offs = make([]OffsetNumber, 0, xl.NToDelete)
	}
	return GistxlogPageUpdateData{ToDelete: appendGistOffsets(offs, b, int(xl.NToDelete)), Tuples: tuples}, nil
}

// GistxlogDelete is gistxlogDelete, the main data of DELETE. The offset
// numbers of the deleted tuples follow it in the main data
// (DecodeGistxlogDeleteOffsets).
type GistxlogDelete struct {
	LatestRemovedXid uint32
	NToDelete        uint16
}

// DecodeGistxlogDelete decodes the struct at the start of DELETE's main
// data.
func DecodeGistxlogDelete(b []byte) (GistxlogDelete, error) {
	if len(b) < SizeOfGistxlogDelete {
		return GistxlogDelete{}, gistXlogShort("gistxlogDelete", len(b), SizeOfGistxlogDelete)
	}
	return GistxlogDelete{LatestRemovedXid: gistLE.Uint32(b), NToDelete: gistLE.Uint16(b[4:])}, nil
}

// DecodeGistxlogDeleteOffsets returns the x.NToDelete offset numbers that
// follow gistxlogDelete in DELETE's main data b, or nil when nothing
// follows it (gistRedoDeleteRecord then deletes nothing).
func DecodeGistxlogDeleteOffsets(b []byte, x GistxlogDelete) ([]OffsetNumber, error) {
	if len(b) < SizeOfGistxlogDelete {
		return nil, gistXlogShort("gistxlogDelete", len(b), SizeOfGistxlogDelete)
	}
	rest := b[SizeOfGistxlogDelete:]
	if len(rest) == 0 {
		return nil, nil
	}
	if len(rest) != 2*int(x.NToDelete) {
		return nil, gistXlogBad("gistxlogDelete offsets", "%d offsets to delete in %d bytes", x.NToDelete, len(rest))
	}
	return gistOffsets(rest, int(x.NToDelete)), nil
}

// GistxlogPageReuse is gistxlogPageReuse, the main data of PAGE_REUSE.
type GistxlogPageReuse struct {
	Node                 RelFileNode
	Block                BlockNumber
	LatestRemovedFullXid uint64 // FullTransactionId
}

// DecodeGistxlogPageReuse decodes the main data of PAGE_REUSE.
func DecodeGistxlogPageReuse(b []byte) (GistxlogPageReuse, error) {
	if len(b) < SizeOfGistxlogPageReuse {
		return GistxlogPageReuse{}, gistXlogShort("gistxlogPageReuse", len(b), SizeOfGistxlogPageReuse)
	}
	return GistxlogPageReuse{
		Node:                 RelFileNode{SpcNode: gistLE.Uint32(b), DbNode: gistLE.Uint32(b[4:]), RelNode: gistLE.Uint32(b[8:])},
		Block:                BlockNumber(gistLE.Uint32(b[12:])),
		LatestRemovedFullXid: gistLE.Uint64(b[16:]),
	}, nil
}

// GistxlogPageSplit is gistxlogPageSplit, the main data of PAGE_SPLIT.
type GistxlogPageSplit struct {
	OrigRlink       BlockNumber // rightlink of the page before the split
	OrigNSN         LSN         // NSN of the page before the split (a plain XLogRecPtr here)
	OrigLeaf        bool
	NPage           uint16
	MarkFollowRight bool
}

// DecodeGistxlogPageSplit decodes the main data of PAGE_SPLIT: origrlink
// @0, orignsn @8, origleaf @16, npage @18, markfollowright @20.
func DecodeGistxlogPageSplit(b []byte) (GistxlogPageSplit, error) {
	if len(b) < SizeOfGistxlogPageSplit {
		return GistxlogPageSplit{}, gistXlogShort("gistxlogPageSplit", len(b), SizeOfGistxlogPageSplit)
	}
	return GistxlogPageSplit{
		OrigRlink:       BlockNumber(gistLE.Uint32(b)),
		OrigNSN:         LSN(gistLE.Uint64(b[8:])),
		OrigLeaf:        b[16] != 0,
		NPage:           gistLE.Uint16(b[18:]),
		MarkFollowRight: b[20] != 0,
	}, nil
}

// GistxlogPage is the data of each page block (ids 1..npage) of
// PAGE_SPLIT: gistxlogPage's num (its blkno is not logged: the block
// reference has it), then that many index tuples back to back. Tuples
// alias the block data.
type GistxlogPage struct {
	Num    int32
	Tuples [][]byte
}

// DecodeGistxlogPage decodes one page block's data of PAGE_SPLIT, as
// decodePageSplitRecord reads it.
func DecodeGistxlogPage(b []byte) (GistxlogPage, error) {
	const name = "gistxlogPage"
	if len(b) < SizeOfGistxlogPageNum {
		return GistxlogPage{}, gistXlogShort(name, len(b), SizeOfGistxlogPageNum)
	}
	num := int32(gistLE.Uint32(b))
	if num < 0 {
		return GistxlogPage{}, gistXlogBad(name, "num %d", num)
	}
	tuples, err := gistIndexTuples(name, b[SizeOfGistxlogPageNum:], int(num))
	if err != nil {
		return GistxlogPage{}, err
	}
	return GistxlogPage{Num: num, Tuples: tuples}, nil
}

// GistxlogPageDelete is gistxlogPageDelete, the main data of PAGE_DELETE.
type GistxlogPageDelete struct {
	DeleteXid      uint64 // FullTransactionId
	DownlinkOffset OffsetNumber
}

// DecodeGistxlogPageDelete decodes the main data of PAGE_DELETE.
func DecodeGistxlogPageDelete(b []byte) (GistxlogPageDelete, error) {
	if len(b) < SizeOfGistxlogPageDelete {
		return GistxlogPageDelete{}, gistXlogShort("gistxlogPageDelete", len(b), SizeOfGistxlogPageDelete)
	}
	return GistxlogPageDelete{DeleteXid: gistLE.Uint64(b), DownlinkOffset: OffsetNumber(gistLE.Uint16(b[8:]))}, nil
}

// GistxlogAssignLSN is the main data of ASSIGN_LSN (gistXLogAssignLSN logs
// an int 0 because a record must have some data; there is no C struct).
type GistxlogAssignLSN struct {
	Dummy int32
}

// DecodeGistxlogAssignLSN decodes the main data of ASSIGN_LSN.
func DecodeGistxlogAssignLSN(b []byte) (GistxlogAssignLSN, error) {
	if len(b) < SizeOfGistxlogAssignLSN {
		return GistxlogAssignLSN{}, gistXlogShort("gistxlogAssignLSN", len(b), SizeOfGistxlogAssignLSN)
	}
	return GistxlogAssignLSN{Dummy: int32(gistLE.Uint32(b))}, nil
}
