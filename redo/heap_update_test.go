package redo

import (
	"context"
	"strings"
	"testing"

	"github.com/pagemill/pagemill/internal/pgtest"
)

// TestVerifyHeapUpdateLock replays a workload that reaches every Heap record
// type — UPDATE (cross-page, +INIT, prefix/suffix compression), HOT_UPDATE,
// LOCK with multixacts, INPLACE, CONFIRM — plus Sequence LOG, and checks
// each against PostgreSQL's consistency images, with and without data
// checksums.
func TestVerifyHeapUpdateLock(t *testing.T) {
	for _, checksums := range []bool{false, true} {
		name := "plain"
		if checksums {
			name = "checksums"
		}
		t.Run(name, func(t *testing.T) {
			c := pgtest.Start(t, pgtest.Options{WALConsistencyChecking: "all", DataChecksums: checksums,
				ExtraConf: map[string]string{"autovacuum": "off"}})
			start := c.CreatePhysicalSlot(t, "keep")
			ctx := context.Background()
			for _, q := range []string{
				"CREATE TABLE u (id int PRIMARY KEY, k int, pad text, tail text) WITH (fillfactor = 60)",
				"INSERT INTO u SELECT g, g, repeat('p', 200), repeat('t', 100) FROM generate_series(1, 400) g",
				"CHECKPOINT",
				// HOT updates (k is not indexed), with prefix and suffix kept.
				"UPDATE u SET k = k + 1 WHERE id % 3 = 0",
				// Non-HOT updates: the key changes.
				"UPDATE u SET id = id + 1000 WHERE id % 7 = 0",
				// Updates that cannot stay on the page: cross-page and, at the
				// end of the table, +INIT.
				"UPDATE u SET pad = repeat('q', 1500) WHERE id % 11 = 0",
				// Sequences.
				"CREATE SEQUENCE s",
				"SELECT nextval('s') FROM generate_series(1, 50)",
				"ALTER SEQUENCE s RESTART WITH 7",
				"SELECT setval('s', 99)",
				// INSERT … ON CONFLICT: speculative insert + CONFIRM, and the
				// update path.
				"CREATE TABLE oc (id int PRIMARY KEY, v int)",
				"INSERT INTO oc SELECT g, 0 FROM generate_series(1, 100) g ON CONFLICT (id) DO NOTHING",
				"INSERT INTO oc SELECT g, 1 FROM generate_series(50, 150) g ON CONFLICT (id) DO UPDATE SET v = excluded.v",
				// INPLACE: VACUUM and ANALYZE update pg_class in place.
				"VACUUM u",
				"ANALYZE oc",
				"CHECKPOINT",
			} {
				c.Exec(t, q)
			}
			// Row locks: a single locker, then two sharers (multixact),
			// then FOR UPDATE after the sharers committed; a lock on an
			// all-frozen page clears its vm bit.
			c.Exec(t, "VACUUM FREEZE u")
			a, err := c.Connect(ctx, "postgres")
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close(ctx)
			b, err := c.Connect(ctx, "postgres")
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close(ctx)
			for _, step := range []struct {
				conn int
				sql  string
			}{
				{0, "BEGIN"}, {1, "BEGIN"},
				{0, "SELECT * FROM u WHERE id < 50 FOR SHARE"},
				{1, "SELECT * FROM u WHERE id < 50 FOR KEY SHARE"},
				{0, "COMMIT"}, {1, "COMMIT"},
				{0, "SELECT * FROM u WHERE id BETWEEN 50 AND 100 FOR UPDATE"},
				{0, "SELECT * FROM u WHERE id BETWEEN 100 AND 150 FOR NO KEY UPDATE"},
				{0, "UPDATE u SET k = 0 WHERE id BETWEEN 10 AND 20"},
			} {
				conn := a
				if step.conn == 1 {
					conn = b
				}
				if _, err := conn.Exec(ctx, step.sql); err != nil {
					t.Fatalf("%s: %v", step.sql, err)
				}
			}
			rep := verifyCluster(t, c, start)
			for _, typ := range []string{"Heap/UPDATE", "Heap/HOT_UPDATE", "Heap/LOCK", "Heap/INPLACE", "Heap/HEAP_CONFIRM", "Heap/UPDATE+INIT", "Heap/INSERT", "Sequence/LOG"} {
				s := rep.ByType[typ]
				if s == nil || s.Compared == 0 {
					t.Errorf("%s: not compared (%+v)", typ, s)
					continue
				}
				if s.Mismatches != 0 || s.Unsupported != 0 {
					t.Errorf("%s: %+v", typ, s)
				}
			}
			for typ, s := range rep.ByType {
				if (strings.HasPrefix(typ, "Heap/") || strings.HasPrefix(typ, "Sequence/")) && s.Unsupported != 0 {
					t.Errorf("%s: %d unsupported", typ, s.Unsupported)
				}
			}
		})
	}
}
