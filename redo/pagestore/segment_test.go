package pagestore

import (
	"encoding/binary"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/dgraph-io/badger/v4"

	"github.com/pagemill/pagemill/schema"
)

// TestSegmentsReopenAndGC: records in segments read back exactly after
// the store is opened again (the page index is rebuilt from the
// segments), PagesOf finds a page that only segments hold, and GC drops
// the segments wholly below the horizon once the page's version there is
// an image, for good.
func TestSegmentsReopenAndGC(t *testing.T) {
	tag, recs, want := pageHistory(t, 40)
	dir := t.TempDir()
	open := func() *Store {
		t.Helper()
		s, err := Open(Options{Dir: dir, Shards: 1}, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	s := open()
	for _, part := range [][]*schema.DecodedRecord{recs[:15], recs[15:30], recs[30:]} {
		w := s.NewWriter()
		for _, r := range part {
			w.PutRecord(tag, r, false)
		}
		if err := w.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	if n := countVersions(t, s, tag); n != 3 {
		t.Fatalf("three writers: %d packs, want 3", n)
	}
	s.Close()

	s = open()
	checkHistory(t, s, tag, recs, want, 0, "reopened")
	if tags, err := s.PagesOf(tag.Rel, tag.Fork, false, 0); err != nil || !slices.Contains(tags, tag) {
		t.Fatalf("pages of %s: %v (%v), want %s among them", tag.Rel, tags, err, tag)
	}

	horizon := recs[20].EndLSN
	st, err := s.GC(horizon)
	if err != nil {
		t.Fatal(err)
	}
	if st.Rewritten != 1 || st.Deleted != 1 {
		t.Fatalf("gc: %+v, want the version at the horizon rewritten and the first segment deleted", st)
	}
	if segs := s.segs.of(tag, 0, schema.LSN(^uint64(0))); len(segs) != 2 {
		t.Fatalf("after gc: %d segments hold the page, want 2", len(segs))
	}
	checkHistory(t, s, tag, recs, want, 20, "after gc")
	s.Close()

	s = open()
	defer s.Close()
	checkHistory(t, s, tag, recs, want, 20, "after gc, reopened")
	if n := countVersions(t, s, tag); n != 3 {
		t.Fatalf("after gc, reopened: %d versions, want 3 (the image and two packs)", n)
	}
}

// TestSegmentCorrupt: a segment that cannot be read fails the read with
// an error naming it, instead of giving a page without its records.
func TestSegmentCorrupt(t *testing.T) {
	tag, recs, _ := pageHistory(t, 5)
	s := openTest(t)
	w := s.NewWriter()
	for _, r := range recs {
		w.PutRecord(tag, r, false)
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	seq := s.segs.of(tag, 0, recs[4].EndLSN)[0].seq
	if err := s.db.Update(func(txn *badger.Txn) error {
		return txn.Set(segmentKey(seq), []byte{segmentVersion, 0, 0})
	}); err != nil {
		t.Fatal(err)
	}
	_, _, err := s.PageAt(tag, recs[4].EndLSN)
	if err == nil || !strings.Contains(err.Error(), "segment") {
		t.Fatalf("read over a damaged segment: %v, want an error naming the segment", err)
	}
}

// TestFormat2Read: a store of format 2 (packs under the pages' keys) is
// read as it is, and recorded as format 3 when opened.
func TestFormat2Read(t *testing.T) {
	tag, recs, want := pageHistory(t, 10)
	dir := t.TempDir()
	s, err := Open(Options{Dir: dir, Shards: 1}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	w := s.NewWriter()
	packed := make([]packRec, len(recs))
	for i, r := range recs {
		packed[i] = packRec{start: r.LSN, end: r.EndLSN, raw: r.Raw}
	}
	w.putPack(tag, packed) // how format 2 wrote a writer's records
	w.SetMeta(metaFormat, binary.BigEndian.AppendUint32(nil, 2))
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	s.Close()

	s, err = Open(Options{Dir: dir, Shards: 1}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	checkHistory(t, s, tag, recs, want, 0, "format 2")
	if v, err := s.GetMeta(metaFormat); err != nil || binary.BigEndian.Uint32(v) != FormatVersion {
		t.Fatalf("format after opening a format-2 store: %x (%v), want %d", v, err, FormatVersion)
	}
}

// TestPackRange: the page index filters packs by their own LSN range,
// conservatively where an offset from the segment's first LSN does not
// fit in 32 bits.
func TestPackRange(t *testing.T) {
	tag := schema.BufferTag{Rel: schema.RelFileNode{DbNode: 1, SpcNode: 2, RelNode: 3}, Block: 4}
	far := schema.LSN(100 + 1<<33)
	x := newSegIndex()
	x.add(7, segment{first: 100, last: far}, []packLoc{
		{tag: tag, off: 1, first: 100, last: 200},
		{tag: tag, off: 2, first: far - 10, last: far},
	})
	for _, c := range []struct {
		after, upTo schema.LSN
		want        []uint32 // offsets of the packs returned
	}{
		{150, 160, []uint32{1}},
		{200, far, []uint32{2}},
		{99, far, []uint32{1, 2}},
		{far, far + 5, nil},
	} {
		var got []uint32
		for _, r := range x.of(tag, c.after, c.upTo) {
			got = append(got, r.off)
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("packs with records in (%s, %s]: %v, want %v", c.after, c.upTo, got, c.want)
		}
	}
}
