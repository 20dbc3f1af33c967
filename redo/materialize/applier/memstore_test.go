package applier

import (
	"fmt"
	"sort"

	"github.com/pagemill/pagemill/redo"
	"github.com/pagemill/pagemill/schema"
)

// memStore is a page store in memory for the applier's tests: it keeps
// every version written (records as deltas, images, markers) and
// reconstructs a page at an LSN the way the page store does, from the
// newest image at or below it and the records after, replayed by redo.
type memStore struct {
	versions map[schema.BufferTag][]version
	sizes    map[schema.RelFork][]sizeEntry
	failing  map[schema.BufferTag]error // Latest and PageAt fail with this
	writes   int
	flushes  int
	// checksums: replay as with data checksums (pagestore's
	// Options.DataChecksums).
	checksums bool
}

type version struct {
	lsn    schema.LSN
	kind   string // "image", "record", "unavailable", "absent"
	page   schema.Page
	raw    []byte
	start  schema.LSN
	reason string
}

type sizeEntry struct {
	lsn    schema.LSN
	change SizeChange
	n      schema.BlockNumber
}

func newMemStore() *memStore {
	return &memStore{versions: map[schema.BufferTag][]version{}, sizes: map[schema.RelFork][]sizeEntry{}, failing: map[schema.BufferTag]error{}}
}

func (m *memStore) put(tag schema.BufferTag, v version) {
	m.writes++
	vs := m.versions[tag]
	// A rewrite at the same LSN (a replay) replaces the version there.
	i := sort.Search(len(vs), func(i int) bool { return vs[i].lsn >= v.lsn })
	if i < len(vs) && vs[i].lsn == v.lsn {
		vs[i] = v
		return
	}
	vs = append(vs, version{})
	copy(vs[i+1:], vs[i:])
	vs[i] = v
	m.versions[tag] = vs
}

func (m *memStore) PutImage(tag schema.BufferTag, lsn schema.LSN, page schema.Page) {
	m.put(tag, version{lsn: lsn, kind: "image", page: append(schema.Page(nil), page...)})
}

func (m *memStore) PutRecord(tag schema.BufferTag, rec *schema.DecodedRecord) {
	m.put(tag, version{lsn: rec.EndLSN, kind: "record", raw: append([]byte(nil), rec.Raw...), start: rec.LSN})
}

func (m *memStore) PutUnavailable(tag schema.BufferTag, lsn schema.LSN, reason string) {
	m.put(tag, version{lsn: lsn, kind: "unavailable", reason: reason})
}

func (m *memStore) PutAbsent(tag schema.BufferTag, lsn schema.LSN) {
	m.put(tag, version{lsn: lsn, kind: "absent"})
}

func (m *memStore) PutSize(rel schema.RelFileNode, fork schema.ForkNumber, lsn schema.LSN, _ int, change SizeChange, n schema.BlockNumber) {
	k := schema.RelFork{Rel: rel, Fork: fork}
	m.sizes[k] = append(m.sizes[k], sizeEntry{lsn, change, n})
}

func (m *memStore) PutCheckpoint(lsn, end schema.LSN, data []byte) {}

func (m *memStore) Flush() error { m.flushes++; return nil }

// pageAt reconstructs tag as of lsn and counts the records replayed.
func (m *memStore) pageAt(tag schema.BufferTag, lsn schema.LSN) (schema.Page, schema.LSN, int, error) {
	if err := m.failing[tag]; err != nil {
		return nil, 0, 0, err
	}
	vs := m.versions[tag]
	n := sort.Search(len(vs), func(i int) bool { return vs[i].lsn > lsn })
	if n == 0 {
		return nil, 0, 0, ErrNotFound
	}
	base := n - 1
	for base >= 0 && vs[base].kind == "record" {
		base--
	}
	page := make(schema.Page, schema.BLCKSZ)
	if base >= 0 {
		switch vs[base].kind {
		case "absent":
			if base == n-1 {
				return nil, 0, 0, ErrNotFound
			}
		case "unavailable":
			return nil, 0, 0, fmt.Errorf("%w: %s", ErrUnavailable, vs[base].reason)
		case "image":
			copy(page, vs[base].page)
		}
	}
	e, err := redo.NewEngine()
	if err != nil {
		return nil, 0, 0, err
	}
	e.DataChecksums = m.checksums
	one := &onePage{tag: tag, page: page, ok: true}
	var rec schema.DecodedRecord
	for _, v := range vs[base+1 : n] {
		if err := schema.DecodeRecordInto(&rec, v.raw, v.start, v.lsn); err != nil {
			return nil, 0, 0, err
		}
		if _, err := e.Apply(&rec, one); err != nil {
			return nil, 0, 0, fmt.Errorf("replay %s: %w", v.lsn, err)
		}
		if !one.ok {
			return nil, 0, 0, fmt.Errorf("%w: replay of %s", ErrUnavailable, v.lsn)
		}
	}
	return one.page, vs[n-1].lsn, n - 1 - base, nil
}

func (m *memStore) Latest(tag schema.BufferTag, _ schema.Page) (schema.Page, schema.LSN, int, error) {
	return m.pageAt(tag, schema.LSN(^uint64(0)))
}

func (m *memStore) PageAt(tag schema.BufferTag, lsn schema.LSN) (schema.Page, schema.LSN, error) {
	p, at, _, err := m.pageAt(tag, lsn)
	return p, at, err
}

func (m *memStore) RelSize(rel schema.RelFileNode, fork schema.ForkNumber, lsn schema.LSN) (schema.BlockNumber, bool, error) {
	var n schema.BlockNumber
	exists := false
	for _, e := range m.sizes[schema.RelFork{Rel: rel, Fork: fork}] {
		if e.lsn > lsn {
			continue
		}
		switch e.change {
		case SizeExtend:
			n, exists = max(n, e.n), true
		case SizeSet:
			n, exists = e.n, true
		case SizeTruncate:
			n = min(n, e.n)
		case SizeDrop:
			n, exists = 0, false
		}
	}
	return n, exists, nil
}

func (m *memStore) Relations(db uint32, lsn schema.LSN) (map[schema.RelFork]schema.BlockNumber, error) {
	out := map[schema.RelFork]schema.BlockNumber{}
	for k := range m.sizes {
		if db != 0 && k.Rel.DbNode != db {
			continue
		}
		if n, ok, _ := m.RelSize(k.Rel, k.Fork, lsn); ok {
			out[k] = n
		}
	}
	return out, nil
}

func (m *memStore) PagesOf(rel schema.RelFileNode, fork schema.ForkNumber, allForks bool, from schema.BlockNumber) ([]schema.BufferTag, error) {
	var out []schema.BufferTag
	for t, vs := range m.versions {
		if t.Rel != rel || (!allForks && t.Fork != fork) || t.Block < from || vs[len(vs)-1].kind == "absent" {
			continue
		}
		out = append(out, t)
	}
	return out, nil
}

// onePage is the redo.PartialPages of one page being reconstructed.
type onePage struct {
	tag  schema.BufferTag
	page schema.Page
	ok   bool
}

func (o *onePage) Owns(tag schema.BufferTag) bool { return tag == o.tag }

func (o *onePage) Get(tag schema.BufferTag) (schema.Page, bool) {
	if tag != o.tag {
		return nil, false
	}
	return o.page, o.ok
}

func (o *onePage) Put(tag schema.BufferTag, page schema.Page) {
	if tag == o.tag {
		o.page, o.ok = page, true
	}
}

func (o *onePage) Invalidate(tag schema.BufferTag) {
	if tag == o.tag {
		o.ok = false
	}
}
