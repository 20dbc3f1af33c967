package schema

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// genericFrag lays out one delta fragment.
func genericFrag(offset uint16, data ...byte) []byte {
	b := binary.LittleEndian.AppendUint16(nil, offset)
	b = binary.LittleEndian.AppendUint16(b, uint16(len(data)))
	return append(b, data...)
}

func TestDecodeGenericDelta(t *testing.T) {
	delta := append(append(genericFrag(12, 0x40, 0x00), genericFrag(8180, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12)...), genericFrag(100)...)
	got, err := DecodeGenericDelta(delta)
	if err != nil {
		t.Fatal(err)
	}
	want := []GenericDeltaFragment{
		{Offset: 12, Length: 2, Data: []byte{0x40, 0x00}},
		{Offset: 8180, Length: 12, Data: []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}},
		{Offset: 100, Length: 0, Data: []byte{}},
	}
	if len(got) != len(want) {
		t.Fatalf("%d fragments, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i].Offset != want[i].Offset || got[i].Length != want[i].Length || !bytes.Equal(got[i].Data, want[i].Data) {
			t.Errorf("fragment %d: %+v, want %+v", i, got[i], want[i])
		}
	}
	if d, err := DecodeGenericDelta(nil); err != nil || len(d) != 0 {
		t.Errorf("empty delta: %v %v", d, err)
	}

	for name, bad := range map[string][]byte{
		"header cut":       delta[:len(delta)-3],
		"data cut":         genericFrag(10, 1, 2, 3)[:6],
		"past the page":    genericFrag(8190, 1, 2, 3),
		"offset past page": genericFrag(9000),
	} {
		if _, err := DecodeGenericDelta(bad); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	// A fragment ending exactly at the end of the page is fine.
	if _, err := DecodeGenericDelta(genericFrag(8190, 1, 2)); err != nil {
		t.Errorf("fragment to the end of the page: %v", err)
	}
}

// TestGenericDescWalk: generic_desc walks fragments of the main data
// without checking that their bytes are there, as pg_waldump does.
func TestGenericDescWalk(t *testing.T) {
	for _, tc := range []struct {
		data []byte
		want string
	}{
		{nil, ""},
		{append(genericFrag(10, 1, 2), genericFrag(20)...), "offset 10, length 2; offset 20, length 0"},
		{genericFrag(10, 1, 2, 3)[:5], "offset 10, length 3"},
		{append(genericFrag(10, 1), 7, 0), "offset 10, length 1; <truncated>"},
	} {
		d := descCtx{data: tc.data}
		if got := string(d.generic(nil)); got != tc.want {
			t.Errorf("%x: %q, want %q", tc.data, got, tc.want)
		}
	}
}
