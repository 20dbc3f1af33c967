package schema

import "encoding/binary"

// XLogPageHeaderData is the header at the start of every WAL page
// (access/xlog_internal.h). The long form adds the fields of
// XLogLongPageHeaderData and appears on the first page of a segment.
type XLogPageHeaderData struct {
	Magic    uint16     // xlp_magic
	Info     uint16     // xlp_info
	TLI      TimeLineID // xlp_tli
	PageAddr LSN        // xlp_pageaddr
	RemLen   uint32     // xlp_rem_len

	// Long header only.
	SysID      uint64 // xlp_sysid
	SegSize    uint32 // xlp_seg_size
	XLogBlcksz uint32 // xlp_xlog_blcksz
}

// XLogPageMagic is XLOG_PAGE_MAGIC of PostgreSQL 15.
const XLogPageMagic = 0xD110

// Page header sizes and xlp_info flags.
const (
	SizeOfXLogShortPHD = 24
	SizeOfXLogLongPHD  = 40

	XLPFirstIsContRecord          = 0x0001
	XLPLongHeader                 = 0x0002
	XLPBkpRemovable               = 0x0004
	XLPFirstIsOverwriteContRecord = 0x0008
	XLPAllFlags                   = 0x000F
)

// IsLong reports XLP_LONG_HEADER.
func (h *XLogPageHeaderData) IsLong() bool { return h.Info&XLPLongHeader != 0 }

// Size is the header's size on the page.
func (h *XLogPageHeaderData) Size() int {
	if h.IsLong() {
		return SizeOfXLogLongPHD
	}
	return SizeOfXLogShortPHD
}

// ParseXLogPageHeader reads a page header from b, which must hold at least
// SizeOfXLogShortPHD bytes, and SizeOfXLogLongPHD when the long flag is set;
// it returns ok=false when b is too short.
func ParseXLogPageHeader(b []byte) (h XLogPageHeaderData, ok bool) {
	if len(b) < SizeOfXLogShortPHD {
		return h, false
	}
	h.Magic = binary.LittleEndian.Uint16(b[0:])
	h.Info = binary.LittleEndian.Uint16(b[2:])
	h.TLI = TimeLineID(binary.LittleEndian.Uint32(b[4:]))
	h.PageAddr = LSN(binary.LittleEndian.Uint64(b[8:]))
	h.RemLen = binary.LittleEndian.Uint32(b[16:])
	if h.IsLong() {
		if len(b) < SizeOfXLogLongPHD {
			return h, false
		}
		h.SysID = binary.LittleEndian.Uint64(b[24:])
		h.SegSize = binary.LittleEndian.Uint32(b[32:])
		h.XLogBlcksz = binary.LittleEndian.Uint32(b[36:])
	}
	return h, true
}
