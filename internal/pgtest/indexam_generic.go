package pgtest

// GenericWorkload reaches every Generic record type a stock PostgreSQL 15
// writes (there is one, "Generic"), through contrib bloom in all the
// shapes it logs: full-page images of the pages the build and inserts
// allocate, one-block deltas of inserts, deltas of the metapage with a
// data page when an insert moves on along the not-full-page list or
// allocates a page, and the deltas VACUUM writes for the pages it
// compacts and for the metapage.
func GenericWorkload() IndexAMWorkload {
	return IndexAMWorkload{
		Name: "generic",
		Rmgr: "Generic",
		Statements: []string{
			`CREATE TABLE bl (a int, b int);
			 INSERT INTO bl SELECT g, g * 2 FROM generate_series(1, 2000) g;
			 CREATE INDEX bl_idx ON bl USING bloom (a, b)`,
			`INSERT INTO bl SELECT g, g * 3 FROM generate_series(1, 2000) g`,
			// After a checkpoint the next records restore their pages from
			// images (BLK_RESTORED, no delta).
			`CHECKPOINT`,
			// Half of each page goes, and all of the first page, which
			// VACUUM marks deleted.
			`DELETE FROM bl WHERE a % 2 = 0 OR a <= 600`,
			`VACUUM bl`,
			// Into the pages VACUUM listed as not full, then into the
			// deleted page, reused through the free space map.
			`INSERT INTO bl SELECT g, g * 5 FROM generate_series(2001, 4600) g`,
		},
		Want: []string{"Generic/Generic"},
		Changes: []string{
			`INSERT INTO bl SELECT 601, g FROM generate_series(1, 50) g`,
			`DELETE FROM bl WHERE a BETWEEN 3001 AND 3100`,
			`UPDATE bl SET b = b + 1 WHERE a = 601`,
			`VACUUM bl`,
		},
		Queries: []string{
			`SET enable_seqscan = off; SELECT a, b FROM bl WHERE a = 601 ORDER BY a, b`,
			`SET enable_seqscan = off; SELECT a, b FROM bl WHERE b = 2703 ORDER BY a, b`,
			`SET enable_seqscan = off; SELECT a, b FROM bl WHERE a = 4101 AND b = 20505 ORDER BY a, b`,
			`SET enable_seqscan = off; SELECT a, b FROM bl WHERE a = 1001 ORDER BY a, b`,
		},
	}
}
