package redo

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/pagemill/pagemill/schema"
)

// GIN compressed posting lists (access/gin/ginpostinglist.c). A segment
// (GinPostingList) is the first item pointer, raw, then nbytes of varbyte
// deltas between consecutive items, each item taken as the integer
// block<<11 | offset; an odd nbytes is followed by a zero pad byte.

const (
	ginOffsetBits       = 11 // MaxHeapTuplesPerPageBits
	ginMaxBytesPerInt   = 7  // MaxBytesPerInteger
	sizeOfGinPostingHdr = schema.SizeOfGinPostingListHeader
)

// errGinPostingList reports a posting list PostgreSQL would not write (a
// varbyte integer running past the segment, items out of order).
var errGinPostingList = errors.New("malformed GIN posting list")

// ginTID is an ItemPointerData as the posting list code sees it.
type ginTID struct {
	blk uint32
	off uint16
}

func ginTIDAt(b []byte) ginTID {
	return ginTID{blk: uint32(binary.LittleEndian.Uint16(b))<<16 | uint32(binary.LittleEndian.Uint16(b[2:])), off: binary.LittleEndian.Uint16(b[4:])}
}

func (t ginTID) put(b []byte) {
	binary.LittleEndian.PutUint16(b, uint16(t.blk>>16))
	binary.LittleEndian.PutUint16(b[2:], uint16(t.blk))
	binary.LittleEndian.PutUint16(b[4:], t.off)
}

// cmp is ginCompareItemPointers.
func (t ginTID) cmp(u ginTID) int {
	switch {
	case t.blk < u.blk:
		return -1
	case t.blk > u.blk:
		return 1
	case t.off < u.off:
		return -1
	case t.off > u.off:
		return 1
	}
	return 0
}

// u64 is itemptr_to_uint64: the offset is ORed in unmasked, as there.
func (t ginTID) u64() uint64 { return uint64(t.blk)<<ginOffsetBits | uint64(t.off) }

// ginTIDFromU64 is uint64_to_itemptr.
func ginTIDFromU64(v uint64) ginTID {
	return ginTID{blk: uint32(v >> ginOffsetBits), off: uint16(v & (1<<ginOffsetBits - 1))}
}

// ginEncodeVarbyte is encode_varbyte: it writes v to dst and returns the
// bytes written (at most 10 for a full uint64, 7 for a 43-bit value).
func ginEncodeVarbyte(dst []byte, v uint64) int {
	n := 0
	for v > 0x7F {
		dst[n] = 0x80 | byte(v&0x7F)
		v >>= 7
		n++
	}
	dst[n] = byte(v)
	return n + 1
}

// ginDecodeVarbyte is decode_varbyte: the seventh byte contributes all its
// bits. It reports false when src ends inside the integer.
func ginDecodeVarbyte(src []byte) (uint64, int, bool) {
	var v uint64
	for i := 0; i < ginMaxBytesPerInt; i++ {
		if i >= len(src) {
			return 0, 0, false
		}
		c := uint64(src[i])
		if i == ginMaxBytesPerInt-1 {
			return v | c<<42, i + 1, true
		}
		v |= (c & 0x7F) << (7 * i)
		if c&0x80 == 0 {
			return v, i + 1, true
		}
	}
	panic("unreachable")
}

// ginSegmentReader decodes the items of one GinPostingList segment
// (ginPostingListDecode), one at a time.
type ginSegmentReader struct {
	seg   []byte // the varbyte data still to read
	val   uint64
	first ginTID
	start bool
}

// newGinSegmentReader reads the segment at the start of seg, which must
// hold its header and nbytes of data.
func newGinSegmentReader(seg []byte) (ginSegmentReader, bool) {
	if len(seg) < sizeOfGinPostingHdr {
		return ginSegmentReader{}, false
	}
	nbytes := int(binary.LittleEndian.Uint16(seg[6:]))
	if sizeOfGinPostingHdr+nbytes > len(seg) {
		return ginSegmentReader{}, false
	}
	first := ginTIDAt(seg)
	return ginSegmentReader{seg: seg[sizeOfGinPostingHdr : sizeOfGinPostingHdr+nbytes], first: first, val: first.u64(), start: true}, true
}

// next returns the next item; ok is false at the end, err set when a
// varbyte integer runs past the segment's data.
func (r *ginSegmentReader) next() (t ginTID, ok bool, err error) {
	if r.start {
		r.start = false
		return r.first, true, nil
	}
	if len(r.seg) == 0 {
		return ginTID{}, false, nil
	}
	d, n, good := ginDecodeVarbyte(r.seg)
	if !good {
		return ginTID{}, false, fmt.Errorf("%w: varbyte integer runs past the segment", errGinPostingList)
	}
	r.seg = r.seg[n:]
	r.val += d
	return ginTIDFromU64(r.val), true, nil
}

// ginSegmentWriter is ginCompressPostingList writing into dst, item by
// item: once an item does not fit in maxsize, it and all later ones are
// left out, as PostgreSQL leaves them out. Every call is given the same
// dst; the writer does not hold it, so that a caller's array for it can
// stay on the stack.
type ginSegmentWriter struct {
	end   int // maxsize rounded down to even
	pos   int
	prev  uint64
	count int
	full  bool
}

// start begins a segment in dst with first; maxsize is
// ginCompressPostingList's (dst must have room for it).
func (w *ginSegmentWriter) start(dst []byte, maxsize int, first ginTID) {
	*w = ginSegmentWriter{end: maxsize &^ 1, pos: sizeOfGinPostingHdr, prev: first.u64(), count: 1}
	first.put(dst)
}

// add appends t. Items must be strictly increasing as integers (an Assert
// in PostgreSQL, which would otherwise write a ten-byte integer past its
// buffer): add reports false for one that is not.
func (w *ginSegmentWriter) add(dst []byte, t ginTID) bool {
	if w.full {
		return true
	}
	v := t.u64()
	if v <= w.prev {
		return false
	}
	var buf [ginMaxBytesPerInt]byte
	n := ginEncodeVarbyte(buf[:], v-w.prev)
	if n > w.end-w.pos {
		w.full = true
		return true
	}
	copy(dst[w.pos:], buf[:n])
	w.pos += n
	w.prev = v
	w.count++
	return true
}

// finish writes nbytes and the pad byte and returns SizeOfGinPostingList.
func (w *ginSegmentWriter) finish(dst []byte) int {
	nbytes := w.pos - sizeOfGinPostingHdr
	binary.LittleEndian.PutUint16(dst[6:], uint16(nbytes))
	if nbytes&1 != 0 {
		dst[w.pos] = 0
		w.pos++
	}
	return w.pos
}

// ginMerger feeds a ginSegmentWriter the items of a merge, starting the
// segment with the first.
type ginMerger struct {
	w       ginSegmentWriter
	dst     []byte
	started bool
	bad     bool
}

func (m *ginMerger) emit(t ginTID) {
	switch {
	case m.bad:
	case !m.started:
		m.w.start(m.dst, schema.BLCKSZ, t)
		m.started = true
	case !m.w.add(m.dst, t):
		m.bad = true
	}
}

// emitItems emits ADDITEMS items [from, to).
func (m *ginMerger) emitItems(a *schema.GinxlogSegmentAction, from, to int) {
	for i := from; i < to; i++ {
		m.emit(ginActionItem(a, i))
	}
}

// emitRest emits t, if there is one, and the rest of r (whose errors the
// caller has excluded).
func (m *ginMerger) emitRest(t ginTID, more bool, r *ginSegmentReader) {
	for more {
		m.emit(t)
		t, more, _ = r.next()
	}
}

// ginActionItem is ADDITEMS item i.
func ginActionItem(a *schema.GinxlogSegmentAction, i int) ginTID {
	p := a.Item(i)
	return ginTID{blk: uint32(p.Block), off: uint16(p.Offset)}
}

// ginMergeSegment is what ginRedoRecompress does for an ADDITEMS action:
// ginPostingListDecode of the old segment, ginMergeItemPointers of the
// action's items (first) with those (second), and ginCompressPostingList
// of the result with maxsize BLCKSZ, streamed into dst (BLCKSZ bytes)
// without building the arrays. It returns the new segment's size, or
// false for a malformed old segment or a result out of order.
func ginMergeSegment(dst, oldseg []byte, a *schema.GinxlogSegmentAction) (int, bool) {
	r, ok := newGinSegmentReader(oldseg)
	if !ok {
		return 0, false
	}
	// ginMergeItemPointers compares the ends of the lists first; a first
	// pass finds the old segment's last item and any decoding error.
	bFirst, bLast := r.first, r.first
	for scan := r; ; {
		t, more, err := scan.next()
		if err != nil {
			return 0, false
		}
		if !more {
			break
		}
		bLast = t
	}
	m := ginMerger{dst: dst}
	na := int(a.NItems)
	t, more, _ := r.next()
	switch {
	case na == 0 || ginActionItem(a, na-1).cmp(bFirst) < 0:
		m.emitItems(a, 0, na)
		m.emitRest(t, more, &r)
	case bLast.cmp(ginActionItem(a, 0)) < 0:
		m.emitRest(t, more, &r)
		m.emitItems(a, 0, na)
	default:
		i := 0
		for i < na && more {
			ai := ginActionItem(a, i)
			switch c := ai.cmp(t); {
			case c > 0:
				m.emit(t)
				t, more, _ = r.next()
			case c == 0: // one copy, the old segment's
				m.emit(t)
				i++
				t, more, _ = r.next()
			default:
				m.emit(ai)
				i++
			}
		}
		m.emitItems(a, i, na)
		m.emitRest(t, more, &r)
	}
	if m.bad || !m.started {
		return 0, false
	}
	return m.w.finish(m.dst), true
}
