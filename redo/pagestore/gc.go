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
	if horizon > s.Horizon() {
		return GCStats{}, fmt.Errorf("collect below %s: the horizon is only %s", horizon, s.Horizon())
	}
	s.collecting.Add(1) // odd: snapshots made from now on are stale at once
	defer s.collecting.Add(1)
	c := &collector{s: s, horizon: horizon, segPages: s.segs.pagesUpTo(horizon)}
	if err := s.db.View(c.scan); err != nil {
		return c.st, fmt.Errorf("page store gc: %w", err)
	}
	for tag := range c.segPages { // pages with records in segments only
		c.st.Pages++
		if err := c.add(oldVersions{tag: tag, seg: true}); err != nil {
			return c.st, fmt.Errorf("page store gc: %w", err)
		}
	}
	if err := c.flush(); err != nil {
		return c.st, fmt.Errorf("page store gc: %w", err)
	}
	// Every page's version at the horizon is an image now, or a key:
	// the segments wholly at or below it are read by no one.
	w := s.NewWriter()
	var files []uint32
	for _, m := range s.segs.removeUpTo(horizon) {
		w.del(segmentKey(m.seq))
		files = append(files, m.file)
		c.st.Deleted++
	}
	if err := w.Commit(); err != nil {
		return c.st, fmt.Errorf("page store gc: %w", err)
	}
	if s.files != nil {
		// Removed once no key points into them: a crash before the
		// deletions are durable finds the keys and their files.
		if err := s.Sync(); err != nil {
			return c.st, fmt.Errorf("page store gc: %w", err)
		}
		s.files.removed(files)
	}
	for s.db.RunValueLogGC(0.5) == nil {
	}
	return c.st, nil
}

// collector is the state of one Collect: pages whose versions at or below
// the horizon are to be collected, a batch at a time.
type collector struct {
	s        *Store
	horizon  schema.LSN
	st       GCStats
	batch    []oldVersions
	segPages map[schema.BufferTag]bool // pages with records at or below the horizon in segments, not yet batched
}

// oldVersions are a page's versions at or below the horizon, ascending,
// with the timelines that wrote them, and the keys of versions at or
// below the horizon that are not part of the history (an abandoned
// branch's), which go.
type oldVersions struct {
	tag  schema.BufferTag
	lsns []schema.LSN
	tlis []schema.TimeLineID
	dead [][]byte
	seg  bool // segments hold records of the page at or below the horizon
}

// scan walks every page version's key and collects the pages in batches
// of 1024.
func (c *collector) scan(txn *badger.Txn) error {
	it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: false, Prefix: []byte{prefixPage}})
	defer it.Close()
	var cur *oldVersions
	h := c.s.TimeLineHistory()
	for it.Rewind(); it.Valid(); it.Next() {
		k := it.Item().Key()
		if len(k) != pageKeyLen {
			continue
		}
		tag := getTag(k[1:])
		lsn, tli := pageKeyLSN(k), pageKeyTLI(k)
		if cur == nil || cur.tag != tag {
			if cur != nil {
				if err := c.add(*cur); err != nil {
					return err
				}
			}
			cur = &oldVersions{tag: tag, seg: c.segPages[tag]}
			delete(c.segPages, tag)
			c.st.Pages++
		}
		switch {
		case lsn > c.horizon:
		case !h.OwnsEnd(tli, lsn):
			cur.dead = append(cur.dead, it.Item().KeyCopy(nil))
		default:
			cur.lsns = append(cur.lsns, lsn)
			cur.tlis = append(cur.tlis, tli)
		}
	}
	if cur != nil {
		return c.add(*cur)
	}
	return nil
}

// add batches a page, collecting the batch once it holds 1024.
func (c *collector) add(o oldVersions) error {
	c.batch = append(c.batch, o)
	if len(c.batch) < 1024 {
		return nil
	}
	return c.flush()
}

// flush collects the batch's pages in one writer.
func (c *collector) flush() error {
	w := c.s.NewWriter()
	for _, o := range c.batch {
		if err := c.collect(w, o); err != nil {
			return err
		}
	}
	c.batch = c.batch[:0]
	return w.Commit()
}

// collect makes the version a read at the horizon gets of one page an
// image (if it is records) and deletes the older ones.
func (c *collector) collect(w *Writer, o oldVersions) error {
	for _, k := range o.dead {
		w.del(k)
		c.st.Deleted++
	}
	if len(o.lsns) < 2 && !o.seg {
		return nil
	}
	chain, tail, err := c.read(o)
	if err != nil {
		return err
	}
	if len(chain) == 0 {
		return nil
	}
	at := chain[0].lsn // the version a read at the horizon gets
	owner, tli := c.s.TimeLineHistory().OwnerOfEnd(at), w.tli
	defer func() { w.tli = tli }()
	w.tli = owner // the image replaces versions of the timeline that owns at
	if chain[0].kind == KindRecord || chain[0].kind == KindRecordImage {
		page, _, err := c.s.replay(o.tag, c.horizon, chain, nil)
		var ue *UnavailableError
		switch {
		case err == nil:
			w.PutImage(o.tag, at, page)
		case errors.As(err, &ue):
			w.PutUnavailable(o.tag, at, ue.Reason)
		default:
			return fmt.Errorf("gc %s at %s: %w", o.tag, c.horizon, err)
		}
		c.st.Rewritten++
	}
	if len(tail) > 0 {
		w.tli = o.tlis[len(o.tlis)-1] // the tail stays on its key's timeline
		recs := make([]packRec, len(tail))
		for i, r := range tail { // KindRecord values: start LSN, record
			recs[i] = packRec{start: schema.LSN(binary.BigEndian.Uint64(r.value)), end: r.lsn, raw: w.addRaw(r.value[8:])}
		}
		w.putPack(o.tag, recs)
	}
	// Written before the deletes: a reader between two commits
	// of an oversized transaction sees the record twice at most,
	// and versionChain skips the second.
	for i, l := range o.lsns {
		if l != at || o.tlis[i] != owner {
			w.del(pageKey(o.tag, l, o.tlis[i]))
			c.st.Deleted++
		}
	}
	return nil
}

// read returns the version chain a read of the page at the horizon
// replays and the tail: the records above the horizon in the newest key
// at or below it. That key may be a pack whose later records are above
// the horizon: those stay, as a pack of their own above the image.
func (c *collector) read(o oldVersions) (chain, tail []version, err error) {
	err = c.s.db.View(func(txn *badger.Txn) error {
		var err error
		if chain, err = c.s.versionChain(txn, c.s.TimeLineHistory(), o.tag, c.horizon); err != nil || len(o.lsns) == 0 {
			return err
		}
		keep := o.lsns[len(o.lsns)-1]
		item, err := txn.Get(pageKey(o.tag, keep, o.tlis[len(o.tlis)-1]))
		if err != nil {
			return err
		}
		v, err := valueOf(item)
		if err != nil || len(v) == 0 || v[0] != KindRecords {
			return err
		}
		recs, err := unpack(v)
		if err != nil {
			return fmt.Errorf("page %s version %s: %w", o.tag, o.lsns[len(o.lsns)-1], err)
		}
		for _, r := range recs {
			if r.lsn > c.horizon {
				tail = append(tail, r)
			}
		}
		return nil
	})
	return chain, tail, err
}
