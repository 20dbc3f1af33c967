package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/pagemill/pagemill/ops"
	"github.com/pagemill/pagemill/redo/materialize"
	"github.com/pagemill/pagemill/redo/pagestore"
	"github.com/pagemill/pagemill/schema"
	"github.com/pagemill/pagemill/streams"
)

// rebuildConsumerPrefix names the durable consumers of `pagemill
// rebuild`: not pm_redo, so a rebuild never takes the consumers of a
// `pagemill run` following the same stream.
const rebuildConsumerPrefix = "pm_rebuild"

// Rebuild is `pagemill rebuild`: it recreates the page store DIR/pages
// from the streams alone (the base backup in the object store, then the
// WAL records), with the materializer `pagemill run` uses, and stops once
// every shard has applied the last round the stream held at the start.
func Rebuild(ctx context.Context, env Env, args []string) int {
	fs := newFlagSet(env, "rebuild", "--data-dir DIR [--nats-url URL] [--system-id N --timeline N --shards N] [--force] [flags]")
	dataDir := fs.String("data-dir", "", "pagemill's data directory: the page store is rebuilt in DIR/pages; without --nats-url, DIR/nats is the embedded NATS store to read; required")
	natsOpts := addNATSFlags(fs, "empty opens the embedded NATS store in DIR/nats")
	sysID := fs.Uint64("system-id", 0, "source system identifier (default: the only PM_WAL_<sysid> stream)")
	tli := fs.Uint("timeline", 0, "timeline (default: the newest round's)")
	shards := fs.Int("shards", 0, "shards (default: the stream's metadata "+streams.MetaShards+")")
	force := fs.Bool("force", false, "move a non-empty DIR/pages aside to DIR/pages.broken-<timestamp> first")
	imageEvery := fs.Int("image-every", 0, "write a full page image after this many records of a page (0: the materializer's default, 64)")
	cachePages := fs.Int("cache-pages", 2048, "pages each redo shard keeps in memory")
	every := fs.Duration("progress-interval", 5*time.Second, "how often a progress line is logged when stdout is not a terminal")
	httpListen := fs.String("http-listen", "", "serve /metrics and /healthz on this address while rebuilding (default: none)")
	logLevel := fs.String("log-level", "info", "debug, info, warn, error")
	logFormat := fs.String("log-format", "text", "text or json")
	memLimit := addMemoryLimitFlag(fs)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *dataDir == "" || fs.NArg() > 0 || *tli > 1<<32-1 {
		fs.Usage()
		return 2
	}
	log, err := ops.NewLogger(env.Stderr, ops.LogConfig{Level: *logLevel, Format: *logFormat})
	if err == nil {
		_, err = ops.ApplyMemoryLimit(*memLimit, log)
	}
	if err != nil {
		fmt.Fprintf(env.Stderr, "pagemill rebuild: %v\n", err)
		return 2
	}
	fail := func(err error) int {
		log.Error("pagemill rebuild failed", "err", err)
		return 1
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	pagesDir := filepath.Join(*dataDir, "pages")
	var nc *nats.Conn
	if !natsOpts.external() {
		// A second NATS server must not open the store of a running one.
		if _, err := os.Stat(pagesDir); err == nil {
			if err := checkUnlocked(pagesDir); err != nil {
				return fail(err)
			}
		}
		natsDir := filepath.Join(*dataDir, "nats")
		if ents, err := os.ReadDir(natsDir); err != nil || len(ents) == 0 {
			return fail(fmt.Errorf("no embedded NATS store in %s: give --nats-url, or the --data-dir of a stopped `pagemill run`", natsDir))
		}
		emb, err := streams.StartEmbedded(ctx, streams.EmbeddedConfig{Dir: natsDir}, log)
		if err != nil {
			return fail(err)
		}
		defer emb.Shutdown()
		if nc, err = emb.Connect(); err != nil {
			return fail(err)
		}
	} else {
		if nc, err = streams.Connect(ctx, natsOpts.connConfig("pagemill-rebuild"), log); err != nil {
			return fail(err)
		}
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return fail(err)
	}
	src, err := openRebuildSource(ctx, js, streams.Layout{SystemID: *sysID, Timeline: uint32(*tli), Shards: *shards})
	if err != nil {
		return fail(err)
	}
	layout := src.h.Layout
	log.Info("rebuilding the page store from the streams", "stream", layout.StreamName(), "timeline", layout.Timeline,
		"shards", layout.Shards, "base_start_lsn", src.base.StartLSN, "base_pages", src.base.Pages, "target_lsn", src.target,
		"wal_mb", round1(mb(walBytes(src.base.StartLSN, src.target))), "stream_mb", round1(mb(src.streamBytes)))

	reg := ops.NewRegistry()
	if *httpListen != "" {
		srv, err := ops.NewHTTPServer(*httpListen, reg, ops.NewHealth(), log)
		if err != nil {
			return fail(err)
		}
		go func() { _ = srv.Run(ctx) }()
	}
	met := newRebuildMetrics(reg)
	if err := preparePagesDir(pagesDir, *force, log, met); err != nil {
		return fail(err)
	}
	// The same options as `pagemill run`, which goes on with this store.
	store, err := pagestore.Open(pagestore.Options{Dir: pagesDir, Shards: layout.Shards}, log)
	if err != nil {
		return fail(err)
	}
	closed := false
	closeStore := func() error {
		if closed {
			return nil
		}
		closed = true
		return store.Close()
	}
	defer closeStore()
	m, err := materialize.New(materialize.Config{Layout: layout, ImageEvery: *imageEvery, CachePages: *cachePages, ConsumerPrefix: rebuildConsumerPrefix},
		js, src.h, store, reg, log)
	if err != nil {
		return fail(err)
	}
	defer deleteRebuildConsumers(m, log)

	w := newRebuildWatch(m, src.base, src.target, reg, met)
	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	runDone := make(chan error, 1)
	go func() { runDone <- m.Run(runCtx) }()
	var bar *progressBar
	if isTerminal(env.Stdout) {
		bar = &progressBar{out: env.Stdout}
	}
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	lastLog := time.Now()
	for done := false; !done; {
		select {
		case err := <-runDone:
			bar.finish()
			if err == nil {
				err = ctx.Err()
			}
			if err == nil {
				err = errors.New("the materializer stopped")
			}
			if ctx.Err() != nil {
				log.Warn("rebuild interrupted: the page store holds what was applied so far; `pagemill run` continues from it, `pagemill rebuild --force` starts over",
					"dir", pagesDir, "applied_lsn", m.Applied())
			}
			return fail(err)
		case <-tick.C:
		}
		p := w.progress()
		done = p.Done
		switch {
		case bar != nil:
			bar.draw(p.Line())
		case done || time.Since(lastLog) >= *every:
			lastLog = time.Now()
			p.log(log)
		}
	}
	stopRun()
	if err := <-runDone; err != nil {
		bar.finish()
		return fail(err)
	}
	p := w.progress() // after the last batch
	if bar != nil {
		bar.draw(p.Line())
		bar.finish()
	}
	if err := store.Sync(); err != nil {
		return fail(err)
	}
	if err := closeStore(); err != nil {
		return fail(err)
	}
	met.done.Set(1)
	size := dirSize(pagesDir)
	fmt.Fprintln(env.Stdout, p.Summary(pagesDir, size))
	p.logDone(log, pagesDir, size)
	return 0
}

// dirSize is the size of the files under dir.
func dirSize(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

// rebuildSource is what a rebuild reads: the stream handles, the base
// backup and the round end to reach.
type rebuildSource struct {
	h           *streams.Handles
	base        streams.BaseBackupState
	target      schema.LSN // last round end on the meta subject at start
	streamBytes int64      // the WAL stream's size at start
}

// openRebuildSource finds the stream of want (zero fields: discovered),
// checks that it can rebuild a page store — a completed base backup, and
// the WAL from the backup's start on — and reads the target LSN. It
// changes nothing in JetStream.
func openRebuildSource(ctx context.Context, js jetstream.JetStream, want streams.Layout) (*rebuildSource, error) {
	layout := want
	if layout.SystemID == 0 {
		var names []string
		l := js.StreamNames(ctx)
		for n := range l.Name() {
			if strings.HasPrefix(n, "PM_WAL_") {
				names = append(names, n)
			}
		}
		if err := l.Err(); err != nil {
			return nil, fmt.Errorf("list streams: %w", err)
		}
		switch len(names) {
		case 0:
			return nil, errors.New("no pagemill WAL stream (PM_WAL_<sysid>) on this NATS server")
		case 1:
		default:
			return nil, fmt.Errorf("several pagemill WAL streams (%s): choose one with --system-id", strings.Join(names, ", "))
		}
		id, err := strconv.ParseUint(strings.TrimPrefix(names[0], "PM_WAL_"), 10, 64)
		if err != nil || id == 0 {
			return nil, fmt.Errorf("stream %s: not a system identifier", names[0])
		}
		layout.SystemID = id
	}
	stream, err := js.Stream(ctx, layout.StreamName())
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", layout.StreamName(), err)
	}
	md := stream.CachedInfo().Config.Metadata
	if v := md[streams.MetaLayoutVersion]; v != "" && v != strconv.Itoa(streams.LayoutVersion) {
		return nil, fmt.Errorf("stream %s: %w: layout version %s, this build reads %d", layout.StreamName(), streams.ErrLayoutMismatch, v, streams.LayoutVersion)
	}
	n, err := strconv.Atoi(md[streams.MetaShards])
	switch {
	case err != nil && layout.Shards == 0:
		return nil, fmt.Errorf("stream %s: no %s metadata: give --shards", layout.StreamName(), streams.MetaShards)
	case err == nil && layout.Shards == 0:
		layout.Shards = n
	case err == nil && layout.Shards != n:
		return nil, fmt.Errorf("stream %s: %w: stream has %d shards, asked for %d", layout.StreamName(), streams.ErrLayoutMismatch, n, layout.Shards)
	}
	if layout.Timeline == 0 {
		last, err := streams.LastMsgOnSubject(ctx, stream, layout.MetaSubjectAnyTimeline())
		if err != nil {
			return nil, fmt.Errorf("stream %s: newest round (give --timeline): %w", layout.StreamName(), err)
		}
		sub, err := streams.ParseShardSubject(last.Subject)
		if err != nil {
			return nil, err
		}
		layout.Timeline = sub.Timeline
	}
	if err := layout.Validate(); err != nil {
		return nil, err
	}
	h := &streams.Handles{Layout: layout, Stream: stream}
	src := &rebuildSource{h: h, streamBytes: int64(stream.CachedInfo().State.Bytes)}
	if h.Objects, err = js.ObjectStore(ctx, layout.ObjectBucket()); err != nil {
		return nil, fmt.Errorf("base backup object store %s: %w", layout.ObjectBucket(), err)
	}
	if h.KV, err = js.KeyValue(ctx, layout.KVBucket()); err != nil {
		return nil, fmt.Errorf("state bucket %s: %w", layout.KVBucket(), err)
	}
	e, err := h.KV.Get(ctx, streams.KeyBaseBackup)
	if err != nil {
		return nil, fmt.Errorf("base backup state in %s: %w", layout.KVBucket(), err)
	}
	if err := json.Unmarshal(e.Value(), &src.base); err != nil {
		return nil, fmt.Errorf("base backup state: %w", err)
	}
	if !src.base.Completed {
		return nil, fmt.Errorf("the base backup %s (started %s) is not complete: nothing to rebuild from yet", src.base.Prefix, src.base.StartedAt.Format(time.RFC3339))
	}
	meta := layout.MetaSubject()
	last, err := streams.LastMsgOnSubject(ctx, stream, meta)
	switch {
	case errors.Is(err, streams.ErrNoMessage):
		if other, err := streams.LastMsgOnSubject(ctx, stream, layout.MetaSubjectAnyTimeline()); err == nil {
			return nil, fmt.Errorf("no rounds on timeline %d in %s (the newest is on %s)", layout.Timeline, layout.StreamName(), other.Subject)
		}
		src.target = src.base.StartLSN // the base backup alone
		return src, nil
	case err != nil:
		return nil, err
	}
	if src.target, err = roundEnd(last.Header); err != nil {
		return nil, fmt.Errorf("last round on %s (seq %d): %w", meta, last.Sequence, err)
	}
	// A store starts from the oldest snapshot kept if there is one (see
	// materialize: it covers the retention window), and the stream must
	// go on right after it.
	snaps, err := materialize.ListSnapshots(ctx, h.Objects)
	if err != nil {
		return nil, err
	}
	if len(snaps) > 0 {
		si := snaps[0]
		src.base.StartLSN = si.LSN // where the rebuild starts
		if first := stream.CachedInfo().State.FirstSeq; first > si.Seq+1 {
			return nil, fmt.Errorf("the stream begins at sequence %d, after the oldest snapshot %s (LSN %s, sequence %d): the WAL in between is no longer in %s",
				first, si.Object, si.LSN, si.Seq, layout.StreamName())
		}
		return src, nil
	}
	// The records must go back to the base backup's start, or pages
	// would silently miss the changes in between.
	first, err := stream.GetMsg(ctx, 1, jetstream.WithGetMsgSubject(meta))
	if err != nil {
		return nil, fmt.Errorf("first round on %s: %w", meta, err)
	}
	if v := first.Header.Get(streams.HdrRoundStart); v != "" {
		start, err := schema.ParseLSN(v)
		if err != nil {
			return nil, fmt.Errorf("first round on %s (seq %d): %s %q: %w", meta, first.Sequence, streams.HdrRoundStart, v, err)
		}
		if start > src.base.StartLSN {
			return nil, fmt.Errorf("the stream's records begin at %s, after the base backup's start %s: the WAL in between is no longer in %s, so a rebuild would miss it",
				start, src.base.StartLSN, layout.StreamName())
		}
	}
	return src, nil
}

func roundEnd(h nats.Header) (schema.LSN, error) {
	v := h.Get(streams.HdrRoundEnd)
	if v == "" {
		return 0, fmt.Errorf("no %s header", streams.HdrRoundEnd)
	}
	lsn, err := schema.ParseLSN(v)
	if err != nil {
		return 0, fmt.Errorf("%s %q: %w", streams.HdrRoundEnd, v, err)
	}
	return lsn, nil
}

// deleteRebuildConsumers removes the rebuild's durable consumers (the
// materializer recreates them at every start anyway).
func deleteRebuildConsumers(m *materialize.Materializer, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := m.DeleteConsumers(ctx); err != nil {
		log.Warn("deleting the rebuild's consumers failed", "err", err)
	}
}

// preparePagesDir makes sure dir is absent or empty: a non-empty one is
// refused, or with force moved aside (unless a process has it open).
func preparePagesDir(dir string, force bool, log *slog.Logger, met *rebuildMetrics) error {
	ents, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil
	case err != nil:
		return err
	case len(ents) == 0:
		return nil
	case !force:
		return fmt.Errorf("%s is not empty (%d entries): rebuild into an empty directory, or give --force to move it aside", dir, len(ents))
	}
	if err := checkUnlocked(dir); err != nil {
		return err
	}
	to, err := moveAside(dir)
	if err != nil {
		return err
	}
	met.movedAside.Inc()
	log.Warn("moved the old page store aside", "from", dir, "to", to)
	return nil
}

// checkUnlocked fails when a process (a running `pagemill run`) holds
// the page store in dir: Badger flocks its directory.
func checkUnlocked(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		return fmt.Errorf("%s is in use by another process (is `pagemill run` running on it?): %w", dir, err)
	}
	return syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
}

// moveAside renames dir to dir.broken-<timestamp> and returns the new
// name.
func moveAside(dir string) (string, error) {
	to := dir + ".broken-" + time.Now().UTC().Format("20060102T150405Z")
	for i := 2; ; i++ {
		if _, err := os.Lstat(to); errors.Is(err, os.ErrNotExist) {
			break
		}
		to = fmt.Sprintf("%s.broken-%s-%d", dir, time.Now().UTC().Format("20060102T150405Z"), i)
	}
	if err := os.Rename(dir, to); err != nil {
		return "", fmt.Errorf("move %s aside: %w", dir, err)
	}
	return to, nil
}

// openPageStore opens the page store of `pagemill run`. A store that
// cannot be opened because it is damaged (Badger reports corruption, or
// the store's own records are unreadable) is moved aside to
// dir.broken-<timestamp> and an empty one opened in its place: the
// materializer then rebuilds it from the streams. Errors of the
// environment (another process holds the store, permissions, a full or
// failing disk) are returned as they are: the store may be fine. fresh
// reports a store without an imported base backup (new, lost or moved
// aside), which the materializer fills from the streams.
func openPageStore(opts pagestore.Options, log *slog.Logger, met *rebuildMetrics) (store *pagestore.Store, fresh bool, err error) {
	store, err = openStore(opts, log)
	if err == nil {
		var base bool
		if base, err = checkPageStore(store, opts.Shards); err == nil {
			return store, !base, nil
		}
		store.Close()
		err = fmt.Errorf("page store %s: %w", opts.Dir, err)
	} else if !storeDamaged(err) {
		return nil, false, err
	}
	if lerr := checkUnlocked(opts.Dir); lerr != nil {
		return nil, false, fmt.Errorf("%w (and %w)", err, lerr)
	}
	to, merr := moveAside(opts.Dir)
	if merr != nil {
		return nil, false, fmt.Errorf("%w (and %w)", err, merr)
	}
	met.movedAside.Inc()
	log.Warn("the page store is damaged: moved it aside; it is rebuilt from the streams (base backup, then the records)",
		"err", err, "moved_to", to)
	store, err = pagestore.Open(opts, log)
	return store, err == nil, err
}

// openStore is pagestore.Open, with a panic in Badger (some corruptions
// end in one) turned into an error.
func openStore(opts pagestore.Options, log *slog.Logger) (s *pagestore.Store, err error) {
	defer func() {
		if r := recover(); r != nil {
			s, err = nil, fmt.Errorf("open page store %s: panic: %v", opts.Dir, r)
		}
	}()
	return pagestore.Open(opts, log)
}

// storeDamaged tells an open error caused by the store's files from one
// caused by the environment. Badger flattens wrapped errors into text, so
// the environment's causes are recognised by errno and by message.
func storeDamaged(err error) bool {
	for _, errno := range []syscall.Errno{syscall.EAGAIN, syscall.EACCES, syscall.EPERM, syscall.ENOSPC, syscall.EDQUOT,
		syscall.EMFILE, syscall.ENFILE, syscall.EROFS, syscall.ENOMEM, syscall.EIO, syscall.EBUSY} {
		if errors.Is(err, errno) {
			return false
		}
	}
	msg := strings.ToLower(err.Error())
	for _, s := range []string{"cannot acquire directory lock", "another process", "resource temporarily unavailable",
		"permission denied", "operation not permitted", "no space left", "disk quota", "too many open files",
		"read-only file system", "cannot allocate memory", "input/output error", "device or resource busy"} {
		if strings.Contains(msg, s) {
			return false
		}
	}
	return true
}

// checkPageStore reads the store's own records: the imported base backup
// (if any) and every shard's applied watermark, which the import writes
// together. It reports whether the base backup is imported.
func checkPageStore(s *pagestore.Store, shards int) (bool, error) {
	v, err := s.GetMeta("base")
	if err != nil {
		return false, fmt.Errorf("base backup record: %w", err)
	}
	var base struct {
		StartLSN schema.LSN `json:"start_lsn"`
	}
	if v != nil {
		if err := json.Unmarshal(v, &base); err != nil {
			return false, fmt.Errorf("base backup record: %w", err)
		}
	}
	for i := 0; i < shards; i++ {
		applied, _, err := s.Applied(i)
		if err != nil {
			return false, fmt.Errorf("applied LSN of shard %d: %w", i, err)
		}
		if v != nil && applied < base.StartLSN {
			return false, fmt.Errorf("shard %d applied only %s, before the base backup's start %s", i, applied, base.StartLSN)
		}
	}
	return v != nil, nil
}

// watchStoreRebuild logs the progress of a materializer filling a fresh
// page store inside `pagemill run`, until it reaches the last round the
// stream held when it started (nothing when the stream is empty).
func watchStoreRebuild(ctx context.Context, m *materialize.Materializer, h *streams.Handles, reg prometheus.Registerer, met *rebuildMetrics, log *slog.Logger) {
	last, err := streams.LastMsgOnSubject(ctx, h.Stream, h.Layout.MetaSubject())
	if err != nil {
		if !errors.Is(err, streams.ErrNoMessage) && ctx.Err() == nil {
			log.Warn("rebuild progress unknown", "err", err)
		}
		return
	}
	target, err := roundEnd(last.Header)
	if err != nil {
		log.Warn("rebuild progress unknown", "err", err)
		return
	}
	var base streams.BaseBackupState
	if e, err := h.KV.Get(ctx, streams.KeyBaseBackup); err != nil || json.Unmarshal(e.Value(), &base) != nil || !base.Completed {
		return // records come after the base backup: none yet
	}
	w := newRebuildWatch(m, base, target, reg, met)
	log.Info("the page store is empty: rebuilding it from the streams", "target_lsn", target)
	t := time.NewTicker(10 * time.Second)
	defer t.Stop()
	poll := time.NewTicker(250 * time.Millisecond)
	defer poll.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			w.progress().log(log)
		case <-poll.C:
			if p := w.progress(); p.Done {
				met.done.Set(1)
				p.logDone(log, "", 0)
				return
			}
		}
	}
}

// rebuildMetrics are the pagemill_rebuild_* metrics.
type rebuildMetrics struct {
	walBytes, walTarget, basePages, versions, records, seconds, done prometheus.Gauge
	movedAside                                                       prometheus.Counter
}

func newRebuildMetrics(reg prometheus.Registerer) *rebuildMetrics {
	g := func(name, help string) prometheus.Gauge {
		return prometheus.NewGauge(prometheus.GaugeOpts{Name: "pagemill_rebuild_" + name, Help: help})
	}
	m := &rebuildMetrics{
		walBytes:  g("wal_bytes", "WAL bytes (LSN distance from the base backup's start) the page store rebuild has applied."),
		walTarget: g("wal_target_bytes", "WAL bytes the page store rebuild applies in all: up to the last round in the stream at its start."),
		basePages: g("base_pages", "Base backup pages the page store rebuild imported."),
		versions:  g("page_versions", "Page versions the page store rebuild wrote from the records."),
		records:   g("records", "Records the page store rebuild applied (a record is counted by every shard that applies it)."),
		seconds:   g("seconds", "Duration of the page store rebuild so far (its total once done)."),
		done:      g("done", "1 once the page store rebuild reached its target LSN."),
		movedAside: prometheus.NewCounter(prometheus.CounterOpts{Name: "pagemill_rebuild_stores_moved_aside_total",
			Help: "Page stores moved aside (damaged, or replaced by `rebuild --force`) to be rebuilt from the streams."}),
	}
	for _, c := range []prometheus.Collector{m.walBytes, m.walTarget, m.basePages, m.versions, m.records, m.seconds, m.done, m.movedAside} {
		_ = reg.Register(c) // a second registration keeps the first's
	}
	return m
}

// rebuildWatch follows a materializer filling a fresh store.
type rebuildWatch struct {
	m      *materialize.Materializer
	base   streams.BaseBackupState
	target schema.LSN
	gather prometheus.Gatherer // nil: no base import or record counts
	met    *rebuildMetrics
	began  time.Time
	// Start of the WAL replay (the base import done).
	walBegan time.Time
}

func newRebuildWatch(m *materialize.Materializer, base streams.BaseBackupState, target schema.LSN, reg prometheus.Registerer, met *rebuildMetrics) *rebuildWatch {
	w := &rebuildWatch{m: m, base: base, target: target, met: met, began: time.Now()}
	w.gather, _ = reg.(prometheus.Gatherer)
	met.walTarget.Set(float64(walBytes(base.StartLSN, target)))
	return w
}

// rebuildProgress is one observation of a rebuild.
type rebuildProgress struct {
	Importing           bool // the base backup is being imported
	BasePages           int64
	BaseTotal           int64 // pages of the base backup (0: unknown)
	Applied, Target     schema.LSN
	WALDone, WALTotal   int64 // bytes
	Records, Versions   int64
	Elapsed, WALElapsed time.Duration
	Done                bool
}

func (w *rebuildWatch) progress() rebuildProgress {
	p := rebuildProgress{BaseTotal: w.base.Pages, Target: w.target, Versions: w.m.VersionsWritten(), Elapsed: time.Since(w.began)}
	select {
	case <-w.m.Ready():
	default:
		p.Importing = true
	}
	if w.gather != nil {
		if mfs, err := w.gather.Gather(); err == nil {
			for _, mf := range mfs {
				var sum float64
				for _, mt := range mf.GetMetric() {
					sum += mt.GetCounter().GetValue()
				}
				switch mf.GetName() {
				case "pagemill_materialize_base_pages_total":
					p.BasePages = int64(sum)
				case "pagemill_materialize_records_applied_total", "pagemill_materialize_records_unsupported_total":
					p.Records += int64(sum)
				}
			}
		}
	}
	if !p.Importing {
		if w.walBegan.IsZero() {
			w.walBegan = time.Now()
		}
		p.WALElapsed = time.Since(w.walBegan)
		p.Applied = w.m.Applied()
		if p.BasePages == 0 {
			p.BasePages = w.base.Pages // imported before the watch began
		}
	}
	p.WALTotal = walBytes(w.base.StartLSN, w.target)
	p.WALDone = min(walBytes(w.base.StartLSN, p.Applied), p.WALTotal)
	p.Done = !p.Importing && p.Applied >= w.target
	w.met.walBytes.Set(float64(p.WALDone))
	w.met.basePages.Set(float64(p.BasePages))
	w.met.versions.Set(float64(p.Versions))
	w.met.records.Set(float64(p.Records))
	w.met.seconds.Set(p.Elapsed.Seconds())
	return p
}

func walBytes(from, to schema.LSN) int64 {
	if to <= from {
		return 0
	}
	return int64(to - from)
}

func mb(b int64) float64 { return float64(b) / 1e6 }

// BaseBytes is the size of the pages imported from the base backup.
func (p rebuildProgress) BaseBytes() int64 { return p.BasePages * schema.BLCKSZ }

// WALRate is the WAL replay's average in MB/s.
func (p rebuildProgress) WALRate() float64 {
	if p.WALElapsed <= 0 {
		return 0
	}
	return mb(p.WALDone) / p.WALElapsed.Seconds()
}

// Rate is the whole rebuild's average in MB/s (base pages and WAL).
func (p rebuildProgress) Rate() float64 {
	if p.Elapsed <= 0 {
		return 0
	}
	return mb(p.BaseBytes()+p.WALDone) / p.Elapsed.Seconds()
}

// ETA is the WAL replay's remaining time at its average rate (-1:
// unknown).
func (p rebuildProgress) ETA() time.Duration {
	if p.Done {
		return 0
	}
	if p.Importing || p.WALDone <= 0 || p.WALElapsed <= 0 {
		return -1
	}
	left := float64(p.WALTotal-p.WALDone) / float64(p.WALDone) * p.WALElapsed.Seconds()
	return time.Duration(left * float64(time.Second))
}

// Line is the progress bar's line.
func (p rebuildProgress) Line() string {
	const width = 24
	var frac float64
	var what string
	if p.Importing {
		frac = ratio(p.BasePages, p.BaseTotal)
		what = fmt.Sprintf("base %d/%d pages (%.1f MB)", p.BasePages, p.BaseTotal, mb(p.BaseBytes()))
	} else {
		frac = ratio(p.WALDone, p.WALTotal)
		if p.WALTotal == 0 {
			frac = 1
		}
		what = fmt.Sprintf("WAL %.1f/%.1f MB  %.1f MB/s  ETA %s  %d records", mb(p.WALDone), mb(p.WALTotal), p.WALRate(), fmtETA(p.ETA()), p.Records)
	}
	n := int(frac * width)
	return fmt.Sprintf("rebuild [%s%s] %5.1f%%  %s", strings.Repeat("#", n), strings.Repeat(".", width-n), 100*frac, what)
}

func ratio(a, b int64) float64 {
	if b <= 0 {
		return 0
	}
	return min(1, float64(a)/float64(b))
}

func fmtETA(d time.Duration) string {
	if d < 0 {
		return "--"
	}
	d = d.Round(time.Second)
	if d >= time.Hour {
		return fmt.Sprintf("%d:%02d:%02d", int(d.Hours()), int(d.Minutes())%60, int(d.Seconds())%60)
	}
	return fmt.Sprintf("%d:%02d", int(d.Minutes()), int(d.Seconds())%60)
}

func (p rebuildProgress) log(log *slog.Logger) {
	if p.Importing {
		log.Info("rebuild progress: importing the base backup", "pages", p.BasePages, "of", p.BaseTotal, "seconds", round1(p.Elapsed.Seconds()))
		return
	}
	log.Info("rebuild progress", "applied_lsn", p.Applied, "target_lsn", p.Target, "wal_mb", round1(mb(p.WALDone)), "wal_total_mb", round1(mb(p.WALTotal)),
		"percent", round1(100*ratio(p.WALDone, p.WALTotal)), "mb_per_s", round1(p.WALRate()), "eta", fmtETA(p.ETA()),
		"records", p.Records, "page_versions", p.Versions)
}

// Summary is the final line: MB, seconds, MB/s, pages.
func (p rebuildProgress) Summary(dir string, storeBytes int64) string {
	return fmt.Sprintf("rebuilt %s up to %s: %.1f MB (base %.1f MB + WAL %.1f MB) in %.2f s, %.1f MB/s (WAL replay %.1f MB/s); %d base pages + %d page versions from %d records; store %.1f MB",
		dir, p.Applied, mb(p.BaseBytes()+p.WALDone), mb(p.BaseBytes()), mb(p.WALDone), p.Elapsed.Seconds(), p.Rate(), p.WALRate(),
		p.BasePages, p.Versions, p.Records, mb(storeBytes))
}

func (p rebuildProgress) logDone(log *slog.Logger, dir string, storeBytes int64) {
	args := []any{"applied_lsn", p.Applied, "mb", round1(mb(p.BaseBytes() + p.WALDone)), "base_mb", round1(mb(p.BaseBytes())), "wal_mb", round1(mb(p.WALDone)),
		"seconds", round1(p.Elapsed.Seconds()), "mb_per_s", round1(p.Rate()), "wal_mb_per_s", round1(p.WALRate()),
		"base_pages", p.BasePages, "page_versions", p.Versions, "records", p.Records}
	if dir != "" {
		args = append(args, "dir", dir, "store_mb", round1(mb(storeBytes)))
	}
	log.Info("page store rebuilt from the streams", args...)
}

func round1(f float64) float64 { return float64(int64(f*10+0.5)) / 10 }

// progressBar redraws one line on a terminal.
type progressBar struct {
	out  io.Writer
	last int
}

func (b *progressBar) draw(line string) {
	pad := ""
	if n := b.last - len(line); n > 0 {
		pad = strings.Repeat(" ", n)
	}
	fmt.Fprint(b.out, "\r"+line+pad)
	b.last = len(line)
}

// finish ends the bar's line (nil: no bar).
func (b *progressBar) finish() {
	if b != nil && b.last > 0 {
		fmt.Fprintln(b.out)
		b.last = 0
	}
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
