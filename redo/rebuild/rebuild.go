package rebuild

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/pagemill/pagemill/redo/materialize"
	"github.com/pagemill/pagemill/redo/pagestore"
)

// ConsumerPrefix names the durable consumers of a rebuild: not pm_redo,
// so a rebuild never takes the consumers of a `pagemill run` following
// the same stream.
const ConsumerPrefix = "pm_rebuild"

// Config configures Run.
type Config struct {
	// Dir is the page store directory to fill: absent or empty, unless
	// Force, which moves a non-empty one aside first.
	Dir   string
	Force bool
	// Materialize configures the materializer (ImageEvery, CachePages…);
	// Run sets its Layout, and its ConsumerPrefix when empty.
	Materialize materialize.Config
	// Store sizes the page store's memory (MemTableSize, BlockCacheSize,
	// IndexCacheSize; zero: the defaults); its Dir and Shards are Run's.
	Store pagestore.Options
	// Shards is the number of redo shards of the new store (default
	// materialize.DefaultShards).
	Shards int
	// Registry receives the materializer's and the rebuild's metrics; when
	// it is also a prometheus.Gatherer, progress counts base pages and
	// records from it.
	Registry prometheus.Registerer
	Log      *slog.Logger
	// Progress, when set, is called with an observation every Interval
	// (default 200 ms) until the rebuild is done (the last one has Done
	// set).
	Progress func(Progress)
	Interval time.Duration
}

// Run rebuilds the page store cfg.Dir from src: the base backup (or the
// oldest snapshot), then the records, up to src.Target. It syncs and
// closes the store and deletes its consumers before it returns the last
// observation. Ending ctx stops it with an error; the store then holds
// what was applied so far.
func Run(ctx context.Context, js jetstream.JetStream, src *Source, cfg Config) (Progress, error) {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
	}
	if cfg.Interval <= 0 {
		cfg.Interval = 200 * time.Millisecond
	}
	layout, log := src.Handles.Layout, cfg.Log
	log.Info("rebuilding the page store from the streams", "stream", layout.StreamName(), "timeline", layout.Timeline,
		"stream_shards", layout.Shards, "base_start_lsn", src.Base.StartLSN, "base_pages", src.Base.Pages, "target_lsn", src.Target,
		"wal_mb", round1(mb(walBytes(src.Base.StartLSN, src.Target))), "stream_mb", round1(mb(src.StreamBytes)))
	met := NewMetrics(cfg.Registry)
	if err := PrepareDir(cfg.Dir, cfg.Force, log, met); err != nil {
		return Progress{}, err
	}
	// The same options as `pagemill run`, which goes on with this store.
	shards := cfg.Shards
	if shards <= 0 {
		shards = materialize.DefaultShards(layout.Shards)
	}
	sopts := cfg.Store
	sopts.Dir, sopts.Shards, sopts.AdoptShards = cfg.Dir, shards, false
	store, err := pagestore.Open(sopts, log)
	if err != nil {
		return Progress{}, err
	}
	closed := false
	defer func() {
		if !closed {
			store.Close()
		}
	}()
	mcfg := cfg.Materialize
	mcfg.Layout = layout
	if mcfg.ConsumerPrefix == "" {
		mcfg.ConsumerPrefix = ConsumerPrefix
	}
	m, err := materialize.New(mcfg, js, src.Handles, store, cfg.Registry, log)
	if err != nil {
		return Progress{}, err
	}
	defer deleteConsumers(m, log)
	p, err := apply(ctx, m, src, cfg, met)
	if err != nil {
		return p, err
	}
	if err := store.Sync(); err != nil {
		return p, err
	}
	closed = true
	if err := store.Close(); err != nil {
		return p, err
	}
	met.done.Set(1)
	return p, nil
}

// apply runs m until every shard has applied src.Target, reporting
// progress, and stops it.
func apply(ctx context.Context, m *materialize.Materializer, src *Source, cfg Config, met *Metrics) (Progress, error) {
	w := newWatch(m, src.Base, src.Target, src.Handles.Layout.Timeline, cfg.Registry, met)
	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	runDone := make(chan error, 1)
	go func() { runDone <- m.Run(runCtx) }()
	tick := time.NewTicker(cfg.Interval)
	defer tick.Stop()
	for done := false; !done; {
		select {
		case err := <-runDone:
			if err == nil {
				err = ctx.Err()
			}
			if err == nil {
				err = errors.New("the materializer stopped")
			}
			if ctx.Err() != nil {
				cfg.Log.Warn("rebuild interrupted: the page store holds what was applied so far; `pagemill run` continues from it, `pagemill rebuild --force` starts over",
					"dir", cfg.Dir, "applied_lsn", m.Applied())
			}
			return w.progress(), err
		case <-tick.C:
		}
		p := w.progress()
		done = p.Done
		if cfg.Progress != nil {
			cfg.Progress(p)
		}
	}
	stopRun()
	if err := <-runDone; err != nil {
		return w.progress(), err
	}
	return w.progress(), nil // after the last batch
}

// deleteConsumers removes the rebuild's durable consumers (the
// materializer recreates them at every start anyway).
func deleteConsumers(m *materialize.Materializer, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := m.DeleteConsumers(ctx); err != nil {
		log.Warn("deleting the rebuild's consumers failed", "err", err)
	}
}
