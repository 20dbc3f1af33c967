package cli_test

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/pagemill/pagemill/internal/cli"
	"github.com/pagemill/pagemill/internal/pgtest"
	"github.com/pagemill/pagemill/internal/pipetest"
	"github.com/pagemill/pagemill/schema"
)

var pgbenchTables = []string{"pgbench_accounts", "pgbench_branches", "pgbench_tellers", "pgbench_history", "tst"}

// restoreAt runs `pagemill restore` at lsn into a new scratch cluster's
// data directory and starts PostgreSQL on it.
func restoreAt(t *testing.T, ctx context.Context, addr string, lsn schema.LSN) *pgtest.Cluster {
	t.Helper()
	r, _ := restoreAtOut(t, ctx, addr, lsn)
	return r
}

// restoreAtOut is restoreAt, also returning what pagemill restore printed.
func restoreAtOut(t *testing.T, ctx context.Context, addr string, lsn schema.LSN) (*pgtest.Cluster, string) {
	t.Helper()
	var out, errOut pipetest.SyncBuffer
	r := pgtest.Start(t, pgtest.Options{Fill: func(dir string) error {
		code := cli.Restore(ctx, cli.Env{Stdout: &out, Stderr: &errOut}, []string{"--from", addr, "--lsn", lsn.String(), "--to", dir})
		t.Logf("pagemill restore --lsn %s: %s%s", lsn, out.String(), errOut.String())
		if code != 0 {
			return fmt.Errorf("pagemill restore exited %d: %s", code, errOut.String())
		}
		return nil
	}})
	return r, out.String()
}

// restoreNoReplayAt is restoreAt for a directory that must start without
// WAL replay: pagemill restore says so, and the server's log shows no
// recovery.
func restoreNoReplayAt(t *testing.T, ctx context.Context, addr string, lsn schema.LSN) *pgtest.Cluster {
	t.Helper()
	r, out := restoreAtOut(t, ctx, addr, lsn)
	if !strings.Contains(out, "PostgreSQL starts without WAL replay") {
		t.Errorf("restore at %s is not a clean shutdown:\n%s", lsn, out)
	}
	checkNoReplayLog(t, r, lsn)
	return r
}

// TestRestorePointInTime: pgbench runs, stops; the source's LSN and a
// checksum of every table are recorded; more load runs and
// pgbench_history is dropped. A restore at the recorded LSN (through
// `pagemill restore`, the tar over pgwire) starts as a primary without
// WAL replay, every checksum matches, the dropped table is back, and
// pg_amcheck --heapallindexed finds nothing. Then the same for a dozen
// LSNs taken while pgbench runs, each with the checksum of a table only
// the test writes, recorded right after its change committed.
func TestRestorePointInTime(t *testing.T) {
	c := pgtest.Start(t, pgtest.Options{})
	c.Pgbench(t, "-i", "-s", "1", "-q")
	c.Exec(t, "CREATE TABLE quiet (k int PRIMARY KEY, v text)")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p, pgAddr := startRun(t, ctx, c, t.TempDir(), 4, "pm_restore")
	c.Pgbench(t, "-T", "3", "-c", "2")
	createDatabasesAndTablespace(t, ctx, c)

	lsn1 := mustLSN(t, c.Query(t, "SELECT pg_current_wal_lsn()")[0][0])
	sums := map[string]string{}
	for _, tb := range pgbenchTables {
		sums[tb] = tableSum(t, c, tb)
	}

	// More load, during which a dozen LSNs are recorded; then the drop.
	points := recordQuietPoints(t, ctx, c)
	c.Exec(t, "DROP TABLE pgbench_history")
	c.Exec(t, "DROP DATABASE filecopy")
	end := mustLSN(t, c.Query(t, "SELECT pg_current_wal_lsn()")[0][0])
	waitApplied(t, ctx, p, pgAddr, end)
	checkStatusIsSourceCheckpoint(t, ctx, c, pgAddr)
	checkPsqlBasebackup(t, ctx, c, pgAddr, lsn1)
	checkRestoreAtLSN1(t, ctx, pgAddr, lsn1, sums)

	for i, pt := range points {
		r := restoreNoReplayAt(t, ctx, pgAddr, pt.lsn)
		got := r.Query(t, "SELECT md5(string_agg(x::text, ',' ORDER BY k)) FROM quiet x")[0][0]
		if got != pt.sum {
			t.Errorf("point %d at %s: quiet's checksum %s, the source had %s", i, pt.lsn, got, pt.sum)
		}
		if i == len(points)-1 {
			amcheck(t, r)
		}
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// createDatabasesAndTablespace creates, after the base backup, databases
// with both strategies, with a table each (one is dropped after the
// recorded LSN), and a tablespace (in place, as a test has no second file
// system) with a table and a database in it.
func createDatabasesAndTablespace(t *testing.T, ctx context.Context, c *pgtest.Cluster) {
	t.Helper()
	for _, db := range []string{"walcopy", "filecopy"} {
		strategy := map[string]string{"walcopy": "WAL_LOG", "filecopy": "FILE_COPY"}[db]
		c.Exec(t, fmt.Sprintf("CREATE DATABASE %s STRATEGY %s", db, strategy))
		dbExec(t, ctx, c, db, "CREATE TABLE t AS SELECT g AS k, md5(g::text) AS v FROM generate_series(1, 5000) g; CREATE INDEX ON t (v)")
	}
	// A tablespace created after the base backup (in place, as a test
	// has no second file system), a table and a database in it.
	func() {
		conn, err := c.Connect(ctx, "postgres")
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		for _, q := range []string{"SET allow_in_place_tablespaces = on", "CREATE TABLESPACE ts LOCATION ''",
			"CREATE TABLE tst TABLESPACE ts AS SELECT g AS k, md5(g::text) AS v FROM generate_series(1, 3000) g",
			"CREATE INDEX ON tst (v) TABLESPACE ts", "CREATE DATABASE tsdb TABLESPACE ts"} {
			if _, err := conn.Exec(ctx, q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
	}()
	dbExec(t, ctx, c, "tsdb", "CREATE TABLE t AS SELECT g AS k, md5(g::text) AS v FROM generate_series(1, 2000) g")
}

// quietPoint is an LSN and quiet's checksum at it.
type quietPoint struct {
	lsn schema.LSN
	sum string
}

// recordQuietPoints records a dozen LSNs with quiet's contents under
// pgbench load.
func recordQuietPoints(t *testing.T, ctx context.Context, c *pgtest.Cluster) []quietPoint {
	t.Helper()
	var points []quietPoint
	load := pgbenchAsync(ctx, c, "-T", "6", "-c", "2", "-n")
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 11))
	for i := 0; i < 12; i++ {
		time.Sleep(time.Duration(100+rng.IntN(300)) * time.Millisecond)
		c.Exec(t, fmt.Sprintf("INSERT INTO quiet SELECT g, md5(random()::text) FROM generate_series(%d, %d) g", i*100, i*100+99))
		c.Exec(t, fmt.Sprintf("UPDATE quiet SET v = v || '%d' WHERE k %% 7 = %d", i, i%7))
		// Nothing else writes quiet: its contents at this LSN are these.
		row := c.Query(t, "SELECT pg_current_wal_insert_lsn(), md5(string_agg(x::text, ',' ORDER BY k)) FROM quiet x")
		points = append(points, quietPoint{mustLSN(t, row[0][0]), row[0][1]})
		if i == 4 {
			// Later points restore from this checkpoint's redo point.
			c.Checkpoint(t)
		}
	}
	if err := <-load; err != nil {
		t.Fatalf("pgbench: %v", err)
	}
	return points
}

// checkStatusIsSourceCheckpoint checks that the control data pagemill
// tracks is the source's latest checkpoint.
func checkStatusIsSourceCheckpoint(t *testing.T, ctx context.Context, c *pgtest.Cluster, pgAddr string) {
	t.Helper()
	src := c.Query(t, "SELECT checkpoint_lsn, redo_lsn, next_xid, next_oid FROM pg_control_checkpoint()")[0]
	st, err := status(ctx, pgAddr)
	if err != nil {
		t.Fatal(err)
	}
	for i, k := range []string{"checkpoint_lsn", "checkpoint_redo_lsn", "next_xid", "next_oid"} {
		if st[k] != src[i] {
			t.Errorf("status %s = %q, the source's pg_control_checkpoint() says %q", k, st[k], src[i])
		}
	}
}

// checkPsqlBasebackup checks the basebackup command's COPY OUT data,
// which psql writes as is.
func checkPsqlBasebackup(t *testing.T, ctx context.Context, c *pgtest.Cluster, pgAddr string, lsn1 schema.LSN) {
	t.Helper()
	host, port, _ := strings.Cut(pgAddr, ":")
	out, err := c.RunBin(ctx, "psql", "-h", host, "-p", port, "-U", "x", "-Xqc", "basebackup "+lsn1.String())
	if err != nil {
		t.Fatalf("psql basebackup: %v", err)
	}
	names := map[string]bool{}
	tr := tar.NewReader(bytes.NewReader(out))
	for {
		hdr, err := tr.Next()
		if err != nil {
			if err != io.EOF {
				t.Fatalf("tar from psql (%d bytes): %v", len(out), err)
			}
			break
		}
		names[hdr.Name] = true
	}
	for _, want := range []string{"global/pg_control", "PG_VERSION", "pg_xact/0000", "global/pg_filenode.map"} {
		if !names[want] {
			t.Errorf("psql's basebackup tar (%d files) has no %s", len(names), want)
		}
	}
}

// checkRestoreAtLSN1 restores at lsn1 and checks the pgbench tables'
// checksums, the databases, and that the restored cluster is a primary.
func checkRestoreAtLSN1(t *testing.T, ctx context.Context, pgAddr string, lsn1 schema.LSN, sums map[string]string) {
	t.Helper()
	r := restoreNoReplayAt(t, ctx, pgAddr, lsn1)
	for _, tb := range pgbenchTables {
		if got := tableSum(t, r, tb); got != sums[tb] {
			t.Errorf("%s at %s: checksum %s, the source had %s", tb, lsn1, got, sums[tb])
		}
	}
	if n := r.Query(t, "SELECT count(*) FROM pgbench_history")[0][0]; n == "0" {
		t.Errorf("pgbench_history is back but empty")
	}
	for _, db := range []string{"walcopy", "filecopy", "tsdb"} {
		if got := dbQuery(t, ctx, r, db, "SELECT count(*), sum(length(v)) FROM t WHERE v > 'a'"); got == "" || strings.HasPrefix(got, "0 ") {
			t.Errorf("database %s after the restore: %q", db, got)
		}
	}
	// A primary: it takes writes.
	r.Exec(t, "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (1, 1, 1, 1, now())")
	amcheck(t, r)
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
}

func dbExec(t *testing.T, ctx context.Context, c *pgtest.Cluster, db, sql string) {
	t.Helper()
	conn, err := c.Connect(ctx, db)
	if err != nil {
		t.Fatalf("connect to %s: %v", db, err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql); err != nil {
		t.Fatalf("%s: %s: %v", db, sql, err)
	}
}

func dbQuery(t *testing.T, ctx context.Context, c *pgtest.Cluster, db, sql string) string {
	t.Helper()
	conn, err := c.Connect(ctx, db)
	if err != nil {
		t.Errorf("connect to %s: %v", db, err)
		return ""
	}
	defer conn.Close(ctx)
	var a, b int64
	if err := conn.QueryRow(ctx, sql).Scan(&a, &b); err != nil {
		t.Errorf("%s: %s: %v", db, sql, err)
		return ""
	}
	return fmt.Sprintf("%d %d", a, b)
}

// TestRestoreRequests: requests `pagemill restore` refuses before
// writing anything (both --lsn and --time, a time without a zone, a target
// that is not empty, a server that is not there), each with an error
// saying what was wrong, the target left as it was; times in the forms
// --time accepts.
func TestRestoreRequests(t *testing.T) {
	busy := t.TempDir()
	if err := os.WriteFile(busy+"/keep", []byte("mine"), 0o600); err != nil {
		t.Fatal(err)
	}
	fresh := t.TempDir() + "/new"
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--lsn", "0/1", "--time", "2026-12-06 14:03:00+00", "--to", fresh}, 2, "exclude each other"},
		{[]string{"--time", "2026-12-06 14:03:00", "--to", fresh}, 2, "not a time with a zone"},
		{[]string{"--lsn", "zero", "--to", fresh}, 2, "not an LSN"},
		{[]string{"--lsn", "0/1", "--to", busy}, 2, "is not empty"},
		{[]string{"--from", "127.0.0.1:1", "--lsn", "0/1", "--to", fresh}, 1, "connect to 127.0.0.1:1"},
	} {
		var out, errOut pipetest.SyncBuffer
		code := cli.Restore(t.Context(), cli.Env{Stdout: &out, Stderr: &errOut}, c.args)
		if code != c.code || !strings.Contains(errOut.String(), c.want) {
			t.Errorf("restore %v: exit %d, %q; want exit %d saying %q", c.args, code, errOut.String(), c.code, c.want)
		}
	}
	if _, err := os.Stat(fresh); !os.IsNotExist(err) {
		t.Errorf("the target was created: %v", err)
	}
	if ents, _ := os.ReadDir(busy); len(ents) != 1 {
		t.Errorf("the busy target has %d entries", len(ents))
	}
	want := time.Date(2026, 12, 6, 14, 3, 0, 0, time.UTC)
	for _, s := range []string{"2026-12-06 14:03:00+00", "2026-12-06 15:03:00+01", "2026-12-06T14:03:00Z", "2026-12-06 14:03:00.000+00:00", "2026-12-06 14:03:00 UTC"} {
		if got, err := cli.ParseRestoreTime(s); err != nil || !got.Equal(want) {
			t.Errorf("ParseRestoreTime(%q) = %s, %v", s, got, err)
		}
	}
}
