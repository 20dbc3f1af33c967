package materialize

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/pagemill/pagemill/schema"
	"github.com/pagemill/pagemill/streams"
)

// errSwitch ends a timeline's run: the next one's rounds follow.
var errSwitch = errors.New("timeline switch")

// watchTimeline waits for ingest to record the history of a newer
// timeline that descends from the one being applied, then for every round
// of this timeline to be applied: up to the switch point, and past it if
// the stream holds more (an abandoned branch, which the switch leaves
// out of history). It returns the next timeline's history, or nil when
// ctx ends.
func (m *Materializer) watchTimeline(ctx context.Context) (schema.TimeLineHistory, error) {
	w, err := m.h.KV.Watch(ctx, streams.KeysTimelineHistory)
	if err != nil {
		if ctx.Err() != nil {
			return nil, nil
		}
		return nil, fmt.Errorf("watch timeline histories: %w", err)
	}
	defer w.Stop()
	cur := schema.TimeLineID(m.timeline.Load())
	for {
		var e jetstream.KeyValueEntry
		select {
		case <-ctx.Done():
			return nil, nil
		case v, ok := <-w.Updates():
			if !ok {
				if ctx.Err() != nil {
					return nil, nil
				}
				return nil, errors.New("timeline history watch ended")
			}
			e = v
		}
		if e == nil || e.Operation() != jetstream.KeyValuePut {
			continue
		}
		n, ok := streams.TimelineOfKey(e.Key())
		if !ok || n <= cur {
			continue
		}
		h, err := schema.ParseTimeLineHistory(n, e.Value())
		if err != nil {
			return nil, fmt.Errorf("state bucket key %s: %w", e.Key(), err)
		}
		sp, ok := h.SwitchPoint(cur)
		if !ok {
			m.log.Warn("a newer timeline does not descend from the one applied; not followed", "timeline", n, "history", h.String(), "applied_timeline", cur)
			continue
		}
		next := h.Upto(h.TLIOf(sp))
		target := sp
		if last, err := streams.LastMsgOnSubject(ctx, m.h.Stream, m.Layout().MetaSubject()); err == nil {
			if end, err := streams.RoundEnd(last.Header); err == nil {
				target = max(target, end)
			}
		}
		m.log.Info("timeline switch due; applying the rest of this timeline first", "timeline", cur, "switch_point", sp,
			"next_timeline", next.Current(), "apply_up_to", target)
		if err := m.WaitAll(ctx, target); err != nil {
			return nil, nil
		}
		return next, nil
	}
}

// switchTimeline moves the store and the shards to next, whose parent
// (the timeline applied so far) ends at its switch point: applied LSNs
// past it come down to it, and read caches are dropped.
func (m *Materializer) switchTimeline(next schema.TimeLineHistory) error {
	cur := schema.TimeLineID(m.timeline.Load())
	sp, ok := next.SwitchPoint(cur)
	if !ok {
		return fmt.Errorf("%w: timeline %d is not in %s", schema.ErrBadHistory, cur, next)
	}
	if err := m.store.SwitchTimeline(next, sp); err != nil {
		return err
	}
	for i, s := range m.shards {
		applied, seq, err := m.store.Applied(i)
		if err != nil {
			return err
		}
		s.applied, s.seq = applied, seq
		s.wm.lower(applied)
		s.durable.lower(applied)
		s.progress.lower(applied)
		s.rc.clear()
	}
	m.timeline.Store(uint32(next.Current()))
	m.log.Info("switched timeline", "timeline", next.Current(), "switch_point", sp, "history", next.String())
	return nil
}

// adoptHistory gives an empty store the history it starts on: that of
// tli (the base backup's) or, when tli is 0, of the timeline that owns
// lsn (a snapshot's), from the histories ingest recorded.
func (m *Materializer) adoptHistory(ctx context.Context, tli schema.TimeLineID, lsn schema.LSN) error {
	h, ok, err := streams.NewestTimelineHistory(ctx, m.h.KV)
	if err != nil {
		return err
	}
	if tli == 0 {
		tli = schema.TimeLineID(m.timeline.Load())
		if ok {
			tli = h.OwnerOfEnd(lsn)
		}
	}
	start := schema.SingleTimeLine(tli)
	if ok && h.Upto(tli) != nil {
		start = h.Upto(tli)
	}
	if err := m.store.SetHistory(start); err != nil {
		return err
	}
	m.timeline.Store(uint32(tli))
	return nil
}
