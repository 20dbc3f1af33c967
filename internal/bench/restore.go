package bench

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/pagemill/pagemill/ingest"
	"github.com/pagemill/pagemill/internal/scratchpg"
	"github.com/pagemill/pagemill/redo/materialize"
	"github.com/pagemill/pagemill/restore"
	"github.com/pagemill/pagemill/schema"
	"github.com/pagemill/pagemill/streams"
)

// restoreBench is one run of `restore`: the source, pagemill following
// it, and what was measured.
type restoreBench struct {
	cfg  restoreConfig
	log  *slog.Logger
	tmp  string
	conf map[string]string // the source's settings, and the restored clusters'
	src  *scratchpg.Cluster

	nats   *embeddedNATS
	ing    *runningIngest
	js     jetstream.JetStream
	h      *streams.Handles
	mat    *runningMat
	backup *restore.Backup

	backupDir, archive string // the classic base backup and WAL archive

	// pmBase and classicBase are the start LSNs of pagemill's base backup
	// and of pg_basebackup's; target is the LSN restored at (the source's
	// WAL end once the load stopped).
	pmBase, classicBase, target schema.LSN
	sum                         string // the source's sum(abalance) at target
	checkpoints                 int    // CHECKPOINTs during the load

	// pagemill restore: the data directory written, then PostgreSQL's
	// start; the same restore as a tar to io.Discard.
	pm        restoreTiming
	pmStats   restore.Stats
	pmTarOnly float64
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

// Run is restore's benchmark: after a pgbench load of about --size-mb MB
// of WAL following the base backups, the time until a PostgreSQL restored
// at the load's end accepts connections, three ways from one run:
// pagemill's (restore.Backup writing the data directory directly,
// PostgreSQL starting on it without replay), the I/O limit (cp -r of the
// source's data directory, synced), and the classic way (pg_basebackup -X
// none copied into a data directory, archive recovery with
// restore_command up to the same LSN, promotion). Both restored clusters
// must answer the same sum(abalance) as the source, and the restored
// server's log is checked for redo. Then, unless --rebuild=false, the
// time to rebuild a fresh page store from the streams up to that LSN.
func (cfg *restoreConfig) Run(ctx context.Context, env Env) (*Report, error) {
	if cfg.Scale < 1 || cfg.SizeMB < 1 || cfg.Shards < 1 || cfg.CheckpointMB < 0 {
		return nil, usagef("--scale, --size-mb and --shards must be positive, --checkpoint-mb not negative")
	}
	b := &restoreBench{cfg: *cfg, log: env.Log}
	var err error
	if b.tmp, err = scratchDir(env, "restore"); err != nil {
		return nil, err
	}
	defer os.RemoveAll(b.tmp)
	// No checkpoint during the load unless asked. The same settings for
	// the restored clusters.
	b.conf = clusterConf(max(4096, 3*cfg.SizeMB), map[string]string{"autovacuum": "off"})
	env.Log.Info("starting the source cluster", "scale", cfg.Scale)
	if b.src, err = startCluster(ctx, b.conf, env.Log); err != nil {
		return nil, fmt.Errorf("source cluster: %w", err)
	}
	defer closeCluster(b.src, env.Log)
	if err := pgbenchWorkload(cfg.Scale, 2, false).setup(ctx, b.src); err != nil {
		return nil, fmt.Errorf("source: %w", err)
	}
	if err := b.startPagemill(ctx); err != nil {
		return nil, err
	}
	defer b.stopPagemill()
	if err := b.classicBaseBackup(ctx); err != nil {
		return nil, fmt.Errorf("classic base backup: %w", err)
	}
	if err := b.loadToTarget(ctx); err != nil {
		return nil, err
	}
	if err := b.timeRestores(ctx); err != nil {
		return nil, err
	}
	if cfg.Rebuild {
		// Nothing else runs meanwhile.
		b.ing.stop()
		b.mat.stop()
		if err := b.timeRebuild(ctx, filepath.Join(b.tmp, "rebuild-pages")); err != nil {
			return nil, fmt.Errorf("rebuild: %w", err)
		}
	}
	return b.report(), nil
}

// startPagemill starts pagemill on the source (slot "pagemill") with its
// state in the scratch directory: embedded JetStream, ingest (with its
// base backup), the materializer and restore.Backup; and waits until the
// base backup is imported.
func (b *restoreBench) startPagemill(ctx context.Context) error {
	var err error
	if b.nats, err = startNATS(ctx, filepath.Join(b.tmp, "nats"), 0, b.log); err != nil {
		return err
	}
	scfg := streams.Config{Shards: b.cfg.Shards, Replicas: 1}
	icfg := ingest.Config{Source: b.src.ConnString("postgres"), Slot: "pagemill", Streams: scfg}
	if b.ing, err = b.nats.startIngest(ctx, icfg, prometheus.NewRegistry(), b.log); err != nil {
		return err
	}
	if err := b.ing.wait(ctx, 100*time.Millisecond, 10*time.Minute, baseBackupDone(&b.pmBase)); err != nil {
		return fmt.Errorf("pagemill base backup: %w", err)
	}
	if b.js, b.h, err = b.nats.streamsOf(ctx, b.ing.ing.Layout(), scfg); err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	if b.mat, err = openMat(b.js, b.h, filepath.Join(b.tmp, "pages"), materialize.Config{}, reg, b.log); err != nil {
		return err
	}
	b.mat.start(ctx)
	if err := b.mat.ready(ctx); err != nil {
		return fmt.Errorf("base backup import: %w", err)
	}
	b.backup = restore.New(b.mat.m, b.h, reg, b.log.With("component", "restore"))
	return nil
}

// stopPagemill stops whatever of pagemill runs.
func (b *restoreBench) stopPagemill() {
	if b.ing != nil {
		b.ing.stop()
	}
	if b.mat != nil {
		b.mat.stop()
	}
	if b.nats != nil {
		b.nats.close()
	}
}

// classicBaseBackup takes pg_basebackup -X none, after pagemill's base
// backup (whose retries would otherwise add their segment switches to the
// classic WAL); a slot keeps the WAL from before it.
func (b *restoreBench) classicBaseBackup(ctx context.Context) error {
	if _, err := b.src.CreatePhysicalSlotContext(ctx, "bench_classic"); err != nil {
		return fmt.Errorf("slot for the classic backup's WAL: %w", err)
	}
	b.backupDir = filepath.Join(b.tmp, "basebackup")
	b.log.Info("pg_basebackup -X none", "dir", b.backupDir)
	if _, err := b.src.RunBin(ctx, "pg_basebackup", "-D", b.backupDir, "-X", "none", "-c", "fast"); err != nil {
		return err
	}
	var err error
	if b.classicBase, err = backupLabelStart(b.backupDir); err != nil {
		return err
	}
	b.log.Info("base backups taken and imported; generating WAL", "pagemill_base", b.pmBase, "classic_base", b.classicBase, "mb", b.cfg.SizeMB)
	return nil
}

// loadToTarget runs the load, takes the target (the source's WAL end with
// pgbench stopped) and its sum(abalance), waits until pagemill applied
// it, and archives the classic restore's WAL.
func (b *restoreBench) loadToTarget(ctx context.Context) error {
	start, err := currentLSN(ctx, b.src)
	if err != nil {
		return fmt.Errorf("source: %w", err)
	}
	t := walTarget{from: start, want: schema.LSN(b.cfg.SizeMB) * 1e6, checkpointEvery: schema.LSN(b.cfg.CheckpointMB) * 1e6}
	if b.target, b.checkpoints, err = generateWAL(ctx, b.src, pgbenchWorkload(b.cfg.Scale, 2, false), t, b.log); err != nil {
		return fmt.Errorf("load: %w", err)
	}
	if b.sum, err = pgbenchSum(ctx, b.src); err != nil {
		return fmt.Errorf("source: %w", err)
	}
	// A record after the target, for archive recovery to stop before, and
	// the last segment complete.
	switchEnd, err := b.src.SwitchWALContext(ctx)
	if err != nil {
		return fmt.Errorf("source: %w", err)
	}
	walEnd, err := schema.ParseLSN(strings.TrimSpace(switchEnd))
	if err != nil {
		return fmt.Errorf("source: pg_switch_wal: %w", err)
	}
	if err := b.mat.waitAll(ctx, b.target, false, 10*time.Minute); err != nil {
		return err
	}
	b.log.Info("pagemill applied the load", "target", b.target, "mb", float64(b.target-b.pmBase)/1e6, "sum_abalance", b.sum)
	// The classic archive: the WAL from pg_basebackup's start on. In the
	// source's cluster directory, which the server's user can read.
	b.archive = filepath.Join(filepath.Dir(b.src.DataDir()), "archive")
	if b.clSegments, b.clArchived, err = archiveWAL(b.src, b.archive, b.h.Layout.Timeline, b.classicBase, walEnd); err != nil {
		return fmt.Errorf("archive the WAL: %w", err)
	}
	return nil
}

func (b *restoreBench) report() *Report {
	pmWAL := float64(b.target-b.pmBase) / 1e6
	clWAL := float64(b.target-b.classicBase) / 1e6
	ck := "no checkpoint during the load"
	if b.cfg.CheckpointMB > 0 {
		ck = fmt.Sprintf("a CHECKPOINT every %d MB (%d)", b.cfg.CheckpointMB, b.checkpoints)
	}
	rep := &Report{}
	rep.Linef("pgbench scale %d, %d shards, %s: WAL after pagemill's base backup %s .. %s: %.1f MB (after pg_basebackup's %s: %.1f MB); restored at %s",
		b.cfg.Scale, b.cfg.Shards, ck, b.pmBase, b.target, pmWAL, b.classicBase, clWAL, b.target)
	rep.Add(Section{Table: b.table(pmWAL, clWAL)})
	rep.Linef("ratio pagemill restore / cp -r (seconds): %.2f (target: at most 1.20); / cp -r without pg_wal: %.2f", b.pm.total/b.cpSecs, b.pm.total/b.cpNoWALSecs)
	rep.Linef("ratio classic/pagemill restore (seconds): %.2f (above 1: pagemill is faster)", b.cl.total/b.pm.total)
	redo := "no redo"
	if b.pm.redo.ok || b.pm.redo.recovery {
		redo = "REDO: " + b.pm.redo.String()
	}
	rep.Linef("restored server's log (pagemill): %s", redo)
	rep.Linef("sum(abalance) at %s: source %s, pagemill restore %s, classic %s", b.target, b.sum, b.pm.sum, b.cl.sum)
	rep.Figure("ratio_pagemill_cp_r", b.pm.total/b.cpSecs)
	rep.Figure("ratio_pagemill_cp_r_without_pg_wal", b.pm.total/b.cpNoWALSecs)
	rep.Figure("ratio_classic_pagemill", b.cl.total/b.pm.total)
	return rep
}

func (b *restoreBench) table(pmWAL, clWAL float64) *Table {
	t := &Table{LabelWidth: 56, Columns: []Column{{"seconds", 9, 2}, {"WAL MB", 9, 1}, {"WAL MB/s", 9, 1}, {"data MB", 9, 1}}}
	row := func(name string, secs, walMB float64, dataBytes int64) {
		t.Rows = append(t.Rows, Row{Name: name, Values: []Value{Num(secs), Num(walMB), Rate(walMB, secs), Num(float64(dataBytes) / 1e6)}})
	}
	sub := func(name string, secs float64, detail string) {
		t.Rows = append(t.Rows, Row{Name: name, Sub: true, Values: []Value{Num(secs)}, Text: detail})
	}
	st := b.pmStats
	row("pagemill restore", b.pm.total, pmWAL, st.Bytes)
	sub("write the data directory ("+st.Mode.String()+")", b.pm.fill, fmt.Sprintf("%d files, %.1f MB, %d zero pages as holes, %.1f MB/s",
		st.Files, float64(st.Bytes)/1e6, st.ZeroPages, float64(st.Bytes)/1e6/b.pm.fill))
	sub("PostgreSQL start to a connection", b.pm.start, b.pm.redo.String())
	sub("(the same restore as a tar, to io.Discard)", b.pmTarOnly, fmt.Sprintf("%.1f MB/s", float64(st.Bytes)/1e6/b.pmTarOnly))
	t.Rows = append(t.Rows, Row{Name: "cp -r of the source's data directory", Values: []Value{Num(b.cpSecs), None(), None(), Num(float64(b.cpBytes) / 1e6)}})
	noWAL := float64(b.cpBytes-b.cpWALBytes) / 1e6
	sub(fmt.Sprintf("(without pg_wal, of %.1f MB)", float64(b.cpWALBytes)/1e6), b.cpNoWALSecs, fmt.Sprintf("%.1f MB, %.1f MB/s", noWAL, noWAL/b.cpNoWALSecs))
	row("classic base backup + WAL replay", b.cl.total, clWAL, b.clBytes+b.clArchived)
	sub("copy the base backup into a new data directory", b.cl.fill, fmt.Sprintf("%.1f MB copied; %d archived segments, %.1f MB",
		float64(b.clBytes)/1e6, b.clSegments, float64(b.clArchived)/1e6))
	sub("PostgreSQL start, archive recovery, promotion", b.cl.start, b.cl.redo.String())
	if b.cfg.Rebuild {
		row("pagemill rebuild", b.rbSecs, pmWAL, b.rbStore)
		sub("base backup import (included)", b.rbImport, fmt.Sprintf("page store after: %.1f MB", float64(b.rbStore)/1e6))
	}
	return t
}
