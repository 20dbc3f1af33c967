package ingest

import (
	"fmt"
	"strconv"

	"github.com/nats-io/nats.go"
	"github.com/pagemill/pagemill/schema"
	"github.com/pagemill/pagemill/streams"
)

// round collects the records of one atomic publish: per subject one
// RecordBatch, split into chunks that fit a message; or, while the round
// fits one message, also every record once in one batch (a whole round).
type round struct {
	layout  streams.Layout
	start   schema.LSN // first record's start
	end     schema.LSN // last record's end: the flush position once durable
	records int
	bytes   int

	// Per shard, then meta last: a batch header placeholder followed by
	// the encoded entries; the header is filled in when messages are built.
	bufs   [][]byte
	counts []int

	// whole holds every record once, while it fits wholeMax bytes (0:
	// never whole).
	whole    []byte
	wholeMax int

	tags   []schema.BufferTag
	shards []int
}

func newRound(layout streams.Layout, wholeMax int) *round {
	r := &round{
		layout:   layout,
		wholeMax: wholeMax,
		bufs:     make([][]byte, layout.Shards+1),
		counts:   make([]int, layout.Shards+1),
	}
	r.reset()
	return r
}

// reset empties the round, keeping its buffers: rounds are built back to
// back, and reusing them saves allocating and faulting in megabytes per
// round. Messages built earlier must no longer be in use.
func (r *round) reset() {
	for i := range r.bufs {
		r.bufs[i] = append(r.bufs[i][:0], make([]byte, schema.RecordBatchHeaderSize)...)
		r.counts[i] = 0
	}
	r.whole = append(r.whole[:0], make([]byte, schema.RecordBatchHeaderSize)...)
	r.start, r.end, r.records, r.bytes = 0, 0, 0, 0
}

func (r *round) metaIndex() int { return r.layout.Shards }

// fitsWhole reports whether the round so far is one message's worth.
func (r *round) fitsWhole() bool { return len(r.whole) <= r.wholeMax }

func (r *round) empty() bool { return r.records == 0 }

// add routes rec to every shard owning a page it changes (block references
// and implicitly cleared vm pages), or to the meta subject when it changes
// no page.
func (r *round) add(rec *schema.DecodedRecord) {
	if r.records == 0 {
		r.start = rec.LSN
	}
	r.records++
	r.end = rec.EndLSN
	if r.fitsWhole() {
		r.whole = schema.AppendRecordBatchEntry(r.whole, rec)
	}
	r.tags = schema.PagesChanged(r.tags[:0], rec)
	if len(r.tags) == 0 {
		m := r.metaIndex()
		r.bufs[m] = schema.AppendRecordBatchEntry(r.bufs[m], rec)
		r.counts[m]++
		r.bytes += len(rec.Raw)
		return
	}
	r.shards = r.shards[:0]
	for _, t := range r.tags {
		s := streams.ShardOf(t, r.layout.Shards)
		dup := false
		for _, have := range r.shards {
			dup = dup || have == s
		}
		if !dup {
			r.shards = append(r.shards, s)
			r.bufs[s] = schema.AppendRecordBatchEntry(r.bufs[s], rec)
			r.counts[s]++
			r.bytes += len(rec.Raw)
		}
	}
}

// batchID names the round for JetStream's atomic publish; it is derived
// from the round's position so a retried round has the same id.
func (r *round) batchID() string {
	return fmt.Sprintf("pm-%d-%d-%016X", r.layout.SystemID, r.layout.Timeline, uint64(r.end))
}

// messages builds the round's messages: every non-empty shard batch, then
// the meta batch, which always exists and carries the progress marker.
// maxPayload bounds one message's data; larger batches are chunked.
// A round that fits wholeMax is one message instead: a whole round
// (streams.HdrWhole) on the meta subject.
func (r *round) messages(maxPayload int) []*nats.Msg {
	marker := func(h nats.Header) {
		h.Set(streams.HdrRoundStart, r.start.String())
		h.Set(streams.HdrRoundEnd, r.end.String())
	}
	if r.fitsWhole() {
		return r.appendBatch(nil, r.layout.MetaSubject(), r.whole, r.records, maxPayload, func(h nats.Header) {
			h.Set(streams.HdrWhole, "1")
			marker(h)
		})
	}
	var msgs []*nats.Msg
	for s := 0; s < r.layout.Shards; s++ {
		if r.counts[s] > 0 {
			msgs = r.appendBatch(msgs, r.layout.ShardSubject(s), r.bufs[s], r.counts[s], maxPayload, nil)
		}
	}
	m := r.metaIndex()
	return r.appendBatch(msgs, r.layout.MetaSubject(), r.bufs[m], r.counts[m], maxPayload, marker)
}

// appendBatch appends the messages of one subject's batch (body holds
// count records after a header placeholder), chunked to maxPayload; the
// last one gets extra's headers.
func (r *round) appendBatch(msgs []*nats.Msg, subject string, body []byte, count, maxPayload int, extra func(nats.Header)) []*nats.Msg {
	schema.PutRecordBatchHeader(body, count)
	n := (len(body) + maxPayload - 1) / maxPayload
	for i := 0; i < n; i++ {
		chunk := body[i*maxPayload : min(len(body), (i+1)*maxPayload)]
		m := nats.NewMsg(subject)
		m.Data = chunk
		// Deterministic: a retried round is recognised as a duplicate.
		m.Header.Set(nats.MsgIdHdr, fmt.Sprintf("%016X.%s.%d", uint64(r.end), subject, i))
		m.Header.Set(streams.HdrFormat, strconv.Itoa(schema.RecordBatchVersion))
		m.Header.Set(streams.HdrRecords, strconv.Itoa(count))
		if n > 1 {
			m.Header.Set(streams.HdrChunk, fmt.Sprintf("%d/%d", i+1, n))
		}
		if extra != nil && i == n-1 {
			extra(m.Header)
		}
		msgs = append(msgs, m)
	}
	return msgs
}
