package streams

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/pagemill/pagemill/schema"
)

// Headers on WAL event messages.
const (
	HdrRoundStart = "Pm-Round-Start" // meta only: start of the round's first record
	HdrRoundEnd   = "Pm-Round-End"   // meta only: every record before it is in this or an earlier round
	HdrRecords    = "Pm-Records"     // records in the subject's batch of this round
	HdrChunk      = "Pm-Chunk"       // "i/n" when a batch is split over n messages
	HdrFormat     = "Pm-Format"      // event format version (schema.RecordBatchVersion)
	// HdrWhole ("1") marks a whole round (LayoutVersion 2): one meta
	// message holding every record of the round once, in LSN order, those
	// that change pages too; it also carries the round's start and end.
	HdrWhole = "Pm-Round-Whole"
)

// Whole reports whether a message is a whole round (HdrWhole).
func Whole(h nats.Header) bool { return h.Get(HdrWhole) == "1" }

// Chunks tells which chunk of its batch a message is: (1, 1) when whole.
func Chunks(h nats.Header) (i, n int, err error) {
	v := h.Get(HdrChunk)
	if v == "" {
		return 1, 1, nil
	}
	a, b, ok := strings.Cut(v, "/")
	i, err1 := strconv.Atoi(a)
	n, err2 := strconv.Atoi(b)
	if !ok || err1 != nil || err2 != nil || i < 1 || i > n {
		return 0, 0, fmt.Errorf("bad %s header %q", HdrChunk, v)
	}
	return i, n, nil
}

// Reassembler joins the chunks of each subject's batch back into one
// RecordBatch. Chunks of one batch are consecutive on their subject (a
// round is one atomic publish), so one pending buffer per subject is
// enough.
type Reassembler struct {
	pending map[string][]byte
	next    map[string]int
}

// NewReassembler returns an empty reassembler.
func NewReassembler() *Reassembler {
	return &Reassembler{pending: map[string][]byte{}, next: map[string]int{}}
}

// Add takes the next message of a subject and returns the whole batch once
// its last chunk arrived (nil otherwise).
func (r *Reassembler) Add(subject string, h nats.Header, data []byte) ([]byte, error) {
	i, n, err := Chunks(h)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", subject, err)
	}
	want := r.next[subject]
	if want == 0 {
		want = 1
	}
	if i != want {
		delete(r.pending, subject)
		delete(r.next, subject)
		return nil, fmt.Errorf("%s: chunk %d/%d, expected chunk %d", subject, i, n, want)
	}
	if n == 1 {
		return data, nil
	}
	r.pending[subject] = append(r.pending[subject], data...)
	if i < n {
		r.next[subject] = i + 1
		return nil, nil
	}
	b := r.pending[subject]
	delete(r.pending, subject)
	delete(r.next, subject)
	return b, nil
}

// SubjectRecords is what ReadAll found on one subject.
type SubjectRecords struct {
	Subject string
	Records []schema.RecordBatchEntry
	// RoundEnds are the Pm-Round-End markers, meta subject only.
	RoundEnds []schema.LSN
	// Whole tells, per record, whether it came in a whole round (HdrWhole).
	Whole []bool
}

// ReadAll reads every WAL event of the stream matching filter (e.g.
// layout.TimelineSubjects()) with an ordered consumer and returns the
// records per subject in stream order. It is for tests, tools and
// verification, not the materializer's hot path.
func ReadAll(ctx context.Context, js jetstream.JetStream, stream, filter string) (map[string]*SubjectRecords, error) {
	s, err := js.Stream(ctx, stream)
	if err != nil {
		return nil, fmt.Errorf("open stream %s: %w", stream, err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("stream %s info: %w", stream, err)
	}
	out := map[string]*SubjectRecords{}
	if info.State.Msgs == 0 {
		return out, nil
	}
	last := info.State.LastSeq
	c, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{FilterSubjects: []string{filter}})
	if err != nil {
		return nil, fmt.Errorf("consumer on %s: %w", stream, err)
	}
	ra := NewReassembler()
	for {
		msgs, err := c.FetchNoWait(512)
		if err != nil {
			return nil, err
		}
		got := 0
		done := false
		for m := range msgs.Messages() {
			got++
			md, err := m.Metadata()
			if err != nil {
				return nil, err
			}
			sr := out[m.Subject()]
			if sr == nil {
				sr = &SubjectRecords{Subject: m.Subject()}
				out[m.Subject()] = sr
			}
			batch, err := ra.Add(m.Subject(), m.Headers(), m.Data())
			if err != nil {
				return nil, fmt.Errorf("stream seq %d: %w", md.Sequence.Stream, err)
			}
			if batch != nil {
				entries, err := schema.DecodeRecordBatch(batch)
				if err != nil {
					return nil, fmt.Errorf("stream seq %d (%s): %w", md.Sequence.Stream, m.Subject(), err)
				}
				sr.Records = append(sr.Records, entries...)
				for range entries {
					sr.Whole = append(sr.Whole, Whole(m.Headers()))
				}
				if v := m.Headers().Get(HdrRoundEnd); v != "" {
					end, err := schema.ParseLSN(v)
					if err != nil {
						return nil, fmt.Errorf("stream seq %d: %s: %w", md.Sequence.Stream, HdrRoundEnd, err)
					}
					sr.RoundEnds = append(sr.RoundEnds, end)
				}
			}
			if md.Sequence.Stream >= last {
				done = true
			}
		}
		if err := msgs.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) {
			// In a cluster, the interest of a consumer just created (or
			// just moved) may not have reached this client's server yet:
			// the pull request finds no responder. Retry it.
			if !errors.Is(err, nats.ErrNoResponders) || got > 0 {
				return nil, err
			}
		}
		if done {
			return out, nil
		}
		if got == 0 {
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(10 * time.Millisecond):
			}
		}
	}
}

// Round is one ingest round read back from the stream: its records from
// every subject, each once, in LSN order.
type Round struct {
	End     schema.LSN
	Seq     uint64 // stream sequence of its meta message
	Records []schema.RecordBatchEntry
}

// ReadRounds reads the rounds of the WAL stream matching filter (e.g.
// layout.TimelineSubjects()) from stream sequence from (0: the first) with
// an ordered consumer and calls fn for each complete round in order, until
// fn returns false or the stream's last message (when ReadRounds began) has
// been read. A record published to several shards appears once. Records
// of a round only partly at or after from are returned as far as present.
func ReadRounds(ctx context.Context, s jetstream.Stream, filter string, from uint64, fn func(Round) (bool, error)) error {
	info, err := s.Info(ctx)
	if err != nil {
		return fmt.Errorf("stream info: %w", err)
	}
	if info.State.Msgs == 0 || from > info.State.LastSeq {
		return nil
	}
	last := info.State.LastSeq
	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: []string{filter}}
	if from > 0 {
		cfg.DeliverPolicy = jetstream.DeliverByStartSequencePolicy
		cfg.OptStartSeq = from
	}
	c, err := s.OrderedConsumer(ctx, cfg)
	if err != nil {
		return fmt.Errorf("consumer on %s: %w", info.Config.Name, err)
	}
	ra := NewReassembler()
	seen := map[schema.LSN]bool{}
	var cur []schema.RecordBatchEntry
	for {
		msgs, err := c.Fetch(256, jetstream.FetchMaxWait(time.Second))
		if err != nil {
			return err
		}
		got := 0
		for m := range msgs.Messages() {
			got++
			md, err := m.Metadata()
			if err != nil {
				return err
			}
			seq := md.Sequence.Stream
			batch, err := ra.Add(m.Subject(), m.Headers(), m.Data())
			if err != nil {
				return fmt.Errorf("stream seq %d: %w", seq, err)
			}
			if batch != nil {
				entries, err := schema.DecodeRecordBatch(batch)
				if err != nil {
					return fmt.Errorf("stream seq %d (%s): %w", seq, m.Subject(), err)
				}
				for _, e := range entries {
					if !seen[e.LSN] {
						seen[e.LSN] = true
						// The batch aliases the message: keep a copy.
						e.Raw = append([]byte(nil), e.Raw...)
						cur = append(cur, e)
					}
				}
				if v := m.Headers().Get(HdrRoundEnd); v != "" {
					end, err := schema.ParseLSN(v)
					if err != nil {
						return fmt.Errorf("stream seq %d: %s: %w", seq, HdrRoundEnd, err)
					}
					slices.SortFunc(cur, func(a, b schema.RecordBatchEntry) int { return cmp.Compare(a.LSN, b.LSN) })
					more, err := fn(Round{End: end, Seq: seq, Records: cur})
					if err != nil || !more {
						return err
					}
					cur = nil
					clear(seen)
				}
			}
			if seq >= last {
				return nil
			}
		}
		if err := msgs.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) && !errors.Is(err, nats.ErrNoResponders) {
			return err
		}
		if got == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
	}
}

// RoundEnd is the end LSN a round's meta message carries (HdrRoundEnd).
func RoundEnd(h nats.Header) (schema.LSN, error) {
	v := h.Get(HdrRoundEnd)
	if v == "" {
		return 0, fmt.Errorf("no %s header", HdrRoundEnd)
	}
	lsn, err := schema.ParseLSN(v)
	if err != nil {
		return 0, fmt.Errorf("%s %q: %w", HdrRoundEnd, v, err)
	}
	return lsn, nil
}
