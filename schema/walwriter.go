package schema

import (
	"encoding/binary"
	"fmt"
)

// BlockSpec describes one block reference for AssembleRecord.
type BlockSpec struct {
	ID       uint8
	Tag      BufferTag
	WillInit bool
	Data     []byte
	// Image, when non-nil, is a full 8 KiB page stored uncompressed; the
	// hole [HoleOffset, HoleOffset+HoleLength) is left out.
	Image      []byte
	HoleOffset uint16
	HoleLength uint16
	Apply      bool
}

// RecordSpec describes a record for AssembleRecord.
type RecordSpec struct {
	Xid         uint32
	Rmgr        RmgrID
	Info        uint8
	Blocks      []BlockSpec
	MainData    []byte
	Origin      *uint16
	ToplevelXid uint32
}

// AssembleRecord lays out a record the way XLogRecordAssemble does (block
// headers, optional origin and top-level xid, main-data header, then the
// payload). xl_prev and xl_crc are filled in by WALWriter.Append. It is
// used to write test WAL and to build records for redo tests.
func AssembleRecord(spec RecordSpec) []byte {
	var hdrs, payload []byte
	var prevRel *RelFileNode
	for i := range spec.Blocks {
		b := &spec.Blocks[i]
		flags := uint8(b.Tag.Fork) & BkpBlockForkMask
		if b.WillInit {
			flags |= BkpBlockWillInit
		}
		if len(b.Data) > 0 {
			flags |= BkpBlockHasData
		}
		if b.Image != nil {
			flags |= BkpBlockHasImage
		}
		sameRel := prevRel != nil && *prevRel == b.Tag.Rel
		if sameRel {
			flags |= BkpBlockSameRel
		}
		hdrs = append(hdrs, b.ID, flags)
		hdrs = binary.LittleEndian.AppendUint16(hdrs, uint16(len(b.Data)))
		if b.Image != nil {
			img := append(append([]byte(nil), b.Image[:b.HoleOffset]...), b.Image[int(b.HoleOffset)+int(b.HoleLength):]...)
			info := uint8(0)
			if b.HoleLength > 0 {
				info |= BkpImageHasHole
			}
			if b.Apply {
				info |= BkpImageApply
			}
			hdrs = binary.LittleEndian.AppendUint16(hdrs, uint16(len(img)))
			hdrs = binary.LittleEndian.AppendUint16(hdrs, b.HoleOffset)
			hdrs = append(hdrs, info)
			payload = append(payload, img...)
		}
		if !sameRel {
			hdrs = binary.LittleEndian.AppendUint32(hdrs, b.Tag.Rel.SpcNode)
			hdrs = binary.LittleEndian.AppendUint32(hdrs, b.Tag.Rel.DbNode)
			hdrs = binary.LittleEndian.AppendUint32(hdrs, b.Tag.Rel.RelNode)
		}
		hdrs = binary.LittleEndian.AppendUint32(hdrs, uint32(b.Tag.Block))
		payload = append(payload, b.Data...)
		rel := b.Tag.Rel
		prevRel = &rel
	}
	if spec.Origin != nil {
		hdrs = append(hdrs, XLRBlockIDOrigin)
		hdrs = binary.LittleEndian.AppendUint16(hdrs, *spec.Origin)
	}
	if spec.ToplevelXid != 0 {
		hdrs = append(hdrs, XLRBlockIDToplevelXid)
		hdrs = binary.LittleEndian.AppendUint32(hdrs, spec.ToplevelXid)
	}
	if n := len(spec.MainData); n > 0 {
		if n <= 255 {
			hdrs = append(hdrs, XLRBlockIDDataShort, uint8(n))
		} else {
			hdrs = append(hdrs, XLRBlockIDDataLong)
			hdrs = binary.LittleEndian.AppendUint32(hdrs, uint32(n))
		}
		payload = append(payload, spec.MainData...)
	}
	rec := make([]byte, SizeOfXLogRecord, SizeOfXLogRecord+len(hdrs)+len(payload))
	rec = append(append(rec, hdrs...), payload...)
	binary.LittleEndian.PutUint32(rec[0:], uint32(len(rec)))
	binary.LittleEndian.PutUint32(rec[4:], spec.Xid)
	rec[16] = spec.Info
	rec[17] = uint8(spec.Rmgr)
	return rec
}

// WALWriter lays records out in WAL pages and segments the way PostgreSQL
// writes them (page headers, continuation records, MAXALIGN, XLOG_SWITCH),
// for tests and fuzzing. It is not used to write real WAL.
type WALWriter struct {
	segSize uint32
	tli     TimeLineID
	sysID   uint64
	start   LSN
	buf     []byte // stream bytes from start
	prev    LSN
}

// NewWALWriter starts a stream at start, which must be a segment boundary.
func NewWALWriter(start LSN, segSize uint32, tli TimeLineID, sysID uint64) (*WALWriter, error) {
	if !ValidWALSegSize(segSize) || start%LSN(segSize) != 0 {
		return nil, fmt.Errorf("WAL writer: start %s is not a boundary of %d-byte segments", start, segSize)
	}
	return &WALWriter{segSize: segSize, tli: tli, sysID: sysID, start: start}, nil
}

// Pos returns the position where the next byte goes.
func (w *WALWriter) Pos() LSN { return w.start + LSN(len(w.buf)) }

// Bytes returns the stream written so far, from the start position.
func (w *WALWriter) Bytes() []byte { return w.buf }

// pageHeader writes the header of the page at the current position;
// remLen is the continuation still to come.
func (w *WALWriter) pageHeader(remLen uint32) {
	pos := w.Pos()
	info := uint16(0)
	if remLen > 0 {
		info |= XLPFirstIsContRecord
	}
	long := pos%LSN(w.segSize) == 0
	if long {
		info |= XLPLongHeader
	}
	h := make([]byte, SizeOfXLogShortPHD, SizeOfXLogLongPHD)
	binary.LittleEndian.PutUint16(h[0:], XLogPageMagic)
	binary.LittleEndian.PutUint16(h[2:], info)
	binary.LittleEndian.PutUint32(h[4:], uint32(w.tli))
	binary.LittleEndian.PutUint64(h[8:], uint64(pos))
	binary.LittleEndian.PutUint32(h[16:], remLen)
	if long {
		h = binary.LittleEndian.AppendUint64(h, w.sysID)
		h = binary.LittleEndian.AppendUint32(h, w.segSize)
		h = binary.LittleEndian.AppendUint32(h, XLogBlcksz)
	}
	w.buf = append(w.buf, h...)
}

// Append writes rec (from AssembleRecord), setting xl_prev and the CRC, and
// returns its start and end (EndRecPtr).
func (w *WALWriter) Append(rec []byte) (start, end LSN) {
	rec = append([]byte(nil), rec...)
	binary.LittleEndian.PutUint64(rec[8:], uint64(w.prev))
	binary.LittleEndian.PutUint32(rec[20:], RecordCRC(rec))
	if w.Pos()%XLogBlcksz == 0 {
		w.pageHeader(0)
	}
	start = w.Pos()
	rest := rec
	for len(rest) > 0 {
		if w.Pos()%XLogBlcksz == 0 {
			w.pageHeader(uint32(len(rest)))
		}
		room := int(XLogBlcksz - w.Pos()%XLogBlcksz)
		n := min(room, len(rest))
		w.buf = append(w.buf, rest[:n]...)
		rest = rest[n:]
	}
	w.prev = start
	w.pad(LSN(MaxAlign(uint64(w.Pos()))))
	return start, w.Pos()
}

// Switch writes an XLOG_SWITCH record and zero-fills the rest of the
// segment, as PostgreSQL does.
func (w *WALWriter) Switch() (start, end LSN) {
	start, _ = w.Append(AssembleRecord(RecordSpec{Rmgr: RmgrXLOG, Info: xlogSwitch}))
	seg := LSN(w.segSize)
	w.pad((w.Pos() + seg - 1) / seg * seg)
	return start, w.Pos()
}

func (w *WALWriter) pad(to LSN) {
	for w.Pos() < to {
		w.buf = append(w.buf, 0)
	}
}

// CheckpointRecord is an XLOG checkpoint record carrying cp, as
// CreateCheckPoint writes it (XLOG_CHECKPOINT_SHUTDOWN when shutdown, else
// XLOG_CHECKPOINT_ONLINE; the CheckPoint as short main data), with xl_prev
// and the CRC set.
func CheckpointRecord(cp CheckPoint, shutdown bool, prev LSN) []byte {
	info := XLogCheckpointOnline
	if shutdown {
		info = XLogCheckpointShutdown
	}
	rec := AssembleRecord(RecordSpec{Rmgr: RmgrXLOG, Info: info, MainData: cp.Append(nil)})
	binary.LittleEndian.PutUint64(rec[8:], uint64(prev))
	binary.LittleEndian.PutUint32(rec[20:], RecordCRC(rec))
	return rec
}

// CheckpointPosition is where a record written after the WAL position
// after starts: MAXALIGNed, and past the header of its page when that
// would cover it.
func CheckpointPosition(after LSN, segSize uint32) LSN {
	p := LSN(MaxAlign(uint64(after)))
	hdr := LSN(SizeOfXLogShortPHD)
	if p.SegOffset(segSize) < XLogBlcksz {
		hdr = SizeOfXLogLongPHD
	}
	if off := p % XLogBlcksz; off < hdr {
		p += hdr - off
	}
	return p
}

// WriteShutdownCheckpoint writes the WAL of a cluster shut down cleanly
// at the position after: one shutdown checkpoint record at
// CheckpointPosition(after), whose redo point is itself, in segments of
// segSize bytes on timeline tli of system sysID, as pg_resetwal writes its
// single record (but at any position, not only a segment's start). The
// bytes of the segment before the record are zero except the segment's
// long page header and the header of the record's page, which says the
// space before the record continues an earlier record (see
// WALSegmentBuilder). cp.Redo is set to the record's position; the other
// fields are the caller's. emit receives each segment (one, or two when the
// record crosses a segment boundary). It returns the record's position and
// end.
func WriteShutdownCheckpoint(after LSN, segSize uint32, tli TimeLineID, sysID uint64, cp CheckPoint,
	emit func(segNo uint64, data []byte) error) (at, end LSN, err error) {
	if !ValidWALSegSize(segSize) {
		return 0, 0, fmt.Errorf("shutdown checkpoint: invalid WAL segment size %d", segSize)
	}
	at = CheckpointPosition(after, segSize)
	cp.Redo = at
	b, err := NewWALSegmentBuilder(segSize, tli, sysID, emit)
	if err != nil {
		return 0, 0, err
	}
	if err := b.Add(at, CheckpointRecord(cp, true, 0)); err != nil {
		return 0, 0, fmt.Errorf("shutdown checkpoint at %s: %w", at, err)
	}
	end = b.EndLSN()
	if err := b.Finish(); err != nil {
		return 0, 0, err
	}
	return at, end, nil
}
