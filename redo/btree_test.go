package redo

import (
	"encoding/binary"
	"errors"
	"io"
	"sort"
	"strings"
	"testing"

	"github.com/pagemill/pagemill/internal/pgtest"
	"github.com/pagemill/pagemill/schema"
)

// btreeWorkload reaches every btree record type on a small cluster. Each
// entry runs on its own connection (VACUUM cannot share a query string).
var btreeWorkload = []string{
	// Wide random keys: about 16 per page, so the tree gets 3 levels.
	// The first insert makes the root (NEWROOT level 0), splits make
	// SPLIT_L, SPLIT_R, INSERT_UPPER and NEWROOT level 1 and 2.
	`CREATE TABLE bt_wide (id int, k text);
	 CREATE INDEX bt_wide_k ON bt_wide (k);
	 INSERT INTO bt_wide SELECT i, md5(i::text) || repeat('x', 440) FROM generate_series(1, 1200) i`,
	// Half the key space goes: VACUUM, MARK_PAGE_HALFDEAD, UNLINK_PAGE of
	// leaves and of internal pages (with the leaf rebuilt), META_CLEANUP.
	`DELETE FROM bt_wide WHERE k < '8'`,
	`VACUUM bt_wide`,
	// Once the deleting vacuum's safexid is old, a second vacuum puts the
	// deleted pages in the FSM and splits reuse them (REUSE_PAGE).
	`SELECT txid_current()`,
	`SELECT txid_current()`,
	`VACUUM bt_wide`,
	`INSERT INTO bt_wide SELECT i, md5(i::text) || repeat('x', 440) FROM generate_series(2001, 2400) i`,

	// Two leaves under a root; the left one is emptied and deleted, which
	// makes the right one the fast root (UNLINK_PAGE_META). Its split then
	// inserts into the true root and fixes the fast root (INSERT_META).
	`CREATE TABLE bt_meta (id int, k text);
	 CREATE INDEX bt_meta_k ON bt_meta (k);
	 INSERT INTO bt_meta SELECT i, lpad(i::text, 4, '0') || repeat('y', 440) FROM generate_series(1, 20) i`,
	`DELETE FROM bt_meta WHERE id <= 18`,
	`VACUUM (INDEX_CLEANUP ON) bt_meta`,
	`INSERT INTO bt_meta SELECT i, lpad(i::text, 4, '0') || repeat('y', 440) FROM generate_series(21, 60) i`,

	// Few distinct values: DEDUP, splits of pages with posting lists.
	`CREATE TABLE bt_dup (id int, v int);
	 CREATE INDEX bt_dup_v ON bt_dup (v);
	 INSERT INTO bt_dup SELECT i, i % 7 FROM generate_series(1, 4000) i`,
	// Part of each posting list dies: VACUUM with updated tuples.
	`DELETE FROM bt_dup WHERE id % 3 = 0`,
	`VACUUM bt_dup`,
	// New rows fill the freed heap space, so their TIDs fall inside
	// posting lists: INSERT_POST, and splits with a posting list split.
	`INSERT INTO bt_dup SELECT i, i % 7 FROM generate_series(4001, 5500) i`,
	// Dead rows found by an index scan get LP_DEAD; inserting into their
	// full pages deletes them (DELETE), with updated posting lists where
	// other dead TIDs share their heap blocks.
	`DELETE FROM bt_dup WHERE v = 2 OR (v = 3 AND id % 2 = 0)`,
	`SET enable_seqscan = off; SET enable_bitmapscan = off; SELECT count(id) FROM bt_dup WHERE v >= 2 AND v <= 3`,
	`INSERT INTO bt_dup SELECT i, 2 + i % 2 FROM generate_series(6001, 7500) i`,

	// Posting lists over a heap with holes, built by CREATE INDEX; with
	// deduplication then off, new rows land in the holes, inside posting
	// lists, and fill the leaves up to splits with a posting list split.
	`CREATE TABLE bt_ps (id int, v int, pad text);
	 INSERT INTO bt_ps SELECT i, i % 20, repeat('p', 100) FROM generate_series(1, 3000) i`,
	`DELETE FROM bt_ps WHERE id % 4 = 0`,
	`VACUUM bt_ps`,
	`CREATE INDEX bt_ps_v ON bt_ps (v);
	 ALTER INDEX bt_ps_v SET (deduplicate_items = off);
	 INSERT INTO bt_ps SELECT i, i % 20, NULL FROM generate_series(3001, 3600) i`,
}

// btreeTypes lists the Btree record types by info byte.
var btreeTypes = []uint8{
	btreeInsertLeaf, btreeInsertUpper, btreeInsertMeta, btreeSplitL, btreeSplitR,
	btreeInsertPost, btreeDedup, btreeDelete, btreeUnlinkPage, btreeUnlinkPageMeta,
	btreeNewroot, btreeMarkPageHalfdead, btreeVacuum, btreeReusePage, btreeMetaCleanup,
}

// TestVerifyBtree replays the WAL of a btree workload on a cluster with
// wal_consistency_checking=all and compares every btree block with the
// primary's image.
func TestVerifyBtree(t *testing.T) {
	c := pgtest.Start(t, pgtest.Options{WALConsistencyChecking: "all", ExtraConf: map[string]string{"autovacuum": "off"}})
	start := c.CreatePhysicalSlot(t, "keep")
	for _, sql := range btreeWorkload {
		c.Exec(t, sql)
	}
	rep := verifyCluster(t, c, start)
	if rep.Mismatches != 0 {
		t.Fatalf("%d mismatches", rep.Mismatches)
	}
	var missing []string
	for _, info := range btreeTypes {
		name := schema.RecordTypeName(schema.RmgrBtree, info)
		s := rep.ByType[name]
		switch {
		case s == nil:
			missing = append(missing, name)
		case s.Unsupported != 0:
			t.Errorf("%s: %d unsupported", name, s.Unsupported)
		case s.Compared == 0 && info != btreeReusePage: // REUSE_PAGE has no block
			t.Errorf("%s: no block compared: %+v", name, *s)
		}
	}
	if len(missing) > 0 {
		t.Errorf("record types not reached: %s", strings.Join(missing, ", "))
	}

	// The variants inside the types.
	v := btreeVariants(t, c, start)
	keys := make([]string, 0, len(v))
	for k := range v {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		t.Logf("variant %-34s %d", k, v[k])
	}
	for _, k := range []string{
		"NEWROOT level 0", "NEWROOT level 1", "NEWROOT level 2", "SPLIT internal",
		"SPLIT posting split", "VACUUM with updates", "DELETE", "UNLINK internal",
		"UNLINK leftmost", "DEDUP",
	} {
		if v[k] == 0 {
			t.Errorf("variant %q not reached", k)
		}
	}
}

// btreeVariants counts the btree records of the cluster's WAL from start
// by the paths of their redo they take.
func btreeVariants(t *testing.T, c *pgtest.Cluster, start string) map[string]int {
	t.Helper()
	end := c.CurrentWALLSN(t)
	dir := t.TempDir()
	c.CopyWAL(t, dir)
	startLSN, _ := schema.ParseLSN(start)
	endLSN, _ := schema.ParseLSN(end)
	d, err := schema.OpenWALDir(dir, schema.DirOptions{Start: startLSN, End: endLSN})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	le := binary.LittleEndian
	v := map[string]int{}
	for {
		rec, err := d.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if rec.Rmgr() != schema.RmgrBtree {
			continue
		}
		md := rec.MainData
		switch info := rec.Info() & schema.XLRRmgrInfoMask; info {
		case btreeNewroot:
			v["NEWROOT level "+string(rune('0'+le.Uint32(md[4:])))]++
		case btreeSplitL, btreeSplitR:
			if le.Uint32(md) > 0 {
				v["SPLIT internal"]++
			}
			if le.Uint16(md[8:]) != 0 {
				v["SPLIT posting split"]++
			}
		case btreeVacuum:
			if le.Uint16(md[2:]) > 0 {
				v["VACUUM with updates"]++
			}
		case btreeDelete:
			v["DELETE"]++
			if le.Uint16(md[6:]) > 0 {
				v["DELETE with updates"]++
			}
		case btreeUnlinkPage, btreeUnlinkPageMeta:
			if le.Uint32(md[8:]) > 0 {
				v["UNLINK internal"]++
			}
			if le.Uint32(md) == pNone {
				v["UNLINK leftmost"]++
			}
		case btreeDedup:
			v["DEDUP"]++
		}
	}
	return v
}
