package schema

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

// FuzzDecodeGistxlog decodes arbitrary bytes as every GiST record layout:
// no decoder may panic; the fixed-size structs must accept exactly the
// inputs at least as long as the bytes PostgreSQL writes and read back
// their fields at the offsets of gistxlog.h; the variable parts (offsets
// and index tuples) must, when accepted, account for every input byte,
// each tuple as long as its t_info says; every error matches ErrCorrupt.
//
//	go test ./schema -run XXX -fuzz FuzzDecodeGistxlog -fuzztime 60s
func FuzzDecodeGistxlog(f *testing.F) {
	tuple := func(key byte, size int) []byte {
		t := bytes.Repeat([]byte{key}, size)
		binary.LittleEndian.PutUint16(t[6:], uint16(size))
		return t
	}
	f.Add([]byte{})
	f.Add([]byte{0, 0, 0, 0})
	f.Add(append([]byte{1, 0, 1, 0, 2, 0}, tuple('a', 24)...))                      // overwrite
	f.Add(append([]byte{2, 0, 1, 0, 2, 0, 5, 0}, tuple('b', 16)...))                // split completion
	f.Add(append([]byte{2, 0, 0, 0}, append(tuple('c', 16), tuple('d', 24)...)...)) // split page
	f.Add([]byte{0x84, 3, 0, 0, 2, 0, 3, 0, 7, 0})                                  // delete
	f.Add(bytes.Repeat([]byte{0xEE}, 24))
	f.Fuzz(func(t *testing.T, b []byte) {
		le := binary.LittleEndian
		corrupt := func(name string, err error) {
			if err != nil && !errors.Is(err, ErrCorrupt) {
				t.Fatalf("%s: error %v does not match ErrCorrupt", name, err)
			}
		}
		check := func(name string, err error, size int, fieldsOK func() bool) {
			corrupt(name, err)
			xlFuzzCheck(t, name, len(b), err, size, fieldsOK)
		}
		// tuplesOK: the tuples are the bytes of data, back to back.
		tuplesOK := func(tuples [][]byte, data []byte) bool {
			var cat []byte
			for _, tup := range tuples {
				if len(tup) < SizeOfIndexTupleData || len(tup) != int(le.Uint16(tup[6:])&0x1FFF) {
					return false
				}
				cat = append(cat, tup...)
			}
			return bytes.Equal(cat, data)
		}

		u, err := DecodeGistxlogPageUpdate(b)
		check("gistxlogPageUpdate", err, 4, func() bool { return u.NToDelete == le.Uint16(b) && u.NToInsert == le.Uint16(b[2:]) })
		if err == nil {
			data := b[4:]
			d, err := DecodeGistxlogPageUpdateData(data, u)
			corrupt("gistxlogPageUpdate block data", err)
			if err == nil {
				n := 2 * int(u.NToDelete)
				if len(d.ToDelete) != int(u.NToDelete) || len(d.Tuples) != int(u.NToInsert) || !tuplesOK(d.Tuples, data[n:]) {
					t.Fatalf("page update data: %d offsets, %d tuples for %+v in %d bytes", len(d.ToDelete), len(d.Tuples), u, len(data))
				}
				for i, off := range d.ToDelete {
					if uint16(off) != le.Uint16(data[2*i:]) {
						t.Fatalf("offset %d", i)
					}
				}
			}
		}

		x, err := DecodeGistxlogDelete(b)
		check("gistxlogDelete", err, 6, func() bool { return x.LatestRemovedXid == le.Uint32(b) && x.NToDelete == le.Uint16(b[4:]) })
		offs, err := DecodeGistxlogDeleteOffsets(b, x)
		corrupt("gistxlogDelete offsets", err)
		if err == nil && len(b) > 6 && (len(offs) != int(x.NToDelete) || len(b) != 6+2*len(offs)) {
			t.Fatalf("delete offsets: %d for %d in %d bytes", len(offs), x.NToDelete, len(b))
		}
		if err == nil && len(b) == 6 && offs != nil {
			t.Fatal("delete offsets without bytes")
		}

		r, err := DecodeGistxlogPageReuse(b)
		check("gistxlogPageReuse", err, 24, func() bool {
			return r.Node == RelFileNode{SpcNode: le.Uint32(b), DbNode: le.Uint32(b[4:]), RelNode: le.Uint32(b[8:])} &&
				r.Block == BlockNumber(le.Uint32(b[12:])) && r.LatestRemovedFullXid == le.Uint64(b[16:])
		})

		s, err := DecodeGistxlogPageSplit(b)
		check("gistxlogPageSplit", err, 24, func() bool {
			return s.OrigRlink == BlockNumber(le.Uint32(b)) && s.OrigNSN == LSN(le.Uint64(b[8:])) && s.OrigLeaf == (b[16] != 0) &&
				s.NPage == le.Uint16(b[18:]) && s.MarkFollowRight == (b[20] != 0)
		})

		p, err := DecodeGistxlogPage(b)
		corrupt("gistxlogPage", err)
		if err == nil && (int(p.Num) != len(p.Tuples) || int32(le.Uint32(b)) != p.Num || !tuplesOK(p.Tuples, b[4:])) {
			t.Fatalf("split page: num %d, %d tuples in %d bytes", p.Num, len(p.Tuples), len(b))
		}

		pd, err := DecodeGistxlogPageDelete(b)
		check("gistxlogPageDelete", err, 10, func() bool {
			return pd.DeleteXid == le.Uint64(b) && uint16(pd.DownlinkOffset) == le.Uint16(b[8:])
		})

		a, err := DecodeGistxlogAssignLSN(b)
		check("gistxlogAssignLSN", err, 4, func() bool { return a.Dummy == int32(le.Uint32(b)) })
	})
}
