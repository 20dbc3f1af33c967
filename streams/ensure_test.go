package streams

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

func TestEnsureCreatesAndIsIdempotent(t *testing.T) {
	e := startNode(t, t.TempDir())
	_, js := connect(t, e)
	ctx := testCtx(t, 30*time.Second)

	cfg := Config{MaxBytes: 1 << 30, MaxAge: 24 * time.Hour, Shards: testLayout.Shards}
	h, err := Ensure(ctx, js, Layout{SystemID: testLayout.SystemID, Timeline: 1}, cfg) // the layout takes the config's shards
	if err != nil {
		t.Fatalf("Ensure: %v", err)
	}
	if (Config{}).ShardCount() != DefaultShards || (Config{Shards: 3}).ShardCount() != 3 {
		t.Errorf("ShardCount")
	}
	if h.Layout.Shards != testLayout.Shards || h.Config.Shards != testLayout.Shards {
		t.Errorf("shards: layout %d, config %d", h.Layout.Shards, h.Config.Shards)
	}
	check := func(h *Handles, maxAge time.Duration) {
		t.Helper()
		checkEnsuredStream(t, ctx, h, maxAge)
		checkEnsuredBuckets(t, ctx, h)
	}
	check(h, 24*time.Hour)

	// The buckets work.
	if _, err := h.KV.Put(ctx, "applied", []byte("0/1000")); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Objects.PutBytes(ctx, "base.tar", bytes.Repeat([]byte("x"), 300<<10)); err != nil {
		t.Fatal(err)
	}

	// Again with the same configuration: nothing changes, state is kept.
	h2, err := Ensure(ctx, js, testLayout, cfg)
	if err != nil {
		t.Fatalf("Ensure again: %v", err)
	}
	check(h2, 24*time.Hour)
	if v, err := h2.KV.Get(ctx, "applied"); err != nil || string(v.Value()) != "0/1000" {
		t.Fatalf("kv after Ensure: %v, %v", v, err)
	}
	if b, err := h2.Objects.GetBytes(ctx, "base.tar"); err != nil || len(b) != 300<<10 {
		t.Fatalf("object after Ensure: %d bytes, %v", len(b), err)
	}

	// An update is applied.
	cfg.MaxAge = 48 * time.Hour
	h3, err := Ensure(ctx, js, testLayout, cfg)
	if err != nil {
		t.Fatalf("Ensure update: %v", err)
	}
	check(h3, 48*time.Hour)

	checkEnsureRefuses(t, ctx, js)
}

// checkEnsuredStream checks the WAL stream's configuration.
func checkEnsuredStream(t *testing.T, ctx context.Context, h *Handles, maxAge time.Duration) {
	t.Helper()
	info, err := h.Stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c := info.Config
	switch {
	case c.Name != "PM_WAL_7301234567890123456":
		t.Errorf("name %q", c.Name)
	case len(c.Subjects) != 1 || c.Subjects[0] != "pm.7301234567890123456.*.wal.>":
		t.Errorf("subjects %q", c.Subjects)
	case c.Storage != jetstream.FileStorage || c.Retention != jetstream.LimitsPolicy:
		t.Errorf("storage %v retention %v", c.Storage, c.Retention)
	case c.Discard != jetstream.DiscardNew:
		t.Errorf("discard %v, want new", c.Discard)
	case c.Duplicates != DefaultDuplicateWindow:
		t.Errorf("duplicate window %v", c.Duplicates)
	case !c.AllowAtomicPublish:
		t.Errorf("atomic publish not allowed")
	case c.Replicas != 1:
		t.Errorf("replicas %d", c.Replicas)
	case c.MaxBytes != 1<<30 || c.MaxAge != maxAge || c.MaxMsgSize != DefaultMaxMsgSize:
		t.Errorf("limits: bytes %d age %v msg size %d", c.MaxBytes, c.MaxAge, c.MaxMsgSize)
	case !c.DenyDelete || c.DenyPurge || c.AllowRollup || c.AllowDirect:
		t.Errorf("deny delete %v, deny purge %v, rollup %v, direct %v", c.DenyDelete, c.DenyPurge, c.AllowRollup, c.AllowDirect)
	case c.Metadata[MetaShards] != "8" || c.Metadata[MetaLayoutVersion] != strconv.Itoa(LayoutVersion):
		t.Errorf("metadata %v", c.Metadata)
	}
}

// checkEnsuredBuckets checks the key-value and object buckets'
// configuration.
func checkEnsuredBuckets(t *testing.T, ctx context.Context, h *Handles) {
	t.Helper()
	st, err := h.KV.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Bucket() != "pm_state_7301234567890123456" || st.History() != 1 || st.BackingStore() != "JetStream" {
		t.Errorf("kv: bucket %q history %d", st.Bucket(), st.History())
	}
	kvInfo := st.(*jetstream.KeyValueBucketStatus).StreamInfo()
	if kvInfo.Config.Storage != jetstream.FileStorage || kvInfo.Config.Replicas != 1 {
		t.Errorf("kv storage %v replicas %d", kvInfo.Config.Storage, kvInfo.Config.Replicas)
	}
	ost, err := h.Objects.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if ost.Bucket() != "pm_base_7301234567890123456" || ost.Storage() != jetstream.FileStorage || ost.Replicas() != 1 {
		t.Errorf("object store: bucket %q storage %v replicas %d", ost.Bucket(), ost.Storage(), ost.Replicas())
	}
}

// checkEnsureRefuses checks the layouts and configurations Ensure
// refuses.
func checkEnsureRefuses(t *testing.T, ctx context.Context, js jetstream.JetStream) {
	t.Helper()
	// Another shard count for the same system is refused.
	other := testLayout
	other.Shards = 16
	if _, err := Ensure(ctx, js, other, Config{}); !errors.Is(err, ErrLayoutMismatch) {
		t.Fatalf("Ensure with 16 shards: %v, want ErrLayoutMismatch", err)
	}
	if _, err := Ensure(ctx, js, testLayout, Config{Shards: 4}); !errors.Is(err, ErrInvalidLayout) {
		t.Fatalf("Ensure with disagreeing shards: %v, want ErrInvalidLayout", err)
	}
	// Bad configurations never reach the server.
	for _, bad := range []Config{{Replicas: 7}, {MaxAge: time.Minute, DuplicateWindow: time.Hour}, {MaxBytes: -1}} {
		if _, err := Ensure(ctx, js, testLayout, bad); !errors.Is(err, ErrInvalidLayout) {
			t.Errorf("Ensure(%+v): %v, want ErrInvalidLayout", bad, err)
		}
	}
	// Three replicas on one server: the server says no, and the error
	// says which stream.
	if _, err := Ensure(ctx, js, Layout{SystemID: 99, Timeline: 1}, Config{Replicas: 3}); err == nil {
		t.Fatal("Ensure with 3 replicas on one server succeeded")
	}
}

func TestLastMsgOnSubject(t *testing.T) {
	ctx, nc, _, h := ensuredNode(t, 30*time.Second, Config{})
	if _, err := LastMsgOnSubject(ctx, h.Stream, testLayout.MetaSubject()); !errors.Is(err, ErrNoMessage) {
		t.Fatalf("empty subject: %v, want ErrNoMessage", err)
	}
	for r := 1; r <= 3; r++ {
		if _, err := PublishAtomic(ctx, nc, batchID(r), makeBatch(testLayout, r, []int{0, 1}, 10)); err != nil {
			t.Fatal(err)
		}
	}
	m, err := LastMsgOnSubject(ctx, h.Stream, testLayout.MetaSubject())
	if err != nil {
		t.Fatal(err)
	}
	if m.Header.Get("Pm-Round") != "3" || m.Subject != testLayout.MetaSubject() {
		t.Fatalf("last meta message: %s %v", m.Subject, m.Header)
	}
	// Wildcards work too.
	if m, err := LastMsgOnSubject(ctx, h.Stream, testLayout.TimelineSubjects()); err != nil || m.Sequence != 9 {
		t.Fatalf("last on timeline: %v, %v", m, err)
	}
	if _, err := LastMsgOnSubject(ctx, h.Stream, testLayout.ShardSubject(5)); !errors.Is(err, ErrNoMessage) {
		t.Fatalf("empty shard: %v, want ErrNoMessage", err)
	}
	// After a round on timeline 2, the newest marker of any timeline is
	// timeline 2's, and the stream (one per system) took it.
	tl2 := testLayout
	tl2.Timeline = 2
	if _, err := PublishAtomic(ctx, nc, "tl2-round-1", makeBatch(tl2, 1, []int{3}, 10)); err != nil {
		t.Fatal(err)
	}
	if m, err := LastMsgOnSubject(ctx, h.Stream, testLayout.MetaSubjectAnyTimeline()); err != nil || m.Subject != tl2.MetaSubject() {
		t.Fatalf("last marker of any timeline: %v, %v", m, err)
	}
	if m, err := LastMsgOnSubject(ctx, h.Stream, testLayout.MetaSubject()); err != nil || m.Header.Get("Pm-Round") != "3" {
		t.Fatalf("timeline 1 marker: %v, %v", m, err)
	}
}

// TestEmbeddedListen serves TCP clients on a port the server picks, and
// Connect reaches it by URL.
func TestEmbeddedListen(t *testing.T) {
	ctx := testCtx(t, 10*time.Second)
	e, err := StartEmbedded(ctx, EmbeddedConfig{Dir: t.TempDir(), Listen: "127.0.0.1:0", ServerName: "solo"}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer e.Shutdown()
	url := e.ClientURL()
	if !strings.HasPrefix(url, "nats://127.0.0.1:") || strings.HasSuffix(url, ":0") || strings.HasSuffix(url, ":-1") {
		t.Fatalf("client URL %q", url)
	}
	if err := e.WaitJetStream(ctx); err != nil {
		t.Fatal(err)
	}
	nc, err := Connect(ctx, ConnConfig{URL: url, Name: "tcp-test"}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if nc.ConnectedServerName() != "solo" || nc.ConnectedUrl() == "" {
		t.Fatalf("connected to %q at %q", nc.ConnectedServerName(), nc.ConnectedUrl())
	}
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Ensure(ctx, js, testLayout, Config{}); err != nil {
		t.Fatal(err)
	}
	if _, err := Connect(ctx, ConnConfig{URL: "nats://127.0.0.1:1"}, testLogger(t)); err == nil {
		t.Fatal("connected to a closed port")
	}
	// In-process only: no URL.
	e2 := startNode(t, t.TempDir())
	if e2.ClientURL() != "" {
		t.Fatalf("in-process server has URL %q", e2.ClientURL())
	}
	e2.Shutdown()
	e2.Shutdown() // idempotent
}

// TestEmbeddedOperatorListener: with a password the TCP listener refuses
// clients without it or with a wrong one and serves those with it, and the
// in-process connection still works; OperatorPassword keeps its password.
func TestEmbeddedOperatorListener(t *testing.T) {
	ctx := testCtx(t, 10*time.Second)
	pwFile := filepath.Join(t.TempDir(), "pw")
	pw, err := OperatorPassword(pwFile)
	if err != nil || len(pw) != 32 {
		t.Fatalf("OperatorPassword: %q, %v", pw, err)
	}
	if again, err := OperatorPassword(pwFile); err != nil || again != pw {
		t.Fatalf("second OperatorPassword: %q, %v; first %q", again, err, pw)
	}
	if fi, err := os.Stat(pwFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("password file: %v, %v", fi, err)
	}
	e, err := StartEmbedded(ctx, EmbeddedConfig{Dir: t.TempDir(), Listen: "127.0.0.1:0", User: "operator", Password: pw}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer e.Shutdown()
	for _, c := range []ConnConfig{{URL: e.ClientURL()}, {URL: e.ClientURL(), User: "operator", Password: "wrong"}} {
		if nc, err := Connect(ctx, c, testLogger(t)); err == nil {
			nc.Close()
			t.Fatalf("connected with %q/%q", c.User, c.Password)
		}
	}
	nc, err := Connect(ctx, ConnConfig{URL: e.ClientURL(), User: "operator", Password: pw}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	nc.Close()
	in, err := e.Connect()
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	js, err := jetstream.New(in)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Ensure(ctx, js, testLayout, Config{}); err != nil {
		t.Fatal(err)
	}
}

// TestEnsureLayoutVersions: a stream written with layout version 1 (no
// whole rounds) is read by this build and recorded as the current
// version, so a version-1 build then refuses it; a newer version than
// this build knows is refused, naming it and saying what to do.
func TestEnsureLayoutVersions(t *testing.T) {
	ctx, _, js, h := ensuredNode(t, time.Minute, Config{})
	setVersion := func(v string) {
		cfg := h.Stream.CachedInfo().Config
		cfg.Metadata = map[string]string{MetaShards: cfg.Metadata[MetaShards], MetaLayoutVersion: v, MetaSystemID: cfg.Metadata[MetaSystemID]}
		if _, err := js.UpdateStream(ctx, cfg); err != nil {
			t.Fatal(err)
		}
	}
	setVersion("1")
	h2, err := Ensure(ctx, js, testLayout, Config{})
	if err != nil {
		t.Fatalf("Ensure on a version-1 stream: %v", err)
	}
	if v := h2.Stream.CachedInfo().Config.Metadata[MetaLayoutVersion]; v != strconv.Itoa(LayoutVersion) {
		t.Fatalf("after Ensure the stream records layout version %s, want %d", v, LayoutVersion)
	}
	setVersion("3")
	_, err = Ensure(ctx, js, testLayout, Config{})
	if !errors.Is(err, ErrLayoutMismatch) || !strings.Contains(err.Error(), "layout version 3") || !strings.Contains(err.Error(), "rebuild") {
		t.Fatalf("Ensure on a version-3 stream: %v, want ErrLayoutMismatch naming version 3 and how to rebuild", err)
	}
}
