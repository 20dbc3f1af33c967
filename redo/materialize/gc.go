package materialize

import (
	"context"
	"sync"
	"time"

	"github.com/pagemill/pagemill/schema"
)

// sample is the durable LSN at a moment, for time-based retention.
type sample struct {
	at  time.Time
	lsn schema.LSN
}

// gcLoop moves the retention horizon, takes snapshots and trims what the
// window no longer needs, every GCInterval, one thing at a time (so the
// horizon never moves under a snapshot being written). The time dimension
// uses the durable LSN history this process has seen, so after a restart
// the horizon moves by time only once the window has passed again (it
// errs on keeping more).
func (m *Materializer) gcLoop(ctx context.Context) {
	retain := m.cfg.RetainBytes > 0 || m.cfg.RetainTime > 0
	snapshots := m.cfg.SnapshotBytes > 0 || m.cfg.SnapshotInterval > 0
	if !retain && !snapshots {
		return
	}
	t := time.NewTicker(m.cfg.GCInterval)
	defer t.Stop()
	var history []sample
	snaps, err := m.Snapshots(ctx)
	if err != nil {
		m.log.Error("listing snapshots failed", "err", err)
	}
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			if retain {
				history = append(history, sample{now, m.Durable()})
				if h, ok := m.horizonCandidate(now, history); ok {
					if _, err := m.CollectGarbage(h); err != nil {
						m.log.Error("garbage collection failed", "horizon", h, "err", err)
					}
				}
				// Drop history older than the window.
				for len(history) > 1 && now.Sub(history[1].at) > m.cfg.RetainTime {
					history = history[1:]
				}
			}
			var last *SnapshotInfo
			if len(snaps) > 0 {
				last = &snaps[len(snaps)-1]
			}
			if snapshots && m.snapshotDue(last, now) {
				si, err := m.TakeSnapshot(ctx)
				switch {
				case err == nil:
					snaps = append(snaps, *si)
				case ctx.Err() == nil:
					m.log.Warn("snapshot not taken", "err", err)
				}
			}
			if retain {
				if err := m.trim(ctx, snaps); err != nil && ctx.Err() == nil {
					m.log.Error("trimming failed", "err", err)
				} else if err == nil {
					h := m.store.Horizon()
					for len(snaps) > 1 && snaps[1].LSN <= h {
						snaps = snaps[1:]
					}
				}
			}
		}
	}
}

// horizonCandidate is the highest LSN both retention dimensions allow.
func (m *Materializer) horizonCandidate(now time.Time, history []sample) (schema.LSN, bool) {
	applied := m.Durable()
	h := applied
	if m.cfg.RetainBytes > 0 {
		if int64(applied) <= m.cfg.RetainBytes {
			return 0, false
		}
		h = min(h, applied-schema.LSN(m.cfg.RetainBytes))
	}
	if m.cfg.RetainTime > 0 {
		var byTime schema.LSN
		found := false
		for _, s := range history {
			if now.Sub(s.at) >= m.cfg.RetainTime {
				byTime, found = s.lsn, true
			}
		}
		if !found {
			return 0, false
		}
		h = min(h, byTime)
	}
	return h, h > m.store.Horizon()
}

// CollectGarbage moves the horizon to h (never past what every shard has
// made durable: a snapshot at or below the horizon lets the stream be
// trimmed, and a store that lost unsynced batches in a crash needs the
// stream from where it is durable) and removes what reads at or above it
// do not need.
func (m *Materializer) CollectGarbage(h schema.LSN) (int, error) {
	if a := m.Durable(); h > a {
		h = a
	}
	// Pins are read and the horizon moved under pinMu, so a Pin either
	// sees the new horizon (and fails) or holds it back; the collection
	// itself runs without it.
	m.pinMu.Lock()
	if p, ok := m.minPin(); ok && h > p {
		h = p // a reader (a restore) still needs versions at p
	}
	moved := h > m.store.Horizon()
	var err error
	if moved {
		err = m.store.MoveHorizon(h)
	}
	m.pinMu.Unlock()
	if err != nil || !moved {
		return 0, err
	}
	began := time.Now()
	st, err := m.store.Collect(h)
	if err != nil {
		return 0, err
	}
	m.trimXactIndex(h)
	m.log.Info("garbage collected", "horizon", h, "pages", st.Pages, "rewritten", st.Rewritten, "deleted", st.Deleted,
		"seconds", time.Since(began).Seconds())
	return st.Deleted, nil
}

// Pin keeps the horizon at or below lsn until the returned function is
// called: a long reader (a restore writing a whole data directory) needs
// every page version at lsn to stay. It fails if lsn is already below the
// horizon.
func (m *Materializer) Pin(lsn schema.LSN) (func(), error) {
	m.pinMu.Lock()
	defer m.pinMu.Unlock()
	if err := m.aboveHorizon(lsn); err != nil {
		return nil, err
	}
	if m.pins == nil {
		m.pins = map[schema.LSN]int{}
	}
	m.pins[lsn]++
	var once sync.Once
	return func() {
		once.Do(func() {
			m.pinMu.Lock()
			defer m.pinMu.Unlock()
			if m.pins[lsn]--; m.pins[lsn] == 0 {
				delete(m.pins, lsn)
			}
		})
	}, nil
}

// minPin is the lowest pinned LSN; m.pinMu must be held.
func (m *Materializer) minPin() (schema.LSN, bool) {
	var lo schema.LSN
	ok := false
	for l := range m.pins {
		if !ok || l < lo {
			lo, ok = l, true
		}
	}
	return lo, ok
}
