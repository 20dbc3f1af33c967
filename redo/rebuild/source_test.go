package rebuild

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/pagemill/pagemill/internal/natstest"
	"github.com/pagemill/pagemill/redo/materialize"
	"github.com/pagemill/pagemill/schema"
	"github.com/pagemill/pagemill/streams"
)

// testJS is an embedded NATS JetStream of its own for one test.
func testJS(t *testing.T) (context.Context, jetstream.JetStream) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	_, js := natstest.Connect(t, natstest.Start(t, t.TempDir(), slog.New(slog.DiscardHandler)))
	return ctx, js
}

// testSystem is one source system's streams, as ingest leaves them.
type testSystem struct {
	t   *testing.T
	ctx context.Context
	js  jetstream.JetStream
	h   *streams.Handles
}

const baseStart = schema.LSN(0x3000028)

// newSystem ensures the streams of sysid with shards shards and stores a
// base backup state (completed or not) starting at baseStart.
func newSystem(t *testing.T, ctx context.Context, js jetstream.JetStream, sysid uint64, shards int, completed bool) *testSystem {
	t.Helper()
	h, err := streams.Ensure(ctx, js, streams.Layout{SystemID: sysid, Timeline: 1, Shards: shards}, streams.Config{Shards: shards})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(streams.BaseBackupState{Prefix: "bb1", StartLSN: baseStart, EndLSN: baseStart + 0x100, Pages: 10,
		Completed: completed, StartedAt: time.Now()})
	if _, err := h.KV.Put(ctx, streams.KeyBaseBackup, b); err != nil {
		t.Fatal(err)
	}
	return &testSystem{t: t, ctx: ctx, js: js, h: h}
}

// round publishes a round marker on timeline tli's meta subject.
func (s *testSystem) round(tli uint32, start, end schema.LSN) {
	s.t.Helper()
	l := s.h.Layout
	l.Timeline = tli
	m := nats.NewMsg(l.MetaSubject())
	m.Header.Set(streams.HdrRoundStart, start.String())
	m.Header.Set(streams.HdrRoundEnd, end.String())
	if _, err := s.js.PublishMsg(s.ctx, m); err != nil {
		s.t.Fatal(err)
	}
}

func wantErr(t *testing.T, err error, want string) {
	t.Helper()
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("error %v, want one saying %q", err, want)
	}
}

// TestDiscoverLayout: the system id of the only stream, the shard count
// from its metadata and the newest round's timeline are found; asking
// for another shard count, or choosing among several streams without a
// system id, is refused.
func TestDiscoverLayout(t *testing.T) {
	ctx, js := testJS(t)
	_, _, err := DiscoverLayout(ctx, js, streams.Layout{})
	wantErr(t, err, "no pagemill WAL stream")

	s := newSystem(t, ctx, js, 7001, 3, true)
	_, _, err = DiscoverLayout(ctx, js, streams.Layout{})
	wantErr(t, err, "newest round (give --timeline)")
	s.round(1, baseStart, baseStart+0x1000)
	s.round(2, baseStart+0x1000, baseStart+0x2000)
	l, stream, err := DiscoverLayout(ctx, js, streams.Layout{})
	if err != nil {
		t.Fatal(err)
	}
	if want := (streams.Layout{SystemID: 7001, Timeline: 2, Shards: 3}); l != want || stream.CachedInfo().Config.Name != "PM_WAL_7001" {
		t.Fatalf("discovered %+v (stream %s), want %+v", l, stream.CachedInfo().Config.Name, want)
	}
	if l, _, err = DiscoverLayout(ctx, js, streams.Layout{Timeline: 1, Shards: 3}); err != nil || l.Timeline != 1 {
		t.Fatalf("timeline 1 asked for: %+v, %v", l, err)
	}
	_, _, err = DiscoverLayout(ctx, js, streams.Layout{Shards: 4})
	if !errors.Is(err, streams.ErrLayoutMismatch) {
		t.Fatalf("4 shards asked of a 3-shard stream: %v", err)
	}

	newSystem(t, ctx, js, 7002, 2, true)
	_, _, err = DiscoverLayout(ctx, js, streams.Layout{})
	wantErr(t, err, "several pagemill WAL streams (PM_WAL_7001, PM_WAL_7002): choose one with --system-id")
	if l, _, err = DiscoverLayout(ctx, js, streams.Layout{SystemID: 7002, Timeline: 1}); err != nil || l.Shards != 2 {
		t.Fatalf("system 7002: %+v, %v", l, err)
	}
	_, _, err = DiscoverLayout(ctx, js, streams.Layout{SystemID: 7003, Timeline: 1})
	wantErr(t, err, "stream PM_WAL_7003")
}

// TestOpenSourceChecks: a rebuild source needs a completed base backup
// and the WAL from its start (or from the oldest snapshot) on; the target
// is the last round's end, or the base backup's start without rounds.
func TestOpenSourceChecks(t *testing.T) {
	ctx, js := testJS(t)
	tl1 := streams.Layout{SystemID: 8001, Timeline: 1}

	s := newSystem(t, ctx, js, 8001, 2, false)
	_, err := OpenSource(ctx, js, tl1)
	wantErr(t, err, "the base backup bb1 (started ")
	wantErr(t, err, "is not complete: nothing to rebuild from yet")

	s = newSystem(t, ctx, js, 8001, 2, true)
	src, err := OpenSource(ctx, js, tl1)
	if err != nil {
		t.Fatal(err)
	}
	if src.Target != baseStart || src.Base.StartLSN != baseStart || src.Handles.Layout.Shards != 2 || src.Handles.KV == nil || src.Handles.Objects == nil {
		t.Fatalf("without rounds: target %s, base start %s, layout %+v", src.Target, src.Base.StartLSN, src.Handles.Layout)
	}

	s.round(2, baseStart, baseStart+0x100)
	_, err = OpenSource(ctx, js, tl1)
	wantErr(t, err, "no rounds on timeline 1 in PM_WAL_8001 (the newest is on pm.8001.2.wal.meta)")

	// The records begin after the base backup's start: WAL is missing.
	s = newSystem(t, ctx, js, 8002, 2, true)
	s.round(1, baseStart+0x10, baseStart+0x1000)
	_, err = OpenSource(ctx, js, streams.Layout{SystemID: 8002})
	wantErr(t, err, "after the base backup's start 0/03000028")

	s = newSystem(t, ctx, js, 8003, 2, true)
	s.round(1, baseStart, baseStart+0x1000)
	s.round(1, baseStart+0x1000, baseStart+0x2000)
	if src, err = OpenSource(ctx, js, streams.Layout{SystemID: 8003}); err != nil || src.Target != baseStart+0x2000 {
		t.Fatalf("target %v, %v; want %s", src, err, baseStart+0x2000)
	}
}

// TestOpenSourceSnapshot: with a snapshot the rebuild starts there, and
// the stream must go on right after the snapshot's sequence.
func TestOpenSourceSnapshot(t *testing.T) {
	ctx, js := testJS(t)
	s := newSystem(t, ctx, js, 9001, 2, true)
	for i := schema.LSN(0); i < 4; i++ {
		s.round(1, baseStart+i*0x1000, baseStart+(i+1)*0x1000)
	}
	snapLSN := baseStart + 2*0x1000
	meta, _ := json.Marshal(materialize.SnapshotInfo{Object: "snap/x", LSN: snapLSN, Seq: 2})
	if _, err := s.h.Objects.PutBytes(ctx, "snap/x", []byte("pages")); err != nil {
		t.Fatal(err)
	}
	if err := s.h.Objects.UpdateMeta(ctx, "snap/x", jetstream.ObjectMeta{Name: "snap/x", Metadata: map[string]string{"snapshot": string(meta)}}); err != nil {
		t.Fatal(err)
	}
	if err := s.h.Stream.Purge(ctx, jetstream.WithPurgeSequence(3)); err != nil {
		t.Fatal(err)
	}
	src, err := OpenSource(ctx, js, streams.Layout{SystemID: 9001})
	if err != nil {
		t.Fatal(err)
	}
	if src.Base.StartLSN != snapLSN || src.Target != baseStart+4*0x1000 {
		t.Fatalf("start %s, target %s; want the snapshot's %s and %s", src.Base.StartLSN, src.Target, snapLSN, baseStart+4*0x1000)
	}
	if err := s.h.Stream.Purge(ctx, jetstream.WithPurgeSequence(4)); err != nil {
		t.Fatal(err)
	}
	_, err = OpenSource(ctx, js, streams.Layout{SystemID: 9001})
	wantErr(t, err, "the stream begins at sequence 4, after the oldest snapshot snap/x")
}
