package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pagemill/pagemill/ingest"
	"github.com/pagemill/pagemill/internal/scratchpg"
	"github.com/pagemill/pagemill/ops"
	"github.com/pagemill/pagemill/schema"
	"github.com/pagemill/pagemill/streams"
)

// benchIngestConfig is what `bench ingest` measures with.
type benchIngestConfig struct {
	SizeMB         int           // WAL to generate while pagemill is stopped, in 1e6 bytes
	Shards         int           // streams.Config.Shards
	RoundBytes     int           // ingest.Config.RoundBytes
	RoundDelay     time.Duration // ingest.Config.RoundDelay
	Scale          int           // pgbench -i -s; 0 derives it from SizeMB
	PgbenchSeconds int           // -T of each pgbench loop; 0 derives it from SizeMB
	Dir            string        // parent of the NATS store and the pg_receivewal directories
	ReceiveWAL     []string      // pg_receivewal variants to time: "default", "synchronous", "no-sync"
	Runs           int           // pg_receivewal runs per variant; the best is reported
	CPUProfile     string        // write a CPU profile of the catch-up here
}

// receivewalVariants are the pg_receivewal runs `bench ingest` can time,
// with the flag each adds and its row label.
var receivewalVariants = map[string]struct{ flag, label string }{
	"default":     {"", "pg_receivewal (fsync per segment)"},
	"synchronous": {"--synchronous", "pg_receivewal --synchronous"},
	"no-sync":     {"--no-sync", "pg_receivewal --no-sync"},
}

// benchIngest is `pagemill bench ingest`: catch-up throughput of the
// ingest (replication stream -> decode -> atomic rounds into an embedded
// JetStream with SyncAlways) beside pg_receivewal writing the same WAL to
// disk, on a scratch PostgreSQL 15 cluster.
//
// The ingest takes its base backup of an empty database first and is
// stopped; pgbench then writes --size-mb of WAL, which the slot retains;
// the timed run is the restart, from Run until the flush position reaches
// the end of that WAL.
func benchIngest(ctx context.Context, env Env, args []string) int {
	fs := newFlagSet(env, "bench ingest", "[--size-mb 1000] [--shards 8] [--round-bytes N] [--round-delay D]")
	var cfg benchIngestConfig
	fs.IntVar(&cfg.SizeMB, "size-mb", 1000, "WAL to generate with pgbench while pagemill is stopped (MB)")
	fs.IntVar(&cfg.Shards, "shards", streams.DefaultShards, "shards (WAL subjects) of the stream")
	fs.IntVar(&cfg.RoundBytes, "round-bytes", 4<<20, "publish a round once it holds this much WAL (ingest's RoundBytes)")
	fs.DurationVar(&cfg.RoundDelay, "round-delay", 20*time.Millisecond, "or once its first record waited this long (ingest's RoundDelay)")
	fs.IntVar(&cfg.Scale, "scale", 0, "pgbench -i scale (0: size-mb/50, from 1 to 20)")
	fs.IntVar(&cfg.PgbenchSeconds, "pgbench-seconds", 0, "-T of each pgbench round (0: size-mb/100, from 1 to 10)")
	fs.StringVar(&cfg.Dir, "dir", "", "directory for the NATS store and pg_receivewal's output (default $TMPDIR)")
	receivewal := fs.String("receivewal", "default,synchronous,no-sync", "pg_receivewal variants to time (default, synchronous, no-sync; empty: none)")
	fs.IntVar(&cfg.Runs, "runs", 3, "pg_receivewal runs per variant; the best is reported (the ingest runs once)")
	fs.StringVar(&cfg.CPUProfile, "cpuprofile", "", "write a CPU profile of the timed catch-up to this file")
	logLevel := fs.String("log-level", "info", "debug, info, warn, error")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 || cfg.SizeMB < 1 || cfg.Shards < 1 || cfg.Shards > streams.MaxShards || cfg.RoundBytes < 1 || cfg.RoundDelay <= 0 || cfg.Runs < 1 {
		fs.Usage()
		return 2
	}
	for _, v := range strings.Split(*receivewal, ",") {
		if v = strings.TrimSpace(v); v == "" {
			continue
		}
		if _, ok := receivewalVariants[v]; !ok {
			fmt.Fprintf(env.Stderr, "pagemill bench ingest: unknown --receivewal variant %q\n", v)
			return 2
		}
		cfg.ReceiveWAL = append(cfg.ReceiveWAL, v)
	}
	log, err := ops.NewLogger(env.Stderr, ops.LogConfig{Level: *logLevel})
	if err != nil {
		fmt.Fprintf(env.Stderr, "pagemill bench ingest: %v\n", err)
		return 2
	}
	res, err := runBenchIngest(ctx, cfg, log)
	if err != nil {
		log.Error("bench ingest failed", "err", err)
		return 1
	}
	res.print(env.Stdout)
	return 0
}

// benchIngestRow is one timed run.
type benchIngestRow struct {
	name    string
	bytes   int64 // WAL bytes covered
	elapsed time.Duration
	records int64         // 0: not known (pg_receivewal does not decode)
	cpu     time.Duration // user+system CPU of the process (pagemill: this one, with its embedded NATS server)
	load    string
}

// benchIngestResult is everything `bench ingest` prints.
type benchIngestResult struct {
	cfg          benchIngestConfig
	stop, target schema.LSN
	records      int64
	rounds       int64
	eventBytes   int64
	latency      histogramSummary
	rows         []benchIngestRow
}

func (r *benchIngestResult) print(w io.Writer) {
	mb := float64(r.target-r.stop) / 1e6
	fmt.Fprintf(w, "WAL %s..%s: %.1f MB, %d records; shards %d, round-bytes %d, round-delay %s\n\n",
		r.stop, r.target, mb, r.records, r.cfg.Shards, r.cfg.RoundBytes, r.cfg.RoundDelay)
	fmt.Fprintf(w, "%-48s %8s %10s %10s %12s %9s  %s\n", "", "MB", "seconds", "MB/s", "records/s", "CPU s", "load average (1/5/15 min, at start)")
	for _, row := range r.rows {
		s := row.elapsed.Seconds()
		recs := "-"
		if row.records > 0 {
			recs = strconv.FormatFloat(float64(row.records)/s, 'f', 0, 64)
		}
		fmt.Fprintf(w, "%-48s %8.1f %10.3f %10.1f %12s %9.2f  %s\n", row.name, float64(row.bytes)/1e6, s, float64(row.bytes)/1e6/s, recs, row.cpu.Seconds(), row.load)
	}
	fmt.Fprintln(w)
	if r.rounds > 0 {
		fmt.Fprintf(w, "pagemill: %d rounds, %.2f MB of WAL and %.0f records per round on average; %.1f MB of events acknowledged\n",
			r.rounds, mb/float64(r.rounds), float64(r.records)/float64(r.rounds), float64(r.eventBytes)/1e6)
	}
	if l := r.latency; l.count > 0 {
		fmt.Fprintf(w, "publish latency per round (%d rounds): mean %s, p50 %s, p90 %s, p99 %s (estimated from histogram buckets)\n",
			l.count, fmtMillis(l.mean), fmtMillis(l.p50), fmtMillis(l.p90), fmtMillis(l.p99))
	}
}

func fmtMillis(seconds float64) string {
	if math.IsNaN(seconds) || math.IsInf(seconds, 0) {
		return "?"
	}
	return strconv.FormatFloat(seconds*1000, 'f', 1, 64) + " ms"
}

func runBenchIngest(ctx context.Context, cfg benchIngestConfig, log *slog.Logger) (*benchIngestResult, error) {
	if cfg.Scale == 0 {
		cfg.Scale = min(20, max(1, cfg.SizeMB/50))
	}
	if cfg.PgbenchSeconds == 0 {
		cfg.PgbenchSeconds = min(10, max(1, cfg.SizeMB/100))
	}
	tmp, err := os.MkdirTemp(cfg.Dir, "pagemill-bench-ingest-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)

	log.Info("starting a scratch PostgreSQL 15 cluster")
	c, err := scratchpg.New(ctx, scratchpg.Options{ExtraConf: map[string]string{
		"max_wal_size":       "8GB",
		"checkpoint_timeout": "30min",
		"shared_buffers":     "256MB",
		// pg_receivewal runs after the ingest has moved its slot on; this
		// keeps the WAL for it.
		"wal_keep_size": strconv.Itoa(max(1024, 2*cfg.SizeMB)) + "MB",
	}})
	if err != nil {
		return nil, err
	}
	defer c.Close()
	// The slot first: it reserves WAL from here on, before the base backup.
	if _, err := c.CreatePhysicalSlotContext(ctx, "pagemill"); err != nil {
		return nil, err
	}
	icfg := ingest.Config{
		Source:     c.ConnString("postgres"),
		Slot:       "pagemill",
		Streams:    streams.Config{Shards: cfg.Shards, Replicas: 1},
		RoundBytes: cfg.RoundBytes,
		RoundDelay: cfg.RoundDelay,
	}
	natsDir := filepath.Join(tmp, "nats")

	// 1. First start on the empty database: base backup, catch up, stop.
	log.Info("first start of the ingest: base backup of the empty database")
	var stop schema.LSN
	var timeline schema.TimeLineID
	err = withIngest(ctx, natsDir, icfg, prometheus.NewRegistry(), log, func(ctx context.Context, ing *ingest.Ingester, runErr <-chan error) error {
		return waitIngest(ctx, ing, runErr, 50*time.Millisecond, 5*time.Minute, func(st ingest.Status) (bool, error) {
			if !st.Connected || st.BaseBackup == nil || !st.BaseBackup.Completed {
				return false, nil
			}
			cur, err := currentLSN(ctx, c)
			return err == nil && st.PublishedLSN >= cur, err
		})
	}, func(st ingest.Status) { stop, timeline = st.PublishedLSN, st.Timeline })
	if err != nil {
		return nil, fmt.Errorf("first start: %w", err)
	}
	log.Info("ingest caught up and stopped", "stop_lsn", stop, "timeline", timeline)

	// 2. WAL while the ingest is stopped; the slot retains it.
	target, err := generateWAL(ctx, c, cfg, stop, log)
	if err != nil {
		return nil, err
	}
	res := &benchIngestResult{cfg: cfg, stop: stop, target: target}

	// 3. The timed catch-up.
	syscall.Sync()
	reg := prometheus.NewRegistry()
	row := benchIngestRow{name: "pagemill ingest -> JetStream (SyncAlways)", bytes: int64(target - stop), load: loadAverage()}
	log.Info("restarting the ingest to catch up", "from", stop, "to", target, "mb", float64(target-stop)/1e6, "load_average", row.load)
	var m ingestMetrics
	err = withIngest(ctx, natsDir, icfg, reg, log, func(ctx context.Context, ing *ingest.Ingester, runErr <-chan error) error {
		if cfg.CPUProfile != "" {
			f, err := os.Create(cfg.CPUProfile)
			if err != nil {
				return err
			}
			defer f.Close()
			if err := pprof.StartCPUProfile(f); err != nil {
				return err
			}
			defer pprof.StopCPUProfile()
		}
		t0, cpu0 := time.Now(), cpuTime(syscall.RUSAGE_SELF)
		lastLog, lastLSN := t0, stop
		err := waitIngest(ctx, ing, runErr, 2*time.Millisecond, 2*time.Minute, func(st ingest.Status) (bool, error) {
			if st.PublishedLSN >= target {
				return true, nil
			}
			if now := time.Now(); now.Sub(lastLog) >= 5*time.Second && st.PublishedLSN > stop {
				if st.PublishedLSN > lastLSN {
					log.Info("catching up", "published_lsn", st.PublishedLSN, "done_mb", float64(st.PublishedLSN-stop)/1e6,
						"mb_per_s", float64(st.PublishedLSN-lastLSN)/1e6/now.Sub(lastLog).Seconds(), "load_average", loadAverage())
				}
				lastLog, lastLSN = now, st.PublishedLSN
			}
			return false, nil
		})
		row.elapsed, row.cpu = time.Since(t0), cpuTime(syscall.RUSAGE_SELF)-cpu0
		if err != nil {
			return err
		}
		// Now, before rounds past target (the server's periodic records)
		// are counted.
		m, err = gatherIngestMetrics(reg)
		return err
	}, nil)
	if err != nil {
		return nil, fmt.Errorf("catch-up: %w", err)
	}
	res.records, res.rounds, res.eventBytes, res.latency = m.records, m.rounds, m.bytes, m.latency
	row.records = m.records
	res.rows = append(res.rows, row)
	log.Info("ingest caught up", "seconds", row.elapsed.Seconds(), "mb_per_s", float64(row.bytes)/1e6/row.elapsed.Seconds(),
		"records", m.records, "rounds", m.rounds, "load_average", loadAverage())

	// 4. pg_receivewal on the same WAL, from the stop position's segment.
	segSize := uint32(c.WALSegmentSize())
	for _, v := range cfg.ReceiveWAL {
		var best benchIngestRow
		for i := 0; i < cfg.Runs; i++ {
			row, err := timeReceiveWAL(ctx, c, tmp, v, timeline, stop, target, segSize, log)
			if err != nil {
				return nil, err
			}
			if i == 0 || row.elapsed < best.elapsed {
				best = row
			}
		}
		if cfg.Runs > 1 {
			best.name += fmt.Sprintf(" (best of %d)", cfg.Runs)
		}
		res.rows = append(res.rows, best)
	}
	return res, nil
}

// withIngest starts the embedded NATS server on dir and an ingester, runs
// f while it runs, then stops both and hands the final status to done.
func withIngest(ctx context.Context, dir string, cfg ingest.Config, reg *prometheus.Registry, log *slog.Logger,
	f func(context.Context, *ingest.Ingester, <-chan error) error, done func(ingest.Status)) (err error) {
	sctx, scancel := context.WithTimeout(ctx, 30*time.Second)
	emb, err := streams.StartEmbedded(sctx, streams.EmbeddedConfig{Dir: dir}, log)
	scancel()
	if err != nil {
		return err
	}
	defer emb.Shutdown()
	nc, err := emb.Connect()
	if err != nil {
		return err
	}
	defer nc.Close()
	ing, err := ingest.New(cfg, nc, reg, log)
	if err != nil {
		return err
	}
	rctx, cancel := context.WithCancel(ctx)
	runErr := make(chan error, 1)
	go func() { runErr <- ing.Run(rctx) }()
	err = f(ctx, ing, runErr)
	cancel()
	if rerr := <-runErr; rerr != nil && err == nil {
		err = rerr
	}
	if done != nil {
		done(ing.Status())
	}
	return err
}

// waitIngest polls the ingest's status every poll until ok says so, Run ends, ctx
// ends, or nothing was published for stall.
func waitIngest(ctx context.Context, ing *ingest.Ingester, runErr <-chan error, poll, stall time.Duration, ok func(ingest.Status) (bool, error)) error {
	t := time.NewTicker(poll)
	defer t.Stop()
	var last schema.LSN
	lastChange := time.Now()
	for {
		st := ing.Status()
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
		case err := <-runErr:
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

func currentLSN(ctx context.Context, c interface {
	CurrentWALLSNContext(context.Context) (string, error)
}) (schema.LSN, error) {
	s, err := c.CurrentWALLSNContext(ctx)
	if err != nil {
		return 0, err
	}
	return schema.ParseLSN(strings.TrimSpace(s))
}

// generateWAL runs pgbench -i, then pgbench -T rounds each followed by a
// checkpoint (for first-touch full-page images, as in production), until
// the WAL has grown by cfg.SizeMB since from. It returns the WAL's end.
func generateWAL(ctx context.Context, c *scratchpg.Cluster, cfg benchIngestConfig, from schema.LSN, log *slog.Logger) (schema.LSN, error) {
	want := schema.LSN(cfg.SizeMB) * 1e6
	t0 := time.Now()
	log.Info("generating WAL with pgbench", "mb", cfg.SizeMB, "scale", cfg.Scale)
	if _, err := c.PgbenchContext(ctx, "-i", "-s", strconv.Itoa(cfg.Scale), "-q"); err != nil {
		return 0, err
	}
	for {
		cur, err := currentLSN(ctx, c)
		if err != nil {
			return 0, err
		}
		log.Info("WAL generated so far", "lsn", cur, "mb", float64(cur-from)/1e6)
		if cur-from >= want {
			log.Info("WAL generated", "from", from, "to", cur, "mb", float64(cur-from)/1e6, "seconds", time.Since(t0).Seconds())
			return cur, nil
		}
		if _, err := c.PgbenchContext(ctx, "-T", strconv.Itoa(cfg.PgbenchSeconds), "-c", "4", "-j", "2"); err != nil {
			return 0, err
		}
		if err := c.CheckpointContext(ctx); err != nil {
			return 0, err
		}
	}
}

// timeReceiveWAL times pg_receivewal writing [start of stop's segment,
// target) into a fresh directory. PostgreSQL 15's pg_receivewal has no
// --startpos: it starts after the newest complete segment in its
// directory (else at the slot's restart_lsn or the server's position), so
// a sparse placeholder for the segment before stop's makes it start at
// stop's segment.
func timeReceiveWAL(ctx context.Context, c *scratchpg.Cluster, parent, variant string, tli schema.TimeLineID, stop, target schema.LSN, segSize uint32, log *slog.Logger) (benchIngestRow, error) {
	v := receivewalVariants[variant]
	startSeg := stop.SegNo(segSize)
	start := schema.SegmentStart(startSeg, segSize)
	row := benchIngestRow{name: v.label, bytes: int64(target - start)}
	dir, err := os.MkdirTemp(parent, "receivewal-")
	if err != nil {
		return row, err
	}
	defer os.RemoveAll(dir)
	placeholder := filepath.Join(dir, schema.XLogFileName(tli, startSeg-1, segSize))
	if err := os.WriteFile(placeholder, nil, 0o600); err != nil {
		return row, err
	}
	if err := os.Truncate(placeholder, int64(segSize)); err != nil {
		return row, err
	}
	// It stops once it has received past --endpos (endpos < received), so
	// target-1 ends it at target rather than at the next WAL the server
	// writes.
	args := []string{"-D", dir, "--endpos", (target - 1).Short(), "--no-loop", "-h", "127.0.0.1", "-p", strconv.Itoa(c.Port()), "-U", "postgres"}
	if v.flag != "" {
		args = append(args, v.flag)
	}
	syscall.Sync()
	row.load = loadAverage()
	log.Info("timing pg_receivewal", "args", strings.Join(args, " "), "from", start, "to", target, "load_average", row.load)
	cmd := c.Command(ctx, "pg_receivewal", args...)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	t0, cpu0 := time.Now(), cpuTime(syscall.RUSAGE_CHILDREN)
	err = cmd.Run()
	row.elapsed, row.cpu = time.Since(t0), cpuTime(syscall.RUSAGE_CHILDREN)-cpu0
	if err != nil {
		return row, fmt.Errorf("pg_receivewal %s: %w\n%s", strings.Join(args, " "), err, out.String())
	}
	// It must have written the range: the segment holding the last byte
	// before target, complete or partial.
	last := schema.XLogFileName(tli, (target - 1).SegNo(segSize), segSize)
	if _, err := os.Stat(filepath.Join(dir, last)); err != nil {
		if _, err2 := os.Stat(filepath.Join(dir, last+".partial")); err2 != nil {
			return row, fmt.Errorf("pg_receivewal %s left no %s: %v\n%s", variant, last, err, out.String())
		}
	}
	log.Info("pg_receivewal done", "variant", variant, "seconds", row.elapsed.Seconds(),
		"mb_per_s", float64(row.bytes)/1e6/row.elapsed.Seconds(), "load_average", loadAverage())
	return row, nil
}

// cpuTime returns the user and system CPU time of this process
// (RUSAGE_SELF) or of its waited-for children (RUSAGE_CHILDREN).
func cpuTime(who int) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(who, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// loadAverage returns the 1, 5 and 15 minute load averages, or "?".
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// histogramSummary summarises a Prometheus histogram.
type histogramSummary struct {
	count         uint64
	mean          float64 // seconds
	p50, p90, p99 float64 // seconds, estimated from the buckets
}

// histogramBucket is one cumulative bucket: count observations ≤ upper.
type histogramBucket struct {
	upper float64
	count uint64
}

// bucketQuantile estimates quantile q from cumulative buckets the way
// PromQL's histogram_quantile does: linear interpolation inside the bucket
// holding the rank (from 0 for the first bucket); a rank beyond the last
// finite bucket answers that bucket's upper bound.
func bucketQuantile(q float64, buckets []histogramBucket, total uint64) float64 {
	if total == 0 || len(buckets) == 0 {
		return math.NaN()
	}
	sort.Slice(buckets, func(i, j int) bool { return buckets[i].upper < buckets[j].upper })
	rank := q * float64(total)
	lower, below := 0.0, uint64(0)
	for _, b := range buckets {
		if float64(b.count) >= rank {
			if math.IsInf(b.upper, 1) {
				return lower
			}
			in := b.count - below
			if in == 0 {
				return b.upper
			}
			return lower + (b.upper-lower)*(rank-float64(below))/float64(in)
		}
		lower, below = b.upper, b.count
	}
	return lower
}

type ingestMetrics struct {
	records, rounds, bytes int64
	latency                histogramSummary
}

// gatherIngestMetrics reads the ingest's counters and publish-latency
// histogram from the registry it was given.
func gatherIngestMetrics(reg *prometheus.Registry) (ingestMetrics, error) {
	var m ingestMetrics
	mfs, err := reg.Gather()
	if err != nil {
		return m, err
	}
	for _, mf := range mfs {
		if len(mf.GetMetric()) == 0 {
			continue
		}
		pm := mf.GetMetric()[0]
		switch mf.GetName() {
		case "pagemill_ingest_published_records_total":
			m.records = int64(pm.GetCounter().GetValue())
		case "pagemill_ingest_published_rounds_total":
			m.rounds = int64(pm.GetCounter().GetValue())
		case "pagemill_ingest_published_bytes_total":
			m.bytes = int64(pm.GetCounter().GetValue())
		case "pagemill_ingest_publish_duration_seconds":
			h := pm.GetHistogram()
			var buckets []histogramBucket
			for _, b := range h.GetBucket() {
				buckets = append(buckets, histogramBucket{upper: b.GetUpperBound(), count: b.GetCumulativeCount()})
			}
			n := h.GetSampleCount()
			buckets = append(buckets, histogramBucket{upper: math.Inf(1), count: n})
			m.latency = histogramSummary{count: n}
			if n > 0 {
				m.latency.mean = h.GetSampleSum() / float64(n)
				m.latency.p50 = bucketQuantile(0.5, buckets, n)
				m.latency.p90 = bucketQuantile(0.9, buckets, n)
				m.latency.p99 = bucketQuantile(0.99, buckets, n)
			}
		}
	}
	return m, nil
}
