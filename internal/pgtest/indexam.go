package pgtest

import (
	"context"
	"fmt"
	"strings"
	"testing"
)

// IndexAMWorkload is SQL that exercises one index access method's WAL:
// the redo verify tests run it with wal_consistency_checking, the
// materializer and restore tests compare the pages and query results it
// leaves. Each access method's workload is in indexam_<am>.go.
type IndexAMWorkload struct {
	// Name is the subtest name ("hash", "gin", ...).
	Name string
	// Rmgr is the resource manager whose records it is about, as
	// schema.RecordTypeName prints it before the slash ("Hash").
	Rmgr string
	// Statements run in order, each in its own session (a string may hold
	// several statements, e.g. SETs before a query). They create their own
	// tables and indexes and change them; they need the bloom extension.
	Statements []string
	// Want lists the record types (schema.RecordTypeName) the statements
	// reach on a stock PostgreSQL 15.
	Want []string
	// Changes run after Statements and change the indexes they built
	// (inserts, updates, deletes, vacuums): the restore test takes its
	// LSN in the middle of them.
	Changes []string
	// Queries return rows through the access method's indexes only: SETs
	// (enable_seqscan and the like) then one SELECT, separated by
	// semicolons (none inside literals). The restore test runs them on
	// the source and on a restored cluster and compares.
	Queries []string
	// Minimal means the workload needs wal_level=minimal (records written
	// only when a relation created in the same transaction is not
	// WAL-logged, such as GiST's ASSIGN_LSN) and so a cluster of its own.
	Minimal bool
}

// IndexAMWorkloads are the workloads of every index access method of a
// stock PostgreSQL 15 besides btree, in a fixed order.
func IndexAMWorkloads() []IndexAMWorkload {
	return []IndexAMWorkload{HashWorkload(), GinWorkload(), GistWorkload(), GistMinimalWorkload(), SPGistWorkload(), BRINWorkload(), GenericWorkload()}
}

// IndexAMConf are the settings the workloads expect: no autovacuum (its
// timing would make the records nondeterministic) and room for the WAL
// that wal_consistency_checking multiplies.
func IndexAMConf() map[string]string {
	return map[string]string{
		"autovacuum":         "off",
		"max_wal_size":       "4GB",
		"checkpoint_timeout": "1d",
	}
}

// RunIndexAMChanges runs w's Changes in order, failing the test on error.
func (c *Cluster) RunIndexAMChanges(tb testing.TB, w IndexAMWorkload) {
	tb.Helper()
	for i, stmt := range w.Changes {
		if err := c.ExecContext(context.Background(), stmt); err != nil {
			tb.Fatalf("%s workload change %d (%.60s): %v", w.Name, i, stmt, err)
		}
	}
}

// RunIndexAMWorkloadContext runs w's statements in order.
func (c *Cluster) RunIndexAMWorkloadContext(ctx context.Context, w IndexAMWorkload) error {
	if err := c.ExecContext(ctx, "CREATE EXTENSION IF NOT EXISTS bloom"); err != nil {
		return err
	}
	for i, stmt := range w.Statements {
		if err := c.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("%s workload statement %d (%.60s): %w", w.Name, i, stmt, err)
		}
	}
	return nil
}

// RunIndexAMWorkload is [Cluster.RunIndexAMWorkloadContext] that fails the
// test on error.
func (c *Cluster) RunIndexAMWorkload(tb testing.TB, w IndexAMWorkload) {
	tb.Helper()
	if err := c.RunIndexAMWorkloadContext(context.Background(), w); err != nil {
		tb.Fatal(err)
	}
}

// QueryIndexAM runs one of an IndexAMWorkload's Queries (its SETs, then
// its SELECT) in one session and returns the rows, one line each with the
// values separated by "|", and the plan EXPLAIN gives the SELECT.
func (c *Cluster) QueryIndexAM(ctx context.Context, q string) (rows, plan string, err error) {
	conn, err := c.ConnectSimple(ctx, "postgres")
	if err != nil {
		return "", "", fmt.Errorf("pgtest: connect: %w", err)
	}
	defer conn.Close(context.Background())
	stmts := strings.Split(q, ";")
	for _, s := range stmts[:len(stmts)-1] {
		if _, err := conn.Exec(ctx, s); err != nil {
			return "", "", fmt.Errorf("pgtest: %q: %w", s, err)
		}
	}
	sel := stmts[len(stmts)-1]
	read := func(sql string) (string, error) {
		rs, err := conn.Query(ctx, sql)
		if err != nil {
			return "", fmt.Errorf("pgtest: %q: %w", sql, err)
		}
		defer rs.Close()
		var b strings.Builder
		for rs.Next() {
			vals := rs.RawValues()
			for i, v := range vals {
				if i > 0 {
					b.WriteByte('|')
				}
				b.Write(v)
			}
			b.WriteByte('\n')
		}
		return b.String(), rs.Err()
	}
	if plan, err = read("EXPLAIN (COSTS OFF) " + sel); err != nil {
		return "", "", err
	}
	rows, err = read(sel)
	return rows, plan, err
}
