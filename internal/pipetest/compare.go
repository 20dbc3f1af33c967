package pipetest

import (
	"context"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/pagemill/pagemill/internal/pgtest"
	"github.com/pagemill/pagemill/redo"
	"github.com/pagemill/pagemill/schema"
)

// SP-GiST's metapage (block 0): after the page header, magicNumber u32,
// then lastUsedPages, SPGIST_CACHED_PAGES (8) of {blkno u32, freeSpace
// int32}.
const (
	spgMetapageBlkno = 0
	spgLUPCacheOff   = 24 + 4
	spgLUPCacheEnd   = spgLUPCacheOff + 8*8
)

var relFileRE = regexp.MustCompile(`^(\d+)(_vm)?(?:\.(\d+))?$`)

// pageClass guesses a page's access method from its special space, for
// relations the catalog does not name (template0, which takes no
// connections): heap, btree, sequence, hash, GiST, SP-GiST, BRIN or bloom
// (Generic) by their page ids; 0 for GIN and anything else.
func pageClass(p schema.Page) schema.RmgrID {
	id := uint16(p[schema.BLCKSZ-2]) | uint16(p[schema.BLCKSZ-1])<<8
	switch p.SpecialSize() {
	case 0:
		return schema.RmgrHeap
	case 4:
		return schema.RmgrSequence
	case 8:
		switch {
		case id == 0xFF82:
			return schema.RmgrSPGist
		case id == 0xFF83:
			return schema.RmgrGeneric // bloom
		case id >= 0xF091 && id <= 0xF093:
			return schema.RmgrBRIN
		}
	case 16:
		switch id {
		case 0xFF80:
			return schema.RmgrHash
		case 0xFF81:
			return schema.RmgrGist
		}
		return schema.RmgrBtree
	}
	return 0
}

// amRmgr maps pg_am.amname (or a relkind without an access method) to the
// resource manager whose mask applies to its pages.
func amRmgr(amname, relkind string) schema.RmgrID {
	switch amname {
	case "heap":
		return schema.RmgrHeap
	case "btree":
		return schema.RmgrBtree
	case "hash":
		return schema.RmgrHash
	case "gin":
		return schema.RmgrGin
	case "gist":
		return schema.RmgrGist
	case "spgist":
		return schema.RmgrSPGist
	case "brin":
		return schema.RmgrBRIN
	case "bloom":
		return schema.RmgrGeneric
	}
	if relkind == "S" {
		return schema.RmgrSequence
	}
	return 0
}

// relAccessMethods reads, from every database of the source that takes
// connections, which resource manager's mask applies to each relation
// file: the catalog's word, not a guess from the page.
func relAccessMethods(t testing.TB, c *pgtest.Cluster) map[schema.RelFileNode]schema.RmgrID {
	t.Helper()
	ctx := context.Background()
	out := map[schema.RelFileNode]schema.RmgrID{}
	dbs := c.Query(t, "SELECT datname, oid FROM pg_database WHERE datallowconn")
	for _, db := range dbs {
		dboid, _ := strconv.ParseUint(db[1], 10, 32)
		conn, err := c.Connect(ctx, db[0])
		if err != nil {
			t.Fatal(err)
		}
		rows, err := conn.Query(ctx, `SELECT pg_relation_filenode(c.oid)::int8, c.relisshared, coalesce(a.amname::text, ''), c.relkind::text
			FROM pg_class c LEFT JOIN pg_am a ON a.oid = c.relam WHERE pg_relation_filenode(c.oid) IS NOT NULL`)
		if err != nil {
			conn.Close(ctx)
			t.Fatal(err)
		}
		for rows.Next() {
			var node int64
			var shared bool
			var am, kind string
			if err := rows.Scan(&node, &shared, &am, &kind); err != nil {
				t.Fatal(err)
			}
			rel := schema.RelFileNode{SpcNode: 1663, DbNode: uint32(dboid), RelNode: uint32(node)}
			if shared {
				rel = schema.RelFileNode{SpcNode: 1664, RelNode: uint32(node)}
			}
			out[rel] = amRmgr(am, kind)
		}
		err = rows.Err()
		conn.Close(ctx)
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// QuietSource returns o for a source whose data files CompareDataDir or
// CompareAux will read: without autovacuum, which could change pages
// after the LSN compared at while pagemill catches up (the tests run
// their own VACUUM).
func QuietSource(o pgtest.Options) pgtest.Options {
	conf := maps.Clone(o.ExtraConf)
	if conf == nil {
		conf = map[string]string{}
	}
	conf["autovacuum"] = "off"
	o.ExtraConf = conf
	return o
}

// CompareStats counts what CompareDataDir did.
type CompareStats struct {
	Pages, Compared, ZeroSkipped, OtherAM, Unavailable int
	// ByRmgr counts the pages compared per mask (main forks by the
	// relation's access method, vm forks as Heap).
	ByRmgr map[schema.RmgrID]int
}

// PageReader reads pagemill's version of a page at an LSN.
type PageReader func(tag schema.BufferTag, lsn schema.LSN) (schema.Page, error)

// CompareDataDir compares every page of every main and vm fork in the
// source's data directory (quiet, see QuietSource, after a CHECKPOINT)
// with pagemill's version at lsn, masked as verify masks with the mask of
// the relation's access method (from the source's catalog): heap, btree,
// hash, GIN, GiST, SP-GiST, BRIN, bloom (Generic) and sequence pages;
// relations of other access methods are counted, not compared. All-zero
// source pages that pagemill does not have are skipped; a page pagemill
// cannot reconstruct is an error.
func CompareDataDir(t testing.TB, c *pgtest.Cluster, lsn schema.LSN, read PageReader) CompareStats {
	t.Helper()
	cmp := &dataDirComparison{t: t, lsn: lsn, read: read, ams: relAccessMethods(t, c),
		st: CompareStats{ByRmgr: map[schema.RmgrID]int{}}, bad: failures{t: t}}
	for dir, base := range relationDirs(c) {
		files, _ := os.ReadDir(dir)
		for _, f := range files {
			cmp.file(dir, f.Name(), base)
		}
	}
	if cmp.bad.n > 0 {
		t.Errorf("%d pages differ", cmp.bad.n)
	}
	return cmp.st
}

// failures reports the first ten failures of a comparison and counts
// them all.
type failures struct {
	t testing.TB
	n int
}

func (f *failures) errorf(format string, args ...any) {
	f.t.Helper()
	if f.n < 10 {
		f.t.Errorf(format, args...)
	}
	f.n++
}

// relationDirs returns the source's directories of relation files (global
// and base/<database oid>) with the tablespace and database of their
// files.
func relationDirs(c *pgtest.Cluster) map[string]schema.RelFileNode {
	dirs := map[string]schema.RelFileNode{filepath.Join(c.DataDir(), "global"): {SpcNode: 1664}}
	dbs, _ := os.ReadDir(filepath.Join(c.DataDir(), "base"))
	for _, d := range dbs {
		oid, err := strconv.ParseUint(d.Name(), 10, 32)
		if err == nil {
			dirs[filepath.Join(c.DataDir(), "base", d.Name())] = schema.RelFileNode{SpcNode: 1663, DbNode: uint32(oid)}
		}
	}
	return dirs
}

// dataDirComparison is the state of one CompareDataDir.
type dataDirComparison struct {
	t    testing.TB
	lsn  schema.LSN
	read PageReader
	ams  map[schema.RelFileNode]schema.RmgrID
	st   CompareStats
	bad  failures
}

// file compares the pages of one file of dir, if it is a segment of a
// main or vm fork of a relation of base's database.
func (cmp *dataDirComparison) file(dir, name string, base schema.RelFileNode) {
	cmp.t.Helper()
	m := relFileRE.FindStringSubmatch(name)
	if m == nil {
		return
	}
	rn, _ := strconv.ParseUint(m[1], 10, 32)
	rel := base
	rel.RelNode = uint32(rn)
	fork := schema.MainForkNum
	if m[2] != "" {
		fork = schema.VisibilityMapFork
	}
	seg := 0
	if m[3] != "" {
		seg, _ = strconv.Atoi(m[3])
	}
	data, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		cmp.t.Fatal(err)
	}
	for i := 0; i+schema.BLCKSZ <= len(data); i += schema.BLCKSZ {
		cmp.st.Pages++
		tag := schema.BufferTag{Rel: rel, Fork: fork, Block: schema.BlockNumber(seg*schema.RelSegSize + i/schema.BLCKSZ)}
		cmp.page(tag, schema.Page(append([]byte(nil), data[i:i+schema.BLCKSZ]...)))
	}
}

// page compares the source's page src of tag with pagemill's, both masked.
func (cmp *dataDirComparison) page(tag schema.BufferTag, src schema.Page) {
	cmp.t.Helper()
	got, err := cmp.read(tag, cmp.lsn)
	if err != nil {
		if src.IsNew() && strings.Contains(err.Error(), "not found") {
			cmp.st.ZeroSkipped++
			return
		}
		if strings.Contains(err.Error(), "not reconstructible") {
			cmp.st.Unavailable++
		}
		cmp.bad.errorf("%s: %v", tag, err)
		return
	}
	cls := cmp.mask(tag, src)
	if cls == 0 {
		cmp.st.OtherAM++
		return
	}
	if cls != schema.RmgrXLOG {
		if err := redo.MaskPage(cls, src, tag.Block); err != nil {
			cmp.t.Fatalf("%s: mask source: %v", tag, err)
		}
		if err := redo.MaskPage(cls, got, tag.Block); err != nil {
			cmp.bad.errorf("%s: mask ours: %v", tag, err)
			return
		}
	}
	if cls == schema.RmgrSPGist && tag.Block == spgMetapageBlkno {
		// The metapage's lastUsedPages cache is written
		// without WAL (a hint for choosing pages); replay
		// keeps what the last logged init wrote.
		clear(src[spgLUPCacheOff:spgLUPCacheEnd])
		clear(got[spgLUPCacheOff:spgLUPCacheEnd])
	}
	cmp.st.Compared++
	cmp.st.ByRmgr[cls]++
	if off, eq := redo.ComparePages(src, got); !eq {
		cmp.bad.errorf("%s: differs at offset %d (source %02x, pagemill %02x)", tag, off, src[off], got[off])
	}
}

// mask is the resource manager whose mask applies to the source's page
// src of tag: its relation's access method (a guess from the page when the
// catalog does not say), Heap for a vm page, XLOG (compare raw) for a new
// page, 0 for an access method not compared.
func (cmp *dataDirComparison) mask(tag schema.BufferTag, src schema.Page) schema.RmgrID {
	cls, known := cmp.ams[tag.Rel]
	if !known {
		cls = pageClass(src)
	}
	if tag.Fork == schema.VisibilityMapFork {
		cls = schema.RmgrHeap
	}
	if src.IsNew() {
		cls = schema.RmgrXLOG // compare raw
	}
	return cls
}

// AuxStats counts what CompareAux did.
type AuxStats struct {
	SlruPages, RelMaps, ZeroSkipped int
}

// CompareAux compares the source's SLRU segments (pg_xact, pg_multixact
// offsets and members; quiet, after a CHECKPOINT) and relation maps with
// pagemill's auxiliary pages at lsn, byte for byte. All-zero source pages
// pagemill does not have are skipped.
func CompareAux(t testing.TB, c *pgtest.Cluster, lsn schema.LSN, read PageReader) AuxStats {
	t.Helper()
	var st AuxStats
	bad := failures{t: t}
	check := func(path string, tag schema.BufferTag, src []byte) {
		got, err := read(tag, lsn)
		if err != nil {
			if strings.Contains(err.Error(), "not found") && schema.AllZero(src) {
				st.ZeroSkipped++
				return
			}
			bad.errorf("%s (%s): %v", path, tag, err)
			return
		}
		for i := range src {
			if src[i] != got[i] {
				bad.errorf("%s (%s): differs at offset %d (source %02x, pagemill %02x)", path, tag, i, src[i], got[i])
				return
			}
		}
	}
	err := filepath.WalkDir(c.DataDir(), func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(c.DataDir(), p)
		tag, ok := schema.AuxFile(filepath.ToSlash(rel))
		if !ok {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if schema.IsRelMap(tag.Rel) {
			st.RelMaps++
			check(rel, tag, data)
			return nil
		}
		for i := 0; i+schema.BLCKSZ <= len(data); i += schema.BLCKSZ {
			st.SlruPages++
			t := tag
			t.Block += schema.BlockNumber(i / schema.BLCKSZ)
			check(rel, t, data[i:i+schema.BLCKSZ])
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if bad.n > 0 {
		t.Errorf("%d auxiliary pages differ", bad.n)
	}
	return st
}
