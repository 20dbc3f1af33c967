package applier

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/pagemill/pagemill/redo"
	"github.com/pagemill/pagemill/schema"
)

// Errors a Store answers with (wrapped or not) for a page it cannot give.
var (
	// ErrNotFound: the store has no version of the page (never written,
	// or absent: dropped or truncated away).
	ErrNotFound = errors.New("page not found")
	// ErrUnavailable: the page's current version could not be made exactly.
	ErrUnavailable = errors.New("page not reconstructible")
)

// Store is what the applier reads of the page store.
type Store interface {
	// Latest is the newest version of tag, its LSN and the number of
	// records since its last image. buf is a page the applier no longer
	// uses: the store may build the result in it.
	Latest(tag schema.BufferTag, buf schema.Page) (schema.Page, schema.LSN, int, error)
	// PageAt is tag as of lsn.
	PageAt(tag schema.BufferTag, lsn schema.LSN) (schema.Page, schema.LSN, error)
	// RelSize is a relation fork's size at lsn and whether it exists.
	RelSize(rel schema.RelFileNode, fork schema.ForkNumber, lsn schema.LSN) (schema.BlockNumber, bool, error)
	// Relations lists the relation forks of database db (0: all) at lsn.
	Relations(db uint32, lsn schema.LSN) (map[schema.RelFork]schema.BlockNumber, error)
	// PagesOf lists the stored pages of a fork (every fork when allForks)
	// at or past block from.
	PagesOf(rel schema.RelFileNode, fork schema.ForkNumber, allForks bool, from schema.BlockNumber) ([]schema.BufferTag, error)
}

// SizeChange says how a relation size entry changes the size.
type SizeChange byte

const (
	SizeExtend   SizeChange = iota + 1 // a block was referenced: at least n blocks
	SizeSet                            // created (0) or copied: exactly n
	SizeTruncate                       // at most n
	SizeDrop                           // gone
)

// Sink takes what the applier writes, in order. Writes become visible to
// Store reads after Flush: the driver commits then, or starts to and makes
// its Store reads wait for the commit (a load of a page TakeLeftToStore
// named waits too, the others may read the store as it was before).
type Sink interface {
	PutImage(tag schema.BufferTag, lsn schema.LSN, page schema.Page)
	PutRecord(tag schema.BufferTag, rec *schema.DecodedRecord)
	PutUnavailable(tag schema.BufferTag, lsn schema.LSN, reason string)
	PutAbsent(tag schema.BufferTag, lsn schema.LSN)
	PutSize(rel schema.RelFileNode, fork schema.ForkNumber, lsn schema.LSN, shard int, change SizeChange, n schema.BlockNumber)
	PutCheckpoint(lsn, end schema.LSN, data []byte)
	Flush() error
}

// Spill keeps current pages evicted from the cache where loading one back
// costs a read instead of a page store lookup, a decompression and maybe a
// replay, and where evicting it costs a write instead of an image in the
// page store (the driver's file; PostgreSQL's evicted buffers likewise
// live on in the kernel's page cache). What it holds may be newer than
// what the store has made durable: it lasts no longer than the applier.
type Spill interface {
	// Put keeps page as tag's current version, with its LSN and the
	// records since its last stored image; false when it has no room or
	// could not keep it.
	Put(tag schema.BufferTag, page schema.Page, lsn schema.LSN, deltas int) bool
	// Take returns tag's page, read into buf when that is a whole page,
	// and forgets it; ok is false when it has none, or could not read it
	// (the store then gives the same version: everything before an
	// eviction is committed before the next batch loads a page).
	Take(tag schema.BufferTag, buf schema.Page) (page schema.Page, lsn schema.LSN, deltas int, ok bool)
	// Drop forgets tag's page.
	Drop(tag schema.BufferTag)
}

// noSpill is the Spill of an applier configured without one: it keeps
// nothing.
type noSpill struct{}

func (noSpill) Put(schema.BufferTag, schema.Page, schema.LSN, int) bool { return false }
func (noSpill) Take(schema.BufferTag, schema.Page) (schema.Page, schema.LSN, int, bool) {
	return nil, 0, 0, false
}
func (noSpill) Drop(schema.BufferTag) {}

// Config sets an applier up.
type Config struct {
	// ID names this applier's size entries (shards write extensions
	// under their own id, so two never collide at one LSN).
	ID int
	// Owns says whether this applier keeps tag; nil owns every page.
	Owns func(tag schema.BufferTag) bool
	// Sizes: this applier writes relation-level sizes and checkpoints
	// (exactly one applier of a materializer does).
	Sizes bool
	// CachePages bounds the current pages kept in memory.
	CachePages int
	// ImageEvery: a page gets a full image after this many records.
	ImageEvery int
	// EvictImageAfter: a page evicted from the cache with this many
	// records since its last image gets an image first (0: ImageEvery/8).
	EvictImageAfter int
	// Spill, when set, keeps evicted pages (see Spill); a page it takes
	// gets no eviction image.
	Spill         Spill
	DataChecksums bool
	Log           *slog.Logger
}

// Stats counts what the applier did since the last TakeStats.
type Stats struct {
	Images, Deltas, Unavailable, Versions int
	// Spilled and Unspilled count pages evicted to Config.Spill and
	// loaded back from it.
	Spilled, Unspilled int
	// Applied and Unsupported count records by type: rmgr<<8 | info.
	Applied     map[uint16]int
	Unsupported map[uint16]int
}

// Applier applies records to the pages it owns; see the package doc.
type Applier struct {
	cfg    Config
	store  Store
	sink   Sink
	engine *redo.Engine
	spill  Spill // Config.Spill, or noSpill

	cache schema.TagMap[*centry]
	clock clock
	sizes map[schema.RelFork]schema.BlockNumber
	// sizesGen changes whenever a size is forgotten (centry.sized).
	sizesGen uint64
	cur      []*centry // the pages of the record being applied
	res      redo.Result
	tags     []schema.BufferTag

	loadErr    error              // a page could not be read from the store
	written    []schema.BufferTag // pages given new versions since TakeWritten
	relChanged bool               // a relation-level change since TakeWritten
	stats      Stats
	applied    typeCounts    // Stats.Applied until TakeStats
	free       []schema.Page // evicted pages, for newPage
	// toStore are the pages let go since TakeLeftToStore without keeping
	// them in the cache or the spill (evicted, dropped or truncated): their
	// newest versions are the sink's to commit.
	toStore []schema.BufferTag
}

// typeCounts counts records by type (rmgr<<8 | info) in a table: a map
// increment per record cost about 1% of the materializer's CPU.
type typeCounts struct {
	n       [1 << 16]int32
	touched []uint16 // the types counted, each once
}

func (c *typeCounts) add(k uint16) {
	if c.n[k] == 0 {
		c.touched = append(c.touched, k)
	}
	c.n[k]++
}

// moveTo adds the counts to m and resets them.
func (c *typeCounts) moveTo(m map[uint16]int) {
	for _, k := range c.touched {
		m[k] += int(c.n[k])
		c.n[k] = 0
	}
	c.touched = c.touched[:0]
}

// centry is a cached current page.
type centry struct {
	tag    schema.BufferTag
	page   schema.Page
	ok     bool       // false: unavailable
	deltas int        // records since the last image
	lsn    schema.LSN // LSN of the newest stored version
	slot   int        // in the clock's ring
	ref    bool       // used since the clock's hand last passed
	spared int        // sweeps passed over since the hand last cleared ref
	sized  uint64     // Applier.sizesGen when the relation's size was known to cover the page
}

// New makes an applier reading store and writing to sink.
func New(cfg Config, store Store, sink Sink) (*Applier, error) {
	if cfg.ImageEvery < 1 {
		return nil, fmt.Errorf("applier: ImageEvery %d, want at least 1", cfg.ImageEvery)
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	e, err := redo.NewEngine()
	if err != nil {
		return nil, err
	}
	e.DataChecksums = cfg.DataChecksums
	a := &Applier{cfg: cfg, store: store, sink: sink, engine: e, spill: cfg.Spill,
		sizes: map[schema.RelFork]schema.BlockNumber{}, sizesGen: 1}
	if a.spill == nil {
		a.spill = noSpill{}
	}
	a.resetStats()
	return a, nil
}

// Owns reports whether this applier keeps tag.
func (a *Applier) Owns(tag schema.BufferTag) bool { return a.cfg.Owns == nil || a.cfg.Owns(tag) }

// TakeStats returns the counts since the last call and resets them.
func (a *Applier) TakeStats() Stats {
	s := a.stats
	a.applied.moveTo(s.Applied)
	a.resetStats()
	return s
}

func (a *Applier) resetStats() {
	a.stats = Stats{Applied: map[uint16]int{}, Unsupported: map[uint16]int{}}
}

// TakeWritten returns the pages given new versions since the last call,
// and whether a relation-level change happened (readers' caches of those
// must go); the slice is reused by the next call.
func (a *Applier) TakeWritten() ([]schema.BufferTag, bool) {
	w, r := a.written, a.relChanged
	a.written, a.relChanged = a.written[:0], false
	return w, r
}

// Evict drops cached pages beyond the budget, in clock order. The driver
// calls it before committing a batch. A page evicted with a long chain
// since its last image (evictImageAfter records or more) gets an image at
// its newest version first: it is in memory now, and reloading it later
// then reads that image instead of replaying the chain from the store.
func (a *Applier) Evict() {
	for a.clock.len() > max(1, a.cfg.CachePages) {
		e := a.clock.victim()
		switch {
		case e.ok && e.lsn > 0 && a.spill.Put(e.tag, e.page, e.lsn, e.deltas):
			a.stats.Spilled++
		case e.ok && e.lsn > 0 && e.deltas >= a.evictImageAfter():
			a.sink.PutImage(e.tag, e.lsn, e.page)
			a.stats.Images++
			a.toStore = append(a.toStore, e.tag)
		default:
			a.toStore = append(a.toStore, e.tag)
		}
		a.evicted(e)
	}
}

// TakeLeftToStore returns the pages let go since the last call without
// keeping them in the cache or the spill (evicted by Evict, or dropped,
// truncated or copied over): loading one again reads what the sink was
// given for it, so a driver that commits in the background must have that
// committed first. The slice is reused by the next call.
func (a *Applier) TakeLeftToStore() []schema.BufferTag {
	t := a.toStore
	a.toStore = a.toStore[:0]
	return t
}

// evicted takes e out of the cache. Nothing else holds an evicted page
// (the sink and the spill copy what they keep): its memory becomes the
// next new or loaded page's.
func (a *Applier) evicted(e *centry) {
	a.clock.remove(e)
	a.cache.Delete(e.tag)
	a.putFree(e.page)
	e.page = nil
}

// spillOver moves pages beyond twice the cache's bound to the spill,
// between records: a batch that loads thousands of pages would otherwise
// hold them all until Evict at its commit (every page a batch touches,
// with large batches and working sets more than a memory budget has).
// Twice, not once: a page spilled within its batch is often loaded again
// before the batch ends, and spilling down to the bound itself doubled the
// spill's reads and writes. Only the spill takes them: a page evicted to
// the store before the batch commits could not be read back from it (the
// batch's writes are not visible yet), so without room it waits for
// Evict.
func (a *Applier) spillOver() {
	if a.cfg.Spill == nil {
		return // nothing can leave the cache before the batch commits
	}
	for a.clock.len() > 2*max(1, a.cfg.CachePages) {
		e := a.clock.victim()
		if !e.ok || e.lsn == 0 || !a.spill.Put(e.tag, e.page, e.lsn, e.deltas) {
			return
		}
		a.stats.Spilled++
		a.evicted(e)
	}
}

// evictImageAfter is the chain length from which an evicted page gets an
// image: Config.EvictImageAfter, by default an eighth of the image
// interval, so that an image is written only where a reload would replay
// many records.
func (a *Applier) evictImageAfter() int {
	if a.cfg.EvictImageAfter > 0 {
		return a.cfg.EvictImageAfter
	}
	return max(1, a.cfg.ImageEvery/8)
}

// maxFree bounds the evicted pages kept for reuse: as many as the cache
// holds. Evict runs once a batch, after the batch's loads have grown the
// cache past its bound by about as many pages as the next batch loads,
// so keeping them all changes no peak; keeping 256 made a batch that
// loads thousands allocate (and the collector reclaim) the rest.
func (a *Applier) maxFree() int { return max(256, a.cfg.CachePages) }

// newPage returns a zero page, reusing an evicted one when it can: a page
// restored from an image or found new no longer costs an allocation.
func (a *Applier) newPage() schema.Page {
	p := a.takeFree()
	if p == nil {
		return make(schema.Page, schema.BLCKSZ)
	}
	clear(p)
	return p
}

// takeFree returns an evicted page to reuse (its old bytes), nil when
// there is none.
func (a *Applier) takeFree() schema.Page {
	n := len(a.free)
	if n == 0 {
		return nil
	}
	p := a.free[n-1]
	a.free[n-1] = nil
	a.free = a.free[:n-1]
	return p
}

// unused keeps buf for reuse unless it became page p (a load that was
// given it may build the page in it, or not).
func (a *Applier) unused(buf, p schema.Page) {
	if buf != nil && (len(p) == 0 || &p[0] != &buf[0]) {
		a.putFree(buf)
	}
}

// putFree keeps a page nothing refers to any more for reuse.
func (a *Applier) putFree(p schema.Page) {
	if len(p) == schema.BLCKSZ && len(a.free) < a.maxFree() {
		a.free = append(a.free, p)
	}
}

// Apply applies a record that changes pages (the shard subjects'):
// every page PagesChanged names that this applier owns.
func (a *Applier) Apply(rec *schema.DecodedRecord) error {
	a.spillOver()
	a.tags = schema.PagesChanged(a.tags[:0], rec)
	return a.applyTo(rec, a.tags)
}

// WantsMeta reports whether ApplyMeta has work for rec in an applier
// with Config.Sizes sizes that owns what owns says; a driver may give a
// meta record only to the appliers that want it. The applier with Sizes
// wants every one (checkpoints); relation-level changes (creation,
// truncation, drops, database copies) and CLOG truncation reach every
// applier's pages; anything else only changes the SLRU and relation-map
// pages schema.AuxPages names, so only their owners want it. scratch is
// reused for those pages.
func WantsMeta(rec *schema.DecodedRecord, sizes bool, owns func(schema.BufferTag) bool, scratch *[]schema.BufferTag) bool {
	if sizes || schema.MayChangeRelations(rec) || isClogTruncate(rec) {
		return true
	}
	*scratch = schema.AuxPages((*scratch)[:0], rec)
	for _, t := range *scratch {
		if owns(t) {
			return true
		}
	}
	return false
}

func isClogTruncate(rec *schema.DecodedRecord) bool {
	return rec.Rmgr() == schema.RmgrCLOG && rec.Info()&schema.XLRRmgrInfoMask == schema.ClogTruncate
}

// ApplyMeta applies a record that changes no relation page directly (the
// meta subject's): SLRU and relation-map pages, checkpoints, CLOG
// truncation and relation-level changes. For a database copy the driver
// must have every applier's writes before rec committed first.
func (a *Applier) ApplyMeta(rec *schema.DecodedRecord) error {
	a.spillOver()
	if a.tags = schema.AuxPages(a.tags[:0], rec); len(a.tags) > 0 {
		if err := a.applyTo(rec, a.tags); err != nil {
			return err
		}
	}
	if rec.Rmgr() == schema.RmgrXLOG && a.cfg.Sizes {
		if info := rec.Info() & schema.XLRRmgrInfoMask; info == schema.XLogCheckpointShutdown || info == schema.XLogCheckpointOnline {
			a.sink.PutCheckpoint(rec.LSN, rec.EndLSN, rec.MainData)
		}
	}
	if isClogTruncate(rec) {
		return a.truncateSlru(rec)
	}
	if !schema.MayChangeRelations(rec) {
		return nil
	}
	c, err := schema.RelChangeOf(rec)
	if err != nil {
		a.cfg.Log.Warn("relation change not understood; ignored", "lsn", rec.LSN, "err", err)
		return nil
	}
	if c == nil {
		return nil
	}
	a.relChanged = true
	if c.Kind == schema.RelCreate && !a.cfg.Sizes {
		// All it changes here is what this applier knows of the size: no
		// store read, nothing to write, so nothing to flush.
		a.forgetSize(schema.RelFork{Rel: c.Rel, Fork: c.Fork})
		return nil
	}
	// Store reads below must see everything before the change.
	if err := a.sink.Flush(); err != nil {
		return err
	}
	if err := a.applyRelChange(c, rec); err != nil {
		return err
	}
	return a.sink.Flush()
}

// page returns the cached current version of tag, loading it from the
// store. A page the store has never seen (or that no longer exists) is a
// zero page, as PostgreSQL's redo finds a page past the end of a
// relation.
func (a *Applier) page(tag schema.BufferTag) *centry {
	if e, ok := a.cached(tag); ok {
		return e
	}
	e := &centry{tag: tag}
	buf := a.takeFree()
	if p, lsn, deltas, ok := a.spill.Take(tag, buf); ok {
		a.unused(buf, p)
		e.page, e.ok, e.lsn, e.deltas = p, true, lsn, deltas
		a.stats.Unspilled++
		return a.insert(e)
	}
	p, lsn, records, err := a.store.Latest(tag, buf)
	a.unused(buf, p)
	switch {
	case err == nil:
		e.page, e.ok, e.lsn, e.deltas = p, true, lsn, records
	case errors.Is(err, ErrNotFound):
		e.page, e.ok = a.newPage(), true
	case errors.Is(err, ErrUnavailable):
		// Redo cannot use it until an image arrives.
		e.ok = false
	default:
		// The store could not be read: marking the page unavailable would
		// make a passing failure permanent. The record fails instead (see
		// applyTo) and the driver retries from the store's applied LSN; the
		// entry is not cached.
		if a.loadErr == nil {
			a.loadErr = fmt.Errorf("load page %s: %w", tag, err)
		}
		return e
	}
	return a.insert(e)
}

// cached returns tag's cache entry, if any, marked as used.
func (a *Applier) cached(tag schema.BufferTag) (*centry, bool) {
	e, ok := a.cache.Get(tag)
	if ok {
		e.ref = true
	}
	return e, ok
}

func (a *Applier) insert(e *centry) *centry {
	a.clock.add(e)
	a.cache.Put(e.tag, e)
	return e
}

// pageToRestore returns the cache entry of a page that redo is about to
// overwrite with a full-page image: when it is not cached, it is not read
// from the store (after a checkpoint, the first change of every page
// brings an image). The version written for the record is the image
// itself, correct at its LSN even when the store has newer versions (a
// replay).
func (a *Applier) pageToRestore(tag schema.BufferTag) *centry {
	if e, ok := a.cached(tag); ok {
		return e
	}
	a.spill.Drop(tag)
	return a.insert(&centry{tag: tag, page: a.newPage(), ok: true})
}

func (a *Applier) dropCached(tag schema.BufferTag) {
	if e, ok := a.cache.Get(tag); ok {
		a.clock.remove(e)
		a.cache.Delete(tag)
	}
	a.spill.Drop(tag)
	a.toStore = append(a.toStore, tag)
}

func (a *Applier) takeLoadErr() error {
	err := a.loadErr
	a.loadErr = nil
	return err
}

// restoresImage reports whether rec restores a full-page image of tag
// (BKPIMAGE_APPLY): redo replaces the page without reading it.
func restoresImage(rec *schema.DecodedRecord, tag schema.BufferTag) bool {
	for i := range rec.Blocks {
		if rec.Blocks[i].Tag == tag && rec.Blocks[i].ApplyImage() {
			return true
		}
	}
	return false
}

// ownedEntries looks up the entries of the owned pages among tags, once
// each, before redo (redo asks for each page two or three times per
// record; the map and the ownership hash were a tenth of the CPU).
func (a *Applier) ownedEntries(rec *schema.DecodedRecord, tags []schema.BufferTag) []*centry {
	own := a.cur[:0]
	for _, t := range tags {
		// Only owned pages are cached: a cached page needs no ownership
		// test (a hash of the tag).
		e, cached := a.cached(t)
		if !cached && !a.Owns(t) {
			continue
		}
		dup := false
		for _, o := range own {
			dup = dup || o.tag == t
		}
		switch {
		case dup:
		case cached:
			own = append(own, e)
		case restoresImage(rec, t):
			own = append(own, a.pageToRestore(t))
		default:
			own = append(own, a.page(t)) // load before redo, so redo sees the current version
		}
	}
	return own
}

// applyTo applies rec to the owned pages among tags and writes their new
// versions.
func (a *Applier) applyTo(rec *schema.DecodedRecord, tags []schema.BufferTag) error {
	own := a.ownedEntries(rec, tags)
	defer func() { a.cur = own[:0] }()
	if len(own) == 0 {
		return a.takeLoadErr()
	}
	a.cur = own
	err := a.engine.ApplyTo(&a.res, rec, pages{a})
	if err := a.takeLoadErr(); err != nil {
		return fmt.Errorf("redo of %s at %s: %w", schema.RecordTypeName(rec.Rmgr(), rec.Info()), rec.LSN, err)
	}
	k := uint16(rec.Rmgr())<<8 | uint16(rec.Info())
	reason := ""
	if err != nil {
		reason = err.Error()
		var uns *redo.Unsupported
		if errors.As(err, &uns) {
			a.stats.Unsupported[k]++
		}
	} else {
		a.applied.add(k)
	}
	a.stats.Versions += len(own)
	for _, e := range own {
		a.writeVersion(rec, e, restoredTag(a.res.Restored, e.tag), reason)
	}
	return nil
}

// writeVersion writes e's version after rec.
func (a *Applier) writeVersion(rec *schema.DecodedRecord, e *centry, restored bool, reason string) {
	t := e.tag
	a.written = append(a.written, t)
	switch {
	case e.ok && e.lsn >= rec.EndLSN:
		// Replayed after a crash: the store already holds this record's
		// version of the page (a sink commits in record order), and the
		// cached page may be ahead of it, so writing it again as an image
		// would put a newer page at an older LSN. Redo skipped or redid it
		// the same way.
	case !e.ok:
		if reason == "" {
			reason = schema.RecordTypeName(rec.Rmgr(), rec.Info()) + " at " + rec.LSN.String() + " found the page unavailable"
		}
		a.sink.PutUnavailable(t, rec.EndLSN, reason)
		e.deltas, e.lsn = 0, rec.EndLSN
		a.stats.Unavailable++
	case restored || e.deltas+1 >= a.cfg.ImageEvery:
		a.sink.PutImage(t, rec.EndLSN, e.page)
		e.deltas, e.lsn = 0, rec.EndLSN
		a.stats.Images++
	default:
		a.sink.PutRecord(t, rec)
		e.deltas++
		e.lsn = rec.EndLSN
		a.stats.Deltas++
	}
	if e.sized != a.sizesGen { // else the size covers the page: no lookup
		a.extend(t, rec.EndLSN)
		e.sized = a.sizesGen
	}
}

// forgetSize drops what the applier knows of a relation fork's size; the
// pages known to be within a size must look it up again.
func (a *Applier) forgetSize(k schema.RelFork) {
	delete(a.sizes, k)
	a.sizesGen++
}

func restoredTag(tags []schema.BufferTag, t schema.BufferTag) bool {
	for _, r := range tags {
		if r == t {
			return true
		}
	}
	return false
}

// extend records that the relation fork has at least t.Block+1 blocks at
// lsn, when that is more than this applier knew. What it knows starts from
// the store's size at lsn, not its newest: other appliers run ahead, and a
// size they wrote at a later LSN says nothing about this one (reading the
// newest made sizes at LSNs in between too small).
func (a *Applier) extend(t schema.BufferTag, lsn schema.LSN) {
	k := schema.RelFork{Rel: t.Rel, Fork: t.Fork}
	n, ok := a.sizes[k]
	if ok && t.Block < n {
		return // the common case: one map lookup
	}
	if !ok {
		cur, _, err := a.store.RelSize(t.Rel, t.Fork, lsn)
		if err == nil {
			n = cur
		}
	}
	if t.Block+1 > n {
		n = t.Block + 1
		a.sink.PutSize(t.Rel, t.Fork, lsn, a.cfg.ID, SizeExtend, n)
	}
	a.sizes[k] = n
}

// pages is the redo.Pages view of the applier for one record: the owned
// pages the record changes, looked up before redo. Other pages are not
// there: their appliers apply the record to them, and a page redo changed
// here would get no version.
type pages struct{ a *Applier }

// Owns makes pages a redo.PartialPages.
func (p pages) Owns(tag schema.BufferTag) bool {
	_, ok := p.entry(tag)
	return ok
}

func (p pages) entry(tag schema.BufferTag) (*centry, bool) {
	for _, e := range p.a.cur {
		if e.tag == tag {
			return e, true
		}
	}
	return nil, false
}

func (p pages) Get(tag schema.BufferTag) (schema.Page, bool) {
	e, ok := p.entry(tag)
	if !ok {
		return nil, false
	}
	return e.page, e.ok
}

func (p pages) Put(tag schema.BufferTag, page schema.Page) {
	if e, ok := p.entry(tag); ok {
		e.page, e.ok = page, true
	}
}

func (p pages) Invalidate(tag schema.BufferTag) {
	if e, ok := p.entry(tag); ok {
		e.ok = false
	}
}
