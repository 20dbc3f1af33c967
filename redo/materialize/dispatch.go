package materialize

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/pagemill/pagemill/schema"
	"github.com/pagemill/pagemill/streams"
)

// item is one message's work for a shard: its records, decoded once by
// the dispatcher and shared read-only by every shard that gets the item
// (a meta message goes to all of them).
type item struct {
	recs []*schema.DecodedRecord
	meta bool
	seq  uint64 // stream sequence of the message
	size int    // bytes of records, for batching
	// roundEnd is the end LSN of the ingest round a meta message closes
	// (0 otherwise), roundTime when it was published.
	roundEnd  schema.LSN
	roundTime time.Time
	ack       *acker
}

// acker acknowledges a message once every shard it went to has made it
// durable.
type acker struct {
	msg  jetstream.Msg
	left atomic.Int32
}

func newAcker(msg jetstream.Msg, shards int) *acker {
	a := &acker{msg: msg}
	a.left.Store(int32(shards))
	return a
}

// done is one shard's part: the last one acknowledges.
func (a *acker) done() {
	if a.left.Add(-1) == 0 {
		_ = a.msg.Ack() // redelivery is harmless: skipped by sequence
	}
}

// dispatcher reads the one consumer of this run in stream order, decodes
// each message's records once and hands them to the shards over their
// channels: a shard subject's to its shard, the meta subject's to all.
type dispatcher struct {
	m       *Materializer
	ins     []chan *item
	reasm   *streams.Reassembler
	started bool   // the consumer's first message has been checked
	lastSeq uint64 // the last stream sequence dispatched
	// subjects caches each subject's shard (-1: meta).
	subjects map[string]int
	// from is each shard's applied LSN when the run started: records at or
	// below it are in the store already and are not decoded for it.
	from []schema.LSN
}

func (m *Materializer) newDispatcher() *dispatcher {
	d := &dispatcher{m: m, reasm: streams.NewReassembler(), subjects: map[string]int{}}
	for _, s := range m.shards {
		// Room for a whole batch: in a catch-up a batch is as big as what
		// is buffered, and a bigger batch packs more records per key.
		d.ins = append(d.ins, make(chan *item, m.cfg.BatchMessages))
		d.from = append(d.from, s.applied)
	}
	return d
}

// run feeds the shards from the consumer until ctx ends.
func (d *dispatcher) run(ctx context.Context, cons jetstream.Consumer) error {
	// Bounded by bytes: a message can be a MiB.
	it, err := cons.Messages(jetstream.PullMaxBytes(d.m.cfg.BatchBytes))
	if err != nil {
		return fmt.Errorf("consume: %w", err)
	}
	go func() { <-ctx.Done(); it.Stop() }()
	for {
		msg, err := it.Next()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				return nil
			}
			return fmt.Errorf("next message: %w", err)
		}
		if err := d.dispatch(ctx, msg); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
	}
}

// dispatch decodes one message and sends its item to the shards it is for.
func (d *dispatcher) dispatch(ctx context.Context, msg jetstream.Msg) error {
	md, err := msg.Metadata()
	if err != nil {
		return fmt.Errorf("message metadata: %w", err)
	}
	// A new consumer delivers its first message as consumer sequence 1;
	// anything else is an old consumer's state (see consumer).
	if !d.started {
		if md.Sequence.Consumer != 1 {
			return fmt.Errorf("first message of the consumer (stream sequence %d) has consumer sequence %d, not 1: the consumer resumed old state",
				md.Sequence.Stream, md.Sequence.Consumer)
		}
		d.started = true
	}
	shard, err := d.shardOf(msg.Subject())
	if err != nil {
		return fmt.Errorf("stream sequence %d: %w", md.Sequence.Stream, err)
	}
	meta := shard < 0
	it := &item{meta: meta, seq: md.Sequence.Stream, ack: newAcker(msg, d.targets(shard))}
	if it.seq > d.lastSeq { // not a redelivery (those only need their acknowledgement)
		d.lastSeq = it.seq
		if err := d.decode(it, msg, shard); err != nil {
			return err
		}
		if meta {
			if err := d.roundEnd(it, msg, md.Timestamp); err != nil {
				return err
			}
		}
	}
	return d.send(ctx, it, shard)
}

// shardOf is the shard of a subject, -1 for the meta subject.
func (d *dispatcher) shardOf(subject string) (int, error) {
	if n, ok := d.subjects[subject]; ok {
		return n, nil
	}
	ws, err := streams.ParseShardSubject(subject)
	if err != nil {
		return 0, err
	}
	n := -1
	if !ws.Meta() {
		if ws.Shard >= len(d.ins) || subject != d.m.cfg.Layout.ShardSubject(ws.Shard) {
			return 0, fmt.Errorf("subject %q is not one of this layout's %d shards", subject, len(d.ins))
		}
		n = ws.Shard
	} else if subject != d.m.cfg.Layout.MetaSubject() {
		return 0, fmt.Errorf("subject %q is not this layout's meta subject", subject)
	}
	d.subjects[subject] = n
	return n, nil
}

// targets is how many shards an item of shard (-1: meta) goes to.
func (d *dispatcher) targets(shard int) int {
	if shard < 0 {
		return len(d.ins)
	}
	return 1
}

// decode reassembles the message's batch (once its last chunk is in) and
// decodes the records past what its shards have applied.
func (d *dispatcher) decode(it *item, msg jetstream.Msg, shard int) error {
	data, err := d.reasm.Add(msg.Subject(), msg.Headers(), msg.Data())
	if err != nil {
		return fmt.Errorf("stream sequence %d: %w", it.seq, err)
	}
	if data == nil {
		return nil // more chunks follow
	}
	entries, err := schema.DecodeRecordBatch(data)
	if err != nil {
		return fmt.Errorf("stream sequence %d (%s): %w", it.seq, msg.Subject(), err)
	}
	from := d.lowestFrom(shard)
	recs := make([]schema.DecodedRecord, len(entries))
	it.recs = make([]*schema.DecodedRecord, 0, len(entries))
	for i, ent := range entries {
		if ent.EndLSN <= from {
			continue
		}
		if err := schema.DecodeRecordInto(&recs[i], ent.Raw, ent.LSN, ent.EndLSN); err != nil {
			return fmt.Errorf("stream sequence %d: %w", it.seq, err)
		}
		it.recs = append(it.recs, &recs[i])
		it.size += len(ent.Raw)
	}
	return nil
}

// lowestFrom is the lowest starting applied LSN of an item's shards.
func (d *dispatcher) lowestFrom(shard int) schema.LSN {
	if shard >= 0 {
		return d.from[shard]
	}
	low := d.from[0]
	for _, f := range d.from[1:] {
		low = min(low, f)
	}
	return low
}

// roundEnd notes the ingest round a meta message closes.
func (d *dispatcher) roundEnd(it *item, msg jetstream.Msg, ts time.Time) error {
	end := msg.Headers().Get(streams.HdrRoundEnd)
	if end == "" {
		return nil
	}
	lsn, err := schema.ParseLSN(end)
	if err != nil {
		return fmt.Errorf("stream sequence %d: round end %q: %w", it.seq, end, err)
	}
	it.roundEnd, it.roundTime = lsn, ts
	d.m.published.advance(lsn)
	return nil
}

// send hands the item to its shard, or to every shard for meta.
func (d *dispatcher) send(ctx context.Context, it *item, shard int) error {
	if shard >= 0 {
		return sendItem(ctx, d.ins[shard], it)
	}
	for _, in := range d.ins {
		if err := sendItem(ctx, in, it); err != nil {
			return err
		}
	}
	return nil
}

func sendItem(ctx context.Context, in chan<- *item, it *item) error {
	select {
	case in <- it:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
