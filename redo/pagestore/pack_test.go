package pagestore

import (
	"bytes"
	"encoding/binary"
	"errors"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/dgraph-io/badger/v4"

	"github.com/pagemill/pagemill/internal/pgtest"
	"github.com/pagemill/pagemill/redo"
	"github.com/pagemill/pagemill/schema"
)

// pageHistory reads the redo package's test WAL for a main-fork page
// with a long history: the record that restores its image, then the
// records after it, and the page after each (applied one by one, the
// oracle).
func pageHistory(t *testing.T, n int) (schema.BufferTag, []*schema.DecodedRecord, []schema.Page) {
	t.Helper()
	dir := pgtest.UnpackWAL(t, filepath.Join("..", "testdata", "verify", "plain"))
	d, err := schema.OpenWALDir(os.DirFS(dir), schema.DirOptions{Start: 0x01300000})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	e, err := redo.NewEngine()
	if err != nil {
		t.Fatal(err)
	}
	hist := map[schema.BufferTag][]*schema.DecodedRecord{}
	pages := map[schema.BufferTag][]schema.Page{}
	cur := map[schema.BufferTag]*onePage{}
	for {
		rec, err := d.Next()
		if err != nil {
			t.Fatalf("no page with %d records after an image: %v", n, err)
		}
		for i := range rec.Blocks {
			b := &rec.Blocks[i]
			if b.Tag.Fork != schema.MainForkNum {
				continue
			}
			op, ok := cur[b.Tag]
			if !ok {
				if !b.ApplyImage() {
					continue
				}
				op = &onePage{tag: b.Tag}
				cur[b.Tag] = op
			}
			if _, err := e.Apply(rec, op); err != nil || !op.ok {
				delete(cur, b.Tag) // not this page, then
				continue
			}
			hist[b.Tag] = append(hist[b.Tag], rec)
			pages[b.Tag] = append(pages[b.Tag], append(schema.Page(nil), op.page...))
			if len(hist[b.Tag]) == n {
				return b.Tag, hist[b.Tag], pages[b.Tag]
			}
		}
	}
}

// commitRecords writes recs as tag's records in one writer and commits.
func commitRecords(t *testing.T, s *Store, tag schema.BufferTag, recs []*schema.DecodedRecord) {
	t.Helper()
	w := s.NewWriter()
	for _, r := range recs {
		w.PutRecord(tag, r, false)
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
}

// checkHistory asserts that every record's version of the page, and the
// LSN just before the next record, reads back as the oracle's page.
func checkHistory(t *testing.T, s *Store, tag schema.BufferTag, recs []*schema.DecodedRecord, want []schema.Page, from int, when string) {
	t.Helper()
	for i := from; i < len(recs); i++ {
		lsns := []schema.LSN{recs[i].EndLSN}
		if i+1 < len(recs) {
			lsns = append(lsns, recs[i+1].EndLSN-1)
		}
		for _, lsn := range lsns {
			got, at, err := s.PageAt(tag, lsn)
			if err != nil || at != recs[i].EndLSN || !bytes.Equal(got, want[i]) {
				t.Fatalf("%s: %s at %s (record %d of %d): version %s, equal %v, err %v", when, tag, lsn, i, len(recs), at, bytes.Equal(got, want[i]), err)
			}
		}
	}
}

// TestRecordPacks: the records of a page written by one writer are one
// pack in one segment; reads at any LSN inside or between packs replay exactly up to it;
// a pack written again from the middle (a replay after a crash) overlaps
// the first without doubling a record; an image between records splits
// them; GC at a horizon inside a pack keeps the records above it.
func TestRecordPacks(t *testing.T) {
	tag, recs, want := pageHistory(t, 40)
	s := openTest(t)

	put := func(recs []*schema.DecodedRecord) { t.Helper(); commitRecords(t, s, tag, recs) }
	put(recs[:15])
	if n := countVersions(t, s, tag); n != 1 {
		t.Fatalf("15 records in one writer: %d keys and packs, want 1", n)
	}
	checkHistory(t, s, tag, recs[:15], want, 0, "one pack")

	put(recs[10:30]) // again from record 10, as after a crash
	checkHistory(t, s, tag, recs[:30], want, 0, "overlapping packs")
	// Redo skips a record the page already has, so a doubled record
	// would not change the page: the count shows it.
	if _, _, n, err := s.Latest(tag, nil); err != nil || n != 30 {
		t.Fatalf("latest over overlapping packs: %d records replayed, want 30 (%v)", n, err)
	}

	w := s.NewWriter()
	for i := 30; i < 40; i++ {
		if i == 34 {
			w.PutImage(tag, recs[i].EndLSN, want[i])
			continue
		}
		w.PutRecord(tag, recs[i], false)
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	if n := countVersions(t, s, tag); n != 5 {
		t.Fatalf("after a writer with an image in the middle: %d keys and packs, want 5", n)
	}
	checkHistory(t, s, tag, recs, want, 0, "image between records")
	_, _, latestRecords, err := s.Latest(tag, nil)
	if err != nil || latestRecords != 5 {
		t.Fatalf("latest: %d records after the image, want 5 (%v)", latestRecords, err)
	}

	// The horizon falls inside the pack of records 10..29.
	horizon := recs[20].EndLSN + 1
	st, err := s.GC(horizon)
	if err != nil {
		t.Fatal(err)
	}
	// The segment of records 10..29 holds records above the horizon:
	// it stays, and the image at the horizon hides its older ones.
	if st.Rewritten != 1 || st.Deleted != 1 {
		t.Fatalf("gc: %+v, want 1 rewritten, 1 deleted (the segment of records 0..14)", st)
	}
	checkHistory(t, s, tag, recs, want, 20, "after gc inside a pack")
	if _, _, err := s.PageAt(tag, recs[19].EndLSN); err == nil {
		t.Fatal("a version below the horizon still reads")
	}
}

// countVersions is the number of keys holding versions of tag and of
// packs of its records in segments.
func countVersions(t *testing.T, s *Store, tag schema.BufferTag) int {
	t.Helper()
	n := 0
	txn := s.db.NewTransaction(false)
	defer txn.Discard()
	it := txn.NewIterator(badger.IteratorOptions{Prefix: pagePrefix(tag)})
	defer it.Close()
	for it.Rewind(); it.Valid(); it.Next() {
		n++
	}
	n += len(s.segs.of(tag, 0, schema.LSN(^uint64(0))))
	return n
}

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
		packed[i] = packRec{start: r.LSN, end: r.EndLSN, raw: w.addRaw(r.Raw)}
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
	}, 0)
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

// TestSnapshot: a snapshot reads the page's newest version as committed
// when it was made, not a later commit's, without waiting for any; a
// Collect since it was made (which removes segments from the page index
// that the snapshot's transaction still holds) makes it refuse with
// ErrStaleSnapshot instead of giving a page short of records.
func TestSnapshot(t *testing.T) {
	tag, recs, want := pageHistory(t, 40)
	s, err := Open(Options{Dir: t.TempDir(), Shards: 1}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	write := func(part []*schema.DecodedRecord) { t.Helper(); commitRecords(t, s, tag, part) }
	latest := func(read func(schema.BufferTag, schema.Page) (schema.Page, schema.LSN, int, error), i int, what string) {
		t.Helper()
		p, lsn, _, err := read(tag, nil)
		if err != nil || lsn != recs[i].EndLSN || !bytes.Equal(p, want[i]) {
			t.Fatalf("%s: version %s (want %s), equal %v, err %v", what, lsn, recs[i].EndLSN, bytes.Equal(p, want[i]), err)
		}
	}
	write(recs[:15])
	snap := s.Snapshot()
	write(recs[15:30])
	latest(snap.Latest, 14, "snapshot before the second commit")
	latest(s.Latest, 29, "store")
	snap.Close()

	snap = s.Snapshot()
	defer snap.Close()
	latest(snap.Latest, 29, "snapshot after the second commit")
	if _, err := s.GC(recs[20].EndLSN); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := snap.Latest(tag, nil); !errors.Is(err, ErrStaleSnapshot) {
		t.Fatalf("snapshot from before a collect: err %v, want ErrStaleSnapshot", err)
	}
	after := s.Snapshot()
	defer after.Close()
	latest(after.Latest, 29, "snapshot after the collect")
}

// TestSegIndexLists: each page's packs come back oldest first across
// more packs than a chunk of list nodes holds, and after GC takes the
// oldest segments out, the rest are still every page's, in order.
func TestSegIndexLists(t *testing.T) {
	x := newSegIndex()
	tags := []schema.BufferTag{{Block: 1}, {Block: 2}, {Block: 3, Fork: 1}}
	segs := nodeChunk/len(tags) + 100 // past the first chunk
	for seq := range uint64(segs) {
		first := schema.LSN(1000 * (seq + 1))
		locs := make([]packLoc, len(tags))
		for i, tag := range tags {
			locs[i] = packLoc{tag: tag, off: uint32(seq), n: 1, first: first, last: first + 10}
		}
		x.add(seq, segment{first: first, last: first + 10}, locs, 0)
	}
	check := func(from uint64, when string) {
		t.Helper()
		if s, p := x.size(); s != segs-int(from) || p != (segs-int(from))*len(tags) {
			t.Fatalf("%s: %d segments, %d packs, want %d and %d", when, s, p, segs-int(from), (segs-int(from))*len(tags))
		}
		for _, tag := range tags {
			refs := x.of(tag, 0, schema.LSN(math.MaxUint64))
			if len(refs) != segs-int(from) {
				t.Fatalf("%s: %s has %d packs, want %d", when, tag, len(refs), segs-int(from))
			}
			for i, r := range refs {
				if r.seq != from+uint64(i) || r.off != uint32(r.seq) {
					t.Fatalf("%s: %s pack %d is of segment %d at %d, want segment %d", when, tag, i, r.seq, r.off, from+uint64(i))
				}
			}
		}
	}
	check(0, "added")
	gone := x.removeUpTo(schema.LSN(1000*500 + 10))
	if len(gone) != 500 {
		t.Fatalf("removed %d segments, want 500", len(gone))
	}
	check(500, "after removing the oldest 500")
	if got := x.pagesOf(schema.RelFileNode{}, 1, false, 0); len(got) != 1 || got[0] != tags[2] {
		t.Fatalf("pages of fork 1: %v, want %v", got, tags[2:])
	}
}
