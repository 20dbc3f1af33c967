package materialize

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/pagemill/pagemill/redo/pagestore"
	"github.com/pagemill/pagemill/schema"
	"github.com/pagemill/pagemill/streams"
)

// Errors of the read API, besides pagestore's ErrNotFound and
// ErrUnavailable.
var (
	// ErrBelowHorizon: the LSN is older than the retention horizon.
	ErrBelowHorizon = pagestore.ErrBelowHorizon
	// ErrNotReady: the base backup is not imported yet.
	ErrNotReady = errors.New("materializer not ready: base backup not imported")
	// ErrStreamTrimmed: the stream no longer holds records the page store
	// has not applied (retention trimmed them while pagemill was down).
	ErrStreamTrimmed = errors.New("the WAL stream was trimmed past the page store's position")
)

// WaitError says a wait for an LSN ended (timeout or cancellation) before
// the shard applied it.
type WaitError struct {
	LSN     schema.LSN // waited for
	Applied schema.LSN // what was applied when the wait ended
	Err     error      // the context's error
}

func (e *WaitError) Error() string {
	return fmt.Sprintf("waited for LSN %s, applied only up to %s: %v", e.LSN, e.Applied, e.Err)
}

func (e *WaitError) Unwrap() error { return e.Err }

func (m *Materializer) checkReadable(lsn schema.LSN) error {
	select {
	case <-m.ready:
	default:
		return ErrNotReady
	}
	return m.aboveHorizon(lsn)
}

// aboveHorizon fails, naming the horizon, when lsn is below it.
func (m *Materializer) aboveHorizon(lsn schema.LSN) error {
	if h := m.store.Horizon(); lsn < h {
		return fmt.Errorf("LSN %s is %w (%s)", lsn, ErrBelowHorizon, h)
	}
	return nil
}

// WaitShard waits until shard i has applied lsn. It holds no lock while
// waiting and wakes as soon as the shard's watermark passes lsn.
func (m *Materializer) WaitShard(ctx context.Context, i int, lsn schema.LSN) error {
	s := m.shards[i]
	if err := s.wm.wait(ctx, lsn, func(d int) { m.waiting(s, d) }); err != nil {
		return &WaitError{LSN: lsn, Applied: s.wm.get(), Err: err}
	}
	return nil
}

// WaitAll waits until every shard has applied lsn.
func (m *Materializer) WaitAll(ctx context.Context, lsn schema.LSN) error {
	for i := range m.shards {
		if err := m.WaitShard(ctx, i, lsn); err != nil {
			return err
		}
	}
	return nil
}

// ShardOf is the shard of a page.
func (m *Materializer) ShardOf(tag schema.BufferTag) int { return streams.ShardOf(tag, len(m.shards)) }

// flightKey names one reconstruction.
type flightKey struct {
	tag schema.BufferTag
	lsn schema.LSN
}

// flight is one reconstruction that concurrent readers share.
type flight struct {
	done    chan struct{}
	page    schema.Page
	version schema.LSN
	err     error
}

// PageAt returns the page as of lsn and the LSN of that version, waiting
// (bounded by ctx) until the page's shard has applied lsn. Concurrent
// reads of the same page at the same LSN share one reconstruction; at most
// Config.Readers reconstructions run at once. The page returned is the
// caller's.
func (m *Materializer) PageAt(ctx context.Context, tag schema.BufferTag, lsn schema.LSN) (schema.Page, schema.LSN, error) {
	if err := m.checkReadable(lsn); err != nil {
		return nil, 0, err
	}
	sh := m.shards[m.ShardOf(tag)]
	if err := m.WaitShard(ctx, sh.id, lsn); err != nil {
		return nil, 0, err
	}
	if page, version, ok := sh.rc.get(tag, lsn); ok {
		m.m.reconstructions.WithLabelValues("cached").Inc()
		return page, version, nil
	}
	key := flightKey{tag, lsn}
	f := &flight{done: make(chan struct{})}
	if prev, loaded := m.flights.LoadOrStore(key, f); loaded {
		f = prev.(*flight)
		m.m.reconstructions.WithLabelValues("shared").Inc()
		select {
		case <-f.done:
		case <-ctx.Done():
			return nil, 0, ctx.Err()
		}
	} else {
		gen := sh.rc.generation()
		open := lsn >= sh.wm.get()
		m.reconstruct(ctx, key, f)
		if f.err == nil {
			sh.rc.put(tag, f.page, f.version, lsn, open, gen)
		}
	}
	if f.err != nil {
		return nil, 0, f.err
	}
	return append(schema.Page(nil), f.page...), f.version, nil
}

func (m *Materializer) reconstruct(ctx context.Context, key flightKey, f *flight) {
	defer func() {
		m.flights.Delete(key)
		close(f.done)
	}()
	select {
	case m.readSem <- struct{}{}:
	case <-ctx.Done():
		f.err = ctx.Err()
		return
	}
	defer func() { <-m.readSem }()
	began := time.Now()
	f.page, f.version, f.err = m.store.PageAt(key.tag, key.lsn)
	m.m.reconstructSecs.Observe(time.Since(began).Seconds())
	if f.err != nil {
		m.m.reconstructions.WithLabelValues("error").Inc()
	} else {
		m.m.reconstructions.WithLabelValues("ok").Inc()
	}
}

// RelSize returns a relation fork's size in blocks at lsn and whether it
// exists, once every shard has applied lsn (extensions come from all).
func (m *Materializer) RelSize(ctx context.Context, rel schema.RelFileNode, fork schema.ForkNumber, lsn schema.LSN) (schema.BlockNumber, bool, error) {
	if err := m.checkReadable(lsn); err != nil {
		return 0, false, err
	}
	if err := m.WaitAll(ctx, lsn); err != nil {
		return 0, false, err
	}
	return m.store.RelSize(rel, fork, lsn)
}

// DBSize returns the size in bytes of database db at lsn.
func (m *Materializer) DBSize(ctx context.Context, db uint32, lsn schema.LSN) (int64, error) {
	if err := m.checkReadable(lsn); err != nil {
		return 0, err
	}
	if err := m.WaitAll(ctx, lsn); err != nil {
		return 0, err
	}
	return m.store.DBSize(db, lsn)
}

// Relations lists the relation forks of db (0: all) that exist at lsn,
// with their sizes.
func (m *Materializer) Relations(ctx context.Context, db uint32, lsn schema.LSN) (map[pagestore.RelFork]schema.BlockNumber, error) {
	if err := m.checkReadable(lsn); err != nil {
		return nil, err
	}
	if err := m.WaitAll(ctx, lsn); err != nil {
		return nil, err
	}
	return m.store.Relations(db, lsn)
}

// ControlData is the control data as of the newest checkpoint record at
// or before the applied LSN: its location and its CheckPoint (redo point,
// next xid, oid and multixact, oldest xid …), as PostgreSQL would put it
// in pg_control.
func (m *Materializer) ControlData() (pagestore.Checkpoint, schema.CheckPoint, error) {
	ck, err := m.store.CheckpointAt(m.Applied())
	if err != nil {
		return ck, schema.CheckPoint{}, err
	}
	cp, err := schema.ParseCheckPoint(ck.Data)
	return ck, cp, err
}

// History lists the versions of a page in (from, to] (see
// pagestore.Store.History), once the page's shard has applied to, each
// with the record that made it. The store keeps some versions as full
// images without their record (the record's own full-page image, the
// periodic image): those records are read back from the WAL stream, one
// lookup per ingest round. Versions no record made (pages imported from
// the base backup or a snapshot) have none. A window starting below the
// retention horizon is refused: GC folded the versions there into one
// image.
func (m *Materializer) History(ctx context.Context, tag schema.BufferTag, from, to schema.LSN, limit int) ([]pagestore.Version, bool, error) {
	if err := m.checkReadable(from); err != nil {
		return nil, false, err
	}
	if err := m.WaitShard(ctx, m.ShardOf(tag), to); err != nil {
		return nil, false, err
	}
	vs, more, err := m.store.History(tag, from, to, limit)
	if err != nil {
		return nil, false, err
	}
	if err := m.imageRecords(ctx, tag, vs); err != nil {
		return nil, false, fmt.Errorf("history of page %s: %w", tag, err)
	}
	return vs, more, nil
}

// imageRecords fills in the records of the image versions in vs from the
// stream: for each ingest round holding one, the page's shard subject
// messages of that round.
func (m *Materializer) imageRecords(ctx context.Context, tag schema.BufferTag, vs []pagestore.Version) error {
	if m.h == nil || m.h.Stream == nil {
		return nil
	}
	want := map[schema.LSN]*pagestore.Version{}
	for i := range vs {
		if vs[i].Kind == pagestore.KindImage && vs[i].Record == nil {
			want[vs[i].LSN] = &vs[i]
		}
	}
	subject := m.Layout().SubjectOf(tag)
	done := map[uint64]bool{} // rounds read, by meta sequence
	for i := range vs {
		v := &vs[i]
		if want[v.LSN] == nil {
			continue
		}
		r, prev, prevOK, err := m.store.RoundOf(v.LSN)
		if errors.Is(err, pagestore.ErrNotFound) {
			continue // not from a round: an imported page
		}
		if err != nil {
			return err
		}
		if done[r.Seq] {
			continue
		}
		done[r.Seq] = true
		// A whole round is its meta message alone.
		meta, err := m.h.Stream.GetMsg(ctx, r.Seq)
		if err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
			return fmt.Errorf("read the round at stream sequence %d: %w", r.Seq, err)
		}
		if err == nil && streams.Whole(meta.Header) {
			entries, err := schema.DecodeRecordBatch(meta.Data)
			if err != nil {
				return fmt.Errorf("stream sequence %d: %w", meta.Sequence, err)
			}
			fillRecords(want, entries)
			continue
		}
		seq := uint64(1)
		if prevOK {
			seq = prev + 1
		}
		ra := streams.NewReassembler()
		for seq <= r.Seq {
			msg, err := m.h.Stream.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(subject))
			if errors.Is(err, jetstream.ErrMsgNotFound) {
				break
			}
			if err != nil {
				return fmt.Errorf("read %s from stream sequence %d: %w", subject, seq, err)
			}
			if msg.Sequence > r.Seq {
				break
			}
			batch, err := ra.Add(msg.Subject, msg.Header, msg.Data)
			if err != nil {
				return fmt.Errorf("stream sequence %d: %w", msg.Sequence, err)
			}
			if batch != nil {
				entries, err := schema.DecodeRecordBatch(batch)
				if err != nil {
					return fmt.Errorf("stream sequence %d: %w", msg.Sequence, err)
				}
				fillRecords(want, entries)
			}
			seq = msg.Sequence + 1
		}
	}
	return nil
}

// fillRecords gives the versions in want (by end LSN) their records.
func fillRecords(want map[schema.LSN]*pagestore.Version, entries []schema.RecordBatchEntry) {
	for _, e := range entries {
		if w := want[e.EndLSN]; w != nil {
			w.Start, w.Record = e.LSN, append([]byte(nil), e.Raw...)
			delete(want, e.EndLSN)
		}
	}
}
