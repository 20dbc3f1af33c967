package serve

import (
	"context"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/pagemill/pagemill/redo/pagestore"
	"github.com/pagemill/pagemill/schema"
	"github.com/pagemill/pagemill/serve/pagestream"
)

// historyLimit bounds the versions one page_history answers.
const historyLimit = 10000

func badCommand(format string, args ...any) *reqError {
	return &reqError{kind: errBadRequest, code: "42601", msg: fmt.Sprintf(format, args...)}
}

// splitDB takes the db=NAME argument out of args.
func splitDB(args []string) (db string, rest []string, e *reqError) {
	for _, a := range args {
		if len(a) > 3 && strings.EqualFold(a[:3], "db=") {
			if db != "" {
				return "", nil, badCommand("db= given twice")
			}
			db = a[3:]
			if strings.HasPrefix(db, `"`) {
				parts, err := parseQualifiedName(db)
				if err != nil || len(parts) != 1 {
					return "", nil, badCommand("invalid database name %s", db)
				}
				db = parts[0]
			}
			continue
		}
		rest = append(rest, a)
	}
	return db, rest, nil
}

// target is what a page command names: a relation, a fork, a block, and
// the LSN arguments after them.
type target struct {
	rel  relName
	fork schema.ForkNumber
	blk  schema.BlockNumber
	lsns []string
}

func isNumber(s string) bool {
	_, err := strconv.ParseUint(s, 10, 32)
	return err == nil
}

func isLSNArg(s string) bool { return strings.Contains(s, "/") || strings.EqualFold(s, "latest") }

// parseTarget parses REL [FORK] [BLK] [LSN…]: the fork is optional (main),
// the block there when needBlock, at most maxLSNs LSNs after them.
func parseTarget(cmd string, args []string, needBlock bool, maxLSNs int) (target, *reqError) {
	var t target
	if len(args) == 0 {
		return t, badCommand("%s needs a relation", cmd)
	}
	rn, err := parseRelName(args[0])
	if err != nil {
		return t, badCommand("%v", err)
	}
	t.rel = rn
	rest := args[1:]
	if len(rest) > 0 {
		if f, err := schema.ParseForkNumber(rest[0]); err == nil {
			t.fork, rest = f, rest[1:]
		} else if needBlock && len(rest) > 1 && isNumber(rest[1]) || !needBlock && !isLSNArg(rest[0]) {
			return t, badCommand("%v", err)
		}
	}
	if needBlock {
		if len(rest) == 0 {
			return t, badCommand("%s needs a block number", cmd)
		}
		blk, err := strconv.ParseUint(rest[0], 10, 32)
		if err != nil {
			return t, badCommand("invalid block number %q", rest[0])
		}
		t.blk, rest = schema.BlockNumber(blk), rest[1:]
	}
	if len(rest) > maxLSNs {
		return t, badCommand("too many arguments for %s: %s", cmd, strings.Join(rest, " "))
	}
	t.lsns = rest
	return t, nil
}

// parseLSNArg parses an LSN argument; latest is LatestLSN.
func parseLSNArg(s string) (schema.LSN, *reqError) {
	if strings.EqualFold(s, "latest") {
		return LatestLSN, nil
	}
	lsn, err := schema.ParseLSN(s)
	if err != nil {
		return 0, badCommand("%v", err)
	}
	return lsn, nil
}

// settle returns the LSN a command that reads catalogs works at: the one
// asked for (LatestLSN: the applied LSN), checked against the retention
// horizon, once every shard has applied it.
func (c *conn) settle(ctx context.Context, lsn schema.LSN) (schema.LSN, Pages, *reqError) {
	p, e := c.s.source()
	if e != nil {
		return 0, nil, e
	}
	applied := p.Applied()
	nms := lsn
	if lsn == LatestLSN {
		nms = 0
	}
	at, e := effectiveLSN(lsn, nms, applied, p.Horizon())
	if e != nil {
		return 0, nil, e
	}
	if at > applied {
		if e := c.s.wait(ctx, p, allShards, at); e != nil {
			return 0, nil, e
		}
	}
	return at, p, nil
}

// inspect runs the page commands: get_page, nblocks, exists, db_size,
// relations, page_history and page_items.
func (c *conn) inspect(cmd string, args []string) *reqError {
	dbSpec, args, e := splitDB(args)
	if e != nil {
		return e
	}
	if dbSpec == "" {
		dbSpec = c.database
	}
	ctx := c.op()
	switch cmd {
	case "db_size":
		return c.dbSize(ctx, args)
	case "relations":
		if len(args) > 1 {
			return badCommand("relations takes at most one LSN, got %d arguments", len(args))
		}
		return c.relations(ctx, args, dbSpec)
	case "page_history":
		t, e := parseTarget(cmd, args, true, 2)
		if e != nil {
			return e
		}
		return c.pageHistory(ctx, t, dbSpec)
	}
	t, e := parseTarget(cmd, args, cmd != "nblocks" && cmd != "exists", 1)
	if e != nil {
		return e
	}
	lsn := LatestLSN
	if len(t.lsns) == 1 {
		if lsn, e = parseLSNArg(t.lsns[0]); e != nil {
			return e
		}
	}
	req := pagestream.Request{Fork: uint8(t.fork), Block: t.blk}
	switch cmd {
	case "get_page", "page_items":
		req.Tag = pagestream.TagGetPage
	case "nblocks":
		req.Tag = pagestream.TagNblocks
	case "exists":
		req.Tag = pagestream.TagExists
	}
	// A path is read as the pagestream request would read it: the
	// newest applied version, or exactly the LSN given (waiting for it).
	// A name is read at one LSN every shard applied, its catalogs and its
	// page alike.
	var ri *relInfo
	req.RequestLSN = lsn
	if lsn != LatestLSN {
		req.NotModifiedSince = lsn
	}
	if t.rel.isPath {
		req.Rel = t.rel.path
	} else {
		at, p, e := c.settle(ctx, lsn)
		if e != nil {
			return e
		}
		if req.Rel, ri, e = c.resolve(ctx, p, t.rel, at, dbSpec); e != nil {
			return e
		}
		req.RequestLSN, req.NotModifiedSince = at, at
	}
	if cmd == "page_items" && t.fork != schema.MainForkNum && t.fork != schema.InitForkNum {
		return &reqError{kind: errBadRequest, code: "22023", msg: fmt.Sprintf("page_items decodes heap and btree pages: the %s fork holds neither", t.fork)}
	}
	res := c.s.do(ctx, &req)
	if res.err != nil {
		return res.err
	}
	lsnText := res.lsn.Short()
	switch cmd {
	case "get_page":
		if res.notFound {
			c.notice(fmt.Sprintf("%s has no version at LSN %s (never written, or past the end of the relation): zeros returned", req.BufferTag(), lsnText))
		}
		page := make([]byte, 0, 2+2*len(res.resp.Page))
		page = append(page, `\x`...)
		page = hex.AppendEncode(page, res.resp.Page)
		c.sendRowsBytes([]column{{"lsn", oidText}, {"page", oidBytea}}, [][][]byte{{[]byte(lsnText), page}})
	case "nblocks":
		c.sendRows([]column{{"lsn", oidText}, {"nblocks", oidInt8}}, [][]string{{lsnText, strconv.FormatUint(uint64(res.resp.NBlocks), 10)}})
	case "exists":
		c.sendRows([]column{{"lsn", oidText}, {"exists", oidBool}}, [][]string{{lsnText, boolText(res.resp.Exists)}})
	case "page_items":
		return c.pageItems(req.BufferTag(), ri, res)
	}
	return nil
}

func boolText(b bool) string {
	if b {
		return "t"
	}
	return "f"
}

// notice queues a NoticeResponse.
func (c *conn) notice(msg string) {
	c.be.Send(&pgproto3.NoticeResponse{Severity: "NOTICE", SeverityUnlocalized: "NOTICE", Code: "00000", Message: msg})
}

// dbSize answers db_size DB [LSN]: DB an oid (read as pagestream reads
// it) or a name (looked up in pg_database at the LSN).
func (c *conn) dbSize(ctx context.Context, args []string) *reqError {
	if len(args) != 1 && len(args) != 2 {
		return badCommand("db_size takes 1 or 2 arguments, got %d", len(args))
	}
	req := pagestream.Request{Tag: pagestream.TagDbSize}
	req.RequestLSN = LatestLSN
	if len(args) == 2 {
		lsn, e := parseLSNArg(args[1])
		if e != nil {
			return e
		}
		if lsn != LatestLSN {
			req.RequestLSN, req.NotModifiedSince = lsn, lsn
		}
	}
	if oid, err := strconv.ParseUint(args[0], 10, 32); err == nil {
		req.DbNode = uint32(oid)
	} else {
		name := args[0]
		if strings.HasPrefix(name, `"`) {
			parts, err := parseQualifiedName(name)
			if err != nil || len(parts) != 1 {
				return badCommand("invalid database oid or name %s", name)
			}
			name = parts[0]
		}
		at, p, e := c.settle(ctx, req.RequestLSN)
		if e != nil {
			return e
		}
		r := &catalogReader{s: c.s, ctx: ctx, p: p, lsn: at, clog: map[uint32]schema.Page{}}
		dbs, _, e := r.databases()
		if e != nil {
			return e
		}
		db, e := findDatabase(dbs, name, at)
		if e != nil {
			return e
		}
		req.DbNode, req.RequestLSN, req.NotModifiedSince = db.Oid, at, at
	}
	res := c.s.do(ctx, &req)
	if res.err != nil {
		return res.err
	}
	c.sendRows([]column{{"lsn", oidText}, {"db_size", oidInt8}}, [][]string{{res.lsn.Short(), strconv.FormatInt(res.resp.DBSize, 10)}})
	return nil
}

// relations answers relations [LSN]: pg_class of the database at LSN.
func (c *conn) relations(ctx context.Context, args []string, dbSpec string) *reqError {
	lsn := LatestLSN
	if len(args) == 1 {
		var e *reqError
		if lsn, e = parseLSNArg(args[0]); e != nil {
			return e
		}
	}
	at, p, e := c.settle(ctx, lsn)
	if e != nil {
		return e
	}
	cat, e := c.catalogAt(ctx, p, at, dbSpec)
	if e != nil {
		return e
	}
	persistence := map[byte]string{'p': "permanent", 'u': "unlogged", 't': "temporary"}
	rows := make([][][]byte, 0, len(cat.rels))
	str := func(s string) []byte { return []byte(s) }
	for i := range cat.rels {
		r := &cat.rels[i]
		row := [][]byte{str(at.Short()), str(strconv.FormatUint(uint64(r.Oid), 10)), str(r.nsp), str(r.Name),
			str(schema.RelKindName(r.Kind)), nil, str(persistence[r.Persistence]), nil, nil, nil}
		if r.am != "" {
			row[5] = str(r.am)
		}
		if r.node.RelNode != 0 {
			row[7] = str(r.node.String())
			var size int64
			for f := schema.MainForkNum; f <= schema.MaxForkNum; f++ {
				n, exists, err := p.RelSize(ctx, r.node, f, at)
				if err != nil {
					return c.s.classify(err, at)
				}
				if !exists {
					continue
				}
				if f == schema.MainForkNum {
					row[8] = str(strconv.FormatUint(uint64(n), 10))
				}
				size += int64(n) * schema.BLCKSZ
			}
			row[9] = str(strconv.FormatInt(size, 10))
		}
		rows = append(rows, row)
	}
	c.sendRowsBytes([]column{{"lsn", oidText}, {"oid", oidOid}, {"schema", oidText}, {"name", oidText}, {"kind", oidText},
		{"am", oidText}, {"persistence", oidText}, {"path", oidText}, {"nblocks", oidInt8}, {"size", oidInt8}}, rows)
	return nil
}

// pageHistory answers page_history REL [FORK] BLK [FROM [TO]].
func (c *conn) pageHistory(ctx context.Context, t target, dbSpec string) *reqError {
	p, e := c.s.source()
	if e != nil {
		return e
	}
	horizon, applied := p.Horizon(), p.Applied()
	from, to := horizon, applied
	fromGiven := len(t.lsns) > 0
	if fromGiven {
		if strings.EqualFold(t.lsns[0], "latest") {
			return badCommand("page_history's FROM must be an LSN")
		}
		var e *reqError
		if from, e = parseLSNArg(t.lsns[0]); e != nil {
			return e
		}
		if from < horizon {
			return &reqError{kind: errBelowHorizon, code: "22023",
				msg:  fmt.Sprintf("page_history from LSN %s: below the retention horizon %s, where older versions were garbage-collected (folded into one image)", from.Short(), horizon.Short()),
				hint: "start the window at or after " + horizon.Short()}
		}
	}
	if len(t.lsns) > 1 {
		var e *reqError
		if to, e = parseLSNArg(t.lsns[1]); e != nil {
			return e
		}
		if to == LatestLSN {
			to = applied
		}
	}
	if to <= from {
		return &reqError{kind: errBadRequest, code: "22023", msg: fmt.Sprintf("empty window: FROM %s is not before TO %s", from.Short(), to.Short()),
			hint: "page_history lists the versions with FROM < LSN <= TO"}
	}
	if to > applied {
		if e := c.s.wait(ctx, p, allShards, to); e != nil {
			return e
		}
	}
	rel := t.rel.path
	if !t.rel.isPath {
		// The name as of the window's end, or, gone by then, its start.
		var e *reqError
		rel, _, e = c.resolve(ctx, p, t.rel, to, dbSpec)
		if e != nil && e.code == "42P01" && fromGiven {
			var e2 *reqError
			if rel, _, e2 = c.resolve(ctx, p, t.rel, from, dbSpec); e2 == nil {
				c.notice(fmt.Sprintf("%s does not exist at LSN %s: named as of LSN %s", t.rel.display, to.Short(), from.Short()))
				e = nil
			}
		}
		if e != nil {
			return e
		}
	}
	tag := schema.BufferTag{Rel: rel, Fork: t.fork, Block: t.blk}
	vs, more, err := p.History(ctx, tag, from, to, historyLimit)
	if err != nil {
		return c.s.classify(err, to)
	}
	if !fromGiven {
		c.notice(fmt.Sprintf("history of %s from the retention horizon %s: versions before it are not kept", tag, horizon.Short()))
	}
	if more {
		c.notice(fmt.Sprintf("page_history stopped after %d versions; the next ones follow LSN %s", len(vs), vs[len(vs)-1].LSN.Short()))
	}
	if len(vs) == 0 {
		c.notice(fmt.Sprintf("%s has no versions in (%s, %s]", tag, from.Short(), to.Short()))
	}
	rows := make([][][]byte, 0, len(vs))
	for i := range vs {
		rows = append(rows, historyRow(tag, &vs[i]))
	}
	c.sendRowsBytes([]column{{"lsn", oidText}, {"record_lsn", oidText}, {"xid", oidXid}, {"full_image", oidBool}, {"stored", oidText},
		{"rmgr", oidText}, {"type", oidText}, {"description", oidText}}, rows)
	return nil
}

// historyRow is one page_history row for version v of tag.
func historyRow(tag schema.BufferTag, v *pagestore.Version) [][]byte {
	row := make([][]byte, 8)
	row[0] = []byte(v.LSN.Short())
	switch v.Kind {
	case pagestore.KindImage:
		row[4] = []byte("image")
	case pagestore.KindRecordImage:
		row[4] = []byte("record with image")
	case pagestore.KindRecord:
		row[4] = []byte("delta")
	case pagestore.KindUnavailable:
		row[4], row[7] = []byte("unavailable"), []byte(v.Reason)
	case pagestore.KindAbsent:
		row[4], row[7] = []byte("absent"), []byte("the page does not exist from here on (relation created, truncated or dropped)")
	default:
		row[4] = fmt.Appendf(nil, "kind %d", v.Kind)
	}
	if v.Record == nil {
		if v.Kind == pagestore.KindImage {
			row[3] = []byte("t")
			row[7] = []byte("no record made this version: a page imported from the base backup or a snapshot")
		}
		return row
	}
	row[1] = []byte(v.Start.Short())
	rec, err := schema.DecodeRecord(v.Record, v.Start, v.LSN)
	if err != nil {
		row[7] = fmt.Appendf(nil, "undecodable record: %v", err)
		return row
	}
	row[2] = strconv.AppendUint(nil, uint64(rec.Xid()), 10)
	fpw := false
	for i := range rec.Blocks {
		b := &rec.Blocks[i]
		fpw = fpw || b.Tag == tag && b.HasImage && b.ApplyImage()
	}
	row[3] = []byte(boolText(fpw))
	row[5] = []byte(rec.Rmgr().String())
	if id, ok := schema.Identify(rec.Rmgr(), rec.Info()); ok {
		row[6] = []byte(id)
	} else {
		row[6] = fmt.Appendf(nil, "UNKNOWN (%x)", rec.Info()&^schema.XLRInfoMask)
	}
	row[7] = schema.AppendDescription(nil, rec, time.UTC)
	return row
}

// pageItems answers page_items with the page res holds.
func (c *conn) pageItems(tag schema.BufferTag, ri *relInfo, res result) *reqError {
	page := schema.Page(res.resp.Page)
	kind := ""
	if ri != nil {
		switch {
		case ri.am == "heap" || ri.Kind == schema.RelKindSequence:
			kind = "heap"
		case ri.am == "btree":
			kind = "btree"
		default:
			what := schema.RelKindName(ri.Kind)
			if ri.am != "" {
				what += " of access method " + ri.am
			}
			return &reqError{kind: errUnsupported, code: "0A000", msg: fmt.Sprintf("page_items decodes heap and btree pages; %s is a %s", ri.qualified(), what)}
		}
	}
	lsnText := res.lsn.Short()
	if res.notFound || page.IsNew() {
		c.notice(fmt.Sprintf("%s is new (all zeros) at LSN %s: no items", tag, lsnText))
		if kind == "btree" {
			c.sendRowsBytes(btreeItemCols(), nil)
		} else {
			c.sendRowsBytes(heapItemCols(), nil)
		}
		return nil
	}
	if kind == "" {
		kind = guessPageKind(page)
		if kind == "" {
			return &reqError{kind: errUnsupported, code: "0A000",
				msg: fmt.Sprintf("page_items decodes heap and btree pages; %s at LSN %s is neither (special space of %d bytes)", tag, lsnText, page.SpecialSize())}
		}
	}
	corrupt := func(err error) *reqError {
		return &reqError{kind: errBadRequest, code: "22023", msg: fmt.Sprintf("page_items of %s at LSN %s: %v", tag, lsnText, err)}
	}
	var rows [][][]byte
	cols := heapItemCols()
	if kind == "heap" {
		items, err := schema.HeapPageItems(page)
		if err != nil {
			return corrupt(err)
		}
		for i := range items {
			row := append([][]byte{[]byte(lsnText)}, textValues(items[i].Values())...)
			raw, combined := items[i].Flags()
			if items[i].HasHeader {
				row = append(row, []byte(raw), []byte(combined))
			} else {
				row = append(row, nil, nil)
			}
			rows = append(rows, row)
		}
	} else {
		cols = btreeItemCols()
		items, err := schema.BtreePageItems(page)
		if err != nil {
			return corrupt(err)
		}
		for i := range items {
			rows = append(rows, append([][]byte{[]byte(lsnText)}, textValues(items[i].Values())...))
		}
	}
	c.sendRowsBytes(cols, rows)
	return nil
}

func textValues(vs []*string) [][]byte {
	out := make([][]byte, len(vs))
	for i, v := range vs {
		if v != nil {
			out[i] = []byte(*v)
		}
	}
	return out
}

// guessPageKind tells a heap page (no special space) from a btree page
// (16 bytes whose last two, btpo_cycleid, stay below the page ids GiST,
// hash and SP-GiST keep there); "" for anything else.
func guessPageKind(p schema.Page) string {
	switch p.SpecialSize() {
	case 0:
		return "heap"
	case 16:
		if id := uint16(p[schema.BLCKSZ-2]) | uint16(p[schema.BLCKSZ-1])<<8; id <= 0xFF7F {
			return "btree"
		}
	}
	return ""
}

func heapItemCols() []column {
	return []column{{"lsn", oidText}, {"lp", oidInt2}, {"lp_off", oidInt2}, {"lp_flags", oidInt2}, {"lp_len", oidInt2},
		{"t_xmin", oidXid}, {"t_xmax", oidXid}, {"t_field3", oidInt4}, {"t_ctid", oidTid}, {"t_infomask2", oidInt4},
		{"t_infomask", oidInt4}, {"t_hoff", oidInt2}, {"t_bits", oidText}, {"t_oid", oidOid}, {"t_data", oidBytea},
		{"raw_flags", oidTextArray}, {"combined_flags", oidTextArray}}
}

func btreeItemCols() []column {
	return []column{{"lsn", oidText}, {"itemoffset", oidInt2}, {"ctid", oidTid}, {"itemlen", oidInt2}, {"nulls", oidBool},
		{"vars", oidBool}, {"data", oidText}, {"dead", oidBool}, {"htid", oidTid}, {"tids", oidTidArray}}
}
