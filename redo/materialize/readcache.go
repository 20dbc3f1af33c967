package materialize

import (
	"container/list"
	"sync"

	"github.com/pagemill/pagemill/schema"
)

// readCache keeps recently read pages of one shard with the LSN of their
// version and the LSNs they are known to answer. A page read at the
// shard's applied LSN (the newest version) answers every later read until
// the shard writes a newer version: the shard drops the page's entry after
// committing that version and before advancing the applied LSN. A page
// read at an older LSN answers reads between its version and that LSN. A reconstruction that overlapped
// such a drop does not insert its (possibly stale) result: gen changes
// with every drop.
type readCache struct {
	mu      sync.Mutex
	gen     uint64
	cap     int
	entries map[schema.BufferTag]*rentry
	lru     *list.List
}

type rentry struct {
	tag     schema.BufferTag
	page    schema.Page
	version schema.LSN
	upTo    schema.LSN // answers reads in [version, upTo], or beyond when open
	open    bool
	elem    *list.Element
}

func newReadCache(capacity int) *readCache {
	return &readCache{cap: capacity, entries: map[schema.BufferTag]*rentry{}, lru: list.New()}
}

// get returns a copy of the page for a read at lsn, if cached.
func (c *readCache) get(tag schema.BufferTag, lsn schema.LSN) (schema.Page, schema.LSN, bool) {
	if c.cap <= 0 {
		return nil, 0, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[tag]
	if !ok || lsn < e.version || (!e.open && lsn > e.upTo) {
		return nil, 0, false
	}
	c.lru.MoveToFront(e.elem)
	return append(schema.Page(nil), e.page...), e.version, true
}

// generation is read before a reconstruction starts.
func (c *readCache) generation() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

// put caches a reconstruction at lsn that started at generation gen; open
// says lsn was at or past the shard's applied LSN when it started.
func (c *readCache) put(tag schema.BufferTag, page schema.Page, version, lsn schema.LSN, open bool, gen uint64) {
	if c.cap <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	if e, ok := c.entries[tag]; ok {
		if e.open && !open {
			return // keep the entry for the newest version
		}
		c.lru.Remove(e.elem)
	}
	e := &rentry{tag: tag, page: append(schema.Page(nil), page...), version: version, upTo: lsn, open: open}
	e.elem = c.lru.PushFront(e)
	c.entries[tag] = e
	for c.lru.Len() > c.cap {
		old := c.lru.Remove(c.lru.Back()).(*rentry)
		delete(c.entries, old.tag)
	}
}

// drop forgets pages that got new versions (all pages when tags is nil).
func (c *readCache) drop(tags []schema.BufferTag, all bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	if all {
		c.entries = map[schema.BufferTag]*rentry{}
		c.lru.Init()
		return
	}
	for _, t := range tags {
		if e, ok := c.entries[t]; ok {
			c.lru.Remove(e.elem)
			delete(c.entries, t)
		}
	}
}

// clear drops every entry (the history changed under them: a timeline
// switch), and stops reconstructions under way from inserting.
func (c *readCache) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	clear(c.entries)
	c.lru.Init()
}
