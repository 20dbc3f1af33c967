package materialize

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"runtime/pprof"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pagemill/pagemill/redo/materialize/applier"
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
	waitN    int    // readers waiting on this shard (under m.urgentMu)

	rc      *readCache
	applies uint64 // records applied, for sampling the redo time

	ap *applier.Applier // the pages this shard owns, and their redo
	// counters caches the records-applied counter per (rmgr, info).
	counters map[uint16]prometheus.Counter
	w        *pagestore.Writer
	xi       xactTracker // the shard's part of the transaction index

	// queued is the record bytes handed to the shard and not yet
	// committed; the dispatcher waits on room while they are over
	// queueBytes (see dispatcher.reserve).
	queued atomic.Int64
	room   chan struct{}

	// commits feeds the shard's committer (see committer); last is the
	// batch handed to it last, until the shard has waited for it.
	commits chan *pendingCommit
	last    *pendingCommit
	// snap is the page store as of the shard's newest commit that it has
	// waited for: the applier's loads read it (see storeView.Latest).
	snap  *pagestore.Snapshot
	spill *spillFile // nil: none
	// written holds pendingCommit.written: one commit is in flight, so
	// two lists, used in turn, are enough.
	written [2][]schema.BufferTag
	turn    int
}

// queueBytes bounds the record bytes of a shard's batches not yet
// committed (the one committing, the one being applied, the next): two
// batches' worth, so that a catch-up of large rounds (MiBs each) cannot
// pile up in memory (the channel alone bounds messages, not bytes). It
// keeps the shard fed: a commit lands well before the shard has applied
// the next batch, and the queue fills meanwhile. Three batches' worth
// took 50 MiB more of a 512 MiB cgroup.
func (s *shard) queueBytes() int64 { return 2 * int64(s.m.cfg.BatchBytes) }

// release returns the bytes of committed items and wakes the dispatcher.
func (s *shard) release(n int) {
	if n == 0 {
		return
	}
	s.queued.Add(-int64(n))
	select {
	case s.room <- struct{}{}:
	default:
	}
}

func newShard(m *Materializer, id int, applied schema.LSN, seq uint64) *shard {
	return &shard{m: m, id: id, wm: newWatermark(applied), durable: newWatermark(applied), progress: newWatermark(applied), applied: applied, seq: seq,
		rc:       newReadCache(m.cfg.ReadCachePages / max(1, m.store.Shards())),
		counters: map[uint16]prometheus.Counter{}, room: make(chan struct{}, 1)}
}

// run applies batches of items from in until ctx ends.
func (s *shard) run(ctx context.Context, in <-chan *item) error {
	log := s.m.log.With("shard", s.id)
	cfg := applier.Config{
		ID:              s.id,
		Owns:            s.owns,
		Sizes:           s.id == 0,
		CachePages:      s.m.cfg.CachePages / len(s.m.shards),
		ImageEvery:      s.m.cfg.ImageEvery,
		EvictImageAfter: s.m.cfg.EvictImageAfter,
		DataChecksums:   s.m.DataChecksums(),
		Log:             log,
	}
	// The spill lives as long as this run's applier: what it holds may be
	// newer than what is durable, so a run that ends (an error, a
	// restart) must not leave it to the next.
	if dir, slots := cmp.Or(s.m.cfg.SpillDir, s.m.store.Dir()), s.m.cfg.SpillPages/len(s.m.shards); slots > 0 && dir != "" {
		sp, err := newSpillFile(dir, slots, log)
		if err != nil {
			return err
		}
		defer sp.Close()
		cfg.Spill, s.spill = sp, sp
	} else {
		s.spill = nil
	}
	ap, err := applier.New(cfg, storeView{s.m.store, s}, shardSink{s})
	if err != nil {
		return err
	}
	s.ap = ap
	// The committer commits a batch while the shard applies the next; it
	// ends, with what was handed to it committed, before run returns.
	s.commits, s.last, s.snap = make(chan *pendingCommit, 1), nil, s.m.store.Snapshot()
	committed := make(chan struct{})
	go pprof.Do(ctx, pprof.Labels("stage", "commit"), func(context.Context) {
		defer close(committed)
		s.committer(s.commits)
	})
	defer func() {
		close(s.commits)
		<-committed
		if s.last != nil && s.last.snap != nil {
			s.last.snap.Close()
		}
		s.snap.Close()
	}()
	batch := make([]*item, 0, s.m.cfg.BatchMessages)
	for {
		batch = batch[:0]
		select {
		case <-ctx.Done():
			return nil
		case it := <-in:
			batch = append(batch, it)
		}
		size := batch[0].size
	drain:
		for len(batch) < s.m.cfg.BatchMessages && size < s.m.cfg.BatchBytes {
			select {
			case it := <-in:
				batch = append(batch, it)
				size += it.size
			default:
				break drain
			}
		}
		s.m.stepAside(ctx, s, in)
		if d := s.m.cfg.ApplyDelay; d > 0 {
			select {
			case <-time.After(d):
			case <-ctx.Done():
				return nil
			}
		}
		if err := s.apply(ctx, batch, size); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("shard %d: %w", s.id, err)
		}
	}
}

// apply processes a batch of size record bytes: records into a writer,
// then hands it to the committer, which commits it and then has it synced,
// acknowledged, and advances the watermarks.
func (s *shard) apply(ctx context.Context, batch []*item, size int) error {
	s.w = s.m.store.NewWriter()
	b := batchProgress{applied: s.applied, seq: s.seq}
	for _, it := range batch {
		if err := s.applyItem(ctx, it, &b); err != nil {
			s.w.Discard()
			return err
		}
		// Applied: nothing refers to its decoded records any more (the
		// writer keeps their bytes, which are the message's), so their
		// chunks go back now, not at the batch's end: a catch-up's
		// batch is MiBs of records.
		it.releaseChunks()
	}
	return s.commit(b, size)
}

// batchProgress is where a batch has got to: the newest round end it
// applied (its LSN, the stream sequence of its meta message and its
// time), and the messages to acknowledge once it is durable.
type batchProgress struct {
	applied   schema.LSN
	seq       uint64
	roundTime time.Time
	acks      []*acker
}

// applyItem applies the records of one message past what the shard has
// applied and, for a meta message, notes the round it ends.
func (s *shard) applyItem(ctx context.Context, it *item, b *batchProgress) error {
	b.acks = append(b.acks, it.acks...)
	for _, rec := range it.recs {
		if rec.EndLSN <= s.applied {
			continue
		}
		if err := s.track(rec, it.meta); err != nil {
			return err
		}
		var err error
		if it.meta {
			err = s.applyMeta(ctx, rec)
		} else {
			err = s.applyRecord(rec)
		}
		if err != nil {
			return err
		}
	}
	if it.roundEnd == 0 {
		return nil
	}
	if it.roundEnd > b.applied {
		b.applied, b.seq, b.roundTime = it.roundEnd, it.seq, it.roundTime
	}
	if s.id == 0 {
		s.w.PutRound(it.roundEnd, it.seq)
	}
	return nil
}

// commit hands the batch's writes to the committer and moves the shard's
// position; the committer moves the watermarks and metrics once they are
// committed, and the messages are acknowledged once they are durable.
func (s *shard) commit(b batchProgress, size int) error {
	p := &pendingCommit{began: time.Now(), acks: b.acks, size: size, roundTime: b.roundTime}
	s.putTracked()
	if b.applied > s.applied {
		s.w.SetApplied(s.id, b.applied, b.seq)
		s.applied, s.seq = b.applied, b.seq
		p.moved = true
	}
	p.applied = s.applied
	s.ap.Evict()
	p.toStore = s.leftToStore()
	s.countStats()
	written, rel := s.ap.TakeWritten()
	s.turn ^= 1
	s.written[s.turn] = append(s.written[s.turn][:0], written...)
	p.written, p.relChanged = s.written[s.turn], rel
	return s.hand(p)
}

// leftToStore is the applier's TakeLeftToStore as a set (nil: none).
func (s *shard) leftToStore() map[schema.BufferTag]bool {
	t := s.ap.TakeLeftToStore()
	if len(t) == 0 {
		return nil
	}
	m := make(map[schema.BufferTag]bool, len(t))
	for _, tag := range t {
		m[tag] = true
	}
	return m
}

// flush hands what the writer holds to the committer and starts a new
// writer: the applier's store reads wait for it (see storeView), so they
// see it, and redo goes on meanwhile.
func (s *shard) flush() error {
	if err := s.hand(&pendingCommit{flush: true, began: time.Now(), toStore: s.leftToStore()}); err != nil {
		return err
	}
	s.w = s.m.store.NewWriter()
	return nil
}

// pendingCommit is a writer handed to the committer, with what follows
// its commit.
type pendingCommit struct {
	w     *pagestore.Writer
	flush bool // part of a batch (see flush): nothing follows its commit
	began time.Time
	// acks are acknowledged, and the shard's durable LSN moves to applied,
	// once the commit is synced; with moved, the applied and progress
	// watermarks move to applied once it is committed.
	acks      []*acker
	applied   schema.LSN
	moved     bool
	roundTime time.Time // of the newest round the batch ends, for the lag
	// written and relChanged are the applier's TakeWritten: readers' cached
	// versions of those go once the new ones are committed.
	written    []schema.BufferTag
	relChanged bool
	size       int // record bytes to release
	// toStore are the pages the applier left to the store in this batch
	// (applier.TakeLeftToStore: evicted without spilling, dropped,
	// truncated): a load of one waits for the commit (see
	// storeView.Latest).
	toStore map[schema.BufferTag]bool
	err     error
	snap    *pagestore.Snapshot // made once committed
	done    chan struct{}       // closed once committed or failed
}

// hand gives the shard's writer to the committer. One commit at a time
// is in flight: it waits for the previous one first.
func (s *shard) hand(p *pendingCommit) error {
	if err := s.waitCommitted(); err != nil {
		s.w.Discard()
		return err
	}
	p.w, p.done = s.w, make(chan struct{})
	s.commits <- p
	s.last, s.w = p, nil
	return nil
}

// waitCommitted waits until everything handed to the committer is
// committed: the store then answers what the shard has written (store
// reads made for redo wait so, see storeView).
func (s *shard) waitCommitted() error {
	p := s.last
	if p == nil {
		return nil
	}
	<-p.done
	if p.err != nil {
		return p.err
	}
	s.last = nil
	if s.snap != nil {
		s.snap.Close()
	}
	s.snap, p.snap = p.snap, nil
	return nil
}

// committer commits the writers handed to it, in order, and then does
// what follows each commit. After a failure it commits nothing more: the
// shard stops at its next hand or store read.
func (s *shard) committer(commits <-chan *pendingCommit) {
	var failed error
	for p := range commits {
		if failed != nil {
			p.w.Discard()
			p.err = failed
			close(p.done)
			continue
		}
		if err := p.w.Commit(); err != nil {
			failed = fmt.Errorf("shard %d: %w", s.id, err)
			p.err = failed
			close(p.done)
			continue
		}
		// A snapshot with the batch, for the shard's loads: made here,
		// where waiting for the other shards' commits in flight (as
		// opening a Badger transaction does) holds up no redo.
		p.snap = s.m.store.Snapshot()
		s.committed(p)
		close(p.done)
	}
}

// committed moves what follows p's commit: readers' caches, the sync queue,
// watermarks and metrics, and the room for records.
func (s *shard) committed(p *pendingCommit) {
	s.m.m.commitSeconds.Observe(time.Since(p.began).Seconds())
	if p.flush {
		return // the batch it belongs to goes on
	}
	// Readers may only see the new versions once their cached older ones
	// are gone.
	s.rc.drop(p.written, p.relChanged)
	// Durable later, with other batches (see syncLoop): the messages are
	// acknowledged then. Reads may use the versions now: they are a
	// function of the stream, so a crash before the sync only means
	// making them again.
	s.m.syncs.add(pendingSync{s: s, acks: p.acks, applied: p.applied})
	if p.moved {
		s.progress.advance(p.applied)
		s.wm.advance(p.applied)
		s.m.m.applied.WithLabelValues(shardLabel(s.id)).Set(float64(p.applied))
		if !p.roundTime.IsZero() {
			s.m.m.lagSeconds.Set(time.Since(p.roundTime).Seconds())
		}
		s.m.m.lagBytes.Set(float64(s.m.published.get() - s.m.Applied()))
	}
	s.release(p.size)
}

func (s *shard) owns(tag schema.BufferTag) bool {
	return streams.ShardOf(tag, len(s.m.shards)) == s.id
}

// applyRecord applies a record of a shard subject to the shard's pages.
func (s *shard) applyRecord(rec *schema.DecodedRecord) error {
	// The redo time of one record in redoSampleEvery: timing every one
	// (two clock reads and a histogram update) cost 4% of the CPU.
	s.applies++
	if s.applies%redoSampleEvery != 0 {
		return s.ap.Apply(rec)
	}
	began := time.Now()
	err := s.ap.Apply(rec)
	s.m.m.redoSeconds.Observe(time.Since(began).Seconds())
	return err
}

// redoSampleEvery: one record's redo time in this many is observed.
const redoSampleEvery = 16

// applyMeta applies a record of the meta subject. A database copy reads
// the source database's pages of every shard: every shard first commits
// everything before it and waits for the others to have done so.
func (s *shard) applyMeta(ctx context.Context, rec *schema.DecodedRecord) error {
	if isDatabaseCopy(rec) {
		if err := s.flush(); err != nil {
			return err
		}
		if err := s.waitCommitted(); err != nil {
			return err
		}
		s.progress.advance(rec.LSN)
		for _, o := range s.m.shards {
			if err := o.progress.wait(ctx, rec.LSN, nil); err != nil {
				return err
			}
		}
	}
	return s.ap.ApplyMeta(rec)
}

// countStats moves the applier's counts into the metrics.
func (s *shard) countStats() {
	st := s.ap.TakeStats()
	s.m.versions.Add(int64(st.Versions))
	s.m.m.images.Add(float64(st.Images))
	s.m.m.spilled.Add(float64(st.Spilled))
	s.m.m.unspilled.Add(float64(st.Unspilled))
	s.m.m.deltas.Add(float64(st.Deltas))
	for k, n := range st.Applied {
		c, ok := s.counters[k]
		if !ok {
			c = s.m.m.records.WithLabelValues(schema.RecordTypeName(schema.RmgrID(k>>8), uint8(k)))
			s.counters[k] = c
		}
		c.Add(float64(n))
	}
	for k, n := range st.Unsupported {
		s.m.m.unsupported.WithLabelValues(schema.RecordTypeName(schema.RmgrID(k>>8), uint8(k))).Add(float64(n))
	}
}

// storeView is the page store as the applier reads it: every read first
// waits for the shard's commit in flight, so that it sees everything the
// shard wrote before it.
type storeView struct {
	st *pagestore.Store
	s  *shard
}

func (v storeView) Latest(tag schema.BufferTag, buf schema.Page) (schema.Page, schema.LSN, int, error) {
	s := v.s
	if s.inFlightWithout(func(p *pendingCommit) bool { return !p.toStore[tag] && (s.spill == nil || !s.spill.readFailed) }) {
		// The commit in flight has no version of tag: the snapshot of the
		// one before has its newest (the cache or the spill held it
		// since), and reading it waits for no commit.
		if pg, lsn, n, err := s.snapLatest(tag, buf); !errors.Is(err, errNoSnapshot) {
			return pg, lsn, n, err
		}
	}
	if err := s.waitCommitted(); err != nil {
		return nil, 0, 0, err
	}
	if pg, lsn, n, err := s.snapLatest(tag, buf); !errors.Is(err, errNoSnapshot) {
		return pg, lsn, n, err
	}
	p, lsn, n, err := v.st.Latest(tag, buf)
	return p, lsn, n, applierErr(err)
}

// errNoSnapshot: the shard's snapshot cannot tell (there is none, it is
// stale, or it could not be read); the store can.
var errNoSnapshot = errors.New("no usable page store snapshot")

// snapLatest is Latest from the shard's snapshot, or errNoSnapshot.
func (s *shard) snapLatest(tag schema.BufferTag, buf schema.Page) (schema.Page, schema.LSN, int, error) {
	if s.snap == nil {
		return nil, 0, 0, errNoSnapshot
	}
	p, lsn, n, err := s.snap.Latest(tag, buf)
	if err != nil && !errors.Is(err, pagestore.ErrNotFound) && !errors.Is(err, pagestore.ErrUnavailable) {
		return nil, 0, 0, errNoSnapshot
	}
	return p, lsn, n, applierErr(err)
}

func (v storeView) PageAt(tag schema.BufferTag, lsn schema.LSN) (schema.Page, schema.LSN, error) {
	if err := v.s.waitCommitted(); err != nil {
		return nil, 0, err
	}
	p, at, err := v.st.PageAt(tag, lsn)
	return p, at, applierErr(err)
}

func (v storeView) RelSize(rel schema.RelFileNode, fork schema.ForkNumber, lsn schema.LSN) (schema.BlockNumber, bool, error) {
	if v.s.snapshotAnswers(rel, fork, false) {
		return v.s.snap.RelSize(rel, fork, lsn)
	}
	if err := v.s.waitCommitted(); err != nil {
		return 0, false, err
	}
	return v.st.RelSize(rel, fork, lsn)
}

// snapshotAnswers reports whether the shard's snapshot answers a read of
// the relation fork (any fork of rel, with allForks) as the store would
// once the commit in flight lands, so that the read need not wait for
// it: the commit writes nothing of the relation, and no Collect has made
// the snapshot stale. A relation change reads the store after its flush
// (see Applier.ApplyMeta): most of them are of relations the batch did
// not write (a new relfilenode, one not written since), and those reads
// waited for a commit in flight up to a second a shard in a run.
func (s *shard) snapshotAnswers(rel schema.RelFileNode, fork schema.ForkNumber, allForks bool) bool {
	if s.snap == nil || s.snap.Stale() {
		return false
	}
	return s.inFlightWithout(func(p *pendingCommit) bool { return !p.w.Touches(rel, fork, allForks) })
}

// inFlightWithout reports whether a commit is in flight, not yet landed,
// and lacks what a read needs (without says so): the read may then take
// the shard's snapshot instead of waiting for it. A commit that has
// landed is waited for at no cost, and the store is newer.
func (s *shard) inFlightWithout(without func(*pendingCommit) bool) bool {
	p := s.last
	if p == nil {
		return false
	}
	select {
	case <-p.done:
		return false
	default:
	}
	return without(p)
}

func (v storeView) Relations(db uint32, lsn schema.LSN) (map[schema.RelFork]schema.BlockNumber, error) {
	if err := v.s.waitCommitted(); err != nil {
		return nil, err
	}
	return v.st.Relations(db, lsn)
}

func (v storeView) PagesOf(rel schema.RelFileNode, fork schema.ForkNumber, allForks bool, from schema.BlockNumber) ([]schema.BufferTag, error) {
	if v.s.snapshotAnswers(rel, fork, allForks) {
		if tags, err := v.s.snap.PagesOf(rel, fork, allForks, from); !errors.Is(err, pagestore.ErrStaleSnapshot) {
			return tags, err
		}
	}
	if err := v.s.waitCommitted(); err != nil {
		return nil, err
	}
	return v.st.PagesOf(rel, fork, allForks, from)
}

// applierErr makes the page store's answers for a page it cannot give
// match the applier's errors, keeping their messages.
func applierErr(err error) error {
	switch {
	case errors.Is(err, pagestore.ErrNotFound):
		return storeErr{err, applier.ErrNotFound}
	case errors.Is(err, pagestore.ErrUnavailable):
		return storeErr{err, applier.ErrUnavailable}
	}
	return err
}

type storeErr struct{ err, kind error }

func (e storeErr) Error() string   { return e.err.Error() }
func (e storeErr) Unwrap() []error { return []error{e.err, e.kind} }

// shardSink writes the applier's output into the shard's current batch.
type shardSink struct{ s *shard }

func (k shardSink) PutImage(tag schema.BufferTag, lsn schema.LSN, page schema.Page) {
	k.s.w.PutImage(tag, lsn, page)
}

func (k shardSink) PutRecord(tag schema.BufferTag, rec *schema.DecodedRecord) {
	k.s.w.PutRecord(tag, rec, false)
}

func (k shardSink) PutUnavailable(tag schema.BufferTag, lsn schema.LSN, reason string) {
	k.s.w.PutUnavailable(tag, lsn, reason)
}

func (k shardSink) PutAbsent(tag schema.BufferTag, lsn schema.LSN) { k.s.w.PutAbsent(tag, lsn) }

func (k shardSink) PutCheckpoint(lsn, end schema.LSN, data []byte) {
	k.s.w.PutCheckpoint(lsn, end, data)
}

func (k shardSink) PutSize(rel schema.RelFileNode, fork schema.ForkNumber, lsn schema.LSN, shard int, change applier.SizeChange, n schema.BlockNumber) {
	k.s.w.PutSize(rel, fork, lsn, shard, sizeKind(change), n)
}

func (k shardSink) Flush() error { return k.s.flush() }

// sizeKind is the page store's kind of an applier's size change.
func sizeKind(c applier.SizeChange) byte {
	switch c {
	case applier.SizeSet:
		return pagestore.SizeSet
	case applier.SizeTruncate:
		return pagestore.SizeTruncate
	case applier.SizeDrop:
		return pagestore.SizeDrop
	}
	return pagestore.SizeExtend
}

// isDatabaseCopy reports whether rec is CREATE DATABASE … STRATEGY
// FILE_COPY (XLOG_DBASE_CREATE_FILE_COPY).
func isDatabaseCopy(rec *schema.DecodedRecord) bool {
	return rec.Rmgr() == schema.RmgrDatabase && rec.Info()&schema.XLRRmgrInfoMask == schema.XLogDbaseCreateFileCopy
}
