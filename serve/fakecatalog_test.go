package serve

import (
	"encoding/binary"
	"testing"

	"github.com/pagemill/pagemill/redo"
	"github.com/pagemill/pagemill/schema"
)

// The catalog fixture of the psql transcripts (testdata/psql): database
// postgres (oid 5) and template1 (oid 1), with pg_class, pg_namespace,
// pg_am and the relation maps as pages, and pg_xact page 3 telling which
// of the fixture's transactions committed when. Names and their LSNs:
//
//	accounts       public, the fixture relation 1663/5/16384 (heap)
//	accounts_pkey  public, 1663/5/16390, btree: meta page, a leaf page
//	dup            in public and in other: ambiguous unqualified
//	v              a view
//	old_name       renamed to new_name at 0/2000000 (xid 98305); 1663/5/16394
//	dropped        dropped at 0/2800000 (xid 98306); 1663/5/16395
//	in_progress    created by xid 98307, never committed
//	aborted        created by xid 98308, aborted
//	MixedCase      a quoted name; 1663/5/16398
const (
	xidCreator    = 98304 // committed by 0/1000000
	xidRename     = 98305 // committed at 0/2000000
	xidDrop       = 98306 // committed at 0/2800000
	xidInProgress = 98307
	xidAborted    = 98308
)

// heapTuple is a catalog heap tuple: header without a null bitmap, data.
func heapTuple(xmin, xmax uint32, natts int, data []byte) []byte {
	t := make([]byte, 24, 24+len(data))
	le := binary.LittleEndian
	le.PutUint32(t, xmin)
	le.PutUint32(t[4:], xmax)
	le.PutUint16(t[18:], uint16(natts))
	infomask := uint16(0x0800) // HEAP_XMAX_INVALID, a hint the reader must not need
	if xmax != 0 {
		infomask = 0
	}
	le.PutUint16(t[20:], infomask)
	t[22] = 24
	return append(t, data...)
}

// layoutPage lays items out with redo's PageInit and PageAddItem.
func layoutPage(t testing.TB, special int, items ...[]byte) schema.Page {
	t.Helper()
	p := make(schema.Page, schema.BLCKSZ)
	if err := redo.PageInit(p, special); err != nil {
		t.Fatal(err)
	}
	for i, it := range items {
		if _, err := redo.PageAddItem(p, it, schema.InvalidOffsetNumber, false, false); err != nil {
			t.Fatalf("item %d: %v", i+1, err)
		}
	}
	return p
}

func name64(s string) []byte {
	b := make([]byte, schema.NameDataLen)
	copy(b, s)
	return b
}

func pgClassTuple(xmin, xmax uint32, oid, nsp uint32, name string, am, filenode uint32, kind byte) []byte {
	d := make([]byte, 140)
	le := binary.LittleEndian
	le.PutUint32(d, oid)
	copy(d[4:], name64(name))
	le.PutUint32(d[68:], nsp)
	le.PutUint32(d[84:], am)
	le.PutUint32(d[88:], filenode)
	d[114], d[115] = 'p', kind
	return heapTuple(xmin, xmax, 33, d)
}

func oidNameTuple(oid uint32, name string, tail int, natts int) []byte {
	d := make([]byte, 68+tail)
	binary.LittleEndian.PutUint32(d, oid)
	copy(d[4:], name64(name))
	return heapTuple(schema.BootstrapXid, 0, natts, d)
}

func pgDatabaseTuple(oid uint32, name string) []byte {
	d := make([]byte, 96)
	le := binary.LittleEndian
	le.PutUint32(d, oid)
	copy(d[4:], name64(name))
	le.PutUint32(d[80:], 0xFFFFFFFF)
	le.PutUint32(d[92:], schema.DefaultTablespaceOID)
	return heapTuple(schema.FrozenXid, 0, 16, d)
}

func relMapPage(t testing.TB, oid, filenode schema.Oid) schema.Page {
	b, err := schema.AppendRelMap(nil, []schema.Oid{oid}, []schema.Oid{filenode})
	if err != nil {
		t.Fatal(err)
	}
	return append(schema.Page(b), make([]byte, schema.BLCKSZ-len(b))...)
}

// clogPage is pg_xact page 3 with the given statuses.
func clogPage(status map[uint32]uint8) schema.Page {
	p := make(schema.Page, schema.BLCKSZ)
	for xid, st := range status {
		i := xid % schema.ClogXactsPerPage
		p[i/4] |= st << ((i % 4) * 2)
	}
	return p
}

// addCatalog adds the catalog fixture to f.
func (f *fakePages) addCatalog(t testing.TB) {
	t.Helper()
	at := func(rel uint32, blk schema.BlockNumber) schema.BufferTag {
		return schema.BufferTag{Rel: schema.RelFileNode{SpcNode: 1663, DbNode: 5, RelNode: rel}, Block: blk}
	}
	base := schema.LSN(0x1000000)
	f.add(schema.RelMapTag(schema.GlobalTablespaceOID, 0), fakeVersion{lsn: base, page: relMapPage(t, schema.PgDatabaseOID, schema.PgDatabaseOID)})
	f.add(schema.BufferTag{Rel: schema.RelFileNode{SpcNode: schema.GlobalTablespaceOID, RelNode: schema.PgDatabaseOID}},
		fakeVersion{lsn: base, page: layoutPage(t, 0, pgDatabaseTuple(1, "template1"), pgDatabaseTuple(5, "postgres"))})
	f.add(schema.RelMapTag(schema.DefaultTablespaceOID, 5), fakeVersion{lsn: base, page: relMapPage(t, schema.PgClassOID, 1259)})
	const public, other = 2200, 16385
	f.add(at(1259, 0), fakeVersion{lsn: base, page: layoutPage(t, 0,
		pgClassTuple(schema.BootstrapXid, 0, 1259, 11, "pg_class", 2, 0, 'r'),
		pgClassTuple(schema.BootstrapXid, 0, 2615, 11, "pg_namespace", 2, 2615, 'r'),
		pgClassTuple(schema.BootstrapXid, 0, 2601, 11, "pg_am", 2, 2601, 'r'),
		pgClassTuple(xidCreator, 0, 16384, public, "accounts", 2, 16384, 'r'),
		pgClassTuple(xidCreator, 0, 16390, public, "accounts_pkey", 403, 16390, 'i'),
		pgClassTuple(xidCreator, 0, 16391, public, "dup", 2, 16391, 'r'),
		pgClassTuple(xidCreator, 0, 16392, other, "dup", 2, 16392, 'r'),
		pgClassTuple(xidCreator, 0, 16393, public, "v", 0, 0, 'v'),
		pgClassTuple(xidCreator, xidRename, 16394, public, "old_name", 2, 16394, 'r'),
		pgClassTuple(xidRename, 0, 16394, public, "new_name", 2, 16394, 'r'),
		pgClassTuple(xidCreator, xidDrop, 16395, public, "dropped", 2, 16395, 'r'),
		pgClassTuple(xidInProgress, 0, 16396, public, "in_progress", 2, 16396, 'r'),
		pgClassTuple(xidAborted, 0, 16397, public, "aborted", 2, 16397, 'r'),
		pgClassTuple(xidCreator, 0, 16398, public, "MixedCase", 2, 16398, 'r'),
	)})
	f.add(at(2615, 0), fakeVersion{lsn: base, page: layoutPage(t, 0,
		oidNameTuple(11, "pg_catalog", 4, 4), oidNameTuple(public, "public", 4, 4), oidNameTuple(other, "other", 4, 4))})
	heap, btree := oidNameTuple(2, "heap", 5, 4), oidNameTuple(403, "btree", 5, 4)
	heap[24+72], btree[24+72] = 't', 'i'
	f.add(at(2601, 0), fakeVersion{lsn: base, page: layoutPage(t, 0, heap, btree)})

	// The commit log: its own page 3, so that page 0 stays the SLRU
	// transcripts' fill.
	clog := schema.SlruTag(schema.AuxRelXact, 3)
	committed, aborted := uint8(schema.XactStatusCommitted), uint8(schema.XactStatusAborted)
	f.add(clog, fakeVersion{lsn: base, page: clogPage(map[uint32]uint8{xidCreator: committed, xidAborted: aborted})})
	f.add(clog, fakeVersion{lsn: 0x2000000, page: clogPage(map[uint32]uint8{xidCreator: committed, xidAborted: aborted, xidRename: committed})})
	f.add(clog, fakeVersion{lsn: 0x2800000, page: clogPage(map[uint32]uint8{xidCreator: committed, xidAborted: aborted, xidRename: committed, xidDrop: committed})})

	// Pages of the named relations: new_name's heap page (two tuples,
	// the second deleted), the btree's meta and leaf pages, dropped's
	// only page.
	t1 := heapTuple(xidCreator, 0, 2, []byte{1, 0, 0, 0, 'a', 'b', 'c', 0})
	t2 := heapTuple(xidCreator, xidRename, 2, []byte{2, 0, 0, 0})
	f.add(at(16394, 0), fakeVersion{lsn: base, page: layoutPage(t, 0, t1, t2)})
	meta := layoutPage(t, 16)
	binary.LittleEndian.PutUint16(meta[meta.Special()+12:], schema.BTPMeta)
	f.add(at(16390, 0), fakeVersion{lsn: base, page: meta})
	itup := func(blk uint32, off uint16, key byte) []byte {
		b := make([]byte, 16)
		le := binary.LittleEndian
		le.PutUint16(b, uint16(blk>>16))
		le.PutUint16(b[2:], uint16(blk))
		le.PutUint16(b[4:], off)
		le.PutUint16(b[6:], 16)
		b[8] = key
		return b
	}
	leaf := layoutPage(t, 16, itup(0, 1, 1), itup(0, 2, 2))
	binary.LittleEndian.PutUint16(leaf[leaf.Special()+12:], schema.BTPLeaf|schema.BTPRoot)
	f.add(at(16390, 1), fakeVersion{lsn: base, page: leaf})
	f.add(at(16395, 0), fakeVersion{lsn: base, fill: 0x95})

	// The record that made accounts block 1's version at 0/2000000: a
	// Heap INSERT at offset 3.
	rec := schema.AssembleRecord(schema.RecordSpec{Xid: xidRename, Rmgr: schema.RmgrHeap, Info: 0x00,
		Blocks:   []schema.BlockSpec{{ID: 0, Tag: fakeTag(1), Data: make([]byte, 5)}},
		MainData: []byte{3, 0, 0}})
	binary.LittleEndian.PutUint32(rec[20:], schema.RecordCRC(rec))
	vs := f.versions[fakeTag(1)]
	for i := range vs {
		if vs[i].lsn == 0x2000000 {
			vs[i].record, vs[i].start = rec, 0x2000000-schema.LSN(schema.MaxAlign(uint64(len(rec))))
		}
	}
}
