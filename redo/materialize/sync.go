package materialize

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/pagemill/pagemill/schema"
)

// pendingSync is a shard batch committed to the page store and not yet
// synced: its messages wait for their acknowledgement, its applied LSN
// for the durable watermark.
type pendingSync struct {
	s       *shard
	acks    []*acker
	applied schema.LSN
}

// syncQueue hands committed batches from the shards to syncLoop. add
// never blocks a shard on a sync.
type syncQueue struct {
	mu      sync.Mutex
	pending []pendingSync
	wake    chan struct{} // 1-buffered: something is pending
}

func newSyncQueue() *syncQueue { return &syncQueue{wake: make(chan struct{}, 1)} }

func (q *syncQueue) add(p pendingSync) {
	q.mu.Lock()
	q.pending = append(q.pending, p)
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

func (q *syncQueue) take() []pendingSync {
	q.mu.Lock()
	defer q.mu.Unlock()
	p := q.pending
	q.pending = nil
	return p
}

// syncLoop makes committed batches durable: one page store sync for every
// batch committed since the last, at most one per Config.SyncInterval,
// then their messages are acknowledged and the durable watermarks move.
// A sync per batch made every shard wait for an fsync and spent 14% of
// the materializer's CPU in msync (each one msyncs Badger's whole mapped
// files); one per interval halved that. Shards do not wait for it, the
// acknowledgements do. A failed sync stops the materializer: the store
// can no longer promise what it has committed.
func (m *Materializer) syncLoop(ctx context.Context) error {
	var last time.Time
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-m.syncs.wake:
		}
		if d := m.cfg.SyncInterval - time.Since(last); d > 0 {
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(d):
			}
		}
		// Taken before the sync starts: every batch taken was committed
		// before it, so the sync covers them all.
		batch := m.syncs.take()
		if len(batch) == 0 {
			continue
		}
		last = time.Now()
		if err := m.store.Sync(); err != nil {
			return fmt.Errorf("page store sync: %w", err)
		}
		m.m.syncSeconds.Observe(time.Since(last).Seconds())
		for _, p := range batch {
			for _, a := range p.acks {
				a.done()
			}
			p.s.durable.advance(p.applied)
		}
	}
}

// Durable is the minimum over all shards of the LSN up to which every
// record is in the page store and synced (at or below Applied). Retention
// never moves the horizon past it.
func (m *Materializer) Durable() schema.LSN {
	return m.lowest(func(s *shard) *watermark { return s.durable })
}

// WaitDurable waits until every shard has made lsn durable.
func (m *Materializer) WaitDurable(ctx context.Context, lsn schema.LSN) error {
	for _, s := range m.shards {
		if err := s.durable.wait(ctx, lsn, nil); err != nil {
			return &WaitError{LSN: lsn, Applied: s.durable.get(), Err: err}
		}
	}
	return nil
}
