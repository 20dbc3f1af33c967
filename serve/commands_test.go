package serve

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/pagemill/pagemill/schema"
	"github.com/pagemill/pagemill/serve/client"
)

func connect(t *testing.T, addr string) *client.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Connect(ctx, client.Config{Addr: addr})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func query1(t *testing.T, c *client.Conn, sql string) client.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := c.Query(ctx, sql)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	if len(res) != 1 {
		t.Fatalf("%s: %d results", sql, len(res))
	}
	return res[0]
}

func queryErr(t *testing.T, c *client.Conn, sql string) *client.ServerError {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := c.Query(ctx, sql)
	var se *client.ServerError
	if !errors.As(err, &se) {
		t.Fatalf("%s: got %v, want an ErrorResponse", sql, err)
	}
	return se
}

func fillPage(b byte) []byte { return bytes.Repeat([]byte{b}, schema.BLCKSZ) }

func pageHex(p []byte) string {
	var sb strings.Builder
	sb.WriteString(`\x`)
	for _, b := range p {
		sb.WriteString(string("0123456789abcdef"[b>>4]) + string("0123456789abcdef"[b&15]))
	}
	return sb.String()
}

func TestPsqlCommands(t *testing.T) {
	srv, _ := startFake(t, Config{})
	c := connect(t, srv.Addr())

	r := query1(t, c, "get_page 1663/5/16384 main 1")
	if len(r.Fields) != 2 || string(r.Fields[0].Name) != "lsn" || r.Fields[0].DataTypeOID != oidText ||
		string(r.Fields[1].Name) != "page" || r.Fields[1].DataTypeOID != oidBytea {
		t.Fatalf("get_page columns: %+v", r.Fields)
	}
	if len(r.Rows) != 1 || string(r.Rows[0][0]) != "0/3000000" || string(r.Rows[0][1]) != pageHex(fillPage(0x21)) || r.Tag != "SELECT 1" {
		t.Fatalf("get_page latest: %q", r.Rows[0][0])
	}
	// Case, trailing semicolons, an explicit LSN.
	r = query1(t, c, "  GET_PAGE 1663/5/16384 MAIN 1 0/1800000 ;;")
	if string(r.Rows[0][0]) != "0/1800000" || string(r.Rows[0][1]) != pageHex(fillPage(0x11)) {
		t.Fatalf("get_page at 0/1800000: lsn %s", r.Rows[0][0])
	}
	r = query1(t, c, "get_page 1663/5/16384 vm 0 LATEST")
	if string(r.Rows[0][1]) != pageHex(fillPage(1)) {
		t.Fatal("get_page vm latest")
	}
	// No version: zeros and a notice.
	r = query1(t, c, "get_page 1663/5/16384 main 77")
	if string(r.Rows[0][1]) != pageHex(make([]byte, schema.BLCKSZ)) || len(r.Notices) != 1 || !strings.Contains(r.Notices[0], "zeros") {
		t.Fatalf("get_page of a missing block: notices %q", r.Notices)
	}

	for _, tc := range []struct {
		sql, col string
		oid      uint32
		want     string
	}{
		{"nblocks 1663/5/16384 main", "nblocks", oidInt8, "4"},
		{"nblocks 1663/5/16384 vm 0/3000000", "nblocks", oidInt8, "1"},
		{"exists 1663/5/16384 main", "exists", oidBool, "t"},
		{"Exists 1663/5/16384 fsm latest;", "exists", oidBool, "f"},
		{"db_size 5", "db_size", oidInt8, "40960"},
		{"db_size 5 0/1000000", "db_size", oidInt8, "40960"},
	} {
		r := query1(t, c, tc.sql)
		if len(r.Fields) != 2 || string(r.Fields[1].Name) != tc.col || r.Fields[1].DataTypeOID != tc.oid {
			t.Fatalf("%s: columns %+v", tc.sql, r.Fields)
		}
		if len(r.Rows) != 1 || string(r.Rows[0][1]) != tc.want {
			t.Fatalf("%s: rows %q, want %s", tc.sql, r.Rows, tc.want)
		}
	}

	st := query1(t, c, "status")
	rows := map[string]string{}
	for _, row := range st.Rows {
		rows[string(row[0])] = string(row[1])
	}
	// The documented derivation, by hand: printf 'pagemill tenant %s' … | sha256sum.
	if rows["tenant_id"] != "5df8172f65866629d0a66986281d8712" || rows["timeline_id"] != "589e43320d1e2d751083be2c196bfb4f" || rows["applied_lsn"] != "0/3000000" {
		t.Fatalf("status: %v", rows)
	}
	if h := query1(t, c, "help"); len(h.Rows) < 6 {
		t.Fatalf("help: %q", h.Rows)
	}

	// Several commands in one query, as psql -c sends them.
	ctx := context.Background()
	res, err := c.Query(ctx, "status; help")
	if err != nil || len(res) != 2 {
		t.Fatalf("two commands: %d results, %v", len(res), err)
	}

	// Errors keep the connection usable.
	for _, tc := range []struct{ sql, code, text string }{
		{"get_everything", "42601", `unknown command "get_everything"`},
		{"get_page 1663/5/16384 main", "42601", "get_page needs a block number"},
		{"get_page 1663/5/16384 main 1 0/1 0/2", "42601", "too many arguments for get_page"},
		{"get_page 1663/5 main 1", "42601", "invalid relation"},
		{"get_page 1663/5/16384 heap 1", "42601", "invalid fork"},
		{"get_page 1663/5/16384 main x", "42601", "invalid block number"},
		{"get_page 1663/5/16384 main 1 yesterday", "42601", "invalid LSN"},
		{"get_page 1663/5/16384 main 1 0/800000", "22023", "below the retention horizon 0/1000000"},
		{"get_page 1663/5/16384 main 3", "XX001", "not reconstructible"},
		{"nblocks 1663/5/424242 main", "42P01", "does not exist"},
		{"db_size five", "XX001", "cannot read the catalogs at LSN 0/3000000: the shared relation map has no version"},
		{`db_size "five`, "42601", "invalid database oid or name"},
		{"pagestream_v3 abc def", "42601", "invalid pagestream_v3 command"},
		{"pagestream_v2 00000000000000000000000000000000 00000000000000000000000000000000", "3D000", "is not served here"},
		{"status; pagestream_v2 x y", "42601", "must be the only command"},
	} {
		se := queryErr(t, c, tc.sql)
		if se.Code != tc.code || !strings.Contains(se.Message, tc.text) {
			t.Fatalf("%s: got %s %q", tc.sql, se.Code, se.Message)
		}
		if tc.code == "42601" && se.Hint == "" {
			t.Fatalf("%s: no hint", tc.sql)
		}
	}
	if _, err := c.Query(ctx, ""); err != nil {
		t.Fatalf("empty query: %v", err)
	}
	query1(t, c, "status")
}

// TestWaitTimeoutAndCancel: a get_page at an LSN not applied yet waits;
// the wait times out with an error naming both LSNs, and a CancelRequest
// ends it early without closing the connection.
func TestWaitTimeoutAndCancel(t *testing.T) {
	srv, _ := startFake(t, Config{WaitTimeout: 300 * time.Millisecond})
	c := connect(t, srv.Addr())
	se := queryErr(t, c, "get_page 1663/5/16384 main 2 0/4000000")
	if se.Code != "57014" || se.Message != "timed out after 300ms waiting for LSN 0/4000000 to be applied; applied LSN is 0/3000000" {
		t.Fatalf("timeout: %s %q", se.Code, se.Message)
	}

	srv2, _ := startFake(t, Config{WaitTimeout: time.Minute})
	c2 := connect(t, srv2.Addr())
	errc := make(chan error, 1)
	go func() {
		_, err := c2.Query(context.Background(), "get_page 1663/5/16384 main 2 0/4000000")
		errc <- err
	}()
	waitFor(t, "a waiting request", func() bool { return srv2.Waiting() == 1 })
	if err := c2.Cancel(context.Background()); err != nil {
		t.Fatal(err)
	}
	var se2 *client.ServerError
	if err := <-errc; !errors.As(err, &se2) || se2.Code != "57014" || !strings.Contains(se2.Message, "canceled while waiting for LSN 0/4000000") {
		t.Fatalf("cancel: %v", err)
	}
	query1(t, c2, "status")

	// A cancel with the wrong key does nothing.
	go func() {
		_, err := c2.Query(context.Background(), "get_page 1663/5/16384 main 2 0/4000000")
		errc <- err
	}()
	waitFor(t, "a waiting request", func() bool { return srv2.Waiting() == 1 })
	if srv2.cancelBackend(0, []byte{1, 2, 3, 4}) {
		t.Fatal("a cancel with a wrong key was accepted")
	}
	srv2.pages().(*fakePages).apply(-1, 0x4000000)
	if err := <-errc; err != nil {
		t.Fatalf("after apply: %v", err)
	}
}

// TestExtendedProtocolRefused: pgx's default (extended) protocol gets one
// clean error per exchange; the simple protocol on the same connection
// works.
func TestExtendedProtocolRefused(t *testing.T) {
	srv, _ := startFake(t, Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, "postgres://x@"+srv.Addr()+"/x?sslmode=disable")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var s string
	err = conn.QueryRow(ctx, "status").Scan(&s)
	if err == nil || !strings.Contains(err.Error(), "simple query protocol") {
		t.Fatalf("extended protocol: %v", err)
	}
	rows, err := conn.Query(ctx, "status", pgx.QueryExecModeSimpleProtocol)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for rows.Next() {
		n++
	}
	if rows.Err() != nil || n < 3 {
		t.Fatalf("simple protocol after the error: %d rows, %v", n, rows.Err())
	}
}

// waitFor polls cond until it holds or 10 seconds pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestMetrics: the serve metrics exist under their names and count.
func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	fake := newFakePages()
	srv, err := New(Config{Addr: "127.0.0.1:0", Pages: StaticPages(fake), WaitTimeout: 100 * time.Millisecond}, reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	runServer(t, srv)
	c := connect(t, srv.Addr())
	query1(t, c, "get_page 1663/5/16384 main 1")
	query1(t, c, "nblocks 1663/5/16384 main")
	queryErr(t, c, "get_page 1663/5/16384 main 1 0/9000000") // times out
	queryErr(t, c, "get_page 1663/5/16384 main 1 0/10")      // below the horizon
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range fams {
		for _, m := range f.GetMetric() {
			key := f.GetName()
			for _, l := range m.GetLabel() {
				key += "{" + l.GetName() + "=" + l.GetValue() + "}"
			}
			switch {
			case m.GetHistogram() != nil:
				got[key] = float64(m.GetHistogram().GetSampleCount())
			case m.GetCounter() != nil:
				got[key] = m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				got[key] = m.GetGauge().GetValue()
			}
		}
	}
	for key, want := range map[string]float64{
		"pagemill_serve_request_seconds{kind=get_page}":   3,
		"pagemill_serve_request_seconds{kind=nblocks}":    1,
		"pagemill_serve_lsn_wait_seconds":                 1,
		"pagemill_serve_waits_in_progress":                0,
		"pagemill_serve_wait_timeouts_total":              1,
		"pagemill_serve_errors_total{kind=timeout}":       1,
		"pagemill_serve_errors_total{kind=below_horizon}": 1,
		"pagemill_serve_connections":                      1,
		"pagemill_serve_connections_total":                1,
	} {
		if got[key] != want {
			t.Errorf("%s = %v, want %v", key, got[key], want)
		}
	}
	// A second server on the same registry is refused, not a panic.
	if _, err := New(Config{Addr: "127.0.0.1:0"}, reg, nil); err == nil {
		t.Fatal("metrics registered twice")
	}
}
