package ingest_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/pagemill/pagemill/ingest"
	"github.com/pagemill/pagemill/internal/natstest"
	"github.com/pagemill/pagemill/internal/pgtest"
	"github.com/pagemill/pagemill/internal/pipetest"
	"github.com/pagemill/pagemill/schema"
	"github.com/pagemill/pagemill/streams"
)

// startNATS starts an embedded JetStream of the test's own and connects
// to it.
func startNATS(t *testing.T) *nats.Conn {
	t.Helper()
	nc, _ := natstest.Connect(t, natstest.Start(t, t.TempDir(), slog.New(slog.DiscardHandler)))
	return nc
}

type runningIngest struct {
	ing    *ingest.Ingester
	stop   func() error
	logs   *pipetest.SyncBuffer
	ended  chan struct{} // closed when Run returned, runErr set
	runErr error
}

func startIngest(t *testing.T, cfg ingest.Config, nc *nats.Conn) *runningIngest {
	t.Helper()
	logs := &pipetest.SyncBuffer{}
	ing, err := ingest.New(cfg, nc, prometheus.NewRegistry(), slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &runningIngest{ing: ing, logs: logs, ended: make(chan struct{})}
	go func() {
		r.runErr = ing.Run(ctx)
		close(r.ended)
	}()
	var once sync.Once
	r.stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case <-r.ended:
			case <-time.After(30 * time.Second):
				t.Error("ingest did not stop within 30 s")
			}
		})
		select {
		case <-r.ended:
			return r.runErr
		default:
			return nil
		}
	}
	t.Cleanup(func() { r.stop() })
	return r
}

// waitEnd waits until Run returns by itself and returns its error.
func (r *runningIngest) waitEnd(t *testing.T, timeout time.Duration) error {
	t.Helper()
	select {
	case <-r.ended:
		return r.runErr
	case <-time.After(timeout):
		t.Fatalf("ingest still runs after %s\nlogs:\n%s", timeout, r.logs.String())
		return nil
	}
}

// waitPublished waits until the ingest's flush position reaches lsn.
func (r *runningIngest) waitPublished(t *testing.T, lsn schema.LSN, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		st := r.ing.Status()
		if st.PublishedLSN >= lsn {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("published_lsn %s did not reach %s in %s (last error %q)\nlogs:\n%s", st.PublishedLSN, lsn, timeout, st.LastError, r.logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func mustLSN(t *testing.T, s string) schema.LSN {
	t.Helper()
	l, err := schema.ParseLSN(strings.TrimSpace(s))
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// waldumpLSNs lists the start LSN of every record in [start, end) as
// pg_waldump reads it.
func waldumpLSNs(t *testing.T, c *pgtest.Cluster, start, end schema.LSN) []schema.LSN {
	t.Helper()
	out, err := c.RunBin(context.Background(), "pg_waldump", "-p", c.WALDir(), "-s", start.Short(), "-e", end.Short())
	if err != nil && !bytes.Contains(out, []byte("rmgr: ")) {
		t.Fatalf("pg_waldump: %v\n%s", err, out)
	}
	var lsns []schema.LSN
	for _, line := range strings.Split(string(out), "\n") {
		_, after, ok := strings.Cut(line, ", lsn: ")
		if !ok {
			continue
		}
		v, _, _ := strings.Cut(after, ",")
		lsns = append(lsns, mustLSN(t, v))
	}
	return lsns
}

// checkStream reads the whole WAL stream and checks it against
// pg_waldump's list for [start, end): every record exactly once, in LSN
// order per subject, on exactly the subjects its pages route to.
func checkStream(t *testing.T, nc *nats.Conn, c *pgtest.Cluster, start, end schema.LSN) int {
	t.Helper()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	sysid := mustSysID(t, c)
	layout := streams.Layout{SystemID: sysid, Timeline: 1, Shards: 4}
	subjects, err := streams.ReadAll(ctx, js, layout.StreamName(), layout.TimelineSubjects())
	if err != nil {
		t.Fatal(err)
	}
	where := map[schema.LSN][]string{}
	raws := map[schema.LSN]schema.RecordBatchEntry{}
	whole := map[schema.LSN]bool{}
	for subj, sr := range subjects {
		var prev schema.LSN
		for i, e := range sr.Records {
			if sr.Whole[i] {
				whole[e.LSN] = true
			}
			if e.LSN <= prev && prev != 0 {
				t.Fatalf("%s: record %s after %s: out of order or duplicated", subj, e.LSN, prev)
			}
			prev = e.LSN
			where[e.LSN] = append(where[e.LSN], subj)
			raws[e.LSN] = e
		}
		if sr.RoundEnds != nil && !slices.IsSorted(sr.RoundEnds) {
			t.Fatalf("%s: round markers not increasing", subj)
		}
	}
	var got []schema.LSN
	for l := range where {
		if l >= start && l < end {
			got = append(got, l)
		}
	}
	slices.Sort(got)
	want := waldumpLSNs(t, c, start, end)
	if len(want) < 100 {
		t.Fatalf("pg_waldump lists only %d records", len(want))
	}
	if !slices.Equal(got, want) {
		i := 0
		for i < min(len(got), len(want)) && got[i] == want[i] {
			i++
		}
		t.Fatalf("stream has %d records in %s..%s, pg_waldump %d; first difference at index %d (stream %v, pg_waldump %v)",
			len(got), start, end, len(want), i, got[i:min(i+3, len(got))], want[i:min(i+3, len(want))])
	}
	// Routing: each record is on exactly the subjects of the pages it
	// changes, or, in a whole round, on the meta subject alone.
	wholes := 0
	for _, l := range got {
		if whole[l] {
			if len(where[l]) != 1 || where[l][0] != layout.MetaSubject() {
				t.Fatalf("record %s of a whole round is on %v, want the meta subject alone", l, where[l])
			}
			wholes++
			continue
		}
		e := raws[l]
		rec, err := schema.DecodeRecord(e.Raw, e.LSN, e.EndLSN)
		if err != nil {
			t.Fatalf("record %s from the stream: %v", l, err)
		}
		tags := schema.PagesChanged(nil, rec)
		wantSubj := map[string]bool{}
		for _, tag := range tags {
			wantSubj[layout.SubjectOf(tag)] = true
		}
		if len(tags) == 0 {
			wantSubj[layout.MetaSubject()] = true
		}
		if len(wantSubj) != len(where[l]) {
			t.Fatalf("record %s (%s) is on %v, want %v", l, schema.RecordTypeName(rec.Rmgr(), rec.Info()), where[l], wantSubj)
		}
		for _, s := range where[l] {
			if !wantSubj[s] {
				t.Fatalf("record %s is on %s, want %v", l, s, wantSubj)
			}
		}
	}
	t.Logf("%d of %d records came in whole rounds", wholes, len(got))
	return len(got)
}

func mustSysID(t *testing.T, c *pgtest.Cluster) uint64 {
	t.Helper()
	rows := c.Query(t, "SELECT system_identifier FROM pg_control_system()")
	var id uint64
	for _, ch := range rows[0][0] {
		id = id*10 + uint64(ch-'0')
	}
	return id
}

// pagemillStatus runs `status` on a pagemill pgwire listener (simple
// protocol) and returns its rows by name.
func pagemillStatus(ctx context.Context, addr string) (map[string]string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	cfg, err := pgx.ParseConfig("host=" + host + " port=" + port + " user=pagemill dbname=pagemill sslmode=disable")
	if err != nil {
		return nil, err
	}
	cfg.DefaultQueryExecMode = pgx.QueryExecModeSimpleProtocol
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.Background())
	// pgx.Conn.Query refuses the simple protocol unless the server reports
	// standard_conforming_strings=on, which pagemill's listener does not;
	// its underlying pgconn sends the simple Query message directly.
	results, err := conn.PgConn().Exec(ctx, "status").ReadAll()
	if err != nil {
		return nil, err
	}
	st := map[string]string{}
	for _, r := range results {
		if r.Err != nil {
			return nil, r.Err
		}
		for _, row := range r.Rows {
			if len(row) != 2 {
				return nil, fmt.Errorf("status: row with %d columns", len(row))
			}
			st[string(row[0])] = string(row[1])
		}
	}
	return st, nil
}

// streamNames lists every stream the connection's account holds.
func streamNames(t *testing.T, nc *nats.Conn) []string {
	t.Helper()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var names []string
	l := js.StreamNames(ctx)
	for n := range l.Name() {
		names = append(names, n)
	}
	if err := l.Err(); err != nil {
		t.Fatal(err)
	}
	return names
}

// pgbenchLoad runs pgbench against c, one-second runs of two clients at
// rate transactions a second, until the function it returns is called:
// that stops the load, waits for the run under way and returns the first
// error (it may be called again; a deferred call cleans up after a failed
// test).
func pgbenchLoad(c *pgtest.Cluster, rate int) (stop func() error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		for ctx.Err() == nil {
			if out, err := c.PgbenchContext(context.Background(), "-n", "-T", "1", "-c", "2", "-R", strconv.Itoa(rate)); err != nil {
				done <- fmt.Errorf("pgbench: %w\n%s", err, out)
				return
			}
		}
		done <- nil
	}()
	return sync.OnceValue(func() error {
		cancel()
		return <-done
	})
}
