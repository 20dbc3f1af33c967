package pgtest

// hashIndexScan forces the queries onto the hash indexes.
const hashIndexScan = "SET enable_seqscan = off; SET enable_bitmapscan = off; SET enable_hashjoin = off; SET enable_mergejoin = off; "

// HashWorkload reaches every Hash record type a stock PostgreSQL 15
// writes, on a few thousand rows (reference §9.2 at a smaller scale).
//
// Not reached: ADD_OVFL_PAGE with a new bitmap page (block 3), which
// needs the 32768 overflow pages of a full bitmap page (hundreds of MB),
// and SQUEEZE_PAGE with a next page (block 4), which PostgreSQL 15 does
// not write (the squeeze frees the chain's last page). The init-fork form
// of INIT_META_PAGE and INIT_BITMAP_PAGE (an unlogged index) is left out
// too: the index's main fork would not be in the WAL, so the page
// comparisons after the workload could not cover it.
func HashWorkload() IndexAMWorkload {
	return IndexAMWorkload{
		Name: "hash",
		Rmgr: "Hash",
		Statements: []string{
			// INIT_META_PAGE, INIT_BITMAP_PAGE (and the bucket pages as
			// XLOG/FPI).
			`CREATE TABLE hash_t (k int, v int);
			 CREATE INDEX hash_t_k ON hash_t USING hash (k)`,
			// INSERT; the buckets split as the index grows:
			// SPLIT_ALLOCATE_PAGE, SPLIT_PAGE, SPLIT_COMPLETE, and the
			// old bucket's cleanup before its next split (DELETE,
			// SPLIT_CLEANUP).
			`INSERT INTO hash_t SELECT g, g FROM generate_series(1, 3000) g`,
			// One key: a chain of overflow pages (ADD_OVFL_PAGE).
			`INSERT INTO hash_t SELECT 42, g FROM generate_series(1, 2500) g`,
			// Two thirds of the chain die; VACUUM deletes them (DELETE),
			// squeezes the chain (MOVE_PAGE_CONTENTS, SQUEEZE_PAGE) and
			// stores the tuple count (UPDATE_META_PAGE).
			`DELETE FROM hash_t WHERE k = 42 AND v % 3 <> 0`,
			`VACUUM hash_t`,
			// After a checkpoint the first change of each page carries
			// its image, so redo meets restored pages too. The freed
			// overflow pages are reused (ADD_OVFL_PAGE with a bitmap bit
			// set again).
			`CHECKPOINT`,
			`INSERT INTO hash_t SELECT 42, g FROM generate_series(3001, 3600) g`,
			// An index scan marks the dead tuples LP_DEAD and their pages
			// LH_PAGE_HAS_DEAD_TUPLES; the next insert into the full
			// primary page removes them (VACUUM_ONE_PAGE).
			`CREATE TABLE hash_v (k int);
			 CREATE INDEX hash_v_k ON hash_v USING hash (k);
			 INSERT INTO hash_v SELECT 1 FROM generate_series(1, 600)`,
			`DELETE FROM hash_v`,
			hashIndexScan + `SELECT count(*) FROM hash_v WHERE k = 1`,
			`INSERT INTO hash_v SELECT 1 FROM generate_series(1, 300)`,
			// The overflow page still has its dead tuples and flag: VACUUM
			// deletes them and clears the flag (DELETE with
			// clear_dead_marking), then frees the emptied page
			// (SQUEEZE_PAGE moving no tuple).
			`VACUUM hash_v`,
		},
		Want: []string{
			"Hash/INIT_META_PAGE", "Hash/INIT_BITMAP_PAGE", "Hash/INSERT", "Hash/ADD_OVFL_PAGE",
			"Hash/SPLIT_ALLOCATE_PAGE", "Hash/SPLIT_PAGE", "Hash/SPLIT_COMPLETE",
			"Hash/MOVE_PAGE_CONTENTS", "Hash/SQUEEZE_PAGE", "Hash/DELETE", "Hash/SPLIT_CLEANUP",
			"Hash/UPDATE_META_PAGE", "Hash/VACUUM_ONE_PAGE",
		},
		// The same kinds of change again: deletes and vacuums (with
		// squeezes), inserts (with splits and overflow pages), updates.
		Changes: []string{
			`DELETE FROM hash_t WHERE k % 5 = 0`,
			`INSERT INTO hash_t SELECT g, -g FROM generate_series(3001, 4000) g`,
			`UPDATE hash_t SET k = k + 10000 WHERE k = 42 AND v % 2 = 0`,
			`VACUUM hash_t`,
			`INSERT INTO hash_t SELECT 42, g FROM generate_series(6001, 6500) g`,
			`DELETE FROM hash_v WHERE ctid IN (SELECT ctid FROM hash_v LIMIT 100)`,
		},
		Queries: []string{
			hashIndexScan + `SELECT k, v FROM hash_t WHERE k = 42 ORDER BY v`,
			hashIndexScan + `SELECT g, t.v FROM generate_series(1, 4000, 37) g JOIN hash_t t ON t.k = g ORDER BY g, t.v`,
			hashIndexScan + `SELECT count(*) FROM hash_v WHERE k = 1`,
		},
	}
}
