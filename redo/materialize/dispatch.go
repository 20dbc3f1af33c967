package materialize

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/pagemill/pagemill/redo/materialize/applier"
	"github.com/pagemill/pagemill/schema"
	"github.com/pagemill/pagemill/streams"
)

// item is one message's work for a shard: its records, decoded once by
// the dispatcher and shared read-only by every shard they go to.
type item struct {
	recs []*schema.DecodedRecord
	meta bool
	seq  uint64 // stream sequence of the message
	size int    // bytes of records, for batching
	// roundEnd is the end LSN of the ingest round a meta message closes
	// (0 otherwise), roundTime when it was published.
	roundEnd  schema.LSN
	roundTime time.Time
	acks      []*acker // of the message (and its earlier chunks)
	// chunks hold recs; the shard releases them once it has applied them.
	chunks []*recChunk
}

// recChunk is a slab of decoded records (256 records, 1024 block
// references) the dispatcher decodes into, reused once nothing refers to
// its records: the dispatcher while it decodes into it, and each item
// with records from it until its shard has applied it. Decoded records
// were a fifth of the bytes the materializer allocated.
type recChunk struct {
	slab schema.RecordSlab
	refs atomic.Int32
	free chan *recChunk // the dispatcher's, to reuse it
}

// release drops a reference; the last one gives the chunk back for reuse
// (or to the collector when the dispatcher keeps enough).
func (c *recChunk) release() {
	if c.refs.Add(-1) == 0 {
		select {
		case c.free <- c:
		default:
		}
	}
}

// releaseChunks releases what the item holds, once its records are
// applied.
func (it *item) releaseChunks() {
	for _, c := range it.chunks {
		c.release()
	}
	it.chunks = nil
}

// freeChunks is how many released chunks the dispatcher keeps for reuse:
// about as many as two batches of batchBytes of records fill (WAL records
// average about 100 bytes, so a chunk of 256 holds about 32 KiB of them).
// While the dispatcher waits for a shard's commit to make room, the
// shards go on applying and releasing; with room for only one batch's
// chunks, the rest went to the collector and the next batch allocated
// new ones.
func freeChunks(batchBytes int) int { return max(16, batchBytes>>14) }

// acker acknowledges a message once every shard it went to has made it
// durable.
type acker struct {
	msg     jetstream.Msg
	left    atomic.Int32
	floor   *ackFloor
	durable bool // every shard's part is (floor.mu)
}

// newAcker queues msg's acknowledgement; the dispatcher calls it for
// every message in stream order, and send sets how many shards' parts it
// waits for.
func newAcker(msg jetstream.Msg, floor *ackFloor) *acker {
	a := &acker{msg: msg, floor: floor}
	floor.add(a)
	return a
}

// done is one shard's part: the last one completes the message.
func (a *acker) done() {
	if a.left.Add(-1) == 0 {
		a.floor.complete(a)
	}
}

// ackFloor acknowledges the consumer's messages (AckAll: a message's
// acknowledgement covers every earlier one) once every message up to them
// is durable, in dispatch order: one acknowledgement per run of messages
// completed in order, not one per message, which cost the server and the
// client per message as much as delivering it.
type ackFloor struct {
	mu   sync.Mutex
	q    []*acker // dispatched, not yet acknowledged, in order from head
	head int
}

// add appends a message; the dispatcher calls it in dispatch order.
func (f *ackFloor) add(a *acker) {
	f.mu.Lock()
	f.q = append(f.q, a)
	f.mu.Unlock()
}

// complete marks a message durable and acknowledges the newest of the
// completed messages at the head of the queue.
func (f *ackFloor) complete(a *acker) {
	f.mu.Lock()
	a.durable = true
	var last *acker
	for f.head < len(f.q) && f.q[f.head].durable {
		last = f.q[f.head]
		f.q[f.head] = nil
		f.head++
	}
	if f.head > 1024 && 2*f.head > len(f.q) {
		n := copy(f.q, f.q[f.head:])
		clear(f.q[n:])
		f.q, f.head = f.q[:n], 0
	}
	f.mu.Unlock()
	if last != nil {
		_ = last.msg.Ack() // redelivery is harmless: skipped by sequence
	}
}

// dispatcher reads the one consumer of this run in stream order, decodes
// each message's records once and hands them to the redo shards over
// their channels (see route): the meta subject's to the shards that have
// work for them, a shard subject's to the shards of the pages they change.
type dispatcher struct {
	m       *Materializer
	layout  streams.Layout // of the timeline it reads
	ins     []chan *item
	reasm   *streams.Reassembler
	started bool   // the consumer's first message has been checked
	lastSeq uint64 // the last stream sequence dispatched
	// subjects caches each subject's shard (-1: meta).
	subjects map[string]int
	// chunks holds a subject's messages until its batch's last chunk.
	chunks    map[string][]*acker
	acks      *ackFloor
	tags      []schema.BufferTag
	given     []int // route's scratch: the redo shards given one record
	sharder   *streams.Sharder
	cur       *recChunk                 // the chunk being decoded into
	free      chan *recChunk            // chunks released by the shards
	msgChunks []*recChunk               // the chunks of the message being decoded
	entries   []schema.RecordBatchEntry // decode's scratch
	// from is each shard's applied LSN when the run started: records at or
	// below it are in the store already and are not decoded for it.
	from []schema.LSN
}

func (m *Materializer) newDispatcher() *dispatcher {
	d := &dispatcher{m: m, layout: m.Layout(), reasm: streams.NewReassembler(), subjects: map[string]int{}, chunks: map[string][]*acker{}, acks: &ackFloor{},
		sharder: streams.NewSharder(len(m.shards)), free: make(chan *recChunk, freeChunks(m.cfg.BatchBytes))}
	for _, s := range m.shards {
		// Room for a whole batch: in a catch-up a batch is as big as what
		// is buffered, and a bigger batch packs more records per key.
		d.ins = append(d.ins, make(chan *item, m.cfg.BatchMessages))
		d.from = append(d.from, s.applied)
		// What an earlier run left queued went with its channels.
		s.queued.Store(0)
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

// dispatch decodes one message and sends its records to the shards they
// are for, with the message's acknowledgement.
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
	seq := md.Sequence.Stream
	if seq <= d.lastSeq {
		// Redelivered: only its acknowledgement is left to do, after what
		// the shards have now is durable.
		return d.send(ctx, []*acker{newAcker(msg, d.acks)}, d.only(0, &item{seq: seq}))
	}
	d.lastSeq = seq
	subject := msg.Subject()
	shard, err := d.shardOf(subject)
	if err != nil {
		return fmt.Errorf("stream sequence %d: %w", seq, err)
	}
	data, err := d.reasm.Add(subject, msg.Headers(), msg.Data())
	if err != nil {
		return fmt.Errorf("stream sequence %d: %w", seq, err)
	}
	acks := append(d.chunks[subject], newAcker(msg, d.acks))
	if data == nil {
		d.chunks[subject] = acks // more chunks follow: acknowledged with the last
		return nil
	}
	delete(d.chunks, subject)
	recs, size, err := d.decode(data, seq, subject, shard)
	if err != nil {
		return err
	}
	var pages []*item
	if shard < 0 && streams.Whole(msg.Headers()) {
		// A whole round: its page records first, as their shard messages
		// would have come, then the rest as its meta message.
		var rest []*schema.DecodedRecord
		pages = d.routePages(recs, seq, size, &rest)
		recs = rest
	}
	items := d.route(recs, shard, seq, size)
	if shard < 0 {
		// Every shard's item ends the round.
		if err := d.roundEnd(items, msg, seq, md.Timestamp); err != nil {
			return err
		}
	}
	return d.send(ctx, acks, pages, items)
}

// route splits a message's records over the redo shards. A meta
// message's go as routeMeta says. A shard subject's go to the same-numbered
// redo shard when the stream has as many subjects as there are redo
// shards; with one subject (which holds every page's records, in LSN
// order), each record goes to the redo shards of the pages it changes.
// (New refuses other combinations: a record changing pages of several
// subjects would arrive once per subject, out of LSN order for a redo
// shard that owns pages of several.)
func (d *dispatcher) route(recs []*schema.DecodedRecord, shard int, seq uint64, size int) []*item {
	switch {
	case shard < 0:
		return d.routeMeta(recs, seq, size)
	case d.layout.Shards == len(d.ins):
		return d.only(shard, &item{seq: seq, recs: recs, size: size})
	}
	items := d.routePages(recs, seq, size, nil)
	if !slices.ContainsFunc(items, func(it *item) bool { return it != nil }) {
		items[0] = &item{seq: seq} // nothing to apply: shard 0 acknowledges it
	}
	return items
}

// routePages gives each record to the redo shards of the pages it
// changes; with rest, those that change no page are appended to it, in
// order.
func (d *dispatcher) routePages(recs []*schema.DecodedRecord, seq uint64, size int, rest *[]*schema.DecodedRecord) []*item {
	items := make([]*item, len(d.ins)) // by redo shard; nil: nothing for it
	given := d.given[:0]               // the redo shards given the record
	for _, rec := range recs {
		d.tags = schema.PagesChanged(d.tags[:0], rec)
		if len(d.tags) == 0 && rest != nil {
			*rest = append(*rest, rec)
			continue
		}
		given = given[:0]
		for _, t := range d.tags {
			w := d.sharder.Of(t)
			if slices.Contains(given, w) {
				continue
			}
			given = append(given, w)
			if items[w] == nil {
				items[w] = &item{seq: seq, size: size}
			}
			items[w].recs = append(items[w].recs, rec)
		}
	}
	d.given = given
	return items
}

// routeMeta splits a meta message's records: to each redo shard those
// it has work for (applier.WantsMeta): every one to shard 0, which also
// indexes transactions and writes sizes and checkpoints; relation-level
// changes and SLRU truncation to every shard; a commit otherwise only to
// the shard of its CLOG page, so it is looked at once, not once per
// shard. Every shard gets an item, empty or not: it carries the round's
// end.
func (d *dispatcher) routeMeta(recs []*schema.DecodedRecord, seq uint64, size int) []*item {
	items := make([]*item, len(d.ins))
	items[0] = &item{meta: true, seq: seq, recs: recs, size: size} // read-only for the shard
	for w := 1; w < len(items); w++ {
		items[w] = &item{meta: true, seq: seq}
		for _, rec := range recs {
			if applier.WantsMeta(rec, false, d.m.shards[w].owns, &d.tags) {
				items[w].recs = append(items[w].recs, rec)
				items[w].size += len(rec.Raw)
			}
		}
	}
	return items
}

// only is the items of a message for one redo shard.
func (d *dispatcher) only(w int, it *item) []*item {
	items := make([]*item, len(d.ins))
	items[w] = it
	return items
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
		if ws.Shard >= d.layout.Shards || subject != d.layout.ShardSubject(ws.Shard) {
			return 0, fmt.Errorf("subject %q is not one of the stream's %d shard subjects", subject, d.layout.Shards)
		}
		n = ws.Shard
	} else if subject != d.layout.MetaSubject() {
		return 0, fmt.Errorf("subject %q is not this layout's meta subject", subject)
	}
	d.subjects[subject] = n
	return n, nil
}

// decode decodes the records of a message's batch past what its shards
// have applied.
func (d *dispatcher) decode(data []byte, seq uint64, subject string, shard int) ([]*schema.DecodedRecord, int, error) {
	entries, err := schema.AppendRecordBatch(d.entries[:0], data)
	if err != nil {
		return nil, 0, fmt.Errorf("stream sequence %d (%s): %w", seq, subject, err)
	}
	defer func() { clear(entries); d.entries = entries[:0] }() // they alias data: keep the slice, not the message
	from := d.lowestFrom(shard)
	out := make([]*schema.DecodedRecord, 0, len(entries))
	size := 0
	d.msgChunks = d.msgChunks[:0]
	for _, ent := range entries {
		if ent.EndLSN <= from {
			continue
		}
		c := d.chunk()
		if n := len(d.msgChunks); n == 0 || d.msgChunks[n-1] != c {
			// The message's reference, until its items have theirs (see
			// send): the dispatcher may move on to the next chunk and drop
			// its own before that.
			c.refs.Add(1)
			d.msgChunks = append(d.msgChunks, c)
		}
		rec, err := c.slab.Decode(ent.Raw, ent.LSN, ent.EndLSN)
		if err != nil {
			return nil, 0, fmt.Errorf("stream sequence %d: %w", seq, err)
		}
		out = append(out, rec)
		size += len(ent.Raw)
	}
	return out, size, nil
}

// chunk returns the chunk to decode the next record into: the current
// one while it has room, else a released one or a new one.
func (d *dispatcher) chunk() *recChunk {
	if d.cur != nil && d.cur.slab.Fits() {
		return d.cur
	}
	if d.cur != nil {
		d.cur.release() // the dispatcher's reference
	}
	select {
	case d.cur = <-d.free:
	default:
		d.cur = &recChunk{free: d.free}
	}
	d.cur.slab.Reset()
	d.cur.refs.Store(1)
	return d.cur
}

// lowestFrom is the lowest starting applied LSN of the redo shards a
// message of shard (-1: meta) can reach.
func (d *dispatcher) lowestFrom(shard int) schema.LSN {
	if shard >= 0 && d.layout.Shards == len(d.ins) {
		return d.from[shard]
	}
	low := d.from[0]
	for _, f := range d.from[1:] {
		low = min(low, f)
	}
	return low
}

// roundEnd notes the ingest round a meta message closes in its items.
func (d *dispatcher) roundEnd(items []*item, msg jetstream.Msg, seq uint64, ts time.Time) error {
	end := msg.Headers().Get(streams.HdrRoundEnd)
	if end == "" {
		return nil
	}
	lsn, err := schema.ParseLSN(end)
	if err != nil {
		return fmt.Errorf("stream sequence %d: round end %q: %w", seq, end, err)
	}
	for _, it := range items {
		it.roundEnd, it.roundTime = lsn, ts
	}
	d.m.published.advance(lsn)
	return nil
}

// send hands the items to their shards, each with acks, the
// acknowledgements of its messages, which complete once every one of
// those shards has made its item durable. Each list is by redo shard (nil: nothing for it); a shard gets
// its items in list order.
func (d *dispatcher) send(ctx context.Context, acks []*acker, lists ...[]*item) error {
	n := 0
	for _, items := range lists {
		for _, it := range items {
			if it != nil {
				n++
			}
		}
	}
	for _, a := range acks {
		a.left.Store(int32(n))
	}
	var chunks []*recChunk
	if len(d.msgChunks) > 0 {
		chunks = slices.Clone(d.msgChunks)
		d.msgChunks = d.msgChunks[:0]
	}
	for _, items := range lists {
		for _, it := range items {
			if it != nil {
				it.acks = acks // before any is sent: a meta item is shared
				it.chunks = chunks
				for _, c := range chunks {
					c.refs.Add(1)
				}
			}
		}
	}
	for _, c := range chunks {
		c.release() // the message's reference (see decode)
	}
	for _, items := range lists {
		for w, it := range items {
			if it == nil {
				continue
			}
			if err := d.reserve(ctx, d.m.shards[w], it.size); err != nil {
				return err
			}
			select {
			case d.ins[w] <- it:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	return nil
}

// reserve waits until the shard has room for n more bytes of records
// (shard.queueBytes); an item goes to an empty queue whatever its size.
func (d *dispatcher) reserve(ctx context.Context, s *shard, n int) error {
	for {
		q := s.queued.Load()
		if q == 0 || q+int64(n) <= s.queueBytes() {
			s.queued.Add(int64(n))
			return nil
		}
		select {
		case <-s.room:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
