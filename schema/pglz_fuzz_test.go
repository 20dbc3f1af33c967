package schema

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"
)

// FuzzPglzDecompress feeds data to the decoder twice: as a compressed stream
// (must not panic; must agree with the naive reference decoder, and on
// success return exactly len(dst)), and as raw input to round-trip through
// the test encoder.
func FuzzPglzDecompress(f *testing.F) {
	pg, err := hex.DecodeString(pgPageCompressed)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(pg, uint16(8192))
	f.Add([]byte{0x08, 'a', 'b', 'c', 0x06, 0x03, 'X'}, uint16(13))
	f.Add([]byte{0x02, 'r', 0x0f, 0x01, 0xff}, uint16(274))
	f.Add([]byte{0x04, 'x', 'y', 0x04, 0x02}, uint16(9))
	f.Add([]byte{0x01, 0x00, 0x01}, uint16(3))
	f.Add(pglzCompressTest(heapPageLike()[:4096], pglzCompressOpts{}), uint16(4096))
	f.Add(pglzCompressTest(make([]byte, 1000), pglzCompressOpts{}), uint16(1000))
	f.Add([]byte("plain text that is not a valid stream"), uint16(40))
	f.Add([]byte{}, uint16(0))

	f.Fuzz(func(t *testing.T, data []byte, rawsize uint16) {
		// As a compressed stream.
		dst := make([]byte, rawsize)
		n, err := PglzDecompress(dst, data)
		ref := make([]byte, rawsize)
		rn := pglzDecompressRef(ref, data)
		if err != nil {
			if !errors.Is(err, ErrPglzCorrupt) {
				t.Fatalf("error does not wrap ErrPglzCorrupt: %v", err)
			}
			if n != 0 {
				t.Fatalf("n = %d with error", n)
			}
			if rn != -1 {
				t.Fatalf("rejected (%v) but reference accepted", err)
			}
		} else {
			if n != len(dst) {
				t.Fatalf("n = %d, want %d", n, len(dst))
			}
			if rn != n || !bytes.Equal(dst, ref) {
				t.Fatalf("accepted but reference gave %d / different bytes", rn)
			}
		}

		// As raw input, at most one page.
		raw := data[:min(len(data), 8192)]
		for _, o := range []pglzCompressOpts{{}, {maxChain: 1}} {
			comp := pglzCompressTest(raw, o)
			out := make([]byte, len(raw))
			n, err := PglzDecompress(out, comp)
			if err != nil || n != len(raw) || !bytes.Equal(out, raw) {
				t.Fatalf("round trip %+v: n=%d err=%v", o, n, err)
			}
		}
	})
}
