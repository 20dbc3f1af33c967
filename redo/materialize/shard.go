package materialize

import (
	"cmp"
	"context"
	"errors"
	"fmt"
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
}

// queueBytes bounds the record bytes waiting for a shard: two batches'
// worth keeps the shard fed, and a catch-up of large rounds (MiBs each)
// cannot pile up in memory (the channel alone bounds messages, not bytes).
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
		cfg.Spill = sp
	}
	ap, err := applier.New(cfg, storeView{s.m.store}, shardSink{s})
	if err != nil {
		return err
	}
	s.ap = ap
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
		if err := s.apply(ctx, batch); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("shard %d: %w", s.id, err)
		}
		s.release(size)
	}
}

// apply processes a batch: records into the store, then commit, sync,
// acknowledge, and advance the watermarks.
func (s *shard) apply(ctx context.Context, batch []*item) error {
	s.w = s.m.store.NewWriter()
	b := batchProgress{applied: s.applied, seq: s.seq}
	for _, it := range batch {
		if err := s.applyItem(ctx, it, &b); err != nil {
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
	s.ap.Evict()
	if err := s.w.Commit(); err != nil {
		return err
	}
	s.m.m.commitSeconds.Observe(time.Since(began).Seconds())
	s.countStats()
	// Readers may only see the new versions once their cached older ones
	// are gone.
	s.rc.drop(s.ap.TakeWritten())
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

// storeView is the page store as the applier reads it.
type storeView struct{ st *pagestore.Store }

func (v storeView) Latest(tag schema.BufferTag, buf schema.Page) (schema.Page, schema.LSN, int, error) {
	p, lsn, n, err := v.st.Latest(tag, buf)
	return p, lsn, n, applierErr(err)
}

func (v storeView) PageAt(tag schema.BufferTag, lsn schema.LSN) (schema.Page, schema.LSN, error) {
	p, at, err := v.st.PageAt(tag, lsn)
	return p, at, applierErr(err)
}

func (v storeView) RelSize(rel schema.RelFileNode, fork schema.ForkNumber, lsn schema.LSN) (schema.BlockNumber, bool, error) {
	return v.st.RelSize(rel, fork, lsn)
}

func (v storeView) Relations(db uint32, lsn schema.LSN) (map[schema.RelFork]schema.BlockNumber, error) {
	return v.st.Relations(db, lsn)
}

func (v storeView) PagesOf(rel schema.RelFileNode, fork schema.ForkNumber, allForks bool, from schema.BlockNumber) ([]schema.BufferTag, error) {
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
