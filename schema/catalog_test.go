package schema_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/pagemill/pagemill/schema"
)

// tuple builds a heap tuple: a 24-byte header (no null bitmap) and data.
func tuple(xmin, xmax uint32, infomask uint16, natts int, data []byte) []byte {
	t := make([]byte, 24, 24+len(data))
	le := binary.LittleEndian
	le.PutUint32(t, xmin)
	le.PutUint32(t[4:], xmax)
	le.PutUint16(t[16:], 1) // ctid (0,1)
	le.PutUint16(t[18:], uint16(natts))
	le.PutUint16(t[20:], infomask)
	t[22] = 24
	return append(t, data...)
}

func name64(s string) []byte {
	b := make([]byte, schema.NameDataLen)
	copy(b, s)
	return b
}

func TestRelMap(t *testing.T) {
	b, err := schema.AppendRelMap(nil, []schema.Oid{1259, 1249, 2662}, []schema.Oid{1259, 16500, 2662})
	if err != nil || len(b) != schema.RelMapFileSize {
		t.Fatalf("AppendRelMap: %d bytes, %v", len(b), err)
	}
	m, err := schema.ParseRelMap(b)
	if err != nil || len(m) != 3 || m[1249] != 16500 || m[1259] != 1259 {
		t.Fatalf("ParseRelMap: %v, %v", m, err)
	}
	// A page holds the map in its first 512 bytes.
	page := append(append([]byte{}, b...), make([]byte, schema.BLCKSZ-len(b))...)
	if m, err := schema.ParseRelMap(page); err != nil || len(m) != 3 {
		t.Fatalf("map in a page: %v %v", m, err)
	}
	for _, tc := range []struct {
		name   string
		change func(b []byte)
		want   string
	}{
		{"crc", func(b []byte) { b[9] ^= 1 }, "CRC"},
		{"magic", func(b []byte) { b[0] = 0 }, "magic number"},
		{"count", func(b []byte) { binary.LittleEndian.PutUint32(b[4:], 63) }, "63 mappings"},
	} {
		bad := append([]byte(nil), b...)
		tc.change(bad)
		if _, err := schema.ParseRelMap(bad); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error about %s", tc.name, err, tc.want)
		}
	}
	if _, err := schema.ParseRelMap(b[:100]); err == nil {
		t.Error("short map accepted")
	}
	if _, err := schema.AppendRelMap(nil, make([]schema.Oid, 63), make([]schema.Oid, 63)); err == nil {
		t.Error("63 mappings encoded")
	}
}

func TestParseCatalogRows(t *testing.T) {
	le := binary.LittleEndian
	// pg_class: oid 16384 "accounts" in namespace 2200, btree AM 2,
	// relfilenode 16390, tablespace 0, not shared, permanent table.
	d := make([]byte, 140)
	le.PutUint32(d, 16384)
	copy(d[4:], name64("accounts"))
	le.PutUint32(d[68:], 2200)
	le.PutUint32(d[84:], 2)
	le.PutUint32(d[88:], 16390)
	d[114], d[115] = 'p', 'r'
	c, err := schema.ParsePgClass(tuple(700, 0, 0, 33, d))
	if err != nil {
		t.Fatal(err)
	}
	want := schema.PgClassRow{Oid: 16384, Name: "accounts", Namespace: 2200, AM: 2, FileNode: 16390, Persistence: 'p', Kind: 'r'}
	if c != want {
		t.Fatalf("pg_class: %+v, want %+v", c, want)
	}
	if _, err := schema.ParsePgClass(tuple(700, 0, 0, 33, d[:139])); err == nil {
		t.Error("short pg_class row accepted")
	}
	if _, err := schema.ParsePgClass(tuple(700, 0, 0, 12, d)); err == nil {
		t.Error("pg_class row with 12 attributes accepted")
	}
	if _, err := schema.ParsePgClass(d[:20]); err == nil {
		t.Error("a tuple shorter than its header accepted")
	}

	n := make([]byte, 72)
	le.PutUint32(n, 2200)
	copy(n[4:], name64("public"))
	if ns, err := schema.ParsePgNamespace(tuple(1, 0, 0, 4, n)); err != nil || ns != (schema.PgNamespaceRow{Oid: 2200, Name: "public"}) {
		t.Fatalf("pg_namespace: %+v %v", ns, err)
	}

	db := make([]byte, 96)
	le.PutUint32(db, 5)
	copy(db[4:], name64("postgres"))
	le.PutUint32(db[80:], uint32(0xFFFFFFFF)) // -1
	le.PutUint32(db[92:], 1663)
	if r, err := schema.ParsePgDatabase(tuple(1, 0, 0, 16, db)); err != nil || r != (schema.PgDatabaseRow{Oid: 5, Name: "postgres", ConnLimit: -1, Tablespace: 1663}) {
		t.Fatalf("pg_database: %+v %v", r, err)
	}

	am := make([]byte, 73)
	le.PutUint32(am, 403)
	copy(am[4:], name64("btree"))
	am[72] = 'i'
	if r, err := schema.ParsePgAm(tuple(1, 0, 0, 4, am)); err != nil || r != (schema.PgAmRow{Oid: 403, Name: "btree", Type: 'i'}) {
		t.Fatalf("pg_am: %+v %v", r, err)
	}

	if schema.RelKindName('m') != "materialized view" || !schema.RelKindHasStorage('m') || schema.RelKindHasStorage('v') {
		t.Error("relkinds")
	}
}

func TestHeapTupleVisible(t *testing.T) {
	// xid 10 committed, 11 aborted, 12 in progress, 13 sub-committed.
	status := func(xid uint32) (uint8, error) {
		switch xid {
		case 10:
			return schema.XactStatusCommitted, nil
		case 11:
			return schema.XactStatusAborted, nil
		case 12:
			return schema.XactStatusInProgress, nil
		case 13:
			return schema.XactStatusSubCommited, nil
		}
		return 0, fmt.Errorf("no status for xid %d", xid)
	}
	const (
		xminCommitted = 0x0100
		frozen        = 0x0300
		xmaxInvalid   = 0x0800
		lockOnly      = 0x0080
		exclLock      = 0x0040
		multi         = 0x1000
	)
	for _, tc := range []struct {
		name       string
		xmin, xmax uint32
		infomask   uint16
		want       bool
		err        string
	}{
		{"committed insert", 10, 0, 0, true, ""},
		{"aborted insert", 11, 0, 0, false, ""},
		{"insert in progress", 12, 0, 0, false, ""},
		{"insert in progress, hint bit says committed", 12, 0, xminCommitted, false, ""},
		{"sub-committed is not committed", 13, 0, 0, false, ""},
		{"frozen", 99, 0, frozen, true, ""},
		{"bootstrap xid", 1, 0, 0, true, ""},
		{"frozen xid", 2, 0, 0, true, ""},
		{"invalid xmin", 0, 0, 0, false, ""},
		{"deleted by a committed xact", 10, 10, 0, false, ""},
		{"deleted by an aborted xact", 10, 11, 0, true, ""},
		{"delete in progress", 10, 12, 0, true, ""},
		{"delete in progress, hint bit says invalid", 10, 12, xmaxInvalid, true, ""},
		{"locked only", 10, 10, lockOnly, true, ""},
		{"exclusive lock", 10, 10, exclLock, true, ""},
		{"multixact locker", 10, 7, multi | lockOnly, true, ""},
		{"multixact updater", 10, 7, multi, false, "multixact"},
		{"unknown xmin", 50, 0, 0, false, "xmin 50: no status"},
		{"unknown xmax", 10, 51, 0, false, "xmax 51: no status"},
	} {
		h := schema.HeapTupleHeader{Xmin: tc.xmin, Xmax: tc.xmax, Infomask: tc.infomask}
		got, err := schema.HeapTupleVisible(h, status)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: %v, %v; want an error with %q", tc.name, got, err, tc.err)
			}
			if tc.err == "multixact" && !errors.Is(err, schema.ErrMultiXactUpdater) {
				t.Errorf("%s: %v is not ErrMultiXactUpdater", tc.name, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%s: %v, %v; want %v", tc.name, got, err, tc.want)
		}
	}
}

func TestClogStatus(t *testing.T) {
	page := make([]byte, schema.BLCKSZ)
	// xid 32768*3 + 5: page 3, byte 1, bits 2-3.
	xid := uint32(schema.ClogXactsPerPage*3 + 5)
	page[1] = schema.XactStatusAborted << 2
	if schema.ClogPageOf(xid) != 3 {
		t.Fatalf("page of %d: %d", xid, schema.ClogPageOf(xid))
	}
	if st, err := schema.ClogStatus(page, xid); err != nil || st != schema.XactStatusAborted {
		t.Fatalf("status: %d %v", st, err)
	}
	if st, _ := schema.ClogStatus(page, xid+1); st != schema.XactStatusInProgress {
		t.Fatalf("neighbour: %d", st)
	}
	if _, err := schema.ClogStatus(page[:1], xid); err == nil {
		t.Fatal("short page accepted")
	}
}

func TestInfomaskFlags(t *testing.T) {
	raw, combined := schema.InfomaskFlags(0x0001|0x0300|0x0800|0x0050, 0x4000|0x0003)
	if got := schema.TextArray(raw); got != "{HEAP_HASNULL,HEAP_XMAX_KEYSHR_LOCK,HEAP_XMAX_EXCL_LOCK,HEAP_XMIN_COMMITTED,HEAP_XMIN_INVALID,HEAP_XMAX_INVALID,HEAP_HOT_UPDATED}" {
		t.Errorf("raw: %s", got)
	}
	if got := schema.TextArray(combined); got != "{HEAP_XMAX_SHR_LOCK,HEAP_XMIN_FROZEN}" {
		t.Errorf("combined: %s", got)
	}
	if raw, combined := schema.InfomaskFlags(0, 0); schema.TextArray(raw) != "{}" || combined != nil {
		t.Errorf("none: %v %v", raw, combined)
	}
}

// heapPage builds a heap page with the given tuples and line pointers.
func heapPage(t *testing.T, tuples ...[]byte) schema.Page {
	t.Helper()
	return buildPage(t, 0, tuples...)
}

// buildPage lays out a page as PageInit and PageAddItem do: the items
// from the end of the page down, each MAXALIGNed, line pointers in order.
func buildPage(t *testing.T, special int, items ...[]byte) schema.Page {
	t.Helper()
	p := make(schema.Page, schema.BLCKSZ)
	p.SetPageSizeAndVersion(schema.BLCKSZ, schema.PGPageLayoutVersion)
	p.SetSpecial(uint16(schema.BLCKSZ - special))
	p.SetUpper(p.Special())
	p.SetLower(schema.SizeOfPageHeaderData)
	for i, it := range items {
		upper := (int(p.Upper()) - len(it)) &^ 7
		if upper < int(p.Lower())+4 {
			t.Fatalf("item %d does not fit", i+1)
		}
		copy(p[upper:], it)
		p.SetUpper(uint16(upper))
		if err := p.SetItemID(schema.OffsetNumber(i+1), schema.NewItemId(uint16(upper), schema.LPNormal, uint16(len(it)))); err != nil {
			t.Fatal(err)
		}
		p.SetLower(p.Lower() + 4)
	}
	return p
}

func TestHeapPageItems(t *testing.T) {
	// A tuple with a null bitmap (natts 10, hoff 32) and an old oid.
	withNulls := tuple(10, 11, 0x0001|0x0008, 10, nil)
	withNulls = append(withNulls[:23], 0b00000101, 0, 0, 0, 0, 0x39, 0x30, 0, 0) // bits, pad, oid 12345
	withNulls[22] = 32
	withNulls = append(withNulls, 'a', 'b')
	plain := tuple(12, 0, 0x0800, 2, []byte{1, 2, 3, 4})
	binary.LittleEndian.PutUint32(plain[8:], 0xFFFFFFFF) // t_field3 -1
	p := heapPage(t, withNulls, plain, plain)
	// Line pointer 3 redirected to 2, 4 dead, 5 unused.
	if err := p.SetItemID(3, schema.NewItemId(2, schema.LPRedirect, 0)); err != nil {
		t.Fatal(err)
	}
	for off, id := range map[schema.OffsetNumber]schema.ItemId{4: schema.NewItemId(0, schema.LPDead, 0), 5: 0} {
		if err := p.SetItemID(off, id); err != nil {
			t.Fatal(err)
		}
	}
	p.SetLower(p.Lower() + 8)
	items, err := schema.HeapPageItems(p)
	if err != nil || len(items) != 5 {
		t.Fatalf("%d items, %v", len(items), err)
	}
	text := func(it schema.HeapItem) string { return valuesText(it.Values()) }
	off1 := items[0].LpOff
	for i, want := range []string{
		fmt.Sprintf("1|%d|1|34|10|11|0|(0,1)|10|9|32|1010000000000000|12345|\\x6162", off1),
		fmt.Sprintf("2|%d|1|28|12|0|-1|(0,1)|2|2048|24|NULL|NULL|\\x01020304", items[1].LpOff),
		"3|2|2|0|NULL|NULL|NULL|NULL|NULL|NULL|NULL|NULL|NULL|NULL",
		"4|0|3|0|NULL|NULL|NULL|NULL|NULL|NULL|NULL|NULL|NULL|NULL",
		"5|0|0|0|NULL|NULL|NULL|NULL|NULL|NULL|NULL|NULL|NULL|NULL",
	} {
		if got := text(items[i]); got != want {
			t.Errorf("item %d:\n got %s\nwant %s", i+1, got, want)
		}
	}
	if raw, combined := items[1].Flags(); raw != "{HEAP_XMAX_INVALID}" || combined != "{}" {
		t.Errorf("flags: %s %s", raw, combined)
	}
	// A misaligned t_hoff: header fields, but no bits, oid or data.
	bad := tuple(10, 0, 0x0001, 2, []byte{0, 0, 0, 0, 0, 0, 0, 0})
	bad[22] = 27
	items, _ = schema.HeapPageItems(heapPage(t, bad))
	if v := items[0].Values(); v[4] == nil || v[11] != nil || v[13] != nil {
		t.Errorf("misaligned t_hoff: %v", text(items[0]))
	}
	if _, err := schema.HeapPageItems(make(schema.Page, 10)); err == nil {
		t.Error("a 10-byte page accepted")
	}
}

// indexTuple builds an index tuple: t_tid, t_info (size and flags), data.
func indexTuple(blk uint32, off uint16, flags uint16, data []byte) []byte {
	b := make([]byte, 8, 8+len(data))
	le := binary.LittleEndian
	le.PutUint16(b, uint16(blk>>16))
	le.PutUint16(b[2:], uint16(blk))
	le.PutUint16(b[4:], off)
	b = append(b, data...)
	le.PutUint16(b[6:], flags|uint16(len(b)))
	return b
}

func btreePage(t *testing.T, next uint32, flags uint16, items ...[]byte) schema.Page {
	t.Helper()
	p := buildPage(t, 16, items...)
	le := binary.LittleEndian
	le.PutUint32(p[p.Special()+4:], next)
	le.PutUint16(p[p.Special()+12:], flags)
	return p
}

func TestBtreePageItems(t *testing.T) {
	key := []byte{1, 0, 0, 0, 0, 0, 0, 0}
	// A leaf page that is not the rightmost: a high key (a pivot with a
	// heap TID), a plain tuple, and a posting list of three tids.
	hikey := append(append([]byte{}, key...), 0, 0, 0, 0, 0, 0, 7, 0) // data, then heap TID (0,7) in the last 6 bytes
	hikey = indexTuple(0, 1|0x1000, 0x2000, hikey)
	plain := indexTuple(3, 4, 0, key)
	posting := indexTuple(16, 3|0x2000, 0x2000, append(append([]byte{}, key...), 0, 0, 1, 0, 1, 0, 0, 0, 1, 0, 2, 0, 0, 0, 2, 0, 9, 0, 0, 0))
	p := btreePage(t, 5, schema.BTPLeaf, hikey, plain, posting)
	if err := p.SetItemID(2, func() schema.ItemId { id := p.ItemID(2); id.MarkDead(); return id }()); err != nil {
		t.Fatal(err)
	}
	items, err := schema.BtreePageItems(p)
	if err != nil || len(items) != 3 {
		t.Fatalf("%d items, %v", len(items), err)
	}
	var got []string
	for _, it := range items {
		got = append(got, valuesText(it.Values()))
	}
	want := []string{
		"1|(0,4097)|24|f|f|01 00 00 00 00 00 00 00|NULL|(0,7)|NULL",
		"2|(3,4)|16|f|f|01 00 00 00 00 00 00 00|t|(3,4)|NULL",
		`3|(16,8195)|36|f|f|01 00 00 00 00 00 00 00|f|(1,1)|{"(1,1)","(1,2)","(2,9)"}`,
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("item %d:\n got %s\nwant %s", i+1, got[i], want[i])
		}
	}
	// An internal page: every item is a pivot; the first (minus
	// infinity) has no key and no heap TID.
	internal := btreePage(t, 0, 0, indexTuple(4, 0, 0x2000, nil), indexTuple(5, 1, 0x2000, key))
	items, err = schema.BtreePageItems(internal)
	if err != nil || len(items) != 2 || items[0].HasDead || items[0].HasHtid || len(items[0].Data) != 0 || !bytes.Equal(items[1].Data, key) {
		t.Fatalf("internal page: %+v %v", items, err)
	}
	if _, err := schema.BtreePageItems(btreePage(t, 0, schema.BTPMeta)); err == nil || !strings.Contains(err.Error(), "meta page") {
		t.Errorf("meta page: %v", err)
	}
	if _, err := schema.BtreePageItems(heapPage(t)); err == nil || !strings.Contains(err.Error(), "not a valid btree page") {
		t.Errorf("heap page: %v", err)
	}
	// A posting list that runs past its tuple.
	broken := indexTuple(16, 30|0x2000, 0x2000, append(append([]byte{}, key...), 0, 0, 1, 0, 1, 0))
	if _, err := schema.BtreePageItems(btreePage(t, 0, schema.BTPLeaf, broken)); err == nil {
		t.Error("overlong posting list accepted")
	}
}
