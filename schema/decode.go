package schema

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
)

// castagnoli is CRC-32C, the polynomial of pg_crc32c; the table is
// immutable after construction.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// RecordCRC computes a record's CRC the way PostgreSQL does: payload after
// the header first, then the header up to (not including) xl_crc.
func RecordCRC(raw []byte) uint32 {
	c := crc32.Update(0, castagnoli, raw[SizeOfXLogRecord:])
	return crc32.Update(c, castagnoli, raw[:20])
}

// DecodeRecord verifies and decodes one complete record. raw holds exactly
// xl_tot_len bytes; lsn is where it starts and endLSN where it ends
// (EndRecPtr). The result aliases raw.
func DecodeRecord(raw []byte, lsn, endLSN LSN) (*DecodedRecord, error) {
	rec := &DecodedRecord{}
	if err := DecodeRecordInto(rec, raw, lsn, endLSN); err != nil {
		return nil, err
	}
	return rec, nil
}

// DecodeRecordInto is DecodeRecord into a caller-owned value, reusing its
// Blocks slice; the hot path of the WAL reader.
func DecodeRecordInto(rec *DecodedRecord, raw []byte, lsn, endLSN LSN) error {
	if err := checkRecordLen(raw, lsn); err != nil {
		return err
	}
	return decodeRecord(rec, raw, lsn, endLSN, rec.Blocks[:0], false)
}

// slabRecords and slabBlocks are a slab's arrays: records average one
// or two block references, and a slab is full once fewer than a record's
// most (XLRMaxBlockID+1) are left.
const (
	slabRecords = 256
	slabBlocks  = 512
	slabXacts   = 64 // transaction ends parsed, an allocation
)

// RecordSlab hands out DecodedRecords and their block references from
// slabs, slabRecords records and slabBlocks blocks an allocation, instead
// of a record and a block array each: a decoder that keeps many records
// alive at once (the WAL reader, the materializer's dispatcher) allocates
// a few large objects rather than millions of small ones for the
// collector to track. A slab lives as long as any record carved from it.
// The zero value is ready.
type RecordSlab struct {
	recs   []DecodedRecord
	blocks []DecodedBkpBlock
	// The whole arrays recs and blocks are the rest of, for Reset.
	allRecs   []DecodedRecord
	allBlocks []DecodedBkpBlock
	xacts     []xactEnd // room for parsed transaction ends
	allXacts  []xactEnd
}

// next returns an empty record and room for its block references (length
// 0, room for the most a record has); used takes n of them.
func (s *RecordSlab) next() (*DecodedRecord, []DecodedBkpBlock) {
	if len(s.recs) == 0 {
		s.recs = make([]DecodedRecord, slabRecords)
		s.allRecs = s.recs
	}
	rec := &s.recs[0]
	s.recs = s.recs[1:]
	if len(s.blocks) < XLRMaxBlockID+1 {
		s.blocks = make([]DecodedBkpBlock, slabBlocks)
		s.allBlocks = s.blocks
	}
	return rec, s.blocks[: 0 : XLRMaxBlockID+1]
}

// Fits reports whether the next Decode takes its record and blocks from
// the arrays the slab has, allocating none.
func (s *RecordSlab) Fits() bool {
	return len(s.recs) > 0 && len(s.blocks) >= XLRMaxBlockID+1
}

// Reset hands the slab's current arrays out again from their start,
// cleared (no record keeps what it referred to alive), or allocates them.
// Only for a decoder that knows no record it decoded into them is in use
// any more.
func (s *RecordSlab) Reset() {
	if s.allRecs == nil {
		s.allRecs = make([]DecodedRecord, slabRecords)
	}
	if s.allBlocks == nil {
		s.allBlocks = make([]DecodedBkpBlock, slabBlocks)
	}
	// Only what was handed out: a chunk of records uses about a third
	// of its block references.
	clear(s.allRecs[:len(s.allRecs)-len(s.recs)])
	clear(s.allBlocks[:len(s.allBlocks)-len(s.blocks)])
	clear(s.allXacts[:len(s.allXacts)-len(s.xacts)])
	s.recs, s.blocks, s.xacts = s.allRecs, s.allBlocks, s.allXacts
}

// used marks n block references of the last next as taken.
func (s *RecordSlab) used(n int) { s.blocks = s.blocks[n:] }

// Decode is DecodeRecordInto into a record from the slab.
func (s *RecordSlab) Decode(raw []byte, lsn, endLSN LSN) (*DecodedRecord, error) {
	if err := checkRecordLen(raw, lsn); err != nil {
		return nil, err
	}
	rec, blocks := s.next()
	if err := decodeRecord(rec, raw, lsn, endLSN, blocks, true); err != nil {
		return nil, err
	}
	s.used(len(rec.Blocks))
	if rec.Rmgr() == RmgrTransaction {
		s.parseXactEnd(rec)
	}
	return rec, nil
}

// parseXactEnd parses rec's transaction end, when it is one, into the
// slab's room for them and keeps it with rec (see DecodedRecord.xact).
func (s *RecordSlab) parseXactEnd(rec *DecodedRecord) {
	if len(s.xacts) == 0 {
		s.xacts = make([]xactEnd, slabXacts)
		s.allXacts = s.xacts
	}
	e := &s.xacts[0]
	if ok, err := parseXactEnd(rec, e); ok && err == nil {
		rec.xact = e
		s.xacts = s.xacts[1:]
	}
}

// checkRecordLen: decodeRecord needs at least a record header.
func checkRecordLen(raw []byte, lsn LSN) error {
	if len(raw) < SizeOfXLogRecord {
		return decodeFail(lsn, "record of %d bytes is shorter than its %d-byte header", len(raw), SizeOfXLogRecord)
	}
	return nil
}

func decodeFail(lsn LSN, format string, args ...any) error {
	return &DecodeError{LSN: lsn, Reason: fmt.Sprintf(format, args...)}
}

func decodeShort(lsn LSN, off int) error {
	return decodeFail(lsn, "record with invalid length: headers run past the end at offset %d", SizeOfXLogRecord+off)
}

// decodeRecord is DecodeRecordInto for raw of at least SizeOfXLogRecord
// bytes, with the block references decoded in place into blocks (length
// 0; appended to when its capacity runs out), which becomes rec.Blocks:
// with exact, capped at its length, and nil when there are none.
// The header fields are read straight from raw and the block headers with
// one length test each; pointers in rec are written only when they change,
// as every pointer write costs a write barrier while the GC marks.
func decodeRecord(rec *DecodedRecord, raw []byte, lsn, endLSN LSN, blocks []DecodedBkpBlock, exact bool) error {
	h := raw[:SizeOfXLogRecord]
	totLen := binary.LittleEndian.Uint32(h[0:])
	rmid := h[17]
	crcStored := binary.LittleEndian.Uint32(h[20:])
	if int(totLen) != len(raw) {
		return decodeFail(lsn, "xl_tot_len %d does not match the %d bytes given", totLen, len(raw))
	}
	if !RmgrID(rmid).Valid() {
		return decodeFail(lsn, "invalid resource manager ID %d", rmid)
	}
	if crc := RecordCRC(raw); crc != crcStored {
		return decodeFail(lsn, "incorrect resource manager data checksum: stored %08X, computed %08X", crcStored, crc)
	}

	rec.LSN, rec.EndLSN = lsn, endLSN
	rec.xact = nil
	rec.Header.TotLen = totLen
	rec.Header.Xid = binary.LittleEndian.Uint32(h[4:])
	rec.Header.Prev = LSN(binary.LittleEndian.Uint64(h[8:]))
	rec.Header.Info = h[16]
	rec.Header.Rmid = rmid
	rec.Header.CRC = crcStored
	rec.Raw = raw
	rec.HasOrigin, rec.Origin, rec.ToplevelXid = false, 0, 0
	if rec.MainData != nil {
		rec.MainData = nil
	}
	if rec.Blocks != nil {
		rec.Blocks = nil
	}

	p := raw[SizeOfXLogRecord:]
	off := 0 // into p; len(p)-off bytes remain
	datatotal := 0
	mainLen := 0
	var lastRel RelFileNode
	haveRel := false
	var dataLens [XLRMaxBlockID + 1]uint16
	maxID := -1

	for len(p)-off > datatotal {
		// off < len(p) here: datatotal >= 0.
		id := p[off]
		off++
		switch {
		case id == XLRBlockIDDataShort:
			if len(p)-off < 1 {
				return decodeShort(lsn, off)
			}
			mainLen = int(p[off])
			off++
			datatotal += mainLen
		case id == XLRBlockIDDataLong:
			if len(p)-off < 4 {
				return decodeShort(lsn, off)
			}
			mainLen = int(binary.LittleEndian.Uint32(p[off:]))
			off += 4
			if mainLen < 0 || mainLen > len(p) {
				return decodeFail(lsn, "main data length %d exceeds record", uint32(mainLen))
			}
			datatotal += mainLen
		case id == XLRBlockIDOrigin:
			if len(p)-off < 2 {
				return decodeShort(lsn, off)
			}
			rec.HasOrigin = true
			rec.Origin = binary.LittleEndian.Uint16(p[off:])
			off += 2
			continue
		case id == XLRBlockIDToplevelXid:
			if len(p)-off < 4 {
				return decodeShort(lsn, off)
			}
			rec.ToplevelXid = binary.LittleEndian.Uint32(p[off:])
			off += 4
			continue
		case id <= XLRMaxBlockID:
			if int(id) <= maxID {
				return decodeFail(lsn, "out-of-order block_id %d", id)
			}
			maxID = int(id)
			if len(p)-off < SizeOfXLogRecordBlockHeader-1 { // id already read
				return decodeShort(lsn, off)
			}
			h := p[off : off+SizeOfXLogRecordBlockHeader-1]
			off += SizeOfXLogRecordBlockHeader - 1
			flags := h[0]
			dataLen := int(binary.LittleEndian.Uint16(h[1:]))
			if flags&BkpBlockHasData != 0 && dataLen == 0 {
				return decodeFail(lsn, "BKPBLOCK_HAS_DATA set, but no data included (block %d)", id)
			}
			if flags&BkpBlockHasData == 0 && dataLen != 0 {
				return decodeFail(lsn, "BKPBLOCK_HAS_DATA not set, but data length is %d (block %d)", dataLen, id)
			}
			datatotal += dataLen
			dataLens[id] = uint16(dataLen)

			n := len(blocks)
			if n < cap(blocks) {
				blocks = blocks[:n+1]
			} else {
				blocks = append(blocks, DecodedBkpBlock{})
			}
			blk := &blocks[n]
			blk.ID, blk.ForkFlags = id, flags
			blk.Tag.Fork = ForkNumber(flags & BkpBlockForkMask)
			blk.HasImage, blk.BimgLen, blk.HoleOffset, blk.HoleLength, blk.BimgInfo = false, 0, 0, 0, 0
			if blk.Image != nil {
				blk.Image = nil
			}
			if blk.Data != nil {
				blk.Data = nil
			}
			if flags&BkpBlockHasImage != 0 {
				if len(p)-off < SizeOfXLogRecordBlockImageHeader {
					return decodeShort(lsn, off)
				}
				ih := p[off : off+SizeOfXLogRecordBlockImageHeader]
				off += SizeOfXLogRecordBlockImageHeader
				blk.HasImage = true
				blk.BimgLen = binary.LittleEndian.Uint16(ih[0:])
				blk.HoleOffset = binary.LittleEndian.Uint16(ih[2:])
				blk.BimgInfo = ih[4]
				if blk.Compressed() {
					if blk.BimgInfo&BkpImageHasHole != 0 {
						if len(p)-off < SizeOfXLogRecordBlockCompressHeader {
							return decodeShort(lsn, off)
						}
						blk.HoleLength = binary.LittleEndian.Uint16(p[off:])
						off += SizeOfXLogRecordBlockCompressHeader
					}
				} else {
					blk.HoleLength = uint16(BLCKSZ - int(blk.BimgLen))
				}
				datatotal += int(blk.BimgLen)
				if err := checkImageHeader(blk); err != "" {
					return decodeFail(lsn, "%s (block %d)", err, id)
				}
			}
			if flags&BkpBlockSameRel == 0 {
				if len(p)-off < SizeOfRelFileNode {
					return decodeShort(lsn, off)
				}
				r := p[off : off+SizeOfRelFileNode]
				off += SizeOfRelFileNode
				lastRel = RelFileNode{
					SpcNode: binary.LittleEndian.Uint32(r[0:]),
					DbNode:  binary.LittleEndian.Uint32(r[4:]),
					RelNode: binary.LittleEndian.Uint32(r[8:]),
				}
				haveRel = true
			} else if !haveRel {
				return decodeFail(lsn, "BKPBLOCK_SAME_REL set but no previous rel (block %d)", id)
			}
			blk.Tag.Rel = lastRel
			if len(p)-off < 4 {
				return decodeShort(lsn, off)
			}
			blk.Tag.Block = BlockNumber(binary.LittleEndian.Uint32(p[off:]))
			off += 4
			continue
		default:
			return decodeFail(lsn, "invalid block_id %d", id)
		}
		break // main data header is always last
	}
	if remaining := len(p) - off; remaining != datatotal {
		return decodeFail(lsn, "record with invalid length: %d payload bytes declared, %d present", datatotal, remaining)
	}

	// Payload: per block the image then the data, then the main data.
	for i := range blocks {
		blk := &blocks[i]
		if blk.HasImage {
			n := int(blk.BimgLen)
			blk.Image = p[off : off+n : off+n]
			off += n
		}
		if n := int(dataLens[blk.ID]); n > 0 {
			blk.Data = p[off : off+n : off+n]
			off += n
		}
	}
	if mainLen > 0 {
		rec.MainData = p[off : off+mainLen : off+mainLen]
	}
	if !exact {
		rec.Blocks = blocks
	} else if n := len(blocks); n > 0 {
		rec.Blocks = blocks[:n:n]
	}
	return nil
}

// checkImageHeader applies xlogreader.c's cross-checks of an image header;
// it returns "" when the header is consistent.
func checkImageHeader(b *DecodedBkpBlock) string {
	hasHole := b.BimgInfo&BkpImageHasHole != 0
	switch {
	case hasHole && (b.HoleOffset == 0 || b.HoleLength == 0 || b.BimgLen == BLCKSZ):
		return fmt.Sprintf("BKPIMAGE_HAS_HOLE set, but hole offset %d length %d block image length %d", b.HoleOffset, b.HoleLength, b.BimgLen)
	case !hasHole && (b.HoleOffset != 0 || b.HoleLength != 0):
		return fmt.Sprintf("BKPIMAGE_HAS_HOLE not set, but hole offset %d length %d", b.HoleOffset, b.HoleLength)
	case b.Compressed() && b.BimgLen >= BLCKSZ:
		return fmt.Sprintf("BKPIMAGE_COMPRESSED set, but block image length %d", b.BimgLen)
	case !hasHole && !b.Compressed() && b.BimgLen != BLCKSZ:
		return fmt.Sprintf("neither BKPIMAGE_HAS_HOLE nor BKPIMAGE_COMPRESSED set, but block image length is %d", b.BimgLen)
	case int(b.HoleOffset)+int(b.HoleLength) > BLCKSZ:
		return fmt.Sprintf("hole offset %d length %d runs past the page", b.HoleOffset, b.HoleLength)
	}
	return ""
}
