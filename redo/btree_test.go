package redo

import (
	"bytes"
	"encoding/binary"
	"errors"
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
	schema.XLogBtreeInsertLeaf, schema.XLogBtreeInsertUpper, schema.XLogBtreeInsertMeta, schema.XLogBtreeSplitL, schema.XLogBtreeSplitR,
	schema.XLogBtreeInsertPost, schema.XLogBtreeDedup, schema.XLogBtreeDelete, schema.XLogBtreeUnlinkPage, schema.XLogBtreeUnlinkPageMeta,
	schema.XLogBtreeNewroot, schema.XLogBtreeMarkPageHalfdead, schema.XLogBtreeVacuum, schema.XLogBtreeReusePage, schema.XLogBtreeMetaCleanup,
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
		case s.Compared == 0 && info != schema.XLogBtreeReusePage: // REUSE_PAGE has no block
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
		"SPLIT posting split", "VACUUM with updates", "DELETE", "DELETE with updates", "UNLINK internal",
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
	d := clusterWAL(t, c, start)
	le := binary.LittleEndian
	v := map[string]int{}
	for rec := range walRecords(t, d) {
		if rec.Rmgr() != schema.RmgrBtree {
			continue
		}
		md := rec.MainData
		switch info := rec.Info() & schema.XLRRmgrInfoMask; info {
		case schema.XLogBtreeNewroot:
			v["NEWROOT level "+string(rune('0'+le.Uint32(md[4:])))]++
		case schema.XLogBtreeSplitL, schema.XLogBtreeSplitR:
			if le.Uint32(md) > 0 {
				v["SPLIT internal"]++
			}
			if le.Uint16(md[8:]) != 0 {
				v["SPLIT posting split"]++
			}
		case schema.XLogBtreeVacuum:
			if le.Uint16(md[2:]) > 0 {
				v["VACUUM with updates"]++
			}
		case schema.XLogBtreeDelete:
			v["DELETE"]++
			if le.Uint16(md[6:]) > 0 {
				v["DELETE with updates"]++
			}
		case schema.XLogBtreeUnlinkPage, schema.XLogBtreeUnlinkPageMeta:
			if le.Uint32(md[8:]) > 0 {
				v["UNLINK internal"]++
			}
			if le.Uint32(md) == pNone {
				v["UNLINK leftmost"]++
			}
		case schema.XLogBtreeDedup:
			v["DEDUP"]++
		}
	}
	return v
}

// Hand-made btree pages and records. Tuples have an int4 key; their bytes
// are written out field by field here, independently of btree_page.go.

// btTID is an ItemPointerData.
func btTID(blk uint32, off uint16) []byte {
	b := make([]byte, 6)
	binary.LittleEndian.PutUint16(b[0:], uint16(blk>>16))
	binary.LittleEndian.PutUint16(b[2:], uint16(blk))
	binary.LittleEndian.PutUint16(b[4:], off)
	return b
}

// btLeafTuple is a plain leaf tuple: t_tid, t_info 16, key, padding.
func btLeafTuple(key uint32, blk uint32, off uint16) []byte {
	t := make([]byte, 16)
	copy(t, btTID(blk, off))
	binary.LittleEndian.PutUint16(t[6:], 16)
	binary.LittleEndian.PutUint32(t[8:], key)
	return t
}

// btPostingTuple is a posting list tuple: key at 8, the TIDs at 16, size
// MAXALIGNed; t_tid holds the posting offset and BT_IS_POSTING | n.
func btPostingTuple(key uint32, tids ...[]byte) []byte {
	size := (16 + 6*len(tids) + 7) &^ 7
	t := make([]byte, size)
	binary.LittleEndian.PutUint16(t[2:], 16)
	binary.LittleEndian.PutUint16(t[4:], 0x2000|uint16(len(tids)))
	binary.LittleEndian.PutUint16(t[6:], 0x2000|uint16(size))
	binary.LittleEndian.PutUint32(t[8:], key)
	for i, tid := range tids {
		copy(t[16+6*i:], tid)
	}
	return t
}

// btPivot is a pivot tuple with one key attribute and a downlink.
func btPivot(key uint32, downlink uint32) []byte {
	t := btLeafTuple(key, downlink, 1) // t_tid offset = number of attributes
	binary.LittleEndian.PutUint16(t[6:], 0x2000|16)
	return t
}

// btMinusInf is the first pivot of an internal page: no key.
func btMinusInf(downlink uint32) []byte {
	t := make([]byte, 8)
	copy(t, btTID(downlink, 0))
	binary.LittleEndian.PutUint16(t[6:], 0x2000|8)
	return t
}

// btTestPage is a btree page with the given opaque fields and items at
// offsets 1..n, page LSN lsn.
func btTestPage(t *testing.T, lsn schema.LSN, prev, next, level uint32, flags uint16, items ...[]byte) schema.Page {
	t.Helper()
	return opaqueTestPage(t, lsn, prev, next, level, flags, 77, items...) // 77: a cycle id
}

// opaqueTestPage is a page with the 16-byte special space btree and hash
// pages share the layout of (see opaqueFields), items at offsets 1..n and
// page LSN lsn.
func opaqueTestPage(t *testing.T, lsn schema.LSN, prev, next, third uint32, flags, last uint16, items ...[]byte) schema.Page {
	t.Helper()
	p := make(schema.Page, schema.BLCKSZ)
	if err := PageInit(p, 16); err != nil {
		t.Fatal(err)
	}
	o := p[p.Special():]
	copy(o, u32s(prev, next, third))
	copy(o[12:], u16s(flags, last))
	addTestItems(t, p, items...)
	p.SetLSN(lsn)
	return p
}

// opaqueFields reads the special space btree and hash pages share the
// layout of: prev, next, then level (btree) or bucket (hash), then flags,
// then cycle id (btree) or page id (hash).
func opaqueFields(p schema.Page) [5]uint32 {
	o := p[p.Special():]
	le := binary.LittleEndian
	return [5]uint32{le.Uint32(o[0:]), le.Uint32(o[4:]), le.Uint32(o[8:]), uint32(le.Uint16(o[12:])), uint32(le.Uint16(o[14:]))}
}

// addTestItems adds items at offsets 1..n of p.
func addTestItems(t *testing.T, p schema.Page, items ...[]byte) {
	t.Helper()
	for i, it := range items {
		if _, err := PageAddItem(p, it, schema.OffsetNumber(i+1), false, false); err != nil {
			t.Fatal(err)
		}
	}
}

// btCheckItems compares the page's items with want.
func btCheckItems(t *testing.T, name string, p schema.Page, want ...[]byte) {
	t.Helper()
	if int(p.MaxOffsetNumber()) != len(want) {
		t.Fatalf("%s: %d items, want %d", name, p.MaxOffsetNumber(), len(want))
	}
	for i, w := range want {
		if got := mustItem(t, p, schema.OffsetNumber(i+1)); !bytes.Equal(got, w) {
			t.Fatalf("%s: item %d\n got %x\nwant %x", name, i+1, got, w)
		}
	}
}

func u16s(vs ...uint16) []byte {
	b := make([]byte, 0, 2*len(vs))
	for _, v := range vs {
		b = binary.LittleEndian.AppendUint16(b, v)
	}
	return b
}

func u32s(vs ...uint32) []byte {
	b := make([]byte, 0, 4*len(vs))
	for _, v := range vs {
		b = binary.LittleEndian.AppendUint32(b, v)
	}
	return b
}

// btMetadata is an xl_btree_metadata.
func btMetadata(version, root, level, fastroot, fastlevel, delpages uint32, allequal bool) []byte {
	b := u32s(version, root, level, fastroot, fastlevel, delpages)
	if allequal {
		return append(b, 1, 0, 0, 0)
	}
	return append(b, 0, 0, 0, 0)
}

func btRecord(t *testing.T, info uint8, md []byte, lsn schema.LSN, blocks ...schema.BlockSpec) *schema.DecodedRecord {
	t.Helper()
	return assemble(t, schema.RecordSpec{Xid: 900, Rmgr: schema.RmgrBtree, Info: info, MainData: md, Blocks: blocks}, lsn)
}

func mustPage(t *testing.T, pages *MemPages, blk schema.BlockNumber) schema.Page {
	t.Helper()
	p, ok := pages.Get(testTag(blk))
	if !ok {
		t.Fatalf("block %d not available", blk)
	}
	return p
}

// TestBtreeRestoreMeta: META_CLEANUP rebuilds the metapage from
// xl_btree_metadata (_bt_restore_meta), whatever was there.
func TestBtreeRestoreMeta(t *testing.T) {
	rec := btRecord(t, schema.XLogBtreeMetaCleanup, nil, 0x5000,
		schema.BlockSpec{ID: 0, Tag: testTag(0), WillInit: true, Data: btMetadata(4, 3, 1, 5, 0, 7, true)})
	want := make(schema.Page, schema.BLCKSZ)
	_ = PageInit(want, 16)
	le := binary.LittleEndian
	copy(want[24:], u32s(0x053162, 4, 3, 1, 5, 0, 7))
	le.PutUint64(want[24+32:], 0xBFF0000000000000) // -1.0
	want[24+40] = 1
	le.PutUint16(want[schema.BLCKSZ-16+12:], 0x08) // BTP_META
	want.SetLower(72)
	checkMetapageInit(t, rec, btTestPage(t, 0x9999999, 1, 2, 3, 0xFF, btLeafTuple(1, 2, 3)), want)
}

// checkMetapageInit applies rec, which initialises the metapage at block 0,
// once with no page there and once over garbage with a later LSN, and
// checks that both times the page becomes want stamped with rec's LSN.
func checkMetapageInit(t *testing.T, rec *schema.DecodedRecord, garbage, want schema.Page) {
	t.Helper()
	want = clonePage(want)
	want.SetLSN(rec.EndLSN)
	for _, old := range []schema.Page{nil, garbage} {
		name := "absent"
		if old != nil {
			name = "garbage"
		}
		t.Run(name, func(t *testing.T) {
			e := newTestEngine(t)
			pages := NewMemPages()
			if old != nil {
				pages.Put(testTag(0), clonePage(old))
			}
			mustApply(t, e, rec, pages)
			if got := mustPage(t, pages, 0); !bytes.Equal(got, want) {
				off, _ := ComparePages(got, want)
				t.Fatalf("metapage differs at %d", off)
			}
		})
	}
}

// TestBtreeInsert covers INSERT_LEAF and INSERT_POST (the posting list
// split of _bt_swap_posting) on a leaf, and INSERT_UPPER, which clears
// the child's INCOMPLETE_SPLIT first.
func TestBtreeInsert(t *testing.T) {
	e := newTestEngine(t)
	const leaf = schema.BTPLeaf
	tests := []struct {
		name string
		info uint8
		data []byte
		off  uint16
		want [][]byte
	}{
		{"leaf", schema.XLogBtreeInsertLeaf, btLeafTuple(6, 4, 4), 2, [][]byte{
			btLeafTuple(5, 1, 1), btLeafTuple(6, 4, 4),
			btPostingTuple(7, btTID(1, 2), btTID(1, 5), btTID(2, 1)), btLeafTuple(9, 3, 1),
		}},
		{"posting split", schema.XLogBtreeInsertPost, append(u16s(2), btLeafTuple(7, 1, 7)...), 3, [][]byte{
			btLeafTuple(5, 1, 1),
			btPostingTuple(7, btTID(1, 2), btTID(1, 5), btTID(1, 7)), // (1,7) takes position 2
			btLeafTuple(7, 2, 1), // the new item gets the old maximum TID
			btLeafTuple(9, 3, 1),
		}},
		{"posting split at 1", schema.XLogBtreeInsertPost, append(u16s(1), btLeafTuple(7, 1, 3)...), 3, [][]byte{
			btLeafTuple(5, 1, 1),
			btPostingTuple(7, btTID(1, 2), btTID(1, 3), btTID(1, 5)),
			btLeafTuple(7, 2, 1),
			btLeafTuple(9, 3, 1),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pages := NewMemPages()
			p := btTestPage(t, 0x100, 0, 0, 0, leaf, btLeafTuple(5, 1, 1),
				btPostingTuple(7, btTID(1, 2), btTID(1, 5), btTID(2, 1)), btLeafTuple(9, 3, 1))
			pages.Put(testTag(1), p)
			rec := btRecord(t, tt.info, u16s(tt.off), 0x2000, schema.BlockSpec{ID: 0, Tag: testTag(1), Data: tt.data})
			mustApply(t, e, rec, pages)
			p = mustPage(t, pages, 1)
			btCheckItems(t, tt.name, p, tt.want...)
			if p.LSN() != rec.EndLSN {
				t.Fatalf("LSN %s", p.LSN())
			}
			// Replaying again finds the page up to date.
			before := bytes.Clone(p)
			mustApply(t, e, rec, pages)
			if !bytes.Equal(mustPage(t, pages, 1), before) {
				t.Fatal("BLK_DONE page changed")
			}
		})
	}

	t.Run("upper", func(t *testing.T) {
		pages := NewMemPages()
		parent := btTestPage(t, 0x100, 0, 0, 1, 0, btMinusInf(1), btPivot(50, 2))
		child := btTestPage(t, 0x100, 0, 2, 0, schema.BTPLeaf|schema.BTPIncompleteSplit, btLeafTuple(60, 1, 1), btLeafTuple(10, 1, 1))
		pages.Put(testTag(3), parent)
		pages.Put(testTag(1), child)
		rec := btRecord(t, schema.XLogBtreeInsertUpper, u16s(2), 0x3000,
			schema.BlockSpec{ID: 0, Tag: testTag(3), Data: btPivot(30, 7)},
			schema.BlockSpec{ID: 1, Tag: testTag(1)})
		mustApply(t, e, rec, pages)
		btCheckItems(t, "parent", mustPage(t, pages, 3), btMinusInf(1), btPivot(30, 7), btPivot(50, 2))
		c := mustPage(t, pages, 1)
		if f := opaqueFields(c); f[3] != schema.BTPLeaf || c.LSN() != rec.EndLSN {
			t.Fatalf("child flags %#x LSN %s", f[3], c.LSN())
		}
	})

	t.Run("upper without child page", func(t *testing.T) {
		// The store lacks the child: it stays unavailable, the parent is
		// still redone and the record counts as applied.
		pages := NewMemPages()
		pages.Put(testTag(3), btTestPage(t, 0x100, 0, 0, 1, 0, btMinusInf(1)))
		rec := btRecord(t, schema.XLogBtreeInsertUpper, u16s(2), 0x3000,
			schema.BlockSpec{ID: 0, Tag: testTag(3), Data: btPivot(30, 7)},
			schema.BlockSpec{ID: 1, Tag: testTag(1)})
		res := mustApply(t, e, rec, pages)
		if len(res.Invalidated) != 1 || res.Invalidated[0] != testTag(1) || !pages.Unavailable(testTag(1)) {
			t.Fatalf("invalidated %v", res.Invalidated)
		}
		btCheckItems(t, "parent", mustPage(t, pages, 3), btMinusInf(1), btPivot(30, 7))
	})
}

// TestBtreeInsertMetaAndNewroot: INSERT_META rebuilds the metapage after
// the insert; NEWROOT builds the root from the logged tuples, clears the
// left child's INCOMPLETE_SPLIT and rebuilds the metapage.
func TestBtreeInsertMetaAndNewroot(t *testing.T) {
	e := newTestEngine(t)
	pages := NewMemPages()
	pages.Put(testTag(1), btTestPage(t, 0x100, 0, 2, 0, schema.BTPLeaf|schema.BTPIncompleteSplit, btLeafTuple(60, 1, 1), btLeafTuple(10, 1, 1)))
	pages.Put(testTag(0), btTestPage(t, 0x100, 0, 0, 0, schema.BTPMeta))
	// The root's tuples as _bt_newroot logs them: pd_upper to pd_special,
	// the last item first.
	rootData := append(append([]byte(nil), btPivot(60, 2)...), btMinusInf(1)...)
	rec := btRecord(t, schema.XLogBtreeNewroot, u32s(3, 1), 0x4000,
		schema.BlockSpec{ID: 0, Tag: testTag(3), WillInit: true, Data: rootData},
		schema.BlockSpec{ID: 1, Tag: testTag(1)},
		schema.BlockSpec{ID: 2, Tag: testTag(0), WillInit: true, Data: btMetadata(4, 3, 1, 3, 1, 0, true)})
	mustApply(t, e, rec, pages)
	root := mustPage(t, pages, 3)
	btCheckItems(t, "root", root, btMinusInf(1), btPivot(60, 2))
	if f := opaqueFields(root); f != [5]uint32{0, 0, 1, schema.BTPRoot, 0} || root.LSN() != rec.EndLSN {
		t.Fatalf("root opaque %v", f)
	}
	if int(root.Upper()) != schema.BLCKSZ-16-24 {
		t.Fatalf("root pd_upper %d", root.Upper())
	}
	if f := opaqueFields(mustPage(t, pages, 1)); f[3] != schema.BTPLeaf {
		t.Fatalf("left child flags %#x", f[3])
	}
	if m := mustPage(t, pages, 0); binary.LittleEndian.Uint32(m[40:]) != 3 || m.LSN() != rec.EndLSN {
		t.Fatalf("metapage fastroot %d", binary.LittleEndian.Uint32(m[40:]))
	}

	// INSERT_META into the root: the metapage is rebuilt again.
	rec = btRecord(t, schema.XLogBtreeInsertMeta, u16s(3), 0x5000,
		schema.BlockSpec{ID: 0, Tag: testTag(3), Data: btPivot(80, 4)},
		schema.BlockSpec{ID: 1, Tag: testTag(2)},
		schema.BlockSpec{ID: 2, Tag: testTag(0), WillInit: true, Data: btMetadata(4, 3, 1, 3, 1, 0, true)})
	pages.Put(testTag(2), btTestPage(t, 0x100, 1, 0, 0, schema.BTPLeaf|schema.BTPIncompleteSplit))
	mustApply(t, e, rec, pages)
	btCheckItems(t, "root", mustPage(t, pages, 3), btMinusInf(1), btPivot(60, 2), btPivot(80, 4))
	if m := mustPage(t, pages, 0); m.LSN() != rec.EndLSN {
		t.Fatalf("metapage LSN %s", m.LSN())
	}
}

// TestBtreeSplit: the right page is rebuilt from the logged tuples, the
// left page on a temporary page (high key, items before firstrightoff with
// the new item or the post-split posting list), the old right sibling's
// left-link points at the new page.
func TestBtreeSplit(t *testing.T) {
	orig := [][]byte{btPivot(100, 0), btLeafTuple(10, 1, 1), btLeafTuple(20, 1, 2),
		btPostingTuple(30, btTID(2, 1), btTID(2, 4), btTID(2, 9)), btLeafTuple(40, 1, 4), btLeafTuple(50, 1, 5)}
	hikey40 := btPivot(40, 0)
	rightData := func(items ...[]byte) []byte { // reverse order, as on the page
		var d []byte
		for i := len(items) - 1; i >= 0; i-- {
			d = append(d, items[i]...)
		}
		return d
	}
	tests := []struct {
		name                               string
		info                               uint8
		firstright, newitemoff, postingoff uint16
		leftData                           []byte
		right                              [][]byte
		wantLeft                           [][]byte
	}{
		{"L", schema.XLogBtreeSplitL, 5, 3, 0, append(btLeafTuple(15, 9, 9), hikey40...),
			[][]byte{btPivot(100, 0), btLeafTuple(40, 1, 4), btLeafTuple(50, 1, 5)},
			[][]byte{hikey40, btLeafTuple(10, 1, 1), btLeafTuple(15, 9, 9), btLeafTuple(20, 1, 2), orig[3]}},
		{"L at end", schema.XLogBtreeSplitL, 5, 5, 0, append(btLeafTuple(35, 9, 9), hikey40...),
			[][]byte{btPivot(100, 0), btLeafTuple(40, 1, 4), btLeafTuple(50, 1, 5)},
			[][]byte{hikey40, btLeafTuple(10, 1, 1), btLeafTuple(20, 1, 2), orig[3], btLeafTuple(35, 9, 9)}},
		{"R", schema.XLogBtreeSplitR, 4, 5, 0, btPivot(30, 0),
			[][]byte{btPivot(100, 0), orig[3], btLeafTuple(40, 1, 4), btLeafTuple(45, 9, 9), btLeafTuple(50, 1, 5)},
			[][]byte{btPivot(30, 0), btLeafTuple(10, 1, 1), btLeafTuple(20, 1, 2)}},
		{"L posting split", schema.XLogBtreeSplitL, 5, 5, 1, append(btLeafTuple(30, 2, 2), hikey40...),
			[][]byte{btPivot(100, 0), btLeafTuple(40, 1, 4), btLeafTuple(50, 1, 5)},
			[][]byte{hikey40, btLeafTuple(10, 1, 1), btLeafTuple(20, 1, 2),
				btPostingTuple(30, btTID(2, 1), btTID(2, 2), btTID(2, 4)), btLeafTuple(30, 2, 9)}},
		{"R posting lastleft", schema.XLogBtreeSplitR, 5, 5, 2, append(btLeafTuple(30, 2, 5), btPivot(30, 0)...),
			[][]byte{btPivot(100, 0), btLeafTuple(30, 2, 9), btLeafTuple(40, 1, 4), btLeafTuple(50, 1, 5)},
			[][]byte{btPivot(30, 0), btLeafTuple(10, 1, 1), btLeafTuple(20, 1, 2),
				btPostingTuple(30, btTID(2, 1), btTID(2, 4), btTID(2, 5))}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEngine(t)
			pages := NewMemPages()
			pages.Put(testTag(1), btTestPage(t, 0x100, 4, 2, 0, schema.BTPLeaf|schema.BTPHasGarbage, orig...))
			pages.Put(testTag(2), btTestPage(t, 0x100, 1, 0, 0, schema.BTPLeaf, btLeafTuple(200, 5, 5)))
			md := append(u32s(0), u16s(tt.firstright, tt.newitemoff, tt.postingoff)...)
			rec := btRecord(t, tt.info, md, 0x6000,
				schema.BlockSpec{ID: 0, Tag: testTag(1), Data: tt.leftData},
				schema.BlockSpec{ID: 1, Tag: testTag(7), WillInit: true, Data: rightData(tt.right...)},
				schema.BlockSpec{ID: 2, Tag: testTag(2)})
			mustApply(t, e, rec, pages)

			left, right, sib := mustPage(t, pages, 1), mustPage(t, pages, 7), mustPage(t, pages, 2)
			btCheckItems(t, "left", left, tt.wantLeft...)
			btCheckItems(t, "right", right, tt.right...)
			if f := opaqueFields(left); f != [5]uint32{4, 7, 0, schema.BTPLeaf | schema.BTPIncompleteSplit, 0} {
				t.Fatalf("left opaque %v", f)
			}
			if f := opaqueFields(right); f != [5]uint32{1, 2, 0, schema.BTPLeaf, 0} {
				t.Fatalf("right opaque %v", f)
			}
			if f := opaqueFields(sib); f[0] != 7 || sib.LSN() != rec.EndLSN {
				t.Fatalf("sibling prev %d", f[0])
			}
			// Both rebuilt pages hold exactly their items: the rest is zero.
			for _, p := range []schema.Page{left, right} {
				if p.LSN() != rec.EndLSN || !bytes.Equal(p[p.Lower():p.Upper()], make([]byte, p.Upper()-p.Lower())) {
					t.Fatalf("free space not zero or LSN %s", p.LSN())
				}
			}
		})
	}
}

// TestBtreeDedup: the items of each interval become one posting list
// tuple on a temporary page (the high key first), BTP_HAS_GARBAGE goes.
func TestBtreeDedup(t *testing.T) {
	e := newTestEngine(t)
	pages := NewMemPages()
	hikey := btPivot(100, 0)
	items := [][]byte{hikey, btLeafTuple(7, 1, 1), btLeafTuple(7, 1, 2), btLeafTuple(7, 1, 3),
		btLeafTuple(8, 2, 1), btPostingTuple(9, btTID(3, 1), btTID(3, 2)), btLeafTuple(9, 3, 5), btLeafTuple(9, 4, 1)}
	pages.Put(testTag(1), btTestPage(t, 0x100, 3, 6, 0, schema.BTPLeaf|schema.BTPHasGarbage, items...))
	// Only two of the three key-9 items are in the interval.
	rec := btRecord(t, schema.XLogBtreeDedup, u16s(2), 0x7000,
		schema.BlockSpec{ID: 0, Tag: testTag(1), Data: u16s(2, 3, 6, 2)})
	mustApply(t, e, rec, pages)
	want := btTestPage(t, rec.EndLSN, 3, 6, 0, schema.BTPLeaf, hikey,
		btPostingTuple(7, btTID(1, 1), btTID(1, 2), btTID(1, 3)), btLeafTuple(8, 2, 1),
		btPostingTuple(9, btTID(3, 1), btTID(3, 2), btTID(3, 5)), btLeafTuple(9, 4, 1))
	binary.LittleEndian.PutUint16(want[want.Special()+14:], 77)
	if got := mustPage(t, pages, 1); !bytes.Equal(got, want) {
		off, _ := ComparePages(got, want)
		t.Fatalf("page differs at %d", off)
	}
}

// TestBtreeDeleteAndVacuum: updated posting lists lose the TIDs listed
// (one keeps a single TID and becomes a plain tuple), then the deleted
// items go; for DELETE and VACUUM alike.
func TestBtreeDeleteAndVacuum(t *testing.T) {
	for _, tt := range []struct {
		name string
		info uint8
		md   []byte
	}{
		{"vacuum", schema.XLogBtreeVacuum, u16s(2, 2)},
		{"delete", schema.XLogBtreeDelete, append(u32s(1234), u16s(2, 2)...)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEngine(t)
			pages := NewMemPages()
			pages.Put(testTag(1), btTestPage(t, 0x100, 0, 0, 0, schema.BTPLeaf|schema.BTPHasGarbage,
				btLeafTuple(5, 1, 1), btPostingTuple(7, btTID(1, 2), btTID(1, 3), btTID(1, 4)),
				btLeafTuple(8, 2, 2), btPostingTuple(9, btTID(3, 1), btTID(3, 2)), btLeafTuple(10, 4, 4)))
			data := u16s(1, 3, // deleted
				2, 4, // updated
				1, 1, // item 2 loses TID 1
				1, 0) // item 4 loses TID 0
			rec := btRecord(t, tt.info, tt.md, 0x8000, schema.BlockSpec{ID: 0, Tag: testTag(1), Data: data})
			mustApply(t, e, rec, pages)
			p := mustPage(t, pages, 1)
			btCheckItems(t, tt.name, p, btPostingTuple(7, btTID(1, 2), btTID(1, 4)), btLeafTuple(9, 3, 2), btLeafTuple(10, 4, 4))
			if f := opaqueFields(p); f[3] != schema.BTPLeaf || p.LSN() != rec.EndLSN {
				t.Fatalf("flags %#x LSN %s", f[3], p.LSN())
			}
		})
	}
}

// TestBtreePageDeletion: MARK_PAGE_HALFDEAD (parent downlink moved, leaf
// rebuilt half-dead with a dummy high key), then UNLINK_PAGE_META of an
// internal target with the leaf rebuilt and the metapage.
func TestBtreePageDeletion(t *testing.T) {
	e := newTestEngine(t)
	pages := NewMemPages()
	pages.Put(testTag(5), btTestPage(t, 0x100, 0, 0, 1, 0, btMinusInf(10), btPivot(20, 11), btPivot(30, 12)))
	pages.Put(testTag(11), btTestPage(t, 0x100, 10, 12, 0, schema.BTPLeaf, btPivot(30, 0)))
	rec := btRecord(t, schema.XLogBtreeMarkPageHalfdead, append(u16s(2, 0), u32s(11, 10, 12, 8)...), 0x9000,
		schema.BlockSpec{ID: 0, Tag: testTag(11), WillInit: true},
		schema.BlockSpec{ID: 1, Tag: testTag(5)})
	mustApply(t, e, rec, pages)
	btCheckItems(t, "parent", mustPage(t, pages, 5), btMinusInf(10), btPivot(20, 12))
	dummy := make([]byte, 8)
	copy(dummy, btTID(8, 0))
	binary.LittleEndian.PutUint16(dummy[6:], 0x2008)
	leaf := mustPage(t, pages, 11)
	btCheckItems(t, "leaf", leaf, dummy)
	if f := opaqueFields(leaf); f != [5]uint32{10, 12, 0, schema.BTPLeaf | schema.BTPHalfDead, 0} || leaf.LSN() != rec.EndLSN {
		t.Fatalf("leaf opaque %v", f)
	}

	// Unlink internal page 8 (between 7 and 9); leaf 11 now points at
	// top parent 6; the metapage changes.
	pages.Put(testTag(7), btTestPage(t, 0x100, 0, 8, 1, 0, btMinusInf(10)))
	pages.Put(testTag(9), btTestPage(t, 0x100, 8, 0, 1, 0, btMinusInf(13)))
	md := append(u32s(7, 9, 1, 0), u32s(5, 1, 10, 12, 6)...) // safexid 1<<32 | 5
	rec = btRecord(t, schema.XLogBtreeUnlinkPageMeta, md, 0xA000,
		schema.BlockSpec{ID: 0, Tag: testTag(8), WillInit: true},
		schema.BlockSpec{ID: 1, Tag: testTag(7)},
		schema.BlockSpec{ID: 2, Tag: testTag(9)},
		schema.BlockSpec{ID: 3, Tag: testTag(11), WillInit: true},
		schema.BlockSpec{ID: 4, Tag: testTag(0), WillInit: true, Data: btMetadata(4, 3, 2, 9, 1, 0, false)})
	mustApply(t, e, rec, pages)
	target := mustPage(t, pages, 8)
	want := make(schema.Page, schema.BLCKSZ)
	_ = PageInit(want, 16)
	want.SetLower(32)
	binary.LittleEndian.PutUint64(want[24:], 1<<32|5)
	copy(want[want.Special():], u32s(7, 9, 1))
	binary.LittleEndian.PutUint16(want[want.Special()+12:], schema.BTPDeleted|schema.BTPHasFullXid)
	want.SetLSN(rec.EndLSN)
	if !bytes.Equal(target, want) {
		off, _ := ComparePages(target, want)
		t.Fatalf("deleted page differs at %d", off)
	}
	if f := opaqueFields(mustPage(t, pages, 7)); f[1] != 9 {
		t.Fatalf("left sibling next %d", f[1])
	}
	if f := opaqueFields(mustPage(t, pages, 9)); f[0] != 7 {
		t.Fatalf("right sibling prev %d", f[0])
	}
	copy(dummy, btTID(6, 0))
	btCheckItems(t, "leaf", mustPage(t, pages, 11), dummy)
	if m := mustPage(t, pages, 0); binary.LittleEndian.Uint32(m[40:]) != 9 || m.LSN() != rec.EndLSN {
		t.Fatalf("metapage fastroot %d", binary.LittleEndian.Uint32(m[40:]))
	}
}

// TestBtreeRefused: records PostgreSQL does not write, or whose redo would
// fail on the page, are reported unsupported and their pages invalidated.
func TestBtreeRefused(t *testing.T) {
	leafPage := func(t *testing.T) schema.Page {
		return btTestPage(t, 0x100, 0, 0, 0, schema.BTPLeaf, btLeafTuple(5, 1, 1), btPostingTuple(7, btTID(1, 2), btTID(1, 5)))
	}
	tests := []struct {
		name string
		rec  func(t *testing.T) *schema.DecodedRecord
	}{
		{"short main data", func(t *testing.T) *schema.DecodedRecord {
			return btRecord(t, schema.XLogBtreeInsertLeaf, []byte{1}, 0x2000, schema.BlockSpec{ID: 0, Tag: testTag(1), Data: btLeafTuple(1, 1, 1)})
		}},
		{"upper without child block", func(t *testing.T) *schema.DecodedRecord {
			return btRecord(t, schema.XLogBtreeInsertUpper, u16s(1), 0x2000, schema.BlockSpec{ID: 0, Tag: testTag(1), Data: btPivot(1, 1)})
		}},
		{"offset past the end", func(t *testing.T) *schema.DecodedRecord {
			return btRecord(t, schema.XLogBtreeInsertLeaf, u16s(9), 0x2000, schema.BlockSpec{ID: 0, Tag: testTag(1), Data: btLeafTuple(1, 1, 1)})
		}},
		{"posting offset out of range", func(t *testing.T) *schema.DecodedRecord {
			return btRecord(t, schema.XLogBtreeInsertPost, u16s(3), 0x2000, schema.BlockSpec{ID: 0, Tag: testTag(1), Data: append(u16s(2), btLeafTuple(7, 1, 3)...)})
		}},
		{"posting split of a plain tuple", func(t *testing.T) *schema.DecodedRecord {
			return btRecord(t, schema.XLogBtreeInsertPost, u16s(2), 0x2000, schema.BlockSpec{ID: 0, Tag: testTag(1), Data: append(u16s(1), btLeafTuple(5, 1, 3)...)})
		}},
		{"truncated update", func(t *testing.T) *schema.DecodedRecord {
			return btRecord(t, schema.XLogBtreeVacuum, u16s(0, 1), 0x2000, schema.BlockSpec{ID: 0, Tag: testTag(1), Data: u16s(2, 2, 0)})
		}},
		{"update deleting every TID", func(t *testing.T) *schema.DecodedRecord {
			return btRecord(t, schema.XLogBtreeVacuum, u16s(0, 1), 0x2000, schema.BlockSpec{ID: 0, Tag: testTag(1), Data: u16s(2, 2, 0, 1)})
		}},
		{"deleted offsets not ascending", func(t *testing.T) *schema.DecodedRecord {
			return btRecord(t, schema.XLogBtreeDelete, append(u32s(0), u16s(3, 0)...), 0x2000, schema.BlockSpec{ID: 0, Tag: testTag(1), Data: u16s(2, 1, 2)})
		}},
		{"dedup intervals missing", func(t *testing.T) *schema.DecodedRecord {
			return btRecord(t, schema.XLogBtreeDedup, u16s(2), 0x2000, schema.BlockSpec{ID: 0, Tag: testTag(1), Data: u16s(1, 2)})
		}},
		{"short metadata", func(t *testing.T) *schema.DecodedRecord {
			return btRecord(t, schema.XLogBtreeMetaCleanup, nil, 0x2000, schema.BlockSpec{ID: 0, Tag: testTag(1), WillInit: true, Data: make([]byte, 24)})
		}},
		{"split right data cut", func(t *testing.T) *schema.DecodedRecord {
			return btRecord(t, schema.XLogBtreeSplitR, append(u32s(0), u16s(2, 3, 0)...), 0x2000,
				schema.BlockSpec{ID: 0, Tag: testTag(1), Data: btPivot(5, 0)},
				schema.BlockSpec{ID: 1, Tag: testTag(2), WillInit: true, Data: btLeafTuple(7, 1, 1)[:12]})
		}},
		{"halfdead parent offset past the end", func(t *testing.T) *schema.DecodedRecord {
			return btRecord(t, schema.XLogBtreeMarkPageHalfdead, append(u16s(2, 0), u32s(3, 0, 4, 3)...), 0x2000,
				schema.BlockSpec{ID: 0, Tag: testTag(3), WillInit: true},
				schema.BlockSpec{ID: 1, Tag: testTag(1)})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEngine(t)
			pages := NewMemPages()
			pages.Put(testTag(1), leafPage(t))
			var uns *Unsupported
			if _, err := e.Apply(tt.rec(t), pages); !errors.As(err, &uns) || !pages.Unavailable(testTag(1)) {
				t.Fatalf("err %v, page unavailable %v", err, pages.Unavailable(testTag(1)))
			}
		})
	}
}
