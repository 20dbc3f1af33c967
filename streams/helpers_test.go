package streams

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// testWriter forwards to the test's output until the test ends; server
// goroutines that log after that (timers, late shutdown) are dropped rather
// than reported against a finished test.
type testWriter struct {
	mu   sync.Mutex
	w    io.Writer
	done bool
}

func (tw *testWriter) Write(p []byte) (int, error) {
	tw.mu.Lock()
	defer tw.mu.Unlock()
	if tw.done {
		return len(p), nil
	}
	return tw.w.Write(p)
}

// testLogger logs warnings and errors to the test output.
func testLogger(tb testing.TB) *slog.Logger {
	tw := &testWriter{w: tb.Output()}
	tb.Cleanup(func() {
		tw.mu.Lock()
		tw.done = true
		tw.mu.Unlock()
	})
	return slog.New(slog.NewTextHandler(tw, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

func testCtx(tb testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	tb.Cleanup(cancel)
	return ctx
}

// startNode starts a single embedded server on dir, in process only; it is
// shut down when the test ends (Shutdown is idempotent).
func startNode(tb testing.TB, dir string) *Embedded {
	tb.Helper()
	e, err := StartEmbedded(testCtx(tb, 10*time.Second), EmbeddedConfig{Dir: dir}, testLogger(tb))
	if err != nil {
		tb.Fatalf("start embedded: %v", err)
	}
	tb.Cleanup(e.Shutdown)
	return e
}

func connect(tb testing.TB, e *Embedded, opts ...nats.Option) (*nats.Conn, jetstream.JetStream) {
	tb.Helper()
	nc, err := e.Connect(opts...)
	if err != nil {
		tb.Fatalf("connect: %v", err)
	}
	tb.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		tb.Fatalf("jetstream: %v", err)
	}
	return nc, js
}

var testLayout = Layout{SystemID: 7301234567890123456, Timeline: 1, Shards: 8}

// makeBatch builds round r of a test: one message per shard in shards and a
// meta message last, each with a deterministic Nats-Msg-Id and a body
// naming round and subject.
func makeBatch(l Layout, r int, shards []int, size int) []*nats.Msg {
	var msgs []*nats.Msg
	add := func(subj string) {
		m := nats.NewMsg(subj)
		m.Header.Set(nats.MsgIdHdr, fmt.Sprintf("r%d.%s", r, subj))
		m.Header.Set("Pm-Round", strconv.Itoa(r))
		body := fmt.Appendf(nil, "round %d %s ", r, subj)
		for len(body) < size {
			body = append(body, byte('a'+r%26))
		}
		m.Data = body
		msgs = append(msgs, m)
	}
	for _, s := range shards {
		add(l.ShardSubject(s))
	}
	add(l.MetaSubject())
	return msgs
}

func batchID(r int) string { return "test-round-" + strconv.Itoa(r) }

// readAll returns every message of the stream in sequence order.
func readAll(tb testing.TB, ctx context.Context, s jetstream.Stream) []*jetstream.RawStreamMsg {
	tb.Helper()
	info, err := s.Info(ctx)
	if err != nil {
		tb.Fatalf("stream info: %v", err)
	}
	var out []*jetstream.RawStreamMsg
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if err != nil {
			tb.Fatalf("get message %d: %v", seq, err)
		}
		out = append(out, m)
	}
	return out
}

// ensuredNode starts a single embedded server on a fresh directory,
// connects to it and ensures testLayout's stream and buckets with cfg; the
// context ends after d.
func ensuredNode(tb testing.TB, d time.Duration, cfg Config) (context.Context, *nats.Conn, jetstream.JetStream, *Handles) {
	tb.Helper()
	e := startNode(tb, tb.TempDir())
	nc, js := connect(tb, e)
	ctx := testCtx(tb, d)
	h, err := Ensure(ctx, js, testLayout, cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return ctx, nc, js, h
}
