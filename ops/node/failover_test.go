package node_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pagemill/pagemill/internal/pgtest"
	"github.com/pagemill/pagemill/internal/pipetest"
	"github.com/pagemill/pagemill/redo/pagestore"
	"github.com/pagemill/pagemill/redo/rebuild"
	"github.com/pagemill/pagemill/restore"
	"github.com/pagemill/pagemill/schema"
	"github.com/pagemill/pagemill/streams"
)

// failoverConf: WAL kept for the standbys and the new primaries' walsenders
// (a slot is created on a new primary only when pagemill connects), hints
// logged for pg_rewind, no autovacuum so the data files compared hold still.
var failoverConf = map[string]string{"wal_keep_size": "512MB", "wal_log_hints": "on", "autovacuum": "off"}

// TestFollowFailover: pagemill follows a primary given with its
// asynchronous streaming standby (two hosts, target_session_attrs =
// read-write). The standby's replication is cut and the primary changes a
// row the standby never gets (an abandoned branch, which pagemill applies);
// the primary stops with -m immediate in the middle of pgbench and the
// standby is promoted; pagemill follows it by itself onto timeline 2.
// Then every page equals the new primary's, the page only the abandoned
// branch changed reads as the new timeline has it, and a restore at an
// LSN before the switch equals the old primary at that LSN. The old
// primary, rewound (pg_rewind) into a standby of the new one, is promoted
// in turn after another crash: pagemill follows onto timeline 3.
func TestFollowFailover(t *testing.T) {
	f := startFailover(t)
	f.beforeSwitch()
	f.abandonedBranch()
	f.failover(f.a, f.b, 2)
	f.compareAll(f.b)
	f.checkAbandonedGone()
	f.restoreBeforeSwitch()
	f.failBack()
	f.rebuildAcrossTimelines()
}

type failoverRun struct {
	t    *testing.T
	ctx  context.Context
	a, b *pgtest.Cluster // the first primary and its standby
	p    *pipetest.Pipeline
	back *restore.Backup

	lsnL   schema.LSN        // before the switch, the load stopped
	sumsL  map[string]string // the tables' checksums at lsnL
	marker schema.BufferTag  // the page the abandoned branch changed
	lsnE   schema.LSN        // pagemill applied the abandoned branch up to here
}

func startFailover(t *testing.T) *failoverRun {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	f := &failoverRun{t: t, ctx: ctx}
	f.a = pgtest.Start(t, pgtest.Options{ExtraConf: failoverConf})
	f.a.Pgbench(t, "-i", "-s", "1", "-q")
	f.a.Exec(t, "CREATE TABLE marker (id int PRIMARY KEY, v text); INSERT INTO marker VALUES (1, 'before the failover')")
	f.b = newStandby(t, ctx, f.a)
	f.p = pipetest.Start(t, f.a, pipetest.Options{Source: multiHost(f.a, f.b)})
	f.back = restore.New(f.p.Mat, f.p.Handles, prometheus.NewRegistry(), pipetest.Logger(t))
	f.marker = relBlock0(t, f.a, "marker")
	return f
}

// newStandby clones a streaming standby of primary (pg_basebackup -R).
func newStandby(t *testing.T, ctx context.Context, primary *pgtest.Cluster) *pgtest.Cluster {
	t.Helper()
	return pgtest.Start(t, pgtest.Options{ExtraConf: failoverConf, Fill: func(dir string) error {
		_, err := primary.RunBin(ctx, "pg_basebackup", "-D", dir, "-R", "-X", "stream", "-c", "fast")
		return err
	}})
}

// multiHost is a connection string naming every cluster, for the one that
// accepts writes.
func multiHost(cs ...*pgtest.Cluster) string {
	var hosts, ports []string
	for _, c := range cs {
		hosts = append(hosts, "127.0.0.1")
		ports = append(ports, strconv.Itoa(c.Port()))
	}
	return fmt.Sprintf("host=%s port=%s user=postgres dbname=postgres sslmode=disable target_session_attrs=read-write connect_timeout=5",
		strings.Join(hosts, ","), strings.Join(ports, ","))
}

// relBlock0 is block 0 of table's main fork.
func relBlock0(t *testing.T, c *pgtest.Cluster, table string) schema.BufferTag {
	t.Helper()
	f, err := c.RelationFileContext(context.Background(), table)
	if err != nil {
		t.Fatal(err)
	}
	return schema.BufferTag{Rel: schema.RelFileNode{SpcNode: f.SpcNode, DbNode: f.DbNode, RelNode: f.RelNode}, Fork: schema.MainForkNum}
}

// tableSums checksums the pgbench tables and marker.
func tableSums(t *testing.T, c *pgtest.Cluster) map[string]string {
	t.Helper()
	sums := map[string]string{}
	for _, tb := range []string{"pgbench_accounts", "pgbench_branches", "pgbench_tellers", "pgbench_history", "marker"} {
		sums[tb] = c.Query(t, fmt.Sprintf("SELECT count(*) || ':' || coalesce(md5(string_agg(x::text, ',' ORDER BY x::text)), '') FROM %s x", tb))[0][0]
	}
	return sums
}

// beforeSwitch: a quiet point on timeline 1, its LSN and checksums.
func (f *failoverRun) beforeSwitch() {
	f.a.Pgbench(f.t, "-T", "2", "-c", "4")
	f.lsnL = f.p.CatchUp(f.t, f.a)
	f.sumsL = tableSums(f.t, f.a)
}

// abandonedBranch cuts the standby off and changes marker on the primary
// only; pagemill applies it.
func (f *failoverRun) abandonedBranch() {
	t := f.t
	waitReplayed(t, f.a, f.b)
	f.b.Exec(t, "ALTER SYSTEM SET primary_conninfo = ''")
	f.b.Exec(t, "SELECT pg_reload_conf()")
	waitFor(t, "the standby's WAL receiver to stop", func() bool {
		return f.b.Query(t, "SELECT count(*) FROM pg_stat_wal_receiver")[0][0] == "0"
	})
	f.a.Exec(t, "UPDATE marker SET v = 'only on the abandoned branch'")
	f.lsnE = f.p.CatchUp(t, f.a)
	page, _, err := f.p.Mat.PageAt(f.ctx, f.marker, f.lsnE)
	if err != nil || !bytes.Contains(page, []byte("only on the abandoned branch")) {
		t.Fatalf("before the failover, the marker page at %s lacks the abandoned branch's row (err %v)", f.lsnE, err)
	}
}

// waitReplayed waits until standby replayed what primary has written.
func waitReplayed(t *testing.T, primary, standby *pgtest.Cluster) {
	t.Helper()
	lsn := primary.CurrentWALLSN(t)
	waitFor(t, "the standby to replay "+lsn, func() bool {
		return standby.Query(t, "SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn", lsn)[0][0] == "t"
	})
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited a minute for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// failover crashes old in the middle of pgbench, promotes next and waits
// until pagemill applied next's WAL on timeline tli; it logs how long
// that took from the promotion.
func (f *failoverRun) failover(old, next *pgtest.Cluster, tli schema.TimeLineID) {
	t := f.t
	load := make(chan struct{})
	go func() {
		defer close(load)
		_, _ = old.PgbenchContext(f.ctx, "-T", "5", "-c", "4") // fails when old stops
	}()
	time.Sleep(time.Second)
	if err := old.StopImmediate(); err != nil {
		t.Fatal(err)
	}
	<-load
	promoted := time.Now()
	next.Exec(t, "SELECT pg_promote()")
	next.Exec(t, "CREATE TABLE after_promotion_"+strconv.Itoa(int(tli))+" (k int)")
	lsn, err := schema.ParseLSN(next.CurrentWALLSN(t))
	if err != nil {
		t.Fatal(err)
	}
	// What pagemill applied of the abandoned branch may be past lsn: the
	// switch comes first.
	waitFor(t, fmt.Sprintf("pagemill to switch to timeline %d", tli), func() bool {
		return schema.TimeLineID(f.p.Mat.Layout().Timeline) == tli
	})
	ctx, cancel := context.WithTimeout(f.ctx, 2*time.Minute)
	defer cancel()
	if err := f.p.Mat.WaitAll(ctx, lsn); err != nil {
		t.Fatalf("pagemill did not apply the new primary's %s: %v", lsn, err)
	}
	took := time.Since(promoted)
	t.Logf("timeline %d: promotion to pagemill applying the new timeline's WAL (%s): %s; history %s",
		tli, lsn, took.Round(time.Millisecond), f.p.Store.TimeLineHistory())
}

// compareAll compares every page with c's after load there.
func (f *failoverRun) compareAll(c *pgtest.Cluster) {
	t := f.t
	c.Pgbench(t, "-T", "2", "-c", "4")
	c.Exec(t, "VACUUM")
	c.Checkpoint(t)
	lsn := f.p.CatchUp(t, c)
	st := pipetest.CompareDataDir(t, c, lsn, func(tag schema.BufferTag, lsn schema.LSN) (schema.Page, error) {
		page, _, err := f.p.Mat.PageAt(f.ctx, tag, lsn)
		return page, err
	})
	t.Logf("at %s: %d pages compared, %d unavailable", lsn, st.Compared, st.Unavailable)
	if st.Compared < 1000 {
		t.Fatalf("only %d pages compared", st.Compared)
	}
}

// checkAbandonedGone: the marker page, at the newest LSN and at the LSN
// where pagemill had applied the abandoned branch, is the new timeline's.
func (f *failoverRun) checkAbandonedGone() {
	t := f.t
	for _, lsn := range []schema.LSN{f.lsnE, f.p.Mat.Applied()} {
		page, _, err := f.p.Mat.PageAt(f.ctx, f.marker, lsn)
		if err != nil {
			t.Fatalf("marker page at %s: %v", lsn, err)
		}
		if bytes.Contains(page, []byte("only on the abandoned branch")) {
			t.Errorf("marker page at %s after the switch holds the abandoned branch's row", lsn)
		}
		if !bytes.Contains(page, []byte("before the failover")) {
			t.Errorf("marker page at %s lacks the row the new timeline has", lsn)
		}
	}
}

// restoreBeforeSwitch restores at lsnL and compares the tables with the
// old primary's then.
func (f *failoverRun) restoreBeforeSwitch() {
	t := f.t
	r := pgtest.Start(t, pgtest.Options{Fill: func(dir string) error {
		_, _, err := f.back.DirAt(f.ctx, f.lsnL, dir, time.Minute, nil)
		return err
	}})
	got := tableSums(t, r)
	for tb, want := range f.sumsL {
		if got[tb] != want {
			t.Errorf("restore at %s (timeline 1): %s is %s, the old primary had %s", f.lsnL, tb, got[tb], want)
		}
	}
}

// failBack rewinds the old primary into a standby of the new one, crashes
// the new one under load and promotes the old: timeline 3.
func (f *failoverRun) failBack() {
	t := f.t
	// pg_rewind copies the configuration too: keep the old primary's own
	// (its port).
	conf := filepath.Join(f.a.DataDir(), "pgtest.conf")
	own, err := os.ReadFile(conf)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.a.RunBin(f.ctx, "pg_rewind", "-D", f.a.DataDir(), "--source-server="+f.b.ConnString(""), "-R"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(conf, own, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := f.a.Restart(); err != nil {
		t.Fatal(err)
	}
	waitReplayed(t, f.b, f.a)
	f.failover(f.b, f.a, 3)
	f.compareAll(f.a)
}

// rebuildAcrossTimelines rebuilds a page store from the streams: it
// follows the same history (1, 2 then 3, leaving the abandoned branch
// out), and every page equals the current primary's.
func (f *failoverRun) rebuildAcrossTimelines() {
	t := f.t
	src, err := rebuild.OpenSource(f.ctx, f.p.JS, streams.Layout{SystemID: f.p.Layout.SystemID})
	if err != nil {
		t.Fatal(err)
	}
	if src.Handles.Layout.Timeline != 3 {
		t.Fatalf("rebuild source on timeline %d, want 3", src.Handles.Layout.Timeline)
	}
	dir := filepath.Join(t.TempDir(), "rebuilt")
	if _, err := rebuild.Run(f.ctx, f.p.JS, src, rebuild.Config{Dir: dir, Log: pipetest.Logger(t)}); err != nil {
		t.Fatal(err)
	}
	store, err := pagestore.Open(pagestore.Options{Dir: dir, Shards: 1, AdoptShards: true}, pipetest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	if got, want := store.TimeLineHistory().String(), f.p.Store.TimeLineHistory().String(); got != want {
		t.Errorf("rebuilt store's history %s, want %s", got, want)
	}
	st := pipetest.CompareDataDir(t, f.a, src.Target, func(tag schema.BufferTag, lsn schema.LSN) (schema.Page, error) {
		page, _, err := store.PageAt(tag, lsn)
		return page, err
	})
	if st.Compared < 1000 {
		t.Fatalf("rebuilt store: only %d pages compared", st.Compared)
	}
	if page, _, err := store.PageAt(f.marker, f.lsnE); err != nil || bytes.Contains(page, []byte("only on the abandoned branch")) {
		t.Errorf("rebuilt store: marker page at %s: abandoned branch's row or %v", f.lsnE, err)
	}
}
