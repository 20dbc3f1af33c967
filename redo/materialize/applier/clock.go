package applier

// clock orders the applier cache's evictions: CLOCK (second chance),
// weighed by what a page costs to load again. A hit only sets the
// entry's bit; an LRU list moved the entry to its front on every hit, a
// pointer chase through a cold list that cost 3% of the materializer's
// CPU. Eviction sweeps the ring, clearing bits, and takes the first entry
// without one, except that an entry whose stored chain has many records
// since its last image (a reload replays them all) is passed over for up
// to deltas/spareEvery (at most maxSpared) more sweeps. With more pages
// in use than fit, the misses then fall more on pages imaged lately,
// whose reload replays few records; a page in use keeps its bit whatever
// its chain.
type clock struct {
	ring []*centry
	hand int
}

// add puts e in the ring, referenced: a page just loaded is not the next
// victim.
func (c *clock) add(e *centry) {
	e.slot, e.ref = len(c.ring), true
	c.ring = append(c.ring, e)
}

// remove takes e out of the ring; the last entry takes its slot.
func (c *clock) remove(e *centry) {
	last := c.ring[len(c.ring)-1]
	c.ring[e.slot], last.slot = last, e.slot
	c.ring[len(c.ring)-1] = nil
	c.ring = c.ring[:len(c.ring)-1]
	if c.hand >= len(c.ring) {
		c.hand = 0
	}
}

// victim is the next entry to evict (the ring must not be empty); it stays
// in the ring until removed.
func (c *clock) victim() *centry {
	for {
		if c.hand >= len(c.ring) {
			c.hand = 0
		}
		e := c.ring[c.hand]
		switch {
		case e.ref:
			e.ref, e.spared = false, 0
		case e.spared < min(e.deltas/spareEvery, maxSpared):
			e.spared++
		default:
			return e
		}
		c.hand++
	}
}

// spareEvery: an unreferenced entry is passed over once more for every
// spareEvery records its reload would replay, at most maxSpared times
// (with a large ImageEvery a sweep must still end soon).
const (
	spareEvery = 8
	maxSpared  = 7
)

func (c *clock) len() int { return len(c.ring) }
