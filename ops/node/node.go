package node

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/pagemill/pagemill/ingest"
	"github.com/pagemill/pagemill/ops"
	"github.com/pagemill/pagemill/redo/materialize"
	"github.com/pagemill/pagemill/redo/pagestore"
	"github.com/pagemill/pagemill/redo/rebuild"
	"github.com/pagemill/pagemill/restore"
	"github.com/pagemill/pagemill/serve"
	"github.com/pagemill/pagemill/streams"
)

// Config configures a Node. Exactly one of Source and Rebuild is set.
type Config struct {
	// Source is the PostgreSQL 15 to follow (libpq URL or key/value
	// string), over the physical replication slot Slot (default
	// "pagemill").
	Source string
	Slot   string
	// WholeRoundBytes is ingest.Config.WholeBytes: rounds up to this size
	// are one message (0: ingest's default; negative: never).
	WholeRoundBytes int
	// Rebuild, instead of a source, makes the node rebuild its page store
	// from the streams and return.
	Rebuild *RebuildConfig
	// DataDir holds the node's state (required): DataDir/nats, the
	// embedded NATS store; DataDir/pages, the page store (StoreDir, when
	// set, instead); DataDir/nats-operator.password.
	DataDir  string
	StoreDir string
	NATS     NATSConfig
	// Streams lays out the source's streams: Shards (default 1) and
	// Replicas (default 1 embedded, 3 on an external cluster). The stream
	// itself gets no age or size limit: the materializer trims it below
	// the snapshot that covers the retention window, so a rebuild always
	// finds a snapshot (or the base backup) and the WAL after it.
	Streams streams.Config
	// Materialize configures the materializer: retention, snapshots,
	// ImageEvery, CachePages… (Layout is the source's).
	Materialize materialize.Config
	// Memory is the process's memory budget: the memory-sized settings of
	// the materializer and the page store that Materialize leaves unset
	// are taken from its split (SizeFromBudget). Zero: their defaults.
	// (The Go heap's limit is the process's: the command applies it.)
	Memory ops.MemoryBudget
	// RedoShards is the number of redo shards of a new page store (default
	// materialize.DefaultShards); an existing store keeps the count it was
	// made with, and setting another is refused (rebuild to change it).
	RedoShards int
	// PGListen is the pgwire address ("": no pgwire server), with its
	// authentication and TLS. WaitTimeout bounds a page request's wait for
	// its LSN and a basebackup's (default 30 s).
	PGListen    string
	Auth        serve.Auth
	TLS         *tls.Config
	WaitTimeout time.Duration
	// HTTPListen serves /metrics and /healthz ("": no HTTP server).
	HTTPListen string
	// Log (default: discard) and Registry (default: a new one with the Go
	// and process collectors) are shared by every part.
	Log      *slog.Logger
	Registry *prometheus.Registry
}

// NATSConfig chooses the JetStream the node uses.
type NATSConfig struct {
	// External, when its URL is set, is the NATS cluster to connect to;
	// otherwise a server is embedded with its store in DataDir/nats.
	External streams.ConnConfig
	// Listen also exposes the embedded server on this TCP address for
	// operators (the nats CLI; port 0: a free one). Every client then
	// needs User (default "operator") and the password generated once
	// into DataDir/nats-operator.password, unless Anonymous (tests).
	Listen    string
	User      string
	Anonymous bool
}

// RebuildConfig is a rebuild's: the layout wanted (zero fields are
// discovered from the stream), whether a non-empty page store is moved
// aside, and a progress callback (see rebuild.Config).
type RebuildConfig struct {
	Layout   streams.Layout
	Force    bool
	Progress func(rebuild.Progress)
}

// Node is one pagemill process; see the package documentation.
type Node struct {
	cfg     Config
	scfg    streams.Config
	log     *slog.Logger
	reg     *prometheus.Registry
	health  *ops.Health
	started atomic.Bool

	ready     chan struct{}
	readyOnce sync.Once
	parts     atomic.Pointer[parts] // the materializer's, while it runs

	mu       sync.Mutex
	nc       *nats.Conn
	natsURL  string
	ing      *ingest.Ingester
	pgAddr   string
	httpAddr string
	last     *parts // the materializer's, kept after it stopped
	rebuilt  rebuild.Progress
	mat      matControl
}

// parts are what the materializer works with, made once the source is
// identified.
type parts struct {
	js      jetstream.JetStream
	handles *streams.Handles
	store   *pagestore.Store
	mat     *materialize.Materializer
	backup  *restore.Backup
}

// New checks cfg and fills its defaults.
func New(cfg Config) (*Node, error) {
	switch {
	case cfg.DataDir == "":
		return nil, errors.New("node: DataDir is required")
	case (cfg.Source == "") == (cfg.Rebuild == nil):
		return nil, errors.New("node: exactly one of Source and Rebuild is required")
	}
	if cfg.StoreDir == "" {
		cfg.StoreDir = filepath.Join(cfg.DataDir, "pages")
	}
	if cfg.Slot == "" {
		cfg.Slot = "pagemill"
	}
	if cfg.NATS.User == "" {
		cfg.NATS.User = "operator"
	}
	if cfg.WaitTimeout <= 0 {
		cfg.WaitTimeout = 30 * time.Second
	}
	if cfg.Log == nil {
		cfg.Log = ops.DiscardLogger()
	}
	if cfg.Registry == nil {
		cfg.Registry = ops.NewRegistry()
	}
	scfg := cfg.Streams
	if scfg.Replicas == 0 {
		scfg.Replicas = 1
		if cfg.NATS.External.URL != "" {
			scfg.Replicas = 3
		}
	}
	return &Node{cfg: cfg, scfg: scfg, log: cfg.Log, reg: cfg.Registry, health: ops.NewHealth(),
		ready: make(chan struct{}), mat: matControl{done: make(chan struct{})}}, nil
}

// Run runs the node until ctx ends or a part fails (see the package
// documentation); it may be called once.
func (n *Node) Run(ctx context.Context) error {
	if !n.started.CompareAndSwap(false, true) {
		return errors.New("node: Run called twice")
	}
	if n.cfg.Rebuild != nil {
		return n.runRebuild(ctx)
	}
	return n.runFollow(ctx)
}

// Ready is closed once pages can be served: the materializer has imported
// the base backup (following a source), or the rebuild is done.
func (n *Node) Ready() <-chan struct{} { return n.ready }

func (n *Node) setReady() { n.readyOnce.Do(func() { close(n.ready) }) }

// Materializer is the running materializer (nil before the source is
// identified and after it stopped).
func (n *Node) Materializer() *materialize.Materializer {
	if p := n.parts.Load(); p != nil {
		return p.mat
	}
	return nil
}

// lastParts are the materializer's parts, also after it stopped (nil
// before the source is identified).
func (n *Node) lastParts() *parts {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.last
}

// Store is the page store (nil before the source is identified; closed
// once the materializer stopped).
func (n *Node) Store() *pagestore.Store {
	if p := n.lastParts(); p != nil {
		return p.store
	}
	return nil
}

// Handles are the source's streams (nil before the source is identified).
func (n *Node) Handles() *streams.Handles {
	if p := n.lastParts(); p != nil {
		return p.handles
	}
	return nil
}

// JetStream is the node's JetStream context (nil before the source is
// identified).
func (n *Node) JetStream() jetstream.JetStream {
	if p := n.lastParts(); p != nil {
		return p.js
	}
	return nil
}

// NATSConn is the node's NATS connection (nil before Run connected).
func (n *Node) NATSConn() *nats.Conn {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.nc
}

// NATSURL is the embedded server's TCP URL when NATSConfig.Listen is set
// ("" otherwise).
func (n *Node) NATSURL() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.natsURL
}

// Ingester is the node's ingest (nil before Run created it, and when
// rebuilding).
func (n *Node) Ingester() *ingest.Ingester {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.ing
}

// IngestStatus is ingest's status (zero without an ingest).
func (n *Node) IngestStatus() ingest.Status {
	if ing := n.Ingester(); ing != nil {
		return ing.Status()
	}
	return ingest.Status{}
}

// PGAddr is the address the pgwire server listens on ("" before it does).
func (n *Node) PGAddr() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.pgAddr
}

// HTTPAddr is the address the HTTP server listens on ("" before it does).
func (n *Node) HTTPAddr() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.httpAddr
}

// Rebuilt is the last observation of the rebuild (after Run, when
// rebuilding).
func (n *Node) Rebuilt() rebuild.Progress {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.rebuilt
}

// group runs a node's parts, each in a goroutine of its own on one
// context: the first to end cancels the others, and Wait returns the
// first error once all have ended.
type group struct {
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once
	err    error
}

func newGroup(parent context.Context) *group {
	ctx, cancel := context.WithCancel(parent)
	return &group{ctx: ctx, cancel: cancel}
}

// Go runs f on the group's context.
func (g *group) Go(f func(ctx context.Context) error) {
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		if err := f(g.ctx); err != nil {
			g.once.Do(func() { g.err = err })
		}
		g.cancel() // one part ending stops the others
	}()
}

// Wait waits for every part and returns the first error.
func (g *group) Wait() error {
	g.wg.Wait()
	g.cancel()
	return g.err
}
