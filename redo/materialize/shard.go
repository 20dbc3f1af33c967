package materialize

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/pagemill/pagemill/redo"
	"github.com/pagemill/pagemill/redo/pagestore"
	"github.com/pagemill/pagemill/schema"
	"github.com/pagemill/pagemill/streams"
)

// shard applies one shard's records. Its state is owned by its run
// goroutine; other goroutines only read the watermarks.
type shard struct {
	m  *Materializer
	id int

	wm       *watermark // applied: every record of the shard up to it is in the store
	durable  *watermark // every record up to it is in the store and synced
	progress *watermark // every record below it is committed (for database copies)
	applied  schema.LSN
	seq      uint64 // stream sequence of the last message covered by applied
	lastSeq  uint64 // stream sequence of the last message processed
	started  bool   // the consumer's first message has been checked
	waitN    int    // readers waiting on this shard (under m.urgentMu)

	rc        *readCache
	cur       []*centry // the pages of the record being applied (see applyTo)
	rec       schema.DecodedRecord
	applies   uint64             // records applied, for sampling the redo time
	loadErr   error              // a page could not be read from the store
	written   []schema.BufferTag // pages given new versions in this batch
	relChange bool               // this batch made a relation-level change

	engine *redo.Engine
	reasm  *streams.Reassembler
	cache  map[schema.BufferTag]*centry
	clock  clock
	sizes  map[pagestore.RelFork]schema.BlockNumber
	// counters caches the records-applied counter per (rmgr, info).
	counters map[uint16]prometheus.Counter
	w        *pagestore.Writer
	xi       xactTracker // the shard's part of the transaction index
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
}

func newShard(m *Materializer, id int, applied schema.LSN, seq uint64) *shard {
	return &shard{m: m, id: id, wm: newWatermark(applied), durable: newWatermark(applied), progress: newWatermark(applied), applied: applied, seq: seq,
		reasm: streams.NewReassembler(), cache: map[schema.BufferTag]*centry{},
		rc:    newReadCache(m.cfg.ReadCachePages / max(1, m.cfg.Layout.Shards)),
		sizes: map[pagestore.RelFork]schema.BlockNumber{}, counters: map[uint16]prometheus.Counter{}}
}

// fetch feeds in from the consumer until ctx ends.
func (s *shard) fetch(ctx context.Context, cons jetstream.Consumer, in chan<- jetstream.Msg) error {
	// Bounded by bytes: a shard message can be a MiB, and eight shards
	// buffering hundreds each would blow the memory budget.
	it, err := cons.Messages(jetstream.PullMaxBytes(s.m.cfg.BatchBytes))
	if err != nil {
		return fmt.Errorf("shard %d: consume: %w", s.id, err)
	}
	go func() { <-ctx.Done(); it.Stop() }()
	for {
		msg, err := it.Next()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				return nil
			}
			return fmt.Errorf("shard %d: next message: %w", s.id, err)
		}
		select {
		case in <- msg:
		case <-ctx.Done():
			return nil
		}
	}
}

// run applies batches of messages from in until ctx ends.
func (s *shard) run(ctx context.Context, in <-chan jetstream.Msg) error {
	e, err := redo.NewEngine()
	if err != nil {
		return err
	}
	e.DataChecksums = s.m.DataChecksums()
	s.engine = e
	batch := make([]jetstream.Msg, 0, s.m.cfg.BatchMessages)
	for {
		batch = batch[:0]
		select {
		case <-ctx.Done():
			return nil
		case msg := <-in:
			batch = append(batch, msg)
		}
		size := len(batch[0].Data())
	drain:
		for len(batch) < s.m.cfg.BatchMessages && size < s.m.cfg.BatchBytes {
			select {
			case msg := <-in:
				batch = append(batch, msg)
				size += len(msg.Data())
			default:
				break drain
			}
		}
		s.m.stepAside(ctx, s)
		if d := s.m.cfg.ApplyDelay; d > 0 {
			select {
			case <-time.After(d):
			case <-ctx.Done():
				return nil
			}
		}
		if err := s.apply(ctx, batch); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("shard %d: %w", s.id, err)
		}
	}
}

// apply processes a batch: records into the store, then commit, sync,
// acknowledge, and advance the watermarks.
func (s *shard) apply(ctx context.Context, batch []jetstream.Msg) error {
	s.w = s.m.store.NewWriter()
	b := batchProgress{applied: s.applied, seq: s.seq}
	for _, msg := range batch {
		if err := s.applyMessage(ctx, msg, &b); err != nil {
			s.w.Discard()
			return err
		}
	}
	return s.commit(b)
}

// batchProgress is where a batch has got to: the newest round end it
// applied (its LSN, the stream sequence of its meta message and its
// time), and the messages to acknowledge once it is durable.
type batchProgress struct {
	applied   schema.LSN
	seq       uint64
	roundTime time.Time
	acks      []jetstream.Msg
}

// applyMessage applies the records of one message (once its chunks are
// all in) and, for a meta message, notes the round it ends.
func (s *shard) applyMessage(ctx context.Context, msg jetstream.Msg, b *batchProgress) error {
	md, err := msg.Metadata()
	if err != nil {
		return fmt.Errorf("message metadata: %w", err)
	}
	// A new consumer delivers its first message as consumer sequence
	// 1; anything else is an old consumer's state (see consumer).
	if !s.started {
		if md.Sequence.Consumer != 1 {
			return fmt.Errorf("first message of the consumer (stream sequence %d) has consumer sequence %d, not 1: the consumer resumed old state",
				md.Sequence.Stream, md.Sequence.Consumer)
		}
		s.started = true
	}
	seq := md.Sequence.Stream
	if seq <= s.lastSeq {
		b.acks = append(b.acks, msg) // redelivered: already in the store
		return nil
	}
	s.lastSeq = seq
	data, err := s.reasm.Add(msg.Subject(), msg.Headers(), msg.Data())
	if err != nil {
		return fmt.Errorf("stream sequence %d: %w", seq, err)
	}
	b.acks = append(b.acks, msg)
	if data == nil {
		return nil // more chunks follow
	}
	meta := msg.Subject() == s.m.cfg.Layout.MetaSubject()
	if err := s.applyEntries(ctx, data, seq, msg.Subject(), meta); err != nil {
		return err
	}
	if !meta {
		return nil
	}
	if end := msg.Headers().Get(streams.HdrRoundEnd); end != "" {
		lsn, err := schema.ParseLSN(end)
		if err != nil {
			return fmt.Errorf("stream sequence %d: round end %q: %w", seq, end, err)
		}
		if lsn > b.applied {
			b.applied, b.seq, b.roundTime = lsn, seq, md.Timestamp
		}
		if s.id == 0 {
			s.w.PutRound(lsn, seq)
		}
		s.m.published.advance(lsn)
	}
	return nil
}

// applyEntries applies the records of a message's batch that end past
// what the shard has applied.
func (s *shard) applyEntries(ctx context.Context, data []byte, seq uint64, subject string, meta bool) error {
	entries, err := schema.DecodeRecordBatch(data)
	if err != nil {
		return fmt.Errorf("stream sequence %d (%s): %w", seq, subject, err)
	}
	for _, ent := range entries {
		if ent.EndLSN <= s.applied {
			continue
		}
		// One record value, reused: nothing keeps a record past its
		// redo (the writer copies what it stores).
		rec := &s.rec
		err := schema.DecodeRecordInto(rec, ent.Raw, ent.LSN, ent.EndLSN)
		if err != nil {
			return fmt.Errorf("stream sequence %d: %w", seq, err)
		}
		if err := s.track(rec, meta); err != nil {
			return err
		}
		if meta {
			err = s.applyMeta(ctx, rec)
		} else {
			err = s.applyRecord(rec)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// commit commits the batch's writes and then moves the shard's position,
// watermarks and metrics; the messages are acknowledged once it is
// durable.
func (s *shard) commit(b batchProgress) error {
	newApplied, newSeq := b.applied, b.seq
	began := time.Now()
	s.putTracked()
	if newApplied > s.applied {
		s.w.SetApplied(s.id, newApplied, newSeq)
	}
	s.evict()
	if err := s.w.Commit(); err != nil {
		return err
	}
	s.m.m.commitSeconds.Observe(time.Since(began).Seconds())
	// Readers may only see the new versions once their cached older ones
	// are gone.
	s.rc.drop(s.written, s.relChange)
	s.written, s.relChange = s.written[:0], false
	// Durable later, with other batches (see syncLoop): the messages are
	// acknowledged then. Reads may use the versions now: they are a
	// function of the stream, so a crash before the sync only means
	// making them again.
	s.m.syncs.add(pendingSync{s: s, acks: b.acks, applied: max(newApplied, s.applied)})
	if newApplied > s.applied {
		s.applied, s.seq = newApplied, newSeq
		s.progress.advance(newApplied)
		s.wm.advance(newApplied)
		s.m.m.applied.WithLabelValues(shardLabel(s.id)).Set(float64(newApplied))
		if !b.roundTime.IsZero() {
			s.m.m.lagSeconds.Set(time.Since(b.roundTime).Seconds())
		}
		s.m.m.lagBytes.Set(float64(s.m.published.get() - s.m.Applied()))
	}
	return nil
}

// flush commits what the writer holds, so store reads see it, and starts a
// new writer.
func (s *shard) flush() error {
	if err := s.w.Commit(); err != nil {
		return err
	}
	s.w = s.m.store.NewWriter()
	return nil
}

func (s *shard) owns(tag schema.BufferTag) bool {
	return streams.ShardOf(tag, len(s.m.shards)) == s.id
}

// page returns the cached current version of tag, loading it from the
// store. A page the store has never seen (or that no longer exists) is
// a zero page, as PostgreSQL's redo finds a page past the end of a
// relation.
func (s *shard) page(tag schema.BufferTag) *centry {
	if e, ok := s.cached(tag); ok {
		return e
	}
	e := &centry{tag: tag}
	p, lsn, records, err := s.m.store.Latest(tag)
	switch {
	case err == nil:
		e.page, e.ok, e.lsn, e.deltas = p, true, lsn, records
	case errors.Is(err, pagestore.ErrNotFound):
		e.page, e.ok = make(schema.Page, schema.BLCKSZ), true
	case errors.Is(err, pagestore.ErrUnavailable):
		// Redo cannot use it until an image arrives.
		e.ok = false
	default:
		// The store could not be read: marking the page unavailable would
		// make a passing failure permanent. The batch fails instead (see
		// applyTo) and is retried from the store's applied LSN; the entry
		// is not cached.
		if s.loadErr == nil {
			s.loadErr = fmt.Errorf("load page %s: %w", tag, err)
		}
		return e
	}
	return s.insert(e)
}

// cached returns tag's cache entry, if any, marked as used.
func (s *shard) cached(tag schema.BufferTag) (*centry, bool) {
	e, ok := s.cache[tag]
	if ok {
		e.ref = true
	}
	return e, ok
}

// insert caches a new entry.
func (s *shard) insert(e *centry) *centry {
	s.clock.add(e)
	s.cache[e.tag] = e
	return e
}

// pageToRestore returns the cache entry of a page that redo is about to
// overwrite with a full-page image: when it is not cached, it is not read
// from the store (after a checkpoint, the first change of every page
// brings an image, and these reads were most of the store reads of a
// catch-up). The version written for the record is the image itself,
// correct at its LSN even when the store has newer versions (a replay).
func (s *shard) pageToRestore(tag schema.BufferTag) *centry {
	if e, ok := s.cached(tag); ok {
		return e
	}
	return s.insert(&centry{tag: tag, page: make(schema.Page, schema.BLCKSZ), ok: true})
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

// takeLoadErr returns and clears the error of a page load that failed
// since the last call (see page).
func (s *shard) takeLoadErr() error {
	err := s.loadErr
	s.loadErr = nil
	return err
}

// evict drops pages beyond the budget, in clock order. No image
// is written for them: the chain since their last image is already bounded
// by ImageEvery (a reload counts on from its length, see page), and with a
// working set larger than the cache, an 8 KiB image per eviction was most
// of what the materializer wrote.
func (s *shard) evict() {
	for s.clock.len() > max(1, s.m.cfg.CachePages/len(s.m.shards)) {
		e := s.clock.victim()
		s.clock.remove(e)
		delete(s.cache, e.tag)
	}
}

func (s *shard) dropCached(tag schema.BufferTag) {
	if e, ok := s.cache[tag]; ok {
		s.clock.remove(e)
		delete(s.cache, tag)
	}
}

// shardPages is the redo.Pages view of one shard: pages of other shards
// are not there (their shards apply the same record to them).
type shardPages struct{ s *shard }

// Owns makes shardPages a redo.PartialPages.
func (p shardPages) Owns(tag schema.BufferTag) bool { return p.s.owns(tag) }

// entry is tag's cache entry when the shard owns it: first among the
// record's pages, which applyTo has looked up already (redo asks for each
// page two or three times per record, and the map, the cache order and
// the shard hash were a tenth of the materializer's CPU).
func (p shardPages) entry(tag schema.BufferTag) (*centry, bool) {
	for _, e := range p.s.cur {
		if e.tag == tag {
			return e, true
		}
	}
	if !p.s.owns(tag) {
		return nil, false
	}
	return p.s.page(tag), true
}

func (p shardPages) Get(tag schema.BufferTag) (schema.Page, bool) {
	e, ok := p.entry(tag)
	if !ok {
		return nil, false
	}
	return e.page, e.ok
}

func (p shardPages) Put(tag schema.BufferTag, page schema.Page) {
	if e, ok := p.entry(tag); ok {
		e.page, e.ok = page, true
	}
}

func (p shardPages) Invalidate(tag schema.BufferTag) {
	if e, ok := p.entry(tag); ok {
		e.ok = false
	}
}

// applyRecord applies rec to the shard's pages and writes their new
// versions: the record as a delta, or an image when the record restored
// one or the page has gone ImageEvery records without one.
func (s *shard) applyRecord(rec *schema.DecodedRecord) error {
	return s.applyTo(rec, schema.PagesChanged(nil, rec))
}

// applyTo applies rec to the pages of tags this shard owns.
func (s *shard) applyTo(rec *schema.DecodedRecord, tags []schema.BufferTag) error {
	// The entries stay cached until the batch ends (evict runs at its
	// commit), so they are looked up once, before redo.
	own := s.cur[:0]
	defer func() { s.cur = own[:0] }()
	for _, t := range tags {
		if !s.owns(t) {
			continue
		}
		dup := false
		for _, o := range own {
			dup = dup || o.tag == t
		}
		if dup {
			continue
		}
		if restoresImage(rec, t) {
			own = append(own, s.pageToRestore(t))
		} else {
			own = append(own, s.page(t)) // load before redo, so redo sees the current version
		}
	}
	if len(own) == 0 {
		return nil
	}
	s.cur = own
	// The redo time of one record in redoSampleEvery: timing every one
	// (two clock reads and a histogram update) cost 4% of the CPU.
	s.applies++
	timed := s.applies%redoSampleEvery == 0
	var began time.Time
	if timed {
		began = time.Now()
	}
	res, err := s.engine.Apply(rec, shardPages{s})
	if timed {
		s.m.m.redoSeconds.Observe(time.Since(began).Seconds())
	}
	if err := s.takeLoadErr(); err != nil {
		return fmt.Errorf("redo of %s at %s: %w", schema.RecordTypeName(rec.Rmgr(), rec.Info()), rec.LSN, err)
	}
	reason := ""
	if err != nil {
		reason = err.Error()
		var uns *redo.Unsupported
		if errors.As(err, &uns) {
			s.m.m.unsupported.WithLabelValues(schema.RecordTypeName(rec.Rmgr(), rec.Info())).Inc()
		}
	} else {
		s.recordsApplied(rec).Inc()
	}
	s.m.versions.Add(int64(len(own)))
	for _, e := range own {
		t := e.tag
		s.written = append(s.written, t)
		switch {
		case e.ok && e.lsn >= rec.EndLSN:
			// Replayed after a crash: the store already holds this
			// record's version of the page (a writer commits in record
			// order), and the cached page may be ahead of it, so writing
			// it again as an image would put a newer page at an older
			// LSN. Redo above skipped or redid it the same way.
		case !e.ok:
			if reason == "" {
				reason = schema.RecordTypeName(rec.Rmgr(), rec.Info()) + " at " + rec.LSN.String() + " found the page unavailable"
			}
			s.w.PutUnavailable(t, rec.EndLSN, reason)
			e.deltas, e.lsn = 0, rec.EndLSN
		case restoredTag(res.Restored, t) || e.deltas+1 >= s.m.cfg.ImageEvery:
			s.w.PutImage(t, rec.EndLSN, e.page)
			e.deltas, e.lsn = 0, rec.EndLSN
			s.m.m.images.Inc()
		default:
			s.w.PutRecord(t, rec, false)
			e.deltas++
			e.lsn = rec.EndLSN
			s.m.m.deltas.Inc()
		}
		s.extend(t, rec.EndLSN)
	}
	return nil
}

// redoSampleEvery: one record's redo time in this many is observed.
const redoSampleEvery = 16

// recordsApplied is the records-applied counter of rec's type; kept per
// (rmgr, info) so the hot path neither builds the type name nor looks up
// the label for every record.
func (s *shard) recordsApplied(rec *schema.DecodedRecord) prometheus.Counter {
	k := uint16(rec.Rmgr())<<8 | uint16(rec.Info())
	c, ok := s.counters[k]
	if !ok {
		c = s.m.m.records.WithLabelValues(schema.RecordTypeName(rec.Rmgr(), rec.Info()))
		s.counters[k] = c
	}
	return c
}

func restoredTag(tags []schema.BufferTag, t schema.BufferTag) bool {
	for _, r := range tags {
		if r == t {
			return true
		}
	}
	return false
}

// extend records that the relation fork has at least t.Block+1 blocks,
// when that is more than this shard knew.
func (s *shard) extend(t schema.BufferTag, lsn schema.LSN) {
	k := pagestore.RelFork{Rel: t.Rel, Fork: t.Fork}
	n, ok := s.sizes[k]
	if !ok {
		cur, _, err := s.m.store.RelSize(t.Rel, t.Fork, schema.LSN(^uint64(0)))
		if err == nil {
			n = cur
		}
	}
	if t.Block+1 > n {
		n = t.Block + 1
		s.w.PutSize(t.Rel, t.Fork, lsn, s.id, pagestore.SizeExtend, n)
	}
	s.sizes[k] = n
}

// applyMeta applies a record of the meta subject: only relation-level
// changes concern the page store.
func (s *shard) applyMeta(ctx context.Context, rec *schema.DecodedRecord) error {
	if tags := schema.AuxPages(nil, rec); len(tags) > 0 {
		if err := s.applyTo(rec, tags); err != nil {
			return err
		}
	}
	if rec.Rmgr() == schema.RmgrXLOG && s.id == 0 {
		if info := rec.Info() & schema.XLRRmgrInfoMask; info == schema.XLogCheckpointShutdown || info == schema.XLogCheckpointOnline {
			s.w.PutCheckpoint(rec.LSN, rec.EndLSN, rec.MainData)
		}
	}
	if rec.Rmgr() == schema.RmgrCLOG && rec.Info()&schema.XLRRmgrInfoMask == schema.ClogTruncate {
		return s.truncateSlru(rec)
	}
	c, err := schema.RelChangeOf(rec)
	if err != nil {
		s.m.log.Warn("relation change not understood; ignored", "lsn", rec.LSN, "err", err)
		return nil
	}
	if c == nil {
		return nil
	}
	s.relChange = true
	// Store reads below must see everything before the change.
	if err := s.flush(); err != nil {
		return err
	}
	s.progress.advance(rec.LSN)
	lsn := rec.EndLSN
	switch c.Kind {
	case schema.RelCreate:
		k := pagestore.RelFork{Rel: c.Rel, Fork: c.Fork}
		if s.id == 0 {
			if _, exists, err := s.m.store.RelSize(c.Rel, c.Fork, lsn); err != nil {
				return err
			} else if !exists {
				s.w.PutSize(c.Rel, c.Fork, lsn, 0, pagestore.SizeSet, 0)
			}
		}
		delete(s.sizes, k)
	case schema.RelTruncate:
		if err := s.truncate(c, lsn); err != nil {
			return err
		}
	case schema.RelDrop:
		for _, rel := range c.Rels {
			if err := s.dropPages(rel, lsn); err != nil {
				return err
			}
		}
	case schema.DBDrop:
		rels, err := s.m.store.Relations(c.DB, lsn)
		if err != nil {
			return err
		}
		done := map[schema.RelFileNode]bool{}
		for rf := range rels {
			if !slices.Contains(c.Spcs, rf.Rel.SpcNode) || done[rf.Rel] {
				continue
			}
			done[rf.Rel] = true
			if err := s.dropPages(rf.Rel, lsn); err != nil {
				return err
			}
		}
	case schema.DBCopy:
		if err := s.copyDatabase(ctx, c, rec); err != nil {
			return err
		}
	}
	return s.flush()
}

// truncateSlru is CLOG TRUNCATE (SimpleLruTruncate): the segments before
// the one holding the cutoff page are removed. Segments of a wrapped-around
// xid space are left alone (PostgreSQL removes them later; a restored data
// directory tolerates extra old segments).
func (s *shard) truncateSlru(rec *schema.DecodedRecord) error {
	pageno, err := schema.SlruPageNo(rec)
	if err != nil {
		s.m.log.Warn("CLOG truncation not understood; ignored", "lsn", rec.LSN, "err", err)
		return nil
	}
	if err := s.flush(); err != nil {
		return err
	}
	cutoff := schema.BlockNumber(pageno - pageno%schema.SlruPagesPerSegment)
	rel := schema.SlruTag(schema.AuxRelXact, 0).Rel
	tags, err := s.m.store.PagesOf(rel, schema.MainForkNum, false, 0)
	if err != nil {
		return err
	}
	for _, t := range tags {
		if t.Block < cutoff && s.owns(t) {
			s.w.PutAbsent(t, rec.EndLSN)
			s.dropCached(t)
			s.written = append(s.written, t)
		}
	}
	return nil
}

// makeAbsent marks this shard's stored pages of a relation fork (every
// fork when allForks) at or past block from absent from lsn on.
func (s *shard) makeAbsent(rel schema.RelFileNode, fork schema.ForkNumber, allForks bool, from schema.BlockNumber, lsn schema.LSN) error {
	tags, err := s.m.store.PagesOf(rel, fork, allForks, from)
	if err != nil {
		return err
	}
	for _, t := range tags {
		if s.owns(t) {
			s.w.PutAbsent(t, lsn)
			s.dropCached(t)
		}
	}
	return nil
}

// dropPages makes every fork of rel absent from lsn: pages of this shard,
// and (shard 0) the sizes.
func (s *shard) dropPages(rel schema.RelFileNode, lsn schema.LSN) error {
	if err := s.makeAbsent(rel, 0, true, 0, lsn); err != nil {
		return err
	}
	for fork := schema.MainForkNum; fork <= schema.InitForkNum; fork++ {
		delete(s.sizes, pagestore.RelFork{Rel: rel, Fork: fork})
		if s.id != 0 {
			continue
		}
		if _, exists, err := s.m.store.RelSize(rel, fork, lsn); err != nil {
			return err
		} else if exists {
			s.w.PutSize(rel, fork, lsn, 0, pagestore.SizeDrop, 0)
		}
	}
	return nil
}

// Visibility map and free space map geometry (visibilitymap.c, fsmpage.c).
const (
	vmMapSize       = schema.BLCKSZ - 24 // MAPSIZE
	fsmSlotsPerPage = 4069               // SlotsPerFSMPage for 8 KiB pages
	fsmTreeDepth    = 3
)

// truncate is smgr_redo's truncation: pages at or past the new size are
// gone; the visibility map's last page loses the bits past it
// (visibilitymap_prepare_truncate); the sizes shrink (never grow).
func (s *shard) truncate(c *schema.RelChange, lsn schema.LSN) error {
	type forkSize struct {
		fork schema.ForkNumber
		n    schema.BlockNumber
	}
	var forks []forkSize
	if c.TruncMain {
		forks = append(forks, forkSize{schema.MainForkNum, c.Blocks})
	}
	if c.TruncFSM {
		forks = append(forks, forkSize{schema.FSMForkNum, fsmTruncatedSize(c.Blocks)})
	}
	if c.TruncVM {
		n := c.Blocks / schema.HeapBlocksPerVMPage
		rem := c.Blocks % schema.HeapBlocksPerVMPage
		if rem != 0 {
			// The partial map page keeps only the bits of remaining blocks.
			tag := schema.BufferTag{Rel: c.Rel, Fork: schema.VisibilityMapFork, Block: n}
			if s.owns(tag) {
				if err := s.truncateVMPage(tag, rem, lsn); err != nil {
					return err
				}
			}
			n++
		}
		forks = append(forks, forkSize{schema.VisibilityMapFork, n})
	}
	for _, f := range forks {
		if err := s.makeAbsent(c.Rel, f.fork, false, f.n, lsn); err != nil {
			return err
		}
		delete(s.sizes, pagestore.RelFork{Rel: c.Rel, Fork: f.fork})
		if s.id == 0 {
			s.w.PutSize(c.Rel, f.fork, lsn, 0, pagestore.SizeTruncate, f.n)
		}
	}
	return nil
}

// truncateVMPage is visibilitymap_prepare_truncate's change to the map
// page holding the new end of the heap: only the bits of the first rem
// heap blocks it covers stay. A page that does not exist (new) or cannot
// be reconstructed is left alone.
func (s *shard) truncateVMPage(tag schema.BufferTag, rem schema.BlockNumber, lsn schema.LSN) error {
	e := s.page(tag)
	if err := s.takeLoadErr(); err != nil {
		return err
	}
	if !e.ok || e.page.IsNew() {
		return nil
	}
	truncByte := int(rem / 4)
	truncOffset := uint((rem % 4) * 2)
	m := e.page[24:]
	for i := truncByte + 1; i < vmMapSize; i++ {
		m[i] = 0
	}
	m[truncByte] &= byte(1<<truncOffset) - 1
	if s.engine.DataChecksums {
		_ = redo.PageSetChecksumInplace(e.page, tag.Block)
	}
	s.w.PutImage(tag, lsn, e.page)
	e.deltas, e.lsn = 0, lsn
	return nil
}

// fsmTruncatedSize is the free space map size FreeSpaceMapPrepareTruncateRel
// leaves for a heap of nblocks blocks.
func fsmTruncatedSize(nblocks schema.BlockNumber) schema.BlockNumber {
	logpageno := uint64(nblocks) / fsmSlotsPerPage
	slot := uint64(nblocks) % fsmSlotsPerPage
	// fsm_logical_to_physical of the leaf page logpageno.
	pages, leafno := uint64(0), logpageno
	for l := 0; l < fsmTreeDepth; l++ {
		pages += leafno + 1
		leafno /= fsmSlotsPerPage
	}
	phys := pages - 1
	if slot != 0 {
		phys++
	}
	return schema.BlockNumber(phys)
}

// copyDatabase is CREATE DATABASE … STRATEGY FILE_COPY: the new database's
// relations are the source database's as of the record, page for page.
// Every shard copies the pages it owns of the new database, once all
// shards have committed everything before the record.
func (s *shard) copyDatabase(ctx context.Context, c *schema.RelChange, rec *schema.DecodedRecord) error {
	for _, o := range s.m.shards {
		if err := o.progress.wait(ctx, rec.LSN, nil); err != nil {
			return err
		}
	}
	lsn := rec.EndLSN
	rels, err := s.m.store.Relations(c.SrcDB, rec.LSN)
	if err != nil {
		return err
	}
	for rf, n := range rels {
		if rf.Rel.SpcNode != c.SrcSpc {
			continue
		}
		dst := schema.RelFileNode{SpcNode: c.Spc, DbNode: c.DB, RelNode: rf.Rel.RelNode}
		if s.id == 0 {
			s.w.PutSize(dst, rf.Fork, lsn, 0, pagestore.SizeSet, n)
		}
		for b := schema.BlockNumber(0); b < n; b++ {
			dt := schema.BufferTag{Rel: dst, Fork: rf.Fork, Block: b}
			if !s.owns(dt) {
				continue
			}
			src := schema.BufferTag{Rel: rf.Rel, Fork: rf.Fork, Block: b}
			page, _, err := s.m.store.PageAt(src, rec.LSN)
			switch {
			case err == nil:
				s.w.PutImage(dt, lsn, page)
			case errors.Is(err, pagestore.ErrNotFound):
				s.w.PutImage(dt, lsn, make(schema.Page, schema.BLCKSZ))
			default:
				s.w.PutUnavailable(dt, lsn, "copied from "+src.String()+": "+err.Error())
			}
			s.dropCached(dt)
		}
	}
	s.m.log.Info("database copied", "shard", s.id, "db", c.DB, "from", c.SrcDB, "lsn", rec.LSN)
	return nil
}
