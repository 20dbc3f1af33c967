package pagestore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"

	"github.com/dgraph-io/badger/v4"
	"github.com/klauspost/compress/s2"

	"github.com/pagemill/pagemill/schema"
)

// Writer collects writes into Badger transactions. A transaction that
// grows too big is committed and a new one started: writes are idempotent
// and the applied watermark is written last (SetApplied, then Commit), so
// a crash between two of them only means replaying records the store may
// already have.
//
// Records are not written one key each, nor one key per page: the records
// of a page between two of its other versions (or commits) are a pack,
// and a commit's packs go into one segment value (see segment.go). A key
// costs the LSM and the value log the same whether it holds one record or
// fifty, and a commit changes thousands of pages.
type Writer struct {
	s     *Store
	txn   *badger.Txn
	packs map[schema.BufferTag]*pack
	n     int               // entries in this writer
	tli   schema.TimeLineID // the store's timeline when the writer began: its versions' timeline
	err   error

	seg      []segPack        // finished packs for the next segment
	segBytes int              // their records' bytes
	written  []writtenSegment // segments in the transaction, indexed after Commit
}

// writtenSegment is a segment put into the writer's transaction.
type writtenSegment struct {
	seq  uint64
	g    segment
	tags []schema.BufferTag
}

// pack is a page's KindRecords value being gathered: its records, oldest
// first. It is encoded once, when written (growing an encoded value
// record by record cost more than the copying it saves); until then it
// refers to the records' bytes (see PutRecord).
type pack struct{ recs []packRec }

type packRec struct {
	start, end schema.LSN
	raw        []byte
}

// NewWriter starts a writer.
func (s *Store) NewWriter() *Writer {
	return &Writer{s: s, txn: s.db.NewTransaction(true), packs: map[schema.BufferTag]*pack{}, tli: s.TimeLineHistory().Current()}
}

func (w *Writer) set(k, v []byte) {
	if w.err != nil {
		return
	}
	err := w.txn.Set(k, v)
	if errors.Is(err, badger.ErrTxnTooBig) {
		if err = w.txn.Commit(); err == nil {
			w.txn = w.s.db.NewTransaction(true)
			err = w.txn.Set(k, v)
		}
	}
	if err != nil {
		w.err = fmt.Errorf("page store write: %w", err)
	}
	w.n++
}

// Len is the number of entries written so far.
func (w *Writer) Len() int { return w.n }

// PutImage stores the full page as the version at lsn.
func (w *Writer) PutImage(tag schema.BufferTag, lsn schema.LSN, page schema.Page) {
	w.flushPack(tag)
	w.set(pageKey(tag, lsn, w.tli), imageValue(page))
}

// imageValue is the stored value of a full page: S2-compressed when that
// saves an eighth or more (most pages: free space is zeros, and tuples
// repeat), as it is otherwise. Fewer bytes for the value log to copy, map
// and sync.
func imageValue(page schema.Page) []byte {
	v := make([]byte, 1+s2.MaxEncodedLen(len(page)))
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
	if withImage {
		w.flushPack(tag)
		v := make([]byte, 1+8+len(rec.Raw))
		v[0] = KindRecordImage
		binary.BigEndian.PutUint64(v[1:], uint64(rec.LSN))
		copy(v[9:], rec.Raw)
		w.set(pageKey(tag, rec.EndLSN, w.tli), v)
		return
	}
	p := w.packs[tag]
	if p != nil && rec.EndLSN <= p.recs[len(p.recs)-1].end {
		w.flushPack(tag) // not in order (a caller's replay): its own key
		p = nil
	}
	if p == nil {
		p = &pack{}
		w.packs[tag] = p
	}
	p.recs = append(p.recs, packRec{start: rec.LSN, end: rec.EndLSN, raw: rec.Raw})
	w.n++
}

// flushPack writes tag's pack, if any, into the transaction: a version
// of the page that follows it must come after its records.
func (w *Writer) flushPack(tag schema.BufferTag) {
	p, ok := w.packs[tag]
	if !ok {
		return
	}
	delete(w.packs, tag)
	w.seg = append(w.seg, segPack{tag: tag, recs: p.recs})
	for _, r := range p.recs {
		w.segBytes += packHeader + 8 + len(r.raw)
	}
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
	v := encodeSegment(w.tli, w.seg)
	g, err := parseSegment(seq, v)
	if err != nil {
		w.err = err
		return
	}
	tags := make([]schema.BufferTag, len(w.seg))
	for i, p := range w.seg { // sorted by encodeSegment
		tags[i] = p.tag
	}
	w.set(segmentKey(seq), v)
	w.written = append(w.written, writtenSegment{seq: seq, g: segment{tli: g.tli, first: g.first, last: g.last}, tags: tags})
	w.seg, w.segBytes = nil, 0
}

// putPack writes records (oldest first) as one KindRecords value of its
// own, keyed by the first: GC keeps the tail of a pack of a format-2
// store so.
func (w *Writer) putPack(tag schema.BufferTag, recs []packRec) {
	size := 1
	for _, r := range recs {
		size += packHeader + 8 + len(r.raw)
	}
	v := appendPack(append(make([]byte, 0, size), KindRecords), recs)
	w.set(pageKey(tag, recs[0].end, w.tli), v)
}

// flushPacks writes every pack into the transaction.
func (w *Writer) flushPacks() {
	for tag := range w.packs {
		w.flushPack(tag)
	}
}

// PutUnavailable marks the page unreconstructible from lsn on.
func (w *Writer) PutUnavailable(tag schema.BufferTag, lsn schema.LSN, reason string) {
	w.flushPack(tag)
	w.set(pageKey(tag, lsn, w.tli), append([]byte{KindUnavailable}, reason...))
}

// PutAbsent marks the page nonexistent from lsn on.
func (w *Writer) PutAbsent(tag schema.BufferTag, lsn schema.LSN) {
	w.flushPack(tag)
	w.set(pageKey(tag, lsn, w.tli), []byte{KindAbsent})
}

// PutSize writes a relation size event.
func (w *Writer) PutSize(rel schema.RelFileNode, fork schema.ForkNumber, lsn schema.LSN, shard int, kind byte, nblocks schema.BlockNumber) {
	v := make([]byte, 5)
	v[0] = kind
	binary.BigEndian.PutUint32(v[1:], uint32(nblocks))
	w.set(sizeKey(rel, fork, lsn, shard, w.tli), v)
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
		w.txn.Discard()
		return w.err
	}
	if err := w.txn.Commit(); err != nil {
		return fmt.Errorf("page store commit: %w", err)
	}
	for _, g := range w.written {
		w.s.segs.add(g.seq, g.g, g.tags)
	}
	w.written = nil
	return nil
}

// Discard abandons the writer's open transaction.
func (w *Writer) Discard() {
	clear(w.packs)
	w.seg, w.written = nil, nil
	w.txn.Discard()
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
	err := w.txn.Delete(k)
	if errors.Is(err, badger.ErrTxnTooBig) {
		if err = w.txn.Commit(); err == nil {
			w.txn = w.s.db.NewTransaction(true)
			err = w.txn.Delete(k)
		}
	}
	if err != nil {
		w.err = fmt.Errorf("page store delete: %w", err)
	}
	w.n++
}
