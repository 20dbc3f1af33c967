package cli_test

import (
	"context"
	"strings"
	"testing"

	"github.com/pagemill/pagemill/internal/pgtest"
)

// TestRestoreIndexAMs: the workloads of every index access method
// (pgtest.IndexAMWorkloads: hash, GIN, GiST, SP-GiST, BRIN, bloom) run on
// a source that pagemill follows; in the middle of their changes the LSN
// and the rows of each workload's index-only queries are recorded, then
// the changes go on. A restore at that LSN starts on vanilla PostgreSQL
// 15, every query's plan goes through an index and returns the rows the
// source returned at that LSN, and pg_amcheck finds nothing.
func TestRestoreIndexAMs(t *testing.T) {
	c := pgtest.Start(t, pgtest.Options{ExtraConf: pgtest.IndexAMConf()})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p, pgAddr := startRun(t, ctx, c, t.TempDir(), 4, "pm_indexam")

	var ws []pgtest.IndexAMWorkload
	for _, w := range pgtest.IndexAMWorkloads() {
		if w.Minimal { // wal_level=minimal cannot be streamed
			continue
		}
		if len(w.Changes) < 2 || len(w.Queries) == 0 {
			t.Fatalf("workload %s: %d changes, %d queries: the test needs two changes and a query", w.Name, len(w.Changes), len(w.Queries))
		}
		ws = append(ws, w)
		c.RunIndexAMWorkload(t, w)
	}
	exec := func(w pgtest.IndexAMWorkload, stmts []string) {
		for _, s := range stmts {
			if err := c.ExecContext(ctx, s); err != nil {
				t.Fatalf("%s: %v", w.Name, err)
			}
		}
	}
	for _, w := range ws {
		exec(w, w.Changes[:len(w.Changes)/2])
	}
	lsn := mustLSN(t, c.Query(t, "SELECT pg_current_wal_lsn()")[0][0])
	want := map[string]string{}
	for _, w := range ws {
		for _, q := range w.Queries {
			rows, _, err := c.QueryIndexAM(ctx, q)
			if err != nil {
				t.Fatalf("%s on the source: %v", w.Name, err)
			}
			want[q] = rows
		}
	}
	for _, w := range ws {
		exec(w, w.Changes[len(w.Changes)/2:])
	}
	waitApplied(t, ctx, p, pgAddr, mustLSN(t, c.Query(t, "SELECT pg_current_wal_lsn()")[0][0]))

	r := restoreAt(t, ctx, pgAddr, lsn)
	for _, w := range ws {
		for _, q := range w.Queries {
			rows, plan, err := r.QueryIndexAM(ctx, q)
			if err != nil {
				t.Errorf("%s after the restore: %v", w.Name, err)
				continue
			}
			if !strings.Contains(plan, "Index") {
				t.Errorf("%s: %q does not use an index:\n%s", w.Name, q, plan)
			}
			if rows != want[q] {
				t.Errorf("%s: %q at %s returns %d bytes of rows (%.200q), the source returned %d (%.200q)",
					w.Name, q, lsn, len(rows), rows, len(want[q]), want[q])
			}
			if rows == "" {
				t.Errorf("%s: %q returns no rows", w.Name, q)
			}
		}
	}
	amcheck(t, r)
}
