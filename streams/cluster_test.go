package streams_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/pagemill/pagemill/internal/natstest"
	"github.com/pagemill/pagemill/streams"
)

// publishWithRetry is what a caller of PublishAtomic does: retry the same
// batch (same id, same message ids) while the error is Retryable, and take
// ErrDuplicateBatch as "stored by an earlier attempt".
func publishWithRetry(ctx context.Context, nc *nats.Conn, id string, msgs []*nats.Msg, onRetry func(error)) error {
	backoff := 50 * time.Millisecond
	for {
		actx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := streams.PublishAtomic(actx, nc, id, msgs)
		cancel()
		switch {
		case err == nil, errors.Is(err, streams.ErrDuplicateBatch):
			return nil
		case !streams.Retryable(err):
			return err
		}
		onRetry(err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("batch %s: gave up: %w (last error: %w)", id, ctx.Err(), err)
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 500*time.Millisecond)
	}
}

func TestClusterFailoverLosesNothing(t *testing.T) {
	c := natstest.StartCluster(t, streams.TestLogger(t))
	ctx := streams.TestCtx(t, 60*time.Second)
	nc, js := c.Connect(ctx, "cluster-test")

	h := ensureR3(t, ctx, js)

	// The stream leader is the server the client is connected to, so
	// stopping it forces both a leader election and a client reconnect.
	leader := nc.ConnectedServerName()
	stepDownTo(t, ctx, nc, h.Stream, leader)

	// The publisher: one goroutine, owned by this test, publishing rounds
	// until told to stop while the test stops and restarts the leader.
	pub := startFailoverPublisher(t, ctx, nc)
	done, retries, waitRound := &pub.done, &pub.retries, pub.waitRound

	waitRound(20)
	t0 := time.Now()
	stopped := c.Stop(leader)
	t.Logf("stopped stream leader %s (the client's server) after round %d", leader, done.Load())

	at := done.Load()
	waitRound(at + 20)
	t.Logf("round %d without %s after %v, %d retries so far", done.Load(), leader, time.Since(t0).Round(time.Millisecond), retries.Load())

	c.Start(stopped)
	if err := c.Nodes[stopped].WaitJetStream(ctx); err != nil {
		t.Fatal(err)
	}
	at = done.Load()
	t.Logf("restarted %s after round %d", leader, at)
	waitRound(at + 20)

	// Now lose quorum: stop two servers, the client's among them.
	loseQuorum(t, ctx, c, nc, pub)
	rounds := pub.finish()

	// Every round exactly once, in order, read through the stream leader.
	info, err := h.Stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	verifyRounds(t, ctx, h, rounds, info.Cluster.Leader)
	waitReplicasHold(t, c, failoverMessages(rounds))
	// And the restarted server's copy reads back right when it leads.
	stepDownTo(t, ctx, nc, h.Stream, leader)
	verifyRounds(t, ctx, h, rounds, leader)
}

// ensureR3 creates the stream and buckets with three replicas, retrying
// while a fresh cluster may not know all its peers yet.
func ensureR3(t *testing.T, ctx context.Context, js jetstream.JetStream) *streams.Handles {
	t.Helper()
	var h *streams.Handles
	var err error
	for {
		h, err = streams.Ensure(ctx, js, streams.TestLayout, streams.Config{Replicas: 3})
		if err == nil {
			break
		}
		// A fresh cluster may not know all its peers yet.
		t.Logf("Ensure: %v (retrying)", err)
		select {
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
	info, err := h.Stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.Config.Replicas != 3 || info.Cluster == nil || len(info.Cluster.Replicas) != 2 {
		t.Fatalf("stream not R3: %+v", info.Cluster)
	}
	ost, err := h.Objects.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	kst, err := h.KV.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if ost.Replicas() != 3 || kst.(*jetstream.KeyValueBucketStatus).StreamInfo().Config.Replicas != 3 {
		t.Fatalf("buckets not R3: object store %d", ost.Replicas())
	}
	return h
}

// failoverShards is the shards round r publishes to.
func failoverShards(r int) []int { return []int{r % 8, (r*5 + 1) % 8} }

// failoverMessages is the number of messages of rounds 1..rounds.
func failoverMessages(rounds int) int {
	want := 0
	for r := 1; r <= rounds; r++ {
		want += len(failoverShards(r)) + 1
	}
	return want
}

// failoverPublisher publishes rounds from one goroutine, retrying each
// until it is stored, and counts the rounds done and the retries by kind.
type failoverPublisher struct {
	t             *testing.T
	ctx           context.Context
	done, retries atomic.Int64
	kindsMu       sync.Mutex
	kinds         map[string]int
	pubErr        chan error
	stop          chan struct{}
}

func startFailoverPublisher(t *testing.T, ctx context.Context, nc *nats.Conn) *failoverPublisher {
	fp := &failoverPublisher{t: t, ctx: ctx, kinds: map[string]int{}, pubErr: make(chan error, 1), stop: make(chan struct{})}
	go func() {
		for r := 1; ; r++ {
			select {
			case <-fp.stop:
				fp.pubErr <- nil
				return
			default:
			}
			if err := publishWithRetry(fp.ctx, nc, streams.BatchID(r), streams.MakeBatch(streams.TestLayout, r, failoverShards(r), 2000), fp.onRetry); err != nil {
				fp.pubErr <- fmt.Errorf("round %d: %w", r, err)
				return
			}
			fp.done.Store(int64(r))
		}
	}()
	return fp
}

// onRetry counts a retry by the kind of its error.
func (fp *failoverPublisher) onRetry(err error) {
	fp.retries.Add(1)
	kind := "other"
	for _, k := range []error{streams.ErrPublishTimeout, streams.ErrNoResponders, streams.ErrBatchIncomplete, streams.ErrDuplicateInFlight, streams.ErrServerBusy, nats.ErrConnectionReconnecting} {
		if errors.Is(err, k) {
			kind = k.Error()
			break
		}
	}
	fp.kindsMu.Lock()
	fp.kinds[kind]++
	fp.kindsMu.Unlock()
}

// waitRound waits until round r is published.
func (fp *failoverPublisher) waitRound(r int64) {
	fp.t.Helper()
	for fp.done.Load() < r {
		select {
		case err := <-fp.pubErr:
			fp.t.Fatalf("publisher stopped before round %d: %v", r, err)
		case <-fp.ctx.Done():
			fp.t.Fatalf("round %d not reached: %v", r, fp.ctx.Err())
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// finish stops the publisher and returns the number of rounds published.
func (fp *failoverPublisher) finish() int {
	close(fp.stop)
	if err := <-fp.pubErr; err != nil {
		fp.t.Fatal(err)
	}
	rounds := int(fp.done.Load())
	fp.kindsMu.Lock()
	fp.t.Logf("published %d rounds, %d retries: %v", rounds, fp.retries.Load(), fp.kinds)
	fp.kindsMu.Unlock()
	return rounds
}

// loseQuorum stops two servers, the client's among them. Publishes time
// out or find no responder until a majority is back; the publisher
// keeps retrying the same batch.
func loseQuorum(t *testing.T, ctx context.Context, c *natstest.Cluster, nc *nats.Conn, pub *failoverPublisher) {
	t.Helper()
	done, retries, pubErr := &pub.done, &pub.retries, pub.pubErr
	var down []int
	for _, name := range []string{nc.ConnectedServerName(), ""} {
		for i, n := range c.Nodes {
			if n != nil && (name == "" || n.Name() == name) {
				c.Stop(n.Name())
				down = append(down, i)
				break
			}
		}
	}
	before := retries.Load()
	at := done.Load()
	t.Logf("stopped %s and %s after round %d", c.Cfgs[down[0]].ServerName, c.Cfgs[down[1]].ServerName, at)
	for retries.Load() < before+3 {
		select {
		case err := <-pubErr:
			t.Fatalf("publisher stopped without quorum: %v", err)
		case <-time.After(10 * time.Millisecond):
		}
	}
	for _, i := range down {
		c.Start(i)
	}
	for _, i := range down {
		if err := c.Nodes[i].WaitJetStream(ctx); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("quorum back after round %d, %d retries so far", done.Load(), retries.Load())
	pub.waitRound(done.Load() + 20)
}

// verifyRounds reads the stream via the given leader and checks that it
// holds every round exactly once, in order.
func verifyRounds(t *testing.T, ctx context.Context, h *streams.Handles, rounds int, via string) {
	t.Helper()
	want := failoverMessages(rounds)
	got := streams.ReadStream(t, ctx, h.Stream)
	if len(got) != want {
		t.Fatalf("via %s: %d messages, want %d", via, len(got), want)
	}
	i := 0
	for r := 1; r <= rounds; r++ {
		for _, w := range streams.MakeBatch(streams.TestLayout, r, failoverShards(r), 2000) {
			m := got[i]
			if m.Subject != w.Subject || string(m.Data) != string(w.Data) || m.Header.Get(nats.MsgIdHdr) != w.Header.Get(nats.MsgIdHdr) {
				t.Fatalf("via %s: message %d is %s %s, want %s %s", via, m.Sequence, m.Subject,
					m.Header.Get(nats.MsgIdHdr), w.Subject, w.Header.Get(nats.MsgIdHdr))
			}
			i++
		}
	}
}

// waitReplicasHold waits until every replica, the restarted one
// included, holds the same stream of want messages.
func waitReplicasHold(t *testing.T, c *natstest.Cluster, want int) {
	t.Helper()
	c.WaitHeld(streams.TestLayout.StreamName(), 10*time.Second, fmt.Sprintf("%d messages", want), func(st server.StreamState) bool {
		return st.Msgs == uint64(want) && st.LastSeq == uint64(want) && st.FirstSeq == 1
	})
}

// stepDownTo moves the stream's leadership to the named server.
func stepDownTo(t *testing.T, ctx context.Context, nc *nats.Conn, s jetstream.Stream, name string) {
	t.Helper()
	req, _ := json.Marshal(map[string]any{"placement": map[string]string{"preferred": name}})
	subj := "$JS.API.STREAM.LEADER.STEPDOWN." + s.CachedInfo().Config.Name
	for {
		info, err := s.Info(ctx)
		if err == nil && info.Cluster != nil && info.Cluster.Leader == name {
			return
		}
		if resp, err := nc.RequestWithContext(ctx, subj, req); err == nil {
			t.Logf("step down to %s: %s", name, resp.Data)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("leadership did not move to %s: %v", name, ctx.Err())
		case <-time.After(250 * time.Millisecond):
		}
	}
}
