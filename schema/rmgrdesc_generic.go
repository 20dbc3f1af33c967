package schema

import "fmt"

// Generic WAL record descriptions (genericdesc.c).

// generic walks delta fragments over the main data, as generic_desc does.
// PostgreSQL's generic records keep their deltas in block data and have no
// main data, so this normally prints nothing. Like generic_desc it does
// not check that a fragment's bytes are there: it prints the header and
// stops at the end of the data.
func (d *descCtx) generic(b []byte) []byte {
	for p := 0; p < len(d.data); {
		offset, length, next, ok := genericFragmentHeader(d.data, p)
		if !ok {
			return rdTruncated(b)
		}
		p = next
		if p < len(d.data) {
			b = fmt.Appendf(b, "offset %d, length %d; ", offset, length)
		} else {
			b = fmt.Appendf(b, "offset %d, length %d", offset, length)
		}
	}
	return b
}
