package pgtest

// GinWorkload reaches every Gin record type a stock PostgreSQL 15 writes,
// with its Statements alone, in about 80 MB of WAL with
// wal_consistency_checking (half of it heap: the VISIBLE records of a
// 3000-page VACUUM and the row DELETEs that empty a posting tree leaf).
// Rows are loaded with COPY through a file in the data directory where
// per-row heap records would cost more than the GIN records they lead to.
//
// Shapes reached: INSERT into entry leaves (new key, and replacing a
// tuple), entry internal pages, posting tree leaves (ADDITEMS, INSERT,
// REPLACE segment actions) and posting tree internal pages; SPLIT of entry
// leaves and entry internal pages, root and not, and of posting tree
// leaves, root and not; VACUUM_DATA_LEAF_PAGE with DELETE and REPLACE
// actions; UPDATE_META_PAGE appending to the tail, linking a new sublist,
// starting the list and from VACUUM's statistics; DELETE_LISTPAGE of 3 to
// 16 pages. Not
// reached: SPLIT of a posting tree internal page (more than 800 leaves
// under one key, some 4 million rows) and the recompression of a pre-9.4
// uncompressed leaf (only pg_upgrade'd indexes have them).
func GinWorkload() IndexAMWorkload {
	return IndexAMWorkload{
		Name: "gin",
		Rmgr: "Gin",
		Statements: []string{
			// Entry tree of long keys, fastupdate off: 12 keys a leaf, so
			// 400 rows give leaf and internal splits, root and not. The
			// second key of each row has a posting list in its tuple.
			`CREATE TABLE gin_txt (id int, a text[]);
			 CREATE INDEX gin_txt_a ON gin_txt USING gin (a) WITH (fastupdate = off);
			 INSERT INTO gin_txt SELECT i, ARRAY[(SELECT string_agg(md5(i::text || j::text), '') FROM generate_series(1, 20) j), (i % 7)::text]
			   FROM generate_series(1, 400) i`,
			// VACUUM_PAGE: entry leaves lose TIDs; UPDATE_META_PAGE (stats).
			`DELETE FROM gin_txt WHERE id % 5 = 0`,
			`VACUUM gin_txt`,

			// Posting trees of three leaves for keys 1 and 2 (alternate
			// rows), built by CREATE INDEX.
			`CREATE TABLE gin_pt (id int, a int[]) WITH (fillfactor = 10);` +
				copyThroughFile("gin_pt", `SELECT i, ARRAY[i %% 2 + 1] FROM generate_series(1, 40000) i`),
			`CREATE INDEX gin_pt_a ON gin_pt USING gin (a) WITH (fastupdate = off)`,
			// Key 2's middle leaf empties: DELETE_PAGE, and
			// VACUUM_DATA_LEAF_PAGE on its neighbours.
			`DELETE FROM gin_pt WHERE id % 2 = 1 AND id BETWEEN 13000 AND 28000`,
			`VACUUM gin_pt`,
			// New rows fill the freed heap space: their TIDs land inside
			// key 1's full middle leaf, which splits (not the root), and
			// the downlink goes into the posting tree's internal root.
			`INSERT INTO gin_pt SELECT i, ARRAY[1] FROM generate_series(40001, 40300) i`,

			// Pending list (fastupdate on). Key 7's posting tree is built
			// with one leaf; 3000 more rows go to the pending list
			// (UPDATE_META_PAGE, INSERT_LISTPAGE), and cleaning it
			// (DELETE_LISTPAGE) splits that root leaf and makes key 8's
			// posting tree (CREATE_PTREE).
			`CREATE TABLE gin_fast (id int, a int[]);` +
				copyThroughFile("gin_fast", `SELECT i, ARRAY[7] FROM generate_series(1, 5000) i`),
			`CREATE INDEX gin_fast_a ON gin_fast USING gin (a) WITH (fastupdate = on)`,
			`SET gin_pending_list_limit = '4MB';` +
				copyThroughFile("gin_fast", `SELECT i, ARRAY[7, 8, i %% 100 + 1000] FROM generate_series(5001, 8000) i`),
			// After a checkpoint the first change of each entry page
			// carries an applied image (BLK_RESTORED).
			`CHECKPOINT`,
			`SELECT gin_clean_pending_list('gin_fast_a')`,
			// A small limit: inserts clean the list themselves.
			`SET gin_pending_list_limit = '64kB';
			 INSERT INTO gin_fast SELECT i, ARRAY(SELECT g FROM generate_series(2000, 2039) g) FROM generate_series(8001, 8200) i`,

			// jsonb and tsvector operator classes.
			`CREATE TABLE gin_doc (id int, doc jsonb, body tsvector);
			 CREATE INDEX gin_doc_doc ON gin_doc USING gin (doc jsonb_path_ops) WITH (fastupdate = off);
			 CREATE INDEX gin_doc_body ON gin_doc USING gin (body);
			 INSERT INTO gin_doc SELECT i, jsonb_build_object('k', i % 10, 'tags', jsonb_build_array('t' || i % 3, 'u' || i % 17)),
			   to_tsvector('simple', 'w' || i % 13 || ' x' || i % 29 || ' common')
			   FROM generate_series(1, 300) i`,
			`DELETE FROM gin_doc WHERE id % 4 = 0`,
			`VACUUM gin_doc`,
		},
		Changes: []string{
			// To the pending list (the default limit is not reached).
			`INSERT INTO gin_fast SELECT i, ARRAY[7, 9, i % 50 + 3000] FROM generate_series(9001, 9300) i`,
			`DELETE FROM gin_pt WHERE id BETWEEN 30001 AND 30400`,
			`INSERT INTO gin_txt SELECT i, ARRAY[md5(i::text), (i % 7)::text] FROM generate_series(401, 500) i`,
			`VACUUM gin_pt`,
			`SELECT gin_clean_pending_list('gin_fast_a')`,
			`DELETE FROM gin_doc WHERE id % 5 = 0`,
		},
		Want: []string{
			"Gin/CREATE_PTREE", "Gin/INSERT", "Gin/SPLIT", "Gin/VACUUM_PAGE", "Gin/DELETE_PAGE",
			"Gin/UPDATE_META_PAGE", "Gin/INSERT_LISTPAGE", "Gin/DELETE_LISTPAGE", "Gin/VACUUM_DATA_LEAF_PAGE",
		},
		Queries: []string{
			`SET enable_seqscan = off; SELECT id FROM gin_txt WHERE a @> ARRAY['3'] ORDER BY id`,
			`SET enable_seqscan = off; SELECT count(*), min(id), max(id) FROM gin_txt WHERE a && ARRAY[(SELECT string_agg(md5('77' || j::text), '') FROM generate_series(1, 20) j), '5']`,
			`SET enable_seqscan = off; SELECT a[1], count(*), min(id), max(id), sum(id) FROM gin_pt WHERE a @> ARRAY[1] OR a @> ARRAY[2] GROUP BY a[1] ORDER BY 1`,
			`SET enable_seqscan = off; SELECT count(*), min(id), max(id), sum(id) FROM gin_fast WHERE a @> ARRAY[7, 8]`,
			`SET enable_seqscan = off; SELECT count(*), min(id), max(id), sum(id) FROM gin_fast WHERE a @> ARRAY[9]`,
			`SET enable_seqscan = off; SELECT count(*), min(id), max(id) FROM gin_fast WHERE a && ARRAY[1005, 2003]`,
			`SET enable_seqscan = off; SELECT id FROM gin_doc WHERE doc @> '{"k": 3}' ORDER BY id`,
			`SET enable_seqscan = off; SELECT id FROM gin_doc WHERE body @@ to_tsquery('simple', 'w4 & common') ORDER BY id`,
		},
	}
}

// copyThroughFile is a DO block that loads table with the rows of query
// (its % written %%, for format) by COPY through a file in the data
// directory, then empties the file, which stays in the data directory.
func copyThroughFile(table, query string) string {
	file := "current_setting('data_directory') || '/" + table + ".copy'"
	return `
			 DO $$ BEGIN
			   EXECUTE format('COPY (` + query + `) TO %L', ` + file + `);
			   COPY ` + table + ` FROM '` + table + `.copy';
			   EXECUTE format('COPY (SELECT 1 WHERE false) TO %L', ` + file + `);
			 END $$`
}
