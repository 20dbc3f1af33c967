package cli

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/pagemill/pagemill/ingest"
	"github.com/pagemill/pagemill/internal/pgtest"
	"github.com/pagemill/pagemill/ops"
	"github.com/pagemill/pagemill/redo/materialize"
	"github.com/pagemill/pagemill/redo/pagestore"
	"github.com/pagemill/pagemill/restore"
	"github.com/pagemill/pagemill/schema"
	"github.com/pagemill/pagemill/streams"
)

// benchRestoreConfig configures `pagemill bench restore`.
type benchRestoreConfig struct {
	Scale        int
	SizeMB       int
	Shards       int
	CheckpointMB int
	Rebuild      bool
	Dir          string
}

// benchRestore is `pagemill bench restore`: after a pgbench load of about
// --size-mb MB of WAL following the base backups, the time until a
// PostgreSQL restored at the load's end accepts connections, the pagemill
// way (restore.Backup's tar unpacked into a data directory, PostgreSQL
// started on it) beside the classic way (pg_basebackup -X none copied into
// a data directory, archive recovery with restore_command up to the same
// LSN, promotion). Both restored clusters must answer the same
// sum(abalance) as the source. Then, unless --rebuild=false, the time to
// rebuild a fresh page store from the streams up to that LSN.
func benchRestore(ctx context.Context, env Env, args []string) int {
	var cfg benchRestoreConfig
	fs := newFlagSet(env, "bench restore", "[--scale N] [--size-mb N] [--shards N] [--rebuild=false] [--dir DIR]")
	fs.IntVar(&cfg.Scale, "scale", 100, "pgbench -i scale")
	fs.IntVar(&cfg.SizeMB, "size-mb", 1000, "pgbench WAL after the base backups (MB)")
	fs.IntVar(&cfg.Shards, "shards", 4, "shards")
	fs.IntVar(&cfg.CheckpointMB, "checkpoint-mb", 0, "CHECKPOINT the source every N MB of WAL during the load (0: none, so both restores replay all of it)")
	fs.BoolVar(&cfg.Rebuild, "rebuild", true, "also time rebuilding a fresh page store from the streams")
	fs.StringVar(&cfg.Dir, "dir", "", "scratch directory for JetStream, page stores and the base backup (default: the system temp dir)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 0 || cfg.Scale < 1 || cfg.SizeMB < 1 || cfg.Shards < 1 || cfg.CheckpointMB < 0 {
		fs.Usage()
		return 2
	}
	log, _ := ops.NewLogger(env.Stderr, ops.LogConfig{Level: "info"})
	res, err := runBenchRestore(ctx, cfg, log)
	if err != nil {
		fmt.Fprintf(env.Stderr, "pagemill bench restore: %v\n", err)
		return 1
	}
	res.print(env.Stdout)
	return 0
}

// benchRestoreResult is what runBenchRestore measured.
type benchRestoreResult struct {
	cfg benchRestoreConfig
	// pmBase and classicBase are the start LSNs of pagemill's base backup
	// and of pg_basebackup's; target is the LSN restored at (the source's
	// WAL end once the load stopped), end the restored WAL's end.
	pmBase, classicBase schema.LSN
	target, end         schema.LSN
	sum                 string // the source's sum(abalance) at target

	// pagemill restore: tar + untar, then PostgreSQL's start.
	pm        restoreTiming
	pmTarOnly float64 // a second TarAt, to io.Discard
	pmFiles   int
	pmBytes   int64

	// classic: copy of the base backup, then archive recovery.
	cl                  restoreTiming
	clBytes, clArchived int64
	clSegments          int

	// rebuild of a fresh page store from the streams.
	rbSecs, rbImport float64
	rbStore          int64
}

// benchRedoLog is what a server log says about the redo at its start.
type benchRedoLog struct {
	ok   bool
	rng  pgRedoRange
	secs float64 // "elapsed" of "redo done at"
}

func (r benchRedoLog) mb() float64 {
	if !r.ok {
		return 0
	}
	return float64(r.rng.done-r.rng.start) / 1e6
}

func (r benchRedoLog) String() string {
	if !r.ok {
		return "no redo in the log"
	}
	return fmt.Sprintf("redo %s .. %s, %.1f MB in %.2f s by the log", r.rng.start, r.rng.done, r.mb(), r.secs)
}

func (r *benchRestoreResult) print(w io.Writer) {
	pmWAL := float64(r.target-r.pmBase) / 1e6
	clWAL := float64(r.target-r.classicBase) / 1e6
	fmt.Fprintf(w, "pgbench scale %d, %d shards: WAL after pagemill's base backup %s .. %s: %.1f MB (after pg_basebackup's %s: %.1f MB); restored at %s (WAL ends at %s)\n\n",
		r.cfg.Scale, r.cfg.Shards, r.pmBase, r.target, pmWAL, r.classicBase, clWAL, r.target, r.end)
	fmt.Fprintf(w, "%-56s %9s %9s %9s %9s\n", "", "seconds", "WAL MB", "WAL MB/s", "data MB")
	row := func(name string, secs, walMB float64, dataBytes int64) {
		fmt.Fprintf(w, "%-56s %9.2f %9.1f %9.1f %9.1f\n", name, secs, walMB, walMB/secs, float64(dataBytes)/1e6)
	}
	sub := func(name string, secs float64, detail string) {
		fmt.Fprintf(w, "  %-54s %9.2f   %s\n", name, secs, detail)
	}
	row("pagemill restore", r.pm.total, pmWAL, r.pmBytes)
	sub("tar + untar into a new data directory", r.pm.fill, fmt.Sprintf("%d files, %.1f MB written", r.pmFiles, float64(r.pmBytes)/1e6))
	sub("PostgreSQL start (crash recovery) to a connection", r.pm.start, r.pm.redo.String())
	sub("(the tar alone, to io.Discard, a second time)", r.pmTarOnly, fmt.Sprintf("%.1f MB/s", float64(r.pmBytes)/1e6/r.pmTarOnly))
	row("classic base backup + WAL replay", r.cl.total, clWAL, r.clBytes+r.clArchived)
	sub("copy the base backup into a new data directory", r.cl.fill, fmt.Sprintf("%.1f MB copied; %d archived segments, %.1f MB", float64(r.clBytes)/1e6, r.clSegments, float64(r.clArchived)/1e6))
	sub("PostgreSQL start, archive recovery, promotion", r.cl.start, r.cl.redo.String())
	if r.cfg.Rebuild {
		row("pagemill rebuild", r.rbSecs, pmWAL, r.rbStore)
		sub("base backup import (included)", r.rbImport, fmt.Sprintf("page store after: %.1f MB", float64(r.rbStore)/1e6))
	}
	fmt.Fprintf(w, "\nratio classic/pagemill restore (seconds): %.2f (above 1: pagemill is faster)\n", r.cl.total/r.pm.total)
	fmt.Fprintf(w, "sum(abalance) at %s: source %s, pagemill restore %s, classic %s\n", r.target, r.sum, r.pm.sum, r.cl.sum)
}

// benchRestoreConsumerPrefix names the rebuild's durable consumers, apart
// from the running materializer's.
const benchRestoreConsumerPrefix = "pm_bench_rebuild"

func runBenchRestore(ctx context.Context, cfg benchRestoreConfig, log *slog.Logger) (*benchRestoreResult, error) {
	tmp, err := os.MkdirTemp(cfg.Dir, "pagemill-bench-restore-")
	if err != nil {
		return nil, fmt.Errorf("scratch directory: %w", err)
	}
	defer os.RemoveAll(tmp)
	logf := func(format string, args ...any) { log.Debug(fmt.Sprintf(format, args...)) }
	// No checkpoint during the load unless asked: max_wal_size and
	// checkpoint_timeout out of reach. The same settings for the restored
	// clusters.
	conf := map[string]string{
		"max_wal_size":       strconv.Itoa(max(4096, 3*cfg.SizeMB)) + "MB",
		"checkpoint_timeout": "1h",
		"shared_buffers":     "256MB",
		"autovacuum":         "off",
	}
	log.Info("starting the source cluster", "scale", cfg.Scale)
	src, err := pgtest.New(ctx, pgtest.Options{ExtraConf: conf, Logf: logf})
	if err != nil {
		return nil, fmt.Errorf("source cluster: %w", err)
	}
	defer src.Close()
	if _, err := src.PgbenchContext(ctx, "-i", "-s", strconv.Itoa(cfg.Scale), "-q"); err != nil {
		return nil, fmt.Errorf("source: %w", err)
	}

	res := &benchRestoreResult{cfg: cfg}
	// pagemill, in process: embedded JetStream, ingest (its own base
	// backup), materializer, restore.Backup.
	emb, err := streams.StartEmbedded(ctx, streams.EmbeddedConfig{Dir: filepath.Join(tmp, "nats")}, log)
	if err != nil {
		return nil, fmt.Errorf("embedded NATS: %w", err)
	}
	defer emb.Shutdown()
	nc, err := emb.Connect()
	if err != nil {
		return nil, fmt.Errorf("embedded NATS: %w", err)
	}
	defer nc.Close()
	scfg := streams.Config{Shards: cfg.Shards, Replicas: 1}
	ing, err := ingest.New(ingest.Config{Source: src.ConnString("postgres"), Slot: "pagemill", Streams: scfg}, nc, prometheus.NewRegistry(), log)
	if err != nil {
		return nil, fmt.Errorf("ingest: %w", err)
	}
	ictx, icancel := context.WithCancel(ctx)
	ingErr := make(chan error, 1)
	go func() { ingErr <- ing.Run(ictx) }()
	ingStopped := false
	stopIngest := func() {
		if !ingStopped {
			ingStopped = true
			icancel()
			<-ingErr
		}
	}
	defer stopIngest()
	if err := waitIngest(ctx, ing, ingErr, 100*time.Millisecond, 10*time.Minute, func(st ingest.Status) (bool, error) {
		if st.BaseBackup != nil && st.BaseBackup.Completed {
			res.pmBase = st.BaseBackup.StartLSN
			return true, nil
		}
		return false, nil
	}); err != nil {
		return nil, fmt.Errorf("pagemill base backup: %w", err)
	}
	layout := ing.Layout()
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	h, err := streams.Ensure(ctx, js, layout, scfg)
	if err != nil {
		return nil, fmt.Errorf("jetstream layout: %w", err)
	}
	store, err := pagestore.Open(pagestore.Options{Dir: filepath.Join(tmp, "pages"), Shards: layout.Shards}, log)
	if err != nil {
		return nil, fmt.Errorf("page store: %w", err)
	}
	defer store.Close()
	reg := prometheus.NewRegistry()
	m, err := materialize.New(materialize.Config{Layout: layout}, js, h, store, reg, log)
	if err != nil {
		return nil, fmt.Errorf("materializer: %w", err)
	}
	mat := startBenchMat(ctx, m)
	defer mat.stop()
	if err := mat.ready(ctx); err != nil {
		return nil, fmt.Errorf("base backup import: %w", err)
	}
	backup := restore.New(m, h, reg, log.With("component", "restore"))
	// The classic base backup, after pagemill's (whose retries would
	// otherwise add their segment switches to the classic WAL); a slot
	// keeps the WAL from before it.
	if _, err := src.CreatePhysicalSlotContext(ctx, "bench_classic"); err != nil {
		return nil, fmt.Errorf("source: slot for the classic backup's WAL: %w", err)
	}
	backupDir := filepath.Join(tmp, "basebackup")
	log.Info("pg_basebackup -X none", "dir", backupDir)
	if _, err := src.RunBin(ctx, "pg_basebackup", "-D", backupDir, "-X", "none", "-c", "fast"); err != nil {
		return nil, fmt.Errorf("classic base backup: %w", err)
	}
	if res.classicBase, err = backupLabelStart(backupDir); err != nil {
		return nil, fmt.Errorf("classic base backup: %w", err)
	}
	log.Info("base backups taken and imported; generating WAL", "pagemill_base", res.pmBase, "classic_base", res.classicBase, "mb", cfg.SizeMB)

	// The load, then the target: the source's WAL end with pgbench stopped.
	if err := benchRestoreLoad(ctx, src, cfg, log); err != nil {
		return nil, err
	}
	if res.target, err = currentLSN(ctx, src); err != nil {
		return nil, fmt.Errorf("source: %w", err)
	}
	if res.sum, err = benchRestoreSum(ctx, src); err != nil {
		return nil, fmt.Errorf("source: %w", err)
	}
	// A record after the target, for archive recovery to stop before, and
	// the last segment complete.
	switchEnd, err := src.SwitchWALContext(ctx)
	if err != nil {
		return nil, fmt.Errorf("source: %w", err)
	}
	walEnd, err := schema.ParseLSN(strings.TrimSpace(switchEnd))
	if err != nil {
		return nil, fmt.Errorf("source: pg_switch_wal: %w", err)
	}
	if err := mat.waitAll(ctx, res.target, 10*time.Minute); err != nil {
		return nil, err
	}
	log.Info("pagemill applied the load", "target", res.target, "mb", float64(res.target-res.pmBase)/1e6, "sum_abalance", res.sum)
	// The classic archive: the WAL from pg_basebackup's start on. In the
	// source's cluster directory, which the server's user can read.
	archive := filepath.Join(filepath.Dir(src.DataDir()), "archive")
	if res.clSegments, res.clArchived, err = archiveWAL(src, archive, layout.Timeline, res.classicBase, walEnd); err != nil {
		return nil, fmt.Errorf("archive the WAL: %w", err)
	}

	// The pagemill way.
	if err := benchPagemillRestore(ctx, res, backup, conf, logf, log); err != nil {
		return nil, fmt.Errorf("pagemill restore: %w", err)
	}
	// What of tar + untar is the tar (page store, streams) alone.
	t0 := time.Now()
	if _, err := backup.TarAt(ctx, res.target, io.Discard, time.Minute); err != nil {
		return nil, fmt.Errorf("tar at %s to io.Discard: %w", res.target, err)
	}
	res.pmTarOnly = time.Since(t0).Seconds()
	// The classic way.
	if err := benchClassicRestore(ctx, res, backupDir, archive, conf, logf, log); err != nil {
		return nil, fmt.Errorf("classic restore: %w", err)
	}
	if res.pm.sum != res.sum || res.cl.sum != res.sum {
		return nil, fmt.Errorf("sum(abalance) at %s: source %s, pagemill restore %s, classic restore %s", res.target, res.sum, res.pm.sum, res.cl.sum)
	}

	if cfg.Rebuild {
		// Nothing else runs meanwhile.
		stopIngest()
		mat.stop()
		if err := benchRebuild(ctx, res, js, h, filepath.Join(tmp, "rebuild-pages"), log); err != nil {
			return nil, fmt.Errorf("rebuild: %w", err)
		}
	}
	return res, nil
}

// benchRestoreLoad runs pgbench on src until about cfg.SizeMB of WAL
// exist after the base backups, with a CHECKPOINT every cfg.CheckpointMB
// when that is set.
func benchRestoreLoad(ctx context.Context, src *pgtest.Cluster, cfg benchRestoreConfig, log *slog.Logger) error {
	start, err := currentLSN(ctx, src)
	if err != nil {
		return fmt.Errorf("source: %w", err)
	}
	lastCk := start
	for {
		cur, err := currentLSN(ctx, src)
		if err != nil {
			return fmt.Errorf("source: %w", err)
		}
		log.Info("WAL so far", "lsn", cur, "mb", float64(cur-start)/1e6)
		if cur >= start+schema.LSN(cfg.SizeMB)*1e6 {
			return nil
		}
		if cfg.CheckpointMB > 0 && cur >= lastCk+schema.LSN(cfg.CheckpointMB)*1e6 {
			if err := src.CheckpointContext(ctx); err != nil {
				return fmt.Errorf("source: %w", err)
			}
			lastCk = cur
		}
		if _, err := src.PgbenchContext(ctx, "-T", "2", "-c", "4", "-j", "2"); err != nil {
			return fmt.Errorf("load: %w", err)
		}
	}
}

// benchRestoreSum is the check value of a cluster's pgbench data.
func benchRestoreSum(ctx context.Context, c *pgtest.Cluster) (string, error) {
	rows, err := c.QueryContext(ctx, "SELECT sum(abalance) FROM pgbench_accounts")
	if err != nil {
		return "", err
	}
	if len(rows) != 1 || len(rows[0]) != 1 {
		return "", fmt.Errorf("sum(abalance): %v", rows)
	}
	return rows[0][0], nil
}

// benchPagemillRestore times TarAt into a pipe unpacked into a new data
// directory, then PostgreSQL starting on it until a query succeeds.
func benchPagemillRestore(ctx context.Context, res *benchRestoreResult, backup *restore.Backup, conf map[string]string,
	logf func(string, ...any), log *slog.Logger) error {
	log.Info("pagemill restore", "lsn", res.target)
	t0 := time.Now()
	c, err := pgtest.New(ctx, pgtest.Options{ExtraConf: conf, Logf: logf, Fill: func(dir string) error {
		var end schema.LSN
		files, n, err, tarErr := untarFrom(dir, func(w io.Writer) error {
			var err error
			end, err = backup.TarAt(ctx, res.target, w, time.Minute)
			return err
		})
		if err != nil {
			return fmt.Errorf("unpack: %w", err)
		}
		if tarErr != nil {
			return fmt.Errorf("tar at %s: %w", res.target, tarErr)
		}
		if _, err := checkDataDir(dir); err != nil {
			return fmt.Errorf("the restored data directory is not usable: %w", err)
		}
		res.end, res.pmFiles, res.pmBytes = end, files, n
		res.pm.fill = time.Since(t0).Seconds()
		return nil
	}})
	if err != nil {
		return err
	}
	defer c.Close()
	if err := res.pm.finish(ctx, c, t0); err != nil {
		return err
	}
	log.Info("pagemill restore: accepting connections", "seconds", res.pm.total, "tar_untar_seconds", res.pm.fill, "mb", float64(res.pmBytes)/1e6)
	return nil
}

// benchClassicRestore times copying the base backup into a new data
// directory, then archive recovery up to the target and promotion, until
// the server runs as a primary.
func benchClassicRestore(ctx context.Context, res *benchRestoreResult, backupDir, archive string, conf map[string]string,
	logf func(string, ...any), log *slog.Logger) error {
	log.Info("classic restore", "lsn", res.target)
	conf = maps.Clone(conf)
	conf["restore_command"] = "cp " + archive + "/%f %p"
	conf["recovery_target_lsn"] = res.target.String()
	conf["recovery_target_inclusive"] = "off" // the records that end at or before it
	conf["recovery_target_action"] = "promote"
	t0 := time.Now()
	c, err := pgtest.New(ctx, pgtest.Options{ExtraConf: conf, Logf: logf, Fill: func(dir string) error {
		n, err := copyTreeSync(backupDir, dir)
		if err != nil {
			return fmt.Errorf("copy the base backup: %w", err)
		}
		if err := os.WriteFile(filepath.Join(dir, "recovery.signal"), nil, 0o600); err != nil {
			return err
		}
		res.clBytes = n
		res.cl.fill = time.Since(t0).Seconds()
		return nil
	}})
	if err != nil {
		return err
	}
	defer c.Close()
	if err := res.cl.finish(ctx, c, t0); err != nil {
		return err
	}
	log.Info("classic restore: promoted", "seconds", res.cl.total, "copy_seconds", res.cl.fill)
	return nil
}

// restoreTiming is what one way of restoring measured: total seconds from
// its start to a primary accepting connections, of which fill went to
// filling the data directory and start to PostgreSQL's start; the redo
// PostgreSQL reported; the load's sum(abalance) on the restored cluster.
type restoreTiming struct {
	total, fill, start float64
	redo               benchRedoLog
	sum                string
}

// finish waits until c, started t0 after the restore began, runs as a
// primary, records the timings and the sum, and stops c.
func (r *restoreTiming) finish(ctx context.Context, c *pgtest.Cluster, t0 time.Time) error {
	if err := waitPrimary(ctx, c); err != nil {
		return err
	}
	r.total = time.Since(t0).Seconds()
	r.start = r.total - r.fill
	r.redo = redoFromLog(c.LogFile())
	var err error
	if r.sum, err = benchRestoreSum(ctx, c); err != nil {
		return err
	}
	return c.Close()
}

// waitPrimary waits until c accepts a connection and is out of recovery.
func waitPrimary(ctx context.Context, c *pgtest.Cluster) error {
	deadline := time.Now().Add(30 * time.Minute)
	for {
		rows, err := c.QueryContext(ctx, "SELECT pg_is_in_recovery()")
		if err == nil && len(rows) == 1 && len(rows[0]) == 1 && rows[0][0] == "f" {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("still in recovery or not accepting connections (%v; log %s)", err, c.LogFile())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// redoFromLog reads what a server log says about its startup redo.
func redoFromLog(path string) benchRedoLog {
	text, err := readFrom(path, 0)
	if err != nil {
		return benchRedoLog{}
	}
	rng, elapsed, _, err := parseRecoveryLog(text)
	if err != nil {
		return benchRedoLog{}
	}
	return benchRedoLog{ok: true, rng: rng, secs: elapsed.Seconds()}
}

// benchRebuild times a second materializer filling a fresh page store from
// the streams until every shard applied the target.
func benchRebuild(ctx context.Context, res *benchRestoreResult, js jetstream.JetStream, h *streams.Handles, dir string, log *slog.Logger) error {
	store, err := pagestore.Open(pagestore.Options{Dir: dir, Shards: h.Layout.Shards}, log)
	if err != nil {
		return fmt.Errorf("page store: %w", err)
	}
	defer store.Close()
	m, err := materialize.New(materialize.Config{Layout: h.Layout, ConsumerPrefix: benchRestoreConsumerPrefix}, js, h, store, prometheus.NewRegistry(), log)
	if err != nil {
		return fmt.Errorf("materializer: %w", err)
	}
	log.Info("rebuilding a fresh page store from the streams", "to", res.target)
	t0 := time.Now()
	mat := startBenchMat(ctx, m)
	defer mat.stop()
	if err := mat.ready(ctx); err != nil {
		return fmt.Errorf("base backup import: %w", err)
	}
	res.rbImport = time.Since(t0).Seconds()
	if err := mat.waitAll(ctx, res.target, 30*time.Minute); err != nil {
		return err
	}
	res.rbSecs = time.Since(t0).Seconds()
	mat.stop()
	res.rbStore = dirSize(dir)
	log.Info("rebuilt", "seconds", res.rbSecs, "wal_mb_per_s", float64(res.target-res.pmBase)/1e6/res.rbSecs)
	return nil
}

// benchMat is a materializer running in the background.
type benchMat struct {
	m      *materialize.Materializer
	cancel context.CancelFunc
	done   chan struct{} // closed when Run returned; err is set then
	err    error
}

func startBenchMat(ctx context.Context, m *materialize.Materializer) *benchMat {
	rctx, cancel := context.WithCancel(ctx)
	b := &benchMat{m: m, cancel: cancel, done: make(chan struct{})}
	go func() {
		b.err = m.Run(rctx)
		close(b.done)
	}()
	return b
}

// stop stops the materializer and waits for it; calling it again does
// nothing.
func (b *benchMat) stop() {
	b.cancel()
	<-b.done
}

// ready waits until the base backup is imported and redo runs.
func (b *benchMat) ready(ctx context.Context) error {
	select {
	case <-b.m.Ready():
		return nil
	case <-b.done:
		return fmt.Errorf("materializer stopped: %v", b.err)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// waitAll waits until every shard applied lsn, the materializer stops or
// timeout passes.
func (b *benchMat) waitAll(ctx context.Context, lsn schema.LSN, timeout time.Duration) error {
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	go func() {
		select {
		case <-b.done:
			cancel()
		case <-wctx.Done():
		}
	}()
	if err := b.m.WaitAll(wctx, lsn); err != nil {
		select {
		case <-b.done:
			return fmt.Errorf("materializer stopped before applying %s: %v", lsn, b.err)
		default:
		}
		return fmt.Errorf("wait until %s is applied (applied %s): %w", lsn, b.m.Applied(), err)
	}
	return nil
}

// backupLabelStart reads START WAL LOCATION from a base backup's
// backup_label.
func backupLabelStart(dir string) (schema.LSN, error) {
	b, err := os.ReadFile(filepath.Join(dir, "backup_label"))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "START WAL LOCATION: "); ok {
			if f := strings.Fields(rest); len(f) > 0 {
				return schema.ParseLSN(f[0])
			}
		}
	}
	return 0, fmt.Errorf("no START WAL LOCATION in %s", filepath.Join(dir, "backup_label"))
}

// archiveWAL copies src's WAL segments holding from .. end (exclusive)
// into dir, readable by everyone, and returns their number and bytes.
func archiveWAL(src *pgtest.Cluster, dir string, tli uint32, from, end schema.LSN) (int, int64, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, 0, err
	}
	seg := uint64(src.WALSegmentSize())
	n, total := 0, int64(0)
	for s := uint64(from) / seg; s <= (uint64(end)-1)/seg; s++ {
		name := schema.XLogFileName(schema.TimeLineID(tli), schema.XLogSegNo(s), uint32(seg))
		b, err := copyFileSync(filepath.Join(src.WALDir(), name), filepath.Join(dir, name), 0o644)
		if err != nil {
			return n, total, err
		}
		n++
		total += b
	}
	return n, total, nil
}

// copyTreeSync copies the directory tree src into the existing directory
// dst, syncing every file as untar does, and returns the bytes copied.
func copyTreeSync(src, dst string) (int64, error) {
	var total int64
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		switch {
		case d.IsDir():
			return os.MkdirAll(target, 0o700)
		case d.Type().IsRegular():
			n, err := copyFileSync(p, target, 0o600)
			total += n
			return err
		}
		return fmt.Errorf("%s: not a regular file or directory", p)
	})
	return total, err
}

// copyFileSync copies one file, synced, to a new file of the given mode.
func copyFileSync(src, dst string, mode os.FileMode) (int64, error) {
	in, err := os.Open(src)
	if err != nil {
		return 0, err
	}
	defer in.Close()
	n, err := writeFileSync(dst, in, mode)
	if err != nil {
		return n, fmt.Errorf("copy %s: %w", src, err)
	}
	return n, nil
}
