package pagestore

import (
	"encoding/binary"
	"errors"
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

// CheckpointAt returns the newest checkpoint record that ends at or
// before lsn; ErrNotFound when there is none.
func (s *Store) CheckpointAt(lsn schema.LSN) (Checkpoint, error) {
	var c Checkpoint
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Reverse: true, Prefix: []byte{prefixCheckpoint}})
		defer it.Close()
		it.Seek(lsnKey(prefixCheckpoint, lsn))
		if !it.Valid() {
			return ErrNotFound
		}
		k := it.Item().Key()
		v, err := it.Item().ValueCopy(nil)
		if err != nil {
			return err
		}
		if len(k) != 9 || len(v) < 8 {
			return fmt.Errorf("checkpoint index entry %x: %d bytes", k, len(v))
		}
		c = Checkpoint{LSN: schema.LSN(binary.BigEndian.Uint64(v)), EndLSN: schema.LSN(binary.BigEndian.Uint64(k[1:])), Data: v[8:]}
		return nil
	})
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
	var seq uint64
	var end schema.LSN
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Reverse: true, Prefix: []byte{prefixRound}})
		defer it.Close()
		n := 0
		// Rounds ending at or before lsn: the newest holds the record
		// before lsn at most; one more back is safe.
		for it.Seek(lsnKey(prefixRound, lsn)); it.Valid() && n < 2; it.Next() {
			n++
			if n < 2 {
				continue
			}
			v, err := it.Item().ValueCopy(nil)
			if err != nil {
				return err
			}
			if len(v) != 8 {
				return errors.New("round index entry of wrong size")
			}
			seq = binary.BigEndian.Uint64(v) + 1
			end = schema.LSN(binary.BigEndian.Uint64(it.Item().Key()[1:]))
		}
		return nil
	})
	return seq, end, err
}

// Round is an indexed ingest round.
type Round struct {
	End schema.LSN
	Seq uint64
}

// Rounds lists the indexed rounds ending in [from, to], oldest first.
func (s *Store) Rounds(from, to schema.LSN) ([]Round, error) {
	var out []Round
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{prefixRound}})
		defer it.Close()
		for it.Seek(lsnKey(prefixRound, from)); it.Valid(); it.Next() {
			k := it.Item().Key()
			end := schema.LSN(binary.BigEndian.Uint64(k[1:]))
			if end > to {
				break
			}
			v, err := it.Item().ValueCopy(nil)
			if err != nil {
				return err
			}
			if len(v) != 8 {
				return errors.New("round index entry of wrong size")
			}
			out = append(out, Round{End: end, Seq: binary.BigEndian.Uint64(v)})
		}
		return nil
	})
	return out, err
}

// Checkpoints lists the indexed checkpoints ending in [from, to].
func (s *Store) Checkpoints(from, to schema.LSN) ([]Checkpoint, error) {
	var out []Checkpoint
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{prefixCheckpoint}})
		defer it.Close()
		for it.Seek(lsnKey(prefixCheckpoint, from)); it.Valid(); it.Next() {
			k := it.Item().Key()
			end := schema.LSN(binary.BigEndian.Uint64(k[1:]))
			if end > to {
				break
			}
			v, err := it.Item().ValueCopy(nil)
			if err != nil {
				return err
			}
			if len(v) < 8 {
				return errors.New("checkpoint index entry too short")
			}
			out = append(out, Checkpoint{LSN: schema.LSN(binary.BigEndian.Uint64(v)), EndLSN: end, Data: v[8:]})
		}
		return nil
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
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{prefixRound}})
		for it.Rewind(); it.Valid(); it.Next() {
			v, err := it.Item().ValueCopy(nil)
			if err != nil {
				it.Close()
				return err
			}
			if len(v) == 8 && binary.BigEndian.Uint64(v)+1 < minSeq {
				keys = append(keys, it.Item().KeyCopy(nil))
			}
		}
		it.Close()
		it = txn.NewIterator(badger.IteratorOptions{Prefix: []byte{prefixCheckpoint}})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			k := it.Item().Key()
			if schema.LSN(binary.BigEndian.Uint64(k[1:])) >= minCheckpoint {
				break
			}
			keys = append(keys, it.Item().KeyCopy(nil))
		}
		return nil
	})
	if err != nil || len(keys) == 0 {
		return 0, err
	}
	w := s.NewWriter()
	for _, k := range keys {
		w.del(k)
	}
	return len(keys), w.Commit()
}
