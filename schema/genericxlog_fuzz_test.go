package schema

import (
	"bytes"
	"testing"
)

// FuzzDecodeGenericDelta decodes arbitrary bytes as a generic WAL delta:
// no panic; an accepted delta's fragments lie inside the page and,
// re-encoded, give back exactly the input; and the description walk over
// the same bytes (generic_desc) does not panic either.
func FuzzDecodeGenericDelta(f *testing.F) {
	f.Add([]byte{})
	f.Add(append(genericFrag(12, 0x40, 0), genericFrag(8184, 0, 0, 0, 0, 0x93, 0xf0, 0, 0)...))
	f.Add(genericFrag(8190, 1, 2, 3))
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := DecodeGenericDelta(b)
		if err == nil {
			var re []byte
			for _, fr := range d {
				if int(fr.Offset)+int(fr.Length) > BLCKSZ || len(fr.Data) != int(fr.Length) {
					t.Fatalf("fragment %+v outside the page or with %d bytes", fr, len(fr.Data))
				}
				re = append(re, genericFrag(fr.Offset, fr.Data...)...)
			}
			if !bytes.Equal(re, b) {
				t.Fatalf("re-encoded delta differs")
			}
		}
		ctx := descCtx{data: b}
		_ = ctx.generic(nil)
	})
}
