package materialize

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/pagemill/pagemill/redo/pagestore"
	"github.com/pagemill/pagemill/schema"
	"github.com/pagemill/pagemill/streams"
)

// Config configures a Materializer. Zero values take defaults sized for a
// 2-core machine and a 1 GiB process budget.
type Config struct {
	// Layout names the stream and subjects (system id, timeline, shards).
	// The redo shards are the page store's (pagestore.Store.Shards); they
	// need not be as many as the stream's subjects: a record is routed to
	// the redo shards of the pages it changes.
	Layout streams.Layout
	// ImageEvery: a page gets a full image after this many records
	// (default 256), bounding the replay of a read. Records of a page are
	// packed into few keys (pagestore), so a read fetches a handful of
	// values whatever the count; images are most of what the write path
	// costs beyond the records themselves, and the reads stay well within
	// their budget (PERFORMANCE.md has both).
	ImageEvery int
	// CachePages: current pages the redo shards keep in memory, over all
	// shards (default 24576: 192 MiB; scale 10 of pgbench uses about
	// 20,000, and loading pages back was a tenth of the CPU at 16384).
	CachePages int
	// EvictImageAfter: a page evicted from that cache with this many
	// records since its last image gets an image first (default
	// ImageEvery/8), so that loading it back reads one image instead of
	// its records. 1 when memory is tight: loads then touch little of the
	// page store, whose pages the page cache cannot all hold.
	EvictImageAfter int
	// SpillPages: current pages evicted from that cache are kept in a
	// spill file of this many pages, over all shards, instead of being
	// written to the page store as images and read back from it (default
	// CachePages; negative disables). SpillDir is where (default: the
	// page store's directory; none for a store in memory).
	SpillPages int
	SpillDir   string
	// BatchMessages and BatchBytes bound one shard commit (default 512
	// messages, 8 MiB).
	BatchMessages int
	BatchBytes    int
	// SyncInterval: committed batches are made durable (synced, then
	// their messages acknowledged) at most this often (default 100 ms).
	// Reads do not wait for it.
	SyncInterval time.Duration
	// Readers bounds concurrent on-demand reconstructions (default
	// GOMAXPROCS).
	Readers int
	// ReadCachePages: recently read pages kept for repeated reads, over
	// all shards (default 8192: 64 MiB; negative disables).
	ReadCachePages int
	// ConsumerPrefix names the durable consumers (default "pm_redo").
	ConsumerPrefix string
	// Yield: how long a shard steps aside for a shard someone waits on
	// (default 20 ms, at most per batch).
	Yield time.Duration
	// RetainBytes and RetainTime are the retention window: page versions
	// older than both (WAL bytes behind the applied LSN, and age) are
	// garbage-collected and reads below the horizon refused. Zero keeps
	// that dimension forever; both zero keeps everything.
	RetainBytes int64
	RetainTime  time.Duration
	// GCInterval is how often the horizon is moved (default 1 minute).
	GCInterval time.Duration
	// SnapshotBytes and SnapshotInterval: a snapshot of the page store is
	// stored in the object store after this much WAL or time since the
	// last one (defaults 1 GiB and 6h; negative disables that trigger).
	// With a retention window, the snapshot newest at or below the horizon
	// lets the stream, older snapshots and the base backup's pages go.
	SnapshotBytes    int64
	SnapshotInterval time.Duration
	// ApplyDelay slows every shard batch down on purpose (tests of
	// waiting readers, demos); zero in production.
	ApplyDelay time.Duration
}

// DefaultShards is the redo shards of a new page store for a stream with
// streamShards subjects: one per core and at least two (the dispatcher
// and the syncs run beside them) for a stream with one subject, else as
// many as the stream has subjects (see New).
func DefaultShards(streamShards int) int {
	if streamShards > 1 {
		return streamShards
	}
	return max(2, runtime.GOMAXPROCS(0))
}

// ErrShardLayout: the stream's subjects and the page store's redo shards
// do not fit together.
var ErrShardLayout = errors.New("stream shards and redo shards do not fit")

func (c Config) withDefaults() Config {
	if c.ImageEvery <= 0 {
		c.ImageEvery = 256
	}
	if c.CachePages <= 0 {
		c.CachePages = 24576
	}
	if c.SpillPages == 0 {
		c.SpillPages = c.CachePages
	}
	if c.BatchMessages <= 0 {
		c.BatchMessages = 512
	}
	if c.BatchBytes <= 0 {
		c.BatchBytes = 8 << 20
	}
	if c.SyncInterval <= 0 {
		c.SyncInterval = 100 * time.Millisecond
	}
	if c.ReadCachePages == 0 {
		c.ReadCachePages = 8192
	}
	if c.Readers <= 0 {
		c.Readers = runtime.GOMAXPROCS(0)
	}
	if c.ConsumerPrefix == "" {
		c.ConsumerPrefix = "pm_redo"
	}
	if c.GCInterval <= 0 {
		c.GCInterval = time.Minute
	}
	if c.SnapshotBytes == 0 {
		c.SnapshotBytes = 1 << 30
	}
	if c.SnapshotInterval == 0 {
		c.SnapshotInterval = 6 * time.Hour
	}
	if c.Yield <= 0 {
		c.Yield = 20 * time.Millisecond
	}
	return c
}

// Materializer applies the WAL events of one source timeline to a page
// store and serves reads from it.
type Materializer struct {
	cfg   Config
	js    jetstream.JetStream
	h     *streams.Handles
	store *pagestore.Store
	log   *slog.Logger
	m     *metrics

	shards   []*shard
	timeline atomic.Uint32 // the timeline being applied (Layout's)
	ready    chan struct{} // closed when the base is imported and shards run
	readySet sync.Once

	readSem chan struct{}
	flights sync.Map // flightKey → *flight

	urgentMu sync.Mutex
	urgent   int           // shards with waiters
	calm     chan struct{} // closed (and replaced) when urgent drops to 0

	syncs     *syncQueue   // committed batches waiting for syncLoop
	published *watermark   // newest round end seen on the meta subject
	versions  atomic.Int64 // page versions written (images, deltas, markers)
	runMu     sync.Mutex
	running   bool

	// pins: LSNs long readers need kept (see Pin), with counts; GC holds
	// pinMu while it moves the horizon.
	pinMu sync.Mutex
	pins  map[schema.LSN]int

	// trimmedFor: the snapshot trim last finished for (the GC goroutine's).
	trimmedFor string
}

// New returns a materializer over store for the stream in h.
func New(cfg Config, js jetstream.JetStream, h *streams.Handles, store *pagestore.Store, reg prometheus.Registerer, log *slog.Logger) (*Materializer, error) {
	if err := cfg.Layout.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if n := store.Shards(); cfg.Layout.Shards != 1 && cfg.Layout.Shards != n {
		return nil, fmt.Errorf("%w: the stream has %d shard subjects and the page store %d redo shards: with more than one subject they must match (make the store with --redo-shards %d, or the stream with one subject)",
			ErrShardLayout, cfg.Layout.Shards, n, cfg.Layout.Shards)
	}
	m := &Materializer{
		cfg: cfg, js: js, h: h, store: store, log: log.With("component", "materialize"),
		m:         newMetrics(reg, store.Size, store.SegmentFileBytes),
		ready:     make(chan struct{}),
		readSem:   make(chan struct{}, cfg.Readers),
		calm:      make(chan struct{}),
		published: newWatermark(0),
		syncs:     newSyncQueue(),
	}
	m.timeline.Store(cfg.Layout.Timeline)
	for i := 0; i < store.Shards(); i++ {
		applied, seq, err := store.Applied(i)
		if err != nil {
			return nil, fmt.Errorf("applied LSN of shard %d: %w", i, err)
		}
		m.shards = append(m.shards, newShard(m, i, applied, seq))
	}
	return m, nil
}

// Applied is the minimum applied LSN over all shards.
func (m *Materializer) Applied() schema.LSN {
	return m.lowest(func(s *shard) *watermark { return s.wm })
}

// lowest is the minimum over all shards of one of their watermarks.
func (m *Materializer) lowest(which func(*shard) *watermark) schema.LSN {
	var min schema.LSN
	for i, s := range m.shards {
		if a := which(s).get(); i == 0 || a < min {
			min = a
		}
	}
	return min
}

// AppliedShard is shard i's applied LSN.
func (m *Materializer) AppliedShard(i int) schema.LSN { return m.shards[i].wm.get() }

// Shards is the number of shards.
func (m *Materializer) Shards() int { return len(m.shards) }

// Published is the newest round end the materializer has seen.
func (m *Materializer) Published() schema.LSN { return m.published.get() }

// Horizon is the oldest LSN reads may ask for.
func (m *Materializer) Horizon() schema.LSN { return m.store.Horizon() }

// VersionsWritten counts the page versions written since start.
func (m *Materializer) VersionsWritten() int64 { return m.versions.Load() }

// Store is the page store.
func (m *Materializer) Store() *pagestore.Store { return m.store }

// Ready is closed once the base backup is imported and redo runs.
func (m *Materializer) Ready() <-chan struct{} { return m.ready }

// Run imports the base backup when the store is new, then applies the
// stream until ctx ends. It returns nil on cancellation.
func (m *Materializer) Run(ctx context.Context) error {
	m.runMu.Lock()
	if m.running {
		m.runMu.Unlock()
		return errors.New("materializer is already running")
	}
	m.running = true
	m.runMu.Unlock()

	if err := m.checkSystem(false); err != nil {
		return err
	}
	if err := m.ensureBase(ctx); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	if err := m.checkSystem(true); err != nil {
		return err
	}
	if err := m.ensureXactIndex(); err != nil {
		return fmt.Errorf("transaction index: %w", err)
	}
	m.store.SetDataChecksums(m.DataChecksums())
	// The store knows which timeline it is on; the caller's layout may
	// name the source's newer one.
	if cur := uint32(m.store.TimeLineHistory().Current()); cur != m.timeline.Load() {
		m.log.Info("applying the page store's timeline", "timeline", cur, "source_timeline", m.timeline.Load())
		m.timeline.Store(cur)
	}
	for {
		next, err := m.runTimeline(ctx)
		if err != nil || next == nil || ctx.Err() != nil {
			return err
		}
		if err := m.switchTimeline(next); err != nil {
			return err
		}
	}
}

// runTimeline applies the current timeline's rounds until ctx ends, an
// error, or the switch to the next timeline is due: then it returns that
// timeline's history.
func (m *Materializer) runTimeline(ctx context.Context) (schema.TimeLineHistory, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	workers := len(m.shards) + 3 // the dispatcher, each shard's run, syncLoop, the timeline watch
	errc := make(chan error, workers)
	var wg sync.WaitGroup
	names, err := m.consumerNames(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil, nil
		}
		return nil, err
	}
	cons, err := m.consumer(ctx, m.lowestSeq(), strconv.FormatInt(time.Now().UnixNano(), 36), names)
	if err != nil {
		if ctx.Err() != nil {
			return nil, nil // stopped while starting
		}
		return nil, err
	}
	d := m.newDispatcher()
	// Each stage's goroutines carry a label: CPU profiles say what each
	// stage costs (pagemill-bench materialize reports it).
	stage := func(f func(context.Context) error, labels ...string) {
		wg.Add(1)
		go pprof.Do(ctx, pprof.Labels(labels...), func(ctx context.Context) { defer wg.Done(); errc <- f(ctx) })
	}
	stage(func(ctx context.Context) error { return d.run(ctx, cons) }, "stage", "deliver_decode")
	for i, s := range m.shards {
		in := d.ins[i]
		stage(func(ctx context.Context) error { return s.run(ctx, in) }, "stage", "apply", "shard", strconv.Itoa(i))
	}
	var next schema.TimeLineHistory
	stage(m.syncLoop, "stage", "sync")
	wg.Add(2)
	go pprof.Do(ctx, pprof.Labels("stage", "gc"), func(ctx context.Context) { defer wg.Done(); m.gcLoop(ctx) })
	go func() {
		defer wg.Done()
		var err error
		if next, err = m.watchTimeline(ctx); next != nil {
			err = errSwitch
		}
		errc <- err
	}()
	m.readySet.Do(func() { close(m.ready) })
	m.log.Info("materializer running", "shards", len(m.shards), "timeline", m.timeline.Load(), "applied_lsn", m.Applied())
	var first error
	for range workers {
		if err := <-errc; err != nil && first == nil && ctx.Err() == nil {
			first = err
			cancel()
		}
		cancel()
	}
	wg.Wait()
	if errors.Is(first, errSwitch) {
		return next, nil
	}
	return nil, first
}

// ErrOtherSystem: the page store holds another database system's pages
// than the stream's (the source was replaced by another database).
var ErrOtherSystem = errors.New("page store of another database system")

// checkSystem refuses a store that holds another system's pages, and
// records the stream's system in one that records none when record is
// set (after the import).
func (m *Materializer) checkSystem(record bool) error {
	v, err := m.store.GetMeta("system_id")
	if err != nil {
		return err
	}
	want := m.cfg.Layout.SystemID
	switch {
	case len(v) == 8 && binary.BigEndian.Uint64(v) != want:
		return fmt.Errorf("%w: the page store holds system %d, the stream is of system %d: give this source its own data directory (or move the page store aside to rebuild it)",
			ErrOtherSystem, binary.BigEndian.Uint64(v), want)
	case v == nil && record:
		w := m.store.NewWriter()
		w.SetMeta("system_id", binary.BigEndian.AppendUint64(nil, want))
		return w.Commit()
	}
	return nil
}

// Layout is the stream layout of the timeline being applied.
func (m *Materializer) Layout() streams.Layout {
	l := m.cfg.Layout
	l.Timeline = m.timeline.Load()
	return l
}

// consumerBase is the name the materializer's durable consumer starts
// with; each Run adds a generation suffix (see consumer). Consumers of the
// older layout (one per shard, <base>_sNNN_<generation>) start with it too,
// so they are deleted with the rest.
func (m *Materializer) consumerBase() string {
	return fmt.Sprintf("%s_%d", m.cfg.ConsumerPrefix, m.timeline.Load())
}

// DeleteConsumers removes every durable consumer of this materializer
// (all generations). Run recreates one; tools that run a materializer
// once (rebuild) clean up with it.
func (m *Materializer) DeleteConsumers(ctx context.Context) error {
	names, err := m.consumerNames(ctx)
	if err != nil {
		return err
	}
	return m.deleteConsumers(ctx, names, m.consumerBase())
}

func (m *Materializer) consumerNames(ctx context.Context) ([]string, error) {
	lister := m.h.Stream.ConsumerNames(ctx)
	var names []string
	for n := range lister.Name() {
		names = append(names, n)
	}
	if err := lister.Err(); err != nil {
		return nil, fmt.Errorf("list consumers: %w", err)
	}
	return names, nil
}

// deleteConsumers deletes the consumers in names that are base or a
// generation of it, retrying a few times.
func (m *Materializer) deleteConsumers(ctx context.Context, names []string, base string) error {
	for _, name := range names {
		if name != base && !strings.HasPrefix(name, base+"_") {
			continue
		}
		var err error
		for attempt := 1; attempt <= 5; attempt++ {
			if err = m.h.Stream.DeleteConsumer(ctx, name); err == nil || errors.Is(err, jetstream.ErrConsumerNotFound) {
				err = nil
				break
			}
			m.log.Warn("deleting a consumer failed; retrying", "consumer", name, "attempt", attempt, "err", err)
			select {
			case <-time.After(time.Duration(attempt) * time.Second):
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		if err != nil {
			return fmt.Errorf("consumer %s: %w", name, err)
		}
	}
	return nil
}

// consumer creates this run's durable consumer: every subject of the
// timeline (each shard's and the meta subject) in stream order, from the
// message after seq (the lowest stream sequence a shard's store covers).
// Older generations are deleted first. Explicit acknowledgement: a
// message is acknowledged once every shard it went to has made it
// durable.
func (m *Materializer) consumer(ctx context.Context, seq uint64, gen string, names []string) (jetstream.Consumer, error) {
	base := m.consumerBase()
	if err := m.deleteConsumers(ctx, names, base); err != nil {
		return nil, err
	}
	name := base + "_" + gen
	cfg := jetstream.ConsumerConfig{
		Durable:       name,
		Description:   "pagemill redo",
		FilterSubject: m.Layout().TimelineSubjects(),
		AckPolicy:     jetstream.AckAllPolicy, // see ackFloor
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckWait:       5 * time.Minute,
		MaxAckPending: 4 * m.cfg.BatchMessages * len(m.shards),
		MaxDeliver:    -1,
	}
	if seq > 0 {
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, seq+1
		// Messages the store has not applied must still be in the stream.
		info, err := m.h.Stream.Info(ctx)
		if err != nil {
			return nil, fmt.Errorf("stream info: %w", err)
		}
		if first := info.State.FirstSeq; first > seq+1 {
			return nil, fmt.Errorf("%w: the page store covers the stream up to sequence %d, but the stream now starts at %d; rebuild the page store (pagemill rebuild)",
				ErrStreamTrimmed, seq, first)
		}
	}
	for attempt := 1; ; attempt++ {
		cons, err := m.h.Stream.CreateConsumer(ctx, cfg)
		if err == nil {
			if info := cons.CachedInfo(); info != nil && (info.Delivered.Consumer != 0 || info.AckFloor.Consumer != 0 || info.NumAckPending != 0) {
				return nil, fmt.Errorf("consumer %s is not new (delivered %d, ack floor %d, pending %d): refusing a consumer that would skip messages",
					name, info.Delivered.Consumer, info.AckFloor.Consumer, info.NumAckPending)
			}
			return cons, nil
		}
		if attempt == 5 || ctx.Err() != nil {
			return nil, fmt.Errorf("consumer %s: %w", name, err)
		}
		m.log.Warn("creating a consumer failed; retrying", "consumer", name, "attempt", attempt, "err", err)
		select {
		case <-time.After(time.Duration(attempt) * time.Second):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// baseMeta is the store's record of the imported base backup.
type baseMeta struct {
	Prefix        string     `json:"prefix"`
	StartLSN      schema.LSN `json:"start_lsn"`
	EndLSN        schema.LSN `json:"end_lsn"`
	DataChecksums bool       `json:"data_checksums"`
	Pages         int64      `json:"pages"`
}

// Base returns the imported base backup's start and end LSN (zero before
// the import).
func (m *Materializer) Base() (start, end schema.LSN, err error) {
	v, err := m.store.GetMeta("base")
	if err != nil || v == nil {
		return 0, 0, err
	}
	var b baseMeta
	if err := json.Unmarshal(v, &b); err != nil {
		return 0, 0, err
	}
	return b.StartLSN, b.EndLSN, nil
}

// BasePrefix is the object-store prefix of the imported base backup.
func (m *Materializer) BasePrefix() (string, error) {
	v, err := m.store.GetMeta("base")
	if err != nil {
		return "", err
	}
	if v == nil {
		return "", ErrNotReady
	}
	var b baseMeta
	if err := json.Unmarshal(v, &b); err != nil {
		return "", err
	}
	return b.Prefix, nil
}

// ensureBase imports the ingest's base backup into an empty store, after
// waiting for it to be complete.
func (m *Materializer) ensureBase(ctx context.Context) error {
	if v, err := m.store.GetMeta("base"); err != nil {
		return err
	} else if v != nil {
		return nil
	}
	// The oldest snapshot kept covers the whole retention window; a store
	// starts from it rather than from the base backup, whose pages may be
	// gone.
	if snaps, err := m.Snapshots(ctx); err != nil {
		return err
	} else if len(snaps) > 0 {
		return m.importSnapshot(ctx, snaps[0])
	}
	st, err := m.waitBaseBackup(ctx)
	if err != nil {
		return err
	}
	tli := st.Timeline
	if tli == 0 {
		tli = schema.TimeLineID(m.timeline.Load())
	}
	if err := m.adoptHistory(ctx, tli, st.StartLSN); err != nil {
		return err
	}
	m.log.Info("importing the base backup", "prefix", st.Prefix, "start_lsn", st.StartLSN, "end_lsn", st.EndLSN, "pages", st.Pages)
	began := time.Now()
	objs, err := m.h.Objects.List(ctx)
	if err != nil && !errors.Is(err, jetstream.ErrNoObjectsFound) {
		return fmt.Errorf("list base backup objects: %w", err)
	}
	imp := &baseImport{m: m, st: st, w: m.store.NewWriter(), sizes: map[pagestore.RelFork]schema.BlockNumber{}}
	for _, o := range objs {
		if err := imp.object(ctx, o); err != nil {
			return err
		}
	}
	for k, n := range imp.sizes {
		imp.w.PutSize(k.Rel, k.Fork, st.StartLSN, 0, pagestore.SizeSet, n)
	}
	// Records from the backup's start on are applied; reads start at its
	// end, where the copied pages are consistent.
	if err := m.finishImport(imp.w, st.StartLSN, 0, st.EndLSN,
		baseMeta{Prefix: st.Prefix, StartLSN: st.StartLSN, EndLSN: st.EndLSN, DataChecksums: st.DataChecksums, Pages: imp.pages}); err != nil {
		return err
	}
	m.log.Info("base backup imported", "pages", imp.pages, "relation_forks", len(imp.sizes), "seconds", time.Since(began).Seconds())
	return nil
}

// baseImport is the state of one import of the base backup: the writer,
// the pages written and the size of every fork seen.
type baseImport struct {
	m     *Materializer
	st    *streams.BaseBackupState
	w     *pagestore.Writer
	pages int64
	sizes map[pagestore.RelFork]schema.BlockNumber
}

// object imports the pages of one object of the base backup, if it holds
// pages: a relation segment (or a part of one), an SLRU segment or a
// relation map.
func (imp *baseImport) object(ctx context.Context, o *jetstream.ObjectInfo) error {
	start, ok, err := basePagesStart(o, imp.st.Prefix)
	if err != nil || !ok {
		return err
	}
	relMap := schema.IsRelMap(start.Rel)
	if o.Size%schema.BLCKSZ != 0 && !(relMap && o.Size == schema.RelMapFileSize) {
		return fmt.Errorf("base object %s: %d bytes is not a whole number of pages", o.Name, o.Size)
	}
	// Without a deadline Get gives the whole object the client's
	// default timeout (5 s): too little for a 1 GiB segment.
	gctx, gcancel := context.WithTimeout(ctx, 2*time.Minute+time.Duration(o.Size>>20)*time.Second)
	defer gcancel()
	r, err := imp.m.h.Objects.Get(gctx, o.Name)
	if err != nil {
		return fmt.Errorf("read base object %s: %w", o.Name, err)
	}
	defer r.Close()
	n, err := imp.readPages(r, o.Name, start, relMap)
	if err != nil {
		return err
	}
	k := pagestore.RelFork{Rel: start.Rel, Fork: start.Fork}
	imp.sizes[k] = max(imp.sizes[k], start.Block+n)
	return nil
}

// basePagesStart is where the pages of a base backup object go: the tag of
// its first page. ok is false for an object that holds no pages.
func basePagesStart(o *jetstream.ObjectInfo, prefix string) (start schema.BufferTag, ok bool, err error) {
	name, ok := strings.CutPrefix(o.Name, prefix+"/")
	if !ok {
		return start, false, nil
	}
	if o.Metadata[streams.ObjMetaRelation] == "" {
		// SLRU segments and relation maps become auxiliary pages.
		tag, ok := schema.AuxFile(name)
		return tag, ok, nil
	}
	rel, err := schema.ParseRelFileNode(o.Metadata[streams.ObjMetaRelation])
	if err != nil {
		return start, false, fmt.Errorf("base object %s: %w", o.Name, err)
	}
	fork, err := schema.ParseForkNumber(o.Metadata[streams.ObjMetaFork])
	if err != nil {
		return start, false, fmt.Errorf("base object %s: %w", o.Name, err)
	}
	seg, err := strconv.Atoi(o.Metadata[streams.ObjMetaSegment])
	if err != nil {
		return start, false, fmt.Errorf("base object %s: segment: %w", o.Name, err)
	}
	first := schema.BlockNumber(seg) * schema.RelSegSize
	if v := o.Metadata[streams.ObjMetaOffset]; v != "" {
		// A part of the file (see streams.ObjPartBytes).
		off, err := strconv.ParseInt(v, 10, 64)
		if err != nil || off < 0 || off%schema.BLCKSZ != 0 {
			return start, false, fmt.Errorf("base object %s: offset %q", o.Name, v)
		}
		first += schema.BlockNumber(off / schema.BLCKSZ)
	}
	return schema.BufferTag{Rel: rel, Fork: fork, Block: first}, true, nil
}

// readPages writes the pages of object name, read from r, as images from
// start on, and returns their number. A relation map is one page, its
// file padded with zeros.
func (imp *baseImport) readPages(r io.Reader, name string, start schema.BufferTag, relMap bool) (schema.BlockNumber, error) {
	buf := make([]byte, schema.BLCKSZ)
	n := schema.BlockNumber(0)
	for {
		if relMap {
			clear(buf)
			if n > 0 {
				return n, nil
			}
			if _, err := io.ReadFull(r, buf[:schema.RelMapFileSize]); err != nil {
				return n, fmt.Errorf("read base object %s: %w", name, err)
			}
		} else if _, err := io.ReadFull(r, buf); err == io.EOF {
			return n, nil
		} else if err != nil {
			return n, fmt.Errorf("read base object %s at page %d: %w", name, n, err)
		}
		tag := start
		tag.Block += n
		imp.w.PutImage(tag, imp.st.StartLSN, buf)
		n++
		imp.pages++
		imp.m.m.baseImportPages.Inc()
		var err error
		if imp.w, err = imp.m.commitFull(imp.w); err != nil {
			return n, err
		}
	}
}

// commitFull commits an import's writer once it holds 4096 entries and
// returns the writer to go on with.
func (m *Materializer) commitFull(w *pagestore.Writer) (*pagestore.Writer, error) {
	if w.Len() < 4096 {
		return w, nil
	}
	if err := w.Commit(); err != nil {
		return w, err
	}
	return m.store.NewWriter(), nil
}

// finishImport completes filling an empty store from a starting point
// (the base backup or a snapshot) in w: every shard has applied through
// applied (stream sequence seq), reads start at horizon, base describes
// the start. It commits, syncs, and only then moves the shards'
// positions and watermarks.
func (m *Materializer) finishImport(w *pagestore.Writer, applied schema.LSN, seq uint64, horizon schema.LSN, base baseMeta) error {
	for i := range m.shards {
		w.SetApplied(i, applied, seq)
	}
	meta, _ := json.Marshal(base)
	w.SetMeta("horizon", binary.BigEndian.AppendUint64(nil, uint64(horizon)))
	w.SetMeta("base", meta)
	// The transaction index starts with the store.
	w.SetXactIndex(pagestore.XactIndexInfo{Version: pagestore.XactIndexVersion, From: applied})
	if err := w.Commit(); err != nil {
		return err
	}
	if err := m.store.Sync(); err != nil {
		return err
	}
	m.store.SetHorizon(horizon)
	for _, s := range m.shards {
		s.applied, s.seq = applied, seq
		s.wm.advance(applied)
		s.durable.advance(applied)
		s.progress.advance(applied)
	}
	return nil
}

// waitBaseBackup watches the state bucket until the base backup is
// complete.
func (m *Materializer) waitBaseBackup(ctx context.Context) (*streams.BaseBackupState, error) {
	w, err := m.h.KV.Watch(ctx, streams.KeyBaseBackup)
	if err != nil {
		return nil, fmt.Errorf("watch base backup state: %w", err)
	}
	defer w.Stop()
	logged := false
	for {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case e, ok := <-w.Updates():
			if !ok {
				return nil, errors.New("base backup state watch ended")
			}
			if e == nil || e.Operation() != jetstream.KeyValuePut {
				if !logged {
					m.log.Info("waiting for ingest's base backup")
					logged = true
				}
				continue
			}
			var st streams.BaseBackupState
			if err := json.Unmarshal(e.Value(), &st); err != nil {
				return nil, fmt.Errorf("base backup state: %w", err)
			}
			if st.Completed {
				return &st, nil
			}
		}
	}
}

// DataChecksums reports whether the source uses data checksums (known
// after the base import).
func (m *Materializer) DataChecksums() bool {
	v, err := m.store.GetMeta("base")
	if err != nil || v == nil {
		return false
	}
	var b baseMeta
	return json.Unmarshal(v, &b) == nil && b.DataChecksums
}

// waiting counts a reader waiting on shard s (delta ±1); while any shard
// has waiters, the others step aside between batches, and when none are
// left they resume at once.
func (m *Materializer) waiting(s *shard, delta int) {
	m.m.waiters.Add(float64(delta))
	m.urgentMu.Lock()
	defer m.urgentMu.Unlock()
	before := s.waitN
	s.waitN += delta
	switch {
	case before == 0 && s.waitN > 0:
		m.urgent++
	case before > 0 && s.waitN == 0:
		m.urgent--
		if m.urgent == 0 {
			close(m.calm)
			m.calm = make(chan struct{})
		}
	}
}

// stepAside waits (bounded) while another shard has waiters and s has
// none.
func (m *Materializer) stepAside(ctx context.Context, s *shard, in <-chan *item) {
	m.urgentMu.Lock()
	urgent, calm, mine := m.urgent, m.calm, s.waitN
	m.urgentMu.Unlock()
	// The shards share one stream-ordered feed: a shard whose input is
	// filling up must go on, or the dispatcher stops feeding the shard
	// that is waited for too.
	if urgent == 0 || mine > 0 || len(in) > cap(in)/2 {
		return
	}
	t := time.NewTimer(m.cfg.Yield)
	defer t.Stop()
	select {
	case <-calm:
	case <-t.C:
	case <-ctx.Done():
	}
}

// lowestSeq is the lowest stream sequence the shards' stores cover: the
// run's consumer starts after it, and each shard skips what it has.
func (m *Materializer) lowestSeq() uint64 {
	low := m.shards[0].seq
	for _, s := range m.shards[1:] {
		low = min(low, s.seq)
	}
	return low
}
