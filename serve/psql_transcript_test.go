package serve

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
)

// The transcripts in testdata/psql/*.txt are psql command sessions
// against fakePages with the catalog fixture (fakecatalog_test.go). One
// command per line:
//
//	timeout DURATION     the server's wait timeout (before the first query)
//	connect [DB]         a new connection to database DB (default postgres);
//	                     the first query connects to postgres by itself
//	apply SHARD|all LSN  advance the fake's applied LSN
//	> QUERY              send a simple query; the lines up to the next
//	                     command are what the server answers, in order:
//	columns: A, B        a RowDescription with these column names
//	row: V | V           a DataRow (NULL for null; values over 72
//	                     characters are cut to 32 and their length)
//	notice: TEXT         a NoticeResponse whose message contains TEXT
//	error: CODE TEXT     an ErrorResponse with that SQLSTATE whose message
//	                     contains TEXT
//	hint: TEXT           the error's hint contains TEXT
//
// Every query must be answered up to ReadyForQuery: errors leave the
// connection usable. At the end the last connection answers status.
func TestPsqlTranscripts(t *testing.T) {
	forEachTranscript(t, "psql", runPsqlTranscript)
}

// dialDB is dialRaw with a database name.
func dialDB(t *testing.T, addr, db string) *rawConn {
	t.Helper()
	return dialAs(t, addr, "tester", db)
}

// answer reads the answer to a query up to ReadyForQuery as transcript
// lines.
func (rc *rawConn) answer() []string {
	rc.t.Helper()
	var out []string
	for {
		typ, body := rc.read()
		switch typ {
		case 'T':
			var m pgproto3.RowDescription
			if err := m.Decode(body); err != nil {
				rc.t.Fatal(err)
			}
			names := make([]string, len(m.Fields))
			for i, f := range m.Fields {
				names[i] = string(f.Name)
			}
			out = append(out, "columns: "+strings.Join(names, ", "))
		case 'D':
			var m pgproto3.DataRow
			if err := m.Decode(body); err != nil {
				rc.t.Fatal(err)
			}
			vals := make([]string, len(m.Values))
			for i, v := range m.Values {
				switch {
				case v == nil:
					vals[i] = "NULL"
				case len(v) > 72:
					vals[i] = fmt.Sprintf("%s…(%d)", v[:32], len(v))
				default:
					vals[i] = string(v)
				}
			}
			out = append(out, "row: "+strings.Join(vals, " | "))
		case 'N':
			var m pgproto3.NoticeResponse
			if err := m.Decode(body); err != nil {
				rc.t.Fatal(err)
			}
			out = append(out, "notice: "+m.Message)
		case 'E':
			var m pgproto3.ErrorResponse
			if err := m.Decode(body); err != nil {
				rc.t.Fatal(err)
			}
			out = append(out, "error: "+m.Code+" "+m.Message)
			if m.Hint != "" {
				out = append(out, "hint: "+m.Hint)
			}
		case 'Z':
			return out
		}
	}
}

func runPsqlTranscript(t *testing.T, file string) {
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{WaitTimeout: 10 * time.Second}
	var srv *Server
	var fake *fakePages
	var rc *rawConn
	start := func() {
		if srv == nil {
			srv, fake = startFake(t, cfg)
			fake.addCatalog(t)
		}
	}
	var query, where string
	var want []string
	check := func() {
		if query == "" {
			return
		}
		got := rc.answer()
		ok := len(got) == len(want)
		for i := 0; ok && i < len(got); i++ {
			w, g := want[i], got[i]
			kind, text, _ := strings.Cut(w, ": ")
			switch kind {
			case "notice", "error", "hint":
				ok = strings.HasPrefix(g, kind+": ") && strings.Contains(g, text)
			default:
				ok = g == w
			}
		}
		if !ok {
			t.Fatalf("%s\n got:\n\t%s\nwant:\n\t%s", where, strings.Join(got, "\n\t"), strings.Join(want, "\n\t"))
		}
		query, want = "", nil
	}
	for n, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if kind, _, ok := strings.Cut(line, ": "); ok && (kind == "columns" || kind == "row" || kind == "notice" || kind == "error" || kind == "hint") {
			if query == "" {
				t.Fatalf("%s:%d: %s outside an answer", filepath.Base(file), n+1, line)
			}
			want = append(want, line)
			continue
		}
		check()
		cmd, arg, _ := strings.Cut(line, " ")
		arg = strings.TrimSpace(arg)
		switch cmd {
		case "timeout":
			if srv != nil {
				t.Fatalf("%s:%d: timeout after the server started", filepath.Base(file), n+1)
			}
			d, err := time.ParseDuration(arg)
			if err != nil {
				t.Fatal(err)
			}
			cfg.WaitTimeout = d
		case "connect":
			start()
			if arg == "" {
				arg = "postgres"
			}
			rc = dialDB(t, srv.Addr(), arg)
		case "apply":
			start()
			if err := fake.applyCommand(arg); err != nil {
				t.Fatal(err)
			}
		case ">":
			start()
			if rc == nil {
				rc = dialDB(t, srv.Addr(), "postgres")
			}
			query, where = arg, fmt.Sprintf("%s:%d: > %s", filepath.Base(file), n+1, arg)
			rc.query(arg)
		default:
			t.Fatalf("%s:%d: unknown command %q", filepath.Base(file), n+1, line)
		}
	}
	check()
	if rc == nil {
		t.Fatal("empty transcript")
	}
	rc.query("status")
	for _, l := range rc.answer() {
		if strings.HasPrefix(l, "error") {
			t.Fatalf("status after the transcript: %s", l)
		}
	}
}
