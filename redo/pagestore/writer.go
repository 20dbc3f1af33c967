package pagestore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"

	"github.com/dgraph-io/badger/v4"

	"github.com/pagemill/pagemill/schema"
)

// Writer collects writes into Badger transactions. A transaction that
// grows too big is committed and a new one started: writes are idempotent
// and the applied watermark is written last (SetApplied, then Commit), so
// a crash between two of them only means replaying records the store may
// already have.
type Writer struct {
	s   *Store
	txn *badger.Txn
	n   int // entries in this writer
	err error
}

// NewWriter starts a writer.
func (s *Store) NewWriter() *Writer {
	return &Writer{s: s, txn: s.db.NewTransaction(true)}
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
	v := make([]byte, 1+len(page))
	v[0] = KindImage
	copy(v[1:], page)
	w.set(pageKey(tag, lsn), v)
}

// PutRecord stores rec as the version of tag at rec.EndLSN; withImage
// says the record carries an applied image of this page.
func (w *Writer) PutRecord(tag schema.BufferTag, rec *schema.DecodedRecord, withImage bool) {
	v := make([]byte, 1+8+len(rec.Raw))
	v[0] = KindRecord
	if withImage {
		v[0] = KindRecordImage
	}
	binary.BigEndian.PutUint64(v[1:], uint64(rec.LSN))
	copy(v[9:], rec.Raw)
	w.set(pageKey(tag, rec.EndLSN), v)
}

// PutUnavailable marks the page unreconstructible from lsn on.
func (w *Writer) PutUnavailable(tag schema.BufferTag, lsn schema.LSN, reason string) {
	w.set(pageKey(tag, lsn), append([]byte{KindUnavailable}, reason...))
}

// PutAbsent marks the page nonexistent from lsn on.
func (w *Writer) PutAbsent(tag schema.BufferTag, lsn schema.LSN) {
	w.set(pageKey(tag, lsn), []byte{KindAbsent})
}

// PutSize writes a relation size event.
func (w *Writer) PutSize(rel schema.RelFileNode, fork schema.ForkNumber, lsn schema.LSN, shard int, kind byte, nblocks schema.BlockNumber) {
	v := make([]byte, 5)
	v[0] = kind
	binary.BigEndian.PutUint32(v[1:], uint32(nblocks))
	w.set(sizeKey(rel, fork, lsn, shard), v)
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
	if w.err != nil {
		w.txn.Discard()
		return w.err
	}
	if err := w.txn.Commit(); err != nil {
		return fmt.Errorf("page store commit: %w", err)
	}
	return nil
}

// Discard abandons the writer's open transaction.
func (w *Writer) Discard() { w.txn.Discard() }

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
