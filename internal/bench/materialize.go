package bench

import (
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pagemill/pagemill/ingest"
	"github.com/pagemill/pagemill/internal/scratchpg"
	"github.com/pagemill/pagemill/ops"
	"github.com/pagemill/pagemill/redo/materialize"
	"github.com/pagemill/pagemill/schema"
	"github.com/pagemill/pagemill/streams"
)

// materializeBench is one run of `materialize`.
type materializeBench struct {
	cfg      materializeConfig
	log      *slog.Logger
	c        *scratchpg.Cluster
	nats     *embeddedNATS
	scfg     streams.Config
	layout   streams.Layout
	from, to schema.LSN
	pg       crashRecovery
	mat      *runningMat
	fixture  string // the directory the run started from ("": it generated its WAL)

	importSecs                     float64
	matSecs, matCPU                float64
	runs                           []float64  // seconds of each materialize run (--repeat); the report's other figures are the last run's
	stages                         []StageCPU // CPU by pipeline stage while materializing
	reads                          []*historyRead
	load                           string
	peakMem                        memPeaks
	images, deltas                 int64
	commits, syncs                 uint64
	streamMsgs                     uint64
	streamBytes                    uint64
	storeLSM, storeVlog, storeSegs int64
	segments, packs                int             // the page store's page index
	lags                           []time.Duration // live: source LSN -> applied on every shard
	lagReceived, lagPublished      []time.Duration // live: source LSN -> received by ingest, -> acknowledged by JetStream
	liveRounds                     uint64          // live: rounds the ingest published
	livePublish                    [2]float64      // live: publish duration p50, p99 (bucket upper bounds, seconds)
}

// Run is materialize's benchmark: with a pgbench WAL already in JetStream
// (after the base backup, no checkpoint in it), the time until every
// shard's applied LSN reaches its end, beside PostgreSQL's own crash
// recovery of the same WAL (the base backup's checkpoint is the last one,
// so the server replays exactly that range after `pg_ctl stop -m
// immediate`). Then the live lag while pgbench runs.
func (cfg *materializeConfig) Run(ctx context.Context, env Env) (*Report, error) {
	if cfg.SizeMB < 1 || cfg.Scale < 1 || cfg.Shards < 1 || cfg.LiveSeconds < 0 || cfg.Repeat < 1 {
		return nil, usagef("--size-mb, --scale, --shards and --repeat must be positive, --live-seconds not negative")
	}
	var err error
	if cfg.memLimit, err = ops.ApplyMemoryLimit(cfg.heapLimit(env.Log), env.Log); err != nil {
		return nil, usagef("--memory-limit: %w", err)
	}
	tmp, err := scratchDir(env, "materialize")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	b := &materializeBench{cfg: *cfg, log: env.Log, scfg: streams.Config{Shards: cfg.Shards, Replicas: 1}}
	fx, err := loadFixture(cfg.Fixture, cfg)
	if err != nil {
		return nil, err
	}
	conf := clusterConf(max(2048, 3*cfg.SizeMB), map[string]string{"autovacuum": "off"})
	if fx != nil {
		b.c, err = fx.cluster(ctx, cfg.Fixture, conf, env.Log)
	} else {
		b.c, err = startCluster(ctx, conf, env.Log)
	}
	if err != nil {
		return nil, err
	}
	defer closeCluster(b.c, env.Log)
	natsDir := filepath.Join(tmp, "nats")
	if fx != nil {
		if err := copyTree(ctx, filepath.Join(cfg.Fixture, fixtureNATS), natsDir); err != nil {
			return nil, fmt.Errorf("fixture: %w", err)
		}
	}
	if b.nats, err = startNATS(ctx, natsDir, cfg.memory.DropStreamCache, env.Log); err != nil {
		return nil, err
	}
	defer func() { b.nats.close() }() // saveFixture starts another
	if fx != nil {
		// The fixture's cluster is as the crash left it.
		b.from, b.to, b.layout, b.fixture = fx.from, fx.to, fx.layout(), cfg.Fixture
	} else {
		if err := pgbenchWorkload(cfg.Scale, 5, false).setup(ctx, b.c); err != nil {
			return nil, err
		}
		if err := b.ingestLoad(ctx); err != nil {
			return nil, err
		}
		if err := b.c.StopImmediate(); err != nil {
			return nil, fmt.Errorf("crash the server: %w", err)
		}
		if cfg.Fixture != "" {
			if err := b.saveFixture(ctx, cfg.Fixture, natsDir); err != nil {
				return nil, err
			}
		}
	}
	// PostgreSQL's crash recovery of the same range, first (the slot
	// holds the WAL).
	if b.pg, err = timeCrashRecovery(b.c); err != nil {
		return nil, err
	}
	// Each run materializes into a new page store from the same stream.
	for i := range cfg.Repeat {
		if b.mat != nil {
			b.mat.stop()
			os.RemoveAll(filepath.Join(tmp, "pages"+strconv.Itoa(i-1)))
		}
		err = b.materialize(ctx, filepath.Join(tmp, "pages"+strconv.Itoa(i)))
		if err != nil {
			if b.mat != nil {
				b.mat.stop()
			}
			return nil, err
		}
		b.runs = append(b.runs, b.matSecs)
	}
	defer b.mat.stop()
	if err := b.historyReads(ctx, 500); err != nil {
		return nil, fmt.Errorf("historical reads: %w", err)
	}
	if cfg.LiveSeconds > 0 {
		if err := b.live(ctx); err != nil {
			return nil, fmt.Errorf("live lag: %w", err)
		}
	}
	return b.report(), nil
}

func (b *materializeBench) ingestConfig() ingest.Config {
	return ingest.Config{Source: b.c.ConnString("postgres"), Slot: "pagemill", Streams: b.scfg}
}

// ingestLoad runs the ingest: its base backup (whose fast checkpoint is
// the redo start of both pagemill and PostgreSQL), then pgbench until
// --size-mb of WAL follow it, a segment switch, and the ingest until it
// published all of it; then it stops the ingest.
func (b *materializeBench) ingestLoad(ctx context.Context) error {
	ri, err := b.nats.startIngest(ctx, b.ingestConfig(), prometheus.NewRegistry(), b.log)
	if err != nil {
		return err
	}
	defer ri.stop()
	if err := ri.wait(ctx, 100*time.Millisecond, 5*time.Minute, baseBackupDone(&b.from)); err != nil {
		return fmt.Errorf("base backup: %w", err)
	}
	b.log.Info("base backup taken; generating WAL", "from", b.from, "mb", b.cfg.SizeMB)
	// The backup ends with a segment switch: count the size from there.
	genStart, err := currentLSN(ctx, b.c)
	if err != nil {
		return err
	}
	if b.cfg.Backlog {
		// pagemill is down while the WAL accumulates in the slot; the
		// ingest started again below publishes it as large rounds.
		if err := ri.stop(); err != nil {
			return fmt.Errorf("stop the ingest for the backlog: %w", err)
		}
	}
	w := pgbenchWorkload(b.cfg.Scale, 5, false)
	if _, _, err := generateWAL(ctx, b.c, w, walTarget{from: genStart, want: schema.LSN(b.cfg.SizeMB) * 1e6}, b.log); err != nil {
		return err
	}
	if err := b.c.ExecContext(ctx, "SELECT pg_switch_wal()"); err != nil {
		return fmt.Errorf("pg_switch_wal: %w", err)
	}
	if b.to, err = currentLSN(ctx, b.c); err != nil {
		return err
	}
	if b.cfg.Backlog {
		b.log.Info("WAL accumulated in the slot; starting the ingest", "to", b.to)
		if ri, err = b.nats.startIngest(ctx, b.ingestConfig(), prometheus.NewRegistry(), b.log); err != nil {
			return err
		}
		defer ri.stop()
	}
	if err := ri.wait(ctx, 100*time.Millisecond, 2*time.Minute, published(b.to)); err != nil {
		return fmt.Errorf("ingest of the load: %w", err)
	}
	b.log.Info("WAL in JetStream", "from", b.from, "to", b.to, "mb", float64(b.to-b.from)/1e6)
	b.layout = ri.ing.Layout()
	return nil
}

// materialize times the materializer on an empty store: the base backup's
// import, then until every shard's batches are durable (synced and
// acknowledged) at the end of the WAL. It leaves the materializer running.
func (b *materializeBench) materialize(ctx context.Context, dir string) error {
	js, h, err := b.nats.streamsOf(ctx, b.layout, b.scfg)
	if err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	if b.mat, err = b.cfg.openMat(js, h, dir, materialize.Config{ImageEvery: b.cfg.ImageEvery, CachePages: b.cfg.CachePages, ReadCachePages: -1}, reg, b.log); err != nil {
		return err
	}
	b.load = quiesce()
	t0 := time.Now()
	b.mat.start(ctx)
	if err := b.mat.ready(ctx); err != nil {
		return fmt.Errorf("base backup import: %w", err)
	}
	b.importSecs = time.Since(t0).Seconds()
	stopMem := sampleMem(&b.peakMem, 100*time.Millisecond)
	prof, err := startStageProfile(b.cfg.CPUProfile)
	if err != nil {
		stopMem()
		return err
	}
	stopProfile := func() {
		var perr error
		if b.stages, perr = prof.stop(); perr != nil {
			b.log.Warn("CPU by stage unknown", "err", perr)
		}
	}
	stopTrace, err := startTrace(b.cfg.Trace)
	if err != nil {
		stopMem()
		stopProfile()
		return err
	}
	sw := startWatch(syscall.RUSAGE_SELF)
	err = b.mat.waitAll(ctx, b.to, true, 24*time.Hour)
	stopTrace()
	stopMem()
	if err != nil {
		stopProfile()
		return err
	}
	wall, cpu := sw.elapsed()
	b.matSecs, b.matCPU = wall.Seconds(), cpu.Seconds()
	if b.cfg.HeapProfile != "" {
		if err := writeHeapProfile(b.cfg.HeapProfile); err != nil {
			stopProfile()
			return err
		}
	}
	stopProfile()
	b.storeLSM, b.storeVlog, b.storeSegs = storeFiles(dir)
	b.segments, b.packs = b.mat.store.IndexSize()
	if info, err := h.Stream.Info(ctx); err == nil {
		b.streamMsgs, b.streamBytes = info.State.Msgs, info.State.Bytes
	}
	b.gatherMetrics(reg)
	b.log.Info("materialized", "seconds", b.matSecs, "mb_per_s", float64(b.to-b.from)/1e6/b.matSecs)
	return nil
}

// gatherPublishes reads the live ingest's rounds and publish durations.
func (b *materializeBench) gatherPublishes(reg *prometheus.Registry) {
	mfs, err := reg.Gather()
	if err != nil {
		return
	}
	for _, mf := range mfs {
		if mf.GetName() != "pagemill_ingest_publish_duration_seconds" || len(mf.GetMetric()) == 0 {
			continue
		}
		h := mf.GetMetric()[0].GetHistogram()
		b.liveRounds = h.GetSampleCount()
		for i, q := range []float64{0.5, 0.99} {
			for _, bk := range h.GetBucket() {
				if float64(bk.GetCumulativeCount()) >= q*float64(h.GetSampleCount()) {
					b.livePublish[i] = bk.GetUpperBound()
					break
				}
			}
		}
	}
}

// gatherMetrics reads the materializer's counts from its registry.
func (b *materializeBench) gatherMetrics(reg *prometheus.Registry) {
	mfs, err := reg.Gather()
	if err != nil {
		b.log.Warn("materializer metrics", "err", err)
		return
	}
	for _, mf := range mfs {
		if len(mf.GetMetric()) == 0 {
			continue
		}
		switch v := int64(mf.GetMetric()[0].GetCounter().GetValue()); mf.GetName() {
		case "pagemill_materialize_commit_seconds":
			b.commits = mf.GetMetric()[0].GetHistogram().GetSampleCount()
		case "pagemill_materialize_sync_seconds":
			b.syncs = mf.GetMetric()[0].GetHistogram().GetSampleCount()
		case "pagemill_materialize_images_written_total":
			b.images = v
		case "pagemill_materialize_deltas_written_total":
			b.deltas = v
		}
	}
}

// live runs a new ingest and pgbench for --live-seconds, sampling every
// 100 ms the source's LSN and the time until every shard applied it.
func (b *materializeBench) live(ctx context.Context) error {
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ireg := prometheus.NewRegistry()
	ri, err := b.nats.startIngest(lctx, b.ingestConfig(), ireg, b.log)
	if err != nil {
		return err
	}
	defer ri.stop()
	defer b.gatherPublishes(ireg)
	load := make(chan error, 1)
	go func() {
		// The load: eight clients on two threads.
		_, err := b.c.PgbenchContext(lctx, "-T", strconv.Itoa(b.cfg.LiveSeconds), "-c", "8", "-j", "2")
		load <- err
	}()
	lagc := make(chan liveLag, 1024)
	pending := 0
	for running := true; running; {
		select {
		case err := <-load:
			if err != nil {
				return err
			}
			running = false
			continue
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		lsn, err := currentLSN(ctx, b.c)
		if err != nil {
			continue
		}
		sent := time.Now()
		pending++
		go func() {
			wctx, cancel := context.WithTimeout(lctx, time.Minute)
			defer cancel()
			var l liveLag
			done := make(chan error, 1)
			go func() { done <- b.mat.m.WaitAll(wctx, lsn) }()
			// The ingest's positions have no notification: a benchmark may poll.
			for tick := time.NewTicker(time.Millisecond); l.published == 0; {
				select {
				case err := <-done:
					tick.Stop()
					if err != nil {
						lagc <- liveLag{applied: -1}
						return
					}
					l.applied = time.Since(sent)
					st := ri.ing.Status()
					if l.received == 0 && st.ReceivedLSN >= lsn {
						l.received = l.applied
					}
					l.published = l.applied
					lagc <- l
					return
				case <-tick.C:
					st := ri.ing.Status()
					if l.received == 0 && st.ReceivedLSN >= lsn {
						l.received = time.Since(sent)
					}
					if st.PublishedLSN >= lsn {
						l.published = time.Since(sent)
						tick.Stop()
					}
				}
			}
			if err := <-done; err != nil {
				lagc <- liveLag{applied: -1}
				return
			}
			l.applied = time.Since(sent)
			if l.received == 0 {
				l.received = l.published
			}
			lagc <- l
		}()
	}
	for ; pending > 0; pending-- {
		if l := <-lagc; l.applied >= 0 {
			b.lags = append(b.lags, l.applied)
			b.lagReceived = append(b.lagReceived, l.received)
			b.lagPublished = append(b.lagPublished, l.published)
		}
	}
	for _, ds := range [][]time.Duration{b.lags, b.lagReceived, b.lagPublished} {
		sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	}
	return nil
}

// liveLag is one live sample: from reading the source's LSN until the
// ingest received it, JetStream acknowledged its round, and every shard
// applied it.
type liveLag struct{ received, published, applied time.Duration }

func (b *materializeBench) report() *Report {
	// Both replay the same records; the bytes after PostgreSQL's "redo
	// done at" are the empty rest of switched segments.
	pg := b.pg.redo
	mb := float64(pg.done-pg.start) / 1e6
	pgSecs := pg.elapsed.Seconds()
	rep := &Report{}
	rep.Linef("pgbench WAL %s .. %s (records up to %s): %.1f MB (scale %d, %d shards; load average before: %s)",
		b.from, b.to, pg.done, mb, b.cfg.Scale, b.cfg.Shards, b.load)
	t := &Table{LabelWidth: 58, Columns: []Column{{"seconds", 9, 2}, {"MB/s", 9, 1}, {"CPU s", 9, 2}}}
	t.Rows = append(t.Rows,
		Row{Name: "pagemill materialize (JetStream -> Badger, durable)", Values: []Value{Num(b.matSecs), Rate(mb, b.matSecs), Num(b.matCPU)}},
		Row{Name: fmt.Sprintf("PostgreSQL crash recovery (%s .. %s)", pg.start, pg.done), Values: []Value{Num(pgSecs), Rate(mb, pgSecs), Num(pg.cpu.Seconds())}})
	rep.Add(Section{Table: t})
	ratio := (mb / b.matSecs) / (mb / pgSecs)
	rep.Linef("ratio pagemill/PostgreSQL (MB/s): %.2f", ratio)
	if len(b.runs) > 1 {
		rep.Linef("materialize runs on the same stream (s): %s; ratio of the fastest %.2f", secondsList(b.runs), pgSecs/slices.Min(b.runs))
		rep.Figure("ratio_fastest_run", pgSecs/slices.Min(b.runs))
	}
	if b.fixture != "" {
		rep.Linef("the WAL, stream and crashed cluster come from the fixture in %s", b.fixture)
	}
	if b.cfg.Backlog {
		rep.Linef("backlog case: the WAL accumulated in the slot while the ingest was stopped, then was published as large rounds")
	}
	rep.Figure("ratio_pagemill_postgres_mb_per_s", ratio)
	rep.Figure("peak_rss_mib", mib(b.peakMem.hwm))
	rep.Figure("materialize_mb_per_s", mb/b.matSecs)
	rep.Figure("anon_peak_mib", mib(b.peakMem.anon))
	rep.Figure("file_peak_mib", mib(b.peakMem.file))
	rep.Linef("peak RSS during materialize (VmHWM, whole process incl. embedded NATS): %.0f MiB (Go heap soft limit %s)",
		mib(b.peakMem.hwm), memLimitText(b.cfg.memLimit))
	rep.Linef("  of which, sampled peaks: anonymous %.0f MiB (Go heap in use %.0f MiB, Go runtime total %.0f MiB), file-backed (mmapped Badger files) %.0f MiB",
		mib(b.peakMem.anon), mib(b.peakMem.heapInuse), mib(b.peakMem.goSys), mib(b.peakMem.file))
	if len(b.stages) > 0 {
		st := &Table{LabelWidth: 58, Columns: []Column{{"CPU s", 9, 2}, {"share %", 9, 0}}}
		total := 0.0
		for _, x := range b.stages {
			total += x.Seconds
		}
		for _, x := range b.stages {
			st.Rows = append(st.Rows, Row{Name: "CPU of stage " + x.Stage, Values: []Value{Num(x.Seconds), Num(100 * x.Seconds / total)}})
			rep.Figure("cpu_s_"+x.Stage, x.Seconds)
		}
		rep.Add(Section{Table: st})
	}
	b.reportHistoryReads(rep)
	if b.streamMsgs > 0 {
		rep.Linef("stream: %d messages, %.0f bytes on average", b.streamMsgs, float64(b.streamBytes)/float64(b.streamMsgs))
	}
	rep.Linef("page versions written: %d full images (restored FPIs, every image interval and long chains evicted), %d records as deltas, in %d shard commits, %d syncs",
		b.images, b.deltas, b.commits, b.syncs)
	rep.Linef("base backup import: %.2f s; page store after: LSM %.0f MiB, value log %.0f MiB, segment files %.0f MiB; page index %d segments, %d packs",
		b.importSecs, mib(b.storeLSM), mib(b.storeVlog), mib(b.storeSegs), b.segments, b.packs)
	if n := len(b.lags); n > 0 {
		p50, p99, maxLag := b.lags[n/2], b.lags[min(n-1, n*99/100)], b.lags[n-1]
		rep.Linef("live lag while pgbench -c 8 -j 2 runs (%d samples, source LSN -> applied on every shard): p50 %s, p99 %s, max %s",
			n, p50.Round(time.Millisecond), p99.Round(time.Millisecond), maxLag.Round(time.Millisecond))
		rep.Figure("live_lag_p99_seconds", p99.Seconds())
		q := func(ds []time.Duration) string {
			return fmt.Sprintf("p50 %s, p99 %s", ds[n/2].Round(time.Millisecond), ds[min(n-1, n*99/100)].Round(time.Millisecond))
		}
		rep.Linef("  of which: source LSN -> received by ingest %s; -> round acknowledged by JetStream %s", q(b.lagReceived), q(b.lagPublished))
		rep.Linef("  the ingest published %d rounds; a publish took p50 <= %.1f ms, p99 <= %.1f ms", b.liveRounds, b.livePublish[0]*1e3, b.livePublish[1]*1e3)
	}
	return rep
}

// secondsList formats durations in seconds, comma-separated.
func secondsList(secs []float64) string {
	parts := make([]string, len(secs))
	for i, x := range secs {
		parts[i] = strconv.FormatFloat(x, 'f', 2, 64)
	}
	return strings.Join(parts, ", ")
}

// storeFiles sums the page store's table (.sst), value log (.vlog) and
// segment (.seg) files in dir. Badger's own Size is refreshed once a minute, so right
// after a run it still says what the store had at its start.
func storeFiles(dir string) (lsm, vlog, segs int64) {
	_ = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return nil
		}
		switch filepath.Ext(path) {
		case ".sst":
			lsm += info.Size()
		case ".vlog":
			vlog += info.Size()
		case ".seg":
			segs += info.Size()
		}
		return nil
	})
	return lsm, vlog, segs
}
