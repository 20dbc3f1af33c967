package cli

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/pagemill/pagemill/ingest"
	"github.com/pagemill/pagemill/ops"
	"github.com/pagemill/pagemill/redo/materialize"
	"github.com/pagemill/pagemill/redo/pagestore"
	"github.com/pagemill/pagemill/restore"
	"github.com/pagemill/pagemill/schema"
	"github.com/pagemill/pagemill/serve"
	"github.com/pagemill/pagemill/streams"
)

// Run is `pagemill run`: the whole pipeline in one process. In this
// version: embedded (or external) NATS JetStream, ingest, the pgwire
// status listener and the HTTP metrics/health server.
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
	shards := fs.Int("shards", 8, "shards (WAL subjects) per source")
	replicas := fs.Int("replicas", 0, "JetStream replicas (default 1 embedded, 3 external)")
	retention := fs.Duration("retention", 7*24*time.Hour, "retention window (age): every LSN this recent stays readable and restorable; older page versions, stream messages, snapshots and base backup pages go once a snapshot covers the window (0: no age limit)")
	maxBytes := fs.Int64("max-bytes", 0, "retention window in WAL bytes behind the applied LSN, with --retention the smaller wins (0: no byte limit)")
	snapBytes := fs.Int64("snapshot-bytes", 1<<30, "store a snapshot of the page store after this much WAL (negative: never)")
	snapInterval := fs.Duration("snapshot-interval", 6*time.Hour, "store a snapshot of the page store after this long (negative: never)")
	logLevel := fs.String("log-level", "info", "debug, info, warn, error")
	logFormat := fs.String("log-format", "text", "text or json")
	authMethod := fs.String("auth", "", "pgwire authentication: trust, password or scram-sha-256 (default: trust for loopback, refuse others)")
	authUser := fs.String("auth-user", "pagemill", "user name for password/scram-sha-256 (password from PAGEMILL_PASSWORD)")
	tlsCert := fs.String("tls-cert", "", "TLS certificate for the pgwire port")
	tlsKey := fs.String("tls-key", "", "TLS key for the pgwire port")
	waitTimeout := fs.Duration("wait-timeout", 30*time.Second, "how long a page request waits for its LSN to be applied")
	imageEvery := fs.Int("image-every", 0, "write a full page image after this many records of a page (0: the materializer's default, 64)")
	cachePages := fs.Int("cache-pages", 16384, "current pages the redo shards keep in memory, over all shards")
	memLimit := addMemoryLimitFlag(fs)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *source == "" || *dataDir == "" || fs.NArg() > 0 {
		fs.Usage()
		return 2
	}
	log, err := ops.NewLogger(env.Stderr, ops.LogConfig{Level: *logLevel, Format: *logFormat})
	if err != nil {
		fmt.Fprintf(env.Stderr, "pagemill run: %v\n", err)
		return 2
	}
	fail := func(err error) int {
		log.Error("pagemill run failed", "err", err)
		return 1
	}
	if _, err := ops.ApplyMemoryLimit(*memLimit, log); err != nil {
		fmt.Fprintf(env.Stderr, "pagemill run: %v\n", err)
		return 2
	}
	if err := os.MkdirAll(*dataDir, 0o750); err != nil {
		return fail(err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	reg := ops.NewRegistry()
	health := ops.NewHealth()
	// The stream itself has no age or size limit: pagemill trims it below
	// the snapshot that covers the retention window, so a rebuild always
	// finds a snapshot (or the base backup) and the WAL after it.
	scfg := streams.Config{Shards: *shards, Replicas: *replicas}

	var nc *nats.Conn
	if !natsOpts.external() {
		ecfg := streams.EmbeddedConfig{Dir: filepath.Join(*dataDir, "nats"), Listen: *natsListen}
		pwFile := filepath.Join(*dataDir, "nats-operator.password")
		if *natsListen != "" {
			if ecfg.Password, err = streams.OperatorPassword(pwFile); err != nil {
				return fail(err)
			}
			ecfg.User = *natsUser
		}
		emb, err := streams.StartEmbedded(ctx, ecfg, log)
		if err != nil {
			return fail(err)
		}
		if *natsListen != "" {
			log.Info("NATS listener for operators", "url", emb.ClientURL(), "user", ecfg.User, "password_file", pwFile,
				"try", fmt.Sprintf("nats --server %s --user %s --password \"$(cat %s)\" stream ls", emb.ClientURL(), ecfg.User, pwFile))
		}
		defer emb.Shutdown()
		if nc, err = emb.Connect(); err != nil {
			return fail(err)
		}
		if scfg.Replicas == 0 {
			scfg.Replicas = 1
		}
	} else {
		if nc, err = streams.Connect(ctx, natsOpts.connConfig("pagemill"), log); err != nil {
			return fail(err)
		}
		if scfg.Replicas == 0 {
			scfg.Replicas = 3
		}
	}
	defer nc.Close()

	ing, err := ingest.New(ingest.Config{Source: *source, Slot: *slot, Streams: scfg}, nc, reg, log)
	if err != nil {
		return fail(err)
	}
	health.Register("replication", func(context.Context) error {
		if st := ing.Status(); !st.Connected {
			if st.LastError != "" {
				return errors.New("replication not connected: " + st.LastError)
			}
			return errors.New("replication not connected")
		}
		return nil
	})
	httpSrv, err := ops.NewHTTPServer(*httpListen, reg, health, log)
	if err != nil {
		return fail(err)
	}
	var mat atomic.Pointer[materialize.Materializer]
	var backup atomic.Pointer[restore.Backup]
	scfgServe := serve.Config{
		BaseBackup: func(ctx context.Context, lsn schema.LSN, w io.Writer) (schema.LSN, error) {
			b := backup.Load()
			if b == nil {
				return 0, materialize.ErrNotReady
			}
			return b.TarAt(ctx, lsn, w, *waitTimeout)
		},
		Addr: *pgListen,
		Pages: func() serve.Pages {
			if m := mat.Load(); m != nil {
				return m
			}
			return nil // no typed nil: not ready yet
		},
		Identity: func() serve.Identity {
			st := ing.Status()
			return serve.Identity{SystemID: st.SystemID, Timeline: st.Timeline}
		},
		Status:      func() []serve.Row { return statusRows(ing.Status(), mat.Load()) },
		WaitTimeout: *waitTimeout,
		Auth:        serve.Auth{Method: serve.AuthMethod(*authMethod)},
	}
	if *authMethod == string(serve.AuthPassword) || *authMethod == string(serve.AuthSCRAM) {
		pw := os.Getenv("PAGEMILL_PASSWORD")
		if pw == "" {
			return fail(errors.New("--auth " + *authMethod + " needs the password in PAGEMILL_PASSWORD"))
		}
		scfgServe.Auth.Users = map[string]string{*authUser: pw}
	}
	if *tlsCert != "" || *tlsKey != "" {
		cert, err := tls.LoadX509KeyPair(*tlsCert, *tlsKey)
		if err != nil {
			return fail(fmt.Errorf("TLS certificate: %w", err))
		}
		scfgServe.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	pgSrv, err := serve.New(scfgServe, reg, log)
	if err != nil {
		return fail(err)
	}

	errc := make(chan error, 4)
	go func() { errc <- httpSrv.Run(ctx) }()
	go func() { errc <- pgSrv.Run(ctx) }()
	go func() { errc <- ing.Run(ctx) }()
	go func() {
		errc <- runMaterializer(ctx, ing, nc, scfg, materialize.Config{ImageEvery: *imageEvery, CachePages: *cachePages,
			RetainTime: *retention, RetainBytes: *maxBytes, SnapshotBytes: *snapBytes, SnapshotInterval: *snapInterval},
			filepath.Join(*dataDir, "pages"), reg, log, &mat, &backup)
	}()
	var first error
	for i := 0; i < 4; i++ {
		err := <-errc
		if err != nil && first == nil {
			first = err
		}
		cancel() // one part ending stops the others
	}
	if first != nil {
		return fail(first)
	}
	log.Info("pagemill stopped")
	return 0
}

// runMaterializer starts the materializer once ingest knows the source's
// layout, and runs it until ctx ends. A page store that is damaged is
// moved aside (pages.broken-<timestamp>) and rebuilt from the streams.
func runMaterializer(ctx context.Context, ing *ingest.Ingester, nc *nats.Conn, scfg streams.Config, mcfg materialize.Config,
	dir string, reg prometheus.Registerer, log *slog.Logger, out *atomic.Pointer[materialize.Materializer],
	backup *atomic.Pointer[restore.Backup]) error {
	select {
	case <-ing.Identified():
	case <-ctx.Done():
		return nil
	}
	layout := ing.Layout()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	h, err := streams.Ensure(ctx, js, layout, scfg)
	if err != nil {
		if ctx.Err() != nil {
			return nil // stopped while starting
		}
		return fmt.Errorf("materializer: %w", err)
	}
	// A damaged store is moved aside and rebuilt from the streams; a
	// missing or empty one (first start, or lost) is filled from them.
	met := newRebuildMetrics(reg)
	store, fresh, err := openPageStore(pagestore.Options{Dir: dir, Shards: layout.Shards}, log, met)
	if err != nil {
		return err
	}
	defer store.Close()
	mcfg.Layout = layout
	m, err := materialize.New(mcfg, js, h, store, reg, log)
	if err != nil {
		return err
	}
	out.Store(m)
	backup.Store(restore.New(m, h, reg, log.With("component", "restore")))
	if fresh {
		go watchStoreRebuild(ctx, m, h, reg, met, log)
	}
	return m.Run(ctx)
}

// statusRows are the rows of the pgwire `status` command.
func statusRows(st ingest.Status, m *materialize.Materializer) []serve.Row {
	connected := "false"
	if st.Connected {
		connected = "true"
	}
	rows := []serve.Row{
		{Name: "system_identifier", Value: strconv.FormatUint(st.SystemID, 10)},
		{Name: "timeline", Value: strconv.FormatUint(uint64(st.Timeline), 10)},
		{Name: "replication_connected", Value: connected},
		{Name: "received_lsn", Value: st.ReceivedLSN.Short()},
		{Name: "published_lsn", Value: st.PublishedLSN.Short()},
		{Name: "source_lsn", Value: st.SourceLSN.Short()},
	}
	if bb := st.BaseBackup; bb != nil {
		rows = append(rows,
			serve.Row{Name: "basebackup_start_lsn", Value: bb.StartLSN.Short()},
			serve.Row{Name: "basebackup_completed", Value: strconv.FormatBool(bb.Completed)},
			serve.Row{Name: "basebackup_pages", Value: strconv.FormatInt(bb.Pages, 10)},
		)
	}
	if m != nil {
		rows = append(rows, serve.Row{Name: "applied_lsn", Value: m.Applied().Short()},
			serve.Row{Name: "durable_lsn", Value: m.Durable().Short()})
		if ck, cp, err := m.ControlData(); err == nil {
			rows = append(rows,
				serve.Row{Name: "checkpoint_lsn", Value: ck.LSN.Short()},
				serve.Row{Name: "checkpoint_redo_lsn", Value: cp.Redo.Short()},
				serve.Row{Name: "next_xid", Value: fmt.Sprintf("%d:%d", cp.NextXidEpoch(), cp.NextXidXid())},
				serve.Row{Name: "next_oid", Value: strconv.FormatUint(uint64(cp.NextOid), 10)},
				serve.Row{Name: "next_multixact", Value: strconv.FormatUint(uint64(cp.NextMulti), 10)},
				serve.Row{Name: "oldest_xid", Value: strconv.FormatUint(uint64(cp.OldestXid), 10)},
			)
		}
	}
	if st.LastError != "" {
		rows = append(rows, serve.Row{Name: "last_error", Value: st.LastError})
	}
	return rows
}
