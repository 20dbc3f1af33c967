package schema

import (
	"iter"
	"math/bits"
)

// TagMap is a hash map from BufferTag to V, for the paths that look a
// page up once or more per record (the redo shards' current pages, a page
// store writer's packs). Go's map hashes a 20-byte key with its general
// memory hash and compares it as memory; this one mixes the tag's words
// with two multiplications and compares them as integers. Open
// addressing, linear probing, deletion by backward shift (no tombstones),
// so a map that evicts and inserts all day keeps its probe lengths.
//
// The zero TagMap is empty and ready. Not safe for concurrent use.
type TagMap[V any] struct {
	slots []tagSlot[V]
	n     int
	shift uint8 // 64 - log2(len(slots))
}

type tagSlot[V any] struct {
	tag  BufferTag
	used bool
	v    V
}

// tagMapMinSlots is the size of a new map's table.
const tagMapMinSlots = 16

// index spreads a tag over the table: the high bits of a multiplicative
// mix of its words (Fibonacci hashing), so that neighbouring blocks of a
// relation do not probe neighbouring slots in runs.
func (m *TagMap[V]) index(t BufferTag) uint64 {
	a := uint64(t.Rel.RelNode)<<32 | uint64(t.Block)
	b := uint64(t.Rel.DbNode)<<32 | uint64(t.Rel.SpcNode) ^ uint64(t.Fork)<<27
	h := (a ^ b*0x9E3779B97F4A7C15) * 0xBF58476D1CE4E5B9
	return (h ^ h>>29) * 0x94D049BB133111EB >> m.shift
}

// Len is the number of tags in the map.
func (m *TagMap[V]) Len() int { return m.n }

// Get returns the value of t and whether t is in the map.
func (m *TagMap[V]) Get(t BufferTag) (V, bool) {
	if m.n > 0 {
		mask := uint64(len(m.slots) - 1)
		for i := m.index(t); ; i = (i + 1) & mask {
			s := &m.slots[i]
			if !s.used {
				break
			}
			if s.tag == t {
				return s.v, true
			}
		}
	}
	var zero V
	return zero, false
}

// Put sets the value of t.
func (m *TagMap[V]) Put(t BufferTag, v V) {
	if (m.n+1)*4 > len(m.slots)*3 { // at most three quarters full
		m.grow()
	}
	mask := uint64(len(m.slots) - 1)
	for i := m.index(t); ; i = (i + 1) & mask {
		s := &m.slots[i]
		if !s.used {
			*s = tagSlot[V]{tag: t, used: true, v: v}
			m.n++
			return
		}
		if s.tag == t {
			s.v = v
			return
		}
	}
}

// Delete removes t, if it is there.
func (m *TagMap[V]) Delete(t BufferTag) {
	if m.n == 0 {
		return
	}
	mask := uint64(len(m.slots) - 1)
	i := m.index(t)
	for ; ; i = (i + 1) & mask {
		s := &m.slots[i]
		if !s.used {
			return
		}
		if s.tag == t {
			break
		}
	}
	// Backward shift: move up each later entry of the run whose home
	// slot is not between the hole and it, so every entry stays
	// reachable from its home without a tombstone.
	for j := (i + 1) & mask; m.slots[j].used; j = (j + 1) & mask {
		home := m.index(m.slots[j].tag)
		if (j-home)&mask >= (j-i)&mask {
			m.slots[i] = m.slots[j]
			i = j
		}
	}
	m.slots[i] = tagSlot[V]{}
	m.n--
}

// Clear removes every tag, keeping the table's memory.
func (m *TagMap[V]) Clear() {
	clear(m.slots)
	m.n = 0
}

// All yields every tag and its value, in no particular order. The loop
// must not change the map.
func (m *TagMap[V]) All() iter.Seq2[BufferTag, V] {
	return func(yield func(BufferTag, V) bool) {
		for i := range m.slots {
			if s := &m.slots[i]; s.used && !yield(s.tag, s.v) {
				return
			}
		}
	}
}

func (m *TagMap[V]) grow() {
	old := m.slots
	n := max(tagMapMinSlots, 2*len(old))
	m.slots = make([]tagSlot[V], n)
	m.shift = uint8(64 - bits.TrailingZeros(uint(n)))
	m.n = 0
	for i := range old {
		if s := &old[i]; s.used {
			m.Put(s.tag, s.v)
		}
	}
}
