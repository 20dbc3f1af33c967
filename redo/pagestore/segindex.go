package pagestore

import (
	"math"
	"sync"

	"github.com/pagemill/pagemill/schema"
)

// segIndex is where each page's packs are in the segments, in memory
// (about 24 bytes a pack): a read goes to the pack's bytes without
// searching the segment's directory, so it touches only them (under
// memory pressure, each directory page a search touched would be a
// fault). A reader opens its transaction before it looks here, and GC
// takes a segment out of here before deleting it: so a segment a reader
// finds is in the reader's snapshot.
//
// A page's packs are a list, oldest first, through nodes in chunks that
// never move; the map holds plain numbers. A commit adds a pack to
// thousands of pages under the write lock, and with a slice per page the
// additions' allocations and the collector's scans of the map (a pointer
// per page) were a twentieth of the materializer's CPU.
type segIndex struct {
	mu   sync.RWMutex
	next uint64             // the next segment's seq
	segs map[uint32]segMeta // by id
	ids  uint32             // the next id
	packLists
}

// packLists are the pages' lists of packs.
type packLists struct {
	pages map[schema.BufferTag]uint32 // the page's list in lists
	lists []packList
	nodes [][]packNode // chunks of nodeChunk
	used  int          // nodes in use
}

// packRef is where a pack is, its segment and its bytes there, and its
// records' LSN range as offsets from the segment's first LSN (lo at most
// and hi at least what they are: an offset past 32 bits is capped, and a
// capped hi means the segment's last).
type packRef struct{ id, off, n, lo, hi uint32 }

// packNode is a pack in a page's list; next is a node number, noNode
// at the list's end.
type packNode struct {
	packRef
	next uint32
}

// packList is a page's packs: its first and last node.
type packList struct{ head, tail uint32 }

const (
	nodeChunk = 1 << 16
	noNode    = math.MaxUint32
)

func newSegIndex() *segIndex {
	return &segIndex{segs: map[uint32]segMeta{}, packLists: packLists{pages: map[schema.BufferTag]uint32{}}}
}

func (x *packLists) node(i uint32) *packNode { return &x.nodes[i/nodeChunk][i%nodeChunk] }

// push appends r to tag's list (under the index's write lock).
func (x *packLists) push(tag schema.BufferTag, r packRef) {
	i := uint32(x.used)
	if x.used%nodeChunk == 0 {
		x.nodes = append(x.nodes, make([]packNode, nodeChunk))
	}
	x.used++
	*x.node(i) = packNode{packRef: r, next: noNode}
	if l, ok := x.pages[tag]; ok {
		lst := &x.lists[l]
		x.node(lst.tail).next = i
		lst.tail = i
		return
	}
	x.pages[tag] = uint32(len(x.lists))
	x.lists = append(x.lists, packList{head: i, tail: i})
}

// add records a segment that is committed.
func (x *segIndex) add(seq uint64, g segment, locs []packLoc, file uint32) {
	x.mu.Lock()
	defer x.mu.Unlock()
	id := x.ids
	x.ids++
	x.segs[id] = segMeta{seq: seq, tli: g.tli, first: g.first, last: g.last, file: file}
	for _, l := range locs {
		x.push(l.tag, packRef{id: id, off: l.off, n: l.n, lo: lsnOffset(l.first, g.first), hi: lsnOffset(l.last, g.first)})
	}
	x.next = max(x.next, seq+1)
}

// allocate reserves a segment seq.
func (x *segIndex) allocate() uint64 {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.next++
	return x.next - 1
}

// each calls fn with tag's packs, oldest first (under the index's lock).
func (x *packLists) each(tag schema.BufferTag, fn func(packRef)) {
	l, ok := x.pages[tag]
	if !ok {
		return
	}
	for i := x.lists[l].head; i != noNode; {
		n := x.node(i)
		fn(n.packRef)
		i = n.next
	}
}

// of returns the packs of tag in segments with records in (after, upTo].
func (x *segIndex) of(tag schema.BufferTag, after, upTo schema.LSN) []segPackRef {
	x.mu.RLock()
	defer x.mu.RUnlock()
	var out []segPackRef
	x.each(tag, func(r packRef) {
		m := x.segs[r.id]
		first, last := m.first+schema.LSN(r.lo), m.last
		if r.hi < math.MaxUint32 {
			last = m.first + schema.LSN(r.hi)
		}
		if last > after && first <= upTo {
			out = append(out, segPackRef{segMeta: m, off: r.off, n: r.n})
		}
	})
	return out
}

// size returns how many segments and packs the index holds.
func (x *segIndex) size() (segs, packs int) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return len(x.segs), x.used
}

// pageCount is how many pages have packs.
func (x *segIndex) pageCount() int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return len(x.pages)
}

// pagesOf lists the pages of a relation fork (all forks when allForks)
// from block from on that segments hold records of.
func (x *segIndex) pagesOf(rel schema.RelFileNode, fork schema.ForkNumber, allForks bool, from schema.BlockNumber) []schema.BufferTag {
	x.mu.RLock()
	defer x.mu.RUnlock()
	var out []schema.BufferTag
	for t := range x.pages {
		if t.Rel == rel && (allForks || t.Fork == fork) && t.Block >= from {
			out = append(out, t)
		}
	}
	return out
}

// pagesUpTo returns the pages of segments with records at or below lsn.
func (x *segIndex) pagesUpTo(lsn schema.LSN) map[schema.BufferTag]bool {
	x.mu.RLock()
	defer x.mu.RUnlock()
	out := map[schema.BufferTag]bool{}
	for t := range x.pages {
		x.each(t, func(r packRef) {
			if x.segs[r.id].first <= lsn {
				out[t] = true
			}
		})
	}
	return out
}

// removeUpTo takes the segments wholly at or below lsn out of the index
// and returns them, for deletion. The lists are built anew from what is
// left (GC is rare; additions are not).
func (x *segIndex) removeUpTo(lsn schema.LSN) []segMeta {
	x.mu.Lock()
	defer x.mu.Unlock()
	var segs []segMeta
	for id, m := range x.segs {
		if m.last <= lsn {
			segs = append(segs, m)
			delete(x.segs, id)
		}
	}
	if len(segs) == 0 {
		return nil
	}
	old := x.packLists
	x.packLists = packLists{pages: make(map[schema.BufferTag]uint32, len(old.pages))}
	for t := range old.pages {
		old.each(t, func(r packRef) {
			if _, ok := x.segs[r.id]; ok {
				x.push(t, r)
			}
		})
	}
	return segs
}
