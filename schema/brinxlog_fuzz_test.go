package schema

import (
	"encoding/binary"
	"testing"
)

// FuzzDecodeXlBrin decodes arbitrary bytes as every BRIN record layout:
// no decoder may panic, each must accept exactly the inputs at least as
// long as the bytes PostgreSQL writes, and what it accepts must read back
// the fields at their offsets in brin_xlog.h.
func FuzzDecodeXlBrin(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0x80, 0, 0, 0, 1, 0})
	f.Add([]byte{3, 0, 0, 0, 0x70, 0x11, 1, 0, 4, 0, 0, 0, 9, 0})
	f.Add([]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16})
	f.Fuzz(func(t *testing.T, b []byte) {
		le := binary.LittleEndian
		u16 := func(off int) uint16 { return le.Uint16(b[off:]) }
		u32 := func(off int) BlockNumber { return BlockNumber(le.Uint32(b[off:])) }
		check := func(name string, err error, size int, fieldsOK func() bool) {
			xlFuzzCheck(t, name, len(b), err, size, fieldsOK)
		}
		c, err := DecodeXlBrinCreateidx(b)
		check("createidx", err, SizeOfBrinCreateIdx, func() bool { return c.PagesPerRange == u32(0) && c.Version == u16(4) })
		i, err := DecodeXlBrinInsert(b)
		check("insert", err, SizeOfBrinInsert, func() bool {
			return i.HeapBlk == u32(0) && i.PagesPerRange == u32(4) && uint16(i.Offnum) == u16(8)
		})
		u, err := DecodeXlBrinUpdate(b)
		check("update", err, SizeOfBrinUpdate, func() bool {
			return uint16(u.OldOffnum) == u16(0) && u.Insert.HeapBlk == u32(4) && u.Insert.PagesPerRange == u32(8) && uint16(u.Insert.Offnum) == u16(12)
		})
		s, err := DecodeXlBrinSamepageUpdate(b)
		check("samepage", err, SizeOfBrinSamepageUpdate, func() bool { return uint16(s.Offnum) == u16(0) })
		r, err := DecodeXlBrinRevmapExtend(b)
		check("revmap extend", err, SizeOfBrinRevmapExtend, func() bool { return r.TargetBlk == u32(0) })
		d, err := DecodeXlBrinDesummarize(b)
		check("desummarize", err, SizeOfBrinDesummarize, func() bool {
			return d.PagesPerRange == u32(0) && d.HeapBlk == u32(4) && uint16(d.RegOffset) == u16(8)
		})
	})
}
