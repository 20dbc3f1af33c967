package applier

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pagemill/pagemill/internal/testwal"
	"github.com/pagemill/pagemill/redo"
	"github.com/pagemill/pagemill/schema"
)

// testWAL reads the records of redo's recorded WAL (written with
// wal_consistency_checking=all, so records carry images of the pages they
// change to check redo against).
func testWAL(t *testing.T, variant string) []*schema.DecodedRecord {
	t.Helper()
	return testwal.Records(t, filepath.Join("..", "..", "testdata", "verify", variant))
}

// route applies rec the way the materializer's shards get it: records
// that change pages on the shard subjects, the others on the meta subject,
// each given only to the appliers that want it (WantsMeta).
func route(a *Applier, rec *schema.DecodedRecord) error {
	if len(schema.PagesChanged(nil, rec)) > 0 {
		return a.Apply(rec)
	}
	var scratch []schema.BufferTag
	if !WantsMeta(rec, a.cfg.Sizes, a.Owns, &scratch) {
		return nil
	}
	return a.ApplyMeta(rec)
}

// checkConsistency compares every consistency image rec carries with the
// page reconstructed from the store at the record's end.
func checkConsistency(t *testing.T, st *memStore, ir *schema.ImageRestorer, rec *schema.DecodedRecord) int {
	t.Helper()
	compared := 0
	primary := make([]byte, schema.BLCKSZ)
	for i := range rec.Blocks {
		blk := &rec.Blocks[i]
		if !redo.ConsistencyCheckBlock(rec, blk) {
			continue
		}
		got, _, err := st.PageAt(blk.Tag, rec.EndLSN)
		if err != nil {
			t.Errorf("%s at %s: page %s from the store: %v", schema.RecordTypeName(rec.Rmgr(), rec.Info()), rec.LSN, blk.Tag, err)
			continue
		}
		if err := ir.Restore(primary, rec, blk); err != nil {
			t.Fatal(err)
		}
		compared++
		if off, equal, err := redo.CompareMasked(rec.Rmgr(), blk.Tag.Block, primary, got); !equal || err != nil {
			t.Errorf("%s at %s: page %s from the store differs from the consistency image at offset %d (%v)",
				schema.RecordTypeName(rec.Rmgr(), rec.Info()), rec.LSN, blk.Tag, off, err)
		}
	}
	return compared
}

// TestConsistencyThroughStore: applied with a cache of a few pages (so
// pages are evicted and reloaded from their image and deltas), a short
// image interval and pages split over several appliers, every page read
// back from the store equals PostgreSQL's consistency image at every
// record, and no page's chain grows past the image interval.
func TestConsistencyThroughStore(t *testing.T) {
	recs := testWAL(t, "plain")
	for _, tc := range []struct {
		name              string
		appliers          int
		cache, imageEvery int
	}{
		{"one applier, large cache", 1, 1 << 20, 16},
		{"one applier, evicting", 1, 2, 3},
		{"three appliers, evicting", 3, 4, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := newMemStore()
			var aps []*Applier
			for i := 0; i < tc.appliers; i++ {
				i := i
				a, err := New(Config{ID: i, Sizes: i == 0, CachePages: tc.cache, ImageEvery: tc.imageEvery,
					Owns: func(tag schema.BufferTag) bool { return int(tag.Block)%tc.appliers == i }}, st, st)
				if err != nil {
					t.Fatal(err)
				}
				aps = append(aps, a)
			}
			ir, err := schema.NewImageRestorer()
			if err != nil {
				t.Fatal(err)
			}
			compared := 0
			for _, rec := range recs {
				for _, a := range aps {
					if err := route(a, rec); err != nil {
						t.Fatalf("%s at %s: %v", schema.RecordTypeName(rec.Rmgr(), rec.Info()), rec.LSN, err)
					}
					a.Evict()
				}
				compared += checkConsistency(t, st, ir, rec)
				if t.Failed() {
					t.FailNow()
				}
			}
			if compared < 1000 {
				t.Fatalf("only %d pages compared with consistency images", compared)
			}
			for tag, vs := range st.versions {
				run := 0
				for _, v := range vs {
					if v.kind == "record" {
						run++
					} else {
						run = 0
					}
					if run >= tc.imageEvery {
						t.Fatalf("page %s has %d records in a row without an image (interval %d)", tag, run, tc.imageEvery)
					}
				}
			}
			t.Logf("%d records, %d pages compared, %d versions written", len(recs), compared, st.writes)
		})
	}
}

// TestTruncation: after SMGR TRUNCATE the pages at or past the new size
// are absent, the sizes shrink, and the visibility map page holding the
// new end keeps only the bits of remaining blocks.
func TestTruncation(t *testing.T) {
	recs := testWAL(t, "plain")
	st := newMemStore()
	a, err := New(Config{Sizes: true, CachePages: 1 << 20, ImageEvery: 16}, st, st)
	if err != nil {
		t.Fatal(err)
	}
	truncated := 0
	for _, rec := range recs {
		if err := route(a, rec); err != nil {
			t.Fatal(err)
		}
		c, err := schema.RelChangeOf(rec)
		if err != nil || c == nil || c.Kind != schema.RelTruncate {
			continue
		}
		truncated++
		if !c.TruncMain {
			continue
		}
		left, err := st.PagesOf(c.Rel, schema.MainForkNum, false, c.Blocks)
		if err != nil || len(left) != 0 {
			t.Errorf("truncation of %v to %d blocks at %s: pages left past the end: %v %v", c.Rel, c.Blocks, rec.LSN, left, err)
		}
		if n, ok, _ := st.RelSize(c.Rel, schema.MainForkNum, rec.EndLSN); !ok || n != c.Blocks {
			t.Errorf("truncation of %v to %d blocks at %s: size %d (exists %v)", c.Rel, c.Blocks, rec.LSN, n, ok)
		}
	}
	if truncated == 0 {
		t.Fatal("the test WAL has no SMGR TRUNCATE")
	}
}

// TestReplayOntoNewerPages: after a crash the driver replays records the
// store already holds. A fresh applier (empty cache) over the full store,
// fed the second half of the records again, leaves every page's versions
// as they were: a page read from the store is ahead of the record and is
// not written; an image a record restores is written again at its own LSN
// and equals what was there.
func TestReplayOntoNewerPages(t *testing.T) {
	recs := testWAL(t, "plain")
	st := newMemStore()
	a, err := New(Config{Sizes: true, CachePages: 64, ImageEvery: 8}, st, st)
	if err != nil {
		t.Fatal(err)
	}
	for _, rec := range recs {
		if err := route(a, rec); err != nil {
			t.Fatal(err)
		}
		a.Evict()
	}
	before := map[schema.BufferTag]schema.Page{}
	for tag := range st.versions {
		if p, _, _, err := st.Latest(tag, nil); err == nil {
			before[tag] = p
		}
	}
	writes := st.writes
	b, err := New(Config{Sizes: true, CachePages: 64, ImageEvery: 8}, st, st)
	if err != nil {
		t.Fatal(err)
	}
	for _, rec := range recs[len(recs)/2:] {
		if err := route(b, rec); err != nil {
			t.Fatalf("replaying %s: %v", rec.LSN, err)
		}
		b.Evict()
	}
	t.Logf("%d versions written by the replay (images restored again)", st.writes-writes)
	for tag, want := range before {
		got, _, _, err := st.Latest(tag, nil)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("page %s after the replay: changed (%v)", tag, err)
		}
	}
}

// TestRestoredPageNotRead: a page that a record overwrites with its
// full-page image is not read from the store first, so a version the store
// cannot read does not stop the record, and the version written is the
// image; a page redo does read fails the record, and it is not cached as
// unavailable, so a retry once the store answers succeeds.
func TestRestoredPageNotRead(t *testing.T) {
	recs := testWAL(t, "plain")
	var img, plain *schema.DecodedRecord
	for _, r := range recs {
		if len(r.Blocks) != 1 || r.Blocks[0].Tag.Fork != schema.MainForkNum || len(schema.PagesChanged(nil, r)) != 1 {
			continue
		}
		if r.Blocks[0].ApplyImage() && img == nil {
			img = r
		}
		if !r.Blocks[0].ApplyImage() && !r.Blocks[0].WillInit() && r.Rmgr() == schema.RmgrHeap && plain == nil {
			plain = r
		}
	}
	if img == nil || plain == nil {
		t.Fatal("no single-block record with an applied image, or none without an image")
	}
	broken := errors.New("disk on fire")

	st := newMemStore()
	st.failing[img.Blocks[0].Tag] = broken
	a, err := New(Config{CachePages: 16, ImageEvery: 8}, st, st)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Apply(img); err != nil {
		t.Fatalf("%s at %s with an image of %s: %v", schema.RecordTypeName(img.Rmgr(), img.Info()), img.LSN, img.Blocks[0].Tag, err)
	}
	vs := st.versions[img.Blocks[0].Tag]
	if len(vs) != 1 || vs[0].kind != "image" || vs[0].lsn != img.EndLSN || vs[0].page.LSN() != img.EndLSN {
		t.Fatalf("versions after the image: %+v", vs)
	}

	tag := plain.Blocks[0].Tag
	st.failing[tag] = broken
	err = a.Apply(plain)
	if !errors.Is(err, broken) || !strings.Contains(err.Error(), "load page") || !strings.Contains(err.Error(), plain.LSN.String()) {
		t.Fatalf("redo reading an unreadable page: %v", err)
	}
	if _, ok := a.cache.Get(tag); ok {
		t.Fatal("the page that could not be read was cached")
	}
	delete(st.failing, tag)
	if err := a.Apply(plain); err != nil {
		t.Fatalf("retry once the store answers: %v", err)
	}
}

// TestExtendWhileOthersRunAhead: appliers run at their own pace, so the
// store may already hold another's size at a later LSN when this one
// extends the fork at an earlier LSN; the size at every LSN still covers
// every block changed at or before it.
func TestExtendWhileOthersRunAhead(t *testing.T) {
	st := newMemStore()
	rel := schema.RelFileNode{SpcNode: 1663, DbNode: 5, RelNode: 16384}
	ahead, err := New(Config{ID: 1, CachePages: 8, ImageEvery: 8}, st, st)
	if err != nil {
		t.Fatal(err)
	}
	behind, err := New(Config{ID: 0, Sizes: true, CachePages: 8, ImageEvery: 8}, st, st)
	if err != nil {
		t.Fatal(err)
	}
	ahead.extend(schema.BufferTag{Rel: rel, Block: 9}, 500)
	behind.extend(schema.BufferTag{Rel: rel, Block: 7}, 100)
	behind.extend(schema.BufferTag{Rel: rel, Block: 8}, 200)
	for _, tc := range []struct {
		lsn  schema.LSN
		want schema.BlockNumber
	}{{100, 8}, {200, 9}, {499, 9}, {500, 10}} {
		if n, ok, _ := st.RelSize(rel, schema.MainForkNum, tc.lsn); !ok || n != tc.want {
			t.Errorf("size at %d: %d (exists %v), want %d", tc.lsn, n, ok, tc.want)
		}
	}
}

// TestEvictionImages: a page evicted with a chain of an eighth of the
// image interval or more gets an image at its newest version, so the
// store reloads it without replaying records; a page with a shorter chain
// is evicted without one. Every page read back equals PostgreSQL's
// consistency image (checked per record).
func TestEvictionImages(t *testing.T) {
	for _, after := range []int{0, 1} { // the default (ImageEvery/8), and every chain
		t.Run(fmt.Sprint("after=", after), func(t *testing.T) { testEvictionImages(t, after) })
	}
}

func testEvictionImages(t *testing.T, after int) {
	recs := testWAL(t, "plain")
	st := newMemStore()
	a, err := New(Config{ID: 0, Sizes: true, CachePages: 2, ImageEvery: 16, EvictImageAfter: after}, st, st)
	if err != nil {
		t.Fatal(err)
	}
	ir, err := schema.NewImageRestorer()
	if err != nil {
		t.Fatal(err)
	}
	imaged, short := 0, 0
	for _, rec := range recs {
		if err := route(a, rec); err != nil {
			t.Fatalf("%s at %s: %v", schema.RecordTypeName(rec.Rmgr(), rec.Info()), rec.LSN, err)
		}
		chains := map[schema.BufferTag]int{}
		for tag, e := range a.cache.All() {
			if e.ok && e.lsn > 0 {
				chains[tag] = e.deltas
			}
		}
		a.Evict()
		for tag, n := range chains {
			if _, kept := a.cache.Get(tag); kept {
				continue
			}
			_, _, since, err := st.Latest(tag, nil)
			if err != nil {
				t.Fatalf("evicted page %s: %v", tag, err)
			}
			switch {
			case n >= a.evictImageAfter() && since != 0:
				t.Fatalf("page %s evicted with %d records since its image: the store still replays %d", tag, n, since)
			case n >= a.evictImageAfter():
				imaged++
			case since != n:
				t.Fatalf("page %s evicted with a chain of %d: the store has %d", tag, n, since)
			default:
				short++
			}
		}
		checkConsistency(t, st, ir, rec)
		if t.Failed() {
			t.FailNow()
		}
	}
	if imaged == 0 || (short == 0 && a.evictImageAfter() > 1) {
		t.Fatalf("evictions: %d with an image, %d without: want both", imaged, short)
	}
	t.Logf("evictions: %d with an image, %d without", imaged, short)
}
