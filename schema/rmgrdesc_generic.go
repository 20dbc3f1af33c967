package schema

import "fmt"

// Generic WAL record descriptions (genericdesc.c).

// generic walks (offset u16, length u16, bytes) fragments of the main data;
// PostgreSQL's generic WAL puts its fragments in block data, so this
// normally prints nothing.
func (d *descCtx) generic(b []byte) []byte {
	rec := d.data
	p := 0
	for p < len(rec) {
		if p+4 > len(rec) {
			return rdTruncated(b)
		}
		offset, length := rdU16(rec, p), rdU16(rec, p+2)
		p += 4 + int(length)
		if p < len(rec) {
			b = fmt.Appendf(b, "offset %d, length %d; ", offset, length)
		} else {
			b = fmt.Appendf(b, "offset %d, length %d", offset, length)
		}
	}
	return b
}
