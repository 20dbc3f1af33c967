package serve

import (
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/pagemill/pagemill/serve/pagestream"
)

// Type OIDs of the columns pagemill returns (pg_type.dat).
const (
	oidBool      = 16
	oidBytea     = 17
	oidInt8      = 20
	oidInt2      = 21
	oidInt4      = 23
	oidText      = 25
	oidOid       = 26
	oidTid       = 27
	oidXid       = 28
	oidTextArray = 1009
	oidTidArray  = 1010
)

type column struct {
	name string
	oid  uint32
}

// commands lists the psql commands for help and for the unknown-command
// hint.
var commands = [][2]string{
	{"get_page REL [FORK] BLK [LSN|latest] [db=NAME]", "the page as of LSN: (lsn, page bytea). REL is spcnode/dbnode/relnode as pg_waldump prints it, or a relation name (name, schema.name, \"Quoted\") read from the catalogs as of that LSN in database NAME (default: the connection's); FORK is main (the default), fsm, vm or init"},
	{"nblocks REL [FORK] [LSN|latest] [db=NAME]", "the fork's size in blocks: (lsn, nblocks)"},
	{"exists REL [FORK] [LSN|latest] [db=NAME]", "whether the fork exists: (lsn, exists)"},
	{"db_size DB [LSN|latest]", "the database's size in bytes: (lsn, db_size); DB is its oid or name"},
	{"relations [LSN|latest] [db=NAME]", "the relations of a database as its pg_class had them at LSN: (lsn, oid, schema, name, kind, am, persistence, path, nblocks, size)"},
	{"page_history REL [FORK] BLK [FROM [TO]] [db=NAME]", "the page's versions with LSN in (FROM, TO] (default: from the retention horizon to the applied LSN), the records pg_waldump -s FROM -e TO shows for the block: (lsn, record_lsn, xid, full_image, stored, rmgr, type, description); the name is read at TO"},
	{"page_items REL [FORK] BLK [LSN|latest] [db=NAME]", "a heap or btree page's items as of LSN, as pageinspect's heap_page_items (with heap_tuple_infomask_flags) or bt_page_items show them"},
	{"lsn_at TIMESTAMP", "the LSN of the last commit at or before TIMESTAMP and its time, from the commit time index: (lsn, time); what pagemill restore --time restores to"},
	{"time_at LSN", "the time of the last commit at or before LSN and that commit's LSN: (lsn, time)"},
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

// usageOf is the usage line of a command.
func usageOf(cmd string) string {
	for _, u := range commands {
		if strings.HasPrefix(u[0], cmd+" ") || u[0] == cmd {
			return "usage: " + u[0]
		}
	}
	return ""
}

// splitStatements splits a query at the semicolons outside double
// quotes, dropping empty statements.
func splitStatements(q string) []string {
	var out []string
	quoted, start := false, 0
	add := func(s string) {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	for i := 0; i < len(q); i++ {
		switch q[i] {
		case '"':
			quoted = !quoted
		case ';':
			if !quoted {
				add(q[start:i])
				start = i + 1
			}
		}
	}
	add(q[start:])
	return out
}

// fields splits a statement into words at white space outside double
// quotes (the quotes stay in the words).
func fields(s string) []string {
	var out []string
	quoted, start := false, -1
	for i := 0; i < len(s); i++ {
		c := s[i]
		space := !quoted && (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v')
		switch {
		case space:
			if start >= 0 {
				out = append(out, s[start:i])
				start = -1
			}
		case start < 0:
			start = i
		}
		if c == '"' {
			quoted = !quoted
		}
	}
	if start >= 0 {
		out = append(out, s[start:])
	}
	return out
}

// simpleQuery answers one Query message: one or more commands separated
// by semicolons, each answered in turn until one fails, then
// ReadyForQuery.
func (c *conn) simpleQuery(q string) error {
	stmts := splitStatements(q)
	if len(stmts) == 0 {
		c.be.Send(&pgproto3.EmptyQueryResponse{})
		c.be.Send(&pgproto3.ReadyForQuery{TxStatus: 'I'})
		return nil
	}
	for _, stmt := range stmts {
		f := fields(stmt)
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
	case "get_page", "nblocks", "exists", "db_size", "relations", "page_history", "page_items":
		if cmd == "relations" || cmd == "page_history" || cmd == "page_items" {
			// The others are timed as the pagestream requests they make.
			began := time.Now()
			defer func() { c.s.m.request[kindQuery].Observe(time.Since(began).Seconds()) }()
		}
		e := c.inspect(cmd, args)
		if e != nil {
			if e.hint == "" && e.code == "42601" {
				e.hint = usageOf(cmd)
			}
			c.sendError(e)
		}
		return e == nil
	case "basebackup":
		return c.basebackup(args)
	case "lsn_at", "time_at":
		if e := c.timeCommand(cmd, args); e != nil {
			c.sendError(e)
			return false
		}
		return true
	}
	c.sendError(&reqError{kind: errBadRequest, code: "42601", msg: fmt.Sprintf("unknown command %q", cmd), hint: commandHint()})
	return false
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
		case oidInt2:
			size = 2
		case oidInt4, oidOid, oidXid:
			size = 4
		case oidTid:
			size = 6
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
