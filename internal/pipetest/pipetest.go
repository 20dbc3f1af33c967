// Package pipetest runs pagemill's pipeline in tests: a node (package
// ops/node) following a scratch PostgreSQL, its WAL through ingest into an
// embedded NATS JetStream, and the materializer into a page store.
// Everything real, nothing mocked.
package pipetest

import (
	"context"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/pagemill/pagemill/ingest"
	"github.com/pagemill/pagemill/internal/pgtest"
	"github.com/pagemill/pagemill/ops/node"
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
	Shards   int    // the stream's shard subjects (default 1: the redo shards are the page store's default)
	StoreDir string // default a temp dir
	Mat      materialize.Config
	// NATSListen also exposes the embedded NATS server on this TCP
	// address ("127.0.0.1:0": a free port), for clients in another
	// process or through a URL; see Pipeline.NATSURL.
	NATSListen string
	// Source, when set, is the connection string to follow instead of
	// c's (e.g. several hosts with target_session_attrs=read-write).
	Source string
	// WholeRoundBytes is node.Config's (negative: every round an atomic
	// batch of shard and meta messages).
	WholeRoundBytes int
}

// Start starts a pipeline following c (an ops/node without pgwire or
// HTTP server) and waits until the materializer has imported the base
// backup.
func Start(t testing.TB, c *pgtest.Cluster, o Options) *Pipeline {
	t.Helper()
	source := o.Source
	if source == "" {
		source = c.ConnString("postgres")
	}
	n, err := node.New(node.Config{
		Source: source, Slot: "pm", DataDir: t.TempDir(), StoreDir: o.StoreDir, WholeRoundBytes: o.WholeRoundBytes,
		NATS:        node.NATSConfig{Listen: o.NATSListen, Anonymous: true},
		Streams:     streams.Config{Shards: o.Shards, Replicas: 1},
		Materialize: o.Mat, Log: Logger(t), Registry: prometheus.NewRegistry(),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{}) // closed when Run returned, with runErr
	var runErr error
	go func() {
		defer close(done)
		runErr = n.Run(ctx)
	}()
	p := &Pipeline{}
	matStopped := false
	p.StopMat = func() {
		if matStopped {
			return
		}
		matStopped = true
		if err := n.StopMaterializer(); err != nil {
			t.Errorf("materializer: %v", err)
		}
	}
	stopped := false
	p.Stop = func() {
		if stopped {
			return
		}
		stopped = true
		p.StopMat()
		cancel()
		<-done
		if runErr != nil {
			t.Errorf("pipeline: %v", runErr)
		}
	}
	t.Cleanup(p.Stop)
	select {
	case <-n.Ready():
	case <-done:
		t.Fatalf("pipeline: %v", runErr)
	case <-time.After(3 * time.Minute):
		t.Fatal("materializer not ready")
	}
	p.NC, p.Ing, p.Mat, p.Store, p.NATSURL = n.NATSConn(), n.Ingester(), n.Materializer(), n.Store(), n.NATSURL()
	p.JS, p.Handles = n.JetStream(), n.Handles()
	p.Layout = p.Handles.Layout
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
