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
	"github.com/pagemill/pagemill/internal/natstest"
	"github.com/pagemill/pagemill/internal/pgtest"
	"github.com/pagemill/pagemill/streams"
)

// TestIngestThreeNodeCluster ingests into an R3 stream on a three-server
// JetStream cluster while pgbench runs and servers go down and come back:
// first a follower of the WAL stream, then its leader. Nothing is lost and
// nothing is stored twice.
func TestIngestThreeNodeCluster(t *testing.T) {
	c := pgtest.Start(t, pgtest.Options{})
	cl := natstest.StartCluster(t, slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	nc, js := cl.Connect(ctx, "ingest-cluster-test")

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
func stopFollowerThenLeader(t *testing.T, cl *natstest.Cluster, nc *nats.Conn, leaderOf func() string, progress func(what string)) {
	t.Helper()
	// A follower goes down and comes back.
	leader := leaderOf()
	follower := ""
	for _, cfg := range cl.Cfgs {
		if cfg.ServerName != leader {
			follower = cfg.ServerName
			break
		}
	}
	i := cl.Stop(follower)
	t.Logf("stopped follower %s (leader %s, client on %s)", follower, leader, nc.ConnectedServerName())
	time.Sleep(500 * time.Millisecond)
	progress("without " + follower)
	cl.Start(i)
	cl.WaitJetStream(i)
	progress(follower + " back")

	// The stream leader goes down and comes back.
	leader = leaderOf()
	i = cl.Stop(leader)
	t.Logf("stopped stream leader %s (client now on %s)", leader, nc.ConnectedServerName())
	time.Sleep(500 * time.Millisecond)
	progress("without " + leader)
	t.Logf("new stream leader %s", leaderOf())
	cl.Start(i)
	cl.WaitJetStream(i)
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
func waitReplicasHoldStream(t *testing.T, ctx context.Context, cl *natstest.Cluster, stream jetstream.Stream, name string) {
	t.Helper()
	info, err := stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cl.WaitHeld(name, 15*time.Second, fmt.Sprintf("the leader's %d messages up to %d", info.State.Msgs, info.State.LastSeq),
		func(s server.StreamState) bool { return s.Msgs == info.State.Msgs && s.LastSeq == info.State.LastSeq })
}
