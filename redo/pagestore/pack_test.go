package pagestore

import (
	"bytes"
	"os"
	"path/filepath"
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

	put := func(recs []*schema.DecodedRecord) {
		t.Helper()
		w := s.NewWriter()
		for _, r := range recs {
			w.PutRecord(tag, r, false)
		}
		if err := w.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	put(recs[:15])
	if n := countVersions(t, s, tag); n != 1 {
		t.Fatalf("15 records in one writer: %d keys and packs, want 1", n)
	}
	checkHistory(t, s, tag, recs[:15], want, 0, "one pack")

	put(recs[10:30]) // again from record 10, as after a crash
	checkHistory(t, s, tag, recs[:30], want, 0, "overlapping packs")
	// Redo skips a record the page already has, so a doubled record
	// would not change the page: the count shows it.
	if _, _, n, err := s.Latest(tag); err != nil || n != 30 {
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
	_, _, latestRecords, err := s.Latest(tag)
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
