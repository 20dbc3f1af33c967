package materialize_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/pagemill/pagemill/internal/pgtest"
	"github.com/pagemill/pagemill/internal/pipetest"
	"github.com/pagemill/pagemill/redo/materialize"
	"github.com/pagemill/pagemill/redo/pagestore"
	"github.com/pagemill/pagemill/schema"
	"github.com/pagemill/pagemill/streams"
)

// TestStreamTrimmedPastStore: when the stream lost records the page store
// has not applied (trimmed while pagemill was down), the materializer
// refuses to start instead of skipping them silently.
func TestStreamTrimmedPastStore(t *testing.T) {
	c := pgtest.Start(t, pgtest.Options{})
	dir := t.TempDir()
	// Rounds as atomic batches over two shard subjects (the other tests
	// have whole rounds on one).
	p := pipetest.Start(t, c, pipetest.Options{StoreDir: dir, Shards: 2, WholeRoundBytes: -1})
	p.CatchUp(t, c)
	p.StopMat()
	c.Pgbench(t, "-i", "-s", "1", "-q")
	c.Exec(t, "SELECT pg_switch_wal()")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	target, err := schema.ParseLSN(c.CurrentWALLSN(t))
	if err != nil {
		t.Fatal(err)
	}
	for p.Ing.Status().PublishedLSN < target {
		if ctx.Err() != nil {
			t.Fatal("ingest did not publish the load")
		}
		time.Sleep(50 * time.Millisecond)
	}
	js, _ := jetstream.New(p.NC)
	h, err := streams.Ensure(ctx, js, p.Layout, streams.Config{Shards: 2, Replicas: 1})
	if err != nil {
		t.Fatal(err)
	}
	info, err := h.Stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Trim all but the last message.
	if err := h.Stream.Purge(ctx, jetstream.WithPurgeSequence(info.State.LastSeq)); err != nil {
		t.Fatal(err)
	}
	store, err := pagestore.Open(pagestore.Options{Dir: dir, Shards: 2}, pipetest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	m, err := materialize.New(materialize.Config{Layout: p.Layout}, js, h, store, prometheus.NewRegistry(), pipetest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	err = m.Run(ctx)
	if !errors.Is(err, materialize.ErrStreamTrimmed) {
		t.Fatalf("Run: %v, want ErrStreamTrimmed", err)
	}
	t.Log(err)
}
