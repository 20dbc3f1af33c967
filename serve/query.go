package serve

import (
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/pagemill/pagemill/schema"
	"github.com/pagemill/pagemill/serve/pagestream"
)

// Type OIDs of the columns pagemill returns (pg_type.dat).
const (
	oidBool  = 16
	oidBytea = 17
	oidInt8  = 20
	oidText  = 25
)

type column struct {
	name string
	oid  uint32
}

// commands lists the psql commands for help and for the unknown-command
// hint.
var commands = [][2]string{
	{"get_page REL FORK BLK [LSN|latest]", "the page as of LSN: (lsn, page bytea); REL is spcnode/dbnode/relnode, FORK main, fsm, vm or init"},
	{"nblocks REL FORK [LSN|latest]", "the fork's size in blocks: (lsn, nblocks)"},
	{"exists REL FORK [LSN|latest]", "whether the fork exists: (lsn, exists)"},
	{"db_size DBOID [LSN|latest]", "the database's size in bytes: (lsn, db_size)"},
	{"status", "ingest, redo and serve progress, and the tenant and timeline ids"},
	{"basebackup [LSN|latest]", "a tar of a PostgreSQL data directory as of LSN, as COPY OUT data (psql -Xqc \"basebackup LSN\" > dd.tar; or pagemill restore)"},
	{"pagestream_v2 TENANT TIMELINE", "switch to Neon's pagestream protocol, version 2 (CopyBoth)"},
	{"pagestream_v3 TENANT TIMELINE", "switch to Neon's pagestream protocol, version 3 (CopyBoth)"},
	{"help", "this list"},
}

func commandHint() string {
	names := make([]string, len(commands))
	for i, c := range commands {
		names[i] = strings.Fields(c[0])[0]
	}
	return "pagemill understands: " + strings.Join(names, ", ") + " (see help)"
}

// simpleQuery answers one Query message: one or more commands separated
// by semicolons, each answered in turn until one fails, then
// ReadyForQuery.
func (c *conn) simpleQuery(q string) error {
	var stmts []string
	for _, s := range strings.Split(q, ";") {
		if s = strings.TrimSpace(s); s != "" {
			stmts = append(stmts, s)
		}
	}
	if len(stmts) == 0 {
		c.be.Send(&pgproto3.EmptyQueryResponse{})
		c.be.Send(&pgproto3.ReadyForQuery{TxStatus: 'I'})
		return nil
	}
	for _, stmt := range stmts {
		f := strings.Fields(stmt)
		cmd := strings.ToLower(f[0])
		if cmd == "pagestream_v2" || cmd == "pagestream_v3" {
			v := pagestream.V2
			if cmd == "pagestream_v3" {
				v = pagestream.V3
			}
			if e := pagestreamArgs(len(stmts), f); e != nil {
				c.sendError(e)
				break
			}
			return c.pagestream(v, strings.ToLower(f[1]), strings.ToLower(f[2]))
		}
		if !c.command(cmd, f[1:]) {
			break
		}
	}
	c.be.Send(&pgproto3.ReadyForQuery{TxStatus: 'I'})
	return nil
}

func pagestreamArgs(nstmts int, f []string) *reqError {
	usage := fmt.Sprintf("usage: %s TENANT TIMELINE, each 32 hex digits (see status)", strings.ToLower(f[0]))
	if nstmts > 1 {
		return &reqError{kind: errBadRequest, code: "42601", msg: f[0] + " must be the only command of its query", hint: usage}
	}
	if len(f) != 3 || !isHexID(f[1]) || !isHexID(f[2]) {
		return &reqError{kind: errBadRequest, code: "42601", msg: "invalid " + f[0] + " command", hint: usage}
	}
	return nil
}

func isHexID(s string) bool {
	if len(s) != 32 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

// command runs one psql command; false when it sent an error.
func (c *conn) command(cmd string, args []string) bool {
	switch cmd {
	case "status":
		began := time.Now()
		rows := c.s.cfg.Status()
		if tenant, timeline, ok := c.s.ids(); ok {
			rows = append(rows, Row{"tenant_id", tenant}, Row{"timeline_id", timeline})
		}
		out := make([][]string, len(rows))
		for i, r := range rows {
			out[i] = []string{r.Name, r.Value}
		}
		c.sendRows([]column{{"name", oidText}, {"value", oidText}}, out)
		c.s.m.request[kindQuery].Observe(time.Since(began).Seconds())
		return true
	case "help":
		out := make([][]string, len(commands))
		for i, r := range commands {
			out[i] = []string{r[0], r[1]}
		}
		c.sendRows([]column{{"command", oidText}, {"description", oidText}}, out)
		return true
	case "get_page", "nblocks", "exists", "db_size":
		return c.pageCommand(cmd, args)
	case "basebackup":
		return c.basebackup(args)
	}
	c.sendError(&reqError{kind: errBadRequest, code: "42601", msg: fmt.Sprintf("unknown command %q", cmd), hint: commandHint()})
	return false
}

// pageCommand runs get_page, nblocks, exists and db_size through the same
// path as the pagestream requests.
func (c *conn) pageCommand(cmd string, args []string) bool {
	usage := ""
	for _, u := range commands {
		if strings.HasPrefix(u[0], cmd+" ") {
			usage = "usage: " + u[0]
		}
	}
	fail := func(format string, a ...any) bool {
		c.sendError(&reqError{kind: errBadRequest, code: "42601", msg: fmt.Sprintf(format, a...), hint: usage})
		return false
	}
	req := pagestream.Request{}
	need := 2 // REL FORK
	switch cmd {
	case "get_page":
		req.Tag, need = pagestream.TagGetPage, 3
	case "nblocks":
		req.Tag = pagestream.TagNblocks
	case "exists":
		req.Tag = pagestream.TagExists
	case "db_size":
		req.Tag, need = pagestream.TagDbSize, 1
	}
	if len(args) != need && len(args) != need+1 {
		return fail("%s takes %d or %d arguments, got %d", cmd, need, need+1, len(args))
	}
	if cmd == "db_size" {
		db, err := strconv.ParseUint(args[0], 10, 32)
		if err != nil {
			return fail("invalid database oid %q", args[0])
		}
		req.DbNode = uint32(db)
	} else {
		rel, err := schema.ParseRelFileNode(args[0])
		if err != nil {
			return fail("%v", err)
		}
		fork, err := schema.ParseForkNumber(args[1])
		if err != nil {
			return fail("%v", err)
		}
		req.Rel, req.Fork = rel, uint8(fork)
	}
	if cmd == "get_page" {
		blk, err := strconv.ParseUint(args[2], 10, 32)
		if err != nil {
			return fail("invalid block number %q", args[2])
		}
		req.Block = schema.BlockNumber(blk)
	}
	// Without an LSN, or with "latest": the newest applied version, no
	// wait. With one: exactly that LSN, waiting for it if needed.
	req.RequestLSN = LatestLSN
	if len(args) == need+1 && !strings.EqualFold(args[need], "latest") {
		lsn, err := schema.ParseLSN(args[need])
		if err != nil {
			return fail("%v", err)
		}
		req.RequestLSN, req.NotModifiedSince = lsn, lsn
	}
	res := c.s.do(c.op(), &req)
	if res.err != nil {
		c.sendError(res.err)
		return false
	}
	lsn := res.lsn.Short()
	switch cmd {
	case "get_page":
		if res.notFound {
			c.be.Send(&pgproto3.NoticeResponse{Severity: "NOTICE", SeverityUnlocalized: "NOTICE", Code: "00000",
				Message: fmt.Sprintf("%s has no version at LSN %s (never written, or past the end of the relation): zeros returned", req.BufferTag(), lsn)})
		}
		page := make([]byte, 0, 2+2*len(res.resp.Page))
		page = append(page, `\x`...)
		page = hex.AppendEncode(page, res.resp.Page)
		c.sendRowsBytes([]column{{"lsn", oidText}, {"page", oidBytea}}, [][][]byte{{[]byte(lsn), page}})
	case "nblocks":
		c.sendRows([]column{{"lsn", oidText}, {"nblocks", oidInt8}}, [][]string{{lsn, strconv.FormatUint(uint64(res.resp.NBlocks), 10)}})
	case "exists":
		v := "f"
		if res.resp.Exists {
			v = "t"
		}
		c.sendRows([]column{{"lsn", oidText}, {"exists", oidBool}}, [][]string{{lsn, v}})
	case "db_size":
		c.sendRows([]column{{"lsn", oidText}, {"db_size", oidInt8}}, [][]string{{lsn, strconv.FormatInt(res.resp.DBSize, 10)}})
	}
	return true
}

func (c *conn) sendRows(cols []column, rows [][]string) {
	b := make([][][]byte, len(rows))
	for i, r := range rows {
		b[i] = make([][]byte, len(r))
		for j, v := range r {
			b[i][j] = []byte(v)
		}
	}
	c.sendRowsBytes(cols, b)
}

// sendRowsBytes sends a result set in text format.
func (c *conn) sendRowsBytes(cols []column, rows [][][]byte) {
	fields := make([]pgproto3.FieldDescription, len(cols))
	for i, col := range cols {
		size := int16(-1)
		switch col.oid {
		case oidBool:
			size = 1
		case oidInt8:
			size = 8
		}
		fields[i] = pgproto3.FieldDescription{Name: []byte(col.name), DataTypeOID: col.oid, DataTypeSize: size, TypeModifier: -1}
	}
	c.be.Send(&pgproto3.RowDescription{Fields: fields})
	for _, r := range rows {
		c.be.Send(&pgproto3.DataRow{Values: r})
	}
	c.be.Send(&pgproto3.CommandComplete{CommandTag: fmt.Appendf(nil, "SELECT %d", len(rows))})
}
