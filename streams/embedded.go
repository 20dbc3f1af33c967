package streams

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// DefaultReadyTimeout bounds StartEmbedded's wait for the server when ctx
// has no deadline.
const DefaultReadyTimeout = 10 * time.Second

// DefaultMaxPayload is the embedded server's max_payload: one message,
// headers included, may be this large. It matches DefaultMaxMsgSize and is
// the largest value nats-server accepts without a warning.
const DefaultMaxPayload = 8 << 20

// ErrNotReady is matched by errors when a server does not become ready in
// time.
var ErrNotReady = errors.New("nats server not ready")

// EmbeddedConfig configures an in-process nats-server with JetStream.
type EmbeddedConfig struct {
	// Dir is the JetStream store directory (required). Restarting on the
	// same Dir recovers every stream.
	Dir string
	// Listen is the client TCP address, e.g. "127.0.0.1:4222" (port 0
	// picks a free one). Empty: no TCP listener, clients connect in
	// process only (Embedded.Connect).
	Listen string
	// ServerName names the server; required in a cluster, where it must
	// be unique and stable across restarts.
	ServerName string
	// ClusterName, ClusterListen and Routes form a JetStream cluster:
	// ClusterListen is this server's route address ("127.0.0.1:6222"),
	// Routes the route addresses of all members ("host:port" or
	// "nats-route://host:port"; this server's own is ignored). Empty
	// ClusterName: a single server.
	ClusterName   string
	ClusterListen string
	Routes        []string
	// MaxPayload is the largest message the server accepts (default
	// DefaultMaxPayload).
	MaxPayload int32
	// MaxStore caps JetStream file storage in bytes (0: the server's
	// default, based on free disk).
	MaxStore int64
	// User and Password, when Password is set, are required of every
	// client, the in-process ones included (Embedded.Connect supplies
	// them): a listener for operators is never open to anyone who can
	// reach the port.
	User, Password string
	// DropCacheEvery, when positive, has the kernel drop the cached
	// pages of the store's message blocks this often (see dropCache):
	// for a process under a memory limit that counts page cache.
	DropCacheEvery time.Duration
}

// Embedded is a running in-process nats-server. It fsyncs every write
// (SyncAlways): an acknowledged message is on disk.
type Embedded struct {
	srv  *server.Server
	cfg  EmbeddedConfig
	log  *slog.Logger
	stop context.CancelFunc // ends the goroutines below
	done chan struct{}      // closed when they have
}

// StartEmbedded starts a nats-server with JetStream in this process and
// waits until it accepts connections. ctx bounds the start only (default
// DefaultReadyTimeout when it has no deadline); the server runs until
// Shutdown. In a cluster, call WaitJetStream before using JetStream.
func StartEmbedded(ctx context.Context, cfg EmbeddedConfig, log *slog.Logger) (*Embedded, error) {
	if cfg.Dir == "" {
		return nil, errors.New("embedded nats: Dir is required")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	opts := &server.Options{
		ServerName: cfg.ServerName,
		JetStream:  true,
		StoreDir:   cfg.Dir,
		// Durability must be honest: fsync every write before the ack.
		SyncAlways:        true,
		MaxPayload:        cfg.MaxPayload,
		JetStreamMaxStore: cfg.MaxStore,
		NoSigs:            true,
	}
	if opts.MaxPayload == 0 {
		opts.MaxPayload = DefaultMaxPayload
	}
	if cfg.Password != "" {
		if cfg.User == "" {
			return nil, errors.New("embedded nats: a password needs a user")
		}
		opts.Username, opts.Password = cfg.User, cfg.Password
	}
	if cfg.Listen == "" {
		opts.DontListen = true
	} else {
		host, port, err := splitHostPort(cfg.Listen)
		if err != nil {
			return nil, fmt.Errorf("embedded nats: listen address: %w", err)
		}
		opts.Host, opts.Port = host, port
	}
	if cfg.ClusterName != "" {
		if cfg.ServerName == "" || cfg.ClusterListen == "" {
			return nil, errors.New("embedded nats: a cluster needs ServerName and ClusterListen")
		}
		host, port, err := splitHostPort(cfg.ClusterListen)
		if err != nil {
			return nil, fmt.Errorf("embedded nats: cluster address: %w", err)
		}
		opts.Cluster = server.ClusterOpts{Name: cfg.ClusterName, Host: host, Port: port}
		var routes []string
		for _, r := range cfg.Routes {
			if !strings.Contains(r, "://") {
				r = "nats-route://" + r
			}
			routes = append(routes, r)
		}
		opts.Routes = server.RoutesFromStr(strings.Join(routes, ","))
	}

	srv, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("embedded nats: %w", err)
	}
	name := cfg.ServerName
	if name == "" {
		name = srv.ID()
	}
	log = log.With("component", "nats-server", "server", name)
	srv.SetLoggerV2(&slogAdapter{log: log}, log.Enabled(ctx, slog.LevelDebug), false, false)

	// The server's goroutines carry the label (CPU profiles by stage).
	pprof.Do(context.Background(), pprof.Labels("stage", "jetstream"), func(context.Context) { srv.Start() })
	timeout := DefaultReadyTimeout
	if dl, ok := ctx.Deadline(); ok {
		timeout = time.Until(dl)
	}
	if !srv.ReadyForConnections(timeout) {
		srv.Shutdown()
		srv.WaitForShutdown()
		return nil, fmt.Errorf("embedded nats %s: %w after %v", name, ErrNotReady, timeout)
	}
	if !srv.JetStreamEnabled() {
		srv.Shutdown()
		srv.WaitForShutdown()
		return nil, fmt.Errorf("embedded nats %s: JetStream did not start (store %s)", name, cfg.Dir)
	}
	log.Info("nats server started", "client_url", clientURL(srv, cfg), "store", cfg.Dir, "cluster", cfg.ClusterName)
	e := &Embedded{srv: srv, cfg: cfg, log: log, done: make(chan struct{})}
	var bg context.Context
	bg, e.stop = context.WithCancel(context.Background())
	go func() {
		defer close(e.done)
		if cfg.DropCacheEvery > 0 {
			e.dropCache(bg, cfg.DropCacheEvery)
		}
	}()
	return e, nil
}

func splitHostPort(hp string) (string, int, error) {
	host, ps, err := net.SplitHostPort(hp)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(ps)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("bad port in %q", hp)
	}
	if port == 0 {
		port = server.RANDOM_PORT
	}
	return host, port, nil
}

func clientURL(srv *server.Server, cfg EmbeddedConfig) string {
	if cfg.Listen == "" {
		return ""
	}
	return srv.ClientURL()
}

// Server is the underlying nats-server, for what this type does not wrap.
func (e *Embedded) Server() *server.Server { return e.srv }

// Name is the server's name (its id when EmbeddedConfig.ServerName is
// empty).
func (e *Embedded) Name() string { return e.srv.Name() }

// ClientURL is the TCP URL clients connect to, or "" without a listener.
func (e *Embedded) ClientURL() string { return clientURL(e.srv, e.cfg) }

// Connect opens a client connection in process (no TCP, even with a
// listener). opts come after Embedded's own (a name), so they win.
func (e *Embedded) Connect(opts ...nats.Option) (*nats.Conn, error) {
	all := []nats.Option{nats.InProcessServer(e.srv), nats.Name("pagemill-inprocess")}
	if e.cfg.Password != "" {
		all = append(all, nats.UserInfo(e.cfg.User, e.cfg.Password))
	}
	all = append(all, opts...)
	url := e.ClientURL()
	if url == "" {
		url = nats.DefaultURL // unused: the connection is in process
	}
	// Both ends' goroutines (the server's client, the connection's read
	// and flush loops) carry the label: delivery is JetStream's stage.
	var nc *nats.Conn
	var err error
	pprof.Do(context.Background(), pprof.Labels("stage", "jetstream"), func(context.Context) { nc, err = nats.Connect(url, all...) })
	if err != nil {
		return nil, fmt.Errorf("connect in process to %s: %w", e.Name(), err)
	}
	return nc, nil
}

// WaitJetStream waits until JetStream can serve requests: on a single
// server at once, in a cluster once a meta leader is elected and this
// server is current with it.
func (e *Embedded) WaitJetStream(ctx context.Context) error {
	t := time.NewTicker(25 * time.Millisecond)
	defer t.Stop()
	for {
		if e.jetStreamReady() {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("embedded nats %s: JetStream: %w: %w", e.Name(), ErrNotReady, ctx.Err())
		case <-t.C:
		}
	}
}

func (e *Embedded) jetStreamReady() bool {
	if !e.srv.JetStreamEnabled() || !e.srv.JetStreamIsCurrent() {
		return false
	}
	if e.cfg.ClusterName == "" {
		return true
	}
	info, err := e.srv.Jsz(nil)
	return err == nil && info.Meta != nil && info.Meta.Leader != ""
}

// Shutdown stops the server in order — connections closed, streams flushed
// and closed — and waits for it. It is safe to call more than once.
func (e *Embedded) Shutdown() {
	e.stop()
	<-e.done
	e.srv.Shutdown()
	e.srv.WaitForShutdown()
	e.log.Info("nats server stopped")
}

// slogAdapter is nats-server's Logger on a slog.Logger.
type slogAdapter struct{ log *slog.Logger }

// Noticef goes to debug: nats-server's notices are its startup banner and
// routine chatter; pagemill logs the events that matter itself.
func (a *slogAdapter) Noticef(format string, v ...any) {
	a.log.Debug(fmt.Sprintf(format, v...))
}
func (a *slogAdapter) Warnf(format string, v ...any) {
	a.log.Warn(fmt.Sprintf(format, v...))
}
func (a *slogAdapter) Fatalf(format string, v ...any) {
	a.log.Error(fmt.Sprintf(format, v...), "fatal", true)
}
func (a *slogAdapter) Errorf(format string, v ...any) {
	a.log.Error(fmt.Sprintf(format, v...))
}
func (a *slogAdapter) Debugf(format string, v ...any) {
	a.log.Debug(fmt.Sprintf(format, v...))
}
func (a *slogAdapter) Tracef(format string, v ...any) {
	a.log.Debug(fmt.Sprintf(format, v...), "trace", true)
}

// ConnConfig configures a connection to an external NATS cluster.
type ConnConfig struct {
	// URL is one server URL or a comma-separated list
	// ("nats://a:4222,nats://b:4222"); "tls://" forces TLS.
	URL string
	// CredsFile is a JWT credentials file (user JWT and nkey seed).
	CredsFile string
	// NKeyFile is an nkey seed file, for nkey authentication without JWT.
	NKeyFile string
	// User and Password, for user/password authentication.
	User     string
	Password string
	// TLSCA verifies the servers; TLSCert and TLSKey are the client
	// certificate for mutual TLS.
	TLSCA   string
	TLSCert string
	TLSKey  string
	// Name is the connection name the servers show.
	Name string
}

// Connect connects to the NATS servers of cfg. ctx bounds the connection
// attempt; once connected the client reconnects forever, and disconnects,
// reconnects and asynchronous errors are logged to log. extra options are
// applied last.
func Connect(ctx context.Context, cfg ConnConfig, log *slog.Logger, extra ...nats.Option) (*nats.Conn, error) {
	if cfg.URL == "" {
		return nil, errors.New("nats connect: URL is required")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "nats")
	opts := []nats.Option{
		nats.MaxReconnects(-1),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("nats disconnected", "err", err)
			} else {
				log.Info("nats disconnected")
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			log.Info("nats reconnected", "url", nc.ConnectedUrlRedacted())
		}),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			subj := ""
			if sub != nil {
				subj = sub.Subject
			}
			log.Error("nats async error", "subject", subj, "err", err)
		}),
	}
	if cfg.Name != "" {
		opts = append(opts, nats.Name(cfg.Name))
	}
	if cfg.CredsFile != "" {
		opts = append(opts, nats.UserCredentials(cfg.CredsFile))
	}
	if cfg.NKeyFile != "" {
		o, err := nats.NkeyOptionFromSeed(cfg.NKeyFile)
		if err != nil {
			return nil, fmt.Errorf("nats connect: nkey %s: %w", cfg.NKeyFile, err)
		}
		opts = append(opts, o)
	}
	if cfg.User != "" {
		opts = append(opts, nats.UserInfo(cfg.User, cfg.Password))
	}
	if cfg.TLSCA != "" {
		opts = append(opts, nats.RootCAs(cfg.TLSCA))
	}
	if cfg.TLSCert != "" || cfg.TLSKey != "" {
		if cfg.TLSCert == "" || cfg.TLSKey == "" {
			return nil, errors.New("nats connect: TLSCert and TLSKey go together")
		}
		opts = append(opts, nats.ClientCert(cfg.TLSCert, cfg.TLSKey))
	}
	if dl, ok := ctx.Deadline(); ok {
		d := time.Until(dl)
		if d <= 0 {
			return nil, fmt.Errorf("nats connect %s: %w", cfg.URL, context.DeadlineExceeded)
		}
		opts = append(opts, nats.Timeout(d))
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("nats connect %s: %w", cfg.URL, err)
	}
	opts = append(opts, extra...)
	nc, err := nats.Connect(cfg.URL, opts...)
	if err != nil {
		return nil, fmt.Errorf("nats connect %s: %w", cfg.URL, err)
	}
	log.Info("nats connected", "url", nc.ConnectedUrlRedacted(), "server", nc.ConnectedServerName())
	return nc, nil
}

// OperatorPassword returns the password kept in path, generating one (32
// random hex digits, file mode 0600) the first time, so that an operator
// listener keeps its credential across restarts.
func OperatorPassword(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		if pw := strings.TrimSpace(string(b)); pw != "" {
			return pw, nil
		}
		return "", fmt.Errorf("nats operator password file %s is empty: remove it to generate a new one", path)
	}
	if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("nats operator password: %w", err)
	}
	raw := make([]byte, 16)
	if _, err := rand.Read(raw); err != nil {
		return "", fmt.Errorf("nats operator password: %w", err)
	}
	pw := hex.EncodeToString(raw)
	if err := os.WriteFile(path, []byte(pw+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("nats operator password: %w", err)
	}
	return pw, nil
}
