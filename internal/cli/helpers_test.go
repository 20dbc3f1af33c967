package cli_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pagemill/pagemill/internal/cli"
	"github.com/pagemill/pagemill/internal/natstest"
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

// stop ends the process with SIGTERM and fails the test unless it exits
// cleanly.
func (p *pagemillProc) stop(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	<-p.done
	if p.err != nil {
		t.Fatalf("pagemill exit: %v\n%s", p.err, tail(p.logs.String(), 40))
	}
}

// kill ends the process with SIGKILL.
func (p *pagemillProc) kill(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-p.done
}

// runArgs are the arguments of `pagemill run` following c with its state
// in dataDir, pgwire on pgAddr, HTTP on a free port, shards shards and the
// replication slot slot; then extra.
func runArgs(t *testing.T, c *pgtest.Cluster, dataDir, pgAddr string, shards int, slot string, extra ...string) []string {
	return append([]string{"run", "--source", c.ConnString("postgres"), "--data-dir", dataDir, "--pg-listen", pgAddr,
		"--http-listen", natstest.FreeAddr(t), "--shards", strconv.Itoa(shards), "--slot", slot}, extra...)
}

// startRun starts `pagemill run` (runArgs) on a free pgwire address and
// waits until it has applied WAL; it returns the process and the address.
func startRun(t *testing.T, ctx context.Context, c *pgtest.Cluster, dataDir string, shards int, slot string, extra ...string) (*pagemillProc, string) {
	t.Helper()
	pgAddr := natstest.FreeAddr(t)
	p := startPagemill(t, runArgs(t, c, dataDir, pgAddr, shards, slot, extra...)...)
	waitApplied(t, ctx, p, pgAddr, 1)
	return p, pgAddr
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

func mustLSN(t *testing.T, s string) schema.LSN {
	t.Helper()
	l, err := schema.ParseLSN(s)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// settle makes the source's pages settle (VACUUM, a checkpoint) and
// switches to a new WAL segment; it returns the LSN after that.
func settle(t *testing.T, c *pgtest.Cluster) schema.LSN {
	t.Helper()
	c.Exec(t, "VACUUM")
	c.Checkpoint(t)
	c.Exec(t, "SELECT pg_switch_wal()")
	return mustLSN(t, c.CurrentWALLSN(t))
}

// compareStore opens the stopped page store in dir (4 shards) and
// compares every page of the source with it at target, logging the counts
// after what; at least 1,000 pages must be compared.
func compareStore(t *testing.T, c *pgtest.Cluster, dir string, target schema.LSN, what string) {
	t.Helper()
	store, err := pagestore.Open(pagestore.Options{Dir: dir, Shards: 4}, pipetest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	st := pipetest.CompareDataDir(t, c, target, func(tag schema.BufferTag, lsn schema.LSN) (schema.Page, error) {
		p, _, err := store.PageAt(tag, lsn)
		return p, err
	})
	t.Logf("%s: %d pages, %d compared with the source, %d other access methods", what, st.Pages, st.Compared, st.OtherAM)
	if st.Compared < 1000 {
		t.Fatalf("only %d pages compared", st.Compared)
	}
}

// tableSum is a checksum of a table's contents.
func tableSum(t *testing.T, c *pgtest.Cluster, table string) string {
	t.Helper()
	rows := c.Query(t, fmt.Sprintf("SELECT md5(coalesce(string_agg(x::text, ',' ORDER BY x::text), '')) FROM %s x", table))
	return rows[0][0]
}

// amcheck runs pg_amcheck --heapallindexed on every database of c.
func amcheck(t *testing.T, c *pgtest.Cluster) {
	t.Helper()
	out, err := c.RunBin(t.Context(), "pg_amcheck", "-h", "127.0.0.1", "-p", fmt.Sprint(c.Port()), "-U", "postgres",
		"--all", "--install-missing", "--heapallindexed", "--rootdescend")
	if err != nil || strings.TrimSpace(string(out)) != "" {
		t.Errorf("pg_amcheck: %v\n%s", err, out)
	}
}

// checkNoReplayLog fails the test unless the server log of r, restored at
// lsn, shows a clean shutdown and no recovery.
func checkNoReplayLog(t *testing.T, r *pgtest.Cluster, lsn schema.LSN) {
	t.Helper()
	log, err := os.ReadFile(r.LogFile())
	if err != nil {
		t.Fatal(err)
	}
	if l := string(log); strings.Contains(l, "redo starts") || strings.Contains(l, "automatic recovery") || !strings.Contains(l, "database system was shut down at") {
		t.Errorf("restore at %s: the server's log shows recovery or no clean shutdown:\n%s", lsn, l)
	}
}

// pgbenchAsync runs pgbench with args on c in the background; its error
// comes on the channel.
func pgbenchAsync(ctx context.Context, c *pgtest.Cluster, args ...string) <-chan error {
	load := make(chan error, 1)
	go func() {
		_, err := c.PgbenchContext(ctx, args...)
		load <- err
	}()
	return load
}
