package materialize

import (
	"testing"

	"github.com/pagemill/pagemill/schema"
)

func TestReadCache(t *testing.T) {
	c := newReadCache(2)
	tag := func(b schema.BlockNumber) schema.BufferTag { return schema.BufferTag{Block: b} }
	page := make(schema.Page, schema.BLCKSZ)
	gen := c.generation()
	// Read at the newest version (open): answers every LSN from its version on.
	c.put(tag(1), page, 100, 150, true, gen)
	// A historical read answers only up to the LSN it was made at.
	c.put(tag(2), page, 50, 80, false, gen)
	for _, tc := range []struct {
		b    schema.BlockNumber
		lsn  schema.LSN
		want bool
	}{
		{1, 99, false}, {1, 100, true}, {1, 1000, true},
		{2, 49, false}, {2, 50, true}, {2, 80, true}, {2, 81, false},
		{3, 100, false},
	} {
		if _, _, ok := c.get(tag(tc.b), tc.lsn); ok != tc.want {
			t.Errorf("block %d at %d: hit %v, want %v", tc.b, tc.lsn, ok, tc.want)
		}
	}
	// A reconstruction that overlapped a drop is not cached.
	c.drop([]schema.BufferTag{tag(1)}, false)
	if _, _, ok := c.get(tag(1), 200); ok {
		t.Fatal("dropped entry still answers")
	}
	c.put(tag(1), page, 100, 150, true, gen)
	if _, _, ok := c.get(tag(1), 200); ok {
		t.Fatal("stale reconstruction cached after a drop")
	}
	// Capacity.
	gen = c.generation()
	c.put(tag(3), page, 1, 1, true, gen)
	c.put(tag(4), page, 1, 1, true, gen)
	if _, _, ok := c.get(tag(2), 60); ok {
		t.Fatal("least recently used entry not evicted")
	}
	c.drop(nil, true)
	if _, _, ok := c.get(tag(4), 1); ok {
		t.Fatal("drop all kept an entry")
	}
}
