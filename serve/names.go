package serve

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/pagemill/pagemill/redo/pagestore"
	"github.com/pagemill/pagemill/schema"
)

// Relation names as of an LSN. The catalogs are read from their own pages
// at that LSN through the same page source as get_page: the shared
// relation map locates pg_database, the database's relation map its
// pg_class, pg_class the rest (pg_namespace, pg_am and every relation).
// A catalog tuple counts when its inserting transaction committed at or
// before the LSN and no transaction that committed by then deleted it
// (the commit log, pg_xact, as of the LSN tells). So a relation dropped
// or renamed later is found under the name it had then.

// relInfo is one relation of a database at an LSN.
type relInfo struct {
	schema.PgClassRow
	nsp  string             // its schema's name
	am   string             // its access method's name; "" when it has none
	node schema.RelFileNode // its files; zero RelNode when it has none
}

// qualified is schema.name, quoted where PostgreSQL would need it.
func (r *relInfo) qualified() string { return quoteIdent(r.nsp) + "." + quoteIdent(r.Name) }

// catalog is what one database's catalogs say at one LSN.
type catalog struct {
	lsn  schema.LSN
	db   schema.PgDatabaseRow
	rels []relInfo // sorted by schema and name
}

// catalogKey names a catalog read: the database as asked for, the LSN.
type catalogKey struct {
	db  string
	lsn schema.LSN
}

// catalogCache keeps a connection's last catalog reads. Pages at an LSN
// never change, so an entry stays right as long as its LSN can be read.
// A connection runs one command at a time: no lock.
type catalogCache struct {
	keys    []catalogKey
	entries map[catalogKey]*catalog
}

const catalogCacheSize = 4

func (cc *catalogCache) get(k catalogKey) *catalog { return cc.entries[k] }

func (cc *catalogCache) put(k catalogKey, c *catalog) {
	if cc.entries == nil {
		cc.entries = map[catalogKey]*catalog{}
	}
	if _, ok := cc.entries[k]; ok {
		return
	}
	if len(cc.keys) == catalogCacheSize {
		delete(cc.entries, cc.keys[0])
		cc.keys = cc.keys[1:]
	}
	cc.keys = append(cc.keys, k)
	cc.entries[k] = c
}

// catalogReader reads catalog pages at one LSN.
type catalogReader struct {
	s    *Server
	ctx  context.Context
	p    Pages
	lsn  schema.LSN
	clog map[uint32]schema.Page // pg_xact pages read so far
}

// readErr turns a page source error into a request error naming what was
// being read.
func (r *catalogReader) readErr(what string, err error) *reqError {
	if errors.Is(err, pagestore.ErrNotFound) {
		return &reqError{kind: errNotFound, code: "XX001",
			msg: fmt.Sprintf("cannot read the catalogs at LSN %s: %s has no version then", r.lsn.Short(), what)}
	}
	e := r.s.classify(err, r.lsn)
	if e.kind == errInternal || e.kind == errUnavailable || e.kind == errNotFound {
		e = &reqError{kind: e.kind, code: e.code, msg: fmt.Sprintf("cannot read the catalogs at LSN %s: %s: %s", r.lsn.Short(), what, err)}
	}
	return e
}

func corruptCatalog(format string, args ...any) *reqError {
	return &reqError{kind: errInternal, code: "XX001", msg: fmt.Sprintf(format, args...)}
}

// status is the commit status of xid at the reader's LSN, from pg_xact.
func (r *catalogReader) status(xid uint32) (uint8, error) {
	pageno := schema.ClogPageOf(xid)
	page, ok := r.clog[pageno]
	if !ok {
		var err error
		page, _, err = r.p.PageAt(r.ctx, schema.SlruTag(schema.AuxRelXact, pageno), r.lsn)
		if errors.Is(err, pagestore.ErrNotFound) {
			return 0, fmt.Errorf("pg_xact page %d has no version at LSN %s", pageno, r.lsn.Short())
		}
		if err != nil {
			return 0, err
		}
		r.clog[pageno] = page
	}
	return schema.ClogStatus(page, xid)
}

// relMap reads the relation map of database db in tablespace spc (db 0:
// the shared map).
func (r *catalogReader) relMap(spc, db uint32) (map[schema.Oid]schema.Oid, *reqError) {
	what := fmt.Sprintf("the relation map of database %d", db)
	if db == 0 {
		what = "the shared relation map"
	}
	page, _, err := r.p.PageAt(r.ctx, schema.RelMapTag(spc, db), r.lsn)
	if err != nil {
		return nil, r.readErr(what, err)
	}
	m, err := schema.ParseRelMap(page)
	if err != nil {
		return nil, corruptCatalog("%s at LSN %s: %v", what, r.lsn.Short(), err)
	}
	return m, nil
}

// scan calls fn with every tuple of the heap rel visible at the reader's
// LSN, with its position for error messages.
func (r *catalogReader) scan(name string, rel schema.RelFileNode, fn func(tup []byte, at string) error) *reqError {
	n, exists, err := r.p.RelSize(r.ctx, rel, schema.MainForkNum, r.lsn)
	if err != nil {
		return r.readErr(fmt.Sprintf("the size of %s (%s)", name, rel), err)
	}
	if !exists {
		return r.readErr(fmt.Sprintf("%s (%s)", name, rel), pagestore.ErrNotFound)
	}
	for b := range n {
		tag := schema.BufferTag{Rel: rel, Fork: schema.MainForkNum, Block: b}
		page, _, err := r.p.PageAt(r.ctx, tag, r.lsn)
		if errors.Is(err, pagestore.ErrNotFound) {
			continue // never written: an empty page
		}
		if err != nil {
			return r.readErr(fmt.Sprintf("%s block %d", name, b), err)
		}
		if page.IsNew() {
			continue
		}
		for off := schema.FirstOffsetNumber; off <= page.MaxOffsetNumber(); off++ {
			if !page.ItemID(off).IsNormal() {
				continue
			}
			at := fmt.Sprintf("%s tuple (%d,%d) at LSN %s", name, b, off, r.lsn.Short())
			tup, err := page.Item(off)
			if err != nil {
				return corruptCatalog("%s: %v", at, err)
			}
			h, err := schema.ParseHeapTupleHeader(tup)
			if err != nil {
				return corruptCatalog("%s: %v", at, err)
			}
			visible, err := schema.HeapTupleVisible(h, r.status)
			if errors.Is(err, schema.ErrMultiXactUpdater) {
				return &reqError{kind: errUnsupported, code: "0A000", msg: fmt.Sprintf("%s: %v: pagemill does not read multixacts to tell catalog visibility", at, err)}
			}
			if err != nil {
				if ctxErr := r.ctx.Err(); ctxErr != nil {
					return r.readErr(at, ctxErr)
				}
				return r.readErr(at, err)
			}
			if !visible {
				continue
			}
			if err := fn(tup, at); err != nil {
				return corruptCatalog("%s: %v", at, err)
			}
		}
	}
	return nil
}

// databases reads pg_database at the reader's LSN.
func (r *catalogReader) databases() ([]schema.PgDatabaseRow, map[schema.Oid]schema.Oid, *reqError) {
	shared, e := r.relMap(schema.GlobalTablespaceOID, 0)
	if e != nil {
		return nil, nil, e
	}
	fn, ok := shared[schema.PgDatabaseOID]
	if !ok {
		return nil, nil, corruptCatalog("the shared relation map at LSN %s does not map pg_database", r.lsn.Short())
	}
	var dbs []schema.PgDatabaseRow
	e = r.scan("pg_database", schema.RelFileNode{SpcNode: schema.GlobalTablespaceOID, RelNode: fn}, func(tup []byte, _ string) error {
		d, err := schema.ParsePgDatabase(tup)
		if err == nil && d.ConnLimit != -2 { // -2: invalid, a DROP DATABASE that was interrupted
			dbs = append(dbs, d)
		}
		return err
	})
	sort.Slice(dbs, func(i, j int) bool { return dbs[i].Name < dbs[j].Name })
	return dbs, shared, e
}

// findDatabase picks the database named (or, all digits and no such
// name, numbered) spec.
func findDatabase(dbs []schema.PgDatabaseRow, spec string, lsn schema.LSN) (schema.PgDatabaseRow, *reqError) {
	for _, d := range dbs {
		if d.Name == spec {
			return d, nil
		}
	}
	if oid, err := strconv.ParseUint(spec, 10, 32); err == nil {
		for _, d := range dbs {
			if d.Oid == schema.Oid(oid) {
				return d, nil
			}
		}
	}
	names := make([]string, len(dbs))
	for i, d := range dbs {
		names[i] = d.Name
	}
	return schema.PgDatabaseRow{}, &reqError{kind: errNotFound, code: "3D000",
		msg:  fmt.Sprintf("database %q does not exist at LSN %s", spec, lsn.Short()),
		hint: fmt.Sprintf("the databases at that LSN are %s; choose one with db=NAME", strings.Join(names, ", "))}
}

// readCatalog reads the catalogs of database dbSpec at lsn, which every
// shard has applied.
func (s *Server) readCatalog(ctx context.Context, p Pages, lsn schema.LSN, dbSpec string) (*catalog, *reqError) {
	r := &catalogReader{s: s, ctx: ctx, p: p, lsn: lsn, clog: map[uint32]schema.Page{}}
	dbs, shared, e := r.databases()
	if e != nil {
		return nil, e
	}
	db, e := findDatabase(dbs, dbSpec, lsn)
	if e != nil {
		return nil, e
	}
	local, e := r.relMap(db.Tablespace, db.Oid)
	if e != nil {
		return nil, e
	}
	pgClass := schema.RelFileNode{SpcNode: db.Tablespace, DbNode: db.Oid, RelNode: local[schema.PgClassOID]}
	if pgClass.RelNode == 0 {
		return nil, corruptCatalog("the relation map of database %q at LSN %s does not map pg_class", db.Name, lsn.Short())
	}
	cat := &catalog{lsn: lsn, db: db}
	e = r.scan("pg_class", pgClass, func(tup []byte, _ string) error {
		c, err := schema.ParsePgClass(tup)
		if err == nil {
			cat.rels = append(cat.rels, relInfo{PgClassRow: c, node: relNode(db, &c, local, shared)})
		}
		return err
	})
	if e != nil {
		return nil, e
	}
	names, e := r.namesOf(cat)
	if e != nil {
		return nil, e
	}
	cat.name(names)
	return cat, nil
}

// relNode is the files of relation c of database db, whose relation map
// is local (shared: the shared one); a zero RelNode when it has none.
func relNode(db schema.PgDatabaseRow, c *schema.PgClassRow, local, shared map[schema.Oid]schema.Oid) schema.RelFileNode {
	if !schema.RelKindHasStorage(c.Kind) {
		return schema.RelFileNode{}
	}
	n := schema.RelFileNode{SpcNode: c.Tablespace, DbNode: db.Oid, RelNode: c.FileNode}
	if n.SpcNode == 0 {
		n.SpcNode = db.Tablespace
	}
	m := local
	if c.Shared {
		n.DbNode, m = 0, shared
	}
	if n.RelNode == 0 {
		n.RelNode = m[c.Oid] // 0 when unmapped: no files to read
	}
	return n
}

// namesOf reads the names of the schemas and access methods, from their
// catalogs located in cat's pg_class: by catalog (pg_namespace, pg_am),
// by oid.
func (r *catalogReader) namesOf(cat *catalog) (map[schema.Oid]map[schema.Oid]string, *reqError) {
	byOid := map[schema.Oid]*relInfo{}
	for i := range cat.rels {
		byOid[cat.rels[i].Oid] = &cat.rels[i]
	}
	names := map[schema.Oid]map[schema.Oid]string{schema.PgNamespaceOID: {}, schema.PgAmOID: {}}
	for _, sub := range []struct {
		oid   schema.Oid
		name  string
		parse func([]byte) (schema.Oid, string, error)
	}{
		{schema.PgNamespaceOID, "pg_namespace", func(t []byte) (schema.Oid, string, error) {
			n, err := schema.ParsePgNamespace(t)
			return n.Oid, n.Name, err
		}},
		{schema.PgAmOID, "pg_am", func(t []byte) (schema.Oid, string, error) {
			a, err := schema.ParsePgAm(t)
			return a.Oid, a.Name, err
		}},
	} {
		ri := byOid[sub.oid]
		if ri == nil || ri.node.RelNode == 0 {
			return nil, corruptCatalog("pg_class of database %q at LSN %s has no %s with files", cat.db.Name, cat.lsn.Short(), sub.name)
		}
		into := names[sub.oid]
		if e := r.scan(sub.name, ri.node, func(tup []byte, _ string) error {
			oid, name, err := sub.parse(tup)
			into[oid] = name
			return err
		}); e != nil {
			return nil, e
		}
	}
	return names, nil
}

// name gives every relation its schema's and access method's names (the
// oid where a name is missing) and sorts them by schema and name.
func (c *catalog) name(names map[schema.Oid]map[schema.Oid]string) {
	for i := range c.rels {
		ri := &c.rels[i]
		ri.nsp = names[schema.PgNamespaceOID][ri.Namespace]
		if ri.nsp == "" {
			ri.nsp = strconv.FormatUint(uint64(ri.Namespace), 10)
		}
		if ri.AM != 0 {
			if ri.am = names[schema.PgAmOID][ri.AM]; ri.am == "" {
				ri.am = strconv.FormatUint(uint64(ri.AM), 10)
			}
		}
	}
	sort.Slice(c.rels, func(i, j int) bool {
		a, b := &c.rels[i], &c.rels[j]
		if a.nsp != b.nsp {
			return a.nsp < b.nsp
		}
		return a.Name < b.Name
	})
}

// lookup finds the relation called name (in schema nsp, or in any schema
// when nsp is empty).
func (c *catalog) lookup(nsp, name string) (*relInfo, *reqError) {
	var found []*relInfo
	for i := range c.rels {
		r := &c.rels[i]
		if r.Name == name && (nsp == "" || r.nsp == nsp) {
			found = append(found, r)
		}
	}
	switch {
	case len(found) == 1:
		return found[0], nil
	case len(found) > 1:
		q := make([]string, len(found))
		for i, r := range found {
			q[i] = r.qualified()
		}
		return nil, &reqError{kind: errBadRequest, code: "42P09",
			msg:  fmt.Sprintf("relation name %q is ambiguous in database %q at LSN %s: %s", name, c.db.Name, c.lsn.Short(), strings.Join(q, ", ")),
			hint: "qualify it with its schema, e.g. " + q[0]}
	}
	if nsp != "" {
		known := false
		for i := range c.rels {
			known = known || c.rels[i].nsp == nsp
		}
		if !known {
			return nil, &reqError{kind: errNotFound, code: "3F000",
				msg: fmt.Sprintf("schema %q does not exist in database %q at LSN %s", nsp, c.db.Name, c.lsn.Short())}
		}
		name = nsp + "." + name
	}
	return nil, &reqError{kind: errNotFound, code: "42P01",
		msg:  fmt.Sprintf("relation %q does not exist in database %q at LSN %s", name, c.db.Name, c.lsn.Short()),
		hint: "names are read from the catalogs as of that LSN; see relations LSN"}
}

// relName is a relation named in a command: a spcnode/dbnode/relnode path,
// or a name, optionally schema-qualified.
type relName struct {
	path    schema.RelFileNode
	isPath  bool
	nsp     string
	name    string
	display string // as the user wrote it
}

// parseRelName parses a command's REL argument.
func parseRelName(s string) (relName, error) {
	if strings.Contains(s, "/") && !strings.HasPrefix(s, `"`) {
		rel, err := schema.ParseRelFileNode(s)
		return relName{path: rel, isPath: true, display: s}, err
	}
	parts, err := parseQualifiedName(s)
	if err != nil {
		return relName{}, err
	}
	switch len(parts) {
	case 1:
		return relName{name: parts[0], display: s}, nil
	case 2:
		return relName{nsp: parts[0], name: parts[1], display: s}, nil
	}
	return relName{}, fmt.Errorf("improper relation name (too many dotted names): %s", s)
}

// parseQualifiedName splits a possibly qualified identifier as
// PostgreSQL's parser does: unquoted parts are folded to lower case,
// "quoted" parts are kept as written ("" is a quote), names are cut to
// NAMEDATALEN-1 bytes.
func parseQualifiedName(s string) ([]string, error) {
	var parts []string
	for i := 0; ; {
		var part strings.Builder
		if i < len(s) && s[i] == '"' {
			i++
			closed := false
			for i < len(s) {
				if s[i] == '"' {
					if i+1 < len(s) && s[i+1] == '"' {
						part.WriteByte('"')
						i += 2
						continue
					}
					i++
					closed = true
					break
				}
				part.WriteByte(s[i])
				i++
			}
			if !closed {
				return nil, fmt.Errorf("unterminated quoted identifier in %s", s)
			}
			if part.Len() == 0 {
				return nil, fmt.Errorf("zero-length delimited identifier in %s", s)
			}
		} else {
			for i < len(s) && s[i] != '.' && s[i] != '"' {
				c := s[i]
				if c >= 'A' && c <= 'Z' {
					c += 'a' - 'A'
				}
				part.WriteByte(c)
				i++
			}
			if part.Len() == 0 {
				return nil, fmt.Errorf("invalid relation name %q", s)
			}
		}
		p := part.String()
		if len(p) >= schema.NameDataLen {
			p = p[:schema.NameDataLen-1]
		}
		parts = append(parts, p)
		if i == len(s) {
			return parts, nil
		}
		if s[i] != '.' {
			return nil, fmt.Errorf("invalid relation name %q", s)
		}
		i++
		if i == len(s) {
			return nil, fmt.Errorf("invalid relation name %q: ends with a dot", s)
		}
	}
}

// quoteIdent quotes an identifier when PostgreSQL would need it
// (quote_ident without the keyword check).
func quoteIdent(s string) string {
	safe := s != "" && (s[0] >= 'a' && s[0] <= 'z' || s[0] == '_')
	for i := 0; safe && i < len(s); i++ {
		c := s[i]
		safe = c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_'
	}
	if safe {
		return s
	}
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}

// catalogAt returns the catalogs of database dbSpec at lsn, which every
// shard must have applied, from the connection's cache or read now.
func (c *conn) catalogAt(ctx context.Context, p Pages, lsn schema.LSN, dbSpec string) (*catalog, *reqError) {
	k := catalogKey{dbSpec, lsn}
	if cat := c.catalogs.get(k); cat != nil {
		return cat, nil
	}
	cat, e := c.s.readCatalog(ctx, p, lsn, dbSpec)
	if e != nil {
		return nil, e
	}
	c.catalogs.put(k, cat)
	return cat, nil
}

// resolve finds the relation rn names at lsn (every shard applied it) in
// database dbSpec. A path is returned as it is, without a catalog read.
func (c *conn) resolve(ctx context.Context, p Pages, rn relName, lsn schema.LSN, dbSpec string) (schema.RelFileNode, *relInfo, *reqError) {
	if rn.isPath {
		return rn.path, nil, nil
	}
	cat, e := c.catalogAt(ctx, p, lsn, dbSpec)
	if e != nil {
		return schema.RelFileNode{}, nil, e
	}
	ri, e := cat.lookup(rn.nsp, rn.name)
	if e != nil {
		return schema.RelFileNode{}, nil, e
	}
	if ri.node.RelNode == 0 {
		why := "it has no storage"
		if schema.RelKindHasStorage(ri.Kind) {
			why = "its relfilenode is in no relation map"
		}
		return schema.RelFileNode{}, ri, &reqError{kind: errBadRequest, code: "42809",
			msg: fmt.Sprintf("%s is a %s at LSN %s: %s", ri.qualified(), schema.RelKindName(ri.Kind), lsn.Short(), why)}
	}
	return ri.node, ri, nil
}
