package schema

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"sort"
)

// DirOptions configures reading WAL segment files from a directory.
type DirOptions struct {
	Start LSN // first record at or after this position (required)
	End   LSN // stop before the first record that ends after End; 0 = read to the end of WAL
	// Timeline selects segment files; zero picks the highest timeline that
	// has a file for Start's segment.
	Timeline TimeLineID
	// ReuseRecords: a record Next returns is valid only until the next
	// call to Next (see ReaderOptions.ReuseRecords); the files are then
	// read straight into the reader's reused buffer.
	ReuseRecords bool
}

// DirReader reads records from WAL segment files in one directory, as
// pg_waldump -p DIR -s START -e END does: only bytes before End are read, so
// a record is returned only if it ends at or before End. The directory is
// an fs.FS the caller opens (os.DirFS), so schema itself does no I/O.
type DirReader struct {
	dir     fs.FS
	end     LSN
	segSize uint32
	tli     TimeLineID
	r       *StreamReader
	next    LSN // next position to feed
	f       fs.File
	fname   string
	fpos    int64 // read position in f
	fileEnd LSN
	chunk   []byte // what is read, before the reader copies it; nil with ReuseRecords
}

// dirChunk is how much of a segment file DirReader reads at a time.
const dirChunk = 1 << 20

// OpenWALDir prepares to read records from the segment files at the top of
// dir (for a directory on disk: os.DirFS(path)).
func OpenWALDir(dir fs.FS, opts DirOptions) (*DirReader, error) {
	if opts.End != 0 && opts.End < opts.Start {
		return nil, fmt.Errorf("end %s is before start %s", opts.End, opts.Start)
	}
	segSize, tlis, err := scanWALDir(dir)
	if err != nil {
		return nil, err
	}
	seg := opts.Start.SegNo(segSize)
	tli := opts.Timeline
	if tli == 0 {
		for t := range tlis {
			if _, err := fs.Stat(dir, XLogFileName(t, seg, segSize)); err == nil && t > tli {
				tli = t
			}
		}
		if tli == 0 {
			return nil, fmt.Errorf("no WAL segment for start %s in the WAL directory", opts.Start)
		}
	}
	pageStart := opts.Start &^ (XLogBlcksz - 1)
	r, err := NewStreamReader(ReaderOptions{StartLSN: pageStart, FirstRecord: opts.Start, SegSize: segSize, Timeline: tli, ReuseRecords: opts.ReuseRecords})
	if err != nil {
		return nil, err
	}
	d := &DirReader{dir: dir, end: opts.End, segSize: segSize, tli: tli, r: r, next: pageStart}
	if !opts.ReuseRecords {
		d.chunk = make([]byte, dirChunk)
	}
	return d, nil
}

// SegSize is the segment size read from the files.
func (d *DirReader) SegSize() uint32 { return d.segSize }

// Timeline is the timeline whose files are read.
func (d *DirReader) Timeline() TimeLineID { return d.tli }

// Close releases the open file.
func (d *DirReader) Close() error {
	if d.f != nil {
		err := d.f.Close()
		d.f = nil
		return err
	}
	return nil
}

// Next returns the next record, io.EOF once End is reached, or an error; a
// *WALError matching ErrEndOfWAL when the WAL ends before End.
func (d *DirReader) Next() (*DecodedRecord, error) {
	for {
		rec, err := d.r.Next()
		if !errors.Is(err, ErrNeedMoreData) {
			return rec, err
		}
		if d.end != 0 && d.next >= d.end {
			return nil, io.EOF
		}
		if err := d.feed(); err != nil {
			return nil, err
		}
	}
}

// feed writes the next chunk of the current segment file to the reader.
func (d *DirReader) feed() error {
	if d.f == nil || d.next >= d.fileEnd {
		if d.f != nil {
			d.f.Close()
			d.f = nil
		}
		seg := d.next.SegNo(d.segSize)
		name := XLogFileName(d.tli, seg, d.segSize)
		f, err := d.dir.Open(name)
		if errors.Is(err, fs.ErrNotExist) {
			return &WALError{Kind: ErrEndOfWAL, LSN: d.next, Segment: name, Offset: d.next.SegOffset(d.segSize), Reason: "could not find file " + name}
		}
		if err != nil {
			return fmt.Errorf("open WAL segment: %w", err)
		}
		d.f, d.fname, d.fpos = f, name, 0
		d.fileEnd = SegmentStart(seg+1, d.segSize)
	}
	n := uint64(dirChunk)
	n = min(n, uint64(d.fileEnd-d.next))
	if d.end != 0 {
		n = min(n, uint64(d.end-d.next))
	}
	off := int64(d.next.SegOffset(d.segSize))
	// With ReuseRecords the file is read straight into the reader's
	// buffer; otherwise into chunk, which Write copies.
	buf := d.chunk
	if buf == nil {
		buf = d.r.space(int(n))
	}
	got, err := d.readAt(buf[:n], off)
	if got == 0 && err != nil {
		if err == io.EOF {
			return &WALError{Kind: ErrEndOfWAL, LSN: d.next, Segment: d.fname, Offset: uint32(off), Reason: "segment file is short"}
		}
		return fmt.Errorf("read WAL segment %s at offset %d: %w", d.fname, off, err)
	}
	if d.chunk == nil {
		d.r.wrote(got)
	} else {
		d.r.Write(d.chunk[:got])
	}
	d.next += LSN(got)
	return nil
}

// readAt reads at off: with ReadAt when the file has it (files on disk do),
// otherwise by seeking.
func (d *DirReader) readAt(b []byte, off int64) (int, error) {
	if ra, ok := d.f.(io.ReaderAt); ok {
		return ra.ReadAt(b, off)
	}
	if d.fpos != off {
		s, ok := d.f.(io.Seeker)
		if !ok {
			return 0, fmt.Errorf("WAL segment %s: cannot read at offset %d (file is not seekable)", d.fname, off)
		}
		if _, err := s.Seek(off, io.SeekStart); err != nil {
			return 0, err
		}
		d.fpos = off
	}
	n, err := io.ReadFull(d.f, b)
	d.fpos += int64(n)
	if err == io.ErrUnexpectedEOF {
		err = io.EOF
	}
	return n, err
}

// scanWALDir finds the segment size (from the first segment's long page
// header) and the timelines present in dir.
func scanWALDir(dir fs.FS) (uint32, map[TimeLineID]bool, error) {
	entries, err := fs.ReadDir(dir, ".")
	if err != nil {
		return 0, nil, fmt.Errorf("read WAL directory: %w", err)
	}
	var names []string
	for _, e := range entries {
		if isSegmentName(e.Name()) && e.Type().IsRegular() {
			names = append(names, e.Name())
		}
	}
	if len(names) == 0 {
		return 0, nil, errors.New("no WAL segment files in the WAL directory")
	}
	sort.Strings(names)
	f, err := dir.Open(names[0])
	if err != nil {
		return 0, nil, fmt.Errorf("read WAL segment: %w", err)
	}
	defer f.Close()
	var hdr [SizeOfXLogLongPHD]byte
	if _, err := io.ReadFull(f, hdr[:]); err != nil {
		return 0, nil, fmt.Errorf("read long page header of %s: %w", names[0], err)
	}
	h, _ := ParseXLogPageHeader(hdr[:])
	if h.Magic != XLogPageMagic || !h.IsLong() || !ValidWALSegSize(h.SegSize) {
		return 0, nil, fmt.Errorf("WAL segment %s: no valid PostgreSQL 15 long page header (magic %04X, info %04X, segment size %d)", names[0], h.Magic, h.Info, h.SegSize)
	}
	tlis := map[TimeLineID]bool{}
	for _, n := range names {
		if tli, _, err := ParseXLogFileName(n, h.SegSize); err == nil {
			tlis[tli] = true
		}
	}
	return h.SegSize, tlis, nil
}

func isSegmentName(s string) bool {
	if len(s) != XLogFileNameLength {
		return false
	}
	for _, c := range []byte(s) {
		if !('0' <= c && c <= '9' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}
