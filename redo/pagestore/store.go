package pagestore

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"runtime/pprof"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
	"github.com/klauspost/compress/s2"

	"github.com/pagemill/pagemill/redo"
	"github.com/pagemill/pagemill/schema"
)

// Errors callers decide on.
var (
	// ErrNotFound: no version of the page (or relation) at that LSN.
	ErrNotFound = errors.New("not found")
	// ErrBelowHorizon: the LSN is older than the retention horizon.
	ErrBelowHorizon = errors.New("below the retention horizon")
	// ErrUnavailable is matched by *UnavailableError.
	ErrUnavailable = errors.New("page not reconstructible")
	// ErrDamaged: stored bytes changed after they were written (their
	// checksum fails) or are gone. Nothing is served from them; the page
	// store is rebuilt from the streams (pagemill rebuild --force).
	ErrDamaged = errors.New("page store damaged")
)

// UnavailableError reports a page version that cannot be reconstructed
// exactly (a record whose redo is not supported changed it, and no image
// has arrived since).
type UnavailableError struct {
	Tag    schema.BufferTag
	LSN    schema.LSN // the version asked for
	Since  schema.LSN // the version that made it unavailable
	Reason string
}

func (e *UnavailableError) Error() string {
	return fmt.Sprintf("page %s at %s is not reconstructible since %s: %s", e.Tag, e.LSN, e.Since, e.Reason)
}

func (e *UnavailableError) Unwrap() error { return ErrUnavailable }

// Options configure the store. Zero values take the defaults, sized for a
// 2-core machine with a 1 GiB budget for the whole process.
type Options struct {
	Dir string
	// Shards is the number of redo shards writing to the store (each
	// keeps an applied LSN, writes its own size events and owns the pages
	// streams.ShardOf maps to it). A store records the count it was made
	// with: opening it with another fails with ErrShardsMismatch, unless
	// AdoptShards is set, when an existing store's count wins and Shards
	// only sizes a new one.
	Shards      int
	AdoptShards bool
	// DataChecksums: the source computes page checksums, so replayed pages
	// carry them too.
	DataChecksums bool
	// MemTableSize, BlockCacheSize, IndexCacheSize: Badger's memory (defaults
	// 16 MiB × 3 memtables, 64 MiB, 32 MiB).
	MemTableSize   int64
	BlockCacheSize int64
	IndexCacheSize int64
	// InMemory keeps everything in memory (tests).
	InMemory bool
	// SegmentBytes is the size at which a writer's records are cut into
	// another segment (default 8 MiB; 512 KiB in memory, where a value
	// counts against Badger's transaction limit).
	SegmentBytes int
	// SegmentFileBytes is the size at which segments go to a new segment
	// file (default 64 MiB; see segfile.go).
	SegmentFileBytes int64
}

// Store is the page store. It is safe for concurrent use.
type Store struct {
	db      *badger.DB
	opts    Options
	log     *slog.Logger
	engines sync.Pool

	mu            sync.Mutex
	horizon       schema.LSN
	dataChecksums atomic.Bool
	history       atomic.Pointer[schema.TimeLineHistory] // the timeline reads follow
	segs          *segIndex
	files         *segFiles // on disk; nil in memory
	// collecting is odd while Collect runs, and moves by two each time it
	// does: it removes segments from segs that a Snapshot still reads.
	collecting atomic.Uint64
	scratch    sync.Pool // *writerScratch

	syncMu   sync.Mutex
	syncCond *sync.Cond
	syncing  bool
	syncGen  uint64 // +2 per finished sync
	syncErr  error
}

// Open opens (creating if needed) the store in opts.Dir.
func Open(opts Options, log *slog.Logger) (*Store, error) {
	if opts.Shards <= 0 {
		return nil, errors.New("pagestore: Shards must be positive")
	}
	if opts.MemTableSize == 0 {
		opts.MemTableSize = 16 << 20
	}
	if opts.BlockCacheSize == 0 {
		opts.BlockCacheSize = 64 << 20
	}
	if opts.IndexCacheSize == 0 {
		opts.IndexCacheSize = 32 << 20
	}
	bo := badger.DefaultOptions(opts.Dir).
		WithLogger(badgerLogger{log}).
		WithInMemory(opts.InMemory).
		WithSyncWrites(false). // Sync is explicit and shared, see Sync
		WithMemTableSize(opts.MemTableSize).
		WithNumMemtables(3).
		WithBlockCacheSize(opts.BlockCacheSize).
		WithIndexCacheSize(opts.IndexCacheSize).
		WithNumCompactors(2).
		// Values (images, record packs) go to the value log, written
		// once; the LSM holds keys and value pointers, so compaction
		// never rewrites them. With records in the LSM (threshold 1 KiB)
		// compaction and table writing were a quarter of the
		// materializer's CPU.
		WithValueThreshold(64).
		WithValueLogFileSize(64 << 20).
		// Compression cost more CPU than it saved in the benchmark.
		WithCompression(options.None).
		// Never serve bytes that changed on disk after they were written:
		// every value read from the value log (images, record packs) and
		// every table block read has its checksum checked.
		WithVerifyValueChecksum(true).
		WithChecksumVerificationMode(options.OnBlockRead).
		WithDetectConflicts(false)
	if opts.InMemory {
		// No value log in memory: every value stays in the LSM.
		bo.Dir, bo.ValueDir = "", ""
		bo = bo.WithValueThreshold(1 << 20)
	}
	var db *badger.DB
	var err error
	// Badger's goroutines (writes, compaction) carry the label (CPU
	// profiles by stage).
	pprof.Do(context.Background(), pprof.Labels("stage", "page_store"), func(context.Context) { db, err = badger.Open(bo) })
	if err != nil {
		return nil, fmt.Errorf("open page store %s: %w", opts.Dir, err)
	}
	s := &Store{db: db, opts: opts, log: log, segs: newSegIndex()}
	s.dataChecksums.Store(opts.DataChecksums)
	s.syncCond = sync.NewCond(&s.syncMu)
	s.engines.New = func() any {
		e, err := redo.NewEngine()
		if err != nil {
			return err
		}
		e.DataChecksums = opts.DataChecksums
		return e
	}
	if err := s.checkFormat(); err != nil {
		db.Close()
		return nil, err
	}
	if err := s.checkShards(); err != nil {
		db.Close()
		return nil, err
	}
	if !opts.InMemory {
		if s.files, err = openSegFiles(opts.Dir, cmp.Or(opts.SegmentFileBytes, segFileBytes), log); err != nil {
			db.Close()
			return nil, fmt.Errorf("open page store %s: %w", opts.Dir, err)
		}
	}
	if err := s.loadSegments(); err != nil {
		s.Close()
		return nil, err
	}
	if h, err := s.readMetaLSN("horizon"); err != nil {
		s.Close()
		return nil, err
	} else {
		s.horizon = h
	}
	return s, nil
}

// ErrFormat: the store was written with another key layout
// (FormatVersion); rebuild it from the streams.
var ErrFormat = errors.New("page store of another format")

// checkFormat compares the store's recorded format with FormatVersion,
// records it in a new store, and loads the timeline history. A store
// without a recorded format is new if it holds nothing, else it is of
// format 1 (before timelines).
func (s *Store) checkFormat() error {
	v, err := s.GetMeta(metaFormat)
	if err != nil {
		return err
	}
	switch {
	case v == nil:
		empty, err := s.empty()
		if err != nil {
			return err
		}
		if !empty {
			return fmt.Errorf("%w: %s has format 1, this build reads %d: rebuild it from the streams (pagemill rebuild --force, or move the directory aside and restart)",
				ErrFormat, s.opts.Dir, FormatVersion)
		}
		if err := s.recordFormat(); err != nil {
			return err
		}
	case len(v) == 4 && (binary.BigEndian.Uint32(v) == 2 || binary.BigEndian.Uint32(v) == 3):
		// Format 2 is format 3 without segments, and format 3 is format
		// 4 without segment files: read as they are, and recorded as 4
		// before anything writes (a build of format 2 would not see
		// segments, one of format 3 could not read those in files).
		if err := s.recordFormat(); err != nil {
			return err
		}
	case len(v) != 4 || binary.BigEndian.Uint32(v) != FormatVersion:
		return fmt.Errorf("%w: %s has format %x, this build reads %d: rebuild it from the streams (pagemill rebuild --force)",
			ErrFormat, s.opts.Dir, v, FormatVersion)
	}
	hv, err := s.GetMeta(metaHistory)
	if err != nil {
		return err
	}
	h := schema.SingleTimeLine(1)
	if hv != nil {
		if h, err = schema.UnmarshalTimeLineHistory(hv); err != nil {
			return fmt.Errorf("page store %s: %w", s.opts.Dir, err)
		}
	}
	s.history.Store(&h)
	return nil
}

// recordFormat records FormatVersion as the store's format.
func (s *Store) recordFormat() error {
	w := s.NewWriter()
	w.SetMeta(metaFormat, binary.BigEndian.AppendUint32(nil, FormatVersion))
	if err := w.Commit(); err != nil {
		return fmt.Errorf("record the format: %w", err)
	}
	return nil
}

// empty reports whether the store holds no key at all.
func (s *Store) empty() (bool, error) {
	empty := true
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: false})
		defer it.Close()
		it.Rewind()
		empty = !it.Valid()
		return nil
	})
	return empty, err
}

// Meta keys of the format version and the timeline history.
const (
	metaFormat  = "format"
	metaHistory = "history"
)

// TimeLineHistory is the timeline history reads follow: a version is part of the
// page's history when its timeline owns its LSN there. Versions another
// timeline wrote past its switch point (an abandoned branch) stay stored
// and are never read.
func (s *Store) TimeLineHistory() schema.TimeLineHistory {
	if h := s.history.Load(); h != nil {
		return *h
	}
	return schema.SingleTimeLine(1)
}

// SetHistory records the history of the timeline the store is written
// on from now on, in a store that holds no version past where it begins
// on another timeline (a new store: the base backup's timeline), and
// makes it durable.
func (s *Store) SetHistory(h schema.TimeLineHistory) error {
	return s.SwitchTimeline(h, 0)
}

// SwitchTimeline moves the store to timeline h.Current(), whose history
// must continue the store's. Every shard's applied LSN comes down to the
// switch point when it is past it (the versions it covered there are on
// the abandoned branch), unless switchAt is 0. The change is durable
// when it returns; writers begun before it still write the old timeline.
func (s *Store) SwitchTimeline(h schema.TimeLineHistory, switchAt schema.LSN) error {
	if err := h.Validate(); err != nil {
		return err
	}
	if old := s.TimeLineHistory(); !h.Follows(old) && switchAt != 0 {
		return fmt.Errorf("%w: timeline history %s does not continue the store's %s", schema.ErrBadHistory, h, old)
	}
	if switchAt != 0 {
		// The indexes describe one history: what they hold past the
		// switch point is the abandoned branch's. Dropped first: a crash
		// before the history is recorded leaves the switch to be redone.
		if err := s.dropIndexesAfter(switchAt); err != nil {
			return fmt.Errorf("switch to timeline %d at %s: %w", h.Current(), switchAt, err)
		}
	}
	w := s.NewWriter()
	hv, _ := h.MarshalBinary()
	w.SetMeta(metaHistory, hv)
	if switchAt != 0 {
		for shard := range s.opts.Shards {
			lsn, seq, err := s.Applied(shard)
			if err != nil {
				w.Discard()
				return err
			}
			if lsn > switchAt {
				w.SetApplied(shard, switchAt, seq)
			}
		}
	}
	if err := w.Commit(); err != nil {
		return fmt.Errorf("record timeline history %s: %w", h, err)
	}
	if err := s.Sync(); err != nil {
		return fmt.Errorf("record timeline history %s: %w", h, err)
	}
	s.history.Store(&h)
	s.log.Info("page store timeline", "timeline", h.Current(), "history", h.String())
	return nil
}

// ErrShardsMismatch: the store was written by another number of redo
// shards.
var ErrShardsMismatch = errors.New("page store written by another number of redo shards")

// checkShards compares the recorded shard count with the asked one, and
// records it in a store that has none. A store from before the count was
// recorded has one applied LSN per shard from its first commit on; their
// number is its count.
func (s *Store) checkShards() error {
	v, err := s.GetMeta(metaShards)
	if err != nil {
		return err
	}
	have := 0
	switch {
	case len(v) == 4:
		have = int(binary.BigEndian.Uint32(v))
	case v != nil:
		return fmt.Errorf("page store %s: shard count of %d bytes", s.opts.Dir, len(v))
	default:
		for {
			lsn, seq, err := s.Applied(have)
			if err != nil {
				return err
			}
			if lsn == 0 && seq == 0 {
				break
			}
			have++
		}
	}
	switch {
	case have != 0 && have != s.opts.Shards && s.opts.AdoptShards:
		s.opts.Shards = have
	case have != 0 && have != s.opts.Shards:
		return fmt.Errorf("%w: %s has %d, asked for %d: open it with %d redo shards, or rebuild it (pagemill rebuild) to change the count",
			ErrShardsMismatch, s.opts.Dir, have, s.opts.Shards, have)
	}
	if v == nil {
		w := s.NewWriter()
		w.SetMeta(metaShards, binary.BigEndian.AppendUint32(nil, uint32(s.opts.Shards)))
		if err := w.Commit(); err != nil {
			return fmt.Errorf("record the shard count: %w", err)
		}
	}
	return nil
}

// metaShards is the meta key of the recorded shard count.
const metaShards = "shards"

// Shards is the number of redo shards the store is written by.
func (s *Store) Shards() int { return s.opts.Shards }

// segmentBytes is Options.SegmentBytes or its default.
func (s *Store) segmentBytes() int {
	switch {
	case s.opts.SegmentBytes > 0:
		return s.opts.SegmentBytes
	case s.opts.InMemory:
		return 512 << 10
	}
	return 8 << 20
}

// Dir is the store's directory, "" for a store in memory.
func (s *Store) Dir() string {
	if s.opts.InMemory {
		return ""
	}
	return s.opts.Dir
}

// Close closes the store.
func (s *Store) Close() error {
	err := s.db.Close()
	if s.files != nil {
		s.files.close()
	}
	return err
}

// Sync makes every write committed before the call durable. Concurrent
// callers share fsyncs: a caller arriving while one runs waits for the
// next, which covers everyone who arrived meanwhile.
func (s *Store) Sync() error {
	s.syncMu.Lock()
	// The sync running now (if any) may have started before our writes;
	// the one after it has not.
	need := s.syncGen + 4
	for s.syncing {
		s.syncCond.Wait()
		if s.syncGen >= need {
			err := s.syncErr
			s.syncMu.Unlock()
			return err
		}
	}
	s.syncing = true
	s.syncMu.Unlock()
	var err error
	if s.files != nil {
		err = s.files.sync() // first: a durable key points at durable bytes
	}
	if err == nil {
		err = s.db.Sync()
	}
	s.syncMu.Lock()
	s.syncing = false
	s.syncGen += 2
	s.syncErr = err
	s.syncCond.Broadcast()
	s.syncMu.Unlock()
	return err
}

// DB exposes Badger for metrics (sizes).
func (s *Store) Size() (lsm, vlog int64) { return s.db.Size() }

// SegmentFileBytes is the size of the segment files (0 in memory).
func (s *Store) SegmentFileBytes() int64 {
	if s.files == nil {
		return 0
	}
	return s.files.bytes()
}

func (s *Store) engine() (*redo.Engine, error) {
	switch v := s.engines.Get().(type) {
	case *redo.Engine:
		v.DataChecksums = s.dataChecksums.Load()
		return v, nil
	case error:
		return nil, v
	}
	return nil, errors.New("pagestore: no engine")
}

// Horizon returns the retention horizon: reads below it fail.
func (s *Store) Horizon() schema.LSN {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.horizon
}

// Applied returns the applied LSN stored for shard and the stream
// sequence of the last message it covers (zeros if none).
func (s *Store) Applied(shard int) (schema.LSN, uint64, error) {
	var lsn schema.LSN
	var seq uint64
	err := s.db.View(func(txn *badger.Txn) error {
		it, err := txn.Get(appliedKey(shard))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		return it.Value(func(v []byte) error {
			if len(v) != 16 {
				return fmt.Errorf("applied LSN of shard %d: %d bytes", shard, len(v))
			}
			lsn = schema.LSN(binary.BigEndian.Uint64(v))
			seq = binary.BigEndian.Uint64(v[8:])
			return nil
		})
	})
	return lsn, seq, err
}

// GetMeta reads a metadata value (nil if absent).
func (s *Store) GetMeta(name string) ([]byte, error) {
	var out []byte
	err := s.db.View(func(txn *badger.Txn) error {
		it, err := txn.Get(metaKey(name))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		out, err = valueOf(it)
		return err
	})
	return out, err
}

func (s *Store) readMetaLSN(name string) (schema.LSN, error) {
	v, err := s.GetMeta(name)
	if err != nil || v == nil {
		return 0, err
	}
	if len(v) != 8 {
		return 0, fmt.Errorf("metadata %s: %d bytes", name, len(v))
	}
	return schema.LSN(binary.BigEndian.Uint64(v)), nil
}

// version is one stored page version.
type version struct {
	lsn   schema.LSN
	kind  byte
	value []byte
}

// PageAt returns the page as of lsn and the LSN of that version: the
// newest image at or below lsn with the records after it replayed.
// ErrNotFound when the page has no version at lsn (never written, or
// absent), *UnavailableError when it cannot be reconstructed. The page
// is the caller's: it is built on copies of the stored values.
func (s *Store) PageAt(tag schema.BufferTag, lsn schema.LSN) (schema.Page, schema.LSN, error) {
	var chain []version
	err := s.db.View(func(txn *badger.Txn) error {
		var err error
		chain, err = s.versionChain(txn, s.TimeLineHistory(), tag, lsn)
		return err
	})
	if err != nil {
		return nil, 0, fmt.Errorf("read page %s at %s: %w", tag, lsn, err)
	}
	return s.replay(tag, lsn, chain, nil)
}

// versionChain reads the versions of tag at or below lsn, newest first,
// back to (and including) the first one replay can start from: the
// versions under the page's keys back to the first that is not a record,
// and the records after it in segments. A pack (KindRecords) contributes
// its records at or below lsn. The same LSN is taken once: after a crash,
// or while GC splits a pack, two keys or segments may hold the same
// record, and the same LSN means the same record.
func (s *Store) versionChain(txn *badger.Txn, h schema.TimeLineHistory, tag schema.BufferTag, lsn schema.LSN) ([]version, error) {
	return s.versionChainIn(txn, h, tag, lsn, false)
}

// versionChainIn is versionChain; with snapshot, txn is a Snapshot's, and
// segments the page index names that it does not have were committed
// after it (Collect's removals make a snapshot stale): they are passed
// over instead of failing the read.
func (s *Store) versionChainIn(txn *badger.Txn, h schema.TimeLineHistory, tag schema.BufferTag, lsn schema.LSN, snapshot bool) ([]version, error) {
	it := txn.NewIterator(badger.IteratorOptions{Reverse: true, PrefetchValues: false, Prefix: pagePrefix(tag)})
	defer it.Close()
	return s.chainFrom(txn, it, h, tag, lsn, snapshot)
}

// chainFrom is versionChain on a reverse iterator of txn whose prefix
// covers tag's versions (and maybe other pages'). Versions of timelines
// that do not own their LSN in h are passed over.
func (s *Store) chainFrom(txn *badger.Txn, it *badger.Iterator, h schema.TimeLineHistory, tag schema.BufferTag, lsn schema.LSN, snapshot bool) ([]version, error) {
	chain, err := keyChain(it, h, tag, lsn)
	if err != nil {
		return nil, err
	}
	var after schema.LSN // the base's LSN: the records that count come after it
	if n := len(chain); n > 0 && chain[n-1].kind != KindRecord {
		after = chain[n-1].lsn
	}
	n := len(chain)
	if chain, err = s.segmentRecords(txn, h, tag, after, lsn, 0, chain, snapshot); err != nil || len(chain) == n {
		return chain, err
	}
	slices.SortStableFunc(chain, func(a, b version) int { return cmp.Compare(b.lsn, a.lsn) })
	return slices.CompactFunc(chain, func(a, b version) bool { return a.lsn == b.lsn }), nil
}

// keyChain is chainFrom's walk over the page's keys.
// valueOf is item's value. Badger does not return an error for a value it
// could not read from the value log (its checksum failed, or the log is
// shorter than the pointer): it logs the cause and yields nothing, which
// is told here from a value stored empty.
func valueOf(item *badger.Item) ([]byte, error) {
	v, err := item.ValueCopy(nil)
	if err == nil && len(v) == 0 && item.ValueSize() > 0 {
		err = fmt.Errorf("key %x: its value could not be read (the cause is in the log): %w; rebuild the page store from the streams (pagemill rebuild --force)", item.Key(), ErrDamaged)
	}
	return v, err
}

func keyChain(it *badger.Iterator, h schema.TimeLineHistory, tag schema.BufferTag, lsn schema.LSN) ([]version, error) {
	prefix := pagePrefix(tag)
	var chain []version
	below := func(l schema.LSN) bool { return len(chain) == 0 || l < chain[len(chain)-1].lsn }
	for it.Seek(pageKey(tag, lsn, anyTLI)); it.ValidForPrefix(prefix); it.Next() {
		item := it.Item()
		k := item.Key()
		if len(k) != pageKeyLen {
			continue
		}
		tli := pageKeyTLI(k)
		at := pageKeyLSN(k)
		if !h.OwnsEnd(tli, at) {
			continue // a version of an abandoned branch (a pack's first record decides: one writer, one timeline)
		}
		v, err := valueOf(item)
		if err != nil {
			return nil, err
		}
		if len(v) == 0 {
			return nil, fmt.Errorf("empty version at key %x", k)
		}
		if v[0] == KindRecords {
			recs, err := unpack(v)
			if err != nil {
				return nil, fmt.Errorf("page %s version %s: %w", tag, at, err)
			}
			for i := len(recs) - 1; i >= 0; i-- {
				if recs[i].lsn <= lsn && below(recs[i].lsn) && h.OwnsEnd(tli, recs[i].lsn) {
					chain = append(chain, recs[i])
				}
			}
			continue
		}
		if !below(at) {
			continue
		}
		ver := version{lsn: at, kind: v[0], value: v[1:]}
		chain = append(chain, ver)
		if ver.kind != KindRecord {
			break
		}
	}
	return chain, nil
}

// unpack splits a KindRecords value into its records (KindRecord
// versions), oldest first.
func unpack(v []byte) ([]version, error) { return unpackBody(v[1:]) }

// unpackBody is unpack on the bytes after the kind.
func unpackBody(b []byte) ([]version, error) {
	var out []version
	for len(b) > 0 {
		if len(b) < packHeader {
			return nil, fmt.Errorf("record pack: %d bytes left, want a %d-byte header", len(b), packHeader)
		}
		end := schema.LSN(binary.BigEndian.Uint64(b))
		n := int(binary.BigEndian.Uint32(b[8:]))
		b = b[packHeader:]
		if n < 8 || len(b) < n {
			return nil, fmt.Errorf("record pack: record at %s of %d bytes, %d left", end, n, len(b))
		}
		if len(out) > 0 && end <= out[len(out)-1].lsn {
			return nil, fmt.Errorf("record pack: record at %s after %s", end, out[len(out)-1].lsn)
		}
		out = append(out, version{lsn: end, kind: KindRecord, value: b[:n]})
		b = b[n:]
	}
	if len(out) == 0 {
		return nil, errors.New("empty record pack")
	}
	return out, nil
}

// onePage is a redo.Pages holding only one page: replaying a record that
// changes several pages changes only this one.
type onePage struct {
	tag  schema.BufferTag
	page schema.Page
	ok   bool
}

func (o *onePage) Get(t schema.BufferTag) (schema.Page, bool) {
	if t == o.tag && o.ok {
		return o.page, true
	}
	return nil, false
}

func (o *onePage) Put(t schema.BufferTag, p schema.Page) {
	if t == o.tag {
		o.page, o.ok = p, true
	}
}

func (o *onePage) Invalidate(t schema.BufferTag) {
	if t == o.tag {
		o.ok = false
	}
}

// replay builds tag's page at lsn from chain (newest first, down to its
// base). buf, when a whole page, may hold the result (its bytes are
// overwritten); else the page is new.
func (s *Store) replay(tag schema.BufferTag, lsn schema.LSN, chain []version, buf schema.Page) (schema.Page, schema.LSN, error) {
	if len(chain) == 0 {
		return nil, 0, fmt.Errorf("page %s at %s: %w", tag, lsn, ErrNotFound)
	}
	base := chain[len(chain)-1]
	op := &onePage{tag: tag}
	first := len(chain) - 1
	switch base.kind {
	case KindImage:
		if len(base.value) != schema.BLCKSZ {
			return nil, 0, fmt.Errorf("page %s version %s: image of %d bytes", tag, base.lsn, len(base.value))
		}
		op.page, op.ok = schema.Page(base.value), true
		first--
	case KindImageS2:
		page, err := decodeImageS2(base.value, buf)
		if err != nil {
			return nil, 0, fmt.Errorf("page %s version %s: %w", tag, base.lsn, err)
		}
		op.page, op.ok = page, true
		first--
	case KindRecordImage:
		// The record restores the page itself.
	case KindAbsent:
		if len(chain) == 1 {
			return nil, 0, fmt.Errorf("page %s at %s: absent since %s: %w", tag, lsn, base.lsn, ErrNotFound)
		}
		// Re-created after: records that initialize the page follow.
		first--
	case KindUnavailable:
		return nil, 0, &UnavailableError{Tag: tag, LSN: lsn, Since: base.lsn, Reason: string(base.value)}
	case KindRecord:
		// The oldest version is a record with nothing below it: the
		// page starts from nothing (an initializing record) or is
		// unavailable.
	default:
		return nil, 0, fmt.Errorf("page %s version %s: unknown kind %d", tag, base.lsn, base.kind)
	}
	if first < 0 {
		return op.page, base.lsn, nil
	}
	e, err := s.engine()
	if err != nil {
		return nil, 0, err
	}
	defer s.engines.Put(e)
	for i := first; i >= 0; i-- {
		v := chain[i]
		if len(v.value) < 8 {
			return nil, 0, fmt.Errorf("page %s version %s: short record", tag, v.lsn)
		}
		start := schema.LSN(binary.BigEndian.Uint64(v.value))
		rec, err := schema.DecodeRecord(v.value[8:], start, v.lsn)
		if err != nil {
			return nil, 0, fmt.Errorf("page %s version %s: %w", tag, v.lsn, err)
		}
		if _, err := e.Apply(rec, op); err != nil {
			var uns *redo.Unsupported
			if !errors.As(err, &uns) {
				return nil, 0, fmt.Errorf("page %s: replay %s: %w", tag, v.lsn, err)
			}
		}
		if !op.ok {
			return nil, 0, &UnavailableError{Tag: tag, LSN: lsn, Since: v.lsn, Reason: "replay of " + schema.RecordTypeName(rec.Rmgr(), rec.Info()) + " left no page"}
		}
	}
	return op.page, chain[0].lsn, nil
}

// decodeImageS2 decompresses a KindImageS2 value into buf when it is a
// whole page, else into a new page.
func decodeImageS2(v []byte, buf schema.Page) (schema.Page, error) {
	if n, err := s2.DecodedLen(v); err != nil || n != schema.BLCKSZ {
		return nil, fmt.Errorf("compressed image: decoded length %d (%v), want %d", n, err, schema.BLCKSZ)
	}
	if len(buf) != schema.BLCKSZ {
		buf = make(schema.Page, schema.BLCKSZ)
	}
	page, err := s2.Decode(buf, v)
	if err != nil {
		return nil, fmt.Errorf("compressed image: %w", err)
	}
	return page, nil
}

// Latest returns the newest version of the page (PageAt at the highest
// LSN), for the materializer's cache misses, and how many records were
// replayed on top of its newest image: the materializer counts on from
// there, so no chain grows past its image interval. The page is the
// caller's (as PageAt's is); buf, when a whole page, may hold it (a page
// the caller no longer uses, saving an allocation per load).
func (s *Store) Latest(tag schema.BufferTag, buf schema.Page) (schema.Page, schema.LSN, int, error) {
	var chain []version
	err := s.db.View(func(txn *badger.Txn) error {
		var err error
		chain, err = s.versionChain(txn, s.TimeLineHistory(), tag, schema.LSN(^uint64(0)))
		return err
	})
	if err != nil {
		return nil, 0, 0, err
	}
	return s.latestOf(tag, chain, buf)
}

// latestOf replays Latest's chain.
func (s *Store) latestOf(tag schema.BufferTag, chain []version, buf schema.Page) (schema.Page, schema.LSN, int, error) {
	page, lsn, err := s.replay(tag, schema.LSN(^uint64(0)), chain, buf)
	records := 0
	for _, v := range chain {
		if v.kind == KindRecord {
			records++
		}
	}
	return page, lsn, records, err
}

// Snapshot is the store as committed when it was made, for reads that
// must not wait: opening a Badger transaction waits for every commit in
// flight, and a redo shard reads pages while its last batch commits
// (pages that batch did not change, which the snapshot made after the
// batch before has). Close it when done.
type Snapshot struct {
	s          *Store
	txn        *badger.Txn
	collecting uint64 // Store.collecting when it was made
}

// ErrStaleSnapshot: a Snapshot cannot answer, the store's page index has
// changed under it since it was made (a Collect); read the store.
var ErrStaleSnapshot = errors.New("page store snapshot is stale")

// Snapshot makes a Snapshot.
func (s *Store) Snapshot() *Snapshot {
	c := s.collecting.Load() // before the transaction: a Collect after it changes it
	return &Snapshot{s: s, txn: s.db.NewTransaction(false), collecting: c}
}

// Close ends the snapshot.
func (sn *Snapshot) Close() { sn.txn.Discard() }

// Stale reports whether a Collect ran or runs since the snapshot was
// made: its page reads (Latest, PagesOf) refuse to answer then.
func (sn *Snapshot) Stale() bool { return sn.s.collecting.Load() != sn.collecting }

// Latest is Store.Latest as of the snapshot; ErrStaleSnapshot when a
// Collect ran or runs since it was made.
func (sn *Snapshot) Latest(tag schema.BufferTag, buf schema.Page) (schema.Page, schema.LSN, int, error) {
	s := sn.s
	if sn.collecting%2 != 0 {
		return nil, 0, 0, ErrStaleSnapshot
	}
	chain, err := s.versionChainIn(sn.txn, s.TimeLineHistory(), tag, schema.LSN(^uint64(0)), true)
	// The chain is read from the transaction and the page index, which
	// has no versions: it is right only if no Collect removed from the
	// index what the transaction is too old to see replaced.
	if s.collecting.Load() != sn.collecting {
		return nil, 0, 0, ErrStaleSnapshot
	}
	if err != nil {
		return nil, 0, 0, err
	}
	return s.latestOf(tag, chain, buf)
}

// RelSize is Store.RelSize as of the snapshot.
func (sn *Snapshot) RelSize(rel schema.RelFileNode, fork schema.ForkNumber, lsn schema.LSN) (schema.BlockNumber, bool, error) {
	return sn.s.relSizeTxn(sn.txn, rel, fork, lsn)
}

// PagesOf is Store.PagesOf as of the snapshot, but for pages the page
// index gained since (it has no versions): those are pages that exist.
// ErrStaleSnapshot when a Collect ran or runs since it was made.
func (sn *Snapshot) PagesOf(rel schema.RelFileNode, fork schema.ForkNumber, allForks bool, from schema.BlockNumber) ([]schema.BufferTag, error) {
	if sn.collecting%2 != 0 {
		return nil, ErrStaleSnapshot
	}
	tags, err := sn.s.pagesOfTxn(sn.txn, rel, fork, allForks, from)
	if sn.s.collecting.Load() != sn.collecting {
		return nil, ErrStaleSnapshot
	}
	return tags, err
}

// RelSize returns the number of blocks of a relation fork at lsn and
// whether it exists then.
func (s *Store) RelSize(rel schema.RelFileNode, fork schema.ForkNumber, lsn schema.LSN) (schema.BlockNumber, bool, error) {
	var n schema.BlockNumber
	var exists bool
	err := s.db.View(func(txn *badger.Txn) error {
		var err error
		n, exists, err = s.relSizeTxn(txn, rel, fork, lsn)
		return err
	})
	return n, exists, err
}

// relSizeTxn: the newest Set or Drop at or below lsn, raised by every
// Extend after it. Each shard's Extend events grow monotonically between
// two Sets, so the scan can stop once it has seen every shard.
func (s *Store) relSizeTxn(txn *badger.Txn, rel schema.RelFileNode, fork schema.ForkNumber, lsn schema.LSN) (schema.BlockNumber, bool, error) {
	prefix := relPrefix(prefixSize, rel, fork)
	it := txn.NewIterator(badger.IteratorOptions{Reverse: true, PrefetchValues: false, Prefix: prefix})
	defer it.Close()
	seen := make(map[uint16]bool, s.opts.Shards)
	var max schema.BlockNumber
	extended := false
	h := s.TimeLineHistory()
	for it.Seek(sizeKey(rel, fork, lsn, 0xFFFF, anyTLI)); it.Valid(); it.Next() {
		item := it.Item()
		k := item.Key()
		if len(k) != sizeKeyLen || !h.OwnsEnd(sizeKeyTLI(k), schema.LSN(binary.BigEndian.Uint64(k[relKeyLen:]))) {
			continue
		}
		var kind byte
		var nb schema.BlockNumber
		if err := item.Value(func(v []byte) error {
			if len(v) != 5 {
				return fmt.Errorf("size event %x: %d bytes", k, len(v))
			}
			kind, nb = v[0], schema.BlockNumber(binary.BigEndian.Uint32(v[1:]))
			return nil
		}); err != nil {
			return 0, false, err
		}
		switch kind {
		case SizeSet:
			return maxBlock(max, nb), true, nil
		case SizeDrop:
			return max, extended, nil
		case SizeTruncate:
			at := schema.LSN(binary.BigEndian.Uint64(k[relKeyLen:]))
			before, existed := schema.BlockNumber(0), false
			if at > 0 {
				var err error
				if before, existed, err = s.relSizeTxn(txn, rel, fork, at-1); err != nil {
					return 0, false, err
				}
			}
			if !existed {
				return max, extended, nil // truncating a fork that does not exist
			}
			return maxBlock(max, min(before, nb)), true, nil
		case SizeExtend:
			max, extended = maxBlock(max, nb), true
			shard := binary.BigEndian.Uint16(k[relKeyLen+8:])
			seen[shard] = true
			if len(seen) >= s.opts.Shards {
				return max, true, nil
			}
		}
	}
	return max, extended, nil
}

func maxBlock(a, b schema.BlockNumber) schema.BlockNumber {
	if a > b {
		return a
	}
	return b
}

// RelFork names one relation fork.
type RelFork = schema.RelFork

// Relations lists the relation forks that exist at lsn with their sizes,
// of one database (db != 0) or of all.
func (s *Store) Relations(db uint32, lsn schema.LSN) (map[RelFork]schema.BlockNumber, error) {
	out := map[RelFork]schema.BlockNumber{}
	err := s.db.View(func(txn *badger.Txn) error {
		prefix := []byte{prefixSize}
		if db != 0 {
			prefix = binary.BigEndian.AppendUint32(prefix, db)
		}
		it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: false, Prefix: prefix})
		var forks []RelFork
		var last []byte
		for it.Rewind(); it.Valid(); it.Next() {
			k := it.Item().Key()
			if len(k) != sizeKeyLen || (last != nil && bytes.Equal(k[:relKeyLen], last)) {
				continue
			}
			last = append(last[:0], k[:relKeyLen]...)
			t := getTag(append(append([]byte{}, k[1:relKeyLen]...), 0, 0, 0, 0))
			forks = append(forks, RelFork{Rel: t.Rel, Fork: t.Fork})
		}
		it.Close()
		for _, f := range forks {
			n, ok, err := s.relSizeTxn(txn, f.Rel, f.Fork, lsn)
			if err != nil {
				return err
			}
			if ok {
				out[f] = n
			}
		}
		return nil
	})
	return out, err
}

// DBSize is the size in bytes of a database's relations at lsn.
func (s *Store) DBSize(db uint32, lsn schema.LSN) (int64, error) {
	rels, err := s.Relations(db, lsn)
	if err != nil {
		return 0, err
	}
	var total int64
	for rf, n := range rels {
		if !schema.IsAuxRel(rf.Rel) { // a relation map is not a relation
			total += int64(n) * schema.BLCKSZ
		}
	}
	return total, nil
}

// PagesOf lists the blocks of a relation fork (or of all forks of a
// relation when allForks) that have any version, for truncation and drop.
func (s *Store) PagesOf(rel schema.RelFileNode, fork schema.ForkNumber, allForks bool, from schema.BlockNumber) ([]schema.BufferTag, error) {
	var out []schema.BufferTag
	err := s.db.View(func(txn *badger.Txn) error {
		var err error
		out, err = s.pagesOfTxn(txn, rel, fork, allForks, from)
		return err
	})
	return out, err
}

// pagesOfTxn is PagesOf in txn (and the page index as it is now).
func (s *Store) pagesOfTxn(txn *badger.Txn, rel schema.RelFileNode, fork schema.ForkNumber, allForks bool, from schema.BlockNumber) ([]schema.BufferTag, error) {
	var out []schema.BufferTag
	prefix := relPrefix(prefixPage, rel, fork)
	if allForks {
		prefix = prefix[:relKeyLen-1]
	}
	it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: false, Prefix: prefix})
	for it.Rewind(); it.Valid(); {
		k := it.Item().Key()
		if len(k) != pageKeyLen {
			it.Next()
			continue
		}
		t := getTag(k[1:])
		if t.Block >= from {
			out = append(out, t)
		}
		// Skip the other versions of this page.
		next := pageKey(t, schema.LSN(^uint64(0)), anyTLI)
		it.Seek(append(next, 0))
	}
	it.Close()
	out = append(out, s.segs.pagesOf(rel, fork, allForks, from)...)
	slices.SortFunc(out, compareTags)
	return slices.Compact(out), nil
}

// SetDataChecksums says whether pages replayed on reads get checksums
// (the source's data_checksums, known once the base backup is imported).
func (s *Store) SetDataChecksums(on bool) { s.dataChecksums.Store(on) }

// SetHorizon sets the retention horizon in memory; the caller has
// written it (Writer.SetMeta("horizon", …)) in the same commit as the
// change that moved it.
func (s *Store) SetHorizon(lsn schema.LSN) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.horizon = lsn
}
