package cli_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pagemill/pagemill/internal/cli"
	"github.com/pagemill/pagemill/internal/pgtest"
	"github.com/pagemill/pagemill/internal/pipetest"
	"github.com/pagemill/pagemill/redo/pagestore"
	"github.com/pagemill/pagemill/schema"
)

// childEnv makes the test binary act as the pagemill binary (see
// TestMain): tests that need a process they can SIGKILL re-execute
// themselves.
const childEnv = "PAGEMILL_TEST_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		code := cli.Main(ctx, cli.Env{Stdout: os.Stdout, Stderr: os.Stderr}, os.Args[1:])
		stop()
		os.Exit(code)
	}
	os.Exit(m.Run())
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// pagemillProc is a `pagemill run` child process.
type pagemillProc struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when the process exited; err is then set
	err  error
	logs *pipetest.SyncBuffer
}

func startPagemill(t *testing.T, args ...string) *pagemillProc {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), childEnv+"=1")
	logs := &pipetest.SyncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &pagemillProc{cmd: cmd, done: make(chan struct{}), logs: logs}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			// The tail only: the test's own failure stays near the end of
			// the output, where CI excerpts look.
			t.Logf("pagemill output (tail):\n%s", tail(logs.String(), 12))
		}
	})
	return p
}

// status reads the pgwire status rows of a running pagemill.
func status(ctx context.Context, addr string) (map[string]string, error) {
	conn, err := pgx.Connect(ctx, fmt.Sprintf("postgres://x@%s/x?sslmode=disable&default_query_exec_mode=simple_protocol", addr))
	if err != nil {
		return nil, err
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, "status")
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return nil, err
		}
		out[k] = v
	}
	return out, rows.Err()
}

// TestRunSurvivesSIGKILL: `pagemill run` is killed with SIGKILL at random
// moments ten times while pgbench runs; after the last restart catches
// up, every page equals the source's.
func TestRunSurvivesSIGKILL(t *testing.T) {
	c := pgtest.Start(t, pipetest.QuietSource(pgtest.Options{}))
	c.Pgbench(t, "-i", "-s", "1", "-q")
	dataDir := t.TempDir()
	pgAddr := freeAddr(t)
	args := []string{"run", "--source", c.ConnString("postgres"), "--data-dir", dataDir, "--pg-listen", pgAddr,
		"--http-listen", freeAddr(t), "--shards", "4", "--slot", "pm_crash"}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	load := make(chan error, 1)
	// First start: the base backup is taken and imported.
	first := startPagemill(t, args...)
	waitApplied(t, ctx, first, pgAddr, 1)
	if err := first.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-first.done
	go func() {
		_, err := c.PgbenchContext(ctx, "-T", "20", "-c", "2")
		load <- err
	}()
	// Then ten runs, each killed at a random moment of its catch-up (the
	// load goes on while pagemill is down, so each start has a backlog).
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	for i := 0; i < 10; i++ {
		time.Sleep(time.Duration(200+rng.IntN(800)) * time.Millisecond)
		p := startPagemill(t, args...)
		d := time.Duration(300+rng.IntN(2200)) * time.Millisecond
		select {
		case <-p.done:
			t.Fatalf("pagemill exited on its own (run %d): %v\n%s", i, p.err, p.logs.String())
		case <-time.After(d):
		}
		if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		<-p.done
		t.Logf("killed pagemill after %s (run %d)", d, i+1)
	}
	if err := <-load; err != nil {
		t.Fatalf("pgbench: %v", err)
	}
	c.Exec(t, "VACUUM")
	c.Checkpoint(t)
	c.Exec(t, "SELECT pg_switch_wal()")
	target, err := schema.ParseLSN(c.CurrentWALLSN(t))
	if err != nil {
		t.Fatal(err)
	}
	p := startPagemill(t, args...)
	applied := waitApplied(t, ctx, p, pgAddr, target)
	// Stop cleanly and read the page store directly.
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	<-p.done
	if p.err != nil {
		t.Fatalf("pagemill exit: %v\n%s", p.err, tail(p.logs.String(), 40))
	}
	store, err := pagestore.Open(pagestore.Options{Dir: filepath.Join(dataDir, "pages"), Shards: 4}, pipetest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	st := pipetest.CompareDataDir(t, c, target, func(tag schema.BufferTag, lsn schema.LSN) (schema.Page, error) {
		p, _, err := store.PageAt(tag, lsn)
		return p, err
	})
	t.Logf("after 10 SIGKILLs: applied %s; %d pages, %d compared, %d other access methods", applied, st.Pages, st.Compared, st.OtherAM)
	if st.Compared < 1000 {
		t.Fatalf("only %d pages compared", st.Compared)
	}
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// waitApplied waits until the status of the pagemill at addr reports an
// applied LSN of at least want.
func waitApplied(t *testing.T, ctx context.Context, p *pagemillProc, addr string, want schema.LSN) schema.LSN {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for {
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		st, err := status(sctx, addr)
		cancel()
		if err == nil && st["applied_lsn"] != "" {
			if applied, _ := schema.ParseLSN(st["applied_lsn"]); applied >= want {
				// Synced in the background: never ahead of what is applied.
				if durable, err := schema.ParseLSN(st["durable_lsn"]); err != nil || durable > applied {
					t.Fatalf("status: durable_lsn %q (%v) with applied_lsn %s", st["durable_lsn"], err, applied)
				}
				return applied
			}
		}
		select {
		case <-p.done:
			t.Fatalf("pagemill exited: %v\n%s", p.err, tail(p.logs.String(), 40))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("applied LSN did not reach %s (status %v, err %v)\n%s", want, st, err, tail(p.logs.String(), 40))
		}
		time.Sleep(200 * time.Millisecond)
	}
}
