package materialize

import (
	"errors"
	"fmt"
	"time"

	"github.com/pagemill/pagemill/redo/pagestore"
	"github.com/pagemill/pagemill/schema"
)

// The transaction index (pagestore's xactindex.go) as the shards write it
// and restores read it: commit times by LSN (for restores at a time), the
// newest transaction id each shard has seen, control events (NEXTOID,
// multixact counters, truncations, parameter changes) and prepared
// transactions. Every shard tracks the xids of the records it applies;
// shard 0, which also writes the checkpoint index, tracks the rest from
// the meta subject. The commit times and newest xids of a batch are written
// in the batch's last commit, with its applied LSN; what a crash left
// after the applied LSN is dropped when the shard resumes.

// xactTracker is a shard's part of the index, owned by its run goroutine.
type xactTracker struct {
	loaded  bool
	xid     uint32     // newest transaction id seen
	haveXid bool       // xid is set
	raised  schema.LSN // end of this batch's first record with a newer xid; 0: none
	newest  schema.TimestampTz
	times   []pagestore.CommitTime // shard 0: this batch's commit times
}

// track adds what rec tells the transaction index. meta: rec came on the
// meta subject (every shard gets those; shard 0 indexes them).
func (s *shard) track(rec *schema.DecodedRecord, meta bool) error {
	t := &s.xi
	if !t.loaded {
		if err := s.loadTracker(); err != nil {
			return err
		}
	}
	if meta && s.id != 0 {
		return nil
	}
	schema.XidsOf(rec, func(x uint32) {
		if !t.haveXid || schema.XidPrecedes(t.xid, x) {
			t.xid, t.haveXid = x, true
			if t.raised == 0 {
				t.raised = rec.EndLSN
			}
		}
	})
	if !meta {
		return nil
	}
	switch {
	case rec.Rmgr() == schema.RmgrTransaction:
		end, err := schema.XactEndOf(rec)
		if err != nil {
			s.m.log.Warn("transaction record not understood; not indexed", "lsn", rec.LSN, "err", err)
			return nil
		}
		if end != nil {
			t.times = append(t.times, pagestore.CommitTime{End: rec.EndLSN, Time: end.Time})
			if end.Prepared {
				s.w.PutPrepareEnd(end.Xid, rec.EndLSN)
			}
			return nil
		}
		p, err := schema.ParsePrepare(rec)
		if err != nil {
			s.m.log.Warn("PREPARE record not understood; not indexed", "lsn", rec.LSN, "err", err)
			return nil
		}
		if p != nil {
			s.w.PutPrepare(p.Xid, rec.LSN, rec.EndLSN, p.State)
		}
	default:
		ev, err := schema.ControlEventOf(rec)
		switch {
		case errors.Is(err, schema.ErrNotControlRecord):
		case err != nil:
			s.m.log.Warn("control record not understood; not indexed", "lsn", rec.LSN, "err", err)
		default:
			s.w.PutControlEvent(rec.EndLSN, ev)
		}
	}
	return nil
}

// loadTracker resumes the shard's tracking at its applied LSN: entries a
// crash left after it go (the batches after it are applied again), the
// newest xid and commit time are read back.
func (s *shard) loadTracker() error {
	t := &s.xi
	if err := s.m.store.DropXactIndexAfter(s.id, s.applied); err != nil {
		return fmt.Errorf("shard %d: transaction index after %s: %w", s.id, s.applied, err)
	}
	xid, ok, err := s.m.store.XidSeen(s.id, s.applied)
	if err != nil {
		return fmt.Errorf("shard %d: newest transaction id: %w", s.id, err)
	}
	t.xid, t.haveXid = xid, ok
	if s.id == 0 {
		if t.newest, err = s.m.store.LastCommitBlock(s.applied); err != nil {
			return fmt.Errorf("shard 0: newest commit time: %w", err)
		}
	}
	t.loaded = true
	return nil
}

// putTracked writes the batch's newest xid and commit times, before the
// batch's last commit.
func (s *shard) putTracked() {
	t := &s.xi
	if t.raised != 0 {
		s.w.PutXidSeen(s.id, t.raised, t.xid)
		t.raised = 0
	}
	if len(t.times) > 0 {
		t.newest = s.w.PutCommitTimes(t.times, t.newest)
		t.times = t.times[:0]
	}
}

// ensureXactIndex describes the transaction index of a store that
// predates it: complete from the newest applied LSN of any shard on.
func (m *Materializer) ensureXactIndex() error {
	if _, ok, err := m.store.XactIndex(); err != nil || ok {
		return err
	}
	var from schema.LSN
	for i := range m.shards {
		lsn, _, err := m.store.Applied(i)
		if err != nil {
			return err
		}
		from = max(from, lsn)
	}
	w := m.store.NewWriter()
	w.SetXactIndex(pagestore.XactIndexInfo{Version: pagestore.XactIndexVersion, From: from})
	if err := w.Commit(); err != nil {
		return err
	}
	m.log.Info("the page store predates the transaction index: indexing transactions from now on; restores needing older records replay WAL (pagemill rebuild --force indexes from the base backup)",
		"from", from)
	return nil
}

// trimXactIndex drops what restores at or above the horizon h no longer
// need.
func (m *Materializer) trimXactIndex(h schema.LSN) {
	var redo schema.LSN
	if ck, err := m.store.CheckpointAt(h); err == nil {
		if cp, err := schema.ParseCheckPoint(ck.Data); err == nil {
			redo = cp.Redo
		}
	}
	if n, err := m.store.TrimXactIndex(h, redo, len(m.shards)); err != nil {
		m.log.Error("trimming the transaction index failed", "horizon", h, "err", err)
	} else if n > 0 {
		m.log.Debug("transaction index trimmed", "horizon", h, "keys", n)
	}
}

// Errors of the transaction index API.
var (
	// ErrTimeOutsideWindow is matched by *TimeWindowError.
	ErrTimeOutsideWindow = errors.New("outside the retention window")
	// ErrNotIndexed: the transaction index does not reach back far enough
	// (a page store from before it, or imported from a snapshot).
	ErrNotIndexed = errors.New("not covered by the transaction index")
)

// TimeWindow is the span a restore by time can reach: from the first
// transaction ending at or after the oldest restorable LSN to the newest
// applied one. (Beyond that, a later commit with an earlier time may not
// have reached pagemill yet, so no state after it is known to be the one
// at a time; the newest applied state is at the applied LSN.)
type TimeWindow struct {
	From, To       time.Time
	FromLSN, ToLSN schema.LSN
}

func (w TimeWindow) String() string {
	const layout = "2006-01-02 15:04:05.999999Z07:00"
	return fmt.Sprintf("[%s (LSN %s), %s (LSN %s)]", w.From.Format(layout), w.FromLSN.Short(), w.To.Format(layout), w.ToLSN.Short())
}

// TimeWindowError says a time (or LSN) is outside the window.
type TimeWindowError struct {
	Time   time.Time
	LSN    schema.LSN // for TimeAt
	Window TimeWindow
	Reason string
}

func (e *TimeWindowError) Error() string {
	what := e.Time.UTC().Format("2006-01-02 15:04:05.999999Z07:00")
	if e.LSN != 0 {
		what = "LSN " + e.LSN.Short()
	}
	if e.Window.FromLSN == 0 {
		return fmt.Sprintf("%s is %v: %s", what, ErrTimeOutsideWindow, e.Reason)
	}
	return fmt.Sprintf("%s is %v %s: %s", what, ErrTimeOutsideWindow, e.Window, e.Reason)
}

func (e *TimeWindowError) Unwrap() error { return ErrTimeOutsideWindow }

// oldestRestorable is the lowest LSN a restore (or a lookup) may use: the
// horizon, the base backup's consistency point and the transaction
// index's start.
func (m *Materializer) oldestRestorable() (schema.LSN, error) {
	_, baseEnd, err := m.Base()
	if err != nil {
		return 0, err
	}
	if baseEnd == 0 {
		return 0, ErrNotReady
	}
	lo := max(baseEnd, m.Horizon())
	info, ok, err := m.store.XactIndex()
	if err != nil {
		return 0, err
	}
	if !ok {
		return 0, fmt.Errorf("%w: the page store has no transaction index yet", ErrNotIndexed)
	}
	return max(lo, info.From), nil
}

// Window is the time window of restores by time.
func (m *Materializer) Window() (TimeWindow, error) {
	lo, err := m.oldestRestorable()
	if err != nil {
		return TimeWindow{}, err
	}
	applied := m.Applied()
	first, ok, err := m.store.FirstCommitTime(lo)
	if err != nil {
		return TimeWindow{}, err
	}
	if !ok || first.End > applied {
		return TimeWindow{}, &TimeWindowError{Reason: fmt.Sprintf("no transaction ended between LSN %s and the applied LSN %s", lo.Short(), applied.Short())}
	}
	last, _, err := m.store.LastCommitTime(applied)
	if err != nil {
		return TimeWindow{}, err
	}
	return TimeWindow{From: first.Newest.Time(), FromLSN: first.End, To: last.Newest.Time(), ToLSN: last.End}, nil
}

// LSNAt is the LSN of the database as it was at t, as recovery_target_time
// with recovery_target_inclusive would leave it: the end of the last
// commit or abort record such that it and every record before it ended
// their transactions at or before t (commit times come from the records'
// xact_time). It also returns that record's newest commit time so far.
// A t outside the window gives a *TimeWindowError naming it.
func (m *Materializer) LSNAt(t time.Time) (schema.LSN, time.Time, error) {
	w, err := m.Window()
	if err != nil {
		var we *TimeWindowError
		if errors.As(err, &we) {
			we.Time = t
		}
		return 0, time.Time{}, err
	}
	if t.Before(w.From) {
		return 0, time.Time{}, &TimeWindowError{Time: t, Window: w, Reason: "before the oldest transaction pagemill keeps"}
	}
	if t.After(w.To) {
		return 0, time.Time{}, &TimeWindowError{Time: t, Window: w,
			Reason: fmt.Sprintf("after the newest transaction pagemill has applied; the newest state is at the applied LSN %s", m.Applied().Short())}
	}
	p, ok, err := m.store.CommitAtTime(schema.TimestampTzOf(t))
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("commit time index at %s: %w", t, err)
	}
	if !ok || p.End < w.FromLSN {
		return 0, time.Time{}, &TimeWindowError{Time: t, Window: w, Reason: "before the oldest transaction pagemill keeps"}
	}
	return p.End, p.Newest.Time(), nil
}

// TimeAt is the commit time of the database as of lsn: the newest
// xact_time of the commit and abort records ending at or before it, and
// the end of the last of them. An LSN outside the window gives a
// *TimeWindowError.
func (m *Materializer) TimeAt(lsn schema.LSN) (time.Time, schema.LSN, error) {
	lo, err := m.oldestRestorable()
	if err != nil {
		return time.Time{}, 0, err
	}
	applied := m.Applied()
	if lsn < lo || lsn > applied {
		w, _ := m.Window()
		return time.Time{}, 0, &TimeWindowError{LSN: lsn, Window: w, Reason: fmt.Sprintf("pagemill answers for LSNs from %s to the applied LSN %s", lo.Short(), applied.Short())}
	}
	p, ok, err := m.store.LastCommitTime(lsn)
	if err != nil {
		return time.Time{}, 0, fmt.Errorf("commit time index at %s: %w", lsn, err)
	}
	if !ok || p.End < lo {
		w, _ := m.Window()
		return time.Time{}, 0, &TimeWindowError{LSN: lsn, Window: w, Reason: fmt.Sprintf("no transaction ended between %s and it", lo.Short())}
	}
	return p.Newest.Time(), p.End, nil
}

// Control is the control data of a clean shutdown at an LSN, from the
// newest checkpoint record at or before it advanced by the transaction
// index.
type Control struct {
	// Checkpoint is the newest checkpoint record ending at or before the
	// LSN; CheckPoint its contents with NextXid, NextOid, NextMulti,
	// NextMultiOffset, OldestXid(DB), OldestMulti(DB) and FullPageWrites
	// as of the LSN (NextXid an upper bound: see pagestore.XidSeen).
	Checkpoint pagestore.Checkpoint
	CheckPoint schema.CheckPoint
	// Params: the newest PARAMETER_CHANGE at or before the LSN, nil when
	// none since the index's start.
	Params *schema.Parameters
	// IndexFrom is where the transaction index starts.
	IndexFrom schema.LSN
}

// ControlAt is the control data as of lsn. It fails with ErrNotIndexed
// when the index starts after the checkpoint's redo point (the records in
// between are not indexed), with pagestore.ErrNotFound when no checkpoint
// ends at or before lsn.
func (m *Materializer) ControlAt(lsn schema.LSN) (*Control, error) {
	ck, err := m.store.CheckpointAt(lsn)
	if err != nil {
		return nil, err
	}
	cp, err := schema.ParseCheckPoint(ck.Data)
	if err != nil {
		return nil, fmt.Errorf("checkpoint record at %s: %w", ck.LSN, err)
	}
	info, ok, err := m.store.XactIndex()
	if err != nil {
		return nil, err
	}
	if !ok || info.From > cp.Redo {
		return nil, fmt.Errorf("%w: the index starts at %s, after the redo point %s of the checkpoint at %s", ErrNotIndexed, info.From, cp.Redo, ck.LSN)
	}
	c := &Control{Checkpoint: ck, IndexFrom: info.From}
	for i := range m.shards {
		xid, ok, err := m.store.XidSeen(i, lsn)
		if err != nil {
			return nil, err
		}
		if ok {
			if next := schema.FullXidNear(xid, cp.NextXid) + 1; next > cp.NextXid {
				cp.NextXid = next
			}
		}
	}
	if uint32(cp.NextXid) < schema.FirstNormalTransactionID {
		cp.NextXid += schema.FirstNormalTransactionID - uint64(uint32(cp.NextXid)) // past the special ids after a wraparound
	}
	err = m.store.ControlEvents(cp.Redo+1, lsn, func(_ schema.LSN, e *schema.ControlEvent) bool {
		switch e.Kind {
		case schema.EventNextOID:
			cp.NextOid = e.A
		case schema.EventMultiXact:
			if schema.MultiXactPrecedes(cp.NextMulti, e.A) {
				cp.NextMulti = e.A
			}
			if int32(e.B-cp.NextMultiOffset) > 0 {
				cp.NextMultiOffset = e.B
			}
		case schema.EventMultiXactTruncate:
			if schema.MultiXactPrecedes(cp.OldestMulti, e.A) {
				cp.OldestMulti, cp.OldestMultiDB = e.A, e.B
			}
		case schema.EventClogTruncate:
			if schema.XidPrecedes(cp.OldestXid, e.A) {
				cp.OldestXid, cp.OldestXidDB = e.A, e.B
			}
		case schema.EventFullPageWrites:
			cp.FullPageWrites = e.A != 0
		}
		return true
	})
	if err != nil {
		return nil, err
	}
	if e, _, ok, err := m.store.LastControlEvent(lsn, schema.EventParameters); err != nil {
		return nil, err
	} else if ok {
		c.Params = e.Params
	}
	c.CheckPoint = cp
	return c, nil
}

// PreparedAt lists the transactions prepared at lsn whose PREPARE record
// is in the index, and where the index starts: transactions prepared
// before that are not known to it.
func (m *Materializer) PreparedAt(lsn schema.LSN) ([]pagestore.Prepared, schema.LSN, error) {
	info, ok, err := m.store.XactIndex()
	if err != nil {
		return nil, 0, err
	}
	if !ok {
		return nil, 0, fmt.Errorf("%w: the page store has no transaction index yet", ErrNotIndexed)
	}
	ps, err := m.store.PreparedAt(lsn)
	return ps, info.From, err
}
