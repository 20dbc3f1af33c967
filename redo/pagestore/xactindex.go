package pagestore

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/dgraph-io/badger/v4"

	"github.com/pagemill/pagemill/schema"
)

// The transaction index: what a data directory that starts without WAL
// replay needs from the records before its LSN, and the commit times that
// turn a time into an LSN. The materializer writes it as it applies the
// stream (package materialize); restores read it.
//
//	t <last end:8>               → commit-time block: the commit and abort
//	                               records one batch applied (see below)
//	T <newest time:8> <last end:8> → (empty) the same block by its newest
//	                               time so far, for lookups by time
//	x <shard:2> <lsn:8>          → xid:4, the newest transaction id the
//	                               shard has seen in the records up to
//	                               the batch holding lsn (an upper bound
//	                               at lsn; see XidSeen)
//	k <end:8>                    → a control event (schema.ControlEvent):
//	                               NEXTOID, multixact create/truncate,
//	                               CLOG truncate, parameter change
//	P <xid:4> <end:8>            → start:8 and the state of a PREPARE record
//	                               ending at end (the state file without
//	                               its CRC)
//	F <xid:4> <end:8>            → (empty) the prepared transaction xid
//	                               was committed or rolled back by the
//	                               record ending at end
//	m "xactindex"                → JSON XactIndexInfo: the format version
//	                               and the LSN the index is complete from
//
// A commit-time block is, big-endian: version (1), the newest time of all
// earlier blocks (8), the newest time including this block's (8), then per
// record its end LSN (8) and xact_time (8), in LSN order. Commit times
// are not quite monotonic in LSN order (xact_time is taken just before the
// record is inserted); "the newest time so far" is, and it is what
// recovery_target_time's "stop before the first commit after T" amounts
// to: the state at T is the one after the last record whose newest time
// so far is at or before T.
const (
	prefixCommitTime = 't'
	prefixCommitMax  = 'T'
	prefixXidSeen    = 'x'
	prefixControl    = 'k'
	prefixPrepare    = 'P'
	prefixPrepareEnd = 'F'

	commitBlockVersion = 1
	commitBlockHeader  = 1 + 8 + 8
	commitEntrySize    = 16

	// XactIndexVersion is the format of the transaction index written by
	// this version (XactIndexInfo.Version).
	XactIndexVersion = 1
	xactIndexMeta    = "xactindex"
)

// XactIndexInfo describes a store's transaction index.
type XactIndexInfo struct {
	Version int `json:"version"`
	// From: every record ending after From is indexed. Stores created by
	// an import of the base backup have it at the backup's start; a store
	// that existed before the index (or was imported from a snapshot,
	// which does not carry it) has it where indexing began.
	From schema.LSN `json:"from"`
}

// ErrXactIndexVersion: the store's transaction index has a format this
// version does not read.
var ErrXactIndexVersion = errors.New("unknown transaction index format")

// SetXactIndex records the transaction index's description.
func (w *Writer) SetXactIndex(info XactIndexInfo) {
	v, _ := json.Marshal(info)
	w.SetMeta(xactIndexMeta, v)
}

// XactIndex returns the store's transaction index description; ok is false
// when the store has none (it predates the index).
func (s *Store) XactIndex() (info XactIndexInfo, ok bool, err error) {
	v, err := s.GetMeta(xactIndexMeta)
	if err != nil || v == nil {
		return info, false, err
	}
	if err := json.Unmarshal(v, &info); err != nil {
		return info, false, fmt.Errorf("transaction index description %q: %w", v, err)
	}
	if info.Version != XactIndexVersion {
		return info, false, fmt.Errorf("%w: the page store's transaction index has version %d, this pagemill reads %d; rebuild the page store (pagemill rebuild --force)",
			ErrXactIndexVersion, info.Version, XactIndexVersion)
	}
	return info, true, nil
}

// CommitTime is one commit or abort record: where it ends and its
// xact_time.
type CommitTime struct {
	End  schema.LSN
	Time schema.TimestampTz
}

// CommitPoint answers a time-index lookup: the record ending at End, and
// Newest, the newest commit time of it and every record before it.
type CommitPoint struct {
	End    schema.LSN
	Newest schema.TimestampTz
}

func tsKey(t schema.TimestampTz) uint64 { return uint64(t) ^ 1<<63 } // byte order is numeric order

func commitTimeKey(last schema.LSN) []byte { return lsnKey(prefixCommitTime, last) }

func commitMaxKey(newest schema.TimestampTz, last schema.LSN) []byte {
	k := binary.BigEndian.AppendUint64([]byte{prefixCommitMax}, tsKey(newest))
	return binary.BigEndian.AppendUint64(k, uint64(last))
}

// PutCommitTimes writes one block of commit times, in LSN order, after
// blocks whose newest time was before; it returns the newest time after
// the block. An empty block writes nothing.
func (w *Writer) PutCommitTimes(entries []CommitTime, before schema.TimestampTz) schema.TimestampTz {
	if len(entries) == 0 {
		return before
	}
	after := before
	for _, e := range entries {
		after = max(after, e.Time)
	}
	v := make([]byte, commitBlockHeader, commitBlockHeader+commitEntrySize*len(entries))
	v[0] = commitBlockVersion
	binary.BigEndian.PutUint64(v[1:], uint64(before))
	binary.BigEndian.PutUint64(v[9:], uint64(after))
	for _, e := range entries {
		v = binary.BigEndian.AppendUint64(v, uint64(e.End))
		v = binary.BigEndian.AppendUint64(v, uint64(e.Time))
	}
	last := entries[len(entries)-1].End
	w.set(commitTimeKey(last), v)
	w.set(commitMaxKey(after, last), nil)
	return after
}

// commitBlock is a decoded commit-time block.
type commitBlock struct {
	before, after schema.TimestampTz
	entries       []CommitTime
}

func decodeCommitBlock(last schema.LSN, v []byte) (commitBlock, error) {
	var b commitBlock
	if len(v) < commitBlockHeader || v[0] != commitBlockVersion || (len(v)-commitBlockHeader)%commitEntrySize != 0 || len(v) == commitBlockHeader {
		return b, fmt.Errorf("commit-time block ending at %s: %d bytes of version %d", last, len(v), v[0])
	}
	b.before = schema.TimestampTz(binary.BigEndian.Uint64(v[1:]))
	b.after = schema.TimestampTz(binary.BigEndian.Uint64(v[9:]))
	for o := commitBlockHeader; o < len(v); o += commitEntrySize {
		b.entries = append(b.entries, CommitTime{End: schema.LSN(binary.BigEndian.Uint64(v[o:])), Time: schema.TimestampTz(binary.BigEndian.Uint64(v[o+8:]))})
	}
	return b, nil
}

// commitBlockNear reads the first block whose last record ends at or after
// lsn (forward) or the last one whose last record ends at or before it
// (reverse).
func (s *Store) commitBlockNear(txn *badger.Txn, lsn schema.LSN, reverse bool) (commitBlock, bool, error) {
	it := txn.NewIterator(badger.IteratorOptions{Reverse: reverse, Prefix: []byte{prefixCommitTime}})
	defer it.Close()
	it.Seek(commitTimeKey(lsn))
	if !it.Valid() {
		return commitBlock{}, false, nil
	}
	k := it.Item().Key()
	if len(k) != 9 {
		return commitBlock{}, false, fmt.Errorf("commit-time key %x of wrong size", k)
	}
	v, err := valueOf(it.Item())
	if err != nil {
		return commitBlock{}, false, err
	}
	b, err := decodeCommitBlock(schema.LSN(binary.BigEndian.Uint64(k[1:])), v)
	return b, err == nil, err
}

// LastCommitTime is the newest record of the time index ending at or
// before lsn (its end and the newest time so far); ok is false when none.
func (s *Store) LastCommitTime(lsn schema.LSN) (p CommitPoint, ok bool, err error) {
	err = s.db.View(func(txn *badger.Txn) error {
		// The block after lsn may hold records before it.
		b, found, err := s.commitBlockNear(txn, lsn, false)
		if err != nil {
			return err
		}
		if found {
			m := b.before
			for _, e := range b.entries {
				if e.End > lsn {
					break
				}
				m = max(m, e.Time)
				p, ok = CommitPoint{End: e.End, Newest: m}, true
			}
			if ok {
				return nil
			}
		}
		b, found, err = s.commitBlockNear(txn, lsn, true)
		if err != nil || !found {
			return err
		}
		last := b.entries[len(b.entries)-1]
		p, ok = CommitPoint{End: last.End, Newest: b.after}, true
		return nil
	})
	return p, ok, err
}

// FirstCommitTime is the oldest record of the time index ending at or
// after lsn; ok is false when none.
func (s *Store) FirstCommitTime(lsn schema.LSN) (p CommitPoint, ok bool, err error) {
	err = s.db.View(func(txn *badger.Txn) error {
		b, found, err := s.commitBlockNear(txn, lsn, false)
		if err != nil || !found {
			return err
		}
		m := b.before
		for _, e := range b.entries {
			m = max(m, e.Time)
			if e.End >= lsn {
				p, ok = CommitPoint{End: e.End, Newest: m}, true
				return nil
			}
		}
		return nil
	})
	return p, ok, err
}

// CommitAtTime is the last record of the time index whose newest time so
// far is at or before t: a restore at its end holds every transaction
// that ended at or before t and none that ended after (in
// recovery_target_time's sense). ok is false when even the first indexed
// record is after t.
func (s *Store) CommitAtTime(t schema.TimestampTz) (p CommitPoint, ok bool, err error) {
	err = s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{prefixCommitMax}, PrefetchValues: false})
		k := []byte(nil)
		if t < schema.TimestampTz(1<<63-1) {
			it.Seek(commitMaxKey(t+1, 0))
			if it.Valid() {
				k = it.Item().KeyCopy(nil)
			}
		}
		it.Close()
		if k == nil {
			// Every block is at or before t: the last record.
			b, found, err := s.commitBlockNear(txn, schema.LSN(^uint64(0)), true)
			if err != nil || !found {
				return err
			}
			last := b.entries[len(b.entries)-1]
			p, ok = CommitPoint{End: last.End, Newest: b.after}, true
			return nil
		}
		if len(k) != 17 {
			return fmt.Errorf("commit-time key %x of wrong size", k)
		}
		last := schema.LSN(binary.BigEndian.Uint64(k[9:]))
		b, found, err := s.commitBlockNear(txn, last, false)
		if err != nil {
			return err
		}
		if !found || b.entries[len(b.entries)-1].End != last {
			return fmt.Errorf("commit-time block ending at %s is missing", last)
		}
		m := b.before
		for _, e := range b.entries {
			if max(m, e.Time) > t {
				break
			}
			m = max(m, e.Time)
			p, ok = CommitPoint{End: e.End, Newest: m}, true
		}
		if ok {
			return nil
		}
		// The block's first record is already after t: the block before.
		if b.entries[0].End == 0 {
			return nil
		}
		prev, found, err := s.commitBlockNear(txn, b.entries[0].End-1, true)
		if err != nil || !found {
			return err
		}
		l := prev.entries[len(prev.entries)-1]
		p, ok = CommitPoint{End: l.End, Newest: prev.after}, true
		return nil
	})
	return p, ok, err
}

// LastCommitBlock is the newest time of the time index's blocks ending at
// or before lsn (0 if none): a writer resuming at lsn continues from it.
func (s *Store) LastCommitBlock(lsn schema.LSN) (schema.TimestampTz, error) {
	var after schema.TimestampTz
	err := s.db.View(func(txn *badger.Txn) error {
		b, found, err := s.commitBlockNear(txn, lsn, true)
		if found {
			after = b.after
		}
		return err
	})
	return after, err
}

func xidSeenKey(shard int, lsn schema.LSN) []byte {
	k := []byte{prefixXidSeen, byte(shard >> 8), byte(shard)}
	return binary.BigEndian.AppendUint64(k, uint64(lsn))
}

// PutXidSeen records that the newest transaction id shard has seen in the
// records up to the end of the batch holding lsn is xid; lsn is the end
// of the first record of the batch that showed a newer id than before.
func (w *Writer) PutXidSeen(shard int, lsn schema.LSN, xid uint32) {
	w.set(xidSeenKey(shard, lsn), binary.BigEndian.AppendUint32(nil, xid))
}

// XidSeen is the newest transaction id shard had seen at lsn, as an upper
// bound: it may include ids of records after lsn in the same batch, never
// misses one at or before it (back to the index's start). ok is false when
// the shard recorded none at or before lsn.
func (s *Store) XidSeen(shard int, lsn schema.LSN) (xid uint32, ok bool, err error) {
	err = s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Reverse: true, Prefix: xidSeenKey(shard, 0)[:3]})
		defer it.Close()
		it.Seek(xidSeenKey(shard, lsn))
		if !it.Valid() {
			return nil
		}
		return it.Item().Value(func(v []byte) error {
			if len(v) != 4 {
				return fmt.Errorf("xid seen by shard %d: %d bytes", shard, len(v))
			}
			xid, ok = binary.BigEndian.Uint32(v), true
			return nil
		})
	})
	return xid, ok, err
}

// PutControlEvent records a record's change to the control data.
func (w *Writer) PutControlEvent(end schema.LSN, e *schema.ControlEvent) {
	w.set(lsnKey(prefixControl, end), e.Encode())
}

// ControlEvents calls fn with the control events of records ending in
// [from, to], in LSN order, until fn returns false.
func (s *Store) ControlEvents(from, to schema.LSN, fn func(end schema.LSN, e *schema.ControlEvent) bool) error {
	return s.scanIndex(prefixControl, from, false, func(end schema.LSN, v []byte) (bool, error) {
		if end > to {
			return false, nil
		}
		e, err := schema.DecodeControlEvent(v)
		if err != nil {
			return false, fmt.Errorf("control event at %s: %w", end, err)
		}
		return fn(end, e), nil
	})
}

func xidLSNKey(prefix byte, xid uint32, lsn schema.LSN) []byte {
	k := binary.BigEndian.AppendUint32([]byte{prefix}, xid)
	return binary.BigEndian.AppendUint64(k, uint64(lsn))
}

// PutPrepare records a PREPARE record of transaction xid at start, ending
// at end, with its state (the record's main data).
func (w *Writer) PutPrepare(xid uint32, start, end schema.LSN, state []byte) {
	v := binary.BigEndian.AppendUint64(make([]byte, 0, 8+len(state)), uint64(start))
	w.set(xidLSNKey(prefixPrepare, xid, end), append(v, state...))
}

// PutPrepareEnd records that the prepared transaction xid was committed or
// rolled back by the record ending at end.
func (w *Writer) PutPrepareEnd(xid uint32, end schema.LSN) {
	w.set(xidLSNKey(prefixPrepareEnd, xid, end), nil)
}

// Prepared is an indexed PREPARE record.
type Prepared struct {
	Xid        uint32
	Start, End schema.LSN
	State      []byte
}

// PreparedAt lists the transactions prepared at lsn: the newest PREPARE of
// each xid ending at or before lsn that no COMMIT/ROLLBACK PREPARED ended
// after it, at or before lsn. In xid order.
func (s *Store) PreparedAt(lsn schema.LSN) ([]Prepared, error) {
	var out []Prepared
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{prefixPrepare}})
		defer it.Close()
		newest := map[uint32]Prepared{}
		var order []uint32
		for it.Rewind(); it.Valid(); it.Next() {
			k := it.Item().Key()
			if len(k) != 13 {
				return fmt.Errorf("prepare key %x of wrong size", k)
			}
			xid, end := binary.BigEndian.Uint32(k[1:]), schema.LSN(binary.BigEndian.Uint64(k[5:]))
			if end > lsn {
				continue
			}
			v, err := valueOf(it.Item())
			if err != nil {
				return err
			}
			if len(v) < 8 {
				return fmt.Errorf("prepare of %d at %s: %d bytes", xid, end, len(v))
			}
			if _, seen := newest[xid]; !seen {
				order = append(order, xid)
			}
			newest[xid] = Prepared{Xid: xid, Start: schema.LSN(binary.BigEndian.Uint64(v)), End: end, State: v[8:]}
		}
		for _, xid := range order {
			p := newest[xid]
			ended, err := prepareEndedTxn(txn, xid, p.End, lsn)
			if err != nil {
				return err
			}
			if !ended {
				out = append(out, p)
			}
		}
		return nil
	})
	return out, err
}

// PrepareEnded reports whether the prepared transaction xid was committed
// or rolled back by a record ending in (after, lsn].
func (s *Store) PrepareEnded(xid uint32, after, lsn schema.LSN) (bool, error) {
	var ended bool
	err := s.db.View(func(txn *badger.Txn) error {
		var err error
		ended, err = prepareEndedTxn(txn, xid, after, lsn)
		return err
	})
	return ended, err
}

func prepareEndedTxn(txn *badger.Txn, xid uint32, after, lsn schema.LSN) (bool, error) {
	prefix := binary.BigEndian.AppendUint32([]byte{prefixPrepareEnd}, xid)
	it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix, PrefetchValues: false})
	defer it.Close()
	it.Seek(xidLSNKey(prefixPrepareEnd, xid, after+1))
	if !it.Valid() {
		return false, nil
	}
	k := it.Item().Key()
	if len(k) != 13 {
		return false, fmt.Errorf("prepare end key %x of wrong size", k)
	}
	return schema.LSN(binary.BigEndian.Uint64(k[5:])) <= lsn, nil
}

// DropXactIndexAfter deletes what the time index and shard's newest-xid
// entries hold for records after lsn: a materializer resuming at lsn writes
// them again, maybe cut into other blocks. (Control events and prepares
// are keyed by their record and rewritten alike.)
func (s *Store) DropXactIndexAfter(shard int, lsn schema.LSN) error {
	var keys [][]byte
	var keep []commitBlock
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: xidSeenKey(shard, 0)[:3], PrefetchValues: false})
		for it.Seek(xidSeenKey(shard, lsn+1)); it.Valid(); it.Next() {
			keys = append(keys, it.Item().KeyCopy(nil))
		}
		it.Close()
		if shard != 0 {
			return nil
		}
		it = txn.NewIterator(badger.IteratorOptions{Prefix: []byte{prefixCommitTime}})
		defer it.Close()
		for it.Seek(commitTimeKey(lsn + 1)); it.Valid(); it.Next() {
			k := it.Item().KeyCopy(nil)
			v, err := valueOf(it.Item())
			if err != nil {
				return err
			}
			last := schema.LSN(binary.BigEndian.Uint64(k[1:]))
			b, err := decodeCommitBlock(last, v)
			if err != nil {
				return err
			}
			keys = append(keys, k, commitMaxKey(b.after, last))
			// A block that straddles lsn (a timeline switch point) keeps
			// its records up to lsn.
			n := 0
			for n < len(b.entries) && b.entries[n].End <= lsn {
				n++
			}
			if n > 0 {
				keep = append(keep, commitBlock{before: b.before, entries: b.entries[:n]})
			}
		}
		return nil
	})
	if err != nil || len(keys) == 0 {
		return err
	}
	w := s.NewWriter()
	for _, k := range keys {
		w.del(k)
	}
	for _, b := range keep {
		w.PutCommitTimes(b.entries, b.before)
	}
	return w.Commit()
}

// dropIndexesAfter deletes the WAL index's and the transaction index's
// entries for records after lsn (the switch point of an abandoned branch):
// checkpoints, rounds, control events, prepares, and every shard's time
// and newest-xid entries. Each of these keys ends in its record's LSN.
func (s *Store) dropIndexesAfter(lsn schema.LSN) error {
	var keys [][]byte
	err := s.db.View(func(txn *badger.Txn) error {
		for _, p := range []byte{prefixCheckpoint, prefixRound, prefixControl, prefixPrepare, prefixPrepareEnd} {
			it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{p}, PrefetchValues: false})
			for it.Rewind(); it.Valid(); it.Next() {
				k := it.Item().Key()
				if len(k) >= 9 && schema.LSN(binary.BigEndian.Uint64(k[len(k)-8:])) > lsn {
					keys = append(keys, it.Item().KeyCopy(nil))
				}
			}
			it.Close()
		}
		return nil
	})
	if err != nil {
		return err
	}
	w := s.NewWriter()
	for _, k := range keys {
		w.del(k)
	}
	if err := w.Commit(); err != nil {
		return err
	}
	for shard := range s.opts.Shards {
		if err := s.DropXactIndexAfter(shard, lsn); err != nil {
			return err
		}
	}
	return nil
}

// TrimXactIndex drops what no restore at or above horizon needs: time
// blocks ending before it, each shard's newest-xid entries but the newest
// at or before it, counter events before redo (the redo point of the
// newest checkpoint at or before the horizon, whose values supersede
// them; parameter and full_page_writes changes are kept), and prepared
// transactions ended at or before the horizon.
func (s *Store) TrimXactIndex(horizon, redo schema.LSN, shards int) (int, error) {
	var keys [][]byte
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{prefixCommitTime}})
		for it.Rewind(); it.Valid(); it.Next() {
			k := it.Item().KeyCopy(nil)
			last := schema.LSN(binary.BigEndian.Uint64(k[1:]))
			if last >= horizon {
				break
			}
			v, err := valueOf(it.Item())
			if err != nil {
				it.Close()
				return err
			}
			b, err := decodeCommitBlock(last, v)
			if err != nil {
				it.Close()
				return err
			}
			keys = append(keys, k, commitMaxKey(b.after, last))
		}
		it.Close()
		for sh := 0; sh < shards; sh++ {
			it := txn.NewIterator(badger.IteratorOptions{Prefix: xidSeenKey(sh, 0)[:3], PrefetchValues: false})
			var below [][]byte
			for it.Rewind(); it.Valid(); it.Next() {
				k := it.Item().KeyCopy(nil)
				if schema.LSN(binary.BigEndian.Uint64(k[3:])) > horizon {
					break
				}
				below = append(below, k)
			}
			it.Close()
			if len(below) > 1 {
				keys = append(keys, below[:len(below)-1]...)
			}
		}
		it = txn.NewIterator(badger.IteratorOptions{Prefix: []byte{prefixControl}})
		for it.Rewind(); it.Valid(); it.Next() {
			k := it.Item().KeyCopy(nil)
			if schema.LSN(binary.BigEndian.Uint64(k[1:])) >= redo {
				break
			}
			var kind byte
			if err := it.Item().Value(func(v []byte) error {
				if len(v) > 0 {
					kind = v[0]
				}
				return nil
			}); err != nil {
				it.Close()
				return err
			}
			if k := schema.ControlEventKind(kind); k != schema.EventParameters && k != schema.EventFullPageWrites {
				keys = append(keys, it.Item().KeyCopy(nil))
			}
		}
		it.Close()
		it = txn.NewIterator(badger.IteratorOptions{Prefix: []byte{prefixPrepareEnd}, PrefetchValues: false})
		var ends [][]byte
		for it.Rewind(); it.Valid(); it.Next() {
			ends = append(ends, it.Item().KeyCopy(nil))
		}
		it.Close()
		for _, e := range ends {
			xid, end := binary.BigEndian.Uint32(e[1:]), schema.LSN(binary.BigEndian.Uint64(e[5:]))
			if end > horizon {
				continue
			}
			keys = append(keys, e)
			it := txn.NewIterator(badger.IteratorOptions{Prefix: xidLSNKey(prefixPrepare, xid, 0)[:5], PrefetchValues: false})
			for it.Rewind(); it.Valid(); it.Next() {
				k := it.Item().KeyCopy(nil)
				if schema.LSN(binary.BigEndian.Uint64(k[5:])) < end {
					keys = append(keys, k)
				}
			}
			it.Close()
		}
		return nil
	})
	if err != nil || len(keys) == 0 {
		return 0, err
	}
	slices.SortFunc(keys, bytes.Compare)
	keys = slices.CompactFunc(keys, bytes.Equal)
	w := s.NewWriter()
	for _, k := range keys {
		w.del(k)
	}
	return len(keys), w.Commit()
}

// LastControlEvent is the newest control event of kind at or before lsn.
func (s *Store) LastControlEvent(lsn schema.LSN, kind schema.ControlEventKind) (*schema.ControlEvent, schema.LSN, bool, error) {
	var out *schema.ControlEvent
	var at schema.LSN
	err := s.scanIndex(prefixControl, lsn, true, func(end schema.LSN, v []byte) (bool, error) {
		if len(v) == 0 || schema.ControlEventKind(v[0]) != kind {
			return true, nil
		}
		e, err := schema.DecodeControlEvent(v)
		if err != nil {
			return false, fmt.Errorf("control event at %s: %w", end, err)
		}
		out, at = e, end
		return false, nil
	})
	return out, at, out != nil, err
}
