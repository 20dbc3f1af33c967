package pagestore

import (
	"encoding/binary"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dgraph-io/badger/v4"

	"github.com/pagemill/pagemill/schema"
)

// segFileNames lists the segment files of the store in dir.
func segFileNames(t *testing.T, dir string) []string {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, segDirName, "*.seg"))
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// segmentValue is the value of segment seq's key.
func segmentValue(t *testing.T, s *Store, seq uint64) []byte {
	t.Helper()
	var v []byte
	if err := s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(segmentKey(seq))
		if err != nil {
			return err
		}
		v, err = item.ValueCopy(nil)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return v
}

// TestSegmentFiles: on disk a segment's key points into a segment file;
// a file goes once GC has deleted every segment in it, the files a crash
// left with no key pointing in are removed when the store opens, and a
// segment whose directory was damaged fails the open, naming it and how
// to rebuild.
func TestSegmentFiles(t *testing.T) {
	tag, recs, want := pageHistory(t, 40)
	dir := t.TempDir()
	open := func() (*Store, error) {
		// A file a segment: every commit rolls over.
		return Open(Options{Dir: dir, Shards: 1, SegmentFileBytes: 1}, slog.New(slog.DiscardHandler))
	}
	s, err := open()
	if err != nil {
		t.Fatal(err)
	}
	for _, part := range [][]*schema.DecodedRecord{recs[:15], recs[15:30], recs[30:]} {
		commitRecords(t, s, tag, part)
	}
	refs := s.segs.of(tag, 0, schema.LSN(^uint64(0)))
	if len(refs) != 3 {
		t.Fatalf("%d segments hold the page, want 3", len(refs))
	}
	for _, r := range refs {
		if v := segmentValue(t, s, r.seq); len(v) != segPointerLen || v[0] != segPointerVersion {
			t.Fatalf("segment %d: a value of %d bytes, version %d: want a pointer into a segment file", r.seq, len(v), v[0])
		}
	}
	if n := len(segFileNames(t, dir)); n != 3 {
		t.Fatalf("%d segment files, want 3", n)
	}
	checkHistory(t, s, tag, recs, want, 0, "segment files")

	if _, err := s.GC(recs[20].EndLSN); err != nil {
		t.Fatal(err)
	}
	if n := len(segFileNames(t, dir)); n != 2 {
		t.Fatalf("after gc: %d segment files, want 2 (the first segment's is gone)", n)
	}
	checkHistory(t, s, tag, recs, want, 20, "after gc")
	s.Close()

	// What a crash between appending a segment and committing its key
	// leaves: a file no key points into.
	orphan := segFileName(filepath.Join(dir, segDirName), 99)
	if err := os.WriteFile(orphan, []byte("left by a crash"), 0o644); err != nil {
		t.Fatal(err)
	}
	if s, err = open(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(orphan); !os.IsNotExist(err) {
		t.Fatalf("a segment file no key points into is still there after the open: %v", err)
	}
	checkHistory(t, s, tag, recs, want, 20, "reopened")
	// New segments go to a new file, past every file there was.
	commitRecords(t, s, tag, recs[39:])
	s.Close()

	// A damaged directory: the checksum in the key no longer matches.
	names := segFileNames(t, dir)
	f, err := os.OpenFile(names[0], os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte{0xff, 0xff}, segHeaderLen+2); err != nil {
		t.Fatal(err)
	}
	f.Close()
	_, err = open()
	if err == nil || !strings.Contains(err.Error(), "segment") || !strings.Contains(err.Error(), "rebuild") {
		t.Fatalf("open over a damaged segment directory: %v, want an error naming the segment and how to rebuild", err)
	}
}

// TestFormat3Read: a store of format 3 (segments as Badger values) is read
// as it is, recorded as format 4 when opened, and its new segments go to
// segment files beside the old ones.
func TestFormat3Read(t *testing.T) {
	tag, recs, want := pageHistory(t, 20)
	dir := t.TempDir()
	s, err := Open(Options{Dir: dir, Shards: 1}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	files := s.files
	s.files = nil // how format 3 wrote segments: values of their own
	commitRecords(t, s, tag, recs[:10])
	w := s.NewWriter()
	w.SetMeta(metaFormat, binary.BigEndian.AppendUint32(nil, 3))
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	s.files = files
	s.Close()

	s, err = Open(Options{Dir: dir, Shards: 1}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if v, err := s.GetMeta(metaFormat); err != nil || binary.BigEndian.Uint32(v) != FormatVersion {
		t.Fatalf("format after opening a format-3 store: %x (%v), want %d", v, err, FormatVersion)
	}
	commitRecords(t, s, tag, recs[10:])
	refs := s.segs.of(tag, 0, schema.LSN(^uint64(0)))
	if len(refs) != 2 {
		t.Fatalf("%d segments hold the page, want 2", len(refs))
	}
	if v := segmentValue(t, s, refs[0].seq); v[0] != segmentVersion {
		t.Fatalf("the format-3 segment's value has version %d, want %d (the segment itself)", v[0], segmentVersion)
	}
	if v := segmentValue(t, s, refs[1].seq); v[0] != segPointerVersion {
		t.Fatalf("the new segment's value has version %d, want %d (a pointer)", v[0], segPointerVersion)
	}
	checkHistory(t, s, tag, recs, want, 0, "format 3 and 4")
}
