package pgtest

// BRINWorkload reaches every BRIN record type a stock PostgreSQL 15
// writes.
//
// The costly one is UPDATE+INIT: it comes from the evacuation of a regular
// page that a revmap extension needs, and the second revmap page is only
// needed past 1360 ranges. With pages_per_range=1 that is 1361 heap pages;
// fillfactor=10 and rows of about 430 bytes put one row on each page, so
// the heap costs 1400 small records (a narrow table would need 300 000
// rows, each logged with an image of its page).
func BRINWorkload() IndexAMWorkload {
	return IndexAMWorkload{
		Name: "brin",
		Rmgr: "BRIN",
		Statements: []string{
			`CREATE TABLE brin_t (i int, pad text) WITH (fillfactor = 10);
			 INSERT INTO brin_t SELECT g, repeat('x', 400) FROM generate_series(1, 1400) g`,
			// CREATE_INDEX, REVMAP_EXTEND, INSERT+INIT, INSERT; past range
			// 1359 the revmap takes block 2 over: UPDATE, UPDATE+INIT.
			`CREATE INDEX brin_t_idx ON brin_t USING brin (i) WITH (pages_per_range = 1)`,
			// After a checkpoint the next records restore their pages from
			// images (BLK_RESTORED, no block data).
			`CHECKPOINT`,
			// New row versions stay on their pages and widen those ranges'
			// summaries in place: SAMEPAGE_UPDATE.
			`UPDATE brin_t SET i = -i WHERE i IN (10, 700, 1390)`,
			// Unsummarized ranges: a placeholder (INSERT) then the summary
			// (SAMEPAGE_UPDATE).
			`INSERT INTO brin_t SELECT g, repeat('x', 400) FROM generate_series(1401, 1420) g`,
			`SELECT brin_summarize_new_values('brin_t_idx')`,
			// DESUMMARIZE of a tuple inside a page and of the last one on
			// its page; summarizing again fills the range back in.
			`SELECT brin_desummarize_range('brin_t_idx', 5)`,
			`SELECT brin_desummarize_range('brin_t_idx', 1419)`,
			`SELECT brin_summarize_range('brin_t_idx', 5)`,
			`INSERT INTO brin_t SELECT g, repeat('x', 400) FROM generate_series(1421, 1430) g`,
			`VACUUM brin_t`,

			// Text summaries change size (values stay under
			// TOAST_INDEX_TARGET, so uncompressed): SAMEPAGE_UPDATE that
			// moves the other tuples, and UPDATE (+INIT) of a summary that
			// no longer fits on its full page.
			`CREATE TABLE brin_s (k text) WITH (fillfactor = 10);
			 INSERT INTO brin_s SELECT 'k' || lpad(g::text, 60, '0') || repeat('y', 330) FROM generate_series(1, 200) g;
			 CREATE INDEX brin_s_idx ON brin_s USING brin (k) WITH (pages_per_range = 1)`,
			`UPDATE brin_s SET k = 'a' || repeat('z', 100) || substr(k, 2) WHERE k < 'k' || lpad('40', 60, '0')`,
			`UPDATE brin_s SET k = 'l' || repeat('w', 90) || substr(k, 2) WHERE k > 'k' || lpad('190', 60, '0') AND k < 'l'`,
			// A long value BRIN compresses: a summary that shrinks in place.
			`UPDATE brin_s SET k = repeat('z', 600) WHERE k = 'k' || lpad('100', 60, '0') || repeat('y', 330)`,
		},
		Want: []string{
			"BRIN/CREATE_INDEX", "BRIN/INSERT", "BRIN/INSERT+INIT", "BRIN/UPDATE", "BRIN/UPDATE+INIT",
			"BRIN/SAMEPAGE_UPDATE", "BRIN/REVMAP_EXTEND", "BRIN/DESUMMARIZE",
		},
		Changes: []string{
			`UPDATE brin_t SET i = -i WHERE i IN (20, 1360)`,
			`INSERT INTO brin_t SELECT g, repeat('x', 400) FROM generate_series(1431, 1450) g`,
			`SELECT brin_summarize_new_values('brin_t_idx')`,
			`UPDATE brin_s SET k = 'a0' || k WHERE k >= 'k' || lpad('150', 60, '0') AND k < 'k' || lpad('160', 60, '0')`,
			`DELETE FROM brin_t WHERE i BETWEEN 30 AND 35`,
			`VACUUM brin_t`,
		},
		Queries: []string{
			`SET enable_seqscan = off; SELECT i FROM brin_t WHERE i BETWEEN 1 AND 40 ORDER BY i`,
			`SET enable_seqscan = off; SELECT i FROM brin_t WHERE i < 0 ORDER BY i`,
			`SET enable_seqscan = off; SELECT i FROM brin_t WHERE i BETWEEN 1350 AND 1430 ORDER BY i`,
			`SET enable_seqscan = off; SELECT md5(k) FROM brin_s WHERE k < 'b' ORDER BY k`,
			`SET enable_seqscan = off; SELECT md5(k) FROM brin_s WHERE k >= 'k' || lpad('150', 60, '0') ORDER BY k`,
			`SET enable_seqscan = off; SELECT length(k) FROM brin_s WHERE k > 'y' ORDER BY k`,
		},
	}
}
