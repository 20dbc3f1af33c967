package schema

import (
	"math/rand/v2"
	"testing"
)

// TestTagMapAgainstMap runs random puts, gets and deletes on a TagMap and
// on a Go map side by side; a small key space makes long probe runs and
// deletions inside them (the backward shift) common.
func TestTagMapAgainstMap(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	tag := func() BufferTag {
		return BufferTag{Rel: RelFileNode{SpcNode: 1663, DbNode: 5, RelNode: Oid(16384 + r.IntN(3))}, Fork: ForkNumber(r.IntN(2)), Block: BlockNumber(r.IntN(300))}
	}
	var m TagMap[int]
	ref := map[BufferTag]int{}
	for i := range 200000 {
		k := tag()
		switch op := r.IntN(10); {
		case op < 5:
			m.Put(k, i)
			ref[k] = i
		case op < 8:
			m.Delete(k)
			delete(ref, k)
		default:
			got, ok := m.Get(k)
			want, wok := ref[k]
			if ok != wok || got != want {
				t.Fatalf("op %d: Get(%v) = %d, %v; want %d, %v", i, k, got, ok, want, wok)
			}
		}
		if m.Len() != len(ref) {
			t.Fatalf("op %d: Len %d, want %d", i, m.Len(), len(ref))
		}
		if i%50000 == 49999 {
			n := 0
			for k, v := range m.All() {
				if ref[k] != v {
					t.Fatalf("All: %v = %d, want %d", k, v, ref[k])
				}
				n++
			}
			if n != len(ref) {
				t.Fatalf("All visited %d, want %d", n, len(ref))
			}
		}
	}
	m.Clear()
	if _, ok := m.Get(tag()); ok || m.Len() != 0 {
		t.Fatal("Clear left entries")
	}
}

func BenchmarkTagMapGet(b *testing.B) {
	tags := make([]BufferTag, 20000)
	for i := range tags {
		tags[i] = BufferTag{Rel: RelFileNode{SpcNode: 1663, DbNode: 5, RelNode: Oid(16384 + i%7)}, Block: BlockNumber(i)}
	}
	b.Run("TagMap", func(b *testing.B) {
		var m TagMap[*int]
		for _, t := range tags {
			m.Put(t, new(int))
		}
		for i := 0; b.Loop(); i++ {
			if _, ok := m.Get(tags[i%len(tags)]); !ok {
				b.Fatal("missing")
			}
		}
	})
	b.Run("map", func(b *testing.B) {
		m := map[BufferTag]*int{}
		for _, t := range tags {
			m[t] = new(int)
		}
		for i := 0; b.Loop(); i++ {
			if _, ok := m[tags[i%len(tags)]]; !ok {
				b.Fatal("missing")
			}
		}
	})
}
