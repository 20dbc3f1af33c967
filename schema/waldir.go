package schema

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
)

// DirOptions configures reading WAL segment files from a directory.
type DirOptions struct {
	Start LSN // first record at or after this position (required)
	End   LSN // stop before the first record that ends after End; 0 = read to the end of WAL
	// Timeline selects segment files; zero picks the highest timeline that
	// has a file for Start's segment.
	Timeline TimeLineID
}

// DirReader reads records from WAL segment files in one directory, as
// pg_waldump -p DIR -s START -e END does: only bytes before End are read, so
// a record is returned only if it ends at or before End.
type DirReader struct {
	dir     string
	end     LSN
	segSize uint32
	tli     TimeLineID
	r       *StreamReader
	next    LSN // next position to feed
	f       *os.File
	fileEnd LSN
	chunk   []byte
}

// OpenWALDir prepares to read records from dir.
func OpenWALDir(dir string, opts DirOptions) (*DirReader, error) {
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
			if _, err := os.Stat(filepath.Join(dir, XLogFileName(t, seg, segSize))); err == nil && t > tli {
				tli = t
			}
		}
		if tli == 0 {
			return nil, fmt.Errorf("no WAL segment for start %s in %s", opts.Start, dir)
		}
	}
	pageStart := opts.Start &^ (XLogBlcksz - 1)
	r, err := NewStreamReader(ReaderOptions{StartLSN: pageStart, FirstRecord: opts.Start, SegSize: segSize, Timeline: tli})
	if err != nil {
		return nil, err
	}
	return &DirReader{dir: dir, end: opts.End, segSize: segSize, tli: tli, r: r, next: pageStart, chunk: make([]byte, 1<<20)}, nil
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
		f, err := os.Open(filepath.Join(d.dir, name))
		if errors.Is(err, os.ErrNotExist) {
			return &WALError{Kind: ErrEndOfWAL, LSN: d.next, Segment: name, Offset: d.next.SegOffset(d.segSize), Reason: "could not find file " + name}
		}
		if err != nil {
			return fmt.Errorf("open WAL segment: %w", err)
		}
		d.f = f
		d.fileEnd = SegmentStart(seg+1, d.segSize)
	}
	n := uint64(len(d.chunk))
	n = min(n, uint64(d.fileEnd-d.next))
	if d.end != 0 {
		n = min(n, uint64(d.end-d.next))
	}
	off := int64(d.next.SegOffset(d.segSize))
	got, err := d.f.ReadAt(d.chunk[:n], off)
	if got == 0 && err != nil {
		if err == io.EOF {
			return &WALError{Kind: ErrEndOfWAL, LSN: d.next, Segment: filepath.Base(d.f.Name()), Offset: uint32(off), Reason: "segment file is short"}
		}
		return fmt.Errorf("read WAL segment %s at offset %d: %w", d.f.Name(), off, err)
	}
	d.r.Write(d.chunk[:got])
	d.next += LSN(got)
	return nil
}

// scanWALDir finds the segment size (from the first segment's long page
// header) and the timelines present in dir.
func scanWALDir(dir string) (uint32, map[TimeLineID]bool, error) {
	entries, err := os.ReadDir(dir)
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
		return 0, nil, fmt.Errorf("no WAL segment files in %s", dir)
	}
	sort.Strings(names)
	f, err := os.Open(filepath.Join(dir, names[0]))
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
