package schema

import (
	"encoding/binary"
	"fmt"
)

// BRIN WAL record layouts (access/brin_xlog.h, PostgreSQL 15). Each
// record's main data is decoded here and nowhere else: redo and the
// descriptions both use these decoders. A decoder reads the bytes
// PostgreSQL writes (SizeOfXxx, which omits trailing struct padding) and
// ignores any beyond; shorter data is an error naming the struct.

// BRIN opcodes of xl_info (XLOG_BRIN_*).
const (
	XLogBrinCreateIndex    = 0x00 // XLOG_BRIN_CREATE_INDEX
	XLogBrinInsert         = 0x10 // XLOG_BRIN_INSERT
	XLogBrinUpdate         = 0x20 // XLOG_BRIN_UPDATE
	XLogBrinSamepageUpdate = 0x30 // XLOG_BRIN_SAMEPAGE_UPDATE
	XLogBrinRevmapExtend   = 0x40 // XLOG_BRIN_REVMAP_EXTEND
	XLogBrinDesummarize    = 0x50 // XLOG_BRIN_DESUMMARIZE
	XLogBrinOpMask         = 0x70 // XLOG_BRIN_OPMASK
	// XLogBrinInitPage marks an INSERT or UPDATE whose target page is
	// rebuilt from nothing (XLOG_BRIN_INIT_PAGE).
	XLogBrinInitPage = 0x80
)

// Bytes of main data PostgreSQL writes for each record (SizeOfBrin*).
const (
	SizeOfBrinCreateIdx      = 6  // pagesPerRange u32, version u16
	SizeOfBrinInsert         = 10 // heapBlk u32, pagesPerRange u32, offnum u16
	SizeOfBrinUpdate         = 14 // oldOffnum u16, 2 bytes padding, xl_brin_insert
	SizeOfBrinSamepageUpdate = 2  // offnum u16
	SizeOfBrinRevmapExtend   = 4  // targetBlk u32
	SizeOfBrinDesummarize    = 10 // pagesPerRange u32, heapBlk u32, regOffset u16
)

// brinUpdateInsertOff is offsetof(xl_brin_update, insert).
const brinUpdateInsertOff = 4

// XlBrinCreateidx is xl_brin_createidx (XLOG_BRIN_CREATE_INDEX). Block 0
// is the metapage, rebuilt from these fields.
type XlBrinCreateidx struct {
	PagesPerRange BlockNumber
	Version       uint16
}

// XlBrinInsert is xl_brin_insert (XLOG_BRIN_INSERT). Block 0 is the
// regular page receiving the tuple (its block data), block 1 the revmap
// page whose entry for HeapBlk is pointed at it.
type XlBrinInsert struct {
	HeapBlk       BlockNumber
	PagesPerRange BlockNumber
	Offnum        OffsetNumber // where the tuple goes on block 0
}

// XlBrinUpdate is xl_brin_update (XLOG_BRIN_UPDATE): an insert (blocks 0
// and 1) plus the removal of the old tuple from block 2.
type XlBrinUpdate struct {
	OldOffnum OffsetNumber
	Insert    XlBrinInsert
}

// XlBrinSamepageUpdate is xl_brin_samepage_update
// (XLOG_BRIN_SAMEPAGE_UPDATE). Block 0's data is the replacement tuple.
type XlBrinSamepageUpdate struct {
	Offnum OffsetNumber
}

// XlBrinRevmapExtend is xl_brin_revmap_extend (XLOG_BRIN_REVMAP_EXTEND).
// Block 0 is the metapage, block 1 the new revmap page (TargetBlk again).
type XlBrinRevmapExtend struct {
	TargetBlk BlockNumber
}

// XlBrinDesummarize is xl_brin_desummarize (XLOG_BRIN_DESUMMARIZE). Block
// 0 is the revmap page whose entry for HeapBlk is cleared, block 1 the
// regular page losing the tuple at RegOffset.
type XlBrinDesummarize struct {
	PagesPerRange BlockNumber
	HeapBlk       BlockNumber
	RegOffset     OffsetNumber
}

// brinShort is the error of a decoder given fewer bytes than PostgreSQL
// writes for the struct.
func brinShort(name string, got, want int) error {
	return fmt.Errorf("%s: %d bytes of main data, want %d", name, got, want)
}

// DecodeXlBrinCreateidx decodes xl_brin_createidx.
func DecodeXlBrinCreateidx(b []byte) (XlBrinCreateidx, error) {
	if len(b) < SizeOfBrinCreateIdx {
		return XlBrinCreateidx{}, brinShort("xl_brin_createidx", len(b), SizeOfBrinCreateIdx)
	}
	le := binary.LittleEndian
	return XlBrinCreateidx{PagesPerRange: BlockNumber(le.Uint32(b[0:])), Version: le.Uint16(b[4:])}, nil
}

// DecodeXlBrinInsert decodes xl_brin_insert.
func DecodeXlBrinInsert(b []byte) (XlBrinInsert, error) {
	if len(b) < SizeOfBrinInsert {
		return XlBrinInsert{}, brinShort("xl_brin_insert", len(b), SizeOfBrinInsert)
	}
	le := binary.LittleEndian
	return XlBrinInsert{
		HeapBlk:       BlockNumber(le.Uint32(b[0:])),
		PagesPerRange: BlockNumber(le.Uint32(b[4:])),
		Offnum:        OffsetNumber(le.Uint16(b[8:])),
	}, nil
}

// DecodeXlBrinUpdate decodes xl_brin_update.
func DecodeXlBrinUpdate(b []byte) (XlBrinUpdate, error) {
	if len(b) < SizeOfBrinUpdate {
		return XlBrinUpdate{}, brinShort("xl_brin_update", len(b), SizeOfBrinUpdate)
	}
	ins, err := DecodeXlBrinInsert(b[brinUpdateInsertOff:])
	if err != nil {
		return XlBrinUpdate{}, fmt.Errorf("xl_brin_update: %w", err)
	}
	return XlBrinUpdate{OldOffnum: OffsetNumber(binary.LittleEndian.Uint16(b[0:])), Insert: ins}, nil
}

// DecodeXlBrinSamepageUpdate decodes xl_brin_samepage_update.
func DecodeXlBrinSamepageUpdate(b []byte) (XlBrinSamepageUpdate, error) {
	if len(b) < SizeOfBrinSamepageUpdate {
		return XlBrinSamepageUpdate{}, brinShort("xl_brin_samepage_update", len(b), SizeOfBrinSamepageUpdate)
	}
	return XlBrinSamepageUpdate{Offnum: OffsetNumber(binary.LittleEndian.Uint16(b[0:]))}, nil
}

// DecodeXlBrinRevmapExtend decodes xl_brin_revmap_extend.
func DecodeXlBrinRevmapExtend(b []byte) (XlBrinRevmapExtend, error) {
	if len(b) < SizeOfBrinRevmapExtend {
		return XlBrinRevmapExtend{}, brinShort("xl_brin_revmap_extend", len(b), SizeOfBrinRevmapExtend)
	}
	return XlBrinRevmapExtend{TargetBlk: BlockNumber(binary.LittleEndian.Uint32(b[0:]))}, nil
}

// DecodeXlBrinDesummarize decodes xl_brin_desummarize.
func DecodeXlBrinDesummarize(b []byte) (XlBrinDesummarize, error) {
	if len(b) < SizeOfBrinDesummarize {
		return XlBrinDesummarize{}, brinShort("xl_brin_desummarize", len(b), SizeOfBrinDesummarize)
	}
	le := binary.LittleEndian
	return XlBrinDesummarize{
		PagesPerRange: BlockNumber(le.Uint32(b[0:])),
		HeapBlk:       BlockNumber(le.Uint32(b[4:])),
		RegOffset:     OffsetNumber(le.Uint16(b[8:])),
	}, nil
}
