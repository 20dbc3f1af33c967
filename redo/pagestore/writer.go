package pagestore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"slices"

	"github.com/dgraph-io/badger/v4"
	"github.com/klauspost/compress/s2"

	"github.com/pagemill/pagemill/schema"
)

// Writer collects writes and puts them into Badger transactions at
// Commit. A transaction that grows too big is committed and a new one
// started: writes are idempotent and the applied watermark is written last
// (SetApplied, then Commit), so a crash between two of them only means
// replaying records the store may already have. No transaction is open
// before Commit: opening one waits for every commit in flight (Badger's
// read timestamp), and a writer is filled on a redo shard's goroutine
// while the shard's previous batch commits on another.
//
// Records are not written one key each, nor one key per page: the records
// of a page between two of its other versions (or commits) are a pack,
// and a commit's packs go into one segment value (see segment.go). A key
// costs the LSM and the value log the same whether it holds one record or
// fifty, and a commit changes thousands of pages.
type Writer struct {
	s *Store
	*writerScratch
	n   int               // entries in this writer
	tli schema.TimeLineID // the store's timeline when the writer began: its versions' timeline
	err error

	seg      []segPack        // finished packs for the next segment
	segBytes int              // their records' bytes
	written  []writtenSegment // segments in the transaction, indexed after Commit
	// rels are the relation forks the writer has page versions or size
	// events of (few: a list).
	rels []schema.RelFork
}

// writtenSegment is a segment put into the writer's transaction.
type writtenSegment struct {
	seq  uint64
	g    segment
	locs []packLoc
	op   int // its set in ops
}

// pack is a page's KindRecords value being gathered: its records, oldest
// first. It is encoded once, when written (growing an encoded value
// record by record cost more than the copying it saves); until then it
// refers to the records' bytes (see PutRecord).
type pack struct {
	recs []packRec
	size int // encoded
}

// packRec is a record of a pack. Its bytes are the writer's raws[raw]: a
// pack holds no pointer, so the collector does not scan the packs a
// writer keeps for reuse (tens of MiB of them at scale 10), only the one
// list of the batch's records.
type packRec struct {
	start, end schema.LSN
	raw        uint32
}

// NewWriter starts a writer.
func (s *Store) NewWriter() *Writer {
	sc, ok := s.scratch.Get().(*writerScratch)
	if !ok {
		sc = &writerScratch{}
	}
	return &Writer{s: s, writerScratch: sc, tli: s.TimeLineHistory().Current()}
}

// writerScratch is the memory a writer builds its values in, handed from
// one writer to the next once Badger has copied them (the materializer
// makes a writer per batch; allocating it anew was a tenth of its
// allocations).
type writerScratch struct {
	packs schema.TagMap[*pack]
	free  []*pack  // emptied packs
	raws  [][]byte // the bytes of the records in packs (packRec.raw)
	slabs [][]byte // values of images are carved from these
	cur   int      // the slab in use; those after it are spare
	tail  int      // bytes the last alloc took from slabs[cur] (0: not from a slab)
	bufs  [][]byte // segment values
	ops   []writeOp
}

// writeOp is a set (or, with del, a delete) to put into the transaction
// at Commit. Badger keeps the slices, not copies, until the commit too.
type writeOp struct {
	k, v []byte
	del  bool
	// seg: v is a segment, which goes to the segment files on disk (see
	// segfile.go); v becomes its pointer and file its file.
	seg  bool
	file uint32
}

// slabSize is the size of the slabs image values are carved from, and
// maxKeptSlabs how many a scratch keeps for the next writer (a batch's
// images need a few; a base backup import's more, allocated anew).
const (
	slabSize     = 1 << 20
	maxKeptSlabs = 8
)

// alloc returns n bytes that stay the writer's until it commits; trim
// gives back what the value did not use of them.
func (sc *writerScratch) alloc(n int) []byte {
	sc.tail = 0
	if n > slabSize/4 {
		return make([]byte, n)
	}
	if len(sc.slabs) == 0 {
		sc.slabs = append(sc.slabs, make([]byte, 0, slabSize))
	}
	if s := sc.slabs[sc.cur]; cap(s)-len(s) < n {
		sc.cur++
		if sc.cur == len(sc.slabs) {
			sc.slabs = append(sc.slabs, make([]byte, 0, slabSize))
		}
	}
	s := sc.slabs[sc.cur]
	sc.slabs[sc.cur] = s[:len(s)+n]
	sc.tail = n
	return s[len(s) : len(s)+n : len(s)+n]
}

// trim returns to the slab the bytes past the first used of the last
// alloc (an image's reservation is its worst case, its value usually a
// fraction of it). The value must be cut to used bytes: they follow it.
func (sc *writerScratch) trim(used int) {
	if sc.tail > 0 && used <= sc.tail {
		s := sc.slabs[sc.cur]
		sc.slabs[sc.cur] = s[:len(s)-(sc.tail-used)]
	}
	sc.tail = 0
}

// release returns the scratch to the store once nothing refers to its
// values: after Commit, or Discard.
func (w *Writer) release() {
	sc := w.writerScratch
	if sc == nil {
		return
	}
	w.writerScratch = nil
	for _, p := range sc.packs.All() {
		sc.free = append(sc.free, p.reset())
	}
	sc.packs.Clear()
	clear(sc.raws)
	sc.raws = sc.raws[:0]
	clear(sc.ops)
	sc.ops = sc.ops[:0]
	// Keep a few slabs and one segment buffer for the next writer.
	if len(sc.slabs) > maxKeptSlabs {
		clear(sc.slabs[maxKeptSlabs:])
		sc.slabs = sc.slabs[:maxKeptSlabs]
	}
	for i := range sc.slabs {
		sc.slabs[i] = sc.slabs[i][:0]
	}
	sc.cur, sc.tail = 0, 0
	if len(sc.bufs) > 0 {
		sc.bufs = append(sc.bufs[:0], sc.bufs[len(sc.bufs)-1][:0])
	}
	w.s.scratch.Put(sc)
}

// newPack returns an empty pack.
func (sc *writerScratch) newPack() *pack {
	if n := len(sc.free); n > 0 {
		p := sc.free[n-1]
		sc.free = sc.free[:n-1]
		return p
	}
	return &pack{}
}

// reset empties p, dropping its references to records.
func (p *pack) reset() *pack {
	p.recs, p.size = p.recs[:0], 0
	return p
}

func (w *Writer) set(k, v []byte) {
	if w.err != nil {
		return
	}
	w.ops = append(w.ops, writeOp{k: k, v: v})
	w.n++
}

// errWriterDone: a write after Commit or Discard.
var errWriterDone = errors.New("page store write: the writer has committed or been discarded")

// done reports (and records as the writer's error) that the writer has
// committed or been discarded.
func (w *Writer) done() bool {
	if w.writerScratch == nil && w.err == nil {
		w.err = errWriterDone
	}
	return w.writerScratch == nil
}

// Len is the number of entries written so far.
func (w *Writer) Len() int { return w.n }

// PutImage stores the full page as the version at lsn.
func (w *Writer) PutImage(tag schema.BufferTag, lsn schema.LSN, page schema.Page) {
	if w.done() {
		return
	}
	w.flushPack(tag)
	v := imageValue(w.alloc(1+s2.MaxEncodedLen(len(page))), page)
	w.trim(len(v))
	w.set(pageKey(tag, lsn, w.tli), v)
	w.touch(tag.Rel, tag.Fork)
}

// imageValue is the stored value of a full page, in v (of at least
// 1+s2.MaxEncodedLen bytes): S2-compressed when that saves an eighth or
// more (most pages: free space is zeros, and tuples repeat), as it is
// otherwise. Fewer bytes for the value log to copy, map and sync.
func imageValue(v []byte, page schema.Page) []byte {
	enc := s2.Encode(v[1:], page)
	if len(enc) <= len(page)-len(page)/8 {
		v[0] = KindImageS2
		return v[:1+len(enc)]
	}
	v = v[:1+len(page)]
	v[0] = KindImage
	copy(v[1:], page)
	return v
}

// PutRecord stores rec as the version of tag at rec.EndLSN; withImage
// says the record carries an applied image of this page. A record
// without one joins the page's pack (see Writer); records of a page must
// come in LSN order. The writer keeps rec.Raw, not a copy, until Commit
// returns: the caller must not change those bytes before.
func (w *Writer) PutRecord(tag schema.BufferTag, rec *schema.DecodedRecord, withImage bool) {
	if w.done() {
		return
	}
	if withImage {
		w.flushPack(tag)
		v := w.alloc(1 + 8 + len(rec.Raw))
		v[0] = KindRecordImage
		binary.BigEndian.PutUint64(v[1:], uint64(rec.LSN))
		copy(v[9:], rec.Raw)
		w.set(pageKey(tag, rec.EndLSN, w.tli), v)
		w.touch(tag.Rel, tag.Fork)
		return
	}
	p, _ := w.packs.Get(tag)
	if p != nil && rec.EndLSN <= p.recs[len(p.recs)-1].end {
		w.flushPack(tag) // not in order (a caller's replay): its own key
		p = nil
	}
	if p == nil {
		p = w.newPack()
		w.packs.Put(tag, p)
		w.touch(tag.Rel, tag.Fork)
	}
	p.recs = append(p.recs, packRec{start: rec.LSN, end: rec.EndLSN, raw: w.addRaw(rec.Raw)})
	p.size += packHeader + 8 + len(rec.Raw)
	w.n++
}

// flushPack writes tag's pack, if any, into the transaction: a version
// of the page that follows it must come after its records.
func (w *Writer) flushPack(tag schema.BufferTag) {
	if w.done() {
		return
	}
	p, ok := w.packs.Get(tag)
	if !ok {
		return
	}
	w.packs.Delete(tag)
	w.finishPack(tag, p)
}

// finishPack puts tag's pack p into the next segment.
func (w *Writer) finishPack(tag schema.BufferTag, p *pack) {
	w.seg = append(w.seg, segPack{tag: tag, pack: p})
	w.segBytes += p.size
	if w.segBytes >= w.s.segmentBytes() {
		w.putSegment()
	}
}

// putSegment writes the finished packs as one segment.
func (w *Writer) putSegment() {
	if len(w.seg) == 0 {
		return
	}
	seq := w.s.segs.allocate()
	var buf []byte
	if n := len(w.bufs); n > 0 && len(w.bufs[n-1]) == 0 {
		buf = w.bufs[n-1] // the last writer's, free
		w.bufs = w.bufs[:n-1]
	}
	v := encodeSegment(buf, w.tli, w.seg, w.raws)
	w.bufs = append(w.bufs, v)
	g, err := parseSegment(seq, v)
	if err != nil {
		w.err = err
		return
	}
	w.written = append(w.written, writtenSegment{seq: seq, g: segment{tli: g.tli, first: g.first, last: g.last}, locs: g.locs(), op: len(w.ops)})
	if w.err == nil {
		w.ops = append(w.ops, writeOp{k: segmentKey(seq), v: v, seg: true})
		w.n++
	}
	for _, p := range w.seg { // encoded: the records' bytes are copied
		w.free = append(w.free, p.pack.reset())
	}
	w.seg, w.segBytes = nil, 0
}

// addRaw keeps a record's bytes for a pack until the writer is done.
func (sc *writerScratch) addRaw(b []byte) uint32 {
	sc.raws = append(sc.raws, b)
	return uint32(len(sc.raws) - 1)
}

// putPack writes records (oldest first) as one KindRecords value of its
// own, keyed by the first: GC keeps the tail of a pack of a format-2
// store so.
func (w *Writer) putPack(tag schema.BufferTag, recs []packRec) {
	size := 1
	for _, r := range recs {
		size += packHeader + 8 + len(w.raws[r.raw])
	}
	v := appendPack(append(make([]byte, 0, size), KindRecords), recs, w.raws)
	w.set(pageKey(tag, recs[0].end, w.tli), v)
}

// flushPacks writes every pack into the transaction.
func (w *Writer) flushPacks() {
	if w.done() {
		return
	}
	for tag, p := range w.packs.All() {
		w.finishPack(tag, p)
	}
	w.packs.Clear()
}

// PutUnavailable marks the page unreconstructible from lsn on.
func (w *Writer) PutUnavailable(tag schema.BufferTag, lsn schema.LSN, reason string) {
	w.flushPack(tag)
	w.set(pageKey(tag, lsn, w.tli), append([]byte{KindUnavailable}, reason...))
	w.touch(tag.Rel, tag.Fork)
}

// PutAbsent marks the page nonexistent from lsn on.
func (w *Writer) PutAbsent(tag schema.BufferTag, lsn schema.LSN) {
	w.flushPack(tag)
	w.set(pageKey(tag, lsn, w.tli), []byte{KindAbsent})
	w.touch(tag.Rel, tag.Fork)
}

// PutSize writes a relation size event.
func (w *Writer) PutSize(rel schema.RelFileNode, fork schema.ForkNumber, lsn schema.LSN, shard int, kind byte, nblocks schema.BlockNumber) {
	v := make([]byte, 5)
	v[0] = kind
	binary.BigEndian.PutUint32(v[1:], uint32(nblocks))
	w.set(sizeKey(rel, fork, lsn, shard, w.tli), v)
	w.touch(rel, fork)
}

// touch notes that the writer writes something of the relation fork.
func (w *Writer) touch(rel schema.RelFileNode, fork schema.ForkNumber) {
	k := schema.RelFork{Rel: rel, Fork: fork}
	if n := len(w.rels); n > 0 && w.rels[n-1] == k || slices.Contains(w.rels, k) {
		return
	}
	w.rels = append(w.rels, k)
}

// Touches reports whether the writer has page versions or size events of
// the relation fork (of any fork of rel, with allForks). It may be
// called while another goroutine commits the writer: it reads only what
// the writes before Commit made.
func (w *Writer) Touches(rel schema.RelFileNode, fork schema.ForkNumber, allForks bool) bool {
	for _, k := range w.rels {
		if k.Rel == rel && (allForks || k.Fork == fork) {
			return true
		}
	}
	return false
}

// SetApplied records shard's applied LSN and the stream sequence of the
// last message that LSN covers.
func (w *Writer) SetApplied(shard int, lsn schema.LSN, seq uint64) {
	v := binary.BigEndian.AppendUint64(nil, uint64(lsn))
	w.set(appliedKey(shard), binary.BigEndian.AppendUint64(v, seq))
}

// SetMeta writes a metadata value.
func (w *Writer) SetMeta(name string, v []byte) { w.set(metaKey(name), v) }

// Commit commits what was written (not yet durable: see Store.Sync).
func (w *Writer) Commit() error {
	w.flushPacks()
	w.putSegment()
	if w.err != nil {
		w.release()
		return w.err
	}
	if err := w.apply(); err != nil {
		w.release()
		return err
	}
	for _, g := range w.written {
		w.s.segs.add(g.seq, g.g, g.locs, w.ops[g.op].file)
	}
	w.written = nil
	// Badger has copied the values into its value log (or, in memory,
	// its skiplist), and the segment files have theirs: the scratch
	// serves the next writer.
	w.release()
	return nil
}

// Discard abandons the writer's writes.
func (w *Writer) Discard() {
	w.seg, w.written = nil, nil
	w.release()
}

// badgerLogger routes Badger's logs to slog, debug for its chatter.
type badgerLogger struct{ log *slog.Logger }

func (l badgerLogger) Errorf(f string, a ...any) { l.log.Error("badger: " + fmt.Sprintf(f, a...)) }
func (l badgerLogger) Warningf(f string, a ...any) {
	l.log.Warn("badger: " + fmt.Sprintf(f, a...))
}
func (l badgerLogger) Infof(f string, a ...any)  { l.log.Debug("badger: " + fmt.Sprintf(f, a...)) }
func (l badgerLogger) Debugf(f string, a ...any) { l.log.Debug("badger: " + fmt.Sprintf(f, a...)) }

func (w *Writer) del(k []byte) {
	if w.err != nil {
		return
	}
	w.ops = append(w.ops, writeOp{k: k, del: true})
	w.n++
}

// apply puts the writes into transactions, committing one whenever it
// grows too big.
func (w *Writer) apply() error {
	if err := w.writeSegments(); err != nil {
		return err
	}
	txn := w.s.db.NewTransaction(true)
	defer func() { txn.Discard() }()
	for _, op := range w.ops {
		put := func() error {
			if op.del {
				return txn.Delete(op.k)
			}
			return txn.Set(op.k, op.v)
		}
		err := put()
		if errors.Is(err, badger.ErrTxnTooBig) {
			if err = txn.Commit(); err == nil {
				txn = w.s.db.NewTransaction(true)
				err = put()
			}
		}
		if err != nil {
			return fmt.Errorf("page store write: %w", err)
		}
	}
	if err := txn.Commit(); err != nil {
		return fmt.Errorf("page store commit: %w", err)
	}
	return nil
}

// writeSegments appends the writer's segments to the segment files (on
// disk) and makes their keys' values pointers to them.
func (w *Writer) writeSegments() error {
	if w.s.files == nil {
		return nil
	}
	var vs [][]byte
	for _, op := range w.ops {
		if op.seg {
			vs = append(vs, op.v)
		}
	}
	if len(vs) == 0 {
		return nil
	}
	ptrs, err := w.s.files.append(vs)
	if err != nil {
		return fmt.Errorf("page store write: %w", err)
	}
	for i := range w.ops {
		if op := &w.ops[i]; op.seg {
			op.v, op.file = ptrs[0].encode(), ptrs[0].file
			ptrs = ptrs[1:]
		}
	}
	return nil
}
