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
func TestSnapshotTrimRebuild(t *testing.T) {
	c := pgtest.Start(t, pipetest.QuietSource(pgtest.Options{}))
	c.Pgbench(t, "-i", "-s", "1", "-q")
	const retain = 6 << 20
	storeDir := t.TempDir()
	p := pipetest.Start(t, c, pipetest.Options{StoreDir: storeDir, Mat: materialize.Config{
		RetainBytes: retain, SnapshotBytes: 3 << 20, SnapshotInterval: -1, GCInterval: 100 * time.Millisecond}})
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	for i := 0; i < 4; i++ {
		c.Pgbench(t, "-T", "2", "-c", "2")
		c.Checkpoint(t) // snapshots restore from recent checkpoints
	}
	lsn := p.CatchUp(t, c)

	// Wait until a snapshot at or below the horizon let the stream go.
	// Where the snapshots fall depends on timing: when the newest one is
	// close to the end of the WAL and the older one still needs the whole
	// stream, nothing can be trimmed until the horizon passes the newer
	// one. A quiet source writes no more WAL by itself, so once the
	// materializer has caught up, a checkpoint and a segment switch move
	// the end (and so the horizon) on by a segment.
	var snaps []materialize.SnapshotInfo
	var first uint64
	deadline := time.Now().Add(3 * time.Minute)
	for nudges := 0; ; {
		var err error
		if snaps, err = p.Mat.Snapshots(ctx); err != nil {
			t.Fatal(err)
		}
		info, err := p.Handles.Stream.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		first = info.State.FirstSeq
		// The horizon has reached the window behind the workload's end.
		if first > 1 && len(snaps) > 0 && snaps[0].LSN <= p.Mat.Horizon() && p.Mat.Horizon() >= lsn-retain {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("stream not trimmed: first seq %d, snapshots %+v, horizon %s, applied %s, source at %s after %d nudges",
				first, snaps, p.Mat.Horizon(), p.Mat.Applied(), lsn, nudges)
		}
		if p.Mat.Applied() >= lsn && p.Mat.Horizon() >= lsn-retain {
			c.Checkpoint(t)
			lsn = p.CatchUp(t, c)
			nudges++
		}
		time.Sleep(200 * time.Millisecond)
	}
	// Stop it (autovacuum's WAL would go on moving the horizon), then
	// look at what it left.
	p.StopMat()
	orig, err := pagestore.Open(pagestore.Options{Dir: storeDir, Shards: 1, AdoptShards: true}, pipetest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer orig.Close()
	h := orig.Horizon()
	// Autovacuum's WAL may have moved things on after the catch-up: the
	// latest LSN every shard applied is what the store has.
	for i := 0; i < orig.Shards(); i++ {
		a, _, err := orig.Applied(i)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 || a < lsn {
			lsn = a
		}
	}
	if snaps, err = materialize.ListSnapshots(ctx, p.Handles.Objects); err != nil || len(snaps) == 0 {
		t.Fatalf("snapshots after stopping: %v %v", snaps, err)
	}
	info, err := p.Handles.Stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	first = info.State.FirstSeq
	t.Logf("horizon %s, latest %s; %d snapshots kept (oldest at %s, stream from seq %d); stream first seq %d",
		h, lsn, len(snaps), snaps[0].LSN, snaps[0].StreamFrom, first)
	if snaps[0].LSN > h || snaps[0].StreamFrom < first {
		t.Errorf("the oldest snapshot kept (at %s, needing the stream from %d) does not cover the horizon %s with the stream from %d",
			snaps[0].LSN, snaps[0].StreamFrom, h, first)
	}
	// The base backup's pages are gone; its other files stay.
	objs, err := p.Handles.Objects.List(ctx)
	if err != nil {
		t.Fatal(err)
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
		t.Errorf("base backup after trimming: %d page files (want 0), %d other files (want some)", basePages, baseOther)
	}

	// Everything at the latest LSN and at the horizon, before.
	lsns := []schema.LSN{h, lsn}
	type key struct {
		tag schema.BufferTag
		lsn schema.LSN
	}
	read := func(st *pagestore.Store) map[key]string {
		out := map[key]string{}
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
						out[key{tg, at}] = "error: " + err.Error()[:min(40, len(err.Error()))]
					} else {
						out[key{tg, at}] = string(page)
					}
				}
			}
		}
		return out
	}
	before := read(orig)

	// A new, empty page store from the streams alone.
	store, err := pagestore.Open(pagestore.Options{Dir: t.TempDir(), Shards: 3}, pipetest.Logger(t)) // not the original's count
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	m2, err := materialize.New(materialize.Config{Layout: p.Layout, ConsumerPrefix: "pm_rebuilt", SnapshotBytes: -1, SnapshotInterval: -1},
		p.JS, p.Handles, store, prometheus.NewRegistry(), pipetest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	mctx, mcancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- m2.Run(mctx) }()
	defer func() { mcancel(); <-done }()
	select {
	case <-m2.Ready():
	case <-ctx.Done():
		t.Fatal("rebuilt materializer not ready")
	}
	if err := m2.WaitAll(ctx, lsn); err != nil {
		t.Fatalf("rebuilt store did not catch up to %s: %v", lsn, err)
	}
	h2 := m2.Horizon()
	if h2 > h {
		t.Errorf("rebuilt horizon %s is past the retention horizon %s", h2, h)
	}
	// Below the horizon: a clear error.
	tag := schema.BufferTag{Rel: schema.RelFileNode{SpcNode: 1663, DbNode: 5, RelNode: 1259}}
	if _, _, err := m2.PageAt(ctx, tag, h2-1); !errors.Is(err, materialize.ErrBelowHorizon) || !strings.Contains(err.Error(), h2.String()) {
		t.Errorf("read below the horizon %s: %v", h2, err)
	}
	after := read(store)
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
	t.Logf("%d page reads at %d LSNs identical after rebuilding from snapshot %s", len(before), len(lsns), snaps[0].Object)
	// The rebuilt store follows the stream on: against the source's data
	// files as they are now.
	c.Checkpoint(t)
	c.Exec(t, "SELECT pg_switch_wal()")
	now, err := schema.ParseLSN(c.CurrentWALLSN(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := m2.WaitAll(ctx, now); err != nil {
		t.Fatalf("rebuilt store did not follow the source to %s: %v", now, err)
	}
	st := pipetest.CompareDataDir(t, c, now, func(tag schema.BufferTag, lsn schema.LSN) (schema.Page, error) {
		page, _, err := m2.PageAt(ctx, tag, lsn)
		return page, err
	})
	if st.Compared < 1000 {
		t.Errorf("only %d pages compared with the source", st.Compared)
	}
}
