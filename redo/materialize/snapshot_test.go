package materialize_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pagemill/pagemill/internal/pgtest"
	"github.com/pagemill/pagemill/internal/pipetest"
	"github.com/pagemill/pagemill/redo/materialize"
	"github.com/pagemill/pagemill/redo/pagestore"
	"github.com/pagemill/pagemill/schema"
)

// TestSnapshotTrimRebuild: with a short retention window and frequent
// snapshots, the stream is trimmed below the snapshot covering the window
// (and older snapshots and the base backup's pages go); a read below the
// horizon gets a clear error; a page store rebuilt from what is left (the
// snapshot and the stream after it) reads every page of every relation
// fork identically at the latest LSN and at the horizon, and matches the
// source.
// snapshotRetain is the WAL TestSnapshotTrimRebuild's materializer keeps
// behind its end.
const snapshotRetain = 6 << 20

func TestSnapshotTrimRebuild(t *testing.T) {
	c := pgtest.Start(t, pipetest.QuietSource(pgtest.Options{}))
	c.Pgbench(t, "-i", "-s", "1", "-q")
	storeDir := t.TempDir()
	p := pipetest.Start(t, c, pipetest.Options{StoreDir: storeDir, Mat: materialize.Config{
		RetainBytes: snapshotRetain, SnapshotBytes: 3 << 20, SnapshotInterval: -1, GCInterval: 100 * time.Millisecond}})
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	t.Cleanup(cancel)
	for i := 0; i < 4; i++ {
		c.Pgbench(t, "-T", "2", "-c", "2")
		c.Checkpoint(t) // snapshots restore from recent checkpoints
	}
	s := &snapshotTrim{t: t, c: c, p: p, ctx: ctx, lsn: p.CatchUp(t, c)}
	s.waitTrimmed()
	orig := s.stopAndCheckKept(storeDir)
	s.checkBasePagesGone()

	// Everything at the latest LSN and at the horizon, before.
	lsns := []schema.LSN{s.h, s.lsn}
	before := snapshotReads(t, orig, lsns)
	m2, store := s.rebuild()
	after := snapshotReads(t, store, lsns)
	bad := 0
	for k, b := range before {
		if a, ok := after[k]; !ok || a != b {
			if bad < 10 {
				t.Errorf("%s at %s differs after the rebuild (present %v)", k.tag, k.lsn, ok)
			}
			bad++
		}
	}
	if len(after) != len(before) || bad > 0 {
		t.Fatalf("%d of %d page reads differ; %d read after", bad, len(before), len(after))
	}
	t.Logf("%d page reads at %d LSNs identical after rebuilding from snapshot %s", len(before), len(lsns), s.snaps[0].Object)
	s.followSource(m2)
}

// snapshotTrim is TestSnapshotTrimRebuild's pipeline and what it has
// seen of the snapshots, the stream and the horizon.
type snapshotTrim struct {
	t   *testing.T
	c   *pgtest.Cluster
	p   *pipetest.Pipeline
	ctx context.Context

	lsn   schema.LSN // the source's end, then the latest LSN the store applied
	snaps []materialize.SnapshotInfo
	first uint64     // the stream's first sequence
	h     schema.LSN // the stopped store's horizon
}

// waitTrimmed waits until a snapshot at or below the horizon let the
// stream go. Where the snapshots fall depends on timing: when the newest
// one is close to the end of the WAL and the older one still needs the
// whole stream, nothing can be trimmed until the horizon passes the newer
// one. A quiet source writes no more WAL by itself, so once the
// materializer has caught up, a checkpoint and a segment switch move the
// end (and so the horizon) on by a segment.
func (s *snapshotTrim) waitTrimmed() {
	deadline := time.Now().Add(3 * time.Minute)
	for nudges := 0; ; {
		var err error
		if s.snaps, err = s.p.Mat.Snapshots(s.ctx); err != nil {
			s.t.Fatal(err)
		}
		info, err := s.p.Handles.Stream.Info(s.ctx)
		if err != nil {
			s.t.Fatal(err)
		}
		s.first = info.State.FirstSeq
		// The horizon has reached the window behind the workload's end.
		if s.first > 1 && len(s.snaps) > 0 && s.snaps[0].LSN <= s.p.Mat.Horizon() && s.p.Mat.Horizon() >= s.lsn-snapshotRetain {
			break
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("stream not trimmed: first seq %d, snapshots %+v, horizon %s, applied %s, source at %s after %d nudges",
				s.first, s.snaps, s.p.Mat.Horizon(), s.p.Mat.Applied(), s.lsn, nudges)
		}
		if s.p.Mat.Applied() >= s.lsn && s.p.Mat.Horizon() >= s.lsn-snapshotRetain {
			s.c.Checkpoint(s.t)
			s.lsn = s.p.CatchUp(s.t, s.c)
			nudges++
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// stopAndCheckKept stops the materializer (autovacuum's WAL would go on
// moving the horizon), then checks that the oldest snapshot it kept
// covers the horizon with the stream it kept. It returns the stopped
// store.
func (s *snapshotTrim) stopAndCheckKept(storeDir string) *pagestore.Store {
	s.p.StopMat()
	orig, err := pagestore.Open(pagestore.Options{Dir: storeDir, Shards: 1, AdoptShards: true}, pipetest.Logger(s.t))
	if err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(func() { orig.Close() })
	s.h = orig.Horizon()
	// Autovacuum's WAL may have moved things on after the catch-up: the
	// latest LSN every shard applied is what the store has.
	for i := 0; i < orig.Shards(); i++ {
		a, _, err := orig.Applied(i)
		if err != nil {
			s.t.Fatal(err)
		}
		if i == 0 || a < s.lsn {
			s.lsn = a
		}
	}
	if s.snaps, err = materialize.ListSnapshots(s.ctx, s.p.Handles.Objects); err != nil || len(s.snaps) == 0 {
		s.t.Fatalf("snapshots after stopping: %v %v", s.snaps, err)
	}
	info, err := s.p.Handles.Stream.Info(s.ctx)
	if err != nil {
		s.t.Fatal(err)
	}
	s.first = info.State.FirstSeq
	s.t.Logf("horizon %s, latest %s; %d snapshots kept (oldest at %s, stream from seq %d); stream first seq %d",
		s.h, s.lsn, len(s.snaps), s.snaps[0].LSN, s.snaps[0].StreamFrom, s.first)
	if s.snaps[0].LSN > s.h || s.snaps[0].StreamFrom < s.first {
		s.t.Errorf("the oldest snapshot kept (at %s, needing the stream from %d) does not cover the horizon %s with the stream from %d",
			s.snaps[0].LSN, s.snaps[0].StreamFrom, s.h, s.first)
	}
	return orig
}

// checkBasePagesGone checks that the base backup's pages are gone and its
// other files stay.
func (s *snapshotTrim) checkBasePagesGone() {
	objs, err := s.p.Handles.Objects.List(s.ctx)
	if err != nil {
		s.t.Fatal(err)
	}
	basePages, baseOther := 0, 0
	for _, o := range objs {
		if strings.HasPrefix(o.Name, "snap/") {
			continue
		}
		if o.Metadata["relation"] != "" {
			basePages++
		} else {
			baseOther++
		}
	}
	if basePages != 0 || baseOther == 0 {
		s.t.Errorf("base backup after trimming: %d page files (want 0), %d other files (want some)", basePages, baseOther)
	}
}

// rebuild builds a new, empty page store from the streams alone and
// waits until it caught up; below its horizon reads fail clearly.
func (s *snapshotTrim) rebuild() (*materialize.Materializer, *pagestore.Store) {
	store, err := pagestore.Open(pagestore.Options{Dir: s.t.TempDir(), Shards: 3}, pipetest.Logger(s.t)) // not the original's count
	if err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(func() { store.Close() })
	m2, err := materialize.New(materialize.Config{Layout: s.p.Layout, ConsumerPrefix: "pm_rebuilt", SnapshotBytes: -1, SnapshotInterval: -1},
		s.p.JS, s.p.Handles, store, prometheus.NewRegistry(), pipetest.Logger(s.t))
	if err != nil {
		s.t.Fatal(err)
	}
	mctx, mcancel := context.WithCancel(s.ctx)
	done := make(chan error, 1)
	go func() { done <- m2.Run(mctx) }()
	s.t.Cleanup(func() { mcancel(); <-done })
	select {
	case <-m2.Ready():
	case <-s.ctx.Done():
		s.t.Fatal("rebuilt materializer not ready")
	}
	if err := m2.WaitAll(s.ctx, s.lsn); err != nil {
		s.t.Fatalf("rebuilt store did not catch up to %s: %v", s.lsn, err)
	}
	h2 := m2.Horizon()
	if h2 > s.h {
		s.t.Errorf("rebuilt horizon %s is past the retention horizon %s", h2, s.h)
	}
	// Below the horizon: a clear error.
	tag := schema.BufferTag{Rel: schema.RelFileNode{SpcNode: 1663, DbNode: 5, RelNode: 1259}}
	if _, _, err := m2.PageAt(s.ctx, tag, h2-1); !errors.Is(err, materialize.ErrBelowHorizon) || !strings.Contains(err.Error(), h2.String()) {
		s.t.Errorf("read below the horizon %s: %v", h2, err)
	}
	return m2, store
}

// followSource checks that the rebuilt store follows the stream on:
// against the source's data files as they are now.
func (s *snapshotTrim) followSource(m2 *materialize.Materializer) {
	s.c.Checkpoint(s.t)
	s.c.Exec(s.t, "SELECT pg_switch_wal()")
	now, err := schema.ParseLSN(s.c.CurrentWALLSN(s.t))
	if err != nil {
		s.t.Fatal(err)
	}
	if err := m2.WaitAll(s.ctx, now); err != nil {
		s.t.Fatalf("rebuilt store did not follow the source to %s: %v", now, err)
	}
	st := pipetest.CompareDataDir(s.t, s.c, now, func(tag schema.BufferTag, lsn schema.LSN) (schema.Page, error) {
		page, _, err := m2.PageAt(s.ctx, tag, lsn)
		return page, err
	})
	if st.Compared < 1000 {
		s.t.Errorf("only %d pages compared with the source", st.Compared)
	}
}

// snapshotKey is a page read: the page and the LSN.
type snapshotKey struct {
	tag schema.BufferTag
	lsn schema.LSN
}

// snapshotReads reads every page of st at each of lsns, an error as its
// first 40 characters.
func snapshotReads(t *testing.T, st *pagestore.Store, lsns []schema.LSN) map[snapshotKey]string {
	t.Helper()
	out := map[snapshotKey]string{}
	for _, at := range lsns {
		rels, err := st.Relations(0, at)
		if err != nil {
			t.Fatal(err)
		}
		for rf, n := range rels {
			for b := schema.BlockNumber(0); b < n; b++ {
				tg := schema.BufferTag{Rel: rf.Rel, Fork: rf.Fork, Block: b}
				page, _, err := st.PageAt(tg, at)
				if err != nil {
					out[snapshotKey{tg, at}] = "error: " + err.Error()[:min(40, len(err.Error()))]
				} else {
					out[snapshotKey{tg, at}] = string(page)
				}
			}
		}
	}
	return out
}
