package pagestore

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"slices"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/pagemill/pagemill/schema"
)

// A segment is one writer commit's records, stored as one value instead
// of a key per page: the packs of every page the commit changed, sorted
// by page, behind a directory. Key: g | seq (8 bytes, a store-wide
// counter). Value:
//
//	version (1) | tli (4) | first (8) | last (8) | entries (4)
//	entries × [tag (17) | first (8) | last (8) | offset (4) | length (4)]
//	the packs' bytes (as a KindRecords value holds them after its kind byte)
//
// first and last are end LSNs of records; the directory is sorted by
// tag, then first. The store keeps where each page's packs are in
// memory (segIndex), rebuilt from the directories when it opens.
const (
	prefixSegment  = 'g'
	segmentVersion = 1
	segHeaderLen   = 1 + 4 + 8 + 8 + 4
	segEntryLen    = tagLen + 8 + 8 + 4 + 4
)

func segmentKey(seq uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte{prefixSegment}, seq)
}

// segPack is a page's pack on its way into a segment.
type segPack struct {
	tag schema.BufferTag
	*pack
}

// encodeSegment encodes packs (sorted here) as a segment value, in buf
// when it is large enough.
func encodeSegment(buf []byte, tli schema.TimeLineID, packs []segPack, raws [][]byte) []byte {
	slices.SortFunc(packs, func(a, b segPack) int {
		if c := compareTags(a.tag, b.tag); c != 0 {
			return c
		}
		return cmp.Compare(a.recs[0].end, b.recs[0].end)
	})
	size := segHeaderLen + len(packs)*segEntryLen
	first, last := schema.LSN(^uint64(0)), schema.LSN(0)
	for _, p := range packs {
		size += p.size
		first, last = min(first, p.recs[0].end), max(last, p.recs[len(p.recs)-1].end)
	}
	if cap(buf) < size {
		buf = make([]byte, 0, size)
	}
	v := buf[:segHeaderLen+len(packs)*segEntryLen]
	be := binary.BigEndian
	v[0] = segmentVersion
	be.PutUint32(v[1:], uint32(tli))
	be.PutUint64(v[5:], uint64(first))
	be.PutUint64(v[13:], uint64(last))
	be.PutUint32(v[21:], uint32(len(packs)))
	for i, p := range packs {
		off := len(v)
		v = appendPack(v, p.recs, raws)
		e := v[segHeaderLen+i*segEntryLen:]
		putTag(e, p.tag)
		be.PutUint64(e[tagLen:], uint64(p.recs[0].end))
		be.PutUint64(e[tagLen+8:], uint64(p.recs[len(p.recs)-1].end))
		be.PutUint32(e[tagLen+16:], uint32(off))
		be.PutUint32(e[tagLen+20:], uint32(len(v)-off))
	}
	return v
}

// appendPack appends records (oldest first, their bytes in raws) in the
// pack encoding: end LSN, length, then a KindRecord value (start LSN,
// record).
func appendPack(v []byte, recs []packRec, raws [][]byte) []byte {
	for _, r := range recs {
		raw := raws[r.raw]
		v = binary.BigEndian.AppendUint64(v, uint64(r.end))
		v = binary.BigEndian.AppendUint32(v, uint32(8+len(raw)))
		v = binary.BigEndian.AppendUint64(v, uint64(r.start))
		v = append(v, raw...)
	}
	return v
}

// compareTags orders tags as their keys do (putTag).
func compareTags(a, b schema.BufferTag) int {
	return cmp.Or(cmp.Compare(a.Rel.DbNode, b.Rel.DbNode), cmp.Compare(a.Rel.SpcNode, b.Rel.SpcNode),
		cmp.Compare(a.Rel.RelNode, b.Rel.RelNode), cmp.Compare(uint8(a.Fork), uint8(b.Fork)), cmp.Compare(a.Block, b.Block))
}

// segment is a decoded segment header over its value.
type segment struct {
	tli         schema.TimeLineID
	first, last schema.LSN
	entries     int
	v           []byte
}

func parseSegment(seq uint64, v []byte) (segment, error) {
	if len(v) < segHeaderLen || v[0] != segmentVersion {
		return segment{}, fmt.Errorf("segment %d: %d bytes, version %v: not a segment of version %d", seq, len(v), v[:min(len(v), 1)], segmentVersion)
	}
	be := binary.BigEndian
	g := segment{tli: schema.TimeLineID(be.Uint32(v[1:])), first: schema.LSN(be.Uint64(v[5:])), last: schema.LSN(be.Uint64(v[13:])), entries: int(be.Uint32(v[21:])), v: v}
	if len(v) < segHeaderLen+g.entries*segEntryLen {
		return segment{}, fmt.Errorf("segment %d: %d entries do not fit in %d bytes", seq, g.entries, len(v))
	}
	return g, nil
}

func (g segment) entry(i int) []byte { return g.v[segHeaderLen+i*segEntryLen:][:segEntryLen] }

// segMeta is a segment's place and LSN range.
type segMeta struct {
	seq         uint64
	tli         schema.TimeLineID
	first, last schema.LSN
	file        uint32 // its segment file (0: a value of its own)
}

// packLoc is a directory entry as the index takes it.
type packLoc struct {
	tag         schema.BufferTag
	off, n      uint32
	first, last schema.LSN
}

// locs returns the segment's directory.
func (g segment) locs() []packLoc {
	out := make([]packLoc, g.entries)
	be := binary.BigEndian
	for i := range out {
		e := g.entry(i)
		out[i] = packLoc{tag: getTag(e), first: schema.LSN(be.Uint64(e[tagLen:])), last: schema.LSN(be.Uint64(e[tagLen+8:])),
			off: be.Uint32(e[tagLen+16:]), n: be.Uint32(e[tagLen+20:])}
	}
	return out
}

// lsnOffset is l - base capped at 32 bits.
func lsnOffset(l, base schema.LSN) uint32 {
	if l <= base {
		return 0
	}
	return uint32(min(uint64(l-base), math.MaxUint32))
}

// segPackRef is a pack of a page with its segment.
type segPackRef struct {
	segMeta
	off, n uint32
}

// loadSegments builds the index from the stored segments.
func (s *Store) loadSegments() error {
	began := time.Now()
	x := newSegIndex()
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: false, Prefix: []byte{prefixSegment}})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			item := it.Item()
			if len(item.Key()) != 9 {
				continue
			}
			seq := binary.BigEndian.Uint64(item.Key()[1:])
			err := item.Value(func(v []byte) error {
				g, file, err := s.segmentDirectory(seq, v)
				if err != nil {
					return err
				}
				x.add(seq, g, g.locs(), file)
				return nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("page store %s: load segments: %w", s.opts.Dir, err)
	}
	s.segs = x
	if s.files != nil {
		for _, m := range x.segs {
			s.files.counted(m.file)
		}
		s.files.removed(nil) // the files no key points into: what a crash left
	}
	if len(x.segs) > 0 {
		segs, packs := x.size()
		s.log.Info("page index loaded", "segments", segs, "packs", packs, "pages", x.pageCount(), "seconds", time.Since(began).Seconds())
	}
	return nil
}

// IndexSize returns how many segments the page index knows and how many
// packs of pages it locates in them (about 24 bytes of memory each, and
// the pages' map).
func (s *Store) IndexSize() (segments, packs int) { return s.segs.size() }

// segmentRecords appends to chain the records of tag with an LSN in
// (after, upTo] that the segments hold (copies: the chain outlives txn),
// passing over records of timelines that do not own their LSN in h. With
// atLeast > 0 it stops after the pack that brings that many: a page's
// packs are indexed in the order they were committed, which is LSN order,
// so those are the oldest. With snapshot, a segment txn does not have
// was committed after it (see versionChainIn) and is passed over.
func (s *Store) segmentRecords(txn *badger.Txn, h schema.TimeLineHistory, tag schema.BufferTag, after, upTo schema.LSN, atLeast int, chain []version, snapshot bool) ([]version, error) {
	start := len(chain)
	for _, r := range s.segs.of(tag, after, upTo) {
		if atLeast > 0 && len(chain)-start >= atLeast {
			break
		}
		item, err := txn.Get(segmentKey(r.seq))
		if snapshot && errors.Is(err, badger.ErrKeyNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("segment %d of page %s: %w", r.seq, tag, err)
		}
		err = item.Value(func(v []byte) error {
			body, owned, err := s.packBytes(v, r.seq, r.off, r.n)
			if err != nil {
				return fmt.Errorf("segment %d of page %s: %w", r.seq, tag, err)
			}
			recs, err := unpackBody(body)
			if err != nil {
				return fmt.Errorf("segment %d page %s: %w", r.seq, tag, err)
			}
			for _, rec := range recs {
				if rec.lsn > after && rec.lsn <= upTo && h.OwnsEnd(r.tli, rec.lsn) {
					if !owned {
						rec.value = bytes.Clone(rec.value)
					}
					chain = append(chain, rec)
				}
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return chain, nil
}

// segmentDirectory reads a segment key's value: the segment itself (in
// memory, or a store of format 3), or where it is in the segment files
// (on disk), whose header and directory it reads and checks. It returns
// the segment (its header and directory) and its file (0: none).
func (s *Store) segmentDirectory(seq uint64, v []byte) (segment, uint32, error) {
	if len(v) == 0 || v[0] != segPointerVersion {
		g, err := parseSegment(seq, v)
		return g, 0, err
	}
	p, err := parseSegPointer(seq, v)
	if err != nil {
		return segment{}, 0, err
	}
	if s.files == nil {
		return segment{}, 0, fmt.Errorf("segment %d: in a segment file, and the store has none (in memory)", seq)
	}
	if p.n < segHeaderLen {
		return segment{}, 0, fmt.Errorf("segment %d: %d bytes in segment file %d at %d, shorter than a segment header", seq, p.n, p.file, p.off)
	}
	head := make([]byte, segHeaderLen)
	if err := s.files.readAt(p.file, p.off, head); err != nil {
		return segment{}, 0, fmt.Errorf("segment %d: %w", seq, err)
	}
	n := segHeaderLen + int(binary.BigEndian.Uint32(head[21:]))*segEntryLen
	if n > int(p.n) {
		return segment{}, 0, fmt.Errorf("segment %d in segment file %d at %d: a directory of %d bytes in a segment of %d", seq, p.file, p.off, n, p.n)
	}
	dir := append(head, make([]byte, n-segHeaderLen)...) // the entries after the header read above
	if err := s.files.readAt(p.file, p.off+segHeaderLen, dir[segHeaderLen:]); err != nil {
		return segment{}, 0, fmt.Errorf("segment %d: %w", seq, err)
	}
	if c := crc32.Checksum(dir, castagnoli); c != p.crc {
		return segment{}, 0, fmt.Errorf("segment %d in segment file %d at %d: header and directory have checksum %08x, the key says %08x: damaged or lost in a crash; rebuild the page store from the streams (pagemill rebuild --force)",
			seq, p.file, p.off, c, p.crc)
	}
	g, err := parseSegment(seq, dir)
	return g, p.file, err
}

// packBytes returns the n bytes at off of a segment whose key has value v,
// and whether they are the caller's (read from a segment file) rather
// than v's.
func (s *Store) packBytes(v []byte, seq uint64, off, n uint32) ([]byte, bool, error) {
	end := int(off) + int(n)
	if len(v) > 0 && v[0] == segPointerVersion && s.files != nil {
		p, err := parseSegPointer(seq, v)
		if err != nil {
			return nil, false, err
		}
		if int(off) < segHeaderLen || end > int(p.n) {
			return nil, false, fmt.Errorf("pack at %d+%d, the segment has %d bytes", off, n, p.n)
		}
		b := make([]byte, n)
		if err := s.files.readAt(p.file, p.off+int64(off), b); err != nil {
			return nil, false, err
		}
		return b, true, nil
	}
	if len(v) < segHeaderLen || v[0] != segmentVersion || int(off) < segHeaderLen || end > len(v) {
		return nil, false, fmt.Errorf("pack at %d+%d, the value has %d bytes and version %d", off, n, len(v), v[:min(1, len(v))])
	}
	return v[off:end], false, nil
}
