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
	fail := func(format string, args ...any) error {
		return &DecodeError{LSN: lsn, Reason: fmt.Sprintf(format, args...)}
	}
	if len(raw) < SizeOfXLogRecord {
		return fail("record of %d bytes is shorter than its %d-byte header", len(raw), SizeOfXLogRecord)
	}
	hdr := parseXLogRecord(raw)
	if int(hdr.TotLen) != len(raw) {
		return fail("xl_tot_len %d does not match the %d bytes given", hdr.TotLen, len(raw))
	}
	if !RmgrID(hdr.Rmid).Valid() {
		return fail("invalid resource manager ID %d", hdr.Rmid)
	}
	if crc := RecordCRC(raw); crc != hdr.CRC {
		return fail("incorrect resource manager data checksum: stored %08X, computed %08X", hdr.CRC, crc)
	}

	blocks := rec.Blocks[:0]
	*rec = DecodedRecord{LSN: lsn, EndLSN: endLSN, Header: hdr, Raw: raw}

	p := raw[SizeOfXLogRecord:]
	off := 0 // into p
	remaining := len(p)
	datatotal := 0
	mainLen := 0
	var lastRel RelFileNode
	haveRel := false
	var dataLens [XLRMaxBlockID + 1]uint16
	maxID := -1
	short := func() error {
		return fail("record with invalid length: headers run past the end at offset %d", SizeOfXLogRecord+off)
	}
	take := func(n int) ([]byte, bool) {
		if len(p)-off < n {
			return nil, false
		}
		b := p[off : off+n]
		off += n
		remaining -= n
		return b, true
	}

	for remaining > datatotal {
		b, ok := take(1)
		if !ok {
			return short()
		}
		id := b[0]
		switch {
		case id == XLRBlockIDDataShort:
			b, ok := take(1)
			if !ok {
				return short()
			}
			mainLen = int(b[0])
			datatotal += mainLen
		case id == XLRBlockIDDataLong:
			b, ok := take(4)
			if !ok {
				return short()
			}
			mainLen = int(binary.LittleEndian.Uint32(b))
			if mainLen < 0 || mainLen > len(p) {
				return fail("main data length %d exceeds record", uint32(mainLen))
			}
			datatotal += mainLen
		case id == XLRBlockIDOrigin:
			b, ok := take(2)
			if !ok {
				return short()
			}
			rec.HasOrigin = true
			rec.Origin = binary.LittleEndian.Uint16(b)
			continue
		case id == XLRBlockIDToplevelXid:
			b, ok := take(4)
			if !ok {
				return short()
			}
			rec.ToplevelXid = binary.LittleEndian.Uint32(b)
			continue
		case id <= XLRMaxBlockID:
			if int(id) <= maxID {
				return fail("out-of-order block_id %d", id)
			}
			maxID = int(id)
			h, ok := take(SizeOfXLogRecordBlockHeader - 1) // id already read
			if !ok {
				return short()
			}
			blk := DecodedBkpBlock{ID: id, ForkFlags: h[0]}
			blk.Tag.Fork = ForkNumber(h[0] & BkpBlockForkMask)
			dataLen := int(binary.LittleEndian.Uint16(h[1:]))
			if blk.HasData() && dataLen == 0 {
				return fail("BKPBLOCK_HAS_DATA set, but no data included (block %d)", id)
			}
			if !blk.HasData() && dataLen != 0 {
				return fail("BKPBLOCK_HAS_DATA not set, but data length is %d (block %d)", dataLen, id)
			}
			datatotal += dataLen
			dataLens[id] = uint16(dataLen)
			if h[0]&BkpBlockHasImage != 0 {
				ih, ok := take(SizeOfXLogRecordBlockImageHeader)
				if !ok {
					return short()
				}
				blk.HasImage = true
				blk.BimgLen = binary.LittleEndian.Uint16(ih[0:])
				blk.HoleOffset = binary.LittleEndian.Uint16(ih[2:])
				blk.BimgInfo = ih[4]
				if blk.Compressed() {
					if blk.BimgInfo&BkpImageHasHole != 0 {
						ch, ok := take(SizeOfXLogRecordBlockCompressHeader)
						if !ok {
							return short()
						}
						blk.HoleLength = binary.LittleEndian.Uint16(ch)
					}
				} else {
					blk.HoleLength = uint16(BLCKSZ - int(blk.BimgLen))
				}
				datatotal += int(blk.BimgLen)
				if err := checkImageHeader(&blk); err != "" {
					return fail("%s (block %d)", err, id)
				}
			}
			if h[0]&BkpBlockSameRel == 0 {
				r, ok := take(SizeOfRelFileNode)
				if !ok {
					return short()
				}
				blk.Tag.Rel = RelFileNode{
					SpcNode: binary.LittleEndian.Uint32(r[0:]),
					DbNode:  binary.LittleEndian.Uint32(r[4:]),
					RelNode: binary.LittleEndian.Uint32(r[8:]),
				}
				lastRel, haveRel = blk.Tag.Rel, true
			} else {
				if !haveRel {
					return fail("BKPBLOCK_SAME_REL set but no previous rel (block %d)", id)
				}
				blk.Tag.Rel = lastRel
			}
			bn, ok := take(4)
			if !ok {
				return short()
			}
			blk.Tag.Block = BlockNumber(binary.LittleEndian.Uint32(bn))
			blocks = append(blocks, blk)
			continue
		default:
			return fail("invalid block_id %d", id)
		}
		break // main data header is always last
	}
	if remaining != datatotal {
		return fail("record with invalid length: %d payload bytes declared, %d present", datatotal, remaining)
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
	rec.Blocks = blocks
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
