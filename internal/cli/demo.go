package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pagemill/pagemill/ingest"
	"github.com/pagemill/pagemill/internal/scratchpg"
	"github.com/pagemill/pagemill/ops"
	"github.com/pagemill/pagemill/redo/materialize"
	"github.com/pagemill/pagemill/restore"
	"github.com/pagemill/pagemill/schema"
	"github.com/pagemill/pagemill/serve"
	"github.com/pagemill/pagemill/streams"
)

// Demo is the README's first command: a scratch PostgreSQL 15, embedded
// NATS JetStream and the whole pipeline (ingest, materializer, pgwire
// server) in one process; a short pgbench load with live progress; then
// the psql lines to fetch pages, served until Ctrl-C (or --exit-after),
// after which everything stops and the scratch cluster is removed.
func Demo(ctx context.Context, env Env, args []string) int {
	fs := newFlagSet(env, "demo", "[--seconds N] [--scale N] [--pg-listen ADDR] [--exit-after D]")
	seconds := fs.Int("seconds", 10, "how long pgbench runs")
	scale := fs.Int("scale", 1, "pgbench scale factor")
	pgListen := fs.String("pg-listen", "127.0.0.1:6400", "pgwire listen address")
	exitAfter := fs.Duration("exit-after", 0, "stop this long after the load instead of waiting for Ctrl-C")
	verbose := fs.Bool("verbose", false, "show the components' logs")
	memLimit := addMemoryLimitFlag(fs)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	out := env.Stdout
	fail := func(err error) int {
		fmt.Fprintf(env.Stderr, "pagemill demo: %v\n", err)
		return 1
	}
	logw := env.Stderr
	if !*verbose {
		logw = nil
	}
	var log = ops.DiscardLogger()
	if logw != nil {
		log, _ = ops.NewLogger(logw, ops.LogConfig{Level: "info"})
	}
	if _, err := ops.ApplyMemoryLimit(*memLimit, log); err != nil {
		fmt.Fprintf(env.Stderr, "pagemill demo: %v\n", err)
		return 2
	}

	fmt.Fprintln(out, "Starting a scratch PostgreSQL 15 cluster...")
	c, err := scratchpg.New(ctx, scratchpg.Options{ExtraConf: map[string]string{"autovacuum": "off"}})
	if err != nil {
		return fail(err)
	}
	defer func() {
		c.Close()
		fmt.Fprintln(out, "Stopped the scratch cluster and removed", c.DataDir())
	}()
	fmt.Fprintf(out, "PostgreSQL is running in %s on 127.0.0.1:%d\n", c.DataDir(), c.Port())
	if _, err := c.PgbenchContext(ctx, "-i", "-s", fmt.Sprint(*scale), "-q"); err != nil {
		return fail(err)
	}
	dir, err := os.MkdirTemp("", "pagemill-demo-")
	if err != nil {
		return fail(err)
	}
	defer os.RemoveAll(dir)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	emb, err := streams.StartEmbedded(ctx, streams.EmbeddedConfig{Dir: filepath.Join(dir, "nats")}, log)
	if err != nil {
		return fail(err)
	}
	defer emb.Shutdown()
	nc, err := emb.Connect()
	if err != nil {
		return fail(err)
	}
	defer nc.Close()
	reg := prometheus.NewRegistry()
	scfg := streams.Config{Shards: 4, Replicas: 1}
	ing, err := ingest.New(ingest.Config{Source: c.ConnString("postgres"), Slot: "pagemill_demo", Streams: scfg}, nc, reg, log)
	if err != nil {
		return fail(err)
	}
	var mat atomic.Pointer[materialize.Materializer]
	var backup atomic.Pointer[restore.Backup]
	srv, err := serve.New(serve.Config{
		Addr: *pgListen,
		BaseBackup: func(ctx context.Context, lsn schema.LSN, w io.Writer) (schema.LSN, error) {
			b := backup.Load()
			if b == nil {
				return 0, materialize.ErrNotReady
			}
			return b.TarAt(ctx, lsn, w, 30*time.Second)
		},
		Pages: func() serve.Pages {
			if m := mat.Load(); m != nil {
				return m
			}
			return nil
		},
		Identity: func() serve.Identity {
			st := ing.Status()
			return serve.Identity{SystemID: st.SystemID, Timeline: st.Timeline}
		},
		Status: func() []serve.Row { return statusRows(ing.Status(), mat.Load()) },
	}, reg, log)
	if err != nil {
		return fail(err)
	}
	errc := make(chan error, 3)
	go func() { errc <- srv.Run(ctx) }()
	go func() { errc <- ing.Run(ctx) }()
	go func() {
		errc <- runMaterializer(ctx, ing, nc, scfg, materialize.Config{}, filepath.Join(dir, "pages"), reg, log, &mat, &backup)
	}()
	stopAll := func() error {
		cancel()
		var first error
		for range 3 {
			if err := <-errc; err != nil && first == nil {
				first = err
			}
		}
		return first
	}

	fmt.Fprintln(out, "Base backup into JetStream, then the materializer imports it...")
	for mat.Load() == nil || !isClosed(mat.Load().Ready()) {
		select {
		case err := <-errc:
			cancel()
			return fail(fmt.Errorf("pipeline stopped: %v", err))
		case <-ctx.Done():
			_ = stopAll()
			return fail(ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
	m := mat.Load()
	fmt.Fprintf(out, "Running pgbench for %d s; live progress:\n", *seconds)
	load := make(chan error, 1)
	go func() {
		_, err := c.PgbenchContext(ctx, "-T", fmt.Sprint(*seconds), "-c", "2")
		load <- err
	}()
	progress := func() {
		st := ing.Status()
		src, _ := currentLSN(ctx, c)
		applied := m.Applied()
		lag := int64(0)
		if src > applied {
			lag = int64(src - applied)
		}
		fmt.Fprintf(out, "  source %-12s received %-12s published %-12s applied %-12s lag %7.1f kB  page versions %d\n",
			src.Short(), st.ReceivedLSN.Short(), st.PublishedLSN.Short(), applied.Short(), float64(lag)/1000, m.VersionsWritten())
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
wait:
	for {
		select {
		case err := <-load:
			if err != nil {
				stopAll()
				return fail(err)
			}
			break wait
		case err := <-errc:
			cancel()
			return fail(fmt.Errorf("pipeline stopped: %v", err))
		case <-tick.C:
			progress()
		}
	}
	// Catch up with the end of the load.
	_ = c.ExecContext(ctx, "SELECT pg_switch_wal()")
	end, err := currentLSN(ctx, c)
	if err != nil {
		stopAll()
		return fail(err)
	}
	wctx, wcancel := context.WithTimeout(ctx, 2*time.Minute)
	err = m.WaitAll(wctx, end)
	wcancel()
	progress()
	if err != nil {
		stopAll()
		return fail(err)
	}
	rows, err := c.QueryContext(ctx, "SELECT pg_relation_filepath('pgbench_accounts'), pg_relation_filepath('pgbench_accounts_pkey'), (SELECT oid FROM pg_database WHERE datname = current_database())")
	if err != nil || len(rows) != 1 {
		stopAll()
		return fail(fmt.Errorf("relation paths: %v", err))
	}
	rel := func(path string) string {
		parts := strings.Split(path, "/") // base/DB/REL
		return "1663/" + parts[1] + "/" + parts[2]
	}
	addr := srv.Addr()
	i := strings.LastIndex(addr, ":")
	host, port := addr[:i], addr[i+1:]
	fmt.Fprintf(out, "\nEvery record up to %s is materialized. pagemill serves pages on %s; try:\n\n", end, addr)
	fmt.Fprintf(out, "  psql -h %s -p %s -c \"status\"\n", host, port)
	fmt.Fprintf(out, "  psql -h %s -p %s -c \"get_page %s main 0\"          # pgbench_accounts, block 0, latest\n", host, port, rel(rows[0][0]))
	fmt.Fprintf(out, "  psql -h %s -p %s -c \"get_page %s main 1 %s\"   # its primary key index at an LSN\n", host, port, rel(rows[0][1]), end.Short())
	fmt.Fprintf(out, "  psql -h %s -p %s -c \"nblocks %s main\"\n", host, port, rel(rows[0][0]))
	fmt.Fprintf(out, "  psql -h %s -p %s -c \"db_size %s\"\n", host, port, rows[0][2])
	fmt.Fprintf(out, "  psql -h %s -p %s -c \"help\"\n", host, port)
	fmt.Fprintf(out, "  go run ./cmd/pagemill getpage --addr %s %s main 0 --hex | head\n", addr, rel(rows[0][0]))
	fmt.Fprintf(out, "  (the source itself: psql -h 127.0.0.1 -p %d -U postgres)\n\n", c.Port())
	if *exitAfter > 0 {
		fmt.Fprintf(out, "Serving for %s.\n", *exitAfter)
		select {
		case <-time.After(*exitAfter):
		case <-ctx.Done():
		}
	} else {
		fmt.Fprintln(out, "Serving until Ctrl-C.")
		<-ctx.Done()
	}
	fmt.Fprintln(out, "Stopping...")
	if err := stopAll(); err != nil && !errors.Is(err, context.Canceled) {
		return fail(err)
	}
	return 0
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
