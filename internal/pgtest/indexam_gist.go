package pgtest

// GistWorkload reaches every Gist record type a stock PostgreSQL 15
// writes with wal_level=replica (ASSIGN_LSN needs wal_level=minimal: see
// GistMinimalWorkload).
//
// The point index carries a 200-byte INCLUDE column, which internal pages
// do not store: about 30 tuples fit a leaf but some 150 an internal page,
// so a few thousand rows give a three-level tree and every split shape —
// leaf {1,2}, root while a leaf {1,2,3}, root completing a child's split
// {0,1,2,3}, internal {0,1,2} — with downlink updates {0} and {0,1}.
func GistWorkload() IndexAMWorkload {
	return IndexAMWorkload{
		Name: "gist",
		Rmgr: "Gist",
		Statements: []string{
			// PAGE_UPDATE and PAGE_SPLIT.
			`CREATE TABLE gist_pt (id int, p point, pad text);
			 CREATE INDEX gist_pt_p ON gist_pt USING gist (p) INCLUDE (pad);
			 INSERT INTO gist_pt SELECT g, point(g, g), repeat('x', 200) FROM generate_series(1, 5000) g`,
			// From here on, the first change of each page carries a
			// full-page image, so redo meets restored blocks too.
			`CHECKPOINT`,
			// Dead rows found by an index scan get LP_DEAD (and the leaf
			// F_HAS_GARBAGE); twice as many new rows beside them overfill
			// those half-full leaves, and the insertion removes the dead
			// tuples first: DELETE.
			`DELETE FROM gist_pt WHERE id <= 1500 AND id % 2 = 0`,
			`SET enable_seqscan = off; SET enable_bitmapscan = off;
			 SELECT count(*) FROM gist_pt WHERE p <@ box '((0,0),(1501,1501))'`,
			`INSERT INTO gist_pt SELECT 10000 + g, point(g * 0.5 + 0.25, g * 0.5 + 0.25), repeat('y', 200)
			   FROM generate_series(1, 3000) g`,
			// A whole key range goes: VACUUM deletes tuples (PAGE_UPDATE)
			// and the emptied leaves (PAGE_DELETE).
			`DELETE FROM gist_pt WHERE id BETWEEN 2000 AND 3500`,
			`VACUUM gist_pt`,
			// Once the deleting vacuum's xid is old, a second vacuum puts
			// the deleted pages in the FSM and splits reuse them
			// (PAGE_REUSE).
			`SELECT txid_current()`,
			`SELECT txid_current()`,
			`VACUUM gist_pt`,
			`INSERT INTO gist_pt SELECT 20000 + g, point(6000 + g, 6000 + g), repeat('z', 200) FROM generate_series(1, 1500) g`,
			// Other opclasses: random boxes, and an exclusion constraint
			// on ranges.
			`SELECT setseed(0.25);
			 CREATE TABLE gist_box (id int, b box);
			 CREATE INDEX gist_box_b ON gist_box USING gist (b);
			 INSERT INTO gist_box SELECT g, box(point(x, y), point(x + random() * 10, y + random() * 10))
			   FROM (SELECT g, random() * 1000 AS x, random() * 1000 AS y FROM generate_series(1, 2000) g) s`,
			`CREATE TABLE gist_rng (id int, r int4range, EXCLUDE USING gist (r WITH &&));
			 INSERT INTO gist_rng SELECT g, int4range(g * 10, g * 10 + 5) FROM generate_series(1, 2000) g`,
		},
		Want: []string{
			"Gist/PAGE_UPDATE", "Gist/DELETE", "Gist/PAGE_REUSE", "Gist/PAGE_SPLIT", "Gist/PAGE_DELETE",
		},
		Changes: []string{
			`DELETE FROM gist_pt WHERE id BETWEEN 4000 AND 4400`,
			`UPDATE gist_rng SET r = int4range(id * 10 + 1, id * 10 + 6) WHERE id % 10 = 0`,
			`VACUUM gist_pt`,
			`INSERT INTO gist_pt SELECT 30000 + g, point(4000 + g * 0.5, 4000 + g * 0.5), repeat('w', 200) FROM generate_series(1, 800) g`,
			`DELETE FROM gist_box WHERE id % 3 = 0`,
			`VACUUM gist_box`,
		},
		Queries: []string{
			`SET enable_seqscan = off; SET enable_bitmapscan = off;
			 SELECT id, p FROM gist_pt WHERE p <@ box '((0,0),(100,100))' ORDER BY id`,
			// Nearest neighbours (an ordered index scan): all points lie on
			// the diagonal at multiples of 0.25, so none tie for this one.
			`SET enable_seqscan = off; SET enable_bitmapscan = off;
			 SELECT id, p FROM gist_pt ORDER BY p <-> point '(2600.1,2600.1)' LIMIT 30`,
			`SET enable_seqscan = off; SET enable_bitmapscan = off;
			 SELECT count(*), min(id), max(id) FROM gist_pt WHERE p <@ box '((0,0),(100000,100000))'`,
			`SET enable_seqscan = off; SET enable_bitmapscan = off;
			 SELECT id, b FROM gist_box WHERE b && box '((100,100),(200,200))' ORDER BY id`,
			`SET enable_seqscan = off; SET enable_bitmapscan = off;
			 SELECT id, r FROM gist_rng WHERE r && int4range(1000, 2000) ORDER BY id`,
		},
	}
}

// GistMinimalWorkload reaches ASSIGN_LSN, which needs wal_level=minimal:
// a GiST index created in the inserting transaction is not WAL-logged, so
// gistGetFakeLSN logs a record with no block just to move the LSN. After
// the commit (which logs the index's pages as XLOG FPI records) more rows
// are WAL-logged as usual, so GiST pages are compared too.
func GistMinimalWorkload() IndexAMWorkload {
	return IndexAMWorkload{
		Name:    "gist_minimal",
		Rmgr:    "Gist",
		Minimal: true,
		Statements: []string{
			`CREATE TABLE gist_min (id int, p point);
			 CREATE INDEX gist_min_p ON gist_min USING gist (p);
			 INSERT INTO gist_min SELECT g, point(g, g) FROM generate_series(1, 300) g`,
			`INSERT INTO gist_min SELECT g, point(g, g) FROM generate_series(301, 1500) g`,
		},
		Want: []string{"Gist/ASSIGN_LSN", "Gist/PAGE_UPDATE", "Gist/PAGE_SPLIT"},
		Queries: []string{
			`SET enable_seqscan = off; SET enable_bitmapscan = off;
			 SELECT id, p FROM gist_min WHERE p <@ box '((100,100),(400,400))' ORDER BY id`,
		},
	}
}
