package serve

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pagemill/pagemill/redo/pagestore"
	"github.com/pagemill/pagemill/schema"
)

// Row is one (name, value) row of the status command.
type Row struct{ Name, Value string }

// StatusFunc returns the rows of `status`. It must not block on redo.
type StatusFunc func() []Row

// Pages is what serve reads pages from: *materialize.Materializer in
// production, an in-memory fake in the protocol tests. Every method that
// takes a context may wait for redo and must end when the context does.
type Pages interface {
	// Ready is closed once reads are possible (base backup imported).
	Ready() <-chan struct{}
	// PageAt returns the page as of lsn and the LSN of that version.
	PageAt(ctx context.Context, tag schema.BufferTag, lsn schema.LSN) (schema.Page, schema.LSN, error)
	// RelSize returns a fork's size in blocks at lsn and whether it exists.
	RelSize(ctx context.Context, rel schema.RelFileNode, fork schema.ForkNumber, lsn schema.LSN) (schema.BlockNumber, bool, error)
	// DBSize returns a database's size in bytes at lsn.
	DBSize(ctx context.Context, db uint32, lsn schema.LSN) (int64, error)
	// Applied is the LSN every shard has applied; AppliedShard one shard's.
	Applied() schema.LSN
	AppliedShard(i int) schema.LSN
	// ShardOf is the shard holding a page.
	ShardOf(tag schema.BufferTag) int
	// WaitShard waits until shard i applied lsn, WaitAll until all did.
	WaitShard(ctx context.Context, i int, lsn schema.LSN) error
	WaitAll(ctx context.Context, lsn schema.LSN) error
	// Horizon is the oldest LSN that can be read.
	Horizon() schema.LSN
	// History lists the stored versions of a page with LSN in (from, to]
	// with the records that made them (see pagestore.Store.History): at
	// most limit, and whether more follow.
	History(ctx context.Context, tag schema.BufferTag, from, to schema.LSN, limit int) ([]pagestore.Version, bool, error)
}

// StaticPages returns a Config.Pages for a source that exists from the
// start.
func StaticPages(p Pages) func() Pages { return func() Pages { return p } }

// Identity is the source a server serves: its system identifier and
// timeline. A zero SystemID means not known yet.
type Identity struct {
	SystemID uint64
	Timeline schema.TimeLineID
}

// Config configures a Server. Only Addr is required; without Pages the
// server answers status and help, and page requests with "not ready".
type Config struct {
	// Addr is the TCP listen address, e.g. "127.0.0.1:6400".
	Addr string
	// Pages returns the page source, or nil while there is none yet (the
	// materializer starts after ingest identified the source).
	Pages func() Pages
	// Identity returns the source being served; it names the tenant and
	// timeline ids that pagestream commands must use.
	Identity func() Identity
	// Status returns the rows `status` shows before the tenant and
	// timeline ids.
	Status StatusFunc
	// Auth is the authentication policy (default: trust loopback clients,
	// refuse others).
	Auth Auth
	// TLS, when set, is offered to clients that send an SSLRequest;
	// without it they are answered 'N' and continue in the clear.
	TLS *tls.Config
	// BaseBackup, when set, serves the basebackup command.
	BaseBackup BaseBackupFunc
	// WaitTimeout bounds each wait for an LSN to be applied (default 30s).
	WaitTimeout time.Duration
	// MaxInFlight bounds the pipelined requests one pagestream connection
	// has in progress, waiting ones included (default 256).
	MaxInFlight int
	// MaxConns bounds concurrent client connections (default 1000).
	MaxConns int
	// StartupTimeout bounds the startup and authentication of a connection
	// (default 10s).
	StartupTimeout time.Duration
	// WriteTimeout bounds one write to a client that stopped reading
	// (default 60s).
	WriteTimeout time.Duration
}

func (c Config) withDefaults() Config {
	if c.WaitTimeout <= 0 {
		c.WaitTimeout = 30 * time.Second
	}
	if c.MaxInFlight <= 0 {
		c.MaxInFlight = 256
	}
	if c.MaxConns <= 0 {
		c.MaxConns = 1000
	}
	if c.StartupTimeout <= 0 {
		c.StartupTimeout = 10 * time.Second
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = 60 * time.Second
	}
	if c.Status == nil {
		c.Status = func() []Row { return nil }
	}
	if c.Identity == nil {
		c.Identity = func() Identity { return Identity{} }
	}
	if c.Pages == nil {
		c.Pages = func() Pages { return nil }
	}
	return c
}

// Server is the pgwire front end.
type Server struct {
	cfg   Config
	ln    net.Listener
	log   *slog.Logger
	m     *metrics
	users map[string]*scramSecret // SCRAM secrets, derived once in New
	// zeroPage answers reads of pages without a version; never written to.
	zeroPage []byte

	wg      sync.WaitGroup // connection goroutines
	mu      sync.Mutex
	conns   map[*conn]struct{}
	byPID   map[uint32]*conn
	nextPID uint32
	active  atomic.Int64

	runCtx  context.Context // Run's context: owns the waiting lines' goroutines
	bg      sync.WaitGroup  // the waiting lines' goroutines
	waitMu  sync.Mutex
	lines   map[waitKey]*waitLine
	waiting atomic.Int64 // requests waiting for an LSN (the gauge, readable)
	running atomic.Bool
}

// New opens the listener on cfg.Addr. Metrics are registered on reg (nil:
// a private registry); log may be nil.
func New(cfg Config, reg prometheus.Registerer, log *slog.Logger) (*Server, error) {
	cfg = cfg.withDefaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := cfg.Auth.validate(); err != nil {
		return nil, err
	}
	users, err := cfg.Auth.scramSecrets()
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("pgwire listen on %s: %w", cfg.Addr, err)
	}
	// Registered last, so that a server that failed to start leaves the
	// registry as it was.
	m, err := newMetrics(reg)
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("serve metrics: %w", err)
	}
	var pid [4]byte
	_, _ = rand.Read(pid[:]) // crypto/rand.Read does not fail
	return &Server{
		cfg: cfg, ln: ln, log: log.With("component", "serve"), m: m, users: users,
		zeroPage: make([]byte, schema.BLCKSZ),
		conns:    map[*conn]struct{}{}, byPID: map[uint32]*conn{},
		runCtx: context.Background(), lines: map[waitKey]*waitLine{},
		// Process ids start at a random point so that they do not repeat
		// across restarts; the secret key is what authorizes a cancel.
		nextPID: binary.BigEndian.Uint32(pid[:]) & 0x3fffffff,
	}, nil
}

// Listen is New with only a listen address and status rows, as the first
// version had it.
func Listen(addr string, status StatusFunc, log *slog.Logger) (*Server, error) {
	return New(Config{Addr: addr, Status: status}, nil, log)
}

// Addr is the listening address.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// ActiveConns is the number of client connections being served.
func (s *Server) ActiveConns() int { return int(s.active.Load()) }

// Waiting is the number of requests waiting for an LSN to be applied.
func (s *Server) Waiting() int { return int(s.waiting.Load()) }

// Run accepts connections until ctx ends, then closes every connection and
// waits for all their goroutines. Each connection is two goroutines, one
// serving it and one reading its socket (plus, in pagestream mode, a
// writer and one goroutine per request in progress), all owned by ctx.
func (s *Server) Run(ctx context.Context) error {
	if !s.running.CompareAndSwap(false, true) {
		return errors.New("pgwire server is already running")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s.runCtx = ctx // before any connection exists
	defer s.bg.Wait()
	stop := context.AfterFunc(ctx, func() {
		s.ln.Close()
		s.mu.Lock()
		for c := range s.conns {
			c.raw.Close() // the TCP connection, under TLS too
		}
		s.mu.Unlock()
	})
	defer stop()
	s.log.Info("pgwire listening", "addr", s.Addr())
	var delay time.Duration
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				s.wg.Wait()
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				// Out of file descriptors and the like: back off and retry
				// rather than end the server.
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				s.log.Warn("pgwire accept", "err", err, "retry_in", delay)
				select {
				case <-time.After(delay):
				case <-ctx.Done():
				}
				continue
			}
			cancel()
			s.wg.Wait()
			return fmt.Errorf("pgwire accept: %w", err)
		}
		delay = 0
		c := s.newConn(ctx, nc)
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			c.serve()
		}()
	}
}

func (s *Server) newConn(ctx context.Context, nc net.Conn) *conn {
	c := &conn{s: s, nc: nc, raw: nc}
	c.ctx, c.cancel = context.WithCancel(ctx)
	c.opCtx, c.opCancel = context.WithCancel(c.ctx)
	var key [4]byte
	_, _ = rand.Read(key[:]) // crypto/rand.Read does not fail
	c.secret = key
	s.mu.Lock()
	s.nextPID++
	c.pid = s.nextPID
	s.conns[c] = struct{}{}
	s.byPID[c.pid] = c
	s.mu.Unlock()
	s.active.Add(1)
	s.m.conns.Inc()
	s.m.connsTotal.Inc()
	// A connection accepted while Run is stopping is closed right here.
	if ctx.Err() != nil {
		nc.Close()
	}
	return c
}

func (s *Server) dropConn(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	delete(s.byPID, c.pid)
	s.mu.Unlock()
	s.active.Add(-1)
	s.m.conns.Dec()
}

// cancelBackend handles a CancelRequest: it cancels whatever the
// connection with that process id is waiting for, if the key matches.
func (s *Server) cancelBackend(pid uint32, key []byte) bool {
	s.mu.Lock()
	c := s.byPID[pid]
	s.mu.Unlock()
	if c == nil || !keyEqual(c.secret[:], key) {
		return false
	}
	c.cancelOps()
	return true
}

func keyEqual(a, b []byte) bool {
	if len(a) != len(b) {
		return false
	}
	var d byte
	for i := range a {
		d |= a[i] ^ b[i]
	}
	return d == 0
}

// pages returns the page source, or nil while there is none.
func (s *Server) pages() Pages { return s.cfg.Pages() }

// ids returns the tenant and timeline ids, or ok false before the source
// is known.
func (s *Server) ids() (tenant, timeline string, ok bool) {
	id := s.cfg.Identity()
	if id.SystemID == 0 {
		return "", "", false
	}
	return TenantID(id.SystemID), TimelineID(id.SystemID, id.Timeline), true
}

// isClosedErr reports errors that just mean the peer or the server closed
// the connection.
func isClosedErr(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed)
}
