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
	c := pgtest.Start(t, pgtest.Options{ExtraConf: restoreConf})
	c.Pgbench(t, "-i", "-s", "1", "-q")
	c.Exec(t, "CREATE TABLE quiet (k int PRIMARY KEY, v text); CREATE TABLE prep (k int); CREATE TABLE inflight (k int); CREATE TABLE mx (k int PRIMARY KEY, v text); INSERT INTO mx VALUES (1, 'a'), (2, 'b')")
	c.Exec(t, "CREATE UNLOGGED TABLE ul (k int PRIMARY KEY, v text); INSERT INTO ul SELECT g, md5(g::text) FROM generate_series(1, 1000) g")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	conn := func() *pgx.Conn {
		cn, err := c.Connect(ctx, "postgres")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cn.Close(context.Background()) })
		return cn
	}
	// Prepared before pagemill's base backup: a state file in it.
	before := conn()
	mustExec(t, ctx, before, "BEGIN; INSERT INTO prep VALUES (1); PREPARE TRANSACTION 'p_before'")
	c.Checkpoint(t)

	p := pipetest.Start(t, c, pipetest.Options{Shards: 3})
	b := restore.New(p.Mat, p.Handles, prometheus.NewRegistry(), pipetest.Logger(t))
	started := time.Now()
	c.Pgbench(t, "-T", "2", "-c", "2")

	// Prepared after it; a multixact; a transaction in flight.
	after := conn()
	mustExec(t, ctx, after, "BEGIN; INSERT INTO prep VALUES (2); PREPARE TRANSACTION 'p_after'")
	s1, s2 := conn(), conn()
	mustExec(t, ctx, s1, "BEGIN; SELECT * FROM mx WHERE k = 1 FOR SHARE")
	mustExec(t, ctx, s2, "BEGIN; SELECT * FROM mx WHERE k = 1 FOR SHARE")
	mustExec(t, ctx, s1, "COMMIT")
	mustExec(t, ctx, s2, "COMMIT")
	multi := c.Query(t, "SELECT xmax FROM mx WHERE k = 1")[0][0]
	members := c.Query(t, fmt.Sprintf("SELECT xid, mode FROM pg_get_multixact_members('%s')", multi))
	if len(members) != 2 {
		t.Fatalf("multixact %s on the source: members %v", multi, members)
	}
	fly := conn()
	mustExec(t, ctx, fly, "BEGIN")
	flyXid := queryOne(t, ctx, fly, "SELECT txid_current()::text")
	mustExec(t, ctx, fly, "INSERT INTO inflight SELECT g FROM generate_series(1, 500) g")
	c.Exec(t, "INSERT INTO quiet VALUES (0, 'at L')")
	lsnL, err := schema.ParseLSN(c.Query(t, "SELECT pg_current_wal_lsn()")[0][0])
	if err != nil {
		t.Fatal(err)
	}
	srcNext := c.Query(t, "SELECT next_oid FROM pg_control_checkpoint()")[0][0]
	mustExec(t, ctx, fly, "COMMIT")
	mustExec(t, ctx, after, "COMMIT PREPARED 'p_after'")

	// Instants under load: quiet changes, then the time, then its contents.
	type instant struct {
		at  time.Time
		sum string
	}
	var instants []instant
	load := pgbenchAsync(ctx, c, "-T", "4", "-c", "2", "-n")
	for i := 1; i <= 3; i++ {
		time.Sleep(700 * time.Millisecond)
		c.Exec(t, fmt.Sprintf("INSERT INTO quiet SELECT g, md5(g::text) FROM generate_series(%d, %d) g", i*100, i*100+50))
		c.Exec(t, fmt.Sprintf("UPDATE quiet SET v = v || '%d' WHERE k %% 3 = %d", i, i%3))
		row := c.Query(t, "SELECT clock_timestamp()::text, md5(string_agg(x::text, ',' ORDER BY k)) FROM quiet x")[0]
		at, err := cli.ParseRestoreTime(row[0])
		if err != nil {
			t.Fatal(err)
		}
		instants = append(instants, instant{at, row[1]})
		time.Sleep(50 * time.Millisecond)
	}
	if err := <-load; err != nil {
		t.Fatalf("pgbench: %v", err)
	}
	// A quiet instant: every pgbench table.
	time.Sleep(300 * time.Millisecond)
	quietAt, err := cli.ParseRestoreTime(c.Query(t, "SELECT clock_timestamp()::text")[0][0])
	if err != nil {
		t.Fatal(err)
	}
	sums := map[string]string{}
	for _, tb := range []string{"pgbench_accounts", "pgbench_branches", "pgbench_tellers", "pgbench_history", "quiet"} {
		sums[tb] = tableSum(t, c, tb)
	}
	time.Sleep(300 * time.Millisecond)
	c.Pgbench(t, "-T", "1", "-c", "2", "-n")
	c.Exec(t, "DELETE FROM quiet")
	end := p.CatchUp(t, c)

	t.Run("at an LSN", func(t *testing.T) {
		r := restoreNoReplay(t, ctx, b, lsnL)
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
		got := r.Query(t, fmt.Sprintf("SELECT xid, mode FROM pg_get_multixact_members('%s')", multi))
		if fmt.Sprint(got) != fmt.Sprint(members) {
			t.Errorf("multixact %s after the restore: members %v, the source had %v", multi, got, members)
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
			t.Errorf("after 20 new transactions, %s rows of the in-flight transaction %s are visible: its xid was reused", n, flyXid)
		}
		next, _ := strconv.ParseUint(r.Query(t, "SELECT txid_current()::text")[0][0], 10, 64)
		if fx, _ := strconv.ParseUint(flyXid, 10, 64); next <= fx {
			t.Errorf("next xid after the restore %d, the in-flight transaction had %d", next, fx)
		}
		if oid := r.Query(t, "SELECT next_oid FROM pg_control_checkpoint()")[0][0]; oidLess(oid, srcNext) {
			t.Errorf("next OID after the restore %s, below the source's %s at its last checkpoint", oid, srcNext)
		}
		r.Exec(t, "COMMIT PREPARED 'p_after'")
		r.Exec(t, "ROLLBACK PREPARED 'p_before'")
		if got := r.Query(t, "SELECT string_agg(k::text, ',' ORDER BY k) FROM prep")[0][0]; got != "2" {
			t.Errorf("prep after committing p_after and rolling back p_before: %q", got)
		}
		amcheck(t, r)
	})

	t.Run("by time", func(t *testing.T) {
		for i, in := range instants {
			lsn, commit, err := b.LSNAt(in.at)
			if err != nil {
				t.Fatalf("instant %d (%s): %v", i, in.at, err)
			}
			if commit.After(in.at) {
				t.Errorf("instant %d (%s): LSN %s has commit time %s, after it", i, in.at, lsn, commit)
			}
			if tm, at, err := p.Mat.TimeAt(lsn); err != nil || !tm.Equal(commit) || at != lsn {
				t.Errorf("TimeAt(%s) = %s, %s, %v; LSNAt gave commit time %s", lsn, tm, at, err, commit)
			}
			r := restoreNoReplay(t, ctx, b, lsn)
			if got := r.Query(t, "SELECT md5(string_agg(x::text, ',' ORDER BY k)) FROM quiet x")[0][0]; got != in.sum {
				t.Errorf("instant %d (%s, LSN %s): quiet's checksum %s, the source had %s", i, in.at, lsn, got, in.sum)
			}
			if err := r.Close(); err != nil {
				t.Fatal(err)
			}
		}
		lsn, _, err := b.LSNAt(quietAt)
		if err != nil {
			t.Fatal(err)
		}
		r := restoreNoReplay(t, ctx, b, lsn)
		for tb, want := range sums {
			if got := tableSum(t, r, tb); got != want {
				t.Errorf("%s at %s (LSN %s): checksum %s, the source had %s", tb, quietAt, lsn, got, want)
			}
		}
		amcheck(t, r)
	})

	t.Run("bad requests", func(t *testing.T) {
		_, baseEnd, _ := p.Mat.Base()
		scratch := t.TempDir()
		fresh := func(name string) string { return filepath.Join(scratch, name) }
		for _, c := range []struct {
			name string
			lsn  schema.LSN
			want string
		}{
			{"below the base backup", baseEnd - 1, "below the retention horizon"},
			{"past the applied LSN", end + 1<<30, "past the applied LSN"},
		} {
			dir := fresh(strings.ReplaceAll(c.name, " ", "_"))
			_, _, err := b.DirAt(ctx, c.lsn, dir, 2*time.Second, nil)
			if !errors.Is(err, restore.ErrNotRestorable) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("%s (%s): %v, want ErrNotRestorable saying %q", c.name, c.lsn, err, c.want)
			}
			if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("%s: the target directory was created (%v)", c.name, err)
			}
		}
		for _, at := range []time.Time{started.Add(-time.Hour), time.Now().Add(time.Hour)} {
			_, _, err := b.LSNAt(at)
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
		if _, _, err := b.DirAt(ctx, end, busy, time.Minute, nil); err == nil || !strings.Contains(err.Error(), "not empty") {
			t.Errorf("a directory that is not empty: %v", err)
		}
		if ents, _ := os.ReadDir(busy); len(ents) != 1 {
			t.Errorf("the directory that was not empty now has %d entries", len(ents))
		}
	})

	// Last: it makes the index look as if it started after L.
	t.Run("replay fallback", func(t *testing.T) {
		w := p.Store.NewWriter()
		w.SetXactIndex(pagestore.XactIndexInfo{Version: pagestore.XactIndexVersion, From: lsnL + 1})
		if err := w.Commit(); err != nil {
			t.Fatal(err)
		}
		var st *restore.Stats
		r := pgtest.Start(t, pgtest.Options{ExtraConf: restoreConf, Fill: func(dir string) error {
			var err error
			_, st, err = b.DirAt(ctx, lsnL, dir, time.Minute, nil)
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
	})
}

// oidLess compares two OIDs printed in decimal.
func oidLess(a, b string) bool {
	x, _ := strconv.ParseUint(a, 10, 32)
	y, _ := strconv.ParseUint(b, 10, 32)
	return x < y
}
