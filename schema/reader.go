package schema

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
)

// ErrNeedMoreData is returned by StreamReader.Next when the bytes written so
// far end inside a page header or a record: write more and call Next again.
var ErrNeedMoreData = errors.New("need more WAL data")

// maxRecordSize bounds xl_tot_len so a corrupt length cannot make the reader
// gather gigabytes before the CRC check fails (XLogRecordMaxSize, 1020 MB).
const maxRecordSize = 1020 * 1024 * 1024

// ReaderOptions configures a StreamReader.
type ReaderOptions struct {
	// StartLSN is the position of the first byte written; it must be at a
	// page boundary. If the page begins with the tail of an earlier record,
	// that tail is skipped.
	StartLSN LSN
	// FirstRecord: records that start before it are read and checked but
	// not returned (pg_waldump's --start). Zero means StartLSN.
	FirstRecord LSN
	// SegSize is the WAL segment size; zero learns it from the first long
	// page header, which needs StartLSN at a segment boundary.
	SegSize uint32
	// SystemID, when non-zero, must match every long page header; zero
	// learns it from the first one.
	SystemID uint64
	// Timeline is the timeline being read (of the segment files, or the one
	// streamed): no page may carry a later one. Zero accepts any.
	Timeline TimeLineID
	// ReuseRecords is for callers that are done with each record before
	// they read the next (serial redo, scans): a record returned by Next,
	// and every byte it aliases, is valid only until the next call to
	// Next or Write, which reuse its memory. Reading then costs no
	// allocation per record; the input buffer is reused too.
	ReuseRecords bool
}

// StreamReader turns a contiguous byte stream of WAL (segment files read in
// order, or XLogData from physical replication) into verified, decoded
// records, like PostgreSQL's xlogreader. It does no I/O: callers Write
// bytes and pull records with Next. After an error it returns the same error
// forever; no record at or after a failed check is ever returned.
//
// Records returned by Next own their memory (they are carved from buffers
// shared with neighbouring records: the copy Write makes of the input, or
// a slab for records that span pages) and stay valid after later calls,
// unless ReaderOptions.ReuseRecords says otherwise.
type StreamReader struct {
	opts     ReaderOptions
	segSize  uint32
	sysID    uint64
	tli      TimeLineID
	havePage bool // a page header has been seen (for the TLI order check)

	buf    []byte // unconsumed input; buf[0] is at position pos
	pos    LSN    // stream position of buf[0]
	skipTo LSN    // consume raw bytes up to here (alignment, XLOG_SWITCH tail)

	synced      bool   // past the continuation tail of the first page
	skipContRem uint32 // bytes of a foreign continuation left to skip

	inRecord  bool
	recStart  LSN
	recTotal  uint32
	recHdrOK  bool
	asm       []byte // gathered bytes of a record that spans pages
	asmOwned  bool   // asm is the record's own memory (cap xl_tot_len)
	prevStart LSN    // start of the previous record; 0 before the first

	// overwritten is the start of a record abandoned at a page flagged
	// XLP_FIRST_IS_OVERWRITE_CONTRECORD, and overwritePage that page: the
	// next record must be the OVERWRITE_CONTRECORD naming it.
	overwritten   LSN
	overwritePage LSN

	err error

	slab []byte
	recs RecordSlab

	// With ReuseRecords: the one record Next hands out, its blocks, and
	// the whole input buffer (buf is a window of it).
	reuseRec    DecodedRecord
	reuseBlocks [XLRMaxBlockID + 1]DecodedBkpBlock
	base        []byte
}

// NewStreamReader returns a reader expecting its first byte at opts.StartLSN.
func NewStreamReader(opts ReaderOptions) (*StreamReader, error) {
	if opts.StartLSN%XLogBlcksz != 0 {
		return nil, fmt.Errorf("WAL reader: start %s is not at a page boundary", opts.StartLSN)
	}
	if opts.SegSize != 0 && !ValidWALSegSize(opts.SegSize) {
		return nil, fmt.Errorf("WAL reader: invalid segment size %d", opts.SegSize)
	}
	if opts.FirstRecord == 0 {
		opts.FirstRecord = opts.StartLSN
	}
	return &StreamReader{
		opts:    opts,
		segSize: opts.SegSize,
		sysID:   opts.SystemID,
		tli:     opts.Timeline,
		pos:     opts.StartLSN,
		skipTo:  opts.StartLSN,
	}, nil
}

// Write appends the next bytes of the stream. It copies p; records that
// lie within one page are then carved from that copy (the input is copied
// once), so the copy's memory lives as long as such a record does.
func (r *StreamReader) Write(p []byte) {
	if r.opts.ReuseRecords {
		r.wrote(copy(r.space(len(p)), p))
		return
	}
	if len(p) <= cap(r.buf)-len(r.buf) {
		// Past len(r.buf) nothing has been handed out.
		r.buf = appendCached(r.buf, p)
		return
	}
	n := len(r.buf) + len(p)
	if n < minInputBuf {
		// Small writes (streaming) share a buffer with room for the
		// next ones.
		nb := make([]byte, 0, minInputBuf)
		r.buf = appendCached(appendCached(nb, r.buf), p)
		return
	}
	// A new array of the size needed for what is left and p. bytes.Join
	// allocates it without zeroing it first and copies its pieces one
	// by one, each a cached copy (see appendCached).
	var pieceBuf [16][]byte
	pieces := append(pieceBuf[:0], r.buf)
	for len(p) > cachedPiece {
		pieces = append(pieces, p[:cachedPiece])
		p = p[cachedPiece:]
	}
	pieces = append(pieces, p)
	r.buf = bytes.Join(pieces, nil)
}

// space returns room for n more bytes of input right after the unconsumed
// ones, in the reused input buffer (ReuseRecords): r.buf[len(r.buf):][:n].
// The unconsumed bytes move to the front of the buffer first; nothing
// handed out is alive then.
func (r *StreamReader) space(n int) []byte {
	left := len(r.buf)
	if left+n > cap(r.base) {
		nb := make([]byte, max(left+n, minInputBuf, 2*cap(r.base)))
		r.base = nb[:0]
	}
	r.buf = r.base[:copy(r.base[:cap(r.base)], r.buf)]
	return r.base[left : left+n]
}

// wrote adds the n bytes written into space to the input.
func (r *StreamReader) wrote(n int) { r.buf = r.buf[:len(r.buf)+n] }

// appendCached is append(dst, p...) in pieces: Go's memmove writes copies
// of 1 MiB or more with non-temporal stores, past the caches, and the
// reader reads every byte it copies right afterwards.
func appendCached(dst, p []byte) []byte {
	for len(p) > cachedPiece {
		dst = append(dst, p[:cachedPiece]...)
		p = p[cachedPiece:]
	}
	return append(dst, p...)
}

// cachedPiece is the largest copy appendCached makes at once.
const cachedPiece = 256 << 10

// minInputBuf is the smallest input buffer Write allocates.
const minInputBuf = 256 << 10

// Pos returns the stream position up to which input has been consumed.
func (r *StreamReader) Pos() LSN { return r.pos }

// Buffered returns how many written bytes are not consumed yet.
func (r *StreamReader) Buffered() int { return len(r.buf) }

// SegSize returns the segment size, 0 until known.
func (r *StreamReader) SegSize() uint32 { return r.segSize }

// SystemID returns the system identifier, 0 until a long header was read.
func (r *StreamReader) SystemID() uint64 { return r.sysID }

// Timeline returns the timeline of the latest page header read.
func (r *StreamReader) Timeline() TimeLineID { return r.tli }

// InRecord reports whether the reader holds part of a record; then
// RecordStart is where it begins. A caller that must resume later from a
// record boundary resumes at RecordStart's page.
func (r *StreamReader) InRecord() bool { return r.inRecord }

// RecordStart is the start of the partially read record, if any.
func (r *StreamReader) RecordStart() LSN { return r.recStart }

// consume drops n bytes of input.
func (r *StreamReader) consume(n int) {
	r.buf = r.buf[n:]
	r.pos += LSN(n)
	if len(r.buf) == 0 && cap(r.buf) > 1<<20 && !r.opts.ReuseRecords {
		r.buf = nil // release a buffer grown by one huge write
	}
}

func (r *StreamReader) fail(kind error, at LSN, format string, args ...any) error {
	reason := fmt.Sprintf(format, args...)
	if r.overwritten != 0 && at != r.overwritePage {
		// Whatever went wrong after an overwrite flag, the flag itself is
		// the first suspect: report at its page.
		kind, at = ErrCorrupt, r.overwritePage
		reason = fmt.Sprintf("page flagged XLP_FIRST_IS_OVERWRITE_CONTRECORD (dropping the record at %s) is not followed by a valid OVERWRITE_CONTRECORD record: %s", r.overwritten, reason)
	}
	e := &WALError{Kind: kind, LSN: at, Reason: reason}
	if r.segSize != 0 {
		e.Segment = XLogFileName(r.tli, at.SegNo(r.segSize), r.segSize)
		e.Offset = at.SegOffset(r.segSize)
	}
	r.err = e
	return e
}

// Next returns the next record, ErrNeedMoreData, or a *WALError (matching
// ErrEndOfWAL or ErrCorrupt).
func (r *StreamReader) Next() (*DecodedRecord, error) {
	for {
		rec, err := r.next()
		if err != nil || rec.LSN >= r.opts.FirstRecord {
			return rec, err
		}
	}
}

func (r *StreamReader) next() (*DecodedRecord, error) {
	if r.err != nil {
		return nil, r.err
	}
	for {
		if r.pos < r.skipTo {
			if len(r.buf) == 0 {
				return nil, ErrNeedMoreData
			}
			n := min(uint64(len(r.buf)), uint64(r.skipTo-r.pos))
			r.consume(int(n))
			continue
		}
		if r.pos%XLogBlcksz == 0 {
			if err := r.readPageHeader(); err != nil {
				return nil, err
			}
			continue
		}
		if len(r.buf) == 0 {
			return nil, ErrNeedMoreData
		}
		pageLeft := int(XLogBlcksz - r.pos%XLogBlcksz)

		if r.skipContRem > 0 {
			n := min(len(r.buf), pageLeft, int(r.skipContRem))
			r.consume(n)
			r.skipContRem -= uint32(n)
			if r.skipContRem == 0 {
				r.synced = true
				r.skipTo = LSN(MaxAlign(uint64(r.pos)))
			}
			continue
		}

		if !r.inRecord {
			if len(r.buf) < 4 {
				return nil, ErrNeedMoreData
			}
			tot := binary.LittleEndian.Uint32(r.buf)
			if tot == 0 {
				return nil, r.fail(ErrEndOfWAL, r.pos, "invalid record length: wanted %d, got 0", SizeOfXLogRecord)
			}
			if tot < SizeOfXLogRecord {
				return nil, r.fail(ErrCorrupt, r.pos, "invalid record length: wanted %d, got %d", SizeOfXLogRecord, tot)
			}
			if tot > maxRecordSize {
				return nil, r.fail(ErrCorrupt, r.pos, "record length %d exceeds the maximum %d", tot, maxRecordSize)
			}
			r.inRecord, r.recStart, r.recTotal, r.recHdrOK = true, r.pos, tot, false
			// Fast path: the whole record is on this page and buffered;
			// it keeps the bytes Write copied.
			if int(tot) <= pageLeft && int(tot) <= len(r.buf) {
				raw := r.buf[:tot:tot]
				r.consume(int(tot))
				return r.finish(raw)
			}
			if r.opts.ReuseRecords {
				// Gather into the buffer the previous such record used.
				r.asm, r.asmOwned = r.asm[:0], false
			} else if tot <= maxGatherPrealloc {
				// Gather straight into the record's own memory.
				r.asm, r.asmOwned = r.alloc(int(tot))[:0], true
			} else {
				// Grow as the bytes come (a corrupt length costs nothing
				// until they do), then copy.
				r.asm, r.asmOwned = r.asm[:0], false
			}
		}

		need := int(r.recTotal) - len(r.asm)
		n := min(len(r.buf), pageLeft, need)
		r.asm = append(r.asm, r.buf[:n]...)
		r.consume(n)
		if !r.recHdrOK && len(r.asm) >= SizeOfXLogRecord {
			if err := r.checkHeader(r.asm); err != nil {
				return nil, err
			}
			r.recHdrOK = true
		}
		if len(r.asm) == int(r.recTotal) {
			raw := r.asm
			if r.asmOwned {
				r.asm, r.asmOwned = nil, false
			} else if r.opts.ReuseRecords {
				raw = raw[:len(raw):len(raw)]
				if cap(r.asm) > 1<<20 {
					r.asm = nil // the record keeps it until the next call
				}
			} else {
				raw = r.alloc(len(r.asm))
				copy(raw, r.asm)
				if cap(r.asm) > 1<<20 {
					r.asm = nil
				}
			}
			return r.finish(raw)
		}
	}
}

// checkHeader is ValidXLogRecordHeader: rmgr id and prev-link. b holds at
// least the header.
func (r *StreamReader) checkHeader(b []byte) error {
	rmid := b[17]
	prev := LSN(binary.LittleEndian.Uint64(b[8:16]))
	if !RmgrID(rmid).Valid() {
		return r.fail(ErrCorrupt, r.recStart, "invalid resource manager ID %d", rmid)
	}
	if r.prevStart == 0 {
		if prev >= r.recStart {
			return r.fail(ErrCorrupt, r.recStart, "record with incorrect prev-link %s", prev)
		}
	} else if prev != r.prevStart {
		return r.fail(ErrCorrupt, r.recStart, "record with incorrect prev-link %s, want %s", prev, r.prevStart)
	}
	return nil
}

// finish verifies and decodes a gathered record and positions the reader
// after it.
func (r *StreamReader) finish(raw []byte) (*DecodedRecord, error) {
	r.inRecord = false
	if !r.recHdrOK {
		if err := r.checkHeader(raw); err != nil {
			return nil, err
		}
	}
	end := LSN(MaxAlign(uint64(r.pos)))
	if RmgrID(raw[17]) == RmgrXLOG && raw[16]&XLRRmgrInfoMask == xlogSwitch {
		// The rest of the segment is dead; the next record starts at the
		// next segment (XLogDecodeNextRecord does the same).
		seg := uint64(r.segSize)
		end = LSN((uint64(r.pos) + seg - 1) / seg * seg)
	}
	rec, blocks := r.newRecord()
	if err := decodeRecord(rec, raw, r.recStart, end, blocks, true); err != nil {
		var de *DecodeError
		reason := err.Error()
		if errors.As(err, &de) {
			reason = de.Reason
		}
		return nil, r.fail(ErrCorrupt, r.recStart, "%s", reason)
	}
	if r.overwritten != 0 {
		// Only a genuine XLOG_OVERWRITE_CONTRECORD for the dropped record
		// may follow the flag; anything else means the flag is damage.
		md := rec.MainData
		if rec.Rmgr() != RmgrXLOG || rec.Info()&XLRRmgrInfoMask != xlogOverwriteContRecord ||
			len(md) < 8 || LSN(binary.LittleEndian.Uint64(md)) != r.overwritten {
			return nil, r.fail(ErrCorrupt, r.overwritePage, "page flagged XLP_FIRST_IS_OVERWRITE_CONTRECORD, but the record after it (%s) does not overwrite the record at %s", rec.LSN, r.overwritten)
		}
		r.overwritten = 0
	}
	if !r.opts.ReuseRecords {
		r.recs.used(len(rec.Blocks))
	}
	r.prevStart = r.recStart
	r.skipTo = end
	return rec, nil
}

const (
	xlogSwitch              = 0x40 // XLOG_SWITCH
	xlogOverwriteContRecord = 0xD0 // XLOG_OVERWRITE_CONTRECORD
)

// readPageHeader validates the header of the page starting at r.pos
// (XLogReaderValidatePageHeader plus the continuation checks of
// XLogDecodeNextRecord) and consumes it.
func (r *StreamReader) readPageHeader() error {
	if len(r.buf) < SizeOfXLogShortPHD {
		return ErrNeedMoreData
	}
	h, ok := ParseXLogPageHeader(r.buf)
	if !ok {
		return ErrNeedMoreData
	}
	at := r.pos
	if h.Magic != XLogPageMagic {
		if h.Magic == 0 && h.Info == 0 && h.PageAddr == 0 {
			return r.fail(ErrEndOfWAL, at, "zeroed page")
		}
		return r.fail(ErrCorrupt, at, "invalid magic number %04X", h.Magic)
	}
	if h.Info&^XLPAllFlags != 0 {
		return r.fail(ErrCorrupt, at, "invalid info bits %04X", h.Info)
	}
	segStart := r.segSize != 0 && at%LSN(r.segSize) == 0
	if h.IsLong() {
		if r.segSize == 0 {
			if !ValidWALSegSize(h.SegSize) {
				return r.fail(ErrCorrupt, at, "invalid segment size %d in long page header", h.SegSize)
			}
			r.segSize = h.SegSize
			segStart = at%LSN(r.segSize) == 0
		}
		switch {
		case r.sysID != 0 && h.SysID != r.sysID:
			return r.fail(ErrCorrupt, at, "WAL file is from different database system: WAL file database system identifier is %d, expected %d", h.SysID, r.sysID)
		case h.SegSize != r.segSize:
			return r.fail(ErrCorrupt, at, "WAL file is from different database system: segment size %d in page header, expected %d", h.SegSize, r.segSize)
		case h.XLogBlcksz != XLogBlcksz:
			return r.fail(ErrCorrupt, at, "WAL file is from different database system: XLOG_BLCKSZ %d in page header", h.XLogBlcksz)
		case !segStart:
			return r.fail(ErrCorrupt, at, "long page header in the middle of a segment")
		}
		if r.sysID == 0 {
			r.sysID = h.SysID
		}
		if len(r.buf) < SizeOfXLogLongPHD {
			return ErrNeedMoreData
		}
	} else if segStart {
		return r.fail(ErrCorrupt, at, "invalid info bits %04X: first page of a segment lacks the long header", h.Info)
	} else if r.segSize == 0 {
		return r.fail(ErrCorrupt, at, "cannot learn the segment size: the stream does not start at a segment")
	}
	if h.PageAddr != at {
		// A recycled segment still holds its old pages: the end of WAL.
		return r.fail(ErrEndOfWAL, at, "unexpected pageaddr %s", h.PageAddr)
	}
	if r.opts.Timeline != 0 && h.TLI > r.opts.Timeline {
		return r.fail(ErrCorrupt, at, "page timeline %d is beyond the stream's timeline %d", h.TLI, r.opts.Timeline)
	}
	if r.havePage && h.TLI < r.tli {
		return r.fail(ErrCorrupt, at, "out-of-sequence timeline ID %d (after %d)", h.TLI, r.tli)
	}
	r.tli, r.havePage = h.TLI, true

	cont := h.Info&XLPFirstIsContRecord != 0
	switch {
	case !r.synced:
		r.consume(h.Size())
		if cont && h.RemLen > 0 {
			r.skipContRem = h.RemLen
		} else {
			r.synced = true
		}
		return nil
	case r.skipContRem > 0:
		if !cont || h.RemLen != r.skipContRem {
			return r.fail(ErrCorrupt, at, "invalid contrecord length %d, expected %d", h.RemLen, r.skipContRem)
		}
	case r.inRecord:
		if h.Info&XLPFirstIsOverwriteContRecord != 0 {
			// The record being read was abandoned by a crash; a new one
			// (OVERWRITE_CONTRECORD) starts here. Drop what we gathered.
			r.overwritten, r.overwritePage = r.recStart, at
			r.inRecord = false
			r.asm = r.asm[:0]
			if r.asmOwned {
				r.asm, r.asmOwned = nil, false
			}
			break
		}
		if !cont {
			return r.fail(ErrCorrupt, r.recStart, "there is no contrecord flag on page %s, where the record should continue", at)
		}
		if h.RemLen == 0 || h.RemLen != r.recTotal-uint32(len(r.asm)) {
			return r.fail(ErrCorrupt, r.recStart, "invalid contrecord length %d on page %s, expected %d", h.RemLen, at, r.recTotal-uint32(len(r.asm)))
		}
	case cont:
		return r.fail(ErrCorrupt, at, "contrecord is requested by %s", r.prevStart)
	}
	r.consume(h.Size())
	return nil
}

// maxGatherPrealloc: a record spanning pages up to this long gets its
// memory when it starts.
const maxGatherPrealloc = 1 << 20

// alloc carves n bytes from a shared slab so most records cost no
// allocation of their own; large records get their own buffer.
func (r *StreamReader) alloc(n int) []byte {
	const slabSize = 256 << 10
	if n > slabSize/8 {
		return make([]byte, n)
	}
	if len(r.slab) < n {
		r.slab = make([]byte, slabSize)
	}
	b := r.slab[:n:n]
	r.slab = r.slab[n:]
	return b
}

func (r *StreamReader) newRecord() (*DecodedRecord, []DecodedBkpBlock) {
	if r.opts.ReuseRecords {
		return &r.reuseRec, r.reuseBlocks[:0]
	}
	// Room for every possible block; decodeRecord appends within it, and
	// finish hands the unused tail to the next record.
	return r.recs.next()
}
