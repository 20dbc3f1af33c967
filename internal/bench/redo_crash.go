package bench

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/pagemill/pagemill/internal/scratchpg"
	"github.com/pagemill/pagemill/schema"
)

// crashedCluster is a scratch cluster stopped with -m immediate after a
// load, whose WAL was copied for pagemill.
type crashedCluster struct {
	c         *scratchpg.Cluster
	redoStart schema.LSN // the checkpoint's redo pointer: where recovery starts
	snapshot  string     // copy of the crashed data directory, for runs after the first
	generated string     // how the WAL was made
}

// makeCrashedCluster runs cfg's workload after a checkpoint, with no
// checkpoint after it, crashes the server and copies its WAL to walDir.
// The caller closes the cluster.
func makeCrashedCluster(ctx context.Context, cfg redoConfig, walDir string, log *slog.Logger) (_ *crashedCluster, err error) {
	scale := cfg.Scale
	if scale == 0 {
		scale = min(10, max(1, cfg.SizeMB/30))
	}
	secs := cfg.PgbenchSeconds
	if secs == 0 {
		secs = min(10, max(1, cfg.SizeMB/30))
	}
	// No checkpoint during the load: recovery replays all of it.
	// synchronous_commit off makes the load faster; the records are the
	// same.
	c, err := startCluster(ctx, clusterConf(4*cfg.SizeMB+1024, map[string]string{"autovacuum": "off", "synchronous_commit": "off"}), log)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			closeCluster(c, log)
		}
	}()
	cc := &crashedCluster{c: c, generated: fmt.Sprintf("pgbench scale %d, from a checkpoint, full_page_writes on", scale)}
	w := pgbenchWorkload(scale, secs, false)
	if cfg.Workload != "" && cfg.Workload != "pgbench" {
		w = indexAMWorkload(cfg.Workload)
		cc.generated = fmt.Sprintf("workload %s: inserts, deletes and vacuums, from a checkpoint, full_page_writes on", cfg.Workload)
	}
	if err := w.setup(ctx, c); err != nil {
		return nil, fmt.Errorf("workload setup: %w", err)
	}
	if err := c.CheckpointContext(ctx); err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	if cc.redoStart, err = redoPointer(ctx, c); err != nil {
		return nil, err
	}
	log.Info("generating WAL (no checkpoint)", "workload", cfg.Workload, "mb", cfg.SizeMB, "from", cc.redoStart)
	if _, _, err := generateWAL(ctx, c, w, walTarget{from: cc.redoStart, want: schema.LSN(cfg.SizeMB) * 1e6}, log); err != nil {
		return nil, err
	}
	if r, err := redoPointer(ctx, c); err != nil {
		return nil, err
	} else if r != cc.redoStart {
		return nil, fmt.Errorf("a checkpoint happened during the load (redo pointer %s, was %s): raise max_wal_size", r, cc.redoStart)
	}
	log.Info("crashing the server: pg_ctl stop -m immediate")
	if err := c.StopImmediate(); err != nil {
		return nil, fmt.Errorf("crash the server: %w", err)
	}
	if _, err := c.CopyWALFiles(walDir); err != nil {
		return nil, fmt.Errorf("copy the WAL: %w", err)
	}
	if cfg.Runs > 1 {
		cc.snapshot = filepath.Join(filepath.Dir(c.DataDir()), "crashed")
		if err := copyTree(ctx, c.DataDir(), cc.snapshot); err != nil {
			return nil, err
		}
	}
	return cc, nil
}

// redoPointer is the redo pointer of the server's last checkpoint.
func redoPointer(ctx context.Context, c *scratchpg.Cluster) (schema.LSN, error) {
	rows, err := c.QueryContext(ctx, "SELECT redo_lsn FROM pg_control_checkpoint()")
	if err != nil {
		return 0, fmt.Errorf("redo pointer: %w", err)
	}
	return schema.ParseLSN(rows[0][0])
}

// timeRecovery starts the crashed server runs times (restoring the crashed
// data directory before every run after the first) and returns the best
// redo elapsed time from the log, the best pg_ctl start wall time and
// what the log says was replayed.
func (cc *crashedCluster) timeRecovery(ctx context.Context, runs int, log *slog.Logger) (pg, restart *redoRow, rng *redoLog, err error) {
	c := cc.c
	pg = &redoRow{name: "PostgreSQL crash recovery (log: redo done … elapsed)"}
	restart = &redoRow{name: "PostgreSQL restart (pg_ctl start -w, wall, 0.1 s polls)", noCPU: true}
	for i := range runs {
		if i > 0 {
			if err := c.Stop(); err != nil {
				return nil, nil, nil, fmt.Errorf("stop the server: %w", err)
			}
			if err := os.RemoveAll(c.DataDir()); err != nil {
				return nil, nil, nil, err
			}
			if err := copyTree(ctx, cc.snapshot, c.DataDir()); err != nil {
				return nil, nil, nil, err
			}
		}
		r, err := timeCrashRecovery(c)
		if err != nil {
			return nil, nil, nil, err
		}
		rng = &r.redo
		log.Info("PostgreSQL crash recovery", "run", i+1, "redo_seconds", r.redo.elapsed.Seconds(), "restart_seconds", r.wall.Seconds(),
			"redo_start", r.redo.start, "redo_done", r.redo.done, "load_average", r.load)
		if i == 0 || r.redo.elapsed < pg.elapsed {
			pg.elapsed, pg.cpu, pg.load = r.redo.elapsed, r.redo.cpu, r.load
		}
		if i == 0 || r.wall < restart.elapsed {
			restart.elapsed, restart.load = r.wall, r.load
		}
	}
	return pg, restart, rng, nil
}
