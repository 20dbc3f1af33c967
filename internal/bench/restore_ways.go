package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pagemill/pagemill/internal/scratchpg"
	"github.com/pagemill/pagemill/redo/materialize"
	"github.com/pagemill/pagemill/restore"
	"github.com/pagemill/pagemill/schema"
)

// rebuildConsumerPrefix names the rebuild's durable consumers, apart
// from the running materializer's.
const rebuildConsumerPrefix = "pm_bench_rebuild"

// timeRestores times the three ways to a running PostgreSQL at the
// target, each starting with nothing dirty in the page cache: what the
// load left unwritten (page store, JetStream, the source's files) would
// otherwise be written back during whichever way comes first.
func (b *restoreBench) timeRestores(ctx context.Context) error {
	clean := func() error {
		for _, d := range []string{b.tmp, b.src.DataDir()} {
			if err := restore.SyncTree(d); err != nil {
				return fmt.Errorf("sync before timing: %w", err)
			}
		}
		return nil
	}
	if err := clean(); err != nil {
		return err
	}
	if err := b.pagemillRestore(ctx); err != nil {
		return fmt.Errorf("pagemill restore: %w", err)
	}
	// What of it is reading the page store (a tar to io.Discard).
	t0 := time.Now()
	if _, err := b.backup.TarAt(ctx, b.target, io.Discard, time.Minute); err != nil {
		return fmt.Errorf("tar at %s to io.Discard: %w", b.target, err)
	}
	b.pmTarOnly = time.Since(t0).Seconds()
	if err := clean(); err != nil {
		return err
	}
	if err := b.copyDataDir(ctx); err != nil {
		return fmt.Errorf("cp -r: %w", err)
	}
	if err := clean(); err != nil {
		return err
	}
	if err := b.classicRestore(ctx); err != nil {
		return fmt.Errorf("classic restore: %w", err)
	}
	if b.pm.sum != b.sum || b.cl.sum != b.sum {
		return fmt.Errorf("sum(abalance) at %s: source %s, pagemill restore %s, classic restore %s", b.target, b.sum, b.pm.sum, b.cl.sum)
	}
	return nil
}

// restoreTiming is what one way of restoring measured: total seconds from
// its start to a primary accepting connections, of which fill went to
// filling the data directory and start to PostgreSQL's start; the redo
// PostgreSQL reported; the load's sum(abalance) on the restored cluster.
type restoreTiming struct {
	total, fill, start float64
	redo               redoLog
	sum                string
}

// run creates a cluster with conf whose data directory fill fills, waits
// until it runs as a primary, records the timings (from t0) and the sum,
// and removes the cluster.
func (r *restoreTiming) run(ctx context.Context, log *slog.Logger, conf map[string]string, fill func(dir string) error) error {
	t0 := time.Now()
	c, err := scratchpg.New(ctx, scratchpg.Options{ExtraConf: conf, Logf: debugf(log), Fill: func(dir string) error {
		if err := fill(dir); err != nil {
			return err
		}
		r.fill = time.Since(t0).Seconds()
		return nil
	}})
	if err != nil {
		return err
	}
	defer closeCluster(c, log)
	if err := waitPrimary(ctx, c); err != nil {
		return err
	}
	r.total = time.Since(t0).Seconds()
	r.start = r.total - r.fill
	text, _ := readFrom(c.LogFile(), 0)
	r.redo = parseRedoLog(text)
	if r.sum, err = pgbenchSum(ctx, c); err != nil {
		return err
	}
	return c.Close()
}

// pagemillRestore times restore.Backup writing the data directory at the
// target directly (DirAt), then PostgreSQL starting on it until a query
// succeeds.
func (b *restoreBench) pagemillRestore(ctx context.Context) error {
	b.log.Info("pagemill restore", "lsn", b.target)
	err := b.pm.run(ctx, b.log, b.conf, func(dir string) error {
		stopProfile, err := startCPUProfile(b.cfg.CPUProfile)
		if err != nil {
			return err
		}
		defer stopProfile()
		_, st, err := b.backup.DirAt(ctx, b.target, dir, time.Minute, nil)
		if err != nil {
			return fmt.Errorf("restore at %s: %w", b.target, err)
		}
		if _, err := restore.CheckDataDir(dir); err != nil {
			return fmt.Errorf("the restored data directory is not usable: %w", err)
		}
		b.pmStats = *st
		return nil
	})
	if err != nil {
		return err
	}
	b.log.Info("pagemill restore: accepting connections", "seconds", b.pm.total, "write_seconds", b.pm.fill, "mb", float64(b.pmStats.Bytes)/1e6,
		"mode", b.pmStats.Mode, "log", b.pm.redo.String())
	return nil
}

// classicRestore times copying the base backup into a new data
// directory, then archive recovery up to the target and promotion, until
// the server runs as a primary.
func (b *restoreBench) classicRestore(ctx context.Context) error {
	b.log.Info("classic restore", "lsn", b.target)
	conf := maps.Clone(b.conf)
	conf["restore_command"] = "cp " + b.archive + "/%f %p"
	conf["recovery_target_lsn"] = b.target.String()
	conf["recovery_target_inclusive"] = "off" // the records that end at or before it
	conf["recovery_target_action"] = "promote"
	err := b.cl.run(ctx, b.log, conf, func(dir string) error {
		n, err := copyTreeSync(b.backupDir, dir)
		if err != nil {
			return fmt.Errorf("copy the base backup: %w", err)
		}
		b.clBytes = n
		return os.WriteFile(filepath.Join(dir, "recovery.signal"), nil, 0o600)
	})
	if err != nil {
		return err
	}
	b.log.Info("classic restore: promoted", "seconds", b.cl.total, "copy_seconds", b.cl.fill)
	return nil
}

// copyDataDir times cp -r of the source's data directory into a new
// directory, then one sync of its file system (a restore's files are
// durable too); and the same without pg_wal.
func (b *restoreBench) copyDataDir(ctx context.Context) error {
	src := b.src.DataDir()
	b.cpBytes, b.cpWALBytes = treeSize(src), treeSize(b.src.WALDir())
	dst := filepath.Join(b.tmp, "cp-r")
	b.log.Info("cp -r of the source's data directory", "mb", float64(b.cpBytes)/1e6)
	var err error
	if b.cpSecs, err = timeCopy(ctx, dst, src); err != nil {
		return err
	}
	if err := os.RemoveAll(dst); err != nil {
		return err
	}
	ents, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	if err := restore.SyncTree(b.tmp); err != nil {
		return err
	}
	if err := os.Mkdir(dst, 0o700); err != nil {
		return err
	}
	var parts []string
	for _, e := range ents {
		if e.Name() != "pg_wal" {
			parts = append(parts, filepath.Join(src, e.Name()))
		}
	}
	if b.cpNoWALSecs, err = timeCopy(ctx, dst, parts...); err != nil {
		return err
	}
	b.log.Info("cp -r done", "seconds", b.cpSecs, "without_pg_wal_seconds", b.cpNoWALSecs)
	return os.RemoveAll(dst)
}

// timeCopy times cp -r of srcs to dst and a sync of dst's file system.
func timeCopy(ctx context.Context, dst string, srcs ...string) (float64, error) {
	t0 := time.Now()
	args := append(append([]string{"-r"}, srcs...), dst)
	if out, err := exec.CommandContext(ctx, "cp", args...).CombinedOutput(); err != nil {
		return 0, fmt.Errorf("cp %s: %v: %s", strings.Join(args, " "), err, out)
	}
	if err := restore.SyncTree(dst); err != nil {
		return 0, err
	}
	return time.Since(t0).Seconds(), nil
}

// timeRebuild times a second materializer filling a fresh page store
// from the streams until every shard applied the target.
func (b *restoreBench) timeRebuild(ctx context.Context, dir string) error {
	m, err := openMat(b.js, b.h, dir, materialize.Config{ConsumerPrefix: rebuildConsumerPrefix}, prometheus.NewRegistry(), b.log)
	if err != nil {
		return err
	}
	defer m.stop()
	b.log.Info("rebuilding a fresh page store from the streams", "to", b.target)
	t0 := time.Now()
	m.start(ctx)
	if err := m.ready(ctx); err != nil {
		return fmt.Errorf("base backup import: %w", err)
	}
	b.rbImport = time.Since(t0).Seconds()
	if err := m.waitAll(ctx, b.target, false, 30*time.Minute); err != nil {
		return err
	}
	b.rbSecs = time.Since(t0).Seconds()
	m.stop()
	b.rbStore = treeSize(dir)
	b.log.Info("rebuilt", "seconds", b.rbSecs, "wal_mb_per_s", float64(b.target-b.pmBase)/1e6/b.rbSecs)
	return nil
}

// waitPrimary waits until c accepts a connection and is out of recovery.
func waitPrimary(ctx context.Context, c *scratchpg.Cluster) error {
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

// pgbenchSum is the check value of a cluster's pgbench data.
func pgbenchSum(ctx context.Context, c *scratchpg.Cluster) (string, error) {
	rows, err := c.QueryContext(ctx, "SELECT sum(abalance) FROM pgbench_accounts")
	if err != nil {
		return "", err
	}
	if len(rows) != 1 || len(rows[0]) != 1 {
		return "", fmt.Errorf("sum(abalance): %v", rows)
	}
	return rows[0][0], nil
}

// backupLabelStart reads START WAL LOCATION from a base backup's
// backup_label.
func backupLabelStart(dir string) (schema.LSN, error) {
	path := filepath.Join(dir, "backup_label")
	b, err := os.ReadFile(path)
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
	return 0, fmt.Errorf("no START WAL LOCATION in %s", path)
}

// archiveWAL copies src's WAL segments holding from .. end (exclusive)
// into dir, readable by everyone, and returns their number and bytes.
func archiveWAL(src *scratchpg.Cluster, dir string, tli uint32, from, end schema.LSN) (int, int64, error) {
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
