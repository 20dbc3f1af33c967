package bench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/pagemill/pagemill/ingest"
	"github.com/pagemill/pagemill/redo/materialize"
	"github.com/pagemill/pagemill/redo/pagestore"
	"github.com/pagemill/pagemill/schema"
	"github.com/pagemill/pagemill/streams"
)

// The benchmarks run pagemill's parts in this process, each started and
// stopped on its own so that one part can be timed alone: an embedded
// JetStream, ingests on it, materializers on its streams. (ops/node runs
// them all together; the benchmarks time them one at a time.)

// embeddedNATS is an embedded NATS server with its store in a directory,
// and a connection to it.
type embeddedNATS struct {
	emb *streams.Embedded
	nc  *nats.Conn
}

func startNATS(ctx context.Context, dir string, dropCache time.Duration, log *slog.Logger) (*embeddedNATS, error) {
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	emb, err := streams.StartEmbedded(sctx, streams.EmbeddedConfig{Dir: dir, DropCacheEvery: dropCache}, log)
	if err != nil {
		return nil, fmt.Errorf("embedded NATS: %w", err)
	}
	nc, err := emb.Connect()
	if err != nil {
		emb.Shutdown()
		return nil, fmt.Errorf("embedded NATS: %w", err)
	}
	return &embeddedNATS{emb: emb, nc: nc}, nil
}

func (n *embeddedNATS) close() {
	n.nc.Close()
	n.emb.Shutdown()
}

// runningIngest is an ingester running in the background.
type runningIngest struct {
	ing    *ingest.Ingester
	cancel context.CancelFunc
	errc   chan error
	err    error // Run's, once stopped
	ended  bool
}

func (n *embeddedNATS) startIngest(ctx context.Context, cfg ingest.Config, reg *prometheus.Registry, log *slog.Logger) (*runningIngest, error) {
	ing, err := ingest.New(cfg, n.nc, reg, log)
	if err != nil {
		return nil, fmt.Errorf("ingest: %w", err)
	}
	rctx, cancel := context.WithCancel(ctx)
	r := &runningIngest{ing: ing, cancel: cancel, errc: make(chan error, 1)}
	go func() { r.errc <- ing.Run(rctx) }()
	return r, nil
}

// stop stops the ingest and returns Run's error; calling it again does
// nothing.
func (r *runningIngest) stop() error {
	r.cancel()
	if !r.ended {
		r.ended = true
		r.err = <-r.errc
	}
	return r.err
}

// wait polls the ingest's status every poll until ok says so, Run ends,
// ctx ends, or nothing was published for stall.
func (r *runningIngest) wait(ctx context.Context, poll, stall time.Duration, ok func(ingest.Status) (bool, error)) error {
	t := time.NewTicker(poll)
	defer t.Stop()
	var last schema.LSN
	lastChange := time.Now()
	for {
		st := r.ing.Status()
		done, err := ok(st)
		if err != nil || done {
			return err
		}
		if st.PublishedLSN != last {
			last, lastChange = st.PublishedLSN, time.Now()
		} else if time.Since(lastChange) > stall {
			return fmt.Errorf("no progress for %s at published LSN %s (connected %v, last error %q)", stall, st.PublishedLSN, st.Connected, st.LastError)
		}
		select {
		case err := <-r.errc:
			r.ended, r.err = true, err
			if err == nil {
				err = errors.New("ingest stopped")
			}
			return fmt.Errorf("ingest ended early: %w", err)
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// baseBackupDone is a wait condition: the base backup is taken; it
// stores its start LSN in *start.
func baseBackupDone(start *schema.LSN) func(ingest.Status) (bool, error) {
	return func(st ingest.Status) (bool, error) {
		if st.BaseBackup != nil && st.BaseBackup.Completed {
			*start = st.BaseBackup.StartLSN
			return true, nil
		}
		return false, nil
	}
}

// published is a wait condition: ingest published lsn.
func published(lsn schema.LSN) func(ingest.Status) (bool, error) {
	return func(st ingest.Status) (bool, error) { return st.PublishedLSN >= lsn, nil }
}

// streamsOf are the source's streams once an ingest identified it.
func (n *embeddedNATS) streamsOf(ctx context.Context, layout streams.Layout, scfg streams.Config) (jetstream.JetStream, *streams.Handles, error) {
	js, err := jetstream.New(n.nc)
	if err != nil {
		return nil, nil, fmt.Errorf("jetstream: %w", err)
	}
	h, err := streams.Ensure(ctx, js, layout, scfg)
	if err != nil {
		return nil, nil, fmt.Errorf("jetstream layout: %w", err)
	}
	return js, h, nil
}

// runningMat is a materializer with the page store it opened, running
// in the background once started.
type runningMat struct {
	m      *materialize.Materializer
	store  *pagestore.Store
	cancel context.CancelFunc // nil until started
	done   chan struct{}      // closed when Run returned; err is set then
	err    error
	closed bool
}

// openMat opens a page store in dir and makes a materializer on it with
// cfg (its Layout the streams'); start runs it.
func openMat(js jetstream.JetStream, h *streams.Handles, dir string, cfg materialize.Config,
	reg *prometheus.Registry, log *slog.Logger) (*runningMat, error) {
	return openMatStore(js, h, pagestore.Options{Dir: dir}, cfg, reg, log)
}

// openMatStore is openMat with the page store's options (its Shards are
// materialize.DefaultShards of the streams').
func openMatStore(js jetstream.JetStream, h *streams.Handles, sopts pagestore.Options, cfg materialize.Config,
	reg *prometheus.Registry, log *slog.Logger) (*runningMat, error) {
	sopts.Shards = materialize.DefaultShards(h.Layout.Shards)
	store, err := pagestore.Open(sopts, log)
	if err != nil {
		return nil, fmt.Errorf("page store: %w", err)
	}
	cfg.Layout = h.Layout
	m, err := materialize.New(cfg, js, h, store, reg, log)
	if err != nil {
		store.Close()
		return nil, fmt.Errorf("materializer: %w", err)
	}
	return &runningMat{m: m, store: store, done: make(chan struct{})}, nil
}

// start runs the materializer until stop.
func (r *runningMat) start(ctx context.Context) {
	rctx, cancel := context.WithCancel(ctx)
	r.cancel = cancel
	go func() {
		r.err = r.m.Run(rctx)
		close(r.done)
	}()
}

// stop stops the materializer, waits for it and closes the page store;
// calling it again does nothing.
func (r *runningMat) stop() {
	if r.cancel != nil {
		r.cancel()
		<-r.done
	}
	if !r.closed {
		r.closed = true
		r.store.Close()
	}
}

// ready waits until the base backup is imported and redo runs.
func (r *runningMat) ready(ctx context.Context) error {
	select {
	case <-r.m.Ready():
		return nil
	case <-r.done:
		return fmt.Errorf("materializer stopped: %v", r.err)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// waitAll waits until every shard applied lsn (durable: synced and
// acknowledged as well), the materializer stops or timeout passes.
func (r *runningMat) waitAll(ctx context.Context, lsn schema.LSN, durable bool, timeout time.Duration) error {
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	go func() {
		select {
		case <-r.done:
			cancel()
		case <-wctx.Done():
		}
	}()
	wait := r.m.WaitAll
	if durable {
		wait = r.m.WaitDurable
	}
	if err := wait(wctx, lsn); err != nil {
		select {
		case <-r.done:
			return fmt.Errorf("materializer stopped before applying %s: %v", lsn, r.err)
		default:
		}
		return fmt.Errorf("wait until %s is applied (applied %s): %w", lsn, r.m.Applied(), err)
	}
	return nil
}
