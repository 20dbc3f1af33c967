package schema

import (
	"encoding/binary"
	"fmt"
)

// Test-only pglz encoder. It writes the same wire format as PostgreSQL's
// pglz_compress but with its own (greedy, hash-chain) match search, so its
// output is valid but not byte-identical to PostgreSQL's.

const (
	pglzMinMatch  = 3
	pglzMaxMatch  = 273
	pglzMaxOffset = 4095 // largest offset the 12-bit tag field can carry
)

// pglzWriter emits items, allocating a control byte at the start of every
// group of 8 items the way pglz_compress does.
type pglzWriter struct {
	out     []byte
	ctrlPos int
	nbits   uint
}

func (w *pglzWriter) flag(match bool) {
	if w.nbits == 0 {
		w.ctrlPos = len(w.out)
		w.out = append(w.out, 0)
	}
	if match {
		w.out[w.ctrlPos] |= 1 << w.nbits
	}
	w.nbits = (w.nbits + 1) & 7
}

func (w *pglzWriter) literal(b byte) {
	w.flag(false)
	w.out = append(w.out, b)
}

// match writes a tag without range checks so tests can also build streams
// that only a broken encoder would produce (e.g. offset 0). Values that do
// not fit the fields are truncated to them.
func (w *pglzWriter) match(off, n int) {
	w.flag(true)
	hi := byte(off>>4) & 0xf0
	if n >= 18 {
		w.out = append(w.out, hi|0x0f, byte(off), byte(n-18))
	} else {
		w.out = append(w.out, hi|byte(n-3)&0x0f, byte(off))
	}
}

// pglzCompressOpts tunes the test encoder.
type pglzCompressOpts struct {
	maxOffset int // 0 means pglzMaxOffset; PostgreSQL itself stops at 4094
	maxChain  int // candidates examined per position; 0 means 64
}

// pglzCompressTest encodes src. Unlike pglz_compress it never gives up on
// incompressible input, so the result may be larger than src.
func pglzCompressTest(src []byte, o pglzCompressOpts) []byte {
	maxOff := o.maxOffset
	if maxOff <= 0 || maxOff > pglzMaxOffset {
		maxOff = pglzMaxOffset
	}
	maxChain := o.maxChain
	if maxChain <= 0 {
		maxChain = 64
	}

	const hashBits = 12
	var head [1 << hashBits]int32
	for i := range head {
		head[i] = -1
	}
	prev := make([]int32, len(src))
	hash := func(i int) int {
		v := uint32(src[i]) | uint32(src[i+1])<<8 | uint32(src[i+2])<<16
		return int((v * 2654435761) >> (32 - hashBits))
	}
	insert := func(i int) {
		if i+pglzMinMatch > len(src) {
			return
		}
		h := hash(i)
		prev[i] = head[h]
		head[h] = int32(i)
	}

	w := &pglzWriter{out: make([]byte, 0, len(src)+len(src)/8+4)}
	for i := 0; i < len(src); {
		bestLen, bestOff := 0, 0
		if i+pglzMinMatch <= len(src) {
			limit := min(pglzMaxMatch, len(src)-i)
			cand := head[hash(i)]
			for c := 0; cand >= 0 && c < maxChain; c++ {
				off := i - int(cand)
				if off > maxOff {
					break
				}
				// Comparing forward from cand may run into bytes at or past
				// i: that is the overlapping-match case the decoder must
				// reproduce byte by byte.
				n := 0
				for n < limit && src[int(cand)+n] == src[i+n] {
					n++
				}
				if n > bestLen {
					bestLen, bestOff = n, off
					if n == limit {
						break
					}
				}
				cand = prev[cand]
			}
		}
		if bestLen >= pglzMinMatch {
			w.match(bestOff, bestLen)
			for j := 0; j < bestLen; j++ {
				insert(i + j)
			}
			i += bestLen
		} else {
			w.literal(src[i])
			insert(i)
			i++
		}
	}
	return w.out
}

// pglzDecompressRef is a deliberately naive transcription of the decoding
// rules (one byte at a time, no copy()), used as an oracle in differential
// tests. It returns -1 wherever PostgreSQL's pglz_decompress does.
func pglzDecompressRef(dst, src []byte) int {
	sp, dp := 0, 0
	for sp < len(src) && dp < len(dst) {
		ctrl := src[sp]
		sp++
		for k := 0; k < 8 && sp < len(src) && dp < len(dst); k++ {
			if ctrl&(1<<k) == 0 {
				dst[dp] = src[sp]
				dp++
				sp++
				continue
			}
			if sp+2 > len(src) {
				return -1
			}
			n := int(src[sp]&0x0f) + 3
			off := int(src[sp]>>4)*256 + int(src[sp+1])
			sp += 2
			if n == 18 {
				if sp >= len(src) {
					return -1
				}
				n += int(src[sp])
				sp++
			}
			if off == 0 || off > dp {
				return -1
			}
			for ; n > 0 && dp < len(dst); n-- {
				dst[dp] = dst[dp-off]
				dp++
			}
		}
	}
	if dp != len(dst) || sp != len(src) {
		return -1
	}
	return dp
}

// heapPageLike builds a deterministic 8 KiB buffer shaped like a PostgreSQL
// heap page: a page header, a line-pointer array growing up, and tuples
// growing down from the end, each tuple a 24-byte header plus
// (int4 id, int4 counter, varlena text). Neighbouring tuples differ only in
// a few bytes, which is what makes real full-page images compress well.
func heapPageLike() []byte {
	const (
		blcksz   = 8192
		hdrSize  = 24
		tupHoff  = 24
		itemSize = 4
	)
	page := make([]byte, blcksz)
	le := binary.LittleEndian
	lower, upper := hdrSize, blcksz
	seed := uint32(12345)
	for id := 1; ; id++ {
		seed = seed*1664525 + 1013904223
		text := fmt.Sprintf("customer-%06d status=active region=%d", id, seed>>29)
		dataLen := 4 + 4 + 1 + len(text) // 1-byte varlena header for short text
		tupLen := tupHoff + dataLen
		aligned := (tupLen + 7) &^ 7
		if upper-aligned < lower+itemSize {
			break
		}
		upper -= aligned
		t := page[upper : upper+tupLen]
		le.PutUint32(t[0:], 731)              // t_xmin
		le.PutUint32(t[4:], 0)                // t_xmax
		le.PutUint32(t[8:], 0)                // t_cid
		le.PutUint32(t[12:], 0)               // t_ctid block
		le.PutUint16(t[16:], uint16(id))      // t_ctid offset
		le.PutUint16(t[18:], 3)               // t_infomask2: natts
		le.PutUint16(t[20:], 0x0902)          // t_infomask
		t[22] = tupHoff                       // t_hoff
		le.PutUint32(t[24:], uint32(id))      // id
		le.PutUint32(t[28:], seed&0xffff)     // counter
		t[32] = byte((len(text)+1)<<1 | 0x01) // short varlena header
		copy(t[33:], text)

		lp := uint32(upper) | 1<<15 | uint32(tupLen)<<17 // LP_NORMAL
		le.PutUint32(page[lower:], lp)
		lower += itemSize
	}
	le.PutUint64(page[0:], 0x0000000101a2b3c8) // pd_lsn
	le.PutUint16(page[12:], uint16(lower))
	le.PutUint16(page[14:], uint16(upper))
	le.PutUint16(page[16:], blcksz)
	le.PutUint16(page[18:], blcksz|4)
	return page
}
