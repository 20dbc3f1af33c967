package schema

import "encoding/binary"

// XLogRecord is the fixed 24-byte header of every WAL record
// (access/xlogrecord.h).
type XLogRecord struct {
	TotLen uint32 // xl_tot_len: whole record, header included
	Xid    uint32 // xl_xid
	Prev   LSN    // xl_prev: start of the previous record
	Info   uint8  // xl_info: flag bits (low nibble) and rmgr opcode (high)
	Rmid   uint8  // xl_rmid
	CRC    uint32 // xl_crc: CRC-32C of the payload, then of bytes 0..19
}

// SizeOfXLogRecord is the header's size in WAL.
const SizeOfXLogRecord = 24

// xl_info bits.
const (
	XLRInfoMask         = 0x0F
	XLRRmgrInfoMask     = 0xF0
	XLRSpecialRelUpdate = 0x01
	XLRCheckConsistency = 0x02
)

// Block ids with special meaning, and limits (access/xlogrecord.h).
const (
	XLRMaxBlockID         = 32
	XLRBlockIDDataShort   = 255
	XLRBlockIDDataLong    = 254
	XLRBlockIDOrigin      = 253
	XLRBlockIDToplevelXid = 252
)

// fork_flags bits of a block reference.
const (
	BkpBlockForkMask = 0x0F
	BkpBlockFlagMask = 0xF0
	BkpBlockHasImage = 0x10
	BkpBlockHasData  = 0x20
	BkpBlockWillInit = 0x40
	BkpBlockSameRel  = 0x80
)

// bimg_info bits, PostgreSQL 15 values (they differ from 14's).
const (
	BkpImageHasHole      = 0x01
	BkpImageApply        = 0x02
	BkpImageCompressPGLZ = 0x04
	BkpImageCompressLZ4  = 0x08
	BkpImageCompressZSTD = 0x10
)

// Header sizes inside a record.
const (
	SizeOfXLogRecordBlockHeader         = 4
	SizeOfXLogRecordBlockImageHeader    = 5
	SizeOfXLogRecordBlockCompressHeader = 2
	SizeOfRelFileNode                   = 12
	SizeOfXLogRecordDataHeaderShort     = 2
	SizeOfXLogRecordDataHeaderLong      = 5
)

// parseXLogRecord reads the header from the first 24 bytes of b.
func parseXLogRecord(b []byte) XLogRecord {
	return XLogRecord{
		TotLen: binary.LittleEndian.Uint32(b[0:]),
		Xid:    binary.LittleEndian.Uint32(b[4:]),
		Prev:   LSN(binary.LittleEndian.Uint64(b[8:])),
		Info:   b[16],
		Rmid:   b[17],
		CRC:    binary.LittleEndian.Uint32(b[20:]),
	}
}
