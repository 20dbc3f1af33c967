package schema

import (
	"encoding/binary"
	"fmt"
	"math"
)

// Hash index WAL record layouts (access/hash_xlog.h, PostgreSQL 15). Each C
// struct has a Go type named after it and one decoder, which checks the
// length PostgreSQL writes (SizeOfXxx, not sizeof when the struct has
// trailing padding) and returns an error naming the struct. Redo
// (redo/hash.go) and the pg_waldump descriptions (rmgrdesc_hash.go) both
// decode through these, so each byte offset is parsed here only.

// Hash record opcodes (XLOG_HASH_*), xl_info & ~XLR_INFO_MASK.
const (
	XLogHashInitMetaPage      uint8 = 0x00 // XLOG_HASH_INIT_META_PAGE
	XLogHashInitBitmapPage    uint8 = 0x10 // XLOG_HASH_INIT_BITMAP_PAGE
	XLogHashInsert            uint8 = 0x20 // XLOG_HASH_INSERT
	XLogHashAddOvflPage       uint8 = 0x30 // XLOG_HASH_ADD_OVFL_PAGE
	XLogHashSplitAllocatePage uint8 = 0x40 // XLOG_HASH_SPLIT_ALLOCATE_PAGE
	XLogHashSplitPage         uint8 = 0x50 // XLOG_HASH_SPLIT_PAGE
	XLogHashSplitComplete     uint8 = 0x60 // XLOG_HASH_SPLIT_COMPLETE
	XLogHashMovePageContents  uint8 = 0x70 // XLOG_HASH_MOVE_PAGE_CONTENTS
	XLogHashSqueezePage       uint8 = 0x80 // XLOG_HASH_SQUEEZE_PAGE
	XLogHashDelete            uint8 = 0x90 // XLOG_HASH_DELETE
	XLogHashSplitCleanup      uint8 = 0xA0 // XLOG_HASH_SPLIT_CLEANUP
	XLogHashUpdateMetaPage    uint8 = 0xB0 // XLOG_HASH_UPDATE_META_PAGE
	XLogHashVacuumOnePage     uint8 = 0xC0 // XLOG_HASH_VACUUM_ONE_PAGE
)

// xl_hash_split_allocate_page.flags.
const (
	XLHSplitMetaUpdateMasks      uint8 = 0x01 // XLH_SPLIT_META_UPDATE_MASKS
	XLHSplitMetaUpdateSplitpoint uint8 = 0x02 // XLH_SPLIT_META_UPDATE_SPLITPOINT
)

// Bytes of main data PostgreSQL writes for each struct (SizeOfHash*).
const (
	SizeOfHashInitMetaPage      = 14 // num_tuples f64, procid u32, ffactor u16 (sizeof 16)
	SizeOfHashInitBitmapPage    = 2  // bmsize u16
	SizeOfHashInsert            = 2  // offnum u16
	SizeOfHashAddOvflPage       = 3  // bmsize u16, bmpage_found bool (sizeof 4)
	SizeOfHashSplitAllocatePage = 9  // new_bucket u32, old/new_bucket_flag u16, flags u8 (sizeof 12)
	SizeOfHashSplitComplete     = 4  // old_bucket_flag u16, new_bucket_flag u16
	SizeOfHashMovePageContents  = 3  // ntups u16, is_prim_bucket_same_wrt bool (sizeof 4)
	SizeOfHashSqueezePage       = 12 // prevblkno, nextblkno u32, ntups u16, two bools
	SizeOfHashDelete            = 2  // clear_dead_marking bool, is_primary_bucket_page bool
	SizeOfHashUpdateMetaPage    = 8  // ntuples f64
	SizeOfHashVacuumOnePage     = 8  // latestRemovedXid u32, ntuples int32; offsets follow
)

// hashXlogShort is the error of a decoder given fewer bytes than PostgreSQL
// writes.
func hashXlogShort(name string, got, want int) error {
	return fmt.Errorf("%s: %d bytes, want %d: %w", name, got, want, ErrCorrupt)
}

// XlHashInitMetaPage is xl_hash_init_meta_page.
type XlHashInitMetaPage struct {
	NumTuples float64
	Procid    uint32 // RegProcedure
	Ffactor   uint16
}

// DecodeXlHashInitMetaPage decodes the main data of INIT_META_PAGE.
func DecodeXlHashInitMetaPage(b []byte) (XlHashInitMetaPage, error) {
	if len(b) < SizeOfHashInitMetaPage {
		return XlHashInitMetaPage{}, hashXlogShort("xl_hash_init_meta_page", len(b), SizeOfHashInitMetaPage)
	}
	return XlHashInitMetaPage{
		NumTuples: math.Float64frombits(binary.LittleEndian.Uint64(b[0:])),
		Procid:    binary.LittleEndian.Uint32(b[8:]),
		Ffactor:   binary.LittleEndian.Uint16(b[12:]),
	}, nil
}

// XlHashInitBitmapPage is xl_hash_init_bitmap_page.
type XlHashInitBitmapPage struct {
	Bmsize uint16
}

// DecodeXlHashInitBitmapPage decodes the main data of INIT_BITMAP_PAGE.
func DecodeXlHashInitBitmapPage(b []byte) (XlHashInitBitmapPage, error) {
	if len(b) < SizeOfHashInitBitmapPage {
		return XlHashInitBitmapPage{}, hashXlogShort("xl_hash_init_bitmap_page", len(b), SizeOfHashInitBitmapPage)
	}
	return XlHashInitBitmapPage{Bmsize: binary.LittleEndian.Uint16(b)}, nil
}

// XlHashInsert is xl_hash_insert.
type XlHashInsert struct {
	Offnum OffsetNumber
}

// DecodeXlHashInsert decodes the main data of INSERT.
func DecodeXlHashInsert(b []byte) (XlHashInsert, error) {
	if len(b) < SizeOfHashInsert {
		return XlHashInsert{}, hashXlogShort("xl_hash_insert", len(b), SizeOfHashInsert)
	}
	return XlHashInsert{Offnum: OffsetNumber(binary.LittleEndian.Uint16(b))}, nil
}

// XlHashAddOvflPage is xl_hash_add_ovfl_page.
type XlHashAddOvflPage struct {
	Bmsize      uint16
	BmpageFound bool
}

// DecodeXlHashAddOvflPage decodes the main data of ADD_OVFL_PAGE.
func DecodeXlHashAddOvflPage(b []byte) (XlHashAddOvflPage, error) {
	if len(b) < SizeOfHashAddOvflPage {
		return XlHashAddOvflPage{}, hashXlogShort("xl_hash_add_ovfl_page", len(b), SizeOfHashAddOvflPage)
	}
	return XlHashAddOvflPage{Bmsize: binary.LittleEndian.Uint16(b), BmpageFound: b[2] != 0}, nil
}

// XlHashSplitAllocatePage is xl_hash_split_allocate_page.
type XlHashSplitAllocatePage struct {
	NewBucket     uint32 // Bucket
	OldBucketFlag uint16
	NewBucketFlag uint16
	Flags         uint8 // XLH_SPLIT_META_UPDATE_*
}

// DecodeXlHashSplitAllocatePage decodes the main data of
// SPLIT_ALLOCATE_PAGE.
func DecodeXlHashSplitAllocatePage(b []byte) (XlHashSplitAllocatePage, error) {
	if len(b) < SizeOfHashSplitAllocatePage {
		return XlHashSplitAllocatePage{}, hashXlogShort("xl_hash_split_allocate_page", len(b), SizeOfHashSplitAllocatePage)
	}
	return XlHashSplitAllocatePage{
		NewBucket:     binary.LittleEndian.Uint32(b[0:]),
		OldBucketFlag: binary.LittleEndian.Uint16(b[4:]),
		NewBucketFlag: binary.LittleEndian.Uint16(b[6:]),
		Flags:         b[8],
	}, nil
}

// HashSplitAllocateMeta is the metapage block data (block 2) of
// SPLIT_ALLOCATE_PAGE: lowmask and highmask when
// XLH_SPLIT_META_UPDATE_MASKS, then ovflpoint and its spares[] value when
// XLH_SPLIT_META_UPDATE_SPLITPOINT (hashpage.c, _hash_expandtable).
type HashSplitAllocateMeta struct {
	HasMasks          bool
	Lowmask, Highmask uint32
	HasSplitpoint     bool
	Ovflpoint         uint32
	OvflPages         uint32
}

// DecodeHashSplitAllocateMeta decodes block 2's data of SPLIT_ALLOCATE_PAGE
// for the record's flags.
func DecodeHashSplitAllocateMeta(flags uint8, b []byte) (HashSplitAllocateMeta, error) {
	var m HashSplitAllocateMeta
	want := 0
	if flags&XLHSplitMetaUpdateMasks != 0 {
		want += 8
	}
	if flags&XLHSplitMetaUpdateSplitpoint != 0 {
		want += 8
	}
	if len(b) < want {
		return m, hashXlogShort("xl_hash_split_allocate_page metapage data", len(b), want)
	}
	if flags&XLHSplitMetaUpdateMasks != 0 {
		m.HasMasks = true
		m.Lowmask, m.Highmask = binary.LittleEndian.Uint32(b[0:]), binary.LittleEndian.Uint32(b[4:])
		b = b[8:]
	}
	if flags&XLHSplitMetaUpdateSplitpoint != 0 {
		m.HasSplitpoint = true
		m.Ovflpoint, m.OvflPages = binary.LittleEndian.Uint32(b[0:]), binary.LittleEndian.Uint32(b[4:])
	}
	return m, nil
}

// XlHashSplitComplete is xl_hash_split_complete.
type XlHashSplitComplete struct {
	OldBucketFlag uint16
	NewBucketFlag uint16
}

// DecodeXlHashSplitComplete decodes the main data of SPLIT_COMPLETE.
func DecodeXlHashSplitComplete(b []byte) (XlHashSplitComplete, error) {
	if len(b) < SizeOfHashSplitComplete {
		return XlHashSplitComplete{}, hashXlogShort("xl_hash_split_complete", len(b), SizeOfHashSplitComplete)
	}
	return XlHashSplitComplete{OldBucketFlag: binary.LittleEndian.Uint16(b[0:]), NewBucketFlag: binary.LittleEndian.Uint16(b[2:])}, nil
}

// XlHashMovePageContents is xl_hash_move_page_contents.
type XlHashMovePageContents struct {
	Ntups               uint16
	IsPrimBucketSameWrt bool
}

// DecodeXlHashMovePageContents decodes the main data of MOVE_PAGE_CONTENTS.
func DecodeXlHashMovePageContents(b []byte) (XlHashMovePageContents, error) {
	if len(b) < SizeOfHashMovePageContents {
		return XlHashMovePageContents{}, hashXlogShort("xl_hash_move_page_contents", len(b), SizeOfHashMovePageContents)
	}
	return XlHashMovePageContents{Ntups: binary.LittleEndian.Uint16(b), IsPrimBucketSameWrt: b[2] != 0}, nil
}

// XlHashSqueezePage is xl_hash_squeeze_page.
type XlHashSqueezePage struct {
	Prevblkno           BlockNumber
	Nextblkno           BlockNumber
	Ntups               uint16
	IsPrimBucketSameWrt bool
	IsPrevBucketSameWrt bool
}

// DecodeXlHashSqueezePage decodes the main data of SQUEEZE_PAGE.
func DecodeXlHashSqueezePage(b []byte) (XlHashSqueezePage, error) {
	if len(b) < SizeOfHashSqueezePage {
		return XlHashSqueezePage{}, hashXlogShort("xl_hash_squeeze_page", len(b), SizeOfHashSqueezePage)
	}
	return XlHashSqueezePage{
		Prevblkno:           BlockNumber(binary.LittleEndian.Uint32(b[0:])),
		Nextblkno:           BlockNumber(binary.LittleEndian.Uint32(b[4:])),
		Ntups:               binary.LittleEndian.Uint16(b[8:]),
		IsPrimBucketSameWrt: b[10] != 0,
		IsPrevBucketSameWrt: b[11] != 0,
	}, nil
}

// XlHashDelete is xl_hash_delete.
type XlHashDelete struct {
	ClearDeadMarking    bool
	IsPrimaryBucketPage bool
}

// DecodeXlHashDelete decodes the main data of DELETE.
func DecodeXlHashDelete(b []byte) (XlHashDelete, error) {
	if len(b) < SizeOfHashDelete {
		return XlHashDelete{}, hashXlogShort("xl_hash_delete", len(b), SizeOfHashDelete)
	}
	return XlHashDelete{ClearDeadMarking: b[0] != 0, IsPrimaryBucketPage: b[1] != 0}, nil
}

// XlHashUpdateMetaPage is xl_hash_update_meta_page.
type XlHashUpdateMetaPage struct {
	Ntuples float64
}

// DecodeXlHashUpdateMetaPage decodes the main data of UPDATE_META_PAGE.
func DecodeXlHashUpdateMetaPage(b []byte) (XlHashUpdateMetaPage, error) {
	if len(b) < SizeOfHashUpdateMetaPage {
		return XlHashUpdateMetaPage{}, hashXlogShort("xl_hash_update_meta_page", len(b), SizeOfHashUpdateMetaPage)
	}
	return XlHashUpdateMetaPage{Ntuples: math.Float64frombits(binary.LittleEndian.Uint64(b))}, nil
}

// XlHashVacuumOnePage is xl_hash_vacuum_one_page (the PostgreSQL 15
// layout), the fixed part of VACUUM_ONE_PAGE's main data.
type XlHashVacuumOnePage struct {
	LatestRemovedXid uint32 // TransactionId
	Ntuples          int32
}

// DecodeXlHashVacuumOnePage decodes the fixed part of VACUUM_ONE_PAGE's
// main data.
func DecodeXlHashVacuumOnePage(b []byte) (XlHashVacuumOnePage, error) {
	if len(b) < SizeOfHashVacuumOnePage {
		return XlHashVacuumOnePage{}, hashXlogShort("xl_hash_vacuum_one_page", len(b), SizeOfHashVacuumOnePage)
	}
	return XlHashVacuumOnePage{LatestRemovedXid: binary.LittleEndian.Uint32(b[0:]), Ntuples: int32(binary.LittleEndian.Uint32(b[4:]))}, nil
}

// DecodeHashVacuumOnePageOffsets returns the offsets of the deleted items
// that follow xl_hash_vacuum_one_page in the main data b: none when b holds
// only the struct (redo then deletes nothing), else xl.Ntuples of them.
func DecodeHashVacuumOnePageOffsets(xl XlHashVacuumOnePage, b []byte) ([]OffsetNumber, error) {
	if len(b) <= SizeOfHashVacuumOnePage {
		return nil, nil
	}
	if xl.Ntuples < 0 {
		return nil, fmt.Errorf("xl_hash_vacuum_one_page: ntuples %d: %w", xl.Ntuples, ErrCorrupt)
	}
	rest := b[SizeOfHashVacuumOnePage:]
	if need := 2 * int(xl.Ntuples); len(rest) < need {
		return nil, fmt.Errorf("xl_hash_vacuum_one_page: %d bytes of offsets, want %d for ntuples %d: %w", len(rest), need, xl.Ntuples, ErrCorrupt)
	}
	return decodeHashOffsetArray(rest, int(xl.Ntuples)), nil
}

func decodeHashOffsetArray(b []byte, n int) []OffsetNumber {
	offs := make([]OffsetNumber, n)
	for i := range offs {
		offs[i] = OffsetNumber(binary.LittleEndian.Uint16(b[2*i:]))
	}
	return offs
}

// DecodeHashOffsets decodes block data that is an OffsetNumber array and
// nothing else (DELETE block 1, MOVE_PAGE_CONTENTS block 2).
func DecodeHashOffsets(b []byte) ([]OffsetNumber, error) {
	if len(b)%2 != 0 {
		return nil, fmt.Errorf("hash offset array: odd length %d: %w", len(b), ErrCorrupt)
	}
	return decodeHashOffsetArray(b, len(b)/2), nil
}

// DecodeHashBlockUint32 decodes block data that is a single uint32: the
// bucket of ADD_OVFL_PAGE block 0, the bitmap bit of ADD_OVFL_PAGE block 2
// and SQUEEZE_PAGE block 5, the new hashm_firstfree of ADD_OVFL_PAGE block
// 4 and SQUEEZE_PAGE block 6.
func DecodeHashBlockUint32(b []byte) (uint32, error) {
	if len(b) != 4 {
		return 0, fmt.Errorf("hash block data: %d bytes, want a 4-byte uint32: %w", len(b), ErrCorrupt)
	}
	return binary.LittleEndian.Uint32(b), nil
}

// hashIndexTupleSizeMask is INDEX_SIZE_MASK: IndexTupleSize is t_info's low
// 13 bits, t_info being the u16 after the 6-byte t_tid.
const hashIndexTupleSizeMask = 0x1FFF

// DecodeHashMovedTuples decodes the write page's block data of
// MOVE_PAGE_CONTENTS and SQUEEZE_PAGE: ntups offsets, then ntups index
// tuples back to back, each MAXALIGN(IndexTupleSize) bytes (the length
// redo passes to PageAddItem). With ntups 0 the data is not read.
func DecodeHashMovedTuples(ntups uint16, b []byte) ([]OffsetNumber, [][]byte, error) {
	if ntups == 0 {
		return nil, nil, nil
	}
	n := int(ntups)
	if len(b) < 2*n {
		return nil, nil, fmt.Errorf("hash moved tuples: %d bytes, want at least %d for %d offsets: %w", len(b), 2*n, n, ErrCorrupt)
	}
	offs := decodeHashOffsetArray(b, n)
	tuples := make([][]byte, 0, n)
	for pos := 2 * n; pos < len(b); {
		if len(tuples) == n {
			return nil, nil, fmt.Errorf("hash moved tuples: more than ntups %d tuples: %w", n, ErrCorrupt)
		}
		if pos+8 > len(b) {
			return nil, nil, fmt.Errorf("hash moved tuples: tuple %d header at %d past the %d-byte data: %w", len(tuples), pos, len(b), ErrCorrupt)
		}
		size := int(binary.LittleEndian.Uint16(b[pos+6:]) & hashIndexTupleSizeMask)
		itemsz := (size + MaximumAlignOf - 1) &^ (MaximumAlignOf - 1)
		if size < 8 || pos+itemsz > len(b) {
			return nil, nil, fmt.Errorf("hash moved tuples: tuple %d at %d has size %d in %d bytes: %w", len(tuples), pos, size, len(b), ErrCorrupt)
		}
		tuples = append(tuples, b[pos:pos+itemsz])
		pos += itemsz
	}
	if len(tuples) != n {
		return nil, nil, fmt.Errorf("hash moved tuples: %d tuples, want ntups %d: %w", len(tuples), n, ErrCorrupt)
	}
	return offs, tuples, nil
}
