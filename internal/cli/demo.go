package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pagemill/pagemill/internal/scratchpg"
	"github.com/pagemill/pagemill/ops"
	"github.com/pagemill/pagemill/ops/node"
	"github.com/pagemill/pagemill/redo/materialize"
	"github.com/pagemill/pagemill/schema"
	"github.com/pagemill/pagemill/streams"
)

// Demo is the README's first command: a scratch PostgreSQL 15 and a node
// (embedded NATS JetStream, ingest, materializer, pgwire server) in one
// process; a short pgbench load with live progress; then the psql lines
// to fetch pages, served until Ctrl-C (or --exit-after), after which
// everything stops and the scratch cluster is removed.
func Demo(ctx context.Context, env Env, args []string) int {
	fs := newFlagSet(env, "demo", "[--seconds N] [--scale N] [--pg-listen ADDR] [--exit-after D]")
	seconds := fs.Int("seconds", 10, "how long pgbench runs")
	scale := fs.Int("scale", 1, "pgbench scale factor")
	pgListen := fs.String("pg-listen", "127.0.0.1:6400", "pgwire listen address")
	exitAfter := fs.Duration("exit-after", 0, "stop this long after the load instead of waiting for Ctrl-C")
	verbose := fs.Bool("verbose", false, "show the components' logs")
	memory := addMemoryFlags(fs)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	out := env.Stdout
	fail := func(err error) int {
		fmt.Fprintf(env.Stderr, "pagemill demo: %v\n", err)
		return 1
	}
	var log = ops.DiscardLogger()
	if *verbose {
		log, _ = ops.NewLogger(env.Stderr, ops.LogConfig{Level: "info"})
	}
	budget, err := memory.apply(log)
	if err != nil {
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
	n, err := node.New(node.Config{Source: c.ConnString("postgres"), Slot: "pagemill_demo", DataDir: dir,
		Streams: streams.Config{Replicas: 1}, PGListen: *pgListen, Memory: budget, Log: log, Registry: prometheus.NewRegistry()})
	if err != nil {
		return fail(err)
	}
	d := &demo{out: out, c: c, n: n}
	if err := d.run(ctx, *seconds, *exitAfter); err != nil {
		return fail(err)
	}
	return 0
}

// demo is the demo's pipeline: the scratch cluster and the node following
// it.
type demo struct {
	out     io.Writer
	c       *scratchpg.Cluster
	n       *node.Node
	m       *materialize.Materializer // once the node is ready
	stopped chan struct{}             // closed when the node's Run returned, with runErr
	runErr  error
}

// run runs the node, the load and the serving, then stops the node.
func (d *demo) run(ctx context.Context, seconds int, exitAfter time.Duration) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	d.stopped = make(chan struct{})
	go func() {
		defer close(d.stopped)
		d.runErr = d.n.Run(ctx)
	}()
	err := d.show(ctx, seconds, exitAfter)
	cancel()
	<-d.stopped
	if err != nil {
		return err
	}
	if d.runErr != nil && !errors.Is(d.runErr, context.Canceled) {
		return d.runErr
	}
	return nil
}

// show waits for the node, runs pgbench with live progress, prints the
// psql lines and serves until ctx ends or exitAfter passed.
func (d *demo) show(ctx context.Context, seconds int, exitAfter time.Duration) error {
	fmt.Fprintln(d.out, "Base backup into JetStream, then the materializer imports it...")
	select {
	case <-d.n.Ready():
	case <-d.stopped:
		return fmt.Errorf("pipeline stopped: %v", d.runErr)
	case <-ctx.Done():
		return ctx.Err()
	}
	if d.m = d.n.Materializer(); d.m == nil {
		return errors.New("pipeline stopped")
	}
	end, err := d.load(ctx, seconds)
	if err != nil {
		return err
	}
	if err := d.printTries(ctx, end); err != nil {
		return err
	}
	if exitAfter > 0 {
		fmt.Fprintf(d.out, "Serving for %s.\n", exitAfter)
		select {
		case <-time.After(exitAfter):
		case <-ctx.Done():
		}
	} else {
		fmt.Fprintln(d.out, "Serving until Ctrl-C.")
		<-ctx.Done()
	}
	fmt.Fprintln(d.out, "Stopping...")
	return nil
}

// load runs pgbench for seconds with a progress line every second, then
// waits until the materializer applied the end of the load, which it
// returns.
func (d *demo) load(ctx context.Context, seconds int) (schema.LSN, error) {
	fmt.Fprintf(d.out, "Running pgbench for %d s; live progress:\n", seconds)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	load := make(chan error, 1)
	go func() {
		_, err := d.c.PgbenchContext(ctx, "-T", fmt.Sprint(seconds), "-c", "2")
		load <- err
	}()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for done := false; !done; {
		select {
		case err := <-load:
			if err != nil {
				return 0, err
			}
			done = true
		case <-d.stopped:
			cancel()
			<-load
			return 0, fmt.Errorf("pipeline stopped: %v", d.runErr)
		case <-tick.C:
			d.progress(ctx)
		}
	}
	// Catch up with the end of the load.
	_ = d.c.ExecContext(ctx, "SELECT pg_switch_wal()")
	end, err := d.sourceLSN(ctx)
	if err != nil {
		return 0, err
	}
	wctx, wcancel := context.WithTimeout(ctx, 2*time.Minute)
	err = d.m.WaitAll(wctx, end)
	wcancel()
	d.progress(ctx)
	return end, err
}

// sourceLSN is the scratch source's pg_current_wal_lsn().
func (d *demo) sourceLSN(ctx context.Context) (schema.LSN, error) {
	lsn, err := d.c.CurrentLSNContext(ctx)
	return schema.LSN(lsn), err
}

// progress prints one line: the source's LSN, ingest's, the
// materializer's, the lag and the page versions written.
func (d *demo) progress(ctx context.Context) {
	m, st := d.m, d.n.IngestStatus()
	src, _ := d.sourceLSN(ctx)
	applied := m.Applied()
	lag := int64(0)
	if src > applied {
		lag = int64(src - applied)
	}
	fmt.Fprintf(d.out, "  source %-12s received %-12s published %-12s applied %-12s lag %7.1f kB  page versions %d\n",
		src.Short(), st.ReceivedLSN.Short(), st.PublishedLSN.Short(), applied.Short(), float64(lag)/1000, m.VersionsWritten())
}

// printTries prints the psql lines to try against the node.
func (d *demo) printTries(ctx context.Context, end schema.LSN) error {
	rows, err := d.c.QueryContext(ctx, "SELECT pg_relation_filepath('pgbench_accounts'), pg_relation_filepath('pgbench_accounts_pkey'), (SELECT oid FROM pg_database WHERE datname = current_database())")
	if err != nil || len(rows) != 1 {
		return fmt.Errorf("relation paths: %v", err)
	}
	rel := func(path string) string {
		parts := strings.Split(path, "/") // base/DB/REL
		return "1663/" + parts[1] + "/" + parts[2]
	}
	addr := d.n.PGAddr()
	i := strings.LastIndex(addr, ":")
	host, port := addr[:i], addr[i+1:]
	out := d.out
	fmt.Fprintf(out, "\nEvery record up to %s is materialized. pagemill serves pages on %s; try:\n\n", end, addr)
	fmt.Fprintf(out, "  psql -h %s -p %s -c \"status\"\n", host, port)
	fmt.Fprintf(out, "  psql -h %s -p %s -c \"get_page %s main 0\"          # pgbench_accounts, block 0, latest\n", host, port, rel(rows[0][0]))
	fmt.Fprintf(out, "  psql -h %s -p %s -c \"get_page %s main 1 %s\"   # its primary key index at an LSN\n", host, port, rel(rows[0][1]), end.Short())
	fmt.Fprintf(out, "  psql -h %s -p %s -c \"nblocks %s main\"\n", host, port, rel(rows[0][0]))
	fmt.Fprintf(out, "  psql -h %s -p %s -c \"db_size %s\"\n", host, port, rows[0][2])
	fmt.Fprintf(out, "  psql -h %s -p %s -c \"help\"\n", host, port)
	fmt.Fprintf(out, "  go run ./cmd/pagemill getpage --addr %s %s main 0 --hex | head\n", addr, rel(rows[0][0]))
	fmt.Fprintf(out, "  (the source itself: psql -h 127.0.0.1 -p %d -U postgres)\n\n", d.c.Port())
	return nil
}
