package materialize

import (
	"fmt"
	"log/slog"
	"os"

	"github.com/pagemill/pagemill/schema"
)

// spillFile is a redo shard's applier.Spill: current pages evicted from
// its cache, 8 KiB each in a file of fixed slots, written and read with
// pwrite and pread. The kernel's page cache keeps the recently spilled
// ones (where a memory cgroup counts them with the rest of the page
// cache), as it keeps PostgreSQL's evicted buffers; what it drops is read
// back from the disk, still cheaper than a page store lookup plus a
// decompression, and an eviction writes no image into the page store.
//
// The file is removed as soon as it is created: it holds versions newer
// than what may be durable, so no later run may read it, and nothing is
// left behind by a crash.
type spillFile struct {
	f     *os.File
	slots int // capacity
	index schema.TagMap[spillSlot]
	free  []int32 // slots given back
	next  int32   // slots below it have been used
	log   *slog.Logger
	warn  bool // an I/O error has been logged
	// readFailed: a Take could not read a page, which the applier then
	// loads from the page store: from then on that must be a read of
	// everything committed (see storeView.Latest).
	readFailed bool
}

type spillSlot struct {
	slot   int32
	deltas int32
	lsn    schema.LSN
}

// newSpillFile makes a spill file of at most slots pages in dir.
func newSpillFile(dir string, slots int, log *slog.Logger) (*spillFile, error) {
	f, err := os.CreateTemp(dir, "spill-*")
	if err != nil {
		return nil, fmt.Errorf("spill file: %w", err)
	}
	if err := os.Remove(f.Name()); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("spill file: %w", err)
	}
	return &spillFile{f: f, slots: slots, log: log}, nil
}

// Put implements applier.Spill.
func (s *spillFile) Put(tag schema.BufferTag, page schema.Page, lsn schema.LSN, deltas int) bool {
	e, ok := s.index.Get(tag)
	switch {
	case ok:
	case len(s.free) > 0:
		e.slot = s.free[len(s.free)-1]
		s.free = s.free[:len(s.free)-1]
	case int(s.next) < s.slots:
		e.slot = s.next
		s.next++
	default:
		return false
	}
	if _, err := s.f.WriteAt(page, int64(e.slot)*schema.BLCKSZ); err != nil {
		s.failed("write", tag, err)
		s.index.Delete(tag)
		s.free = append(s.free, e.slot)
		return false
	}
	e.lsn, e.deltas = lsn, int32(deltas)
	s.index.Put(tag, e)
	return true
}

// Take implements applier.Spill.
func (s *spillFile) Take(tag schema.BufferTag, buf schema.Page) (schema.Page, schema.LSN, int, bool) {
	e, ok := s.index.Get(tag)
	if !ok {
		return nil, 0, 0, false
	}
	s.index.Delete(tag)
	s.free = append(s.free, e.slot)
	if len(buf) != schema.BLCKSZ {
		buf = make(schema.Page, schema.BLCKSZ)
	}
	if _, err := s.f.ReadAt(buf, int64(e.slot)*schema.BLCKSZ); err != nil {
		s.readFailed = true
		s.failed("read", tag, err)
		return nil, 0, 0, false
	}
	return buf, e.lsn, int(e.deltas), true
}

// Drop implements applier.Spill.
func (s *spillFile) Drop(tag schema.BufferTag) {
	if e, ok := s.index.Get(tag); ok {
		s.index.Delete(tag)
		s.free = append(s.free, e.slot)
	}
}

// failed logs the first I/O error: the applier then writes an image or
// loads from the page store instead, so nothing is lost but speed.
func (s *spillFile) failed(op string, tag schema.BufferTag, err error) {
	if !s.warn {
		s.warn = true
		s.log.Warn("spill file "+op+" failed; evicted pages go to the page store instead", "page", tag, "err", err)
	}
}

// Close removes the file (its name is gone already: closing frees it).
func (s *spillFile) Close() error { return s.f.Close() }
