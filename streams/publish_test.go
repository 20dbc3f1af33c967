package streams

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func TestPublishAtomicReadBackInOrder(t *testing.T) {
	ctx, nc, _, h := ensuredNode(t, 60*time.Second, Config{})

	// Rounds over varying shards; round 7 is larger than the flow-control
	// window so the publish has to wait for acks part-way.
	var want []*nats.Msg
	next := uint64(1)
	for r := 1; r <= 12; r++ {
		shards := []int{r % 8, (r * 3) % 8}
		if r%4 == 0 {
			shards = []int{0, 1, 2, 3, 4, 5, 6, 7}
		}
		msgs := makeBatch(testLayout, r, shards, 100)
		if r == 7 {
			msgs = nil
			for i := 0; i < 300; i++ {
				m := nats.NewMsg(testLayout.ShardSubject(i % 8))
				m.Header.Set(nats.MsgIdHdr, fmt.Sprintf("r7.%d", i))
				m.Header.Set("Pm-Round", "7")
				m.Data = []byte(fmt.Sprintf("round 7 message %d", i))
				msgs = append(msgs, m)
			}
		}
		ack, err := PublishAtomic(ctx, nc, batchID(r), msgs)
		if err != nil {
			t.Fatalf("round %d: %v", r, err)
		}
		if ack.Stream != testLayout.StreamName() || ack.BatchID != batchID(r) || ack.Count != len(msgs) ||
			ack.FirstSeq != next || ack.LastSeq != next+uint64(len(msgs))-1 {
			t.Fatalf("round %d: ack %+v, want %d messages from %d", r, ack, len(msgs), next)
		}
		for _, m := range msgs {
			if m.Header.Get(HdrBatchID) != "" || m.Reply != "" {
				t.Fatalf("PublishAtomic modified its input: %v", m.Header)
			}
		}
		next += uint64(len(msgs))
		want = append(want, msgs...)
	}

	got := readAll(t, ctx, h.Stream)
	if len(got) != len(want) {
		t.Fatalf("stream has %d messages, want %d", len(got), len(want))
	}
	perSubject := map[string][]string{}
	for i, m := range got {
		w := want[i]
		if m.Subject != w.Subject || string(m.Data) != string(w.Data) || m.Header.Get(nats.MsgIdHdr) != w.Header.Get(nats.MsgIdHdr) {
			t.Fatalf("message %d: %s %q, want %s %q", m.Sequence, m.Subject, m.Data, w.Subject, w.Data)
		}
		perSubject[m.Subject] = append(perSubject[m.Subject], m.Header.Get(nats.MsgIdHdr))
		// The stored messages keep the batch headers: consumers can see
		// round boundaries.
		if m.Header.Get(HdrBatchID) != batchID(mustAtoi(t, w.Header.Get("Pm-Round"))) || m.Header.Get(HdrBatchSeq) == "" {
			t.Fatalf("message %d: batch headers %v", m.Sequence, m.Header)
		}
		last := i+1 == len(got) || got[i+1].Header.Get(HdrBatchID) != m.Header.Get(HdrBatchID)
		if (m.Header.Get(HdrBatchCommit) == "1") != last {
			t.Fatalf("message %d: commit header %q, last of batch %v", m.Sequence, m.Header.Get(HdrBatchCommit), last)
		}
	}

	// Per subject, a consumer filtered on the subject sees the same order.
	for _, subj := range []string{testLayout.ShardSubject(0), testLayout.ShardSubject(3), testLayout.MetaSubject()} {
		cons, err := h.Stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{FilterSubjects: []string{subj}})
		if err != nil {
			t.Fatal(err)
		}
		batch, err := cons.FetchNoWait(len(want))
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for m := range batch.Messages() {
			ids = append(ids, m.Headers().Get(nats.MsgIdHdr))
		}
		if fmt.Sprint(ids) != fmt.Sprint(perSubject[subj]) || len(ids) == 0 {
			t.Fatalf("%s: consumer saw %v, want %v", subj, ids, perSubject[subj])
		}
	}
}

func mustAtoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func streamMsgs(t *testing.T, ctx context.Context, s jetstream.Stream) uint64 {
	t.Helper()
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

func TestPublishAtomicDuplicateBatch(t *testing.T) {
	ctx, nc, _, h := ensuredNode(t, 30*time.Second, Config{})
	first := makeBatch(testLayout, 1, []int{0, 1, 2}, 100)
	if _, err := PublishAtomic(ctx, nc, batchID(1), first); err != nil {
		t.Fatal(err)
	}
	if n := streamMsgs(t, ctx, h.Stream); n != 4 {
		t.Fatalf("%d messages after first publish", n)
	}

	// The same batch again (a retry after a lost ack): rejected whole.
	_, err := PublishAtomic(ctx, nc, batchID(1), first)
	var perr *PublishError
	if !errors.Is(err, ErrDuplicateBatch) || !errors.As(err, &perr) || perr.API == nil || !perr.CommitSent {
		t.Fatalf("republish: %v, want ErrDuplicateBatch from the server", err)
	}
	if Retryable(err) {
		t.Errorf("a duplicate batch is not retryable")
	}
	// Under another batch id, too: deduplication is by message id.
	if _, err := PublishAtomic(ctx, nc, "other-id", first); !errors.Is(err, ErrDuplicateBatch) {
		t.Fatalf("republish under another id: %v", err)
	}
	// A batch of new messages with one old one: nothing of it is stored.
	mixed := makeBatch(testLayout, 2, []int{3, 4}, 100)
	mixed = append(mixed, first[0])
	if _, err := PublishAtomic(ctx, nc, batchID(2), mixed); !errors.Is(err, ErrDuplicateBatch) {
		t.Fatalf("partly old batch: %v", err)
	}
	// Two messages with one id inside one batch.
	twice := makeBatch(testLayout, 3, []int{5}, 100)
	twice = append(twice, twice[0])
	if _, err := PublishAtomic(ctx, nc, batchID(3), twice); !errors.Is(err, ErrDuplicateBatch) {
		t.Fatalf("id twice in a batch: %v", err)
	}
	if n := streamMsgs(t, ctx, h.Stream); n != 4 {
		t.Fatalf("%d messages after rejected batches, want 4", n)
	}
	// The new messages of the rejected batch go in on their own.
	if ack, err := PublishAtomic(ctx, nc, batchID(2), makeBatch(testLayout, 2, []int{3, 4}, 100)); err != nil || ack.FirstSeq != 5 || ack.LastSeq != 7 {
		t.Fatalf("round 2: %+v, %v", ack, err)
	}
}

func TestPublishAtomicStreamFull(t *testing.T) {
	ctx, nc, js, h := ensuredNode(t, 30*time.Second, Config{MaxBytes: 64 << 10})
	var stored uint64
	full := 0
	for r := 1; r <= 50; r++ {
		msgs := makeBatch(testLayout, r, []int{0, 1, 2}, 4<<10)
		ack, err := PublishAtomic(ctx, nc, batchID(r), msgs)
		if err != nil {
			var perr *PublishError
			if !errors.Is(err, ErrStreamFull) || !errors.As(err, &perr) || perr.API == nil {
				t.Fatalf("round %d: %v, want ErrStreamFull", r, err)
			}
			if Retryable(err) {
				t.Errorf("stream full is not retryable")
			}
			t.Logf("round %d: %v", r, err)
			full = r
			break
		}
		stored = ack.LastSeq
	}
	if full == 0 {
		t.Fatal("a 64 KiB stream took 50 rounds of 16 KiB")
	}
	// Earlier rounds are intact, nothing of the rejected one is there.
	info, err := h.Stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != stored || info.State.FirstSeq != 1 || info.State.LastSeq != stored || info.State.Bytes > 64<<10 {
		t.Fatalf("state %+v, want messages 1..%d", info.State, stored)
	}
	got := readAll(t, ctx, h.Stream)
	for i, m := range got {
		r := i/4 + 1
		if m.Header.Get("Pm-Round") != strconv.Itoa(r) {
			t.Fatalf("message %d from round %s, want %d", m.Sequence, m.Header.Get("Pm-Round"), r)
		}
	}
	// Still full on retry; room again once the limit is raised.
	if _, err := PublishAtomic(ctx, nc, batchID(full), makeBatch(testLayout, full, []int{0, 1, 2}, 4<<10)); !errors.Is(err, ErrStreamFull) {
		t.Fatalf("retry: %v", err)
	}
	if _, err := Ensure(ctx, js, testLayout, Config{MaxBytes: 1 << 20}); err != nil {
		t.Fatal(err)
	}
	if _, err := PublishAtomic(ctx, nc, batchID(full), makeBatch(testLayout, full, []int{0, 1, 2}, 4<<10)); err != nil {
		t.Fatalf("after raising MaxBytes: %v", err)
	}
}

func TestPublishAtomicErrors(t *testing.T) {
	ctx, nc, js, _ := ensuredNode(t, 30*time.Second, Config{})
	one := func(subj string) []*nats.Msg { return []*nats.Msg{{Subject: subj, Data: []byte("x")}} }

	// Client-side checks.
	tooMany := make([]*nats.Msg, MaxAtomicBatch+1)
	for i := range tooMany {
		tooMany[i] = &nats.Msg{Subject: testLayout.MetaSubject()}
	}
	longID := string(make([]byte, MaxBatchIDLen+1))
	for name, c := range map[string]struct {
		id   string
		msgs []*nats.Msg
	}{
		"empty":    {"a", nil},
		"too many": {"a", tooMany},
		"no id":    {"", one(testLayout.MetaSubject())},
		"long id":  {longID, one(testLayout.MetaSubject())},
		"reply":    {"a", []*nats.Msg{{Subject: testLayout.MetaSubject(), Reply: "x"}}},
		"no subj":  {"a", []*nats.Msg{{}}},
	} {
		if _, err := PublishAtomic(ctx, nc, c.id, c.msgs); !errors.Is(err, ErrInvalidBatch) {
			t.Errorf("%s: %v, want ErrInvalidBatch", name, err)
		}
	}

	// No stream on the subject.
	_, err := PublishAtomic(ctx, nc, "x", one("nowhere.at.all"))
	if !errors.Is(err, ErrNoResponders) || !Retryable(err) {
		t.Fatalf("no stream: %v, want ErrNoResponders", err)
	}

	// Atomic publish not enabled on the stream.
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "PLAIN", Subjects: []string{"plain.>"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := PublishAtomic(ctx, nc, "x", one("plain.a")); !errors.Is(err, ErrInvalidBatch) {
		t.Fatalf("atomic publish disabled: %v, want ErrInvalidBatch", err)
	}

	// Something that listens but never answers: a timeout from ctx, and
	// the commit was sent, so the outcome is unknown.
	sub, err := nc.SubscribeSync("silent.>")
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	_, err = PublishAtomic(short, nc, "x", one("silent.a"))
	cancel()
	var perr *PublishError
	if !errors.Is(err, ErrPublishTimeout) || !errors.Is(err, context.DeadlineExceeded) || !errors.As(err, &perr) || !perr.CommitSent || !Retryable(err) {
		t.Fatalf("silent: %v, want ErrPublishTimeout with the commit sent", err)
	}
	// Cancelled before anything was sent: certainly not committed.
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	_, err = PublishAtomic(cancelled, nc, "x", one(testLayout.MetaSubject()))
	if !errors.Is(err, context.Canceled) || !errors.As(err, &perr) || perr.CommitSent {
		t.Fatalf("cancelled: %v", err)
	}

	// A message over the stream's MaxMsgSize.
	big := []*nats.Msg{{Subject: testLayout.MetaSubject(), Data: make([]byte, DefaultMaxMsgSize+1)}}
	if _, err := PublishAtomic(ctx, nc, "big", big); !errors.Is(err, ErrInvalidBatch) {
		t.Fatalf("too large: %v, want ErrInvalidBatch", err)
	}
}

// TestPublishAtomicReusedBatchID shows what the server does with a batch id
// that is still staged from an abandoned attempt: it drops both and answers
// ErrBatchIncomplete; the next attempt succeeds. PublishAtomic's own
// failures before the commit release the staged batch at once.
func TestPublishAtomicReusedBatchID(t *testing.T) {
	ctx, nc, _, h := ensuredNode(t, 30*time.Second, Config{})
	// A stale first message of batch "r1", as a crashed publisher leaves.
	m := nats.NewMsg(testLayout.MetaSubject())
	m.Header.Set(HdrBatchID, batchID(1))
	m.Header.Set(HdrBatchSeq, "1")
	if err := nc.PublishMsg(m); err != nil {
		t.Fatal(err)
	}
	msgs := makeBatch(testLayout, 1, []int{0, 1}, 10)
	_, err := PublishAtomic(ctx, nc, batchID(1), msgs)
	if !errors.Is(err, ErrBatchIncomplete) || !Retryable(err) {
		t.Fatalf("reused id: %v, want ErrBatchIncomplete", err)
	}
	ack, err := PublishAtomic(ctx, nc, batchID(1), msgs)
	if err != nil || ack.FirstSeq != 1 || ack.Count != 3 {
		t.Fatalf("retry: %+v, %v", ack, err)
	}

	// A publish that fails half-way aborts its staged batch, so the next
	// attempt with the same id succeeds at once. Here the second message
	// is refused client-side (over max_payload) after the first was
	// staged.
	two := makeBatch(testLayout, 2, []int{0}, 10)
	two[1] = &nats.Msg{Subject: testLayout.MetaSubject(), Data: make([]byte, DefaultMaxPayload+1)}
	_, err = PublishAtomic(ctx, nc, batchID(2), two)
	var perr *PublishError
	if !errors.As(err, &perr) || perr.CommitSent || perr.Seq != 2 {
		t.Fatalf("oversized second message: %v", err)
	}
	if _, err := PublishAtomic(ctx, nc, batchID(2), makeBatch(testLayout, 2, []int{0}, 10)); err != nil {
		t.Fatalf("after abort: %v", err)
	}
	if n := streamMsgs(t, ctx, h.Stream); n != 5 {
		t.Fatalf("%d messages, want 5", n)
	}
}

func TestDurabilityAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	e := startNode(t, dir)
	nc, js := connect(t, e)
	ctx := testCtx(t, 30*time.Second)
	if _, err := Ensure(ctx, js, testLayout, Config{}); err != nil {
		t.Fatal(err)
	}
	var last uint64
	for r := 1; r <= 20; r++ {
		ack, err := PublishAtomic(ctx, nc, batchID(r), makeBatch(testLayout, r, []int{r % 8, (r + 3) % 8}, 1000))
		if err != nil {
			t.Fatal(err)
		}
		last = ack.LastSeq
	}
	nc.Close()
	e.Shutdown()

	e2 := startNode(t, dir)
	nc2, js2 := connect(t, e2)
	h, err := Ensure(ctx, js2, testLayout, Config{})
	if err != nil {
		t.Fatal(err)
	}
	got := readAll(t, ctx, h.Stream)
	if uint64(len(got)) != last || last != 60 {
		t.Fatalf("after restart %d messages, want %d", len(got), last)
	}
	for i, m := range got {
		r := i/3 + 1
		want := makeBatch(testLayout, r, []int{r % 8, (r + 3) % 8}, 1000)[i%3]
		if m.Subject != want.Subject || string(m.Data) != string(want.Data) {
			t.Fatalf("message %d: %s, want %s", m.Sequence, m.Subject, want.Subject)
		}
	}
	// The duplicate window survives the restart (the server rebuilds it
	// from the stored message ids).
	if _, err := PublishAtomic(ctx, nc2, batchID(20), makeBatch(testLayout, 20, []int{4, 7}, 1000)); !errors.Is(err, ErrDuplicateBatch) {
		t.Fatalf("republish after restart: %v, want ErrDuplicateBatch", err)
	}
	if ack, err := PublishAtomic(ctx, nc2, batchID(21), makeBatch(testLayout, 21, []int{1}, 10)); err != nil || ack.FirstSeq != 61 {
		t.Fatalf("publish after restart: %+v, %v", ack, err)
	}
}

// TestPublishAtomicLargeBatch goes past the flow-control byte window: 24
// messages of 1 MiB.
func TestPublishAtomicLargeBatch(t *testing.T) {
	ctx, nc, _, h := ensuredNode(t, 60*time.Second, Config{})
	var msgs []*nats.Msg
	for i := 0; i < 24; i++ {
		m := nats.NewMsg(testLayout.ShardSubject(i % 8))
		m.Header.Set(nats.MsgIdHdr, fmt.Sprintf("big.%d", i))
		m.Data = make([]byte, 1<<20)
		m.Data[0] = byte(i)
		msgs = append(msgs, m)
	}
	ack, err := PublishAtomic(ctx, nc, "big", msgs)
	if err != nil || ack.Count != 24 || ack.FirstSeq != 1 || ack.LastSeq != 24 {
		t.Fatalf("ack %+v, %v", ack, err)
	}
	if n := streamMsgs(t, ctx, h.Stream); n != 24 {
		t.Fatalf("%d messages, want 24", n)
	}
	for _, seq := range []uint64{1, 17, 24} {
		m, err := h.Stream.GetMsg(ctx, seq)
		if err != nil || len(m.Data) != 1<<20 || m.Data[0] != byte(seq-1) {
			t.Fatalf("message %d: %v", seq, err)
		}
	}
}

// TestPublishOne: a one-message round is stored by a plain publish; the
// same message again answers ErrDuplicateBatch and is not stored twice.
func TestPublishOne(t *testing.T) {
	ctx, nc, _, h := ensuredNode(t, 60*time.Second, Config{})
	msg := makeBatch(testLayout, 1, nil, 100)[0]
	ack, err := PublishOne(ctx, nc, batchID(1), msg)
	if err != nil || ack.FirstSeq != 1 || ack.LastSeq != 1 || ack.Count != 1 {
		t.Fatalf("PublishOne: ack %+v, %v", ack, err)
	}
	if _, err := PublishOne(ctx, nc, batchID(1), msg); !errors.Is(err, ErrDuplicateBatch) {
		t.Fatalf("the same message again: %v, want ErrDuplicateBatch", err)
	}
	if got := readAll(t, ctx, h.Stream); len(got) != 1 {
		t.Fatalf("stream has %d messages, want 1", len(got))
	}
	bad := nats.NewMsg(testLayout.MetaSubject())
	bad.Reply = "x"
	if _, err := PublishOne(ctx, nc, batchID(2), bad); !errors.Is(err, ErrInvalidBatch) {
		t.Fatalf("a message with a reply subject: %v, want ErrInvalidBatch", err)
	}
}
