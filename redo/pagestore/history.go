package pagestore

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/dgraph-io/badger/v4"

	"github.com/pagemill/pagemill/schema"
)

// Version is one stored version of a page, as History lists it.
type Version struct {
	// LSN is where the version begins: the end of the record that made
	// it, which is the page's pd_lsn.
	LSN schema.LSN
	// Kind is how it is stored: KindImage, KindRecord (a record of a
	// pack too), KindRecordImage, KindUnavailable or KindAbsent.
	Kind byte
	// Start and Record are the record's start LSN and raw bytes, for the
	// kinds that hold a record; the zero LSN and nil for the others.
	Start  schema.LSN
	Record []byte
	// Reason says why a KindUnavailable version cannot be rebuilt.
	Reason string
}

// History lists the stored versions of tag whose LSN lies in (from, to],
// oldest first, each LSN once: at most limit of them (0: no limit), and
// more reports that the window holds further versions after the last one
// returned. Versions at or below the retention horizon may have been
// folded into one image by GC; the caller decides whether to read there.
func (s *Store) History(tag schema.BufferTag, from, to schema.LSN, limit int) (out []Version, more bool, err error) {
	if to <= from {
		return nil, false, nil
	}
	h := s.TimeLineHistory()
	err = s.db.View(func(txn *badger.Txn) error {
		prefix := pagePrefix(tag)
		// A pack is keyed by its first record: the newest key at or
		// below from may hold records after it.
		start := pageKey(tag, from+1, 0)
		rev := txn.NewIterator(badger.IteratorOptions{Reverse: true, PrefetchValues: false, Prefix: prefix})
		rev.Seek(pageKey(tag, from, anyTLI))
		if rev.Valid() {
			start = rev.Item().KeyCopy(nil)
		}
		rev.Close()

		it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: false, Prefix: prefix})
		defer it.Close()
		distinct, last := 0, schema.LSN(0) // the keys' LSNs come in order
		for it.Seek(start); it.Valid() && (limit == 0 || distinct <= limit); it.Next() {
			item := it.Item()
			k := item.Key()
			if len(k) != pageKeyLen {
				continue
			}
			at, tli := pageKeyLSN(k), pageKeyTLI(k)
			if at > to {
				break
			}
			if !h.OwnsEnd(tli, at) {
				continue // an abandoned branch's
			}
			val, err := valueOf(item)
			if err != nil {
				return err
			}
			if len(val) == 0 {
				return fmt.Errorf("page %s version %s: empty value", tag, at)
			}
			vs, err := decodeVersions(at, val)
			if err != nil {
				return fmt.Errorf("page %s version %s: %w", tag, at, err)
			}
			for _, v := range vs {
				if v.LSN > from && v.LSN <= to && h.OwnsEnd(tli, v.LSN) {
					if v.LSN > last {
						distinct, last = distinct+1, v.LSN
					}
					out = append(out, v)
				}
			}
		}
		// The keys' versions are read up to limit+1 of them: whatever
		// the segments add, the first limit+1 LSNs are among these and
		// the segments' records.
		atLeast := 0
		if limit > 0 {
			atLeast = limit + 1
		}
		recs, err := s.segmentRecords(txn, h, tag, from, to, atLeast, nil, false)
		if err != nil {
			return err
		}
		for _, r := range recs {
			v, err := recordVersion(r.lsn, KindRecord, r.value)
			if err != nil {
				return err
			}
			out = append(out, v)
		}
		return nil
	})
	if err != nil {
		return nil, false, fmt.Errorf("history of page %s in (%s, %s]: %w", tag, from, to, err)
	}
	// The same LSN under two keys or segments (a replay after a crash,
	// or a pack GC split) is one record: keep the one with it.
	slices.SortStableFunc(out, func(a, b Version) int { return cmp.Compare(a.LSN, b.LSN) })
	j := 0
	for i, v := range out {
		if i > 0 && v.LSN == out[j-1].LSN {
			if out[j-1].Record == nil && v.Record != nil {
				out[j-1] = v
			}
			continue
		}
		out[j] = v
		j++
	}
	out = out[:j]
	if limit > 0 && len(out) > limit {
		return out[:limit], true, nil
	}
	return out, false, nil
}

// recordVersion is the Version of a stored record: start LSN, record.
func recordVersion(lsn schema.LSN, kind byte, v []byte) (Version, error) {
	if len(v) < 8 {
		return Version{}, fmt.Errorf("record version at %s of %d bytes", lsn, len(v))
	}
	return Version{LSN: lsn, Kind: kind, Start: schema.LSN(binary.BigEndian.Uint64(v)), Record: v[8:]}, nil
}

// decodeVersions turns one stored value, at key LSN at, into the
// versions it holds: one, or a pack's records.
func decodeVersions(at schema.LSN, val []byte) ([]Version, error) {
	record := recordVersion
	switch val[0] {
	case KindRecords:
		recs, err := unpack(val)
		if err != nil {
			return nil, err
		}
		out := make([]Version, len(recs))
		for i, r := range recs {
			if out[i], err = record(r.lsn, KindRecord, r.value); err != nil {
				return nil, err
			}
		}
		return out, nil
	case KindRecord, KindRecordImage:
		v, err := record(at, val[0], val[1:])
		return []Version{v}, err
	case KindImage, KindImageS2:
		return []Version{{LSN: at, Kind: KindImage}}, nil
	case KindUnavailable:
		return []Version{{LSN: at, Kind: KindUnavailable, Reason: string(val[1:])}}, nil
	case KindAbsent:
		return []Version{{LSN: at, Kind: KindAbsent}}, nil
	}
	return nil, fmt.Errorf("unknown kind %d", val[0])
}

// RoundOf returns the indexed ingest round that holds the record ending
// at lsn (the first round ending at or after it) and the stream sequence
// of the round before it, whose messages all precede the round's; prevOK
// is false when the index holds no earlier round. ErrNotFound when no
// indexed round ends at or after lsn.
func (s *Store) RoundOf(lsn schema.LSN) (r Round, prevSeq uint64, prevOK bool, err error) {
	found := false
	err = s.scanIndex(prefixRound, lsn, false, func(end schema.LSN, v []byte) (bool, error) {
		var err error
		r, err = roundEntry(end, v)
		found = err == nil
		return false, err
	})
	if err == nil && !found {
		err = ErrNotFound
	}
	if err != nil {
		return Round{}, 0, false, fmt.Errorf("ingest round of LSN %s: %w", lsn, err)
	}
	if lsn > 0 {
		err = s.scanIndex(prefixRound, lsn-1, true, func(end schema.LSN, v []byte) (bool, error) {
			p, err := roundEntry(end, v)
			prevSeq, prevOK = p.Seq, err == nil
			return false, err
		})
	}
	if err != nil {
		return Round{}, 0, false, fmt.Errorf("ingest round before LSN %s: %w", lsn, err)
	}
	return r, prevSeq, prevOK, nil
}
