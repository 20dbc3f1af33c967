package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/pagemill/pagemill/internal/scratchpg"
	"github.com/pagemill/pagemill/redo"
	"github.com/pagemill/pagemill/schema"
)

// redoWorkload is what `bench redo --workload` loads the scratch cluster
// with: setup runs before the checkpoint recovery starts from, rounds run
// after it until the WAL is large enough.
type redoWorkload struct {
	setup func(ctx context.Context, c *scratchpg.Cluster) error
	round func(ctx context.Context, c *scratchpg.Cluster, i int) error
}

// pgbenchRedoWorkload is pgbench -i at scale, then rounds of secs seconds
// of pgbench with 4 clients.
func pgbenchRedoWorkload(scale, secs int) redoWorkload {
	return redoWorkload{
		setup: func(ctx context.Context, c *scratchpg.Cluster) error {
			_, err := c.PgbenchContext(ctx, "-i", "-s", strconv.Itoa(scale), "-q")
			return err
		},
		round: func(ctx context.Context, c *scratchpg.Cluster, _ int) error {
			_, err := c.PgbenchContext(ctx, "-T", strconv.Itoa(secs), "-c", "4", "-j", "2")
			return err
		},
	}
}

// sqlRedoWorkload runs SQL statements: setup, then round(i) for round i.
func sqlRedoWorkload(setup []string, round func(i int) []string) redoWorkload {
	exec := func(ctx context.Context, c *scratchpg.Cluster, stmts []string) error {
		for _, s := range stmts {
			if err := c.ExecContext(ctx, s); err != nil {
				return err
			}
		}
		return nil
	}
	return redoWorkload{
		setup: func(ctx context.Context, c *scratchpg.Cluster) error { return exec(ctx, c, setup) },
		round: func(ctx context.Context, c *scratchpg.Cluster, i int) error { return exec(ctx, c, round(i)) },
	}
}

// redoWorkloadNames are the values of --workload.
func redoWorkloadNames() []string {
	return []string{"pgbench", "indexam", "hash", "gin", "gist", "spgist", "brin", "bloom"}
}

// indexAMRedoWorkload is an index-heavy workload: inserts, deletes and
// vacuums of tables indexed by one access method (am) or by all of them
// ("indexam"). Each round adds rows past the previous ones and deletes a
// seventh of the table, so splits, page reuse and vacuum records all show.
func indexAMRedoWorkload(am string) redoWorkload {
	type part struct {
		setup string
		round func(lo, hi, i int) string
	}
	parts := map[string]part{
		"hash": {`CREATE TABLE bh (k int, v int); CREATE INDEX ON bh USING hash (k)`,
			func(lo, hi, i int) string {
				return fmt.Sprintf(`INSERT INTO bh SELECT g, g FROM generate_series(%d, %d) g; DELETE FROM bh WHERE k %% 7 = %d`, lo, hi, i%7)
			}},
		"gin": {`CREATE TABLE bg (id int, a int[], d text); CREATE INDEX ON bg USING gin (a) WITH (fastupdate = off);
			CREATE INDEX ON bg USING gin (to_tsvector('simple', d))`,
			func(lo, hi, i int) string {
				return fmt.Sprintf(`INSERT INTO bg SELECT g, ARRAY[g %% 100, g %% 1000, g], md5(g::text) || ' ' || (g %% 50)
					FROM generate_series(%d, %d) g; DELETE FROM bg WHERE id %% 7 = %d`, lo, hi, i%7)
			}},
		"gist": {`CREATE TABLE bs (id int, p point); CREATE INDEX ON bs USING gist (p)`,
			func(lo, hi, i int) string {
				return fmt.Sprintf(`INSERT INTO bs SELECT g, point(random() * 1000, random() * 1000) FROM generate_series(%d, %d) g;
					DELETE FROM bs WHERE id %% 7 = %d`, lo, hi, i%7)
			}},
		"spgist": {`CREATE TABLE bp (id int, t text, p point); CREATE INDEX ON bp USING spgist (t); CREATE INDEX ON bp USING spgist (p)`,
			func(lo, hi, i int) string {
				return fmt.Sprintf(`INSERT INTO bp SELECT g, md5(g::text), point(random() * 1000, random() * 1000) FROM generate_series(%d, %d) g;
					DELETE FROM bp WHERE id %% 7 = %d`, lo, hi, i%7)
			}},
		"brin": {`CREATE TABLE bb (id int, t text); CREATE INDEX ON bb USING brin (id, t) WITH (pages_per_range = 1)`,
			func(lo, hi, i int) string {
				return fmt.Sprintf(`INSERT INTO bb SELECT g, md5(g::text) FROM generate_series(%d, %d) g;
					SELECT brin_summarize_new_values('bb_id_t_idx'); DELETE FROM bb WHERE id %% 7 = %d`, lo, hi, i%7)
			}},
		"bloom": {`CREATE EXTENSION IF NOT EXISTS bloom; CREATE TABLE bl (a int, b int); CREATE INDEX ON bl USING bloom (a, b)`,
			func(lo, hi, i int) string {
				return fmt.Sprintf(`INSERT INTO bl SELECT g, g * 3 FROM generate_series(%d, %d) g; DELETE FROM bl WHERE a %% 7 = %d`, lo, hi, i%7)
			}},
	}
	names := []string{am}
	if am == "indexam" {
		names = []string{"hash", "gin", "gist", "spgist", "brin", "bloom"}
	}
	tables := map[string]string{"hash": "bh", "gin": "bg", "gist": "bs", "spgist": "bp", "brin": "bb", "bloom": "bl"}
	var setup []string
	for _, n := range names {
		setup = append(setup, parts[n].setup)
	}
	const rows = 20000
	return sqlRedoWorkload(setup, func(i int) []string {
		var out []string
		for _, n := range names {
			out = append(out, parts[n].round(i*rows, i*rows+rows-1, i), "VACUUM "+tables[n])
		}
		return out
	})
}

// runRedoWorkload loads c until the WAL from redoStart reaches want bytes.
func runRedoWorkload(ctx context.Context, c *scratchpg.Cluster, w redoWorkload, redoStart, want schema.LSN, log interface {
	Info(string, ...any)
}) error {
	t0 := time.Now()
	for i := 0; ; i++ {
		cur, err := currentLSN(ctx, c)
		if err != nil {
			return err
		}
		if cur-redoStart >= want {
			log.Info("WAL generated", "to", cur, "mb", float64(cur-redoStart)/1e6, "seconds", time.Since(t0).Seconds())
			return nil
		}
		log.Info("WAL generated so far", "lsn", cur, "mb", float64(cur-redoStart)/1e6)
		if err := w.round(ctx, c, i); err != nil {
			return err
		}
	}
}

// rmgrProfile is the serial redo time spent per resource manager.
type rmgrProfile struct {
	rmgr    schema.RmgrID
	records int64
	bytes   int64 // total record length
	elapsed time.Duration
}

// profileRedo replays the range serially, timing every record's Apply
// (two clock reads per record, which is why it is a pass of its own and
// not one of the timed runs), and returns the time per resource manager,
// most time first. Decoding is not included.
func profileRedo(ctx context.Context, open func() (*schema.DirReader, error)) ([]rmgrProfile, error) {
	d, err := open()
	if err != nil {
		return nil, err
	}
	defer d.Close()
	e, err := redo.NewEngine()
	if err != nil {
		return nil, err
	}
	defer e.Restorer.Close()
	pages := redo.NewMemPages()
	var by [schema.RmgrMaxBuiltin + 1]rmgrProfile
	var unsupported int64
	for n := 0; ; n++ {
		if n%4096 == 0 && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		rec, err := d.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		t0 := time.Now()
		if err := applyCounted(e, rec, pages, pages.Truncate, &unsupported); err != nil {
			return nil, err
		}
		if r := rec.Rmgr(); int(r) < len(by) {
			p := &by[r]
			p.rmgr = r
			p.elapsed += time.Since(t0)
			p.records++
			p.bytes += int64(rec.Header.TotLen)
		}
	}
	var out []rmgrProfile
	for _, p := range by {
		if p.records > 0 {
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].elapsed > out[j].elapsed })
	return out, nil
}

func printRmgrProfile(w io.Writer, prof []rmgrProfile) {
	fmt.Fprintf(w, "\npagemill serial redo per resource manager (Apply only, timed per record):\n")
	fmt.Fprintf(w, "%-12s %10s %10s %10s %12s\n", "rmgr", "records", "MB", "MB/s", "µs/record")
	for _, p := range prof {
		s := p.elapsed.Seconds()
		mbps := "-"
		if s > 0 {
			mbps = fmt.Sprintf("%.1f", float64(p.bytes)/1e6/s)
		}
		fmt.Fprintf(w, "%-12s %10d %10.1f %10s %12.3f\n", p.rmgr, p.records, float64(p.bytes)/1e6, mbps, s*1e6/float64(p.records))
	}
}

// validRedoWorkload reports whether name is a --workload value.
func validRedoWorkload(name string) error {
	if slices.Contains(redoWorkloadNames(), name) {
		return nil
	}
	return fmt.Errorf("unknown workload %q (one of %s)", name, strings.Join(redoWorkloadNames(), ", "))
}
