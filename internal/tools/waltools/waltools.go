// Package waltools is what the generators of WAL test data
// (internal/tools/mkwaltestdata, internal/tools/mkredotestdata) share: a
// quiet scratch cluster with 1 MiB segments, a range of WAL that starts at a
// fresh segment and ends with the last flushed record, the range's segments
// cut at its end, and gzip.
package waltools

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"

	"github.com/pagemill/pagemill/internal/pgtest"
	"github.com/pagemill/pagemill/schema"
)

// NewCluster starts a scratch cluster with opts, 1 MiB segments and nothing
// but the workload writing WAL: no autovacuum, no timed checkpoint in the
// middle. extraConf is added to those settings; verbose logs the cluster's
// progress. The caller closes the cluster with Close.
func NewCluster(ctx context.Context, opts pgtest.Options, extraConf map[string]string, verbose bool) (*pgtest.Cluster, error) {
	opts.WALSegSizeMB = 1
	opts.ExtraConf = map[string]string{
		"autovacuum":         "off",
		"checkpoint_timeout": "1h",
		"max_wal_size":       "1GB",
	}
	for k, v := range extraConf {
		opts.ExtraConf[k] = v
	}
	if verbose {
		opts.Logf = log.Printf
	}
	return pgtest.New(ctx, opts)
}

// Close stops the cluster and logs what went wrong.
func Close(c *pgtest.Cluster) {
	if err := c.Close(); err != nil {
		log.Print(err)
	}
}

// Exec runs each statement, one session per entry.
func Exec(ctx context.Context, c *pgtest.Cluster, stmts []string) error {
	for _, s := range stmts {
		if err := c.ExecContext(ctx, s); err != nil {
			return err
		}
	}
	return nil
}

// Begin creates the physical slot named slot (which keeps the WAL), runs
// setup and switches to a fresh segment, and returns the first byte of that
// segment: where the range starts.
func Begin(ctx context.Context, c *pgtest.Cluster, slot string, setup []string) (schema.LSN, error) {
	segSize := uint32(c.WALSegmentSize())
	if _, err := c.CreatePhysicalSlotContext(ctx, slot); err != nil {
		return 0, err
	}
	if err := Exec(ctx, c, setup); err != nil {
		return 0, err
	}
	sw, err := c.SwitchWALContext(ctx)
	if err != nil {
		return 0, err
	}
	swLSN, err := schema.ParseLSN(sw)
	if err != nil {
		return 0, err
	}
	return schema.SegmentStart((swLSN + schema.LSN(segSize) - 1).SegNo(segSize), segSize), nil
}

// Range is a range of WAL cut out of a cluster's: its segments, the bytes
// after its end in the last one zeroed (as if the WAL ended there).
type Range struct {
	// Start is the first byte of the first segment, End the end of the
	// last record (its EndRecPtr); Records is their number.
	Start, End schema.LSN
	Records    int
	// Dir holds the segment files, named Names (in order) and holding
	// Segments.
	Dir      string
	Names    []string
	Segments [][]byte
}

// Cut copies the cluster's WAL into tmp and cuts out the range from start
// to the end of the last flushed record: the segments go to tmp/wal.
func Cut(ctx context.Context, c *pgtest.Cluster, start schema.LSN, tmp string) (*Range, error) {
	segSize := uint32(c.WALSegmentSize())
	flushed, err := c.QueryContext(ctx, "SELECT pg_current_wal_flush_lsn()")
	if err != nil {
		return nil, err
	}
	flushLSN, err := schema.ParseLSN(flushed[0][0])
	if err != nil {
		return nil, err
	}
	all := filepath.Join(tmp, "all")
	if _, err := c.CopyWALFiles(all); err != nil {
		return nil, err
	}
	// The range ends where the last record that is flushed ends.
	end, n, err := lastRecordEnd(all, start, flushLSN)
	if err != nil {
		return nil, err
	}
	r := &Range{Start: start, End: end, Records: n, Dir: filepath.Join(tmp, "wal")}
	if err := os.MkdirAll(r.Dir, 0o755); err != nil {
		return nil, err
	}
	tli := schema.TimeLineID(1)
	for seg := start.SegNo(segSize); seg <= (end - 1).SegNo(segSize); seg++ {
		name := schema.XLogFileName(tli, seg, segSize)
		b, err := os.ReadFile(filepath.Join(all, name))
		if err != nil {
			return nil, err
		}
		if seg == (end - 1).SegNo(segSize) {
			if off := end.SegOffset(segSize); off != 0 {
				clear(b[off:])
			}
		}
		if err := os.WriteFile(filepath.Join(r.Dir, name), b, 0o644); err != nil {
			return nil, err
		}
		r.Names = append(r.Names, name)
		r.Segments = append(r.Segments, b)
	}
	return r, nil
}

// Open opens the range's records for reading.
func (r *Range) Open() (*schema.DirReader, error) {
	return schema.OpenWALDir(os.DirFS(r.Dir), schema.DirOptions{Start: r.Start, End: r.End})
}

// RangeText is range.txt: "start <LSN>" and "end <LSN>".
func (r *Range) RangeText() []byte {
	return fmt.Appendf(nil, "start %s\nend %s\n", r.Start, r.End)
}

// WriteSegments writes each segment, gzip-compressed, to dir as
// <segment name>.gz and returns the bytes written.
func (r *Range) WriteSegments(dir string) (int, error) {
	total := 0
	for i, name := range r.Names {
		z, err := Gzip(r.Segments[i])
		if err != nil {
			return 0, err
		}
		if err := os.WriteFile(filepath.Join(dir, name+".gz"), z, 0o644); err != nil {
			return 0, err
		}
		total += len(z)
	}
	return total, nil
}

// lastRecordEnd reads the records of dir from start that end at or before
// limit and returns the end of the last one and their number.
func lastRecordEnd(dir string, start, limit schema.LSN) (schema.LSN, int, error) {
	d, err := schema.OpenWALDir(os.DirFS(dir), schema.DirOptions{Start: start, End: limit})
	if err != nil {
		return 0, 0, err
	}
	defer d.Close()
	var end schema.LSN
	n := 0
	for {
		rec, err := d.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return 0, 0, fmt.Errorf("after %d records: %w", n, err)
		}
		end = rec.EndLSN
		n++
	}
	if n == 0 {
		return 0, 0, fmt.Errorf("no records between %s and %s", start, limit)
	}
	return end, n, nil
}

// ReplaceDir removes dir and creates it again, empty.
func ReplaceDir(dir string) error {
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	return os.MkdirAll(dir, 0o755)
}

// Gzip compresses b at the best compression.
func Gzip(b []byte) ([]byte, error) {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	if _, err := zw.Write(b); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
