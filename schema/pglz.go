package schema

import (
	"errors"
	"fmt"
)

// ErrPglzCorrupt is returned (wrapped) by PglzDecompress for any input that
// PostgreSQL's pglz_decompress would reject. Match it with errors.Is.
var ErrPglzCorrupt = errors.New("pglz: corrupt compressed data")

// PglzDecompress decodes src, a stream produced by PostgreSQL's
// pglz_compress (src/common/pg_lzcompress.c), into dst. len(dst) is the
// expected raw size; for a WAL full-page image that is BLCKSZ minus the hole
// length.
//
// It accepts and rejects exactly what PostgreSQL 15's
// pglz_decompress(src, len(src), dst, len(dst), check_complete=true) does:
// the stream must fill dst exactly and be consumed exactly. A match that
// reaches past the end of dst is clamped to fit, as PostgreSQL does; that is
// only accepted if it is the last item of the stream, because any further
// input is then left unconsumed.
//
// On success it returns len(dst). On failure it returns 0 and an error
// wrapping ErrPglzCorrupt; dst may then hold partial output. It never reads
// or writes outside src and dst.
//
// Format: a control byte supplies flags for the next 8 items, least
// significant bit first. A clear bit is one literal byte. A set bit is a
// back-reference tag of 2 or 3 bytes:
//
//	T1 = offset[11:8]<<4 | (length-3)   (length nibble 0..14 → length 3..17)
//	T2 = offset[7:0]
//	T3 = length-18, present only when the length nibble is 15 (length 18..273)
//
// The offset (1..4095) counts back from the current output position.
func PglzDecompress(dst, src []byte) (int, error) {
	sp, dp := 0, 0
	slen, dlen := len(src), len(dst)

	for sp < slen && dp < dlen {
		ctrl := src[sp]
		sp++
		for i := 0; i < 8 && sp < slen && dp < dlen; i++ {
			if ctrl&1 == 0 {
				dst[dp] = src[sp]
				dp++
				sp++
				ctrl >>= 1
				continue
			}

			tag := sp
			if slen-sp < 2 {
				return 0, pglzErr(tag, dp, "truncated match tag")
			}
			t1 := src[sp]
			n := int(t1&0x0f) + 3
			off := int(t1&0xf0)<<4 | int(src[sp+1])
			sp += 2
			if n == 18 {
				if sp >= slen {
					return 0, pglzErr(tag, dp, "truncated match length byte")
				}
				n += int(src[sp])
				sp++
			}
			// off == 0 would never advance the copy source; off > dp would
			// read before the start of the output.
			if off == 0 {
				return 0, pglzErr(tag, dp, "match offset 0")
			}
			if off > dp {
				return 0, pglzErr(tag, dp, fmt.Sprintf("match offset %d before start of output", off))
			}
			// PostgreSQL silently trims a match that would overrun rawsize.
			if n > dlen-dp {
				n = dlen - dp
			}

			// An overlapping match (off < n) repeats the last off bytes, as in
			// run-length encoding. copy() has memmove semantics, which would
			// not re-read bytes this match just produced, so copy only
			// non-overlapping chunks: after each chunk the repeated pattern
			// is twice as long, so the chunk size can double, keeping the
			// source start fixed. Long runs (zeroed page areas) then cost
			// O(log n) copies instead of n single-byte stores.
			from := dp - off
			for off < n {
				copy(dst[dp:dp+off], dst[from:from+off])
				dp += off
				n -= off
				off += off
			}
			copy(dst[dp:dp+n], dst[from:from+n])
			dp += n
			ctrl >>= 1
		}
	}

	if dp != dlen {
		return 0, pglzErr(sp, dp, fmt.Sprintf("output incomplete: %d of %d bytes", dp, dlen))
	}
	if sp != slen {
		return 0, pglzErr(sp, dp, fmt.Sprintf("%d trailing input bytes after output filled", slen-sp))
	}
	return dp, nil
}

// pglzErr is kept out of line so the decode loop stays small.
//
//go:noinline
func pglzErr(in, out int, what string) error {
	return fmt.Errorf("%s at input offset %d, output offset %d: %w", what, in, out, ErrPglzCorrupt)
}
