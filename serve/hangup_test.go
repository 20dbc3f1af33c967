package serve

import (
	"runtime"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// gauge reads one gauge (or counter) of reg.
func gauge(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() == name {
			m := f.GetMetric()[0]
			if m.GetGauge() != nil {
				return m.GetGauge().GetValue()
			}
			return m.GetCounter().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// TestHangUpEndsWaits: 200 psql-protocol connections each ask for an LSN
// redo has not applied, then hang up. Within a second the waits, the
// connections and the server's goroutines are back to where they were
// (the wait timeout is a minute: only the hang-up can end them).
func TestHangUpEndsWaits(t *testing.T) {
	reg := prometheus.NewRegistry()
	fake := newFakePages()
	srv, err := New(Config{Addr: "127.0.0.1:0", Pages: StaticPages(fake), WaitTimeout: time.Minute}, reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	runServer(t, srv)
	// A connection that stays, waiting too: the hang-ups must not end
	// its wait.
	stay := dialRaw(t, srv.Addr())
	stay.query("get_page 1663/5/16384 main 2 0/4000000")
	waitFor(t, "the first wait", func() bool { return srv.Waiting() == 1 })
	baseline := runtime.NumGoroutine()

	const n = 200
	conns := make([]*rawConn, n)
	for i := range conns {
		conns[i] = dialRaw(t, srv.Addr())
		q := "get_page 1663/5/16384 main 2 0/4000000"
		switch i % 3 {
		case 1:
			q = "nblocks 1663/5/16384 main 0/5000000"
		case 2:
			q = "status; db_size 5 0/4000000"
		}
		conns[i].query(q)
	}
	waitFor(t, "201 waiting requests", func() bool { return srv.Waiting() == n+1 })
	if g := gauge(t, reg, "pagemill_serve_waits_in_progress"); g != n+1 {
		t.Fatalf("waits in progress: %v", g)
	}
	began := time.Now()
	for _, c := range conns {
		c.nc.Close()
	}
	for srv.Waiting() != 1 || srv.ActiveConns() != 1 || runtime.NumGoroutine() > baseline {
		if time.Since(began) > time.Second {
			t.Fatalf("a second after %d clients hung up: %d waits, %d connections, %d goroutines (baseline %d)",
				n, srv.Waiting(), srv.ActiveConns(), runtime.NumGoroutine(), baseline)
		}
		time.Sleep(2 * time.Millisecond)
	}
	t.Logf("%d hung-up waits ended in %s", n, time.Since(began).Round(time.Millisecond))
	if g := gauge(t, reg, "pagemill_serve_waits_in_progress"); g != 1 {
		t.Fatalf("waits in progress after the hang-ups: %v", g)
	}
	if g := gauge(t, reg, "pagemill_serve_connections"); g != 1 {
		t.Fatalf("connections after the hang-ups: %v", g)
	}

	// The connection that stayed still gets its page once redo is there,
	// and pipelined queries on it are answered in order.
	fake.apply(-1, 0x4000000)
	for _, want := range []byte{'T', 'D', 'C', 'Z'} {
		if typ, body := stay.read(); typ != want {
			t.Fatalf("the staying connection: got %c %q, want %c", typ, body, want)
		}
	}
	stay.query("nblocks 1663/5/16384 main")
	stay.query("exists 1663/5/16384 main")
	stay.query("help")
	var order []string
	for len(order) < 3 {
		for _, l := range stay.answer() {
			if len(l) > 8 && l[:8] == "columns:" {
				order = append(order, l)
			}
		}
	}
	if order[0] != "columns: lsn, nblocks" || order[1] != "columns: lsn, exists" || order[2] != "columns: command, description" {
		t.Fatalf("pipelined answers out of order: %q", order)
	}
}
