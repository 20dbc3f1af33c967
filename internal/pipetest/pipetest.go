// Package pipetest runs pagemill's pipeline in tests: a scratch
// PostgreSQL's WAL through ingest into an embedded NATS JetStream, and the
// materializer into a page store. Everything real, nothing mocked.
package pipetest

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/pagemill/pagemill/ingest"
	"github.com/pagemill/pagemill/internal/pgtest"
	"github.com/pagemill/pagemill/redo/materialize"
	"github.com/pagemill/pagemill/redo/pagestore"
	"github.com/pagemill/pagemill/schema"
	"github.com/pagemill/pagemill/streams"
)

// Logger logs to stderr when tests run verbose, else nowhere.
func Logger(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	return slog.New(slog.DiscardHandler)
}

// Pipeline is ingest + materializer over an embedded NATS.
type Pipeline struct {
	NC    *nats.Conn
	Ing   *ingest.Ingester
	Mat   *materialize.Materializer
	Store *pagestore.Store
	// NATSURL is the embedded server's TCP URL when Options.NATSListen
	// is set ("" otherwise).
	NATSURL string
	// Layout is the source's stream layout; JS and Handles reach its
	// stream, object store and state bucket.
	Layout  streams.Layout
	JS      jetstream.JetStream
	Handles *streams.Handles
	// Stop stops everything (also run by t.Cleanup).
	Stop func()
	// StopMat stops only the materializer and closes its store; ingest
	// and NATS go on (Stop then stops the rest).
	StopMat func()
}

// Options tune a pipeline; zero values are fine.
type Options struct {
	Shards   int    // default 4
	StoreDir string // default a temp dir
	Mat      materialize.Config
	// NATSListen also exposes the embedded NATS server on this TCP
	// address ("127.0.0.1:0": a free port), for clients in another
	// process or through a URL; see Pipeline.NATSURL.
	NATSListen string
}

// Start starts a pipeline following c and waits until the materializer
// has imported the base backup.
func Start(t testing.TB, c *pgtest.Cluster, o Options) *Pipeline {
	t.Helper()
	if o.Shards == 0 {
		o.Shards = 4
	}
	if o.StoreDir == "" {
		o.StoreDir = t.TempDir()
	}
	shards, storeDir := o.Shards, o.StoreDir
	log := Logger(t)
	ctx, cancel := context.WithCancel(context.Background())
	emb, err := streams.StartEmbedded(ctx, streams.EmbeddedConfig{Dir: filepath.Join(t.TempDir(), "nats"), Listen: o.NATSListen}, log)
	if err != nil {
		t.Fatal(err)
	}
	nc, err := emb.Connect()
	if err != nil {
		t.Fatal(err)
	}
	ing, err := ingest.New(ingest.Config{Source: c.ConnString("postgres"), Slot: "pm", Streams: streams.Config{Shards: shards, Replicas: 1}}, nc, prometheus.NewRegistry(), log)
	if err != nil {
		t.Fatal(err)
	}
	ingDone := make(chan error, 1)
	go func() { ingDone <- ing.Run(ctx) }()
	select {
	case <-ing.Identified():
	case err := <-ingDone:
		t.Fatalf("ingest: %v", err)
	case <-time.After(time.Minute):
		t.Fatal("ingest did not identify the source")
	}
	layout := ing.Layout()
	js, _ := jetstream.New(nc)
	h, err := streams.Ensure(ctx, js, layout, streams.Config{Shards: shards, Replicas: 1})
	if err != nil {
		t.Fatal(err)
	}
	store, err := pagestore.Open(pagestore.Options{Dir: storeDir, Shards: shards}, log)
	if err != nil {
		t.Fatal(err)
	}
	mcfg := o.Mat
	mcfg.Layout = layout
	mat, err := materialize.New(mcfg, js, h, store, prometheus.NewRegistry(), log)
	if err != nil {
		t.Fatal(err)
	}
	matCtx, matCancel := context.WithCancel(ctx)
	matDone := make(chan error, 1)
	go func() { matDone <- mat.Run(matCtx) }()
	p := &Pipeline{NC: nc, Ing: ing, Mat: mat, Store: store, NATSURL: emb.ClientURL(), Layout: layout, JS: js, Handles: h}
	matStopped := false
	p.StopMat = func() {
		if matStopped {
			return
		}
		matStopped = true
		matCancel()
		if err := <-matDone; err != nil {
			t.Errorf("materializer: %v", err)
		}
		store.Close()
	}
	stopped := false
	p.Stop = func() {
		if stopped {
			return
		}
		stopped = true
		p.StopMat()
		cancel()
		if err := <-ingDone; err != nil {
			t.Errorf("ingest: %v", err)
		}
		nc.Close()
		emb.Shutdown()
	}
	t.Cleanup(p.Stop)
	select {
	case <-mat.Ready():
	case err := <-matDone:
		matDone <- err // for Stop
		t.Fatalf("materializer: %v", err)
	case <-time.After(2 * time.Minute):
		t.Fatal("materializer not ready")
	}
	return p
}

// CatchUp switches the source's WAL segment and waits until every shard
// applied the source's current LSN, which it returns.
func (p *Pipeline) CatchUp(t testing.TB, c *pgtest.Cluster) schema.LSN {
	t.Helper()
	c.Exec(t, "SELECT pg_switch_wal()") // ends the segment so the LSN is flushed
	lsn, err := schema.ParseLSN(c.CurrentWALLSN(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := p.Mat.WaitAll(ctx, lsn); err != nil {
		t.Fatalf("catch up to %s: %v (published %s)", lsn, err, p.Mat.Published())
	}
	return lsn
}
