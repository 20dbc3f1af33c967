package ingest_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/pagemill/pagemill/ingest"
	"github.com/pagemill/pagemill/internal/pgtest"
	"github.com/pagemill/pagemill/streams"
)

// natsCluster is three embedded servers on 127.0.0.1 forming a JetStream
// cluster; a stopped server restarts on its own store directory.
type natsCluster struct {
	t     *testing.T
	cfgs  []streams.EmbeddedConfig
	nodes []*streams.Embedded // nil while stopped
}

func startNATSCluster(t *testing.T) *natsCluster {
	t.Helper()
	nc := &natsCluster{t: t, nodes: make([]*streams.Embedded, 3)}
	var routes []string
	for i := 0; i < 3; i++ {
		cfg := streams.EmbeddedConfig{
			Dir:           t.TempDir(),
			Listen:        freeAddr(t),
			ServerName:    fmt.Sprintf("n%d", i+1),
			ClusterName:   "pmingest",
			ClusterListen: freeAddr(t),
		}
		routes = append(routes, cfg.ClusterListen)
		nc.cfgs = append(nc.cfgs, cfg)
	}
	for i := range nc.cfgs {
		nc.cfgs[i].Routes = routes
	}
	t.Cleanup(func() {
		for _, n := range nc.nodes {
			if n != nil {
				n.Shutdown()
			}
		}
	})
	for i := range nc.cfgs {
		nc.start(i, false)
	}
	for i := range nc.nodes {
		nc.waitJetStream(i)
	}
	return nc
}

func (c *natsCluster) start(i int, wait bool) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	e, err := streams.StartEmbedded(ctx, c.cfgs[i], slog.New(slog.DiscardHandler))
	if err != nil {
		c.t.Fatalf("start %s: %v", c.cfgs[i].ServerName, err)
	}
	c.nodes[i] = e
	if wait {
		c.waitJetStream(i)
	}
}

func (c *natsCluster) waitJetStream(i int) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := c.nodes[i].WaitJetStream(ctx); err != nil {
		c.t.Fatal(err)
	}
}

// stop shuts the named server down and returns its index.
func (c *natsCluster) stop(name string) int {
	c.t.Helper()
	for i, n := range c.nodes {
		if n != nil && n.Name() == name {
			n.Shutdown()
			c.nodes[i] = nil
			return i
		}
	}
	c.t.Fatalf("no running server %q", name)
	return -1
}

func (c *natsCluster) urls() string {
	var u []string
	for _, cfg := range c.cfgs {
		u = append(u, "nats://"+cfg.Listen)
	}
	return strings.Join(u, ",")
}

// streamMsgs is what server e holds of stream name.
func streamMsgs(e *streams.Embedded, name string) (server.StreamState, bool) {
	info, err := e.Server().Jsz(&server.JSzOptions{Accounts: true, Streams: true})
	if err != nil {
		return server.StreamState{}, false
	}
	for _, acc := range info.AccountDetails {
		for _, sd := range acc.Streams {
			if sd.Name == name {
				return sd.State, true
			}
		}
	}
	return server.StreamState{}, false
}

// TestIngestThreeNodeCluster ingests into an R3 stream on a three-server
// JetStream cluster while pgbench runs and servers go down and come back:
// first a follower of the WAL stream, then its leader. Nothing is lost and
// nothing is stored twice.
func TestIngestThreeNodeCluster(t *testing.T) {
	c := pgtest.Start(t, pgtest.Options{})
	cl := startNATSCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	nc, err := streams.Connect(ctx, streams.ConnConfig{URL: cl.urls(), Name: "ingest-cluster-test"}, slog.New(slog.DiscardHandler),
		nats.ReconnectWait(50*time.Millisecond), nats.ReconnectJitter(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}

	c.Pgbench(t, "-i", "-s", "1", "-q")
	r := startIngest(t, ingest.Config{
		Source: c.ConnString("postgres"), Slot: "pm_cluster",
		Streams:    streams.Config{Shards: 4, Replicas: 3},
		RoundBytes: 256 << 10, RoundInterval: 5 * time.Millisecond, StatusInterval: 50 * time.Millisecond,
		RetryMax: time.Second,
		// Every round an atomic batch: the whole rounds have the other tests.
		WholeBytes: -1,
	}, nc)

	stopLoad := pgbenchLoad(c, 200)
	defer stopLoad()

	// progress waits until everything the source wrote so far is published.
	progress := func(what string) {
		t.Helper()
		t0 := time.Now()
		lsn := mustLSN(t, c.CurrentWALLSN(t))
		r.waitPublished(t, lsn, 40*time.Second)
		t.Logf("%s: published %s after %v", what, lsn, time.Since(t0).Round(time.Millisecond))
	}
	progress("base backup and first rounds")
	st := r.ing.Status()
	if st.BaseBackup == nil || !st.BaseBackup.Completed {
		t.Fatalf("no completed base backup: %+v", st.BaseBackup)
	}
	layout := streams.Layout{SystemID: st.SystemID, Timeline: 1, Shards: 4}
	stream, err := js.Stream(ctx, layout.StreamName())
	if err != nil {
		t.Fatal(err)
	}
	leaderOf := func() string { return streamLeader(t, ctx, stream) }

	stopFollowerThenLeader(t, cl, nc, leaderOf, progress)

	if err := stopLoad(); err != nil {
		t.Fatal(err)
	}
	end := mustLSN(t, c.CurrentWALLSN(t))
	r.waitPublished(t, end, 40*time.Second)
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(r.logs.String(), "taking a base backup"); n != 1 {
		t.Errorf("%d base backups, want 1:\n%s", n, r.logs.String())
	}
	waitReplicasHoldStream(t, ctx, cl, stream, layout.StreamName())
	for _, line := range strings.Split(r.logs.String(), "\n") {
		if strings.Contains(line, "level=WARN") || strings.Contains(line, "level=ERROR") {
			t.Log(line)
		}
	}
	n := checkStream(t, nc, c, st.BaseBackup.StartLSN, end)
	t.Logf("the stream holds the %d records of %s..%s exactly once; %d publish retries logged, %d reconnects",
		n, st.BaseBackup.StartLSN, end, strings.Count(r.logs.String(), "publish round failed"), strings.Count(r.logs.String(), "ingest interrupted"))
}

// stopFollowerThenLeader stops a follower, then the stream leader, and
// starts each again, waiting for progress without it and after it is
// back.
func stopFollowerThenLeader(t *testing.T, cl *natsCluster, nc *nats.Conn, leaderOf func() string, progress func(what string)) {
	t.Helper()
	// A follower goes down and comes back.
	leader := leaderOf()
	follower := ""
	for _, cfg := range cl.cfgs {
		if cfg.ServerName != leader {
			follower = cfg.ServerName
			break
		}
	}
	i := cl.stop(follower)
	t.Logf("stopped follower %s (leader %s, client on %s)", follower, leader, nc.ConnectedServerName())
	time.Sleep(500 * time.Millisecond)
	progress("without " + follower)
	cl.start(i, true)
	progress(follower + " back")

	// The stream leader goes down and comes back.
	leader = leaderOf()
	i = cl.stop(leader)
	t.Logf("stopped stream leader %s (client now on %s)", leader, nc.ConnectedServerName())
	time.Sleep(500 * time.Millisecond)
	progress("without " + leader)
	t.Logf("new stream leader %s", leaderOf())
	cl.start(i, true)
	progress(leader + " back")
}

// streamLeader waits until stream has a leader and returns it; the
// stream must have 3 replicas.
func streamLeader(t *testing.T, ctx context.Context, stream jetstream.Stream) string {
	t.Helper()
	for {
		info, err := stream.Info(ctx)
		if err == nil && info.Cluster != nil && info.Cluster.Leader != "" {
			if info.Config.Replicas != 3 {
				t.Fatalf("stream has %d replicas, want 3", info.Config.Replicas)
			}
			return info.Cluster.Leader
		}
		if ctx.Err() != nil {
			t.Fatalf("no stream leader: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitReplicasHoldStream waits until every replica, the restarted ones
// included, holds the same stream as the leader.
func waitReplicasHoldStream(t *testing.T, ctx context.Context, cl *natsCluster, stream jetstream.Stream, name string) {
	t.Helper()
	info, err := stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for _, node := range cl.nodes {
		for {
			s, ok := streamMsgs(node, name)
			if ok && s.Msgs == info.State.Msgs && s.LastSeq == info.State.LastSeq {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s holds %+v of the stream, the leader %d messages up to %d", node.Name(), s, info.State.Msgs, info.State.LastSeq)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}
