package pagestore

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"

	"github.com/pagemill/pagemill/schema"
)

// GCStats says what a garbage collection did.
type GCStats struct {
	Pages     int // pages examined
	Rewritten int // versions turned into images at the horizon
	Deleted   int // versions deleted
}

// GC moves the retention horizon to horizon and removes the page versions
// no read at or above it needs: for every page, the newest version at or
// below the horizon becomes a full image (so reads never replay across
// the horizon) and every older version is deleted. The caller guarantees
// horizon is at or below every shard's applied LSN, so no writer touches
// the versions GC rewrites. Relation size events are small and kept.
//
// The new horizon is stored first: from then on reads below it are
// refused, before anything they could need is deleted.
func (s *Store) GC(horizon schema.LSN) (GCStats, error) {
	if horizon <= s.Horizon() {
		return GCStats{}, nil
	}
	if err := s.MoveHorizon(horizon); err != nil {
		return GCStats{}, err
	}
	return s.Collect(horizon)
}

// MoveHorizon stores and sets a higher horizon: reads below it are
// refused from now on. Collect then removes what they would have needed.
func (s *Store) MoveHorizon(horizon schema.LSN) error {
	if horizon <= s.Horizon() {
		return nil
	}
	w := s.NewWriter()
	w.SetMeta("horizon", binary.BigEndian.AppendUint64(nil, uint64(horizon)))
	if err := w.Commit(); err != nil {
		return err
	}
	s.SetHorizon(horizon)
	return nil
}

// Collect removes the page versions below horizon, which must be at or
// below the current horizon (see GC).
func (s *Store) Collect(horizon schema.LSN) (GCStats, error) {
	var st GCStats
	if horizon > s.Horizon() {
		return st, fmt.Errorf("collect below %s: the horizon is only %s", horizon, s.Horizon())
	}

	type old struct {
		tag  schema.BufferTag
		lsns []schema.LSN // versions at or below the horizon, ascending
	}
	var batch []old
	flush := func() error {
		w := s.NewWriter()
		for _, o := range batch {
			if len(o.lsns) < 2 {
				continue
			}
			// The newest key at or below the horizon may be a pack
			// whose later records are above it: those stay, as a pack of
			// their own above the image.
			keep := o.lsns[len(o.lsns)-1]
			var chain, tail []version
			if err := s.db.View(func(txn *badger.Txn) error {
				var err error
				if chain, err = versionChain(txn, o.tag, horizon); err != nil {
					return err
				}
				item, err := txn.Get(pageKey(o.tag, keep))
				if err != nil {
					return err
				}
				v, err := item.ValueCopy(nil)
				if err != nil || len(v) == 0 || v[0] != KindRecords {
					return err
				}
				recs, err := unpack(v)
				if err != nil {
					return fmt.Errorf("page %s version %s: %w", o.tag, keep, err)
				}
				for _, r := range recs {
					if r.lsn > horizon {
						tail = append(tail, r)
					}
				}
				return nil
			}); err != nil {
				return err
			}
			if len(chain) == 0 {
				continue
			}
			at := chain[0].lsn // the version a read at the horizon gets
			if chain[0].kind == KindRecord || chain[0].kind == KindRecordImage {
				page, _, err := s.replay(o.tag, horizon, chain)
				var ue *UnavailableError
				switch {
				case err == nil:
					w.PutImage(o.tag, at, page)
				case errors.As(err, &ue):
					w.PutUnavailable(o.tag, at, ue.Reason)
				default:
					return fmt.Errorf("gc %s at %s: %w", o.tag, horizon, err)
				}
				st.Rewritten++
			}
			if len(tail) > 0 {
				w.putPack(o.tag, tail)
			}
			// Written before the deletes: a reader between two commits
			// of an oversized transaction sees the record twice at most,
			// and versionChain skips the second.
			for _, l := range o.lsns {
				if l != at {
					w.del(pageKey(o.tag, l))
					st.Deleted++
				}
			}
		}
		batch = batch[:0]
		return w.Commit()
	}
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: false, Prefix: []byte{prefixPage}})
		defer it.Close()
		var cur *old
		for it.Rewind(); it.Valid(); it.Next() {
			k := it.Item().Key()
			if len(k) != pageKeyLen {
				continue
			}
			tag := getTag(k[1:])
			lsn := schema.LSN(binary.BigEndian.Uint64(k[1+tagLen:]))
			if cur == nil || cur.tag != tag {
				if cur != nil {
					batch = append(batch, *cur)
				}
				cur = &old{tag: tag}
				st.Pages++
			}
			if lsn <= horizon {
				cur.lsns = append(cur.lsns, lsn)
			}
			if len(batch) >= 1024 {
				if err := flush(); err != nil {
					return err
				}
			}
		}
		if cur != nil {
			batch = append(batch, *cur)
		}
		return nil
	})
	if err != nil {
		return st, fmt.Errorf("page store gc: %w", err)
	}
	if err := flush(); err != nil {
		return st, fmt.Errorf("page store gc: %w", err)
	}
	for s.db.RunValueLogGC(0.5) == nil {
	}
	return st, nil
}
