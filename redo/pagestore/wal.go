package pagestore

import (
	"encoding/binary"
	"fmt"

	"github.com/dgraph-io/badger/v4"

	"github.com/pagemill/pagemill/schema"
)

// The WAL index: where the checkpoints are and which stream messages hold
// which WAL, so a restore can pick the checkpoint to start PostgreSQL's
// recovery from and read the WAL after it from the stream.
//
//	c <end LSN:8>  → checkpoint record LSN:8, CheckPoint (main data)
//	r <end LSN:8>  → stream sequence:8 of the round's last (meta) message
const (
	prefixCheckpoint = 'c'
	prefixRound      = 'r'
)

func lsnKey(prefix byte, lsn schema.LSN) []byte {
	return binary.BigEndian.AppendUint64([]byte{prefix}, uint64(lsn))
}

// PutCheckpoint records a checkpoint record (XLOG CHECKPOINT_SHUTDOWN or
// CHECKPOINT_ONLINE) at lsn ending at end, with its main data.
func (w *Writer) PutCheckpoint(lsn, end schema.LSN, data []byte) {
	v := binary.BigEndian.AppendUint64(nil, uint64(lsn))
	w.set(lsnKey(prefixCheckpoint, end), append(v, data...))
}

// PutRound records that the ingest round ending at end was published with
// its last message at stream sequence seq.
func (w *Writer) PutRound(end schema.LSN, seq uint64) {
	w.set(lsnKey(prefixRound, end), binary.BigEndian.AppendUint64(nil, seq))
}

// Checkpoint is an indexed checkpoint record.
type Checkpoint struct {
	LSN, EndLSN schema.LSN
	Data        []byte // the CheckPoint struct
}

// Round is an indexed ingest round.
type Round struct {
	End schema.LSN
	Seq uint64
}

func checkpointEntry(end schema.LSN, v []byte) (Checkpoint, error) {
	if len(v) < 8 {
		return Checkpoint{}, fmt.Errorf("checkpoint index entry at %s: %d bytes", end, len(v))
	}
	return Checkpoint{LSN: schema.LSN(binary.BigEndian.Uint64(v)), EndLSN: end, Data: v[8:]}, nil
}

func roundEntry(end schema.LSN, v []byte) (Round, error) {
	if len(v) != 8 {
		return Round{}, fmt.Errorf("round index entry at %s: %d bytes", end, len(v))
	}
	return Round{End: end, Seq: binary.BigEndian.Uint64(v)}, nil
}

// scanIndex calls fn with the entries of one WAL index (prefix) from the
// entry at from on — ascending, or descending from the last entry at or
// below from when reverse — until fn returns false. fn's value is its
// own copy.
func (s *Store) scanIndex(prefix byte, from schema.LSN, reverse bool, fn func(end schema.LSN, v []byte) (bool, error)) error {
	return s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Reverse: reverse, Prefix: []byte{prefix}})
		defer it.Close()
		for it.Seek(lsnKey(prefix, from)); it.Valid(); it.Next() {
			k := it.Item().Key()
			if len(k) != 9 {
				return fmt.Errorf("WAL index key %x of wrong size", k)
			}
			v, err := valueOf(it.Item())
			if err != nil {
				return err
			}
			if more, err := fn(schema.LSN(binary.BigEndian.Uint64(k[1:])), v); err != nil || !more {
				return err
			}
		}
		return nil
	})
}

// CheckpointAt returns the newest checkpoint record that ends at or
// before lsn; ErrNotFound when there is none.
func (s *Store) CheckpointAt(lsn schema.LSN) (Checkpoint, error) {
	c, found := Checkpoint{}, false
	err := s.scanIndex(prefixCheckpoint, lsn, true, func(end schema.LSN, v []byte) (bool, error) {
		var err error
		c, err = checkpointEntry(end, v)
		found = err == nil
		return false, err
	})
	if err == nil && !found {
		err = ErrNotFound
	}
	if err != nil {
		return Checkpoint{}, fmt.Errorf("checkpoint at or before %s: %w", lsn, err)
	}
	return c, nil
}

// StreamStart returns the stream sequence to read from to get every
// record that starts at or after lsn and the record that ends at or before
// it (whose bytes may continue onto lsn's WAL page): the first message
// after the round that ended two rounds before the one holding lsn, and
// that round's end. Zeros mean from the stream's beginning.
func (s *Store) StreamStart(lsn schema.LSN) (uint64, schema.LSN, error) {
	// Rounds ending at or before lsn: the newest holds the record before
	// lsn at most; one more back is safe.
	var r Round
	n := 0
	err := s.scanIndex(prefixRound, lsn, true, func(end schema.LSN, v []byte) (bool, error) {
		if n++; n < 2 {
			return true, nil
		}
		var err error
		r, err = roundEntry(end, v)
		return false, err
	})
	if err != nil || n < 2 {
		return 0, 0, err
	}
	return r.Seq + 1, r.End, nil
}

// Rounds lists the indexed rounds ending in [from, to], oldest first.
func (s *Store) Rounds(from, to schema.LSN) ([]Round, error) {
	var out []Round
	err := s.scanIndex(prefixRound, from, false, func(end schema.LSN, v []byte) (bool, error) {
		if end > to {
			return false, nil
		}
		r, err := roundEntry(end, v)
		out = append(out, r)
		return true, err
	})
	return out, err
}

// TrimIndex drops the WAL index entries nothing can use once the stream
// below sequence minSeq and the checkpoints before minCheckpoint are
// gone: rounds whose meta message is below minSeq-1 (the one just below
// still tells where minSeq's round starts) and checkpoints ending before
// minCheckpoint.
func (s *Store) TrimIndex(minSeq uint64, minCheckpoint schema.LSN) (int, error) {
	var keys [][]byte
	err := s.scanIndex(prefixRound, 0, false, func(end schema.LSN, v []byte) (bool, error) {
		r, err := roundEntry(end, v)
		if err == nil && r.Seq+1 < minSeq {
			keys = append(keys, lsnKey(prefixRound, end))
		}
		return true, err
	})
	if err == nil {
		err = s.scanIndex(prefixCheckpoint, 0, false, func(end schema.LSN, _ []byte) (bool, error) {
			if end >= minCheckpoint {
				return false, nil
			}
			keys = append(keys, lsnKey(prefixCheckpoint, end))
			return true, nil
		})
	}
	if err != nil || len(keys) == 0 {
		return 0, err
	}
	w := s.NewWriter()
	for _, k := range keys {
		w.del(k)
	}
	return len(keys), w.Commit()
}
