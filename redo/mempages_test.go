package redo

import (
	"math/rand/v2"
	"testing"

	"github.com/pagemill/pagemill/schema"
)

// refPages is the map-based store MemPages replaced, as the reference for
// its behaviour.
type refPages struct {
	pages       map[schema.BufferTag]schema.Page
	unavailable map[schema.BufferTag]bool
}

func (m *refPages) Put(tag schema.BufferTag, page schema.Page) {
	m.pages[tag] = page
	delete(m.unavailable, tag)
}

func (m *refPages) Invalidate(tag schema.BufferTag) {
	delete(m.pages, tag)
	m.unavailable[tag] = true
}

func (m *refPages) Truncate(t *Truncation) {
	for tag := range m.pages {
		if tag.Rel != t.Rel {
			continue
		}
		switch {
		case t.Main && tag.Fork == schema.MainForkNum && tag.Block >= t.MainBlocks:
			delete(m.pages, tag)
		case t.FSM && tag.Fork == schema.FSMForkNum, t.VM && tag.Fork == schema.VisibilityMapFork:
			m.Invalidate(tag)
		}
	}
}

// TestMemPagesMatchesMap runs random Puts, Invalidates and Truncates on
// MemPages and on a map, over a few relations (more than MemPages finds
// without its map), near and far blocks, and compares every lookup.
func TestMemPagesMatchesMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	rels := []schema.RelFileNode{{SpcNode: 1663, DbNode: 5, RelNode: 16384}, {SpcNode: 1663, DbNode: 5, RelNode: 16385}, {SpcNode: 1663, DbNode: 5, RelNode: 16386}, {SpcNode: 1663, DbNode: 6, RelNode: 16384}, {SpcNode: 1664, DbNode: 5, RelNode: 16384}, {SpcNode: 1663, DbNode: 5, RelNode: 2}}
	forks := []schema.ForkNumber{schema.MainForkNum, schema.FSMForkNum, schema.VisibilityMapFork, schema.InitForkNum}
	blocks := func() schema.BlockNumber {
		switch rng.IntN(10) {
		case 0:
			return memDirBlocks - 2 + schema.BlockNumber(rng.IntN(200))
		case 1:
			return schema.InvalidBlockNumber - schema.BlockNumber(rng.IntN(3))
		case 2:
			return schema.BlockNumber(rng.Uint32())
		}
		return schema.BlockNumber(rng.IntN(300))
	}
	var tags []schema.BufferTag
	for range 2000 {
		tags = append(tags, schema.BufferTag{Rel: rels[rng.IntN(len(rels))], Fork: forks[rng.IntN(len(forks))], Block: blocks()})
	}
	mem := NewMemPages()
	ref := &refPages{pages: map[schema.BufferTag]schema.Page{}, unavailable: map[schema.BufferTag]bool{}}
	check := func(step int, tag schema.BufferTag) {
		t.Helper()
		p, ok := mem.Get(tag)
		rp, rok := ref.pages[tag]
		if ok != rok || (ok && &p[0] != &rp[0]) {
			t.Fatalf("step %d: Get(%v) = %v, want %v", step, tag, ok, rok)
		}
		if mem.Unavailable(tag) != ref.unavailable[tag] {
			t.Fatalf("step %d: Unavailable(%v) = %v, want %v", step, tag, mem.Unavailable(tag), ref.unavailable[tag])
		}
	}
	for step := range 200000 {
		tag := tags[rng.IntN(len(tags))]
		switch op := rng.IntN(100); {
		case op < 50:
			check(step, tag)
		case op < 80:
			page := make(schema.Page, 1)
			mem.Put(tag, page)
			ref.Put(tag, page)
		case op < 98:
			mem.Invalidate(tag)
			ref.Invalidate(tag)
		default:
			tr := &Truncation{Rel: tag.Rel, Main: rng.IntN(2) == 0, MainBlocks: blocks(), FSM: rng.IntN(3) == 0, VM: rng.IntN(3) == 0}
			mem.Truncate(tr)
			ref.Truncate(tr)
		}
		if mem.Len() != len(ref.pages) {
			t.Fatalf("step %d: Len = %d, want %d", step, mem.Len(), len(ref.pages))
		}
	}
	for _, tag := range tags {
		check(-1, tag)
	}
}
