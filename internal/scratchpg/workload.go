package scratchpg

import (
	"context"
	"fmt"
)

// DDLWorkload is a DDL-heavy SQL workload that reaches many record types:
// CREATE/DROP of tables and databases, TRUNCATE, VACUUM (plain, FREEZE,
// FULL), CLUSTER, indexes of every built-in kind, TOAST, sequences, row
// locks with multixacts, INSERT … ON CONFLICT, COPY, a materialized view,
// and a large logical message. Each statement runs on its own, in order.
var DDLWorkload = []string{
	`CREATE TABLE wl_items (id int PRIMARY KEY, k int, grp int, body text, tags int[], pt point, r int4range, doc tsvector) WITH (fillfactor = 70)`,
	`CREATE SEQUENCE wl_seq CACHE 1`,
	`INSERT INTO wl_items SELECT g, g % 97, g % 7, repeat(md5(g::text), 1 + g % 5), ARRAY[g % 11, g % 13], point(g % 100, g / 100), int4range(g, g + 10), to_tsvector('simple', 'word' || (g % 50) || ' other' || (g % 9)) FROM generate_series(1, 6000) g`,
	`CREATE INDEX wl_items_k ON wl_items (k)`,
	`CREATE INDEX wl_items_grp_dedup ON wl_items (grp)`,
	`CREATE INDEX wl_items_hash ON wl_items USING hash (k)`,
	`CREATE INDEX wl_items_gin ON wl_items USING gin (tags)`,
	`CREATE INDEX wl_items_gin_doc ON wl_items USING gin (doc)`,
	`CREATE INDEX wl_items_gist ON wl_items USING gist (pt)`,
	`CREATE INDEX wl_items_spgist ON wl_items USING spgist (pt)`,
	`CREATE INDEX wl_items_brin ON wl_items USING brin (id)`,
	`CREATE INDEX wl_items_range ON wl_items USING gist (r)`,
	`UPDATE wl_items SET body = body || 'u', k = k + 1 WHERE id % 3 = 0`,
	`UPDATE wl_items SET grp = grp WHERE id % 5 = 0`,
	`DELETE FROM wl_items WHERE id % 4 = 0`,
	`INSERT INTO wl_items SELECT g, g % 97, g % 7, 'again', ARRAY[g % 3], point(g, g), int4range(g, g + 1), to_tsvector('simple', 'x') FROM generate_series(1, 8000, 2) g ON CONFLICT (id) DO UPDATE SET body = excluded.body || wl_items.id`,
	`INSERT INTO wl_items VALUES (100001, 1, 1, repeat('toast me ', 20000), NULL, NULL, NULL, NULL)`,
	`UPDATE wl_items SET body = repeat('toast again ', 30000) WHERE id = 100001`,
	`SELECT nextval('wl_seq') FROM generate_series(1, 50)`,
	`ALTER SEQUENCE wl_seq RESTART WITH 1000`,
	`BEGIN; SELECT * FROM wl_items WHERE id < 50 FOR UPDATE; SAVEPOINT s1; UPDATE wl_items SET k = 0 WHERE id < 20; ROLLBACK TO s1; SELECT * FROM wl_items WHERE id < 30 FOR SHARE; COMMIT`,
	`BEGIN; SELECT * FROM wl_items WHERE id BETWEEN 50 AND 90 FOR KEY SHARE; SAVEPOINT a; SELECT * FROM wl_items WHERE id BETWEEN 60 AND 70 FOR NO KEY UPDATE; COMMIT`,
	`VACUUM wl_items`,
	`VACUUM (FREEZE) wl_items`,
	`CREATE TABLE wl_copy (a int, b text)`,
	`COPY wl_copy (a) FROM PROGRAM 'seq 1 3000'`,
	`CLUSTER wl_items USING wl_items_pkey`,
	`VACUUM FULL wl_copy`,
	`CREATE MATERIALIZED VIEW wl_mv AS SELECT grp, count(*) FROM wl_items GROUP BY grp`,
	`REFRESH MATERIALIZED VIEW wl_mv`,
	`TRUNCATE wl_copy`,
	`CREATE UNLOGGED TABLE wl_unlogged (a int PRIMARY KEY)`,
	`INSERT INTO wl_unlogged SELECT generate_series(1, 100)`,
	`CREATE TABLE wl_big (a int, b text)`,
	`INSERT INTO wl_big SELECT g, md5(g::text) FROM generate_series(1, 40000) g`,
	`CREATE INDEX wl_big_a ON wl_big (a)`,
	`DELETE FROM wl_big WHERE a > 2000`,
	`VACUUM wl_big`,
	`ALTER TABLE wl_items ADD COLUMN extra int DEFAULT 5`,
	`ALTER TABLE wl_items ALTER COLUMN extra TYPE bigint`,
	`CREATE DATABASE wl_db`,
	`DROP DATABASE wl_db`,
	`CREATE DATABASE wl_db2 STRATEGY FILE_COPY`,
	`DROP DATABASE wl_db2`,
	`SELECT pg_logical_emit_message(true, 'wl', 'transactional message')`,
	`SELECT pg_logical_emit_message(false, 'wl', repeat('m', 3 * 1024 * 1024))`,
	`DROP MATERIALIZED VIEW wl_mv`,
	`DROP TABLE wl_copy, wl_unlogged`,
	`SELECT pg_switch_wal()`,
	`CHECKPOINT`,
	`UPDATE wl_items SET k = k + 1 WHERE id % 10 = 1`,
}

// RunDDLWorkloadContext runs DDLWorkload, statement by statement.
func (c *Cluster) RunDDLWorkloadContext(ctx context.Context) error {
	for i, stmt := range DDLWorkload {
		if err := c.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("DDL workload statement %d (%.60s): %w", i, stmt, err)
		}
	}
	return nil
}
