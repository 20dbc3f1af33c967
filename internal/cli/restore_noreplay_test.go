package cli_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/pagemill/pagemill/internal/cli"
	"github.com/pagemill/pagemill/internal/pgtest"
	"github.com/pagemill/pagemill/internal/pipetest"
	"github.com/pagemill/pagemill/redo/materialize"
	"github.com/pagemill/pagemill/redo/pagestore"
	"github.com/pagemill/pagemill/restore"
	"github.com/pagemill/pagemill/schema"
)

// restoreConf is the source's and the restored clusters' extra settings.
var restoreConf = map[string]string{"max_prepared_transactions": "10"}

// restoreNoReplay writes the data directory at lsn with b into a new
// cluster and starts it; the directory must need no replay and the
// server's log must show none.
func restoreNoReplay(t *testing.T, ctx context.Context, b *restore.Backup, lsn schema.LSN) *pgtest.Cluster {
	t.Helper()
	var st *restore.Stats
	r := pgtest.Start(t, pgtest.Options{ExtraConf: restoreConf, Fill: func(dir string) error {
		var err error
		_, st, err = b.DirAt(ctx, lsn, dir, time.Minute, nil)
		if err != nil {
			return err
		}
		_, err = restore.CheckDataDir(dir)
		return err
	}})
	if st.Mode != restore.NoReplay {
		t.Errorf("restore at %s: mode %s", lsn, st.Mode)
	}
	checkNoReplayLog(t, r, lsn)
	return r
}

func mustExec(t *testing.T, ctx context.Context, conn *pgx.Conn, sql string) {
	t.Helper()
	if _, err := conn.Exec(ctx, sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func queryOne(t *testing.T, ctx context.Context, conn *pgx.Conn, sql string) string {
	t.Helper()
	var s string
	if err := conn.QueryRow(ctx, sql).Scan(&s); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return s
}

// TestRestoreNoReplay: data directories written without WAL to replay, on
// a source that pagemill follows in this process. At an LSN L: a
// transaction in flight at L is absent (and its xid never reused: new
// transactions after the restore do not make its rows visible); the
// transactions prepared at L, one before pagemill's base backup and one
// after, are still prepared and can be committed; a multixact made by
// SELECT … FOR SHARE from two sessions before L survives
// (pg_get_multixact_members); an unlogged table is empty and usable. By
// time: at instants taken while pgbench runs, the contents of a table
// only the test writes match what it held at that instant, and at an
// instant with the load stopped every pgbench table's checksum matches.
// Bad requests (an LSN below the base backup or past the applied LSN,
// times outside the window, a target directory that is not empty) fail
// with errors naming what is wrong and change nothing.
func TestRestoreNoReplay(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	nr := startNoReplaySource(t, ctx)
	nr.stateAtL()
	nr.instantsUnderLoad()
	nr.end = nr.p.CatchUp(t, nr.c)

	t.Run("at an LSN", nr.atAnLSN)
	t.Run("by time", nr.byTime)
	t.Run("bad requests", nr.badRequests)
	// Last: it makes the index look as if it started after L.
	t.Run("replay fallback", nr.replayFallback)
}

// noReplayRun is TestRestoreNoReplay's source, pipeline and restorer,
// and what the source held at the LSN L and the instants the restores
// are checked at.
type noReplayRun struct {
	t       *testing.T
	c       *pgtest.Cluster
	ctx     context.Context
	p       *pipetest.Pipeline
	b       *restore.Backup
	started time.Time

	multi   string     // the multixact on mx
	members [][]string // its members on the source
	flyXid  string     // the transaction in flight at L
	lsnL    schema.LSN
	srcNext string // the source's next OID at its last checkpoint

	instants []noReplayInstant
	quietAt  time.Time         // an instant without load
	sums     map[string]string // each table's checksum at quietAt
	end      schema.LSN
}

// noReplayInstant is an instant under load and quiet's checksum then.
type noReplayInstant struct {
	at  time.Time
	sum string
}

// conn opens a connection to the source, closed when the test ends.
func (nr *noReplayRun) conn() *pgx.Conn {
	cn, err := nr.c.Connect(nr.ctx, "postgres")
	if err != nil {
		nr.t.Fatal(err)
	}
	nr.t.Cleanup(func() { cn.Close(context.Background()) })
	return cn
}

// startNoReplaySource starts the source with a transaction prepared
// before pagemill's base backup, then the pipeline and the restorer.
func startNoReplaySource(t *testing.T, ctx context.Context) *noReplayRun {
	c := pgtest.Start(t, pgtest.Options{ExtraConf: restoreConf})
	c.Pgbench(t, "-i", "-s", "1", "-q")
	c.Exec(t, "CREATE TABLE quiet (k int PRIMARY KEY, v text); CREATE TABLE prep (k int); CREATE TABLE inflight (k int); CREATE TABLE mx (k int PRIMARY KEY, v text); INSERT INTO mx VALUES (1, 'a'), (2, 'b')")
	c.Exec(t, "CREATE UNLOGGED TABLE ul (k int PRIMARY KEY, v text); INSERT INTO ul SELECT g, md5(g::text) FROM generate_series(1, 1000) g")
	nr := &noReplayRun{t: t, c: c, ctx: ctx}
	// Prepared before pagemill's base backup: a state file in it.
	before := nr.conn()
	mustExec(t, ctx, before, "BEGIN; INSERT INTO prep VALUES (1); PREPARE TRANSACTION 'p_before'")
	c.Checkpoint(t)

	nr.p = pipetest.Start(t, c, pipetest.Options{Shards: 3})
	nr.b = restore.New(nr.p.Mat, nr.p.Handles, prometheus.NewRegistry(), pipetest.Logger(t))
	nr.started = time.Now()
	c.Pgbench(t, "-T", "2", "-c", "2")
	return nr
}

// stateAtL leaves, at the LSN L: a transaction prepared after the base
// backup, a multixact, a transaction in flight.
func (nr *noReplayRun) stateAtL() {
	var err error
	after := nr.conn()
	mustExec(nr.t, nr.ctx, after, "BEGIN; INSERT INTO prep VALUES (2); PREPARE TRANSACTION 'p_after'")
	s1, s2 := nr.conn(), nr.conn()
	mustExec(nr.t, nr.ctx, s1, "BEGIN; SELECT * FROM mx WHERE k = 1 FOR SHARE")
	mustExec(nr.t, nr.ctx, s2, "BEGIN; SELECT * FROM mx WHERE k = 1 FOR SHARE")
	mustExec(nr.t, nr.ctx, s1, "COMMIT")
	mustExec(nr.t, nr.ctx, s2, "COMMIT")
	nr.multi = nr.c.Query(nr.t, "SELECT xmax FROM mx WHERE k = 1")[0][0]
	nr.members = nr.c.Query(nr.t, fmt.Sprintf("SELECT xid, mode FROM pg_get_multixact_members('%s')", nr.multi))
	if len(nr.members) != 2 {
		nr.t.Fatalf("multixact %s on the source: members %v", nr.multi, nr.members)
	}
	fly := nr.conn()
	mustExec(nr.t, nr.ctx, fly, "BEGIN")
	nr.flyXid = queryOne(nr.t, nr.ctx, fly, "SELECT txid_current()::text")
	mustExec(nr.t, nr.ctx, fly, "INSERT INTO inflight SELECT g FROM generate_series(1, 500) g")
	nr.c.Exec(nr.t, "INSERT INTO quiet VALUES (0, 'at L')")
	nr.lsnL, err = schema.ParseLSN(nr.c.Query(nr.t, "SELECT pg_current_wal_lsn()")[0][0])
	if err != nil {
		nr.t.Fatal(err)
	}
	nr.srcNext = nr.c.Query(nr.t, "SELECT next_oid FROM pg_control_checkpoint()")[0][0]
	mustExec(nr.t, nr.ctx, fly, "COMMIT")
	mustExec(nr.t, nr.ctx, after, "COMMIT PREPARED 'p_after'")
}

// instantsUnderLoad records instants under load: quiet changes, then the
// time, then its contents; then a quiet instant with every pgbench
// table's checksum.
func (nr *noReplayRun) instantsUnderLoad() {
	load := pgbenchAsync(nr.ctx, nr.c, "-T", "4", "-c", "2", "-n")
	for i := 1; i <= 3; i++ {
		time.Sleep(700 * time.Millisecond)
		nr.c.Exec(nr.t, fmt.Sprintf("INSERT INTO quiet SELECT g, md5(g::text) FROM generate_series(%d, %d) g", i*100, i*100+50))
		nr.c.Exec(nr.t, fmt.Sprintf("UPDATE quiet SET v = v || '%d' WHERE k %% 3 = %d", i, i%3))
		row := nr.c.Query(nr.t, "SELECT clock_timestamp()::text, md5(string_agg(x::text, ',' ORDER BY k)) FROM quiet x")[0]
		at, err := cli.ParseRestoreTime(row[0])
		if err != nil {
			nr.t.Fatal(err)
		}
		nr.instants = append(nr.instants, noReplayInstant{at, row[1]})
		time.Sleep(50 * time.Millisecond)
	}
	if err := <-load; err != nil {
		nr.t.Fatalf("pgbench: %v", err)
	}
	// A quiet instant: every pgbench table.
	time.Sleep(300 * time.Millisecond)
	var err error
	nr.quietAt, err = cli.ParseRestoreTime(nr.c.Query(nr.t, "SELECT clock_timestamp()::text")[0][0])
	if err != nil {
		nr.t.Fatal(err)
	}
	nr.sums = map[string]string{}
	for _, tb := range []string{"pgbench_accounts", "pgbench_branches", "pgbench_tellers", "pgbench_history", "quiet"} {
		nr.sums[tb] = tableSum(nr.t, nr.c, tb)
	}
	time.Sleep(300 * time.Millisecond)
	nr.c.Pgbench(nr.t, "-T", "1", "-c", "2", "-n")
	nr.c.Exec(nr.t, "DELETE FROM quiet")
}

func (nr *noReplayRun) atAnLSN(t *testing.T) {
	r := restoreNoReplay(t, nr.ctx, nr.b, nr.lsnL)
	if n := r.Query(t, "SELECT count(*) FROM inflight")[0][0]; n != "0" {
		t.Errorf("a transaction in flight at L: %s of its rows after the restore", n)
	}
	if got := r.Query(t, "SELECT v FROM quiet WHERE k = 0"); len(got) != 1 {
		t.Errorf("the last commit before L: %v", got)
	}
	gids := r.Query(t, "SELECT string_agg(gid, ',' ORDER BY gid) FROM pg_prepared_xacts")[0][0]
	if gids != "p_after,p_before" {
		t.Errorf("prepared transactions after the restore: %q, want p_after,p_before", gids)
	}
	got := r.Query(t, fmt.Sprintf("SELECT xid, mode FROM pg_get_multixact_members('%s')", nr.multi))
	if fmt.Sprint(got) != fmt.Sprint(nr.members) {
		t.Errorf("multixact %s after the restore: members %v, the source had %v", nr.multi, got, nr.members)
	}
	r.Exec(t, "SELECT * FROM mx WHERE k = 1 FOR UPDATE")
	if n := r.Query(t, "SELECT count(*) FROM ul")[0][0]; n != "0" {
		t.Errorf("unlogged table after the restore: %s rows", n)
	}
	r.Exec(t, "INSERT INTO ul SELECT g, 'x' FROM generate_series(1, 100) g")
	if n := r.Query(t, "SELECT count(*) FROM ul WHERE k = 50")[0][0]; n != "1" {
		t.Errorf("unlogged table's index after inserts: %s rows for one key", n)
	}
	// New transactions never reuse the in-flight one's xid.
	for i := 0; i < 20; i++ {
		r.Exec(t, fmt.Sprintf("INSERT INTO quiet VALUES (%d, 'new')", 100000+i))
	}
	if n := r.Query(t, "SELECT count(*) FROM inflight")[0][0]; n != "0" {
		t.Errorf("after 20 new transactions, %s rows of the in-flight transaction %s are visible: its xid was reused", n, nr.flyXid)
	}
	next, _ := strconv.ParseUint(r.Query(t, "SELECT txid_current()::text")[0][0], 10, 64)
	if fx, _ := strconv.ParseUint(nr.flyXid, 10, 64); next <= fx {
		t.Errorf("next xid after the restore %d, the in-flight transaction had %d", next, fx)
	}
	if oid := r.Query(t, "SELECT next_oid FROM pg_control_checkpoint()")[0][0]; oidLess(oid, nr.srcNext) {
		t.Errorf("next OID after the restore %s, below the source's %s at its last checkpoint", oid, nr.srcNext)
	}
	r.Exec(t, "COMMIT PREPARED 'p_after'")
	r.Exec(t, "ROLLBACK PREPARED 'p_before'")
	if got := r.Query(t, "SELECT string_agg(k::text, ',' ORDER BY k) FROM prep")[0][0]; got != "2" {
		t.Errorf("prep after committing p_after and rolling back p_before: %q", got)
	}
	r.Exec(t, "VACUUM (FREEZE, ANALYZE)")
	amcheck(t, r)
	standbyFollows(t, nr.ctx, r)
}

// standbyFollows clones a streaming standby from the restored server r
// (pg_basebackup -R) and checks that it replays a table r creates after:
// the restored cluster is a valid new primary.
func standbyFollows(t *testing.T, ctx context.Context, r *pgtest.Cluster) {
	t.Helper()
	sb := pgtest.Start(t, pgtest.Options{ExtraConf: restoreConf, Fill: func(dir string) error {
		_, err := r.RunBin(ctx, "pg_basebackup", "-D", dir, "-R", "-X", "stream", "-c", "fast")
		return err
	}})
	if got := sb.Query(t, "SELECT pg_is_in_recovery()")[0][0]; got != "t" {
		t.Fatalf("the clone of the restored server is not a standby: pg_is_in_recovery %s", got)
	}
	r.Exec(t, "CREATE TABLE after_clone AS SELECT g AS k FROM generate_series(1, 10) g")
	deadline := time.Now().Add(30 * time.Second)
	for {
		if n := sb.Query(t, "SELECT count(*) FROM pg_class WHERE relname = 'after_clone'")[0][0]; n == "1" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the standby cloned from the restored server did not replay a table created after the clone in 30 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if n := sb.Query(t, "SELECT count(*) FROM after_clone")[0][0]; n != "10" {
		t.Errorf("the standby sees %s rows of after_clone, want 10", n)
	}
}

func (nr *noReplayRun) byTime(t *testing.T) {
	for i, in := range nr.instants {
		lsn, commit, err := nr.b.LSNAt(in.at)
		if err != nil {
			t.Fatalf("instant %d (%s): %v", i, in.at, err)
		}
		if commit.After(in.at) {
			t.Errorf("instant %d (%s): LSN %s has commit time %s, after it", i, in.at, lsn, commit)
		}
		if tm, at, err := nr.p.Mat.TimeAt(lsn); err != nil || !tm.Equal(commit) || at != lsn {
			t.Errorf("TimeAt(%s) = %s, %s, %v; LSNAt gave commit time %s", lsn, tm, at, err, commit)
		}
		r := restoreNoReplay(t, nr.ctx, nr.b, lsn)
		if got := r.Query(t, "SELECT md5(string_agg(x::text, ',' ORDER BY k)) FROM quiet x")[0][0]; got != in.sum {
			t.Errorf("instant %d (%s, LSN %s): quiet's checksum %s, the source had %s", i, in.at, lsn, got, in.sum)
		}
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
	}
	lsn, _, err := nr.b.LSNAt(nr.quietAt)
	if err != nil {
		t.Fatal(err)
	}
	r := restoreNoReplay(t, nr.ctx, nr.b, lsn)
	for tb, want := range nr.sums {
		if got := tableSum(t, r, tb); got != want {
			t.Errorf("%s at %s (LSN %s): checksum %s, the source had %s", tb, nr.quietAt, lsn, got, want)
		}
	}
	amcheck(t, r)
}

func (nr *noReplayRun) badRequests(t *testing.T) {
	_, baseEnd, _ := nr.p.Mat.Base()
	scratch := t.TempDir()
	fresh := func(name string) string { return filepath.Join(scratch, name) }
	for _, c := range []struct {
		name string
		lsn  schema.LSN
		want string
	}{
		{"below the base backup", baseEnd - 1, "below the retention horizon"},
		{"past the applied LSN", nr.end + 1<<30, "past the applied LSN"},
	} {
		dir := fresh(strings.ReplaceAll(c.name, " ", "_"))
		_, _, err := nr.b.DirAt(nr.ctx, c.lsn, dir, 2*time.Second, nil)
		if !errors.Is(err, restore.ErrNotRestorable) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s (%s): %v, want ErrNotRestorable saying %q", c.name, c.lsn, err, c.want)
		}
		if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: the target directory was created (%v)", c.name, err)
		}
	}
	for _, at := range []time.Time{nr.started.Add(-time.Hour), time.Now().Add(time.Hour)} {
		_, _, err := nr.b.LSNAt(at)
		var we *materialize.TimeWindowError
		if !errors.Is(err, restore.ErrNotRestorable) || !errors.As(err, &we) || we.Window.From.IsZero() || !strings.Contains(err.Error(), "outside the retention window [") {
			t.Errorf("time %s: %v, want a window error naming the window", at, err)
		}
	}
	busy := fresh("busy")
	if err := os.MkdirAll(busy, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(busy, "keep"), []byte("mine"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := nr.b.DirAt(nr.ctx, nr.end, busy, time.Minute, nil); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Errorf("a directory that is not empty: %v", err)
	}
	if ents, _ := os.ReadDir(busy); len(ents) != 1 {
		t.Errorf("the directory that was not empty now has %d entries", len(ents))
	}
}

func (nr *noReplayRun) replayFallback(t *testing.T) {
	w := nr.p.Store.NewWriter()
	w.SetXactIndex(pagestore.XactIndexInfo{Version: pagestore.XactIndexVersion, From: nr.lsnL + 1})
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	var st *restore.Stats
	r := pgtest.Start(t, pgtest.Options{ExtraConf: restoreConf, Fill: func(dir string) error {
		var err error
		_, st, err = nr.b.DirAt(nr.ctx, nr.lsnL, dir, time.Minute, nil)
		return err
	}})
	if st.Mode != restore.Replay {
		t.Errorf("with the index starting after L: mode %s", st.Mode)
	}
	if log, _ := os.ReadFile(r.LogFile()); !strings.Contains(string(log), "redo starts") {
		t.Errorf("the server's log shows no redo:\n%s", log)
	}
	if n := r.Query(t, "SELECT count(*) FROM inflight")[0][0]; n != "0" {
		t.Errorf("a transaction in flight at L: %s of its rows after the restore", n)
	}
	if got := r.Query(t, "SELECT v FROM quiet WHERE k = 0"); len(got) != 1 {
		t.Errorf("the last commit before L: %v", got)
	}
	amcheck(t, r)
}

// oidLess compares two OIDs printed in decimal.
func oidLess(a, b string) bool {
	x, _ := strconv.ParseUint(a, 10, 32)
	y, _ := strconv.ParseUint(b, 10, 32)
	return x < y
}
