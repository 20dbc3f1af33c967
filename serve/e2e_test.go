package serve_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pagemill/pagemill/internal/cli"
	"github.com/pagemill/pagemill/internal/pgtest"
	"github.com/pagemill/pagemill/internal/pipetest"
	"github.com/pagemill/pagemill/redo"
	"github.com/pagemill/pagemill/redo/materialize"
	"github.com/pagemill/pagemill/redo/pagestore"
	"github.com/pagemill/pagemill/schema"
	"github.com/pagemill/pagemill/serve"
	"github.com/pagemill/pagemill/serve/client"
	"github.com/pagemill/pagemill/serve/pagestream"
)

// world is a scratch source with pgbench (scale 1), the real pipeline
// following it (redo slowed on purpose), and a pagemill server over it.
type world struct {
	c   *pgtest.Cluster
	p   *pipetest.Pipeline
	srv *serve.Server
}

func startWorld(t *testing.T) *world {
	t.Helper()
	// Autovacuum off: the source changes only when the test changes it.
	c := pgtest.Start(t, pgtest.Options{ExtraConf: map[string]string{"autovacuum": "off"}})
	c.Pgbench(t, "-i", "-s", "1", "-q")
	c.Exec(t, "CREATE EXTENSION pageinspect")
	// ApplyDelay slows every shard batch; two messages per batch (a
	// round's shard message and its meta message) make redo trail the
	// source by 50 ms per ingest round.
	p := pipetest.Start(t, c, pipetest.Options{Mat: materialize.Config{ApplyDelay: 50 * time.Millisecond, BatchMessages: 2}})
	w := &world{c: c, p: p}
	w.srv = startServer(t, p, time.Minute)
	return w
}

func startServer(t testing.TB, p *pipetest.Pipeline, timeout time.Duration) *serve.Server {
	t.Helper()
	srv, err := serve.New(serve.Config{
		Addr:  "127.0.0.1:0",
		Pages: serve.StaticPages(p.Mat),
		Identity: func() serve.Identity {
			st := p.Ing.Status()
			return serve.Identity{SystemID: st.SystemID, Timeline: st.Timeline}
		},
		Status:      func() []serve.Row { return []serve.Row{{Name: "applied_lsn", Value: p.Mat.Applied().Short()}} },
		WaitTimeout: timeout,
	}, prometheus.NewRegistry(), pipetest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("server: %v", err)
		}
	})
	return srv
}

// relation returns a relation's spc/db/relnode and its size in blocks.
func relation(t testing.TB, c *pgtest.Cluster, name string) (schema.RelFileNode, int) {
	t.Helper()
	row := c.Query(t, "SELECT pg_relation_filepath($1::regclass), pg_relation_size($1::regclass) / 8192", name)[0]
	parts := strings.Split(row[0], "/") // base/DB/REL
	if len(parts) != 3 || parts[0] != "base" {
		t.Fatalf("%s: file path %s", name, row[0])
	}
	rel, err := schema.ParseRelFileNode("1663/" + parts[1] + "/" + parts[2])
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(row[1])
	return rel, n
}

// pageClass guesses a page's access method from its special space, for
// masking (as the materializer's tests do).
func pageClass(p schema.Page) schema.RmgrID {
	switch p.SpecialSize() {
	case 0:
		return schema.RmgrHeap
	case 16:
		return schema.RmgrBtree
	}
	return 0
}

func decodeBytea(t *testing.T, s string) schema.Page {
	t.Helper()
	b, err := hex.DecodeString(strings.TrimPrefix(strings.TrimSpace(s), `\x`))
	if err != nil || len(b) != schema.BLCKSZ {
		t.Fatalf("bytea of %d bytes: %v", len(b), err)
	}
	return b
}

// samePage compares two pages masked as wal_consistency_checking masks
// them (hint bits, pd_lsn, checksum, …).
func samePage(t *testing.T, what string, src, got schema.Page, blk schema.BlockNumber) bool {
	t.Helper()
	cls := pageClass(src)
	if src.IsNew() {
		return bytes.Equal(src, got)
	}
	if cls == 0 {
		t.Fatalf("%s: page of an unknown kind (special size %d)", what, src.SpecialSize())
	}
	src, got = append(schema.Page(nil), src...), append(schema.Page(nil), got...)
	if err := redo.MaskPage(cls, src, blk); err != nil {
		t.Fatalf("%s: mask: %v", what, err)
	}
	if err := redo.MaskPage(cls, got, blk); err != nil {
		t.Errorf("%s: mask pagemill's page: %v", what, err)
		return false
	}
	off, eq := redo.ComparePages(src, got)
	if !eq {
		t.Errorf("%s: differs at offset %d (source %02x, pagemill %02x)", what, off, src[off], got[off])
	}
	return eq
}

func psql(t *testing.T, srv *serve.Server, args ...string) string {
	t.Helper()
	host, port, _ := strings.Cut(srv.Addr(), ":")
	cmd := exec.Command(filepath.Join(pgtest.BinDir(), "psql"),
		append([]string{"-h", host, "-p", port, "-U", "tester", "-d", "pagemill", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"}, args...)...)
	cmd.Env = append(os.Environ(), "PGCONNECT_TIMEOUT=10")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("psql %v: %v\n%s", args, err, stderr.String())
	}
	return string(out)
}

// TestEndToEnd runs the real pipeline once for the psql comparisons and
// the lesson test.
func TestEndToEnd(t *testing.T) {
	w := startWorld(t)
	t.Run("psql get_page equals get_raw_page", func(t *testing.T) { testPsqlGetPage(t, w) })
	t.Run("names at an LSN", func(t *testing.T) { testNames(t, w) })
	t.Run("page_history equals pg_waldump", func(t *testing.T) { testPageHistory(t, w) })
	t.Run("page_items equals pageinspect", func(t *testing.T) { testPageItems(t, w) })
	t.Run("lesson: waits never block the server", func(t *testing.T) { testLesson(t, w) })
}

// testPsqlGetPage: after pgbench, `psql -c "get_page …"` answers with the
// page `get_raw_page` reads on the source, masked, for every block of
// pgbench_accounts and of its primary key index.
func testPsqlGetPage(t *testing.T, w *world) {
	w.c.Pgbench(t, "-T", "2", "-c", "2")
	lsn := w.p.CatchUp(t, w.c)
	// The source is quiet (autovacuum off, pgbench done): its pages now
	// are the pages at lsn.

	// psql -c, twice: an explicit LSN, and "latest" with a trailing
	// semicolon.
	rel, _ := relation(t, w.c, "pgbench_accounts")
	one := psql(t, w.srv, "-c", fmt.Sprintf("get_page %s main 0 %s", rel, lsn.Short()))
	lsnText, pageText, ok := strings.Cut(strings.TrimSpace(one), "|")
	if !ok || lsnText != lsn.Short() {
		t.Fatalf("psql -c get_page: %.80q", one)
	}
	if latest := psql(t, w.srv, "-c", fmt.Sprintf("GET_PAGE %s main 0 latest;", rel)); !strings.Contains(latest, pageText) {
		t.Fatalf("latest differs from the page at %s", lsn)
	}
	// pagemill getpage fetches the same page over pagestream v3.
	var stdout, stderr bytes.Buffer
	env := cli.Env{Stdout: &stdout, Stderr: &stderr}
	if code := cli.Main(context.Background(), env, []string{"getpage", "--addr", w.srv.Addr(), rel.String(), "main", "0", "--lsn", lsn.Short()}); code != 0 {
		t.Fatalf("pagemill getpage: exit %d: %s", code, stderr.String())
	}
	if !bytes.Equal(stdout.Bytes(), decodeBytea(t, pageText)) {
		t.Fatal("pagemill getpage: not the page psql got")
	}
	stdout.Reset()
	if code := cli.Main(context.Background(), env, []string{"getpage", "--hex", "--addr", w.srv.Addr(), rel.String(), "main", "0"}); code != 0 ||
		!strings.HasPrefix(stdout.String(), "00000000  ") || strings.Count(stdout.String(), "\n") > 520 {
		t.Fatalf("pagemill getpage --hex: exit %d: %.200s %s", code, stdout.String(), stderr.String())
	}
	if code := cli.Main(context.Background(), env, []string{"getpage", "--addr", w.srv.Addr(), rel.String(), "main", "0", "--lsn", "0/1"}); code != 1 ||
		!strings.Contains(stderr.String(), "below the retention horizon") {
		t.Fatalf("pagemill getpage below the horizon: exit %d: %s", code, stderr.String())
	}

	for _, name := range []string{"pgbench_accounts", "pgbench_accounts_pkey"} {
		rel, nblocks := relation(t, w.c, name)
		if nblocks < 2 {
			t.Fatalf("%s: %d blocks", name, nblocks)
		}
		src := w.c.Query(t, "SELECT b, get_raw_page($1, 'main', b) FROM generate_series(0, $2 - 1) b ORDER BY b", name, nblocks)
		// One psql run for all blocks: a script, as psql -f reads it,
		// one command per line with its semicolon.
		var script strings.Builder
		for b := range nblocks {
			fmt.Fprintf(&script, "get_page %s main %d %s;\n", rel, b, lsn.Short())
		}
		file := filepath.Join(t.TempDir(), "get_page.sql")
		if err := os.WriteFile(file, []byte(script.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(psql(t, w.srv, "-f", file)), "\n")
		if len(lines) != nblocks {
			t.Fatalf("%s: psql printed %d rows for %d blocks", name, len(lines), nblocks)
		}
		bad := 0
		for b, line := range lines {
			at, page, _ := strings.Cut(line, "|")
			if at != lsn.Short() {
				t.Fatalf("%s block %d: read at %q, want %s", name, b, at, lsn.Short())
			}
			if !samePage(t, fmt.Sprintf("%s block %d", name, b), decodeBytea(t, src[b][1]), decodeBytea(t, page), schema.BlockNumber(b)) {
				if bad++; bad > 5 {
					t.Fatalf("%s: too many pages differ", name)
				}
			}
		}
		t.Logf("%s (%s): %d blocks equal get_raw_page at %s", name, rel, nblocks, lsn.Short())
	}
}

// testLesson is the test of the bug this project was born from: handlers
// that wait for redo must not hold what redo needs. 2000 pipelined
// GetPage requests over 20 connections ask for an LSN redo has not
// reached (it is slowed on purpose); status keeps answering meanwhile;
// when the WAL is applied every request gets the right page; requests
// past the timeout get errors naming the LSNs; no goroutine is left.
func testLesson(t *testing.T, w *world) {
	ctx := context.Background()
	lr := &lessonRun{t: t, w: w, ctx: ctx}
	lr.rel, lr.nblocks = relation(t, w.c, "pgbench_accounts")
	l := w.p.CatchUp(t, w.c)
	base := runtime.NumGoroutine()
	defer lr.closeAll()
	streams := lr.open(w.srv, 20)

	// Every page of pgbench_accounts changes after L (every page holds
	// rows with aid a multiple of 10); then a second of pgbench makes
	// ~50 ingest rounds, which redo, slowed down, needs seconds for.
	w.c.Exec(t, "UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid % 10 = 0")
	w.c.Pgbench(t, "-n", "-T", "1", "-c", "2")
	w.c.SwitchWAL(t)
	l2, err := schema.ParseLSN(w.c.CurrentWALLSN(t))
	if err != nil {
		t.Fatal(err)
	}
	appliedAtStart := w.p.Mat.Applied()
	if appliedAtStart >= l2 {
		t.Fatalf("redo already applied L' %s: nothing to wait for", l2.Short())
	}

	// status on its own connection, every 10 ms, all along.
	stc, stopStatus := lr.startStatus()
	defer stc.Close()

	began := time.Now()
	answers := lr.fire(streams, 100, l2)
	took := time.Since(began)
	st := stopStatus()
	statusLat := st.lat
	slices.Sort(statusLat)
	t.Logf("L %s, L' %s, applied when firing %s; 2000 requests answered in %s, up to %d waiting at once; "+
		"status answered %d times (%d with 1000+ requests waiting), median %s, slowest %s",
		l.Short(), l2.Short(), appliedAtStart.Short(), took.Round(time.Millisecond), st.waitMax,
		len(statusLat), st.busyAnswers, statusLat[len(statusLat)/2].Round(time.Microsecond), statusLat[len(statusLat)-1].Round(time.Microsecond))
	if st.waitMax < 1000 || st.busyAnswers < 5 {
		t.Errorf("up to %d requests waited, status answered %d times meanwhile: the test did not test waiting", st.waitMax, st.busyAnswers)
	}
	// A server that blocked on the waits would answer only when they end
	// (seconds); the bound is loose for -race on a busy 2-core machine.
	if slowest := statusLat[len(statusLat)-1]; slowest > 2*time.Second {
		t.Errorf("status took %s while requests waited", slowest)
	}

	lr.checkAnswers(answers, l, l2)
	short := lr.checkTimeout(l2)

	// Nothing left behind once the clients leave: every connection
	// closed, every goroutine gone (the pipeline's own come and go: a
	// little slack).
	for _, st := range streams {
		if err := st.Close(ctx); err != nil {
			t.Fatal(err)
		}
	}
	stc.Close()
	lr.closeAll()
	lr.checkNothingLeft(short, base)
}

// lessonRun is testLesson's clients and the relation they read.
type lessonRun struct {
	t       *testing.T
	w       *world
	ctx     context.Context
	rel     schema.RelFileNode
	nblocks int
	clients []*client.Conn
}

// lessonAnswer is the answer to one GetPage request.
type lessonAnswer struct {
	tag  schema.BufferTag
	page []byte
	err  string
}

func (lr *lessonRun) closeAll() {
	for _, c := range lr.clients {
		c.Close()
	}
}

// open opens conns pagestreams, v2 and v3 alternately, so that firing
// later sends at once.
func (lr *lessonRun) open(srv *serve.Server, conns int) []*client.Stream {
	streams := make([]*client.Stream, conns)
	for i := range streams {
		c, err := client.Connect(lr.ctx, client.Config{Addr: srv.Addr()})
		if err != nil {
			lr.t.Fatal(err)
		}
		lr.clients = append(lr.clients, c)
		tenant, timeline, err := c.IDs(lr.ctx)
		if err != nil {
			lr.t.Fatal(err)
		}
		if streams[i], err = c.Pagestream(lr.ctx, pagestream.V2+pagestream.Version(i%2), tenant, timeline); err != nil {
			lr.t.Fatal(err)
		}
	}
	return streams
}

// fire sends perConn GetPage requests at lsn (not modified since lsn)
// pipelined on every stream at once, and collects the answers.
func (lr *lessonRun) fire(streams []*client.Stream, perConn int, lsn schema.LSN) [][]lessonAnswer {
	out := make([][]lessonAnswer, len(streams))
	errs := make(chan error, len(streams))
	for i, st := range streams {
		reqs := make([]pagestream.Request, perConn)
		out[i] = make([]lessonAnswer, perConn)
		for j := range reqs {
			tag := schema.BufferTag{Rel: lr.rel, Fork: schema.MainForkNum, Block: schema.BlockNumber((i*perConn + j) % lr.nblocks)}
			reqs[j] = client.GetPageRequest(tag, lsn, lsn)
			out[i][j].tag = tag
		}
		go func() {
			pctx, cancel := context.WithTimeout(lr.ctx, 3*time.Minute)
			defer cancel()
			errs <- st.Pipeline(pctx, reqs, perConn, func(j int, resp *pagestream.Response) error {
				switch resp.Tag {
				case pagestream.TagGetPageResponse:
					out[i][j].page = resp.Page
				case pagestream.TagErrorResponse:
					out[i][j].err = resp.Message
				default:
					return fmt.Errorf("lessonAnswer %d: %s", j, resp.Tag)
				}
				return nil
			})
		}()
	}
	for range streams {
		if err := <-errs; err != nil {
			lr.t.Fatal(err)
		}
	}
	return out
}

// lessonStatus is what the status connection saw while requests waited.
type lessonStatus struct {
	lat                  []time.Duration
	waitMax, busyAnswers int
}

// startStatus asks for the status on its own connection every 10 ms
// until stop, which fails the test if a status request failed.
func (lr *lessonRun) startStatus() (*client.Conn, func() lessonStatus) {
	w, ctx := lr.w, lr.ctx
	stc, err := client.Connect(ctx, client.Config{Addr: w.srv.Addr()})
	if err != nil {
		lr.t.Fatal(err)
	}
	stopStatus := make(chan struct{})
	var st lessonStatus
	statusDone := make(chan error, 1)
	go func() {
		for {
			select {
			case <-stopStatus:
				statusDone <- nil
				return
			case <-time.After(10 * time.Millisecond):
			}
			waiting := w.srv.Waiting()
			began := time.Now()
			sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			_, _, err := stc.Status(sctx)
			cancel()
			if err != nil {
				statusDone <- err
				return
			}
			st.lat = append(st.lat, time.Since(began))
			st.waitMax = max(st.waitMax, waiting)
			if waiting >= 1000 && w.srv.Waiting() >= 1000 {
				st.busyAnswers++ // answered while 1000+ requests waited
			}
		}
	}()
	return stc, func() lessonStatus {
		close(stopStatus)
		if err := <-statusDone; err != nil {
			lr.t.Fatalf("status during the waits: %v", err)
		}
		return st
	}
}

// checkAnswers checks that every answer is the page at l2 (read again now
// that redo is past it), and nearly all pages changed after l (no stale
// version).
func (lr *lessonRun) checkAnswers(answers [][]lessonAnswer, l, l2 schema.LSN) {
	t, w, ctx := lr.t, lr.w, lr.ctx
	n, changed := 0, 0
	for _, conn := range answers {
		for _, a := range conn {
			if a.err != "" {
				t.Fatalf("%s: %s", a.tag, a.err)
			}
			want, _, err := w.p.Mat.PageAt(ctx, a.tag, l2)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(a.page, want) {
				t.Fatalf("%s: the answer is not the page at %s", a.tag, l2.Short())
			}
			old, _, err := w.p.Mat.PageAt(ctx, a.tag, l)
			if errors.Is(err, pagestore.ErrNotFound) {
				// The relation grew after L (the earlier subtests'
				// changes move rows): a page made after L changed.
				old, err = nil, nil
			}
			if err != nil {
				t.Fatal(err)
			}
			// A page that redo changed after L must not be answered with
			// its version at L. (A few pages past the original rows hold
			// only moved tuples and may not change at all.)
			if !bytes.Equal(want, old) {
				changed++
			}
			n++
		}
	}
	if n != 2000 || changed < 1900 {
		t.Fatalf("%d answers, %d of them pages that changed after L", n, changed)
	}
}

// checkTimeout checks that past the timeout, requests get errors naming
// the LSN waited for and the applied LSN. It returns the server with the
// short timeout.
func (lr *lessonRun) checkTimeout(l2 schema.LSN) *serve.Server {
	t, w := lr.t, lr.w
	short := startServer(t, w.p, 500*time.Millisecond)
	far := l2 + 1<<30
	for _, conn := range lr.fire(lr.open(short, 10), 50, far) {
		for _, a := range conn {
			if a.page != nil || !strings.Contains(a.err, "timed out after 500ms waiting for LSN "+far.Short()+" to be applied; applied LSN is ") {
				t.Fatalf("%s at %s: %q", a.tag, far.Short(), a.err)
			}
		}
	}
	return short
}

// checkNothingLeft waits until every connection is closed and every
// goroutine gone (the pipeline's own come and go: a little slack).
func (lr *lessonRun) checkNothingLeft(short *serve.Server, base int) {
	t, w := lr.t, lr.w
	deadline := time.Now().Add(15 * time.Second)
	for w.srv.ActiveConns() != 0 || short.ActiveConns() != 0 || runtime.NumGoroutine() > base+5 {
		if time.Now().After(deadline) {
			t.Fatalf("after the test: %d + %d connections, %d goroutines (baseline %d)",
				w.srv.ActiveConns(), short.ActiveConns(), runtime.NumGoroutine(), base)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if w.srv.Waiting() != 0 || short.Waiting() != 0 {
		t.Fatal("waits left")
	}
}
