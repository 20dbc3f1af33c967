package cli_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pagemill/pagemill/internal/cli"
	"github.com/pagemill/pagemill/internal/pgtest"
	"github.com/pagemill/pagemill/internal/pipetest"
)

// TestRestoreAtTime: lsn_at and time_at over pgwire, and `pagemill restore
// --time T` brings back the rows committed at or before T and none after.
func TestRestoreAtTime(t *testing.T) {
	c := pgtest.Start(t, pgtest.Options{})
	c.Exec(t, "CREATE TABLE tt (k int)")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p, pgAddr := startRun(t, ctx, c, t.TempDir(), 2, "pm_time")
	c.Exec(t, "INSERT INTO tt VALUES (1)")
	at := c.Query(t, "SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00'")[0][0]
	time.Sleep(20 * time.Millisecond)
	c.Exec(t, "INSERT INTO tt VALUES (2)")
	waitApplied(t, ctx, p, pgAddr, mustLSN(t, c.Query(t, "SELECT pg_current_wal_lsn()")[0][0]))

	host, port, _ := strings.Cut(pgAddr, ":")
	out, err := c.RunBin(ctx, "psql", "-h", host, "-p", port, "-U", "x", "-XAtc", "lsn_at '"+at+"'")
	if err != nil {
		t.Fatalf("psql lsn_at: %v: %s", err, out)
	}
	lsn, ts, ok := strings.Cut(strings.TrimSpace(string(out)), "|")
	if !ok || mustLSN(t, lsn) == 0 {
		t.Fatalf("lsn_at %s: %q", at, out)
	}
	out, err = c.RunBin(ctx, "psql", "-h", host, "-p", port, "-U", "x", "-XAtc", "time_at "+lsn)
	if err != nil || strings.TrimSpace(string(out)) != lsn+"|"+ts {
		t.Fatalf("time_at %s: %q (%v), lsn_at said %s|%s", lsn, out, err, lsn, ts)
	}
	if out, err := c.RunBin(ctx, "psql", "-h", host, "-p", port, "-U", "x", "-XAtc", "lsn_at '1999-01-01 00:00:00+00'"); err == nil {
		t.Errorf("lsn_at before the window answered %q", out)
	} else if !strings.Contains(string(out), "window") {
		t.Errorf("lsn_at before the window: %q does not name the window", out)
	}

	var stdout, stderr pipetest.SyncBuffer
	r := pgtest.Start(t, pgtest.Options{Fill: func(dir string) error {
		if code := cli.Restore(ctx, cli.Env{Stdout: &stdout, Stderr: &stderr}, []string{"--from", pgAddr, "--time", at, "--to", dir}); code != 0 {
			return fmt.Errorf("restore --time exited %d: %s", code, stderr.String())
		}
		return nil
	}})
	if got := r.Query(t, "SELECT string_agg(k::text, ',' ORDER BY k) FROM tt")[0][0]; got != "1" {
		t.Errorf("restore --time %s: tt holds %q, want 1", at, got)
	}
}
