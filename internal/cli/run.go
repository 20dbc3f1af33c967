package cli

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/pagemill/pagemill/ops"
	"github.com/pagemill/pagemill/ops/node"
	"github.com/pagemill/pagemill/redo/materialize"
	"github.com/pagemill/pagemill/serve"
	"github.com/pagemill/pagemill/streams"
)

// Run is `pagemill run`: the whole pipeline in one process (package
// ops/node): embedded (or external) NATS JetStream, ingest, the
// materializer, the pgwire server and the HTTP metrics/health server.
func Run(ctx context.Context, env Env, args []string) int {
	fs := newFlagSet(env, "run", "--source CONNSTR --data-dir DIR [flags]")
	source := fs.String("source", "", "source PostgreSQL 15 (libpq URL or key/value string); required")
	dataDir := fs.String("data-dir", "", "directory for pagemill's state (embedded NATS store); required")
	pgListen := fs.String("pg-listen", "127.0.0.1:6400", "pgwire listen address")
	httpListen := fs.String("http-listen", "127.0.0.1:9187", "HTTP listen address for /metrics and /healthz")
	natsOpts := addNATSFlags(fs, "empty embeds a NATS server")
	natsListen := fs.String("nats-listen", "", "also expose the embedded NATS server on this TCP address for operators (the nats CLI), with a user and password (see --nats-user)")
	natsUser := fs.String("nats-user", "operator", "user name of the --nats-listen listener; its password is generated once into DATA_DIR/nats-operator.password")
	slot := fs.String("slot", "pagemill", "physical replication slot name")
	shards := fs.Int("shards", 1, "WAL subjects of a new stream (a record goes once to each subject holding a page it changes; 1: every record once)")
	redoShards := fs.Int("redo-shards", 0, "redo shards of a new page store (default: one per core, at least 2); an existing store keeps its count")
	replicas := fs.Int("replicas", 0, "JetStream replicas (default 1 embedded, 3 external)")
	retention := fs.Duration("retention", 7*24*time.Hour, "retention window (age): every LSN this recent stays readable and restorable; older page versions, stream messages, snapshots and base backup pages go once a snapshot covers the window (0: no age limit)")
	maxBytes := fs.Int64("max-bytes", 0, "retention window in WAL bytes behind the applied LSN, with --retention the smaller wins (0: no byte limit)")
	snapBytes := fs.Int64("snapshot-bytes", 1<<30, "store a snapshot of the page store after this much WAL (negative: never)")
	snapInterval := fs.Duration("snapshot-interval", 6*time.Hour, "store a snapshot of the page store after this long (negative: never)")
	logFlags := addLogFlags(fs)
	authMethod := fs.String("auth", "", "pgwire authentication: trust, password or scram-sha-256 (default: trust for loopback, refuse others)")
	authUser := fs.String("auth-user", "pagemill", "user name for password/scram-sha-256 (password from PAGEMILL_PASSWORD)")
	tlsCert := fs.String("tls-cert", "", "TLS certificate for the pgwire port")
	tlsKey := fs.String("tls-key", "", "TLS key for the pgwire port")
	waitTimeout := fs.Duration("wait-timeout", 30*time.Second, "how long a page request waits for its LSN to be applied")
	imageEvery := fs.Int("image-every", 0, "write a full page image after this many records of a page (0: the materializer's default, 256)")
	cachePages := fs.Int("cache-pages", 0, "current pages the redo shards keep in memory, over all shards (0: the --memory-budget's share, without a budget 24576)")
	spillPages := fs.Int("spill-pages", 0, "current pages evicted from that cache kept in the shards' spill files, over all shards (0: the --memory-budget's share, without a budget as many as --cache-pages; negative: none)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *source == "" || *dataDir == "" || fs.NArg() > 0 {
		fs.Usage()
		return 2
	}
	log, memory, err := logFlags.logger(env.Stderr)
	if err != nil {
		fmt.Fprintf(env.Stderr, "pagemill run: %v\n", err)
		return 2
	}
	auth, tlsCfg, err := pgwireSecurity(*authMethod, *authUser, *tlsCert, *tlsKey)
	if err == nil {
		err = runNode(ctx, node.Config{
			Source: *source, Slot: *slot, DataDir: *dataDir,
			NATS:    node.NATSConfig{External: natsOpts.connConfig("pagemill"), Listen: *natsListen, User: *natsUser},
			Streams: streams.Config{Shards: *shards, Replicas: *replicas}, RedoShards: *redoShards,
			Materialize: materialize.Config{ImageEvery: *imageEvery, CachePages: *cachePages, SpillPages: *spillPages, RetainTime: *retention,
				RetainBytes: *maxBytes, SnapshotBytes: *snapBytes, SnapshotInterval: *snapInterval},
			Memory:   memory,
			PGListen: *pgListen, Auth: auth, TLS: tlsCfg, WaitTimeout: *waitTimeout, HTTPListen: *httpListen,
			Log: log, Registry: ops.NewRegistry(),
		})
	}
	if err != nil {
		log.Error("pagemill run failed", "err", err)
		return 1
	}
	log.Info("pagemill stopped")
	return 0
}

// pgwireSecurity is the pgwire server's authentication (the password of
// password and scram-sha-256 from PAGEMILL_PASSWORD) and TLS.
func pgwireSecurity(method, user, certFile, keyFile string) (serve.Auth, *tls.Config, error) {
	auth := serve.Auth{Method: serve.AuthMethod(method)}
	if method == string(serve.AuthPassword) || method == string(serve.AuthSCRAM) {
		pw := os.Getenv("PAGEMILL_PASSWORD")
		if pw == "" {
			return auth, nil, errors.New("--auth " + method + " needs the password in PAGEMILL_PASSWORD")
		}
		auth.Users = map[string]string{user: pw}
	}
	if certFile == "" && keyFile == "" {
		return auth, nil, nil
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return auth, nil, fmt.Errorf("TLS certificate: %w", err)
	}
	return auth, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}

// runNode runs a node of cfg until ctx ends or it fails.
func runNode(ctx context.Context, cfg node.Config) error {
	n, err := node.New(cfg)
	if err != nil {
		return err
	}
	return n.Run(ctx)
}
