package schema

import (
	"encoding/binary"
	"math"
	"testing"
)

// FuzzDecodeXlHash decodes arbitrary bytes as every Hash record layout and
// variable-length part, and describes them as each opcode: nothing may
// panic, each fixed struct must accept exactly the inputs at least as long
// as the bytes PostgreSQL writes and read its fields at their offsets in
// hash_xlog.h, and what the array decoders accept must account for the
// bytes they were given.
func FuzzDecodeXlHash(f *testing.F) {
	f.Add(uint8(0x70), uint16(2), []byte{2, 0, 3, 0, 0, 0, 0, 0, 0, 0, 16, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 12, 0, 2, 0, 0, 0, 0, 0, 0, 0})
	f.Add(uint8(0x40), uint16(0), []byte{9, 0, 0, 0, 0x22, 0, 0x12, 0, 3, 7, 0, 0, 0, 15, 0, 0, 0})
	f.Add(uint8(0xC0), uint16(1), []byte{0x84, 3, 0, 0, 2, 0, 0, 0, 4, 0, 6, 0})
	f.Add(uint8(0x80), uint16(1), []byte{5, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 1, 0, 1, 0})
	f.Add(uint8(0x00), uint16(0), []byte{0, 0, 0, 0, 0, 0xA8, 0xA1, 0x40, 0xC2, 1, 0, 0, 0x33, 1})
	f.Add(uint8(0x20), uint16(0), []byte{})
	f.Fuzz(func(t *testing.T, info uint8, ntups uint16, b []byte) {
		le := binary.LittleEndian
		u16 := func(off int) uint16 { return le.Uint16(b[off:]) }
		u32 := func(off int) uint32 { return le.Uint32(b[off:]) }
		f64 := func(off int) uint64 { return le.Uint64(b[off:]) }
		check := func(name string, err error, size int, fieldsOK func() bool) {
			xlFuzzCheck(t, name, len(b), err, size, fieldsOK)
		}
		im, err := DecodeXlHashInitMetaPage(b)
		check("init meta", err, SizeOfHashInitMetaPage, func() bool {
			return math.Float64bits(im.NumTuples) == f64(0) && im.Procid == u32(8) && im.Ffactor == u16(12)
		})
		ib, err := DecodeXlHashInitBitmapPage(b)
		check("init bitmap", err, SizeOfHashInitBitmapPage, func() bool { return ib.Bmsize == u16(0) })
		in, err := DecodeXlHashInsert(b)
		check("insert", err, SizeOfHashInsert, func() bool { return uint16(in.Offnum) == u16(0) })
		ao, err := DecodeXlHashAddOvflPage(b)
		check("add ovfl", err, SizeOfHashAddOvflPage, func() bool { return ao.Bmsize == u16(0) && ao.BmpageFound == (b[2] != 0) })
		sa, err := DecodeXlHashSplitAllocatePage(b)
		check("split allocate", err, SizeOfHashSplitAllocatePage, func() bool {
			return sa.NewBucket == u32(0) && sa.OldBucketFlag == u16(4) && sa.NewBucketFlag == u16(6) && sa.Flags == b[8]
		})
		sc, err := DecodeXlHashSplitComplete(b)
		check("split complete", err, SizeOfHashSplitComplete, func() bool { return sc.OldBucketFlag == u16(0) && sc.NewBucketFlag == u16(2) })
		mp, err := DecodeXlHashMovePageContents(b)
		check("move", err, SizeOfHashMovePageContents, func() bool { return mp.Ntups == u16(0) && mp.IsPrimBucketSameWrt == (b[2] != 0) })
		sq, err := DecodeXlHashSqueezePage(b)
		check("squeeze", err, SizeOfHashSqueezePage, func() bool {
			return uint32(sq.Prevblkno) == u32(0) && uint32(sq.Nextblkno) == u32(4) && sq.Ntups == u16(8) &&
				sq.IsPrimBucketSameWrt == (b[10] != 0) && sq.IsPrevBucketSameWrt == (b[11] != 0)
		})
		de, err := DecodeXlHashDelete(b)
		check("delete", err, SizeOfHashDelete, func() bool { return de.ClearDeadMarking == (b[0] != 0) && de.IsPrimaryBucketPage == (b[1] != 0) })
		um, err := DecodeXlHashUpdateMetaPage(b)
		check("update meta", err, SizeOfHashUpdateMetaPage, func() bool { return math.Float64bits(um.Ntuples) == f64(0) })
		vo, err := DecodeXlHashVacuumOnePage(b)
		check("vacuum one page", err, SizeOfHashVacuumOnePage, func() bool { return vo.LatestRemovedXid == u32(0) && vo.Ntuples == int32(u32(4)) })
		if err == nil {
			offs, err := DecodeHashVacuumOnePageOffsets(vo, b)
			if err == nil && len(b) > SizeOfHashVacuumOnePage && (len(offs) != int(vo.Ntuples) || 2*len(offs) > len(b)-SizeOfHashVacuumOnePage) {
				t.Fatalf("vacuum offsets: %d for ntuples %d in %d bytes", len(offs), vo.Ntuples, len(b))
			}
		}

		// Variable-length parts.
		if m, err := DecodeHashSplitAllocateMeta(info, b); err == nil {
			if m.HasMasks != (info&XLHSplitMetaUpdateMasks != 0) || m.HasSplitpoint != (info&XLHSplitMetaUpdateSplitpoint != 0) {
				t.Fatalf("split meta flags %#x: %+v", info, m)
			}
			if m.HasMasks && (m.Lowmask != u32(0) || m.Highmask != u32(4)) {
				t.Fatalf("split meta masks %+v", m)
			}
		}
		if offs, err := DecodeHashOffsets(b); (err == nil) != (len(b)%2 == 0) || (err == nil && 2*len(offs) != len(b)) {
			t.Fatalf("offsets: %d from %d bytes, err %v", len(offs), len(b), err)
		}
		if v, err := DecodeHashBlockUint32(b); (err == nil) != (len(b) == 4) || (err == nil && v != u32(0)) {
			t.Fatalf("uint32: %d from %d bytes, err %v", v, len(b), err)
		}
		if offs, tuples, err := DecodeHashMovedTuples(ntups, b); err == nil && ntups > 0 {
			n := 2 * len(offs)
			for _, tup := range tuples {
				size := int(le.Uint16(tup[6:]) & 0x1FFF)
				if len(tup)%MaximumAlignOf != 0 || len(tup) < size || len(tup) >= size+MaximumAlignOf {
					t.Fatalf("moved tuple of %d bytes, t_info size %d", len(tup), size)
				}
				n += len(tup)
			}
			if len(offs) != int(ntups) || len(tuples) != int(ntups) || n != len(b) {
				t.Fatalf("moved tuples: %d offsets, %d tuples, %d of %d bytes", len(offs), len(tuples), n, len(b))
			}
		}

		// The description of any opcode, whatever the main data.
		rec := &DecodedRecord{Header: XLogRecord{Rmid: uint8(RmgrHash), Info: info}, MainData: b}
		_ = Describe(rec)
	})
}
