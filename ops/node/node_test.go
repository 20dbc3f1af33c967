package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/pagemill/pagemill/ingest"
	"github.com/pagemill/pagemill/internal/natstest"
	"github.com/pagemill/pagemill/redo/rebuild"
	"github.com/pagemill/pagemill/schema"
	"github.com/pagemill/pagemill/streams"
)

func TestNewChecksConfig(t *testing.T) {
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{Source: "host=x"}, "DataDir is required"},
		{Config{DataDir: "/d"}, "exactly one of Source and Rebuild"},
		{Config{DataDir: "/d", Source: "host=x", Rebuild: &RebuildConfig{}}, "exactly one of Source and Rebuild"},
	} {
		if _, err := New(c.cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("New(%+v) = %v, want %q", c.cfg, err, c.want)
		}
	}
	n, err := New(Config{DataDir: "/d", Source: "host=x", NATS: NATSConfig{External: streams.ConnConfig{URL: "nats://x"}}})
	if err != nil {
		t.Fatal(err)
	}
	if n.cfg.StoreDir != "/d/pages" || n.cfg.Slot != "pagemill" || n.cfg.NATS.User != "operator" || n.cfg.WaitTimeout != 30*time.Second ||
		n.scfg.Replicas != 3 || n.log == nil || n.reg == nil {
		t.Fatalf("defaults: %+v, streams %+v", n.cfg, n.scfg)
	}
	if n, _ = New(Config{DataDir: "/d", Source: "host=x"}); n.scfg.Replicas != 1 {
		t.Fatalf("embedded replicas %d", n.scfg.Replicas)
	}
}

// TestGroup: the first part to end stops the others; the first error is
// returned once all have ended.
func TestGroup(t *testing.T) {
	g := newGroup(context.Background())
	ended := make(chan string, 3)
	for _, name := range []string{"a", "b"} {
		g.Go(func(ctx context.Context) error {
			<-ctx.Done()
			ended <- name
			return fmt.Errorf("%s stopped", name)
		})
	}
	boom := errors.New("boom")
	g.Go(func(context.Context) error { ended <- "c"; return boom })
	if err := g.Wait(); err != boom {
		t.Fatalf("Wait = %v, want boom", err)
	}
	if len(ended) != 3 {
		t.Fatalf("%d parts ended", len(ended))
	}
	g = newGroup(context.Background())
	g.Go(func(context.Context) error { return nil })
	g.Go(func(ctx context.Context) error { <-ctx.Done(); return nil })
	if err := g.Wait(); err != nil {
		t.Fatalf("clean end: %v", err)
	}
}

// TestStatusRows: status names the source, its timeline history and the
// timeline being streamed (an older one while catching up to a switch
// point), and ingest's positions.
func TestStatusRows(t *testing.T) {
	h, err := schema.ParseTimeLineHistory(2, []byte("1\t0/5000A38\tno recovery target specified\n"))
	if err != nil {
		t.Fatal(err)
	}
	st := ingest.Status{SystemID: 42, Timeline: 2, History: h, StreamingTimeline: 1, Connected: true, ReceivedLSN: 0x3000100, PublishedLSN: 0x3000000, LastError: "x"}
	got := map[string]string{}
	for _, r := range statusRows(st, nil) {
		got[r.Name] = r.Value
	}
	want := map[string]string{"system_identifier": "42", "timeline": "2", "replication_connected": "true",
		"timeline_history": "1@0/00000000-0/05000A38 2@0/05000A38-", "streaming_timeline": "1",
		"received_lsn": "0/3000100", "published_lsn": "0/3000000", "source_lsn": "0/0", "last_error": "x"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("rows %v, want %v", got, want)
	}
}

// TestFollowWithoutSource: a node whose source cannot be reached runs its
// servers: /healthz says replication is not connected, the operators'
// NATS listener wants the generated password, and Run returns nil once
// ctx ends, with the materializer never started.
func TestFollowWithoutSource(t *testing.T) {
	dataDir := t.TempDir()
	n, err := New(Config{Source: "host=127.0.0.1 port=1 user=x connect_timeout=1", DataDir: dataDir,
		NATS: NATSConfig{Listen: "127.0.0.1:0"}, PGListen: "127.0.0.1:0", HTTPListen: "127.0.0.1:0", Registry: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	deadline := time.Now().Add(time.Minute)
	for n.HTTPAddr() == "" || n.PGAddr() == "" || n.IngestStatus().LastError == "" {
		if time.Now().After(deadline) {
			t.Fatalf("not started: http %q pg %q status %+v", n.HTTPAddr(), n.PGAddr(), n.IngestStatus())
		}
		time.Sleep(20 * time.Millisecond)
	}
	resp, err := http.Get("http://" + n.HTTPAddr() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), "replication not connected") {
		t.Fatalf("/healthz: %d %s", resp.StatusCode, body)
	}
	fi, err := os.Stat(filepath.Join(dataDir, "nats-operator.password"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("password file: %v %v", fi, err)
	}
	if nc, err := nats.Connect(n.NATSURL()); err == nil {
		nc.Close()
		t.Fatal("the operators' listener took a client without credentials")
	}
	if n.Materializer() != nil || n.Store() != nil {
		t.Fatal("a materializer without a source")
	}
	if err := n.StopMaterializer(); err != nil {
		t.Fatalf("StopMaterializer before it started: %v", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	select {
	case <-n.Ready():
		t.Fatal("ready without a source")
	default:
	}
	if err := n.Run(context.Background()); err == nil {
		t.Fatal("Run twice")
	}
}

// TestRebuildNeedsStreams: a rebuild refuses a data directory without an
// embedded NATS store, and one whose server holds no pagemill stream.
func TestRebuildNeedsStreams(t *testing.T) {
	dataDir := t.TempDir()
	n, err := New(Config{DataDir: dataDir, Rebuild: &RebuildConfig{}})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "no embedded NATS store in "+filepath.Join(dataDir, "nats")) {
		t.Fatalf("without a NATS store: %v", err)
	}
	// A store without streams: one the server created and left.
	natstest.Start(t, filepath.Join(dataDir, "nats"), slog.New(slog.DiscardHandler)).Shutdown()
	ctx := context.Background()
	n, _ = New(Config{DataDir: dataDir, Rebuild: &RebuildConfig{Layout: streams.Layout{Timeline: 1}}, HTTPListen: "127.0.0.1:0"})
	if err := n.Run(ctx); err == nil || !strings.Contains(err.Error(), "no pagemill WAL stream") {
		t.Fatalf("without a stream: %v", err)
	}
	if (n.Rebuilt() != rebuild.Progress{}) {
		t.Fatalf("progress of a rebuild that did not start: %+v", n.Rebuilt())
	}
}
