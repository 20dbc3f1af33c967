package bench

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pagemill/pagemill/ingest"
	"github.com/pagemill/pagemill/internal/scratchpg"
	"github.com/pagemill/pagemill/schema"
	"github.com/pagemill/pagemill/streams"
)

// receivewalVariant is a pg_receivewal run `ingest` can time: "default",
// "synchronous" or "no-sync", with the flag it adds and its row's name.
func receivewalVariant(name string) (flag, label string, ok bool) {
	switch name {
	case "default":
		return "", "pg_receivewal (fsync per segment)", true
	case "synchronous":
		return "--synchronous", "pg_receivewal --synchronous", true
	case "no-sync":
		return "--no-sync", "pg_receivewal --no-sync", true
	}
	return "", "", false
}

// ingestRow is one timed run.
type ingestRow struct {
	name    string
	bytes   int64 // WAL bytes covered
	elapsed time.Duration
	records int64         // 0: not known (pg_receivewal does not decode)
	cpu     time.Duration // user+system CPU of the process (pagemill: this one, with its embedded NATS server)
	load    string
}

// ingestBench is one run of `ingest`: its cluster and scratch directory,
// the slot's WAL while pagemill was stopped (stop..target), and what was
// measured.
type ingestBench struct {
	cfg          ingestConfig
	log          *slog.Logger
	c            *scratchpg.Cluster
	tmp          string
	icfg         ingest.Config
	stop, target schema.LSN
	timeline     schema.TimeLineID
	metrics      ingestMetrics
	rows         []ingestRow
}

// Run is ingest's benchmark: catch-up throughput of the ingest
// (replication stream -> decode -> atomic rounds into an embedded
// JetStream with SyncAlways) beside pg_receivewal writing the same WAL to
// disk, on a scratch PostgreSQL 15 cluster. The ingest takes its base
// backup of an empty database first and is stopped; pgbench then writes
// --size-mb of WAL, which the slot retains; the timed run is the restart,
// from Run until the published position reaches the end of that WAL.
func (cfg *ingestConfig) Run(ctx context.Context, env Env) (*Report, error) {
	variants := strings.FieldsFunc(cfg.ReceiveWAL, func(r rune) bool { return r == ',' || r == ' ' })
	for _, v := range variants {
		if _, _, ok := receivewalVariant(v); !ok {
			return nil, usagef("unknown --receivewal variant %q", v)
		}
	}
	if cfg.SizeMB < 1 || cfg.Shards < 1 || cfg.Shards > streams.MaxShards || cfg.RoundBytes < 1 || cfg.Runs < 1 {
		return nil, usagef("--size-mb, --shards (at most %d), --round-bytes and --runs must be positive", streams.MaxShards)
	}
	if cfg.Scale == 0 {
		cfg.Scale = min(20, max(1, cfg.SizeMB/50))
	}
	if cfg.PgbenchSeconds == 0 {
		cfg.PgbenchSeconds = min(10, max(1, cfg.SizeMB/100))
	}
	b := &ingestBench{cfg: *cfg, log: env.Log}
	var err error
	if b.tmp, err = scratchDir(env, "ingest"); err != nil {
		return nil, err
	}
	defer os.RemoveAll(b.tmp)
	// pg_receivewal runs after the ingest has moved its slot on:
	// wal_keep_size keeps the WAL for it.
	if b.c, err = startCluster(ctx, clusterConf(8192, map[string]string{"wal_keep_size": strconv.Itoa(max(1024, 2*cfg.SizeMB)) + "MB"}), env.Log); err != nil {
		return nil, err
	}
	defer closeCluster(b.c, env.Log)
	if err := b.run(ctx, variants); err != nil {
		return nil, err
	}
	return b.report(), nil
}

// run: the ingest's first start on the empty database (base backup,
// catch up, stop); WAL while it is stopped, which the slot retains; the
// timed restart until it caught up; pg_receivewal on the same WAL.
func (b *ingestBench) run(ctx context.Context, variants []string) error {
	// The slot first: it reserves WAL from here on, before the base backup.
	if _, err := b.c.CreatePhysicalSlotContext(ctx, "pagemill"); err != nil {
		return fmt.Errorf("slot: %w", err)
	}
	b.icfg = ingest.Config{
		Source:        b.c.ConnString("postgres"),
		Slot:          "pagemill",
		Streams:       streams.Config{Shards: b.cfg.Shards, Replicas: 1},
		RoundBytes:    b.cfg.RoundBytes,
		RoundInterval: b.cfg.RoundInterval,
	}
	if err := b.firstStart(ctx); err != nil {
		return fmt.Errorf("first start: %w", err)
	}
	w := pgbenchWorkload(b.cfg.Scale, b.cfg.PgbenchSeconds, true)
	b.log.Info("generating WAL with pgbench", "mb", b.cfg.SizeMB, "scale", b.cfg.Scale)
	if err := w.setup(ctx, b.c); err != nil {
		return err
	}
	var err error
	if b.target, _, err = generateWAL(ctx, b.c, w, walTarget{from: b.stop, want: schema.LSN(b.cfg.SizeMB) * 1e6}, b.log); err != nil {
		return err
	}
	if err := b.catchUp(ctx); err != nil {
		return fmt.Errorf("catch-up: %w", err)
	}
	for _, v := range variants {
		row, err := best(b.cfg.Runs, func(int) (ingestRow, time.Duration, error) {
			r, err := b.timeReceiveWAL(ctx, v)
			return r, r.elapsed, err
		})
		if err != nil {
			return err
		}
		if b.cfg.Runs > 1 {
			row.name += fmt.Sprintf(" (best of %d)", b.cfg.Runs)
		}
		b.rows = append(b.rows, row)
	}
	return nil
}

// withIngest starts an embedded NATS server on the scratch directory's
// store and an ingest, runs f while it runs, stops both and returns the
// ingest's final status.
func (b *ingestBench) withIngest(ctx context.Context, reg *prometheus.Registry, f func(*runningIngest) error) (ingest.Status, error) {
	n, err := startNATS(ctx, filepath.Join(b.tmp, "nats"), 0, b.log)
	if err != nil {
		return ingest.Status{}, err
	}
	defer n.close()
	ri, err := n.startIngest(ctx, b.icfg, reg, b.log)
	if err != nil {
		return ingest.Status{}, err
	}
	err = f(ri)
	if rerr := ri.stop(); rerr != nil && err == nil {
		err = rerr
	}
	return ri.ing.Status(), err
}

// firstStart runs the ingest on the empty database until it took its
// base backup and published the server's WAL position, and stops it.
func (b *ingestBench) firstStart(ctx context.Context) error {
	b.log.Info("first start of the ingest: base backup of the empty database")
	st, err := b.withIngest(ctx, prometheus.NewRegistry(), func(ri *runningIngest) error {
		return ri.wait(ctx, 50*time.Millisecond, 5*time.Minute, func(st ingest.Status) (bool, error) {
			if !st.Connected || st.BaseBackup == nil || !st.BaseBackup.Completed {
				return false, nil
			}
			cur, err := currentLSN(ctx, b.c)
			return err == nil && st.PublishedLSN >= cur, err
		})
	})
	b.stop, b.timeline = st.PublishedLSN, st.Timeline
	if err == nil {
		b.log.Info("ingest caught up and stopped", "stop_lsn", b.stop, "timeline", b.timeline)
	}
	return err
}

// catchUp times the restarted ingest until it published the target.
func (b *ingestBench) catchUp(ctx context.Context) error {
	reg := prometheus.NewRegistry()
	row := ingestRow{name: "pagemill ingest -> JetStream (SyncAlways)", bytes: int64(b.target - b.stop)}
	row.load = quiesce()
	b.log.Info("restarting the ingest to catch up", "from", b.stop, "to", b.target, "mb", float64(row.bytes)/1e6, "load_average", row.load)
	_, err := b.withIngest(ctx, reg, func(ri *runningIngest) error {
		stopProfile, err := startCPUProfile(b.cfg.CPUProfile)
		if err != nil {
			return err
		}
		defer stopProfile()
		sw := startWatch(syscall.RUSAGE_SELF)
		lastLog, lastLSN := sw.t0, b.stop
		err = ri.wait(ctx, 2*time.Millisecond, 2*time.Minute, func(st ingest.Status) (bool, error) {
			if st.PublishedLSN >= b.target {
				return true, nil
			}
			if now := time.Now(); now.Sub(lastLog) >= 5*time.Second && st.PublishedLSN > b.stop {
				if st.PublishedLSN > lastLSN {
					b.log.Info("catching up", "published_lsn", st.PublishedLSN, "done_mb", float64(st.PublishedLSN-b.stop)/1e6,
						"mb_per_s", float64(st.PublishedLSN-lastLSN)/1e6/now.Sub(lastLog).Seconds(), "load_average", loadAverage())
				}
				lastLog, lastLSN = now, st.PublishedLSN
			}
			return false, nil
		})
		row.elapsed, row.cpu = sw.elapsed()
		if err != nil {
			return err
		}
		// Now, before rounds past target (the server's periodic records)
		// are counted.
		b.metrics, err = gatherIngestMetrics(reg)
		return err
	})
	if err != nil {
		return err
	}
	row.records = b.metrics.records
	b.rows = append(b.rows, row)
	b.log.Info("ingest caught up", "seconds", row.elapsed.Seconds(), "mb_per_s", float64(row.bytes)/1e6/row.elapsed.Seconds(),
		"records", row.records, "rounds", b.metrics.rounds, "load_average", loadAverage())
	return nil
}

func (b *ingestBench) report() *Report {
	mb := float64(b.target-b.stop) / 1e6
	m := b.metrics
	rep := &Report{}
	rep.Linef("WAL %s..%s: %.1f MB, %d records; shards %d, round-bytes %d, round-interval %s",
		b.stop, b.target, mb, m.records, b.cfg.Shards, b.cfg.RoundBytes, b.cfg.RoundInterval)
	t := &Table{LabelWidth: 48, Text: "load average (1/5/15 min, at start)", Columns: []Column{
		{"MB", 8, 1}, {"seconds", 10, 3}, {"MB/s", 10, 1}, {"records/s", 12, 0}, {"CPU s", 9, 2}}}
	for _, r := range b.rows {
		s, rmb := r.elapsed.Seconds(), float64(r.bytes)/1e6
		recs := None()
		if r.records > 0 {
			recs = Rate(float64(r.records), s)
		}
		t.Rows = append(t.Rows, Row{Name: r.name, Values: []Value{Num(rmb), Num(s), Rate(rmb, s), recs, Num(r.cpu.Seconds())}, Text: r.load})
		rep.Figure("mb_per_s/"+r.name, rmb/s)
	}
	rep.Add(Section{Table: t})
	if m.rounds > 0 {
		rep.Linef("pagemill: %d rounds, %.2f MB of WAL and %.0f records per round on average; %.1f MB of events acknowledged",
			m.rounds, mb/float64(m.rounds), float64(m.records)/float64(m.rounds), float64(m.bytes)/1e6)
	}
	if l := m.latency; l.count > 0 {
		rep.Linef("publish latency per round (%d rounds): mean %s, p50 %s, p90 %s, p99 %s (estimated from histogram buckets)",
			l.count, fmtMillis(l.mean), fmtMillis(l.p50), fmtMillis(l.p90), fmtMillis(l.p99))
		rep.Figure("publish_latency_p50_seconds", l.p50)
		rep.Figure("publish_latency_p99_seconds", l.p99)
	}
	rep.Figure("rounds", float64(m.rounds))
	rep.Figure("records", float64(m.records))
	return rep
}
