package schema_test

import (
	"context"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/pagemill/pagemill/internal/pgtest"
	"github.com/pagemill/pagemill/schema"
)

// TestPageItemsMatchPageinspect holds HeapPageItems and BtreePageItems
// against pageinspect on the very same page bytes (one query reads the
// page and decodes it), and the catalog readers against what PostgreSQL
// returns from its catalogs.
func TestPageItemsMatchPageinspect(t *testing.T) {
	c := pgtest.Start(t, pgtest.Options{ExtraConf: map[string]string{"autovacuum": "off"}})
	c.Exec(t, `CREATE EXTENSION pageinspect;
		CREATE TABLE items (id int PRIMARY KEY, v text, n int, pad text);
		INSERT INTO items SELECT g, CASE WHEN g % 7 = 0 THEN NULL ELSE md5((g % 50)::text) END,
			CASE WHEN g % 3 = 0 THEN NULL ELSE g END, repeat('x', g % 40) FROM generate_series(1, 6000) g;
		CREATE INDEX items_v ON items (v);
		UPDATE items SET n = -n WHERE id % 11 = 0;
		DELETE FROM items WHERE id % 13 = 0`)
	c.Exec(t, "VACUUM items")
	c.Exec(t, `UPDATE items SET pad = 'hot' WHERE id % 17 = 0;
		SELECT count(*) FROM items WHERE n > 100;`)
	pi := &pageinspectRun{t: t, c: c}
	pi.compareHeap()
	for _, idx := range []string{"items_v", "items_pkey"} {
		pi.compareBtree(idx)
	}
	if pi.heapRows < 1000 || pi.flagged < 1000 || pi.btRows < 1000 || pi.postings == 0 || pi.pivots == 0 {
		pi.t.Fatalf("too little compared: %d heap items (%d with flags), %d btree items (%d posting lists, %d pivots)", pi.heapRows, pi.flagged, pi.btRows, pi.postings, pi.pivots)
	}
	t.Logf("equal to pageinspect: %d heap items, %d btree items (%d posting lists, %d pivots)", pi.heapRows, pi.btRows, pi.postings, pi.pivots)

	testCatalogRows(t, c, pi.rawPage)
}

// pageinspectRun compares the page item decoders with pageinspect on one
// cluster and counts what it compared.
type pageinspectRun struct {
	t *testing.T
	c *pgtest.Cluster

	heapRows, flagged        int
	btRows, postings, pivots int
}

// nullText is *v, or NULL as pageinspect prints it.
func nullText(v *string) string {
	if v == nil {
		return "NULL"
	}
	return *v
}

// valuesText is an item's values as pageinspect prints them, joined by "|".
func valuesText(vs []*string) string {
	parts := make([]string, len(vs))
	for i, v := range vs {
		parts[i] = nullText(v)
	}
	return strings.Join(parts, "|")
}

func (pi *pageinspectRun) rawPage(s string) schema.Page {
	b, err := hex.DecodeString(strings.TrimPrefix(s, `\x`))
	if err != nil || len(b) != schema.BLCKSZ {
		pi.t.Fatalf("raw page of %d bytes: %v", len(b), err)
	}
	return b
}

func (pi *pageinspectRun) nblocks(rel string) int {
	n, _ := strconv.Atoi(pi.c.Query(pi.t, "SELECT pg_relation_size($1::regclass) / 8192", rel)[0][0])
	return n
}

// compareHeap compares every item of every block of items with
// heap_page_items and heap_tuple_infomask_flags.
func (pi *pageinspectRun) compareHeap() {
	for b := range pi.nblocks("items") {
		rows := pi.c.Query(pi.t, `WITH r AS (SELECT get_raw_page('items', $1::int) AS p)
		SELECT r.p, h.lp, h.lp_off, h.lp_flags, h.lp_len, coalesce(h.t_xmin::text, 'NULL'), coalesce(h.t_xmax::text, 'NULL'),
			coalesce(h.t_field3::text, 'NULL'), coalesce(h.t_ctid::text, 'NULL'), coalesce(h.t_infomask2::text, 'NULL'),
			coalesce(h.t_infomask::text, 'NULL'), coalesce(h.t_hoff::text, 'NULL'), coalesce(h.t_bits, 'NULL'),
			coalesce(h.t_oid::text, 'NULL'), coalesce(h.t_data::text, 'NULL'),
			coalesce((SELECT f.raw_flags::text || ' ' || f.combined_flags::text FROM heap_tuple_infomask_flags(h.t_infomask, h.t_infomask2) f), '')
		FROM r, heap_page_items(r.p) h ORDER BY h.lp`, b)
		if len(rows) == 0 {
			pi.t.Fatalf("block %d: no items", b)
		}
		items, err := schema.HeapPageItems(pi.rawPage(rows[0][0]))
		if err != nil || len(items) != len(rows) {
			pi.t.Fatalf("block %d: %d items, pageinspect %d: %v", b, len(items), len(rows), err)
		}
		for i, row := range rows {
			if g, w := valuesText(items[i].Values()), strings.Join(row[1:15], "|"); g != w {
				pi.t.Fatalf("items block %d lp %d:\n got %s\nwant %s", b, i+1, g, w)
			}
			if raw, combined := items[i].Flags(); row[15] != "" || raw != "" {
				if g := raw + " " + combined; g != row[15] {
					pi.t.Fatalf("items block %d lp %d flags: got %s, want %s", b, i+1, g, row[15])
				}
				pi.flagged++
			}
			pi.heapRows++
		}
	}
}

// compareBtree compares every item of every page of index idx with
// bt_page_items, and checks that the meta page is refused.
func (pi *pageinspectRun) compareBtree(idx string) {
	for b := 1; b < pi.nblocks(idx); b++ {
		rows := pi.c.Query(pi.t, `WITH r AS (SELECT get_raw_page($1, $2::int) AS p)
		SELECT r.p, i.itemoffset, i.ctid, i.itemlen, i.nulls, i.vars, i.data, coalesce(CASE WHEN i.dead THEN 't' WHEN NOT i.dead THEN 'f' END, 'NULL'),
			coalesce(i.htid::text, 'NULL'), coalesce(i.tids::text, 'NULL')
		FROM r, bt_page_items(r.p) i ORDER BY i.itemoffset`, idx, b)
		if len(rows) == 0 {
			continue // an empty (deleted) page
		}
		items, err := schema.BtreePageItems(pi.rawPage(rows[0][0]))
		if err != nil || len(items) != len(rows) {
			pi.t.Fatalf("%s block %d: %d items, pageinspect %d: %v", idx, b, len(items), len(rows), err)
		}
		for i, row := range rows {
			if g, w := valuesText(items[i].Values()), strings.Join(row[1:], "|"); g != w {
				pi.t.Fatalf("%s block %d item %d:\n got %s\nwant %s", idx, b, i+1, g, w)
			}
			if items[i].Tids != nil {
				pi.postings++
			}
			if !items[i].HasDead {
				pi.pivots++
			}
			pi.btRows++
		}
	}
	// The meta page is refused, as bt_page_items refuses it.
	meta := pi.c.Query(pi.t, "SELECT get_raw_page($1, 0)", idx)[0][0]
	if _, err := schema.BtreePageItems(pi.rawPage(meta)); err == nil {
		pi.t.Errorf("%s meta page decoded", idx)
	}
}

// testCatalogRows decodes every tuple of pg_class, pg_namespace,
// pg_database and pg_am from their raw pages, checks the rows PostgreSQL
// sees against the decoded ones, and HeapTupleVisible (with
// pg_xact_status as the commit log) against which rows it sees.
func testCatalogRows(t *testing.T, c *pgtest.Cluster, rawPage func(string) schema.Page) {
	// Dead catalog tuples and a mapped catalog that moved.
	// Dead catalog tuples (a drop, a rename, a rollback), one whose
	// inserter is still in progress, and a mapped catalog that moved.
	c.Exec(t, "VACUUM FULL pg_class")
	c.Exec(t, "CREATE DATABASE second")
	c.Exec(t, "CREATE TABLE gone (a int); DROP TABLE gone; ALTER TABLE items RENAME TO items2; CREATE SCHEMA other")
	ctx := context.Background()
	open, err := c.Connect(ctx, "postgres")
	if err != nil {
		t.Fatal(err)
	}
	defer open.Close(ctx)
	for _, q := range []string{"BEGIN", "CREATE TABLE rolled_back (a int)", "ROLLBACK", "BEGIN", "CREATE TABLE in_progress (a int)"} {
		if _, err := open.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	for _, tc := range catalogRowCases() {
		want, tuples := decodeCatalogTuples(t, c, rawPage, tc)
		checkCatalogVisibility(t, c, tc, want, tuples)
	}
	checkRelMaps(t, c)
}

// catalogRowCase is a catalog, the query PostgreSQL answers for it and
// the decoder whose output must match the query's columns.
type catalogRowCase struct {
	catalog, query string
	decode         func([]byte) (string, error)
}

func catalogRowCases() []catalogRowCase {
	return []catalogRowCase{
		{"pg_class", "SELECT ctid, oid, relname, relnamespace, relam, relfilenode, reltablespace, relisshared, relpersistence, relkind FROM pg_class",
			func(tup []byte) (string, error) {
				r, err := schema.ParsePgClass(tup)
				return fmt.Sprintf("%d|%s|%d|%d|%d|%d|%s|%c|%c", r.Oid, r.Name, r.Namespace, r.AM, r.FileNode, r.Tablespace, tf(r.Shared), r.Persistence, r.Kind), err
			}},
		{"pg_namespace", "SELECT ctid, oid, nspname FROM pg_namespace",
			func(tup []byte) (string, error) {
				r, err := schema.ParsePgNamespace(tup)
				return fmt.Sprintf("%d|%s", r.Oid, r.Name), err
			}},
		{"pg_database", "SELECT ctid, oid, datname, datconnlimit, dattablespace FROM pg_database",
			func(tup []byte) (string, error) {
				r, err := schema.ParsePgDatabase(tup)
				return fmt.Sprintf("%d|%s|%d|%d", r.Oid, r.Name, r.ConnLimit, r.Tablespace), err
			}},
		{"pg_am", "SELECT ctid, oid, amname, amtype FROM pg_am",
			func(tup []byte) (string, error) {
				r, err := schema.ParsePgAm(tup)
				return fmt.Sprintf("%d|%s|%c", r.Oid, r.Name, r.Type), err
			}},
	}
}

// catalogTuple is a catalog tuple's ctid and header.
type catalogTuple struct {
	ctid string
	h    schema.HeapTupleHeader
}

// decodeCatalogTuples decodes every normal tuple of tc's catalog from the
// raw pages, checks those PostgreSQL returns against its rows and returns
// the rows by ctid and the tuples.
func decodeCatalogTuples(t *testing.T, c *pgtest.Cluster, rawPage func(string) schema.Page, tc catalogRowCase) (map[string]string, []catalogTuple) {
	t.Helper()
	want := map[string]string{}
	for _, r := range c.Query(t, tc.query) {
		want[r[0]] = strings.Join(r[1:], "|")
	}
	pages := c.Query(t, "SELECT b, get_raw_page($1, b::int) FROM generate_series(0, pg_relation_size($1::regclass) / 8192 - 1) b", tc.catalog)
	var tuples []catalogTuple
	for _, pr := range pages {
		p := rawPage(pr[1])
		for off := schema.FirstOffsetNumber; off <= p.MaxOffsetNumber(); off++ {
			if !p.ItemID(off).IsNormal() {
				continue
			}
			tup, err := p.Item(off)
			if err != nil {
				t.Fatal(err)
			}
			ctid := fmt.Sprintf("(%s,%d)", pr[0], off)
			got, err := tc.decode(tup)
			if err != nil {
				t.Fatalf("%s %s: %v", tc.catalog, ctid, err)
			}
			if w, ok := want[ctid]; ok && got != w {
				t.Fatalf("%s %s:\n got %s\nwant %s", tc.catalog, ctid, got, w)
			}
			h, _ := schema.ParseHeapTupleHeader(tup)
			tuples = append(tuples, catalogTuple{ctid, h})
		}
	}
	return want, tuples
}

// checkCatalogVisibility checks that exactly the tuples PostgreSQL
// returns are visible by the commit log the server wrote.
func checkCatalogVisibility(t *testing.T, c *pgtest.Cluster, tc catalogRowCase, want map[string]string, tuples []catalogTuple) {
	t.Helper()
	// The commit log as the server wrote it (CHECKPOINT flushed it).
	c.Checkpoint(t)
	status := func(xid uint32) (uint8, error) {
		page := schema.ClogPageOf(xid)
		seg, err := os.ReadFile(filepath.Join(c.DataDir(), "pg_xact", schema.SlruSegmentName(page/schema.SlruPagesPerSegment)))
		if err != nil {
			return 0, err
		}
		at := int(page%schema.SlruPagesPerSegment) * schema.BLCKSZ
		if at+schema.BLCKSZ > len(seg) {
			return 0, fmt.Errorf("pg_xact page %d not in its segment of %d bytes", page, len(seg))
		}
		return schema.ClogStatus(seg[at:at+schema.BLCKSZ], xid)
	}
	visible, hidden := 0, 0
	for _, tu := range tuples {
		ok, err := schema.HeapTupleVisible(tu.h, status)
		if err != nil {
			t.Fatalf("%s %s: %v", tc.catalog, tu.ctid, err)
		}
		if _, seen := want[tu.ctid]; ok != seen {
			t.Fatalf("%s %s (xmin %d xmax %d infomask 0x%04x): visible %v, PostgreSQL sees it: %v", tc.catalog, tu.ctid, tu.h.Xmin, tu.h.Xmax, tu.h.Infomask, ok, seen)
		}
		if ok {
			visible++
		} else {
			hidden++
		}
	}
	if tc.catalog == "pg_class" && hidden < 3 {
		t.Fatalf("pg_class: only %d invisible tuples: the test did not test visibility", hidden)
	}
	if visible != len(want) {
		t.Fatalf("%s: %d tuples visible, PostgreSQL returns %d rows", tc.catalog, visible, len(want))
	}
	t.Logf("%s: %d tuples decoded, %d visible and %d not, as PostgreSQL sees them", tc.catalog, len(tuples), visible, hidden)
}

// checkRelMaps checks the relation maps, the shared one and the
// postgres database's, against pg_relation_filenode.
func checkRelMaps(t *testing.T, c *pgtest.Cluster) {
	t.Helper()
	dbs := c.Query(t, "SELECT oid FROM pg_database WHERE datname IN ('postgres')")
	for _, m := range []struct{ file, where string }{
		{"global/pg_filenode.map", "relisshared"},
		{"base/" + dbs[0][0] + "/pg_filenode.map", "NOT relisshared"},
	} {
		b, err := os.ReadFile(filepath.Join(c.DataDir(), m.file))
		if err != nil {
			t.Fatal(err)
		}
		got, err := schema.ParseRelMap(b)
		if err != nil {
			t.Fatalf("%s: %v", m.file, err)
		}
		rows := c.Query(t, "SELECT oid, pg_relation_filenode(oid) FROM pg_class WHERE relfilenode = 0 AND relkind IN ('r', 'i', 't') AND "+m.where)
		if len(rows) != len(got) {
			t.Fatalf("%s: %d mappings, pg_class has %d mapped relations", m.file, len(got), len(rows))
		}
		moved := 0
		for _, r := range rows {
			oid, _ := strconv.ParseUint(r[0], 10, 32)
			fn, _ := strconv.ParseUint(r[1], 10, 32)
			if got[schema.Oid(oid)] != schema.Oid(fn) {
				t.Fatalf("%s: oid %d maps to %d, PostgreSQL says %d", m.file, oid, got[schema.Oid(oid)], fn)
			}
			if oid != fn {
				moved++
			}
		}
		if m.where == "NOT relisshared" && moved == 0 {
			t.Fatalf("%s: VACUUM FULL pg_class moved nothing", m.file)
		}
	}
}

func tf(b bool) string {
	if b {
		return "t"
	}
	return "f"
}
