package pgtest

import (
	"context"
	"fmt"
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
	// Queries return rows through the access method's indexes only (they
	// set enable_seqscan and the like themselves): the restore test runs
	// them on the source and on a restored cluster and compares.
	Queries []string
	// Minimal means the workload needs wal_level=minimal (records written
	// only when a relation created in the same transaction is not
	// WAL-logged, such as GiST's ASSIGN_LSN) and so a cluster of its own.
	Minimal bool
}

// IndexAMWorkloads are the workloads of every index access method of a
// stock PostgreSQL 15 besides btree, in a fixed order.
func IndexAMWorkloads() []IndexAMWorkload {
	return []IndexAMWorkload{HashWorkload(), GinWorkload(), GistWorkload(), SPGistWorkload(), BRINWorkload(), GenericWorkload()}
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
