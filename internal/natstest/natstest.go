// Package natstest runs embedded NATS JetStream servers (package streams)
// for tests: [Start] one of a test's own, [StartCluster] three forming a
// JetStream cluster whose servers a test stops and starts again. Everything
// started is shut down when the test ends. Production code does not import
// it (see internal/archtest).
package natstest

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/pagemill/pagemill/streams"
)

// readyTimeout bounds a server's start and its wait for JetStream.
const readyTimeout = 30 * time.Second

// Start starts a single embedded JetStream server on the store directory
// dir, without a TCP listener (clients connect in process). It shuts down
// when tb ends; an earlier Shutdown is fine.
func Start(tb testing.TB, dir string, log *slog.Logger) *streams.Embedded {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	e, err := streams.StartEmbedded(ctx, streams.EmbeddedConfig{Dir: dir}, log)
	if err != nil {
		tb.Fatalf("start embedded NATS: %v", err)
	}
	tb.Cleanup(e.Shutdown)
	return e
}

// Connect connects to e in process, closed when tb ends, and returns the
// connection and its JetStream.
func Connect(tb testing.TB, e *streams.Embedded, opts ...nats.Option) (*nats.Conn, jetstream.JetStream) {
	tb.Helper()
	nc, err := e.Connect(opts...)
	if err != nil {
		tb.Fatalf("connect: %v", err)
	}
	tb.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		tb.Fatalf("jetstream: %v", err)
	}
	return nc, js
}

// FreeAddr returns 127.0.0.1:<port> with a port that was free a moment
// ago, for a listener a test configures before it starts.
func FreeAddr(tb testing.TB) string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("free port: %v", err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		tb.Fatalf("free port: %v", err)
	}
	return addr
}

// Cluster is three embedded servers on 127.0.0.1 forming a JetStream
// cluster. A stopped server starts again on its own store directory and
// addresses, so it rejoins as the same peer.
type Cluster struct {
	tb  testing.TB
	log *slog.Logger
	// Cfgs are the servers' configurations, Nodes the running servers
	// (nil while stopped), by index.
	Cfgs  []streams.EmbeddedConfig
	Nodes []*streams.Embedded
}

// StartCluster starts the three servers, named n1 to n3, and waits until
// JetStream is ready on each.
func StartCluster(tb testing.TB, log *slog.Logger) *Cluster {
	tb.Helper()
	c := &Cluster{tb: tb, log: log, Nodes: make([]*streams.Embedded, 3)}
	var routes []string
	for i := range c.Nodes {
		cfg := streams.EmbeddedConfig{
			Dir:           tb.TempDir(),
			Listen:        FreeAddr(tb),
			ServerName:    fmt.Sprintf("n%d", i+1),
			ClusterName:   "natstest",
			ClusterListen: FreeAddr(tb),
		}
		routes = append(routes, cfg.ClusterListen)
		c.Cfgs = append(c.Cfgs, cfg)
	}
	for i := range c.Cfgs {
		c.Cfgs[i].Routes = routes
	}
	// Registered first: a server that fails to start leaves the others
	// to be shut down.
	tb.Cleanup(func() {
		for _, n := range c.Nodes {
			if n != nil {
				n.Shutdown()
			}
		}
	})
	for i := range c.Cfgs {
		c.Start(i)
	}
	for i := range c.Nodes {
		c.WaitJetStream(i)
	}
	return c
}

// Start starts server i (stopped) and returns once it accepts clients;
// JetStream may not be ready yet (WaitJetStream).
func (c *Cluster) Start(i int) {
	c.tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	e, err := streams.StartEmbedded(ctx, c.Cfgs[i], c.log)
	if err != nil {
		c.tb.Fatalf("start %s: %v", c.Cfgs[i].ServerName, err)
	}
	c.Nodes[i] = e
}

// WaitJetStream waits until JetStream is ready on server i.
func (c *Cluster) WaitJetStream(i int) {
	c.tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	if err := c.Nodes[i].WaitJetStream(ctx); err != nil {
		c.tb.Fatal(err)
	}
}

// Stop shuts the running server named name down and returns its index.
func (c *Cluster) Stop(name string) int {
	c.tb.Helper()
	for i, n := range c.Nodes {
		if n != nil && n.Name() == name {
			n.Shutdown()
			c.Nodes[i] = nil
			return i
		}
	}
	c.tb.Fatalf("no running server %q", name)
	return -1
}

// Connect connects to the cluster by its servers' TCP URLs as a client
// named name, closed when the test ends. It reconnects at once (the tests
// stop servers): the connection moves to another server while one is
// down.
func (c *Cluster) Connect(ctx context.Context, name string) (*nats.Conn, jetstream.JetStream) {
	c.tb.Helper()
	var urls []string
	for _, cfg := range c.Cfgs {
		urls = append(urls, "nats://"+cfg.Listen)
	}
	nc, err := streams.Connect(ctx, streams.ConnConfig{URL: strings.Join(urls, ","), Name: name}, c.log,
		nats.ReconnectWait(50*time.Millisecond), nats.ReconnectJitter(0, 0))
	if err != nil {
		c.tb.Fatal(err)
	}
	c.tb.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		c.tb.Fatal(err)
	}
	return nc, js
}

// WaitHeld waits until every server, all running, holds a copy of stream
// name that held accepts (restarted replicas catch up in the background);
// after timeout it fails the test, saying it wanted want.
func (c *Cluster) WaitHeld(name string, timeout time.Duration, want string, held func(server.StreamState) bool) {
	c.tb.Helper()
	deadline := time.Now().Add(timeout)
	for _, n := range c.Nodes {
		for {
			s, ok := streamState(n, name)
			if ok && held(s) {
				break
			}
			if time.Now().After(deadline) {
				c.tb.Fatalf("%s holds %+v of stream %s, want %s", n.Name(), s, name, want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// streamState is what server e itself holds of stream name, replica or
// leader; false when it holds none.
func streamState(e *streams.Embedded, name string) (server.StreamState, bool) {
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
