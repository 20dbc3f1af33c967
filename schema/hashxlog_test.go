package schema

import (
	"encoding/binary"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
)

func hxU16s(vs ...uint16) []byte {
	var b []byte
	for _, v := range vs {
		b = binary.LittleEndian.AppendUint16(b, v)
	}
	return b
}

func hxU32s(vs ...uint32) []byte {
	var b []byte
	for _, v := range vs {
		b = binary.LittleEndian.AppendUint32(b, v)
	}
	return b
}

func hxCat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

// hxTuple is a 16-byte hash index tuple with the given t_info size.
func hxTuple(size uint16, key byte) []byte {
	t := make([]byte, 16)
	binary.LittleEndian.PutUint16(t[6:], size)
	t[8] = key
	return t
}

// TestDecodeXlHashStructs decodes each struct at the length PostgreSQL
// writes and refuses one byte less, with an error naming the struct.
func TestDecodeXlHashStructs(t *testing.T) {
	tests := []struct {
		name   string
		b      []byte
		decode func([]byte) (any, error)
		want   any
	}{
		{"xl_hash_init_meta_page", hxCat(binary.LittleEndian.AppendUint64(nil, math.Float64bits(2260)), hxU32s(450), hxU16s(307)),
			func(b []byte) (any, error) { return DecodeXlHashInitMetaPage(b) },
			XlHashInitMetaPage{NumTuples: 2260, Procid: 450, Ffactor: 307}},
		{"xl_hash_init_bitmap_page", hxU16s(4096),
			func(b []byte) (any, error) { return DecodeXlHashInitBitmapPage(b) },
			XlHashInitBitmapPage{Bmsize: 4096}},
		{"xl_hash_insert", hxU16s(7),
			func(b []byte) (any, error) { return DecodeXlHashInsert(b) },
			XlHashInsert{Offnum: 7}},
		{"xl_hash_add_ovfl_page", hxCat(hxU16s(4096), []byte{1}),
			func(b []byte) (any, error) { return DecodeXlHashAddOvflPage(b) },
			XlHashAddOvflPage{Bmsize: 4096, BmpageFound: true}},
		{"xl_hash_split_allocate_page", hxCat(hxU32s(9), hxU16s(0x22, 0x12), []byte{3}),
			func(b []byte) (any, error) { return DecodeXlHashSplitAllocatePage(b) },
			XlHashSplitAllocatePage{NewBucket: 9, OldBucketFlag: 0x22, NewBucketFlag: 0x12, Flags: 3}},
		{"xl_hash_split_complete", hxU16s(0x42, 0x02),
			func(b []byte) (any, error) { return DecodeXlHashSplitComplete(b) },
			XlHashSplitComplete{OldBucketFlag: 0x42, NewBucketFlag: 0x02}},
		{"xl_hash_move_page_contents", hxCat(hxU16s(12), []byte{0}),
			func(b []byte) (any, error) { return DecodeXlHashMovePageContents(b) },
			XlHashMovePageContents{Ntups: 12}},
		{"xl_hash_squeeze_page", hxCat(hxU32s(5, 0xFFFFFFFF), hxU16s(3), []byte{1, 0}),
			func(b []byte) (any, error) { return DecodeXlHashSqueezePage(b) },
			XlHashSqueezePage{Prevblkno: 5, Nextblkno: InvalidBlockNumber, Ntups: 3, IsPrimBucketSameWrt: true}},
		{"xl_hash_delete", []byte{0, 1},
			func(b []byte) (any, error) { return DecodeXlHashDelete(b) },
			XlHashDelete{IsPrimaryBucketPage: true}},
		{"xl_hash_update_meta_page", binary.LittleEndian.AppendUint64(nil, math.Float64bits(0.5)),
			func(b []byte) (any, error) { return DecodeXlHashUpdateMetaPage(b) },
			XlHashUpdateMetaPage{Ntuples: 0.5}},
		{"xl_hash_vacuum_one_page", hxU32s(900, 0xFFFFFFFE),
			func(b []byte) (any, error) { return DecodeXlHashVacuumOnePage(b) },
			XlHashVacuumOnePage{LatestRemovedXid: 900, Ntuples: -2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.decode(tt.b)
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %+v, %v; want %+v", got, err, tt.want)
			}
			// Trailing bytes (struct padding, arrays) are not the struct's.
			if got, err := tt.decode(append(tt.b, 0xEE, 0xEE)); err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("with trailing bytes: got %+v, %v", got, err)
			}
			_, err = tt.decode(tt.b[:len(tt.b)-1])
			if err == nil || !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), tt.name) {
				t.Fatalf("short: err %v", err)
			}
		})
	}
}

func TestDecodeHashSplitAllocateMeta(t *testing.T) {
	for _, tt := range []struct {
		flags uint8
		b     []byte
		want  HashSplitAllocateMeta
	}{
		{0, nil, HashSplitAllocateMeta{}},
		{XLHSplitMetaUpdateMasks, hxU32s(7, 15), HashSplitAllocateMeta{HasMasks: true, Lowmask: 7, Highmask: 15}},
		{XLHSplitMetaUpdateSplitpoint, hxU32s(4, 33), HashSplitAllocateMeta{HasSplitpoint: true, Ovflpoint: 4, OvflPages: 33}},
		{3, hxU32s(7, 15, 4, 33), HashSplitAllocateMeta{HasMasks: true, Lowmask: 7, Highmask: 15, HasSplitpoint: true, Ovflpoint: 4, OvflPages: 33}},
	} {
		got, err := DecodeHashSplitAllocateMeta(tt.flags, tt.b)
		if err != nil || got != tt.want {
			t.Fatalf("flags %d: got %+v, %v", tt.flags, got, err)
		}
		if len(tt.b) > 0 {
			if _, err := DecodeHashSplitAllocateMeta(tt.flags, tt.b[:len(tt.b)-1]); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("flags %d short: err %v", tt.flags, err)
			}
		}
	}
}

func TestDecodeHashArrays(t *testing.T) {
	offs, err := DecodeHashOffsets(hxU16s(1, 3, 5))
	if err != nil || !reflect.DeepEqual(offs, []OffsetNumber{1, 3, 5}) {
		t.Fatalf("offsets %v, %v", offs, err)
	}
	if offs, err := DecodeHashOffsets(nil); err != nil || len(offs) != 0 {
		t.Fatalf("no offsets: %v, %v", offs, err)
	}
	if _, err := DecodeHashOffsets([]byte{1, 0, 2}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("odd: err %v", err)
	}

	if v, err := DecodeHashBlockUint32(hxU32s(17)); err != nil || v != 17 {
		t.Fatalf("uint32 %d, %v", v, err)
	}
	for _, b := range [][]byte{nil, {1, 2, 3}, {1, 2, 3, 4, 5}} {
		if _, err := DecodeHashBlockUint32(b); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("%d bytes: err %v", len(b), err)
		}
	}

	xl := XlHashVacuumOnePage{Ntuples: 2}
	md := hxCat(hxU32s(900, 2), hxU16s(4, 6))
	if offs, err := DecodeHashVacuumOnePageOffsets(xl, md); err != nil || !reflect.DeepEqual(offs, []OffsetNumber{4, 6}) {
		t.Fatalf("vacuum offsets %v, %v", offs, err)
	}
	if offs, err := DecodeHashVacuumOnePageOffsets(xl, md[:8]); err != nil || offs != nil {
		t.Fatalf("struct only: %v, %v", offs, err)
	}
	if _, err := DecodeHashVacuumOnePageOffsets(xl, md[:11]); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("cut: err %v", err)
	}
	if _, err := DecodeHashVacuumOnePageOffsets(XlHashVacuumOnePage{Ntuples: -1}, md); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("negative: err %v", err)
	}
}

func TestDecodeHashMovedTuples(t *testing.T) {
	data := hxCat(hxU16s(2, 3), hxTuple(16, 1), hxTuple(12, 2)) // size 12 is MAXALIGNed to 16
	offs, tuples, err := DecodeHashMovedTuples(2, data)
	if err != nil || !reflect.DeepEqual(offs, []OffsetNumber{2, 3}) || len(tuples) != 2 ||
		tuples[0][8] != 1 || tuples[1][8] != 2 || len(tuples[1]) != 16 {
		t.Fatalf("got %v, %d tuples, %v", offs, len(tuples), err)
	}
	if offs, tuples, err := DecodeHashMovedTuples(0, data); err != nil || offs != nil || tuples != nil {
		t.Fatalf("ntups 0: %v %v %v", offs, tuples, err)
	}
	for name, b := range map[string][]byte{
		"offsets cut":     hxU16s(2),
		"fewer tuples":    hxCat(hxU16s(2, 3), hxTuple(16, 1)),
		"more tuples":     hxCat(hxU16s(2, 3), hxTuple(16, 1), hxTuple(16, 2), hxTuple(16, 3)),
		"tuple cut":       hxCat(hxU16s(2, 3), hxTuple(16, 1), hxTuple(16, 2)[:12]),
		"header cut":      hxCat(hxU16s(2, 3), hxTuple(16, 1), hxTuple(16, 2)[:6]),
		"zero size":       hxCat(hxU16s(2, 3), hxTuple(0, 1), hxTuple(16, 2)),
		"size past data":  hxCat(hxU16s(2, 3), hxTuple(16, 1), hxTuple(24, 2)),
		"size below head": hxCat(hxU16s(2, 3), hxTuple(16, 1), hxTuple(7, 2)),
	} {
		if _, _, err := DecodeHashMovedTuples(2, b); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: err %v", name, err)
		}
	}
}
