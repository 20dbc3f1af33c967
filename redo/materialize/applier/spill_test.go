package applier

import (
	"bytes"
	"testing"

	"github.com/pagemill/pagemill/schema"
)

// memSpill is a Spill in memory, of at most cap pages.
type memSpill struct {
	cap   int
	pages map[schema.BufferTag]memSpilled
	puts  int
	takes int
	full  int // Puts refused for want of room
}

type memSpilled struct {
	page   schema.Page
	lsn    schema.LSN
	deltas int
}

func (m *memSpill) Put(tag schema.BufferTag, page schema.Page, lsn schema.LSN, deltas int) bool {
	if _, ok := m.pages[tag]; !ok && len(m.pages) >= m.cap {
		m.full++
		return false
	}
	m.pages[tag] = memSpilled{page: bytes.Clone(page), lsn: lsn, deltas: deltas}
	m.puts++
	return true
}

func (m *memSpill) Take(tag schema.BufferTag, buf schema.Page) (schema.Page, schema.LSN, int, bool) {
	s, ok := m.pages[tag]
	if !ok {
		return nil, 0, 0, false
	}
	delete(m.pages, tag)
	m.takes++
	if len(buf) == schema.BLCKSZ {
		copy(buf, s.page)
		return buf, s.lsn, s.deltas, true
	}
	return s.page, s.lsn, s.deltas, true
}

func (m *memSpill) Drop(tag schema.BufferTag) { delete(m.pages, tag) }

// TestSpill: with a cache of two pages and a spill of a few, evicted pages
// go to the spill while it has room (and get no image), come back from it
// when used again, and otherwise go to the store as before. After every
// record each spilled page equals the store's newest version of it, with
// the same LSN and chain length, and every page read back from the store
// equals PostgreSQL's consistency image. The WAL has relation drops,
// truncations and full-page images, which must drop spilled pages.
func TestSpill(t *testing.T) {
	for _, variant := range []string{"plain", "checksums"} {
		t.Run(variant, func(t *testing.T) { testSpill(t, variant) })
	}
}

func testSpill(t *testing.T, variant string) {
	recs := testWAL(t, variant)
	st := newMemStore()
	st.checksums = variant == "checksums"
	sp := &memSpill{cap: 6, pages: map[schema.BufferTag]memSpilled{}}
	a, err := New(Config{ID: 0, Sizes: true, CachePages: 2, ImageEvery: 5, EvictImageAfter: 1, Spill: sp,
		DataChecksums: variant == "checksums"}, st, st)
	if err != nil {
		t.Fatal(err)
	}
	ir, err := schema.NewImageRestorer()
	if err != nil {
		t.Fatal(err)
	}
	for _, rec := range recs {
		if err := route(a, rec); err != nil {
			t.Fatalf("%s at %s: %v", schema.RecordTypeName(rec.Rmgr(), rec.Info()), rec.LSN, err)
		}
		a.Evict()
		for tag, s := range sp.pages {
			if _, cached := a.cache.Get(tag); cached {
				t.Fatalf("after %s: page %s both cached and spilled", rec.LSN, tag)
			}
			p, lsn, since, err := st.Latest(tag, nil)
			if err != nil {
				t.Fatalf("after %s: spilled page %s is not in the store: %v", rec.LSN, tag, err)
			}
			if lsn != s.lsn || since != s.deltas || !bytes.Equal(p, s.page) {
				t.Fatalf("after %s: spilled page %s at %s with %d records since its image; the store has %s with %d (pages equal: %v)",
					rec.LSN, tag, s.lsn, s.deltas, lsn, since, bytes.Equal(p, s.page))
			}
		}
		checkConsistency(t, st, ir, rec)
		if t.Failed() {
			t.FailNow()
		}
	}
	st2 := a.TakeStats()
	if sp.puts == 0 || sp.takes == 0 || sp.full == 0 || st2.Spilled != sp.puts || st2.Unspilled != sp.takes {
		t.Fatalf("spill: %d puts, %d takes, %d refused; stats %d spilled, %d unspilled: want all of them, counted",
			sp.puts, sp.takes, sp.full, st2.Spilled, st2.Unspilled)
	}
	t.Logf("spill: %d puts, %d takes, %d refused", sp.puts, sp.takes, sp.full)
}

// TestSpillBetweenRecords: without Evict (a long batch), pages beyond
// twice the cache's bound go to the spill before each record, so the
// cache holds at most that plus one record's pages, and every page read back from
// the store still equals PostgreSQL's consistency image.
func TestSpillBetweenRecords(t *testing.T) {
	recs := testWAL(t, "plain")
	st := newMemStore()
	sp := &memSpill{cap: 1 << 20, pages: map[schema.BufferTag]memSpilled{}}
	const cache = 4
	a, err := New(Config{ID: 0, Sizes: true, CachePages: cache, ImageEvery: 5, Spill: sp}, st, st)
	if err != nil {
		t.Fatal(err)
	}
	ir, err := schema.NewImageRestorer()
	if err != nil {
		t.Fatal(err)
	}
	most := 0
	for _, rec := range recs {
		if err := route(a, rec); err != nil {
			t.Fatalf("%s at %s: %v", schema.RecordTypeName(rec.Rmgr(), rec.Info()), rec.LSN, err)
		}
		n := len(schema.PagesChanged(nil, rec)) + len(schema.AuxPages(nil, rec))
		if a.clock.len() > 2*cache+n {
			t.Fatalf("after %s (%d pages): %d pages cached, bound %d", rec.LSN, n, a.clock.len(), 2*cache)
		}
		most = max(most, a.clock.len())
		checkConsistency(t, st, ir, rec)
		if t.Failed() {
			t.FailNow()
		}
	}
	if sp.puts == 0 || sp.takes == 0 {
		t.Fatalf("spill: %d puts, %d takes: want both", sp.puts, sp.takes)
	}
	t.Logf("spill: %d puts, %d takes; at most %d pages cached", sp.puts, sp.takes, most)
}
