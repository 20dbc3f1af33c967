package cli

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
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
	CPUProfile   string // written while pagemill writes the data directory
	Scale        int
	SizeMB       int
	Shards       int
	CheckpointMB int
	Rebuild      bool
	Dir          string
}

// benchRestore is `pagemill bench restore`: after a pgbench load of about
// --size-mb MB of WAL following the base backups, the time until a
// PostgreSQL restored at the load's end accepts connections, three ways
// from one run: pagemill's (restore.Backup writing the data directory
// directly, PostgreSQL starting on it without replay), the I/O limit (cp
// -r of the source's data directory, synced), and the classic way
// (pg_basebackup -X none copied into a data directory, archive recovery
// with restore_command up to the same LSN, promotion). Both restored
// clusters must answer the same sum(abalance) as the source, and the
// restored server's log is checked for redo. Then, unless
// --rebuild=false, the time to rebuild a fresh page store from the
// streams up to that LSN.
func benchRestore(ctx context.Context, env Env, args []string) int {
	var cfg benchRestoreConfig
	fs := newFlagSet(env, "bench restore", "[--scale N] [--size-mb N] [--shards N] [--rebuild=false] [--dir DIR]")
	fs.IntVar(&cfg.Scale, "scale", 100, "pgbench -i scale")
	fs.IntVar(&cfg.SizeMB, "size-mb", 1000, "pgbench WAL after the base backups (MB)")
	fs.IntVar(&cfg.Shards, "shards", 4, "shards")
	fs.IntVar(&cfg.CheckpointMB, "checkpoint-mb", 0, "CHECKPOINT the source every N MB of WAL during the load (0: none, so both restores replay all of it)")
	fs.BoolVar(&cfg.Rebuild, "rebuild", true, "also time rebuilding a fresh page store from the streams")
	fs.StringVar(&cfg.Dir, "dir", "", "scratch directory for JetStream, page stores and the base backup (default: the system temp dir)")
	fs.StringVar(&cfg.CPUProfile, "cpuprofile", "", "write a CPU profile of pagemill writing the data directory to this file")
	logLevel := fs.String("log-level", "info", "log level of the progress log on stderr (debug shows the restore's phases)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 0 || cfg.Scale < 1 || cfg.SizeMB < 1 || cfg.Shards < 1 || cfg.CheckpointMB < 0 {
		fs.Usage()
		return 2
	}
	log, err := ops.NewLogger(env.Stderr, ops.LogConfig{Level: *logLevel})
	if err != nil {
		fmt.Fprintf(env.Stderr, "pagemill bench restore: %v\n", err)
		return 2
	}
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
	checkpoints         int    // CHECKPOINTs during the load

	// pagemill restore: the data directory written, then PostgreSQL's
	// start.
	pm        restoreTiming
	pmMode    restore.Mode
	pmTarOnly float64 // the same restore as a tar, to io.Discard
	pmFiles   int
	pmBytes   int64
	pmZeros   int64

	// cp -r of the source's data directory, synced; and without pg_wal.
	cpSecs, cpNoWALSecs float64
	cpBytes, cpWALBytes int64

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
	ok       bool
	rng      pgRedoRange
	secs     float64 // "elapsed" of "redo done at"
	recovery bool    // the log says recovery ran ("automatic recovery", "redo starts")
	clean    bool    // the log says "database system was shut down at"
}

func (r benchRedoLog) mb() float64 {
	if !r.ok {
		return 0
	}
	return float64(r.rng.done-r.rng.start) / 1e6
}

func (r benchRedoLog) String() string {
	switch {
	case r.ok:
		return fmt.Sprintf("redo %s .. %s, %.1f MB in %.2f s by the log", r.rng.start, r.rng.done, r.mb(), r.secs)
	case r.recovery:
		return "log: recovery ran"
	case r.clean:
		return "log: no redo (started from a clean shutdown)"
	}
	return "no redo in the log"
}

func (r *benchRestoreResult) print(w io.Writer) {
	pmWAL := float64(r.target-r.pmBase) / 1e6
	clWAL := float64(r.target-r.classicBase) / 1e6
	ck := "no checkpoint during the load"
	if r.cfg.CheckpointMB > 0 {
		ck = fmt.Sprintf("a CHECKPOINT every %d MB (%d)", r.cfg.CheckpointMB, r.checkpoints)
	}
	fmt.Fprintf(w, "pgbench scale %d, %d shards, %s: WAL after pagemill's base backup %s .. %s: %.1f MB (after pg_basebackup's %s: %.1f MB); restored at %s\n\n",
		r.cfg.Scale, r.cfg.Shards, ck, r.pmBase, r.target, pmWAL, r.classicBase, clWAL, r.target)
	fmt.Fprintf(w, "%-56s %9s %9s %9s %9s\n", "", "seconds", "WAL MB", "WAL MB/s", "data MB")
	row := func(name string, secs, walMB float64, dataBytes int64) {
		fmt.Fprintf(w, "%-56s %9.2f %9.1f %9.1f %9.1f\n", name, secs, walMB, walMB/secs, float64(dataBytes)/1e6)
	}
	sub := func(name string, secs float64, detail string) {
		fmt.Fprintf(w, "  %-54s %9.2f   %s\n", name, secs, detail)
	}
	row("pagemill restore", r.pm.total, pmWAL, r.pmBytes)
	sub("write the data directory ("+r.pmMode.String()+")", r.pm.fill, fmt.Sprintf("%d files, %.1f MB, %d zero pages as holes, %.1f MB/s",
		r.pmFiles, float64(r.pmBytes)/1e6, r.pmZeros, float64(r.pmBytes)/1e6/r.pm.fill))
	sub("PostgreSQL start to a connection", r.pm.start, r.pm.redo.String())
	sub("(the same restore as a tar, to io.Discard)", r.pmTarOnly, fmt.Sprintf("%.1f MB/s", float64(r.pmBytes)/1e6/r.pmTarOnly))
	fmt.Fprintf(w, "%-56s %9.2f %9s %9s %9.1f\n", "cp -r of the source's data directory", r.cpSecs, "-", "-", float64(r.cpBytes)/1e6)
	sub("(without pg_wal, of "+fmt.Sprintf("%.1f MB", float64(r.cpWALBytes)/1e6)+")", r.cpNoWALSecs,
		fmt.Sprintf("%.1f MB, %.1f MB/s", float64(r.cpBytes-r.cpWALBytes)/1e6, float64(r.cpBytes-r.cpWALBytes)/1e6/r.cpNoWALSecs))
	row("classic base backup + WAL replay", r.cl.total, clWAL, r.clBytes+r.clArchived)
	sub("copy the base backup into a new data directory", r.cl.fill, fmt.Sprintf("%.1f MB copied; %d archived segments, %.1f MB", float64(r.clBytes)/1e6, r.clSegments, float64(r.clArchived)/1e6))
	sub("PostgreSQL start, archive recovery, promotion", r.cl.start, r.cl.redo.String())
	if r.cfg.Rebuild {
		row("pagemill rebuild", r.rbSecs, pmWAL, r.rbStore)
		sub("base backup import (included)", r.rbImport, fmt.Sprintf("page store after: %.1f MB", float64(r.rbStore)/1e6))
	}
	fmt.Fprintf(w, "\nratio pagemill restore / cp -r (seconds): %.2f (target: at most 1.20); / cp -r without pg_wal: %.2f\n", r.pm.total/r.cpSecs, r.pm.total/r.cpNoWALSecs)
	fmt.Fprintf(w, "ratio classic/pagemill restore (seconds): %.2f (above 1: pagemill is faster)\n", r.cl.total/r.pm.total)
	redo := "no redo"
	if r.pm.redo.ok || r.pm.redo.recovery {
		redo = "REDO: " + r.pm.redo.String()
	}
	fmt.Fprintf(w, "restored server's log (pagemill): %s\n", redo)
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
	pm, err := startInProcess(ctx, src, cfg.Shards, tmp, log)
	if err != nil {
		return nil, err
	}
	defer pm.close()
	res.pmBase = pm.baseStart
	js, h, mat, backup := pm.js, pm.h, pm.mat, pm.backup
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
	if res.checkpoints, err = benchRestoreLoad(ctx, src, cfg, log); err != nil {
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
	if res.clSegments, res.clArchived, err = archiveWAL(src, archive, h.Layout.Timeline, res.classicBase, walEnd); err != nil {
		return nil, fmt.Errorf("archive the WAL: %w", err)
	}

	// Each way starts with nothing dirty in the page cache: what the load
	// left unwritten (page store, JetStream, the source's files) would
	// otherwise be written back during whichever way comes first.
	settle := func() error {
		for _, d := range []string{tmp, src.DataDir()} {
			if err := restore.SyncTree(d); err != nil {
				return fmt.Errorf("sync before timing: %w", err)
			}
		}
		return nil
	}
	// The pagemill way.
	if err := settle(); err != nil {
		return nil, err
	}
	if err := benchPagemillRestore(ctx, res, backup, conf, logf, log); err != nil {
		return nil, fmt.Errorf("pagemill restore: %w", err)
	}
	// What of it is reading the page store (a tar to io.Discard).
	t0 := time.Now()
	if _, err := backup.TarAt(ctx, res.target, io.Discard, time.Minute); err != nil {
		return nil, fmt.Errorf("tar at %s to io.Discard: %w", res.target, err)
	}
	res.pmTarOnly = time.Since(t0).Seconds()
	// The I/O limit: cp -r of the source's data directory.
	if err := settle(); err != nil {
		return nil, err
	}
	if err := benchCopyDataDir(ctx, res, src, tmp, log); err != nil {
		return nil, fmt.Errorf("cp -r: %w", err)
	}
	// The classic way.
	if err := settle(); err != nil {
		return nil, err
	}
	if err := benchClassicRestore(ctx, res, backupDir, archive, conf, logf, log); err != nil {
		return nil, fmt.Errorf("classic restore: %w", err)
	}
	if res.pm.sum != res.sum || res.cl.sum != res.sum {
		return nil, fmt.Errorf("sum(abalance) at %s: source %s, pagemill restore %s, classic restore %s", res.target, res.sum, res.pm.sum, res.cl.sum)
	}

	if cfg.Rebuild {
		// Nothing else runs meanwhile.
		pm.stopIngest()
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
func benchRestoreLoad(ctx context.Context, src *pgtest.Cluster, cfg benchRestoreConfig, log *slog.Logger) (int, error) {
	start, err := currentLSN(ctx, src)
	if err != nil {
		return 0, fmt.Errorf("source: %w", err)
	}
	lastCk, checkpoints := start, 0
	for {
		cur, err := currentLSN(ctx, src)
		if err != nil {
			return checkpoints, fmt.Errorf("source: %w", err)
		}
		log.Info("WAL so far", "lsn", cur, "mb", float64(cur-start)/1e6)
		if cur >= start+schema.LSN(cfg.SizeMB)*1e6 {
			return checkpoints, nil
		}
		if cfg.CheckpointMB > 0 && cur >= lastCk+schema.LSN(cfg.CheckpointMB)*1e6 {
			if err := src.CheckpointContext(ctx); err != nil {
				return checkpoints, fmt.Errorf("source: %w", err)
			}
			lastCk = cur
			checkpoints++
		}
		if _, err := src.PgbenchContext(ctx, "-T", "2", "-c", "4", "-j", "2"); err != nil {
			return checkpoints, fmt.Errorf("load: %w", err)
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

// benchPagemillRestore times restore.Backup writing the data directory
// at the target directly (DirAt), then PostgreSQL starting on it until a
// query succeeds.
func benchPagemillRestore(ctx context.Context, res *benchRestoreResult, backup *restore.Backup, conf map[string]string,
	logf func(string, ...any), log *slog.Logger) error {
	log.Info("pagemill restore", "lsn", res.target)
	t0 := time.Now()
	c, err := pgtest.New(ctx, pgtest.Options{ExtraConf: conf, Logf: logf, Fill: func(dir string) error {
		if res.cfg.CPUProfile != "" {
			f, err := os.Create(res.cfg.CPUProfile)
			if err != nil {
				return err
			}
			defer f.Close()
			if err := pprof.StartCPUProfile(f); err != nil {
				return err
			}
			defer pprof.StopCPUProfile()
		}
		_, st, err := backup.DirAt(ctx, res.target, dir, time.Minute, nil)
		if err != nil {
			return fmt.Errorf("restore at %s: %w", res.target, err)
		}
		if _, err := checkDataDir(dir); err != nil {
			return fmt.Errorf("the restored data directory is not usable: %w", err)
		}
		res.end, res.pmFiles, res.pmBytes, res.pmZeros, res.pmMode = st.End, st.Files, st.Bytes, st.ZeroPages, st.Mode
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
	log.Info("pagemill restore: accepting connections", "seconds", res.pm.total, "write_seconds", res.pm.fill, "mb", float64(res.pmBytes)/1e6,
		"mode", res.pmMode, "log", res.pm.redo.String())
	return nil
}

// benchCopyDataDir times cp -r of the source's data directory into a new
// directory, then one sync of its file system (a restore's files are
// durable too); and the same without pg_wal.
func benchCopyDataDir(ctx context.Context, res *benchRestoreResult, src *pgtest.Cluster, tmp string, log *slog.Logger) error {
	res.cpBytes, res.cpWALBytes = dirSize(src.DataDir()), dirSize(src.WALDir())
	dst := filepath.Join(tmp, "cp-r")
	log.Info("cp -r of the source's data directory", "mb", float64(res.cpBytes)/1e6)
	t0 := time.Now()
	if out, err := exec.CommandContext(ctx, "cp", "-r", src.DataDir(), dst).CombinedOutput(); err != nil {
		return fmt.Errorf("cp -r %s %s: %v: %s", src.DataDir(), dst, err, out)
	}
	if err := restore.SyncTree(dst); err != nil {
		return err
	}
	res.cpSecs = time.Since(t0).Seconds()
	if err := os.RemoveAll(dst); err != nil {
		return err
	}
	ents, err := os.ReadDir(src.DataDir())
	if err != nil {
		return err
	}
	if err := restore.SyncTree(tmp); err != nil {
		return err
	}
	t0 = time.Now()
	if err := os.Mkdir(dst, 0o700); err != nil {
		return err
	}
	args := []string{"-r"}
	for _, e := range ents {
		if e.Name() != "pg_wal" {
			args = append(args, filepath.Join(src.DataDir(), e.Name()))
		}
	}
	if out, err := exec.CommandContext(ctx, "cp", append(args, dst)...).CombinedOutput(); err != nil {
		return fmt.Errorf("cp -r (without pg_wal): %v: %s", err, out)
	}
	if err := restore.SyncTree(dst); err != nil {
		return err
	}
	res.cpNoWALSecs = time.Since(t0).Seconds()
	log.Info("cp -r done", "seconds", res.cpSecs, "without_pg_wal_seconds", res.cpNoWALSecs)
	return os.RemoveAll(dst)
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
	r := benchRedoLog{
		recovery: strings.Contains(text, "redo starts at") || strings.Contains(text, "automatic recovery in progress") || strings.Contains(text, "starting archive recovery"),
		clean:    strings.Contains(text, "database system was shut down at"),
	}
	rng, elapsed, _, err := parseRecoveryLog(text)
	if err != nil {
		return r
	}
	r.ok, r.rng, r.secs = true, rng, elapsed.Seconds()
	return r
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

// inProcess is pagemill running in this process against a source
// cluster: embedded JetStream, ingest (with its base backup), the
// materializer and restore.Backup. For the restore benchmark and tests.
type inProcess struct {
	emb        *streams.Embedded
	nc         *nats.Conn
	ing        *ingest.Ingester
	icancel    context.CancelFunc
	ingErr     chan error
	ingStopped bool
	js         jetstream.JetStream
	h          *streams.Handles
	store      *pagestore.Store
	m          *materialize.Materializer
	mat        *benchMat
	backup     *restore.Backup
	baseStart  schema.LSN
}

// startInProcess starts pagemill on src (slot "pagemill") with its
// state under dir, and waits until the base backup is imported.
func startInProcess(ctx context.Context, src *pgtest.Cluster, shards int, dir string, log *slog.Logger) (_ *inProcess, err error) {
	p := &inProcess{}
	defer func() {
		if err != nil {
			p.close()
		}
	}()
	if p.emb, err = streams.StartEmbedded(ctx, streams.EmbeddedConfig{Dir: filepath.Join(dir, "nats")}, log); err != nil {
		return nil, fmt.Errorf("embedded NATS: %w", err)
	}
	if p.nc, err = p.emb.Connect(); err != nil {
		return nil, fmt.Errorf("embedded NATS: %w", err)
	}
	scfg := streams.Config{Shards: shards, Replicas: 1}
	if p.ing, err = ingest.New(ingest.Config{Source: src.ConnString("postgres"), Slot: "pagemill", Streams: scfg}, p.nc, prometheus.NewRegistry(), log); err != nil {
		return nil, fmt.Errorf("ingest: %w", err)
	}
	ictx, icancel := context.WithCancel(ctx)
	p.icancel, p.ingErr = icancel, make(chan error, 1)
	go func() { p.ingErr <- p.ing.Run(ictx) }()
	if err := waitIngest(ctx, p.ing, p.ingErr, 100*time.Millisecond, 10*time.Minute, func(st ingest.Status) (bool, error) {
		if st.BaseBackup != nil && st.BaseBackup.Completed {
			p.baseStart = st.BaseBackup.StartLSN
			return true, nil
		}
		return false, nil
	}); err != nil {
		return nil, fmt.Errorf("pagemill base backup: %w", err)
	}
	layout := p.ing.Layout()
	if p.js, err = jetstream.New(p.nc); err != nil {
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	if p.h, err = streams.Ensure(ctx, p.js, layout, scfg); err != nil {
		return nil, fmt.Errorf("jetstream layout: %w", err)
	}
	if p.store, err = pagestore.Open(pagestore.Options{Dir: filepath.Join(dir, "pages"), Shards: layout.Shards}, log); err != nil {
		return nil, fmt.Errorf("page store: %w", err)
	}
	reg := prometheus.NewRegistry()
	if p.m, err = materialize.New(materialize.Config{Layout: layout}, p.js, p.h, p.store, reg, log); err != nil {
		return nil, fmt.Errorf("materializer: %w", err)
	}
	p.mat = startBenchMat(ctx, p.m)
	if err := p.mat.ready(ctx); err != nil {
		return nil, fmt.Errorf("base backup import: %w", err)
	}
	p.backup = restore.New(p.m, p.h, reg, log.With("component", "restore"))
	return p, nil
}

// stopIngest stops ingest; calling it again does nothing.
func (p *inProcess) stopIngest() {
	if p.icancel != nil && !p.ingStopped {
		p.ingStopped = true
		p.icancel()
		<-p.ingErr
	}
}

// close stops everything that runs and closes what is open.
func (p *inProcess) close() {
	p.stopIngest()
	if p.mat != nil {
		p.mat.stop()
	}
	if p.store != nil {
		p.store.Close()
	}
	if p.nc != nil {
		p.nc.Close()
	}
	if p.emb != nil {
		p.emb.Shutdown()
	}
}
