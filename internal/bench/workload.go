package bench

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pagemill/pagemill/internal/scratchpg"
	"github.com/pagemill/pagemill/schema"
)

// workload is what makes a benchmark's WAL: setup runs first (before the
// checkpoint recovery starts from, where that matters), round(i) then
// runs for i = 0, 1, … until the WAL is large enough (generateWAL).
type workload struct {
	setup func(ctx context.Context, c *scratchpg.Cluster) error
	round func(ctx context.Context, c *scratchpg.Cluster, i int) error
}

// pgbenchWorkload is pgbench -i at scale, then rounds of secs seconds of
// pgbench with 4 clients, each followed by a CHECKPOINT when checkpoint
// is set (more first-touch full-page images, as in production).
func pgbenchWorkload(scale, secs int, checkpoint bool) workload {
	return workload{
		setup: func(ctx context.Context, c *scratchpg.Cluster) error {
			_, err := c.PgbenchContext(ctx, "-i", "-s", strconv.Itoa(scale), "-q")
			return err
		},
		round: func(ctx context.Context, c *scratchpg.Cluster, _ int) error {
			if _, err := c.PgbenchContext(ctx, "-T", strconv.Itoa(secs), "-c", "4", "-j", "2"); err != nil {
				return err
			}
			if checkpoint {
				if err := c.CheckpointContext(ctx); err != nil {
					return fmt.Errorf("checkpoint: %w", err)
				}
			}
			return nil
		},
	}
}

// sqlWorkload runs SQL statements: setup, then round(i) for round i.
func sqlWorkload(setup []string, round func(i int) []string) workload {
	exec := func(ctx context.Context, c *scratchpg.Cluster, stmts []string) error {
		for _, s := range stmts {
			if err := c.ExecContext(ctx, s); err != nil {
				return fmt.Errorf("%.60s: %w", s, err)
			}
		}
		return nil
	}
	return workload{
		setup: func(ctx context.Context, c *scratchpg.Cluster) error { return exec(ctx, c, setup) },
		round: func(ctx context.Context, c *scratchpg.Cluster, i int) error { return exec(ctx, c, round(i)) },
	}
}

// workloadNames are the workloads `redo --workload` knows.
func workloadNames() []string {
	return []string{"pgbench", "indexam", "hash", "gin", "gist", "spgist", "brin", "bloom"}
}

// checkWorkload reports whether name is one of workloadNames.
func checkWorkload(name string) error {
	if slices.Contains(workloadNames(), name) {
		return nil
	}
	return fmt.Errorf("unknown workload %q (one of %s)", name, strings.Join(workloadNames(), ", "))
}

// indexAMPart is one access method's share of indexAMWorkload: its
// table, the statement creating it and its indexes, and a round's
// statement given the rows [lo, hi] to add and the round number.
type indexAMPart struct {
	table, setup string
	round        func(lo, hi, i int) string
}

func indexAMParts() map[string]indexAMPart {
	return map[string]indexAMPart{
		"hash": {"bh", `CREATE TABLE bh (k int, v int); CREATE INDEX ON bh USING hash (k)`,
			func(lo, hi, i int) string {
				return fmt.Sprintf(`INSERT INTO bh SELECT g, g FROM generate_series(%d, %d) g; DELETE FROM bh WHERE k %% 7 = %d`, lo, hi, i%7)
			}},
		"gin": {"bg", `CREATE TABLE bg (id int, a int[], d text); CREATE INDEX ON bg USING gin (a) WITH (fastupdate = off);
			CREATE INDEX ON bg USING gin (to_tsvector('simple', d))`,
			func(lo, hi, i int) string {
				return fmt.Sprintf(`INSERT INTO bg SELECT g, ARRAY[g %% 100, g %% 1000, g], md5(g::text) || ' ' || (g %% 50)
					FROM generate_series(%d, %d) g; DELETE FROM bg WHERE id %% 7 = %d`, lo, hi, i%7)
			}},
		"gist": {"bs", `CREATE TABLE bs (id int, p point); CREATE INDEX ON bs USING gist (p)`,
			func(lo, hi, i int) string {
				return fmt.Sprintf(`INSERT INTO bs SELECT g, point(random() * 1000, random() * 1000) FROM generate_series(%d, %d) g;
					DELETE FROM bs WHERE id %% 7 = %d`, lo, hi, i%7)
			}},
		"spgist": {"bp", `CREATE TABLE bp (id int, t text, p point); CREATE INDEX ON bp USING spgist (t); CREATE INDEX ON bp USING spgist (p)`,
			func(lo, hi, i int) string {
				return fmt.Sprintf(`INSERT INTO bp SELECT g, md5(g::text), point(random() * 1000, random() * 1000) FROM generate_series(%d, %d) g;
					DELETE FROM bp WHERE id %% 7 = %d`, lo, hi, i%7)
			}},
		"brin": {"bb", `CREATE TABLE bb (id int, t text); CREATE INDEX ON bb USING brin (id, t) WITH (pages_per_range = 1)`,
			func(lo, hi, i int) string {
				return fmt.Sprintf(`INSERT INTO bb SELECT g, md5(g::text) FROM generate_series(%d, %d) g;
					SELECT brin_summarize_new_values('bb_id_t_idx'); DELETE FROM bb WHERE id %% 7 = %d`, lo, hi, i%7)
			}},
		"bloom": {"bl", `CREATE EXTENSION IF NOT EXISTS bloom; CREATE TABLE bl (a int, b int); CREATE INDEX ON bl USING bloom (a, b)`,
			func(lo, hi, i int) string {
				return fmt.Sprintf(`INSERT INTO bl SELECT g, g * 3 FROM generate_series(%d, %d) g; DELETE FROM bl WHERE a %% 7 = %d`, lo, hi, i%7)
			}},
	}
}

// indexAMWorkload is an index-heavy workload: inserts, deletes and
// vacuums of tables indexed by one access method (am) or by all of them
// ("indexam"). Each round adds rows past the previous ones and deletes a
// seventh of the table, so splits, page reuse and vacuum records all show.
func indexAMWorkload(am string) workload {
	parts := indexAMParts()
	names := []string{am}
	if am == "indexam" {
		names = []string{"hash", "gin", "gist", "spgist", "brin", "bloom"}
	}
	var setup []string
	for _, n := range names {
		setup = append(setup, parts[n].setup)
	}
	const rows = 20000
	return sqlWorkload(setup, func(i int) []string {
		var out []string
		for _, n := range names {
			out = append(out, parts[n].round(i*rows, i*rows+rows-1, i), "VACUUM "+parts[n].table)
		}
		return out
	})
}

// walTarget is how much WAL generateWAL makes: rounds until the WAL has
// grown by want bytes since from, with a CHECKPOINT whenever
// checkpointEvery more bytes were written since the last one (0: none).
type walTarget struct {
	from, want      schema.LSN
	checkpointEvery schema.LSN
}

// generateWAL runs w's rounds on c until the target is reached, and
// returns the WAL's end then and the CHECKPOINTs it ran.
func generateWAL(ctx context.Context, c *scratchpg.Cluster, w workload, t walTarget, log *slog.Logger) (end schema.LSN, checkpoints int, err error) {
	t0, lastCk := time.Now(), t.from
	for i := 0; ; i++ {
		cur, err := currentLSN(ctx, c)
		if err != nil {
			return 0, checkpoints, err
		}
		if cur-t.from >= t.want {
			log.Info("WAL generated", "from", t.from, "to", cur, "mb", float64(cur-t.from)/1e6, "seconds", time.Since(t0).Seconds())
			return cur, checkpoints, nil
		}
		log.Info("WAL generated so far", "lsn", cur, "mb", float64(cur-t.from)/1e6)
		if t.checkpointEvery > 0 && cur >= lastCk+t.checkpointEvery {
			if err := c.CheckpointContext(ctx); err != nil {
				return 0, checkpoints, fmt.Errorf("checkpoint: %w", err)
			}
			lastCk = cur
			checkpoints++
		}
		if err := w.round(ctx, c, i); err != nil {
			return 0, checkpoints, fmt.Errorf("workload round %d: %w", i, err)
		}
	}
}
