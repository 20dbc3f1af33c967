package schema

import (
	"fmt"
	"strconv"
	"strings"
)

// LSN is a position in the WAL stream (XLogRecPtr).
type LSN uint64

// InvalidLSN is InvalidXLogRecPtr.
const InvalidLSN LSN = 0

// String formats the LSN exactly as PostgreSQL's LSN_FORMAT_ARGS with
// "%X/%08X", the form pg_waldump prints for record positions.
func (l LSN) String() string {
	return fmt.Sprintf("%X/%08X", uint32(l>>32), uint32(l))
}

// Short formats the LSN as PostgreSQL's pg_lsn output does: "%X/%X".
func (l LSN) Short() string {
	return fmt.Sprintf("%X/%X", uint32(l>>32), uint32(l))
}

// ParseLSN parses "X/X" (either case, with or without zero padding), as
// pg_lsn_in accepts it.
func ParseLSN(s string) (LSN, error) {
	hi, lo, ok := strings.Cut(s, "/")
	if !ok || hi == "" || lo == "" || len(hi) > 8 || len(lo) > 8 {
		return 0, fmt.Errorf("invalid LSN %q: want X/X in hex", s)
	}
	h, err := strconv.ParseUint(hi, 16, 32)
	if err != nil {
		return 0, fmt.Errorf("invalid LSN %q: %w", s, err)
	}
	l, err := strconv.ParseUint(lo, 16, 32)
	if err != nil {
		return 0, fmt.Errorf("invalid LSN %q: %w", s, err)
	}
	return LSN(h<<32 | l), nil
}

// TimeLineID is a WAL timeline id.
type TimeLineID uint32

// XLogSegNo is a WAL segment number: LSN / segment size.
type XLogSegNo uint64

// WAL geometry constants of a default PostgreSQL 15 build.
const (
	XLogBlcksz         = 8192     // XLOG_BLCKSZ
	BLCKSZ             = 8192     // relation page size
	RelSegSize         = 131072   // RELSEG_SIZE: blocks per 1 GiB relation segment file
	DefaultWALSegSize  = 16 << 20 // DEFAULT_XLOG_SEG_SIZE
	MinWALSegSize      = 1 << 20
	MaxWALSegSize      = 1 << 30
	maxAlignOf         = 8
	XLogFileNameLength = 24
)

// ValidWALSegSize reports whether size is a power of two in [1 MiB, 1 GiB].
func ValidWALSegSize(size uint32) bool {
	return size >= MinWALSegSize && size <= MaxWALSegSize && size&(size-1) == 0
}

// MaxAlign rounds n up to MAXALIGN (8 on the platforms PostgreSQL 15 WAL
// comes from).
func MaxAlign(n uint64) uint64 { return (n + maxAlignOf - 1) &^ (maxAlignOf - 1) }

// SegNo returns the segment that holds lsn.
func (l LSN) SegNo(segSize uint32) XLogSegNo { return XLogSegNo(uint64(l) / uint64(segSize)) }

// SegOffset returns lsn's byte offset inside its segment.
func (l LSN) SegOffset(segSize uint32) uint32 { return uint32(uint64(l) % uint64(segSize)) }

// SegmentStart returns the first LSN of segment seg.
func SegmentStart(seg XLogSegNo, segSize uint32) LSN { return LSN(uint64(seg) * uint64(segSize)) }

// XLogFileName returns the segment's file name (XLogFileName in
// access/xlog_internal.h), e.g. 000000010000000000000003.
func XLogFileName(tli TimeLineID, seg XLogSegNo, segSize uint32) string {
	perID := uint64(0x100000000) / uint64(segSize)
	return fmt.Sprintf("%08X%08X%08X", uint32(tli), uint32(uint64(seg)/perID), uint32(uint64(seg)%perID))
}

// ParseXLogFileName parses a 24-hex-digit segment file name.
func ParseXLogFileName(name string, segSize uint32) (TimeLineID, XLogSegNo, error) {
	if len(name) != XLogFileNameLength {
		return 0, 0, fmt.Errorf("invalid WAL file name %q: want 24 hex digits", name)
	}
	var v [3]uint64
	for i := range v {
		n, err := strconv.ParseUint(name[i*8:i*8+8], 16, 32)
		if err != nil {
			return 0, 0, fmt.Errorf("invalid WAL file name %q: %w", name, err)
		}
		v[i] = n
	}
	perID := uint64(0x100000000) / uint64(segSize)
	if v[2] >= perID {
		return 0, 0, fmt.Errorf("invalid WAL file name %q: segment %X out of range for %d-byte segments", name, v[2], segSize)
	}
	return TimeLineID(v[0]), XLogSegNo(v[1]*perID + v[2]), nil
}
