package schema

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// WALSegmentBuilder rebuilds WAL segment files from complete records placed
// at their original LSNs, the way PostgreSQL 15 lays them out: a page header
// on every page in use (the long form, with system identifier, segment size and
// XLOG_BLCKSZ, on the first page of a segment), records copied byte for byte
// across page and segment boundaries with XLP_FIRST_IS_CONTRECORD and
// xlp_rem_len on the pages where a record continues, MAXALIGN padding
// between records, and after an XLOG_SWITCH record the rest of its segment
// entirely zero, page headers included, as CopyXLogRecordToWAL leaves it.
// It is used to write the WAL tail of a restored data directory from records
// kept in the event log.
//
// Records must come in order and contiguous: each one starts exactly where
// PostgreSQL would put the record after the previous one (its MAXALIGNed
// end, past a page header if that end is at a page boundary, or after the
// long header of the next segment following an XLOG_SWITCH), and its xl_prev
// names the previous record. Only the first record may start anywhere. What
// the builder cannot know is left as follows:
//
//   - XLP_BKP_REMOVABLE is never set.
//   - In the first segment, pages before the first record's page are zero
//     apart from the segment's long header on page 0 (PostgreSQL validates
//     that header even when it starts reading later in the segment).
//   - When the first record does not start right after its page's header,
//     the bytes before it (the tail of an earlier record, maybe whole records
//     too) are not available: they are left zero, and the page header says
//     XLP_FIRST_IS_CONTRECORD with xlp_rem_len set to the distance from the
//     header to the record, so that a reader starting at the page (as
//     XLogFindNextRecord and pg_waldump do) skips straight to the record.
//     The original xlp_rem_len is at most that.
//   - After the last record the segment is zero.
//
// A segment is emitted, always segSize bytes, once a record's bytes reach a
// later segment or at Finish. It is not safe for concurrent use.
type WALSegmentBuilder struct {
	segSize uint32
	tli     TimeLineID
	sysID   uint64
	emit    func(segNo uint64, data []byte) error

	buf    []byte // the segment being built; nil before the first record
	seg    uint64 // its number
	hdrTo  LSN    // pages before this one have their header written
	prev   LSN    // start of the last record added
	end    LSN    // EndRecPtr of the last record: where the next may start (before page headers)
	next   LSN    // where the next record must start
	frozen error  // sticky error
	done   bool
}

// NewWALSegmentBuilder returns a builder for segments of segSize bytes on
// timeline tli of the system sysID. emit receives each finished segment in
// order: its number (LSN / segSize; XLogFileName names its file) and its
// segSize bytes, which are valid only during the call. An error from emit
// stops the builder and is returned by the Add or Finish that called it.
func NewWALSegmentBuilder(segSize uint32, tli TimeLineID, sysID uint64, emit func(segNo uint64, data []byte) error) (*WALSegmentBuilder, error) {
	if !ValidWALSegSize(segSize) {
		return nil, fmt.Errorf("WAL segment builder: invalid segment size %d: want a power of two from 1 MiB to 1 GiB", segSize)
	}
	if emit == nil {
		return nil, errors.New("WAL segment builder: nil emit function")
	}
	return &WALSegmentBuilder{segSize: segSize, tli: tli, sysID: sysID, emit: emit}, nil
}

// EndLSN is the end of the last record added as PostgreSQL's EndRecPtr (and
// DecodedRecord.EndLSN) gives it: MAXALIGNed, or the next segment's start
// after XLOG_SWITCH. It is 0 before the first record.
func (b *WALSegmentBuilder) EndLSN() LSN { return b.end }

// pageHeaderSize is the size of the header of the page holding lsn.
func (b *WALSegmentBuilder) pageHeaderSize(lsn LSN) uint64 {
	if lsn.SegOffset(b.segSize) < XLogBlcksz {
		return SizeOfXLogLongPHD
	}
	return SizeOfXLogShortPHD
}

// recordStartAfter is where a record following one that ends at end starts.
func (b *WALSegmentBuilder) recordStartAfter(end LSN) LSN {
	p := LSN(MaxAlign(uint64(end)))
	if p%XLogBlcksz == 0 {
		p += LSN(b.pageHeaderSize(p))
	}
	return p
}

func (b *WALSegmentBuilder) fail(err error) error {
	b.frozen = err
	return err
}

// Add places raw, a complete record as it is in WAL (XLogRecord header
// included, xl_tot_len == len(raw), CRC valid), at lsn.
func (b *WALSegmentBuilder) Add(lsn LSN, raw []byte) error {
	if b.frozen != nil {
		return b.frozen
	}
	if b.done {
		return fmt.Errorf("WAL segment builder: record at %s added after Finish", lsn)
	}
	if len(raw) < SizeOfXLogRecord {
		return fmt.Errorf("WAL segment builder: record at %s: %d bytes is shorter than a record header", lsn, len(raw))
	}
	hdr := parseXLogRecord(raw)
	if int64(hdr.TotLen) != int64(len(raw)) {
		return fmt.Errorf("WAL segment builder: record at %s: xl_tot_len %d but %d bytes given", lsn, hdr.TotLen, len(raw))
	}
	if crc := RecordCRC(raw); crc != hdr.CRC {
		return fmt.Errorf("WAL segment builder: record at %s: incorrect resource manager data checksum: xl_crc %08X, computed %08X", lsn, hdr.CRC, crc)
	}
	if uint64(lsn) != MaxAlign(uint64(lsn)) {
		return fmt.Errorf("WAL segment builder: record at %s is not MAXALIGNed", lsn)
	}
	if hs := b.pageHeaderSize(lsn); uint64(lsn%XLogBlcksz) < hs {
		return fmt.Errorf("WAL segment builder: record at %s lies inside the %d-byte header of page %s", lsn, hs, lsn&^(XLogBlcksz-1))
	}
	if b.buf != nil {
		switch {
		case lsn < b.end:
			return fmt.Errorf("WAL segment builder: record at %s overlaps the previous record %s, which ends at %s", lsn, b.prev, b.end)
		case lsn != b.next:
			return fmt.Errorf("WAL segment builder: record at %s leaves a gap after the previous record %s (ends at %s): the next record must start at %s", lsn, b.prev, b.end, b.next)
		case hdr.Prev != b.prev:
			return fmt.Errorf("WAL segment builder: record at %s has xl_prev %s, but the previous record is at %s", lsn, hdr.Prev, b.prev)
		}
	}

	// The header of the record's own page, unless an earlier record wrote it.
	page := lsn &^ (XLogBlcksz - 1)
	if first := b.buf == nil; first || page >= b.hdrTo {
		if err := b.enter(page); err != nil {
			return err
		}
		var remLen uint32
		if first {
			// First record: whatever precedes it on its page belongs to
			// records we do not have; skip it as a continuation.
			remLen = uint32(uint64(lsn-page) - b.pageHeaderSize(page))
		}
		b.pageHeader(page, remLen)
	}

	pos, rest := lsn, raw
	for len(rest) > 0 {
		if pos%XLogBlcksz == 0 {
			if err := b.enter(pos); err != nil {
				return err
			}
			b.pageHeader(pos, uint32(len(rest)))
			pos += LSN(b.pageHeaderSize(pos))
		}
		off := pos.SegOffset(b.segSize)
		n := copy(b.buf[off:off+uint32(XLogBlcksz-pos%XLogBlcksz)], rest)
		rest = rest[n:]
		pos += LSN(n)
	}
	b.prev = lsn
	b.end = LSN(MaxAlign(uint64(pos)))

	if RmgrID(hdr.Rmid) == RmgrXLOG && hdr.Info&XLRRmgrInfoMask == xlogSwitch {
		// The rest of the segment is dead: PostgreSQL 15 zeroes its pages,
		// headers included, so nothing is written there.
		seg := LSN(b.segSize)
		b.end = (pos + seg - 1) / seg * seg
	}
	b.next = b.recordStartAfter(b.end)
	return nil
}

// enter makes the segment holding lsn the current one, emitting the current
// segment first if it is an earlier one. A new segment starts zero with its
// long header on page 0.
func (b *WALSegmentBuilder) enter(lsn LSN) error {
	seg := uint64(lsn.SegNo(b.segSize))
	if b.buf != nil && seg == b.seg {
		return nil
	}
	if b.buf == nil {
		b.buf = make([]byte, b.segSize)
	} else {
		if err := b.emit(b.seg, b.buf); err != nil {
			return b.fail(fmt.Errorf("WAL segment builder: emit segment %s: %w", XLogFileName(b.tli, XLogSegNo(b.seg), b.segSize), err))
		}
		clear(b.buf)
	}
	b.seg = seg
	b.pageHeader(SegmentStart(XLogSegNo(seg), b.segSize), 0)
	return nil
}

// pageHeader writes the header of the page at page, in the current
// segment; remLen is the continuation of a record that the page starts with.
func (b *WALSegmentBuilder) pageHeader(page LSN, remLen uint32) {
	h := b.buf[page.SegOffset(b.segSize):]
	info := uint16(0)
	if remLen > 0 {
		info |= XLPFirstIsContRecord
	}
	long := page.SegOffset(b.segSize) == 0
	if long {
		info |= XLPLongHeader
	}
	le := binary.LittleEndian
	le.PutUint16(h[0:], XLogPageMagic)
	le.PutUint16(h[2:], info)
	le.PutUint32(h[4:], uint32(b.tli))
	le.PutUint64(h[8:], uint64(page))
	le.PutUint32(h[16:], remLen)
	clear(h[20:SizeOfXLogShortPHD])
	if long {
		le.PutUint64(h[24:], b.sysID)
		le.PutUint32(h[32:], b.segSize)
		le.PutUint32(h[36:], XLogBlcksz)
	}
	if next := page + XLogBlcksz; next > b.hdrTo {
		b.hdrTo = next
	}
}

// Finish emits the last segment, zero after the end of the last record.
// Without any record it emits nothing. The builder accepts no records
// afterwards.
func (b *WALSegmentBuilder) Finish() error {
	if b.frozen != nil {
		return b.frozen
	}
	if b.done {
		return errors.New("WAL segment builder: Finish called twice")
	}
	b.done = true
	if b.buf == nil {
		return nil
	}
	if err := b.emit(b.seg, b.buf); err != nil {
		return b.fail(fmt.Errorf("WAL segment builder: emit segment %s: %w", XLogFileName(b.tli, XLogSegNo(b.seg), b.segSize), err))
	}
	b.buf = nil
	return nil
}
