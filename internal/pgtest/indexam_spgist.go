package pgtest

// SPGistWorkload reaches every SPGist record type a stock PostgreSQL 15
// writes, with few rows (wal_consistency_checking logs an image of every
// block of every record):
//   - text (radix tree): strings sharing a prefix make the root split with
//     that prefix in its inner tuple (PICKSPLIT isRootSplit, then
//     MOVE_LEAFS and PICKSPLIT below it, with and without a destination
//     page); strings that leave the prefix split it (SPLIT_TUPLE, postfix
//     on the same or another page); new next characters add nodes
//     (ADD_NODE in place); NULLs fill the nulls tree's root and split it.
//   - text with prefixes of thousands of bytes (spg_wide, spg_deep): inner
//     tuples so wide that a few fill a page, then given a node for each of
//     157 distinct next bytes, so that ADD_NODE has to move them, with the
//     parent elsewhere (parentBlk 2) or on the old page (parentBlk 0, in
//     spg_deep, whose wide tuples sit below a non-root inner tuple).
//   - point, quad tree and k-d tree, and inet (whose prefix network is
//     split by addresses outside it).
//   - DELETE and VACUUM: VACUUM_LEAF (dead, placeholder, moved and
//     re-chained tuples), VACUUM_REDIRECT (redirects left by MOVE_LEAFS and
//     PICKSPLIT, removable once their transactions are over), and
//     VACUUM_ROOT on an index whose root is still a leaf page. Values
//     re-inserted where a chain became DEAD replace the dead tuple (ADD_LEAF
//     with equal offsets).
//
// Not reached (too rare for a small workload; redo/spgist_test.go covers
// them on hand-made pages): ADD_NODE with the parent on the page the tuple
// moves to (parentBlk 1), MOVE_LEAFS replacing a DEAD tuple, PICKSPLIT
// re-initializing its source page; and isBuild states, which PostgreSQL 15
// never logs (builds are logged as page images).
func SPGistWorkload() IndexAMWorkload {
	return IndexAMWorkload{
		Name: "spgist",
		Rmgr: "SPGist",
		Statements: []string{
			`CREATE TABLE spg_txt (id int, t text);
			 CREATE INDEX spg_txt_idx ON spg_txt USING spgist (t)`,
			`INSERT INTO spg_txt SELECT g, 'commonprefix_' || md5(g::text) FROM generate_series(1, 700) g`,
			`INSERT INTO spg_txt SELECT g, md5(g::text) FROM generate_series(701, 1500) g`,
			`INSERT INTO spg_txt SELECT g, 'commonprefix_' || chr(103 + g % 20) || g FROM generate_series(1501, 1700) g`,
			`INSERT INTO spg_txt SELECT g, NULL FROM generate_series(1701, 2200) g`,

			`CREATE TABLE spg_wide (id int, t text);
			 CREATE INDEX spg_wide_idx ON spg_wide USING spgist (t)`,
			`INSERT INTO spg_wide SELECT g, repeat(chr(97 + g % 6), 2000 + (g % 6) * 100) || (g / 6) FROM generate_series(0, 23) g`,
			`INSERT INTO spg_wide SELECT 100 + k * 6 + g, repeat(chr(97 + g), 2000 + g * 100) || chr(k) || 'x'
			 FROM (SELECT generate_series(1, 127) k UNION ALL SELECT generate_series(128, 2047, 64)) ks, generate_series(0, 5) g
			 ORDER BY k, g`,

			`CREATE TABLE spg_deep (id int, t text);
			 CREATE INDEX spg_deep_idx ON spg_deep USING spgist (t)`,
			`INSERT INTO spg_deep SELECT g, CASE WHEN g % 5 = 4 THEN 'z' || g ELSE repeat('a', 1500) || chr(65 + g % 5) || repeat('b', 600) || (g / 5) END
			 FROM generate_series(0, 39) g`,
			`INSERT INTO spg_deep SELECT 100 + k * 4 + j, repeat('a', 1500) || chr(65 + j) || repeat('b', 600) || chr(k) || 'x'
			 FROM (SELECT generate_series(1, 127) k UNION ALL SELECT generate_series(128, 2047, 64)) ks, generate_series(0, 3) j
			 ORDER BY k, j`,

			`CREATE TABLE spg_pt (id int, p point, q point);
			 CREATE INDEX spg_pt_quad ON spg_pt USING spgist (p);
			 CREATE INDEX spg_pt_kd ON spg_pt USING spgist (q kd_point_ops)`,
			`INSERT INTO spg_pt SELECT g, point((g * 7919) % 1009, (g * 104729) % 1013), point((g * 7919) % 1009, (g * 104729) % 1013)
			 FROM generate_series(1, 1500) g`,

			`CREATE TABLE spg_inet (id int, a inet);
			 CREATE INDEX spg_inet_idx ON spg_inet USING spgist (a)`,
			`INSERT INTO spg_inet SELECT g, ('10.' || (g % 7) || '.' || (g / 250) || '.' || (g % 250))::inet FROM generate_series(1, 600) g`,
			`INSERT INTO spg_inet SELECT g, ('192.168.' || (g % 200) || '.' || (g % 250))::inet FROM generate_series(601, 900) g`,

			`DELETE FROM spg_txt WHERE id % 3 = 0 OR t LIKE 'commonprefix_a%';
			 DELETE FROM spg_pt WHERE id % 2 = 0;
			 DELETE FROM spg_inet WHERE id % 4 = 0`,
			`VACUUM spg_txt`,
			`VACUUM spg_pt`,
			`VACUUM spg_inet`,
			`INSERT INTO spg_txt SELECT g, 'commonprefix_a' || g FROM generate_series(2201, 2300) g`,
			`INSERT INTO spg_pt SELECT g, point((g * 7919) % 1009, (g * 104729) % 1013), point((g * 7919) % 1009, (g * 104729) % 1013)
			 FROM generate_series(1501, 1700) g`,
			`VACUUM spg_txt`,

			`CREATE TABLE spg_root (t text);
			 CREATE INDEX spg_root_idx ON spg_root USING spgist (t)`,
			`INSERT INTO spg_root SELECT 'x' || g FROM generate_series(1, 20) g`,
			`DELETE FROM spg_root WHERE t LIKE 'x1%'`,
			`VACUUM spg_root`,
			// VACUUM assigns no xid, so nothing flushes its WAL; a commit
			// does, so that the records above are before
			// pg_current_wal_lsn() when the workload returns.
			`SELECT txid_current()`,
		},
		Want: []string{
			"SPGist/ADD_LEAF",
			"SPGist/MOVE_LEAFS",
			"SPGist/ADD_NODE",
			"SPGist/SPLIT_TUPLE",
			"SPGist/PICKSPLIT",
			"SPGist/VACUUM_LEAF",
			"SPGist/VACUUM_ROOT",
			"SPGist/VACUUM_REDIRECT",
		},
		Changes: []string{
			`INSERT INTO spg_txt SELECT g, 'commonprefix_b' || g FROM generate_series(2301, 2400) g`,
			`DELETE FROM spg_pt WHERE id % 5 = 1`,
			`UPDATE spg_inet SET a = ('192.168.250.' || (id % 250))::inet WHERE id % 7 = 0`,
			`VACUUM spg_pt`,
			`INSERT INTO spg_pt SELECT g, point(g % 1000, g % 997), point(g % 1000, g % 997) FROM generate_series(1701, 2000) g`,
			`DELETE FROM spg_txt WHERE t ^@ 'commonprefix_b'`,
			`VACUUM spg_txt`,
		},
		Queries: []string{
			`SET enable_seqscan = off; SET enable_bitmapscan = off;
			 SELECT id, t FROM spg_txt WHERE t >= 'commonprefix_' AND t < 'commonprefix_c' ORDER BY id`,
			`SET enable_seqscan = off; SET enable_bitmapscan = off;
			 SELECT id, t FROM spg_txt WHERE t ^@ 'a' ORDER BY id`,
			`SET enable_seqscan = off; SET enable_bitmapscan = off;
			 SELECT count(*) FROM spg_txt WHERE t IS NULL`,
			`SET enable_seqscan = off; SET enable_bitmapscan = off;
			 SELECT id, length(t), right(t, 4) FROM spg_wide WHERE t ^@ repeat('c', 2200) ORDER BY id`,
			`SET enable_seqscan = off; SET enable_bitmapscan = off;
			 SELECT id, length(t), right(t, 4) FROM spg_deep WHERE t ^@ (repeat('a', 1500) || 'B') ORDER BY id`,
			`SET enable_seqscan = off; SET enable_bitmapscan = off;
			 SELECT id, p FROM spg_pt WHERE p <@ box '((100,100),(400,600))' ORDER BY id`,
			`SET enable_seqscan = off; SET enable_bitmapscan = off;
			 SELECT id, q FROM spg_pt WHERE q <@ box '((500,0),(1000,300))' ORDER BY id`,
			`SET enable_seqscan = off; SET enable_bitmapscan = off;
			 SELECT id, a FROM spg_inet WHERE a << inet '192.168.0.0/16' ORDER BY id`,
			`SET enable_seqscan = off; SET enable_bitmapscan = off;
			 SELECT t FROM spg_root WHERE t > 'x' ORDER BY t`,
		},
	}
}
