package redo

import (
	"sort"
	"strings"
	"testing"

	"github.com/pagemill/pagemill/internal/pgtest"
)

// inScope are the resource managers whose redo is native: in the
// workloads below, none of their records may be unsupported or mismatch.
var inScope = []string{"XLOG/", "Heap/", "Heap2/", "Btree/", "Sequence/", "Storage/",
	"Transaction/", "Standby/", "CLOG/", "RelMap/", "Database/", "Tablespace/", "MultiXact/", "LogicalMessage/"}

// wantTypes are the record types the issue lists; the test reports the
// ones no workload reached.
var wantTypes = []string{
	"XLOG/FPI", "XLOG/FPI_FOR_HINT",
	"Heap/INSERT", "Heap/INSERT+INIT", "Heap/DELETE", "Heap/UPDATE", "Heap/UPDATE+INIT", "Heap/HOT_UPDATE",
	"Heap/LOCK", "Heap/INPLACE", "Heap/HEAP_CONFIRM", "Heap/TRUNCATE",
	"Heap2/PRUNE", "Heap2/VACUUM", "Heap2/FREEZE_PAGE", "Heap2/VISIBLE", "Heap2/MULTI_INSERT",
	"Heap2/MULTI_INSERT+INIT", "Heap2/LOCK_UPDATED", "Heap2/NEW_CID", "Heap2/REWRITE",
	"Btree/INSERT_LEAF", "Btree/INSERT_UPPER", "Btree/INSERT_META", "Btree/SPLIT_L", "Btree/SPLIT_R",
	"Btree/INSERT_POST", "Btree/DEDUP", "Btree/DELETE", "Btree/VACUUM", "Btree/MARK_PAGE_HALFDEAD",
	"Btree/UNLINK_PAGE", "Btree/UNLINK_PAGE_META", "Btree/NEWROOT", "Btree/REUSE_PAGE", "Btree/META_CLEANUP",
	"Sequence/LOG", "Storage/CREATE", "Storage/TRUNCATE",
}

// workloadExtra reaches what pgbench and the DDL workload do not: deep
// btrees with page deletion, posting lists, HOT chains, locks.
const workloadExtra = `
CREATE TABLE wx (id int, k text, d int, pad text);
CREATE INDEX wx_k ON wx (k);
CREATE INDEX wx_d ON wx (d);
INSERT INTO wx SELECT g, repeat(md5(g::text), 8), g % 10, 'x' FROM generate_series(1, 6000) g;
UPDATE wx SET pad = 'y' WHERE id % 5 = 0;
DELETE FROM wx WHERE id > 1000;
VACUUM wx;
INSERT INTO wx SELECT g, repeat(md5(g::text), 8), g % 10, 'z' FROM generate_series(7000, 8000) g;
SELECT * FROM wx WHERE id < 10 FOR KEY SHARE;
VACUUM FREEZE wx;
TRUNCATE wx;
`

// TestVerifyWorkloads replays pgbench, the DDL workload and extra
// statements with wal_consistency_checking=all: plain, with data checksums,
// and with wal_compression, and lists the record types reached.
func TestVerifyWorkloads(t *testing.T) {
	reached := map[string]bool{}
	for _, tc := range []struct {
		name string
		opts pgtest.Options
	}{
		// wal_level=logical adds NEW_CID, Heap TRUNCATE and, with a
		// logical slot, REWRITE (VACUUM FULL of a catalog).
		{"logical", pgtest.Options{WALLevel: "logical"}},
		{"checksums", pgtest.Options{DataChecksums: true}},
		{"wal_compression", pgtest.Options{WALCompression: "lz4"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := tc.opts
			opts.WALConsistencyChecking = "all"
			c := pgtest.Start(t, opts)
			start := c.CreatePhysicalSlot(t, "keep")
			c.Pgbench(t, "-i", "-s", "1", "-q")
			c.Checkpoint(t)
			c.Pgbench(t, "-T", "2", "-c", "2")
			if opts.WALLevel == "logical" {
				c.Exec(t, "SELECT pg_create_logical_replication_slot('lx', 'test_decoding')")
				c.Exec(t, "VACUUM FULL pg_class")
			}
			c.RunDDLWorkload(t)
			for _, q := range strings.Split(workloadExtra, ";\n") {
				if q = strings.TrimSpace(q); q != "" {
					c.Exec(t, q)
				}
			}
			c.Checkpoint(t)
			rep := verifyCluster(t, c, start)
			if opts.WALLevel == "logical" {
				c.Exec(t, "SELECT pg_drop_replication_slot('lx')")
			}
			if rep.Mismatches != 0 {
				t.Errorf("%d mismatches", rep.Mismatches)
			}
			for name, s := range rep.ByType {
				reached[name] = true
				for _, p := range inScope {
					if strings.HasPrefix(name, p) && s.Unsupported != 0 {
						t.Errorf("%s: %d unsupported", name, s.Unsupported)
					}
				}
			}
			if rep.Compared < 1000 {
				t.Errorf("only %d blocks compared", rep.Compared)
			}
		})
	}
	var missing []string
	for _, w := range wantTypes {
		if !reached[w] {
			missing = append(missing, w)
		}
	}
	sort.Strings(missing)
	t.Logf("record types reached: %d; listed types not reached by these workloads: %v", len(reached), missing)
}
