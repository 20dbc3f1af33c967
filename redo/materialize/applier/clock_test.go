package applier

import (
	"slices"
	"testing"

	"github.com/pagemill/pagemill/schema"
)

// TestClock: a page used since the hand last passed survives one sweep;
// removing entries (evictions, drops) keeps every slot pointing at its
// entry.
func TestClock(t *testing.T) {
	var c clock
	es := make([]*centry, 6)
	for i := range es {
		es[i] = &centry{tag: schema.BufferTag{Block: schema.BlockNumber(i)}}
		c.add(es[i])
	}
	check := func() {
		t.Helper()
		for i, e := range c.ring {
			if e.slot != i {
				t.Fatalf("entry %s in slot %d says slot %d", e.tag, i, e.slot)
			}
		}
	}
	// All were just added (referenced): the first sweep clears them and
	// the hand comes back to block 0.
	if v := c.victim(); v != es[0] {
		t.Fatalf("first victim %s, want block 0", v.tag)
	}
	c.remove(es[0]) // block 5 moves into slot 0
	check()
	es[5].ref = true // used again
	es[2].ref = true
	var order []schema.BlockNumber
	for c.len() > 2 {
		v := c.victim()
		c.remove(v)
		check()
		order = append(order, v.tag.Block)
	}
	// Block 5 (slot 0) and block 2 were used: 1, 3 and 4 go first (in
	// ring order, which removals reshuffle).
	if len(order) != 3 || slices.Contains(order, 2) || slices.Contains(order, 5) {
		t.Fatalf("evicted %v, want 1, 3 and 4", order)
	}
	c.remove(es[2])
	check()
	if c.len() != 1 || c.ring[0] != es[5] {
		t.Fatalf("left %d entries, want block 5 alone", c.len())
	}
}

// TestClockSparesLongChains: among pages not used lately, one whose
// reload would replay many records is evicted after those that reload
// from an image or a short chain, but not for ever.
func TestClockSparesLongChains(t *testing.T) {
	var c clock
	long := &centry{tag: schema.BufferTag{Block: 0}, deltas: 2*spareEvery + 1}
	short := &centry{tag: schema.BufferTag{Block: 1}, deltas: 1}
	mid := &centry{tag: schema.BufferTag{Block: 2}, deltas: spareEvery}
	for _, e := range []*centry{long, short, mid} {
		c.add(e)
	}
	var order []schema.BlockNumber
	for c.len() > 0 {
		v := c.victim()
		c.remove(v)
		order = append(order, v.tag.Block)
	}
	if want := []schema.BlockNumber{1, 2, 0}; !slices.Equal(order, want) {
		t.Fatalf("evicted blocks %v, want %v", order, want)
	}
}
