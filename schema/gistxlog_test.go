package schema

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
)

// gistTestTuple is an index tuple of size bytes with t_info = size.
func gistTestTuple(key byte, size int) []byte {
	t := bytes.Repeat([]byte{key}, size)
	binary.LittleEndian.PutUint16(t[6:], uint16(size))
	return t
}

func gistWantErr(t *testing.T, err error, name string) {
	t.Helper()
	if err == nil || !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), name) {
		t.Errorf("error %v, want ErrCorrupt naming %s", err, name)
	}
}

func TestDecodeGistxlogPageUpdate(t *testing.T) {
	x, err := DecodeGistxlogPageUpdate(newDescBuf().u16(3).u16(2).b)
	if err != nil || x != (GistxlogPageUpdate{NToDelete: 3, NToInsert: 2}) {
		t.Errorf("%+v, %v", x, err)
	}
	_, err = DecodeGistxlogPageUpdate([]byte{1, 0, 2})
	gistWantErr(t, err, "gistxlogPageUpdate")

	a, b := gistTestTuple('a', 24), gistTestTuple('b', 16)
	data := append(newDescBuf().u16(4).u16(9).b, append(a, b...)...)
	d, err := DecodeGistxlogPageUpdateData(data, GistxlogPageUpdate{NToDelete: 2, NToInsert: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(d.ToDelete) != 2 || d.ToDelete[0] != 4 || d.ToDelete[1] != 9 || len(d.Tuples) != 2 ||
		!bytes.Equal(d.Tuples[0], a) || !bytes.Equal(d.Tuples[1], b) {
		t.Errorf("%+v", d)
	}
	// Only t_info's size bits count.
	c := gistTestTuple('c', 16)
	c[7] |= 0xE0
	if d, err := DecodeGistxlogPageUpdateData(c, GistxlogPageUpdate{NToInsert: 1}); err != nil || len(d.Tuples[0]) != 16 {
		t.Errorf("flag bits: %+v, %v", d, err)
	}
	for _, tc := range []struct {
		name string
		data []byte
		xl   GistxlogPageUpdate
	}{
		{"offsets cut", []byte{1, 0, 2}, GistxlogPageUpdate{NToDelete: 2}},
		{"fewer tuples", data, GistxlogPageUpdate{NToDelete: 2, NToInsert: 3}},
		{"more tuples", data, GistxlogPageUpdate{NToDelete: 2, NToInsert: 1}},
		{"tuple cut", data[:len(data)-1], GistxlogPageUpdate{NToDelete: 2, NToInsert: 2}},
		{"header cut", data[:8], GistxlogPageUpdate{NToDelete: 2, NToInsert: 1}},
		{"size below header", newDescBuf().u32(0).u16(0).u16(4).b, GistxlogPageUpdate{NToInsert: 1}},
		{"huge count", data, GistxlogPageUpdate{NToInsert: 65535}},
	} {
		_, err := DecodeGistxlogPageUpdateData(tc.data, tc.xl)
		gistWantErr(t, err, "gistxlogPageUpdate block data")
	}
}

func TestDecodeGistxlogDelete(t *testing.T) {
	b := newDescBuf().u32(900).u16(2).u16(3).u16(7).b
	x, err := DecodeGistxlogDelete(b)
	if err != nil || x != (GistxlogDelete{LatestRemovedXid: 900, NToDelete: 2}) {
		t.Errorf("%+v, %v", x, err)
	}
	offs, err := DecodeGistxlogDeleteOffsets(b, x)
	if err != nil || len(offs) != 2 || offs[0] != 3 || offs[1] != 7 {
		t.Errorf("%v, %v", offs, err)
	}
	// Nothing after the struct: no offsets (redo deletes nothing).
	if offs, err := DecodeGistxlogDeleteOffsets(b[:6], x); err != nil || offs != nil {
		t.Errorf("%v, %v", offs, err)
	}
	_, err = DecodeGistxlogDelete(b[:5])
	gistWantErr(t, err, "gistxlogDelete")
	_, err = DecodeGistxlogDeleteOffsets(b[:5], x)
	gistWantErr(t, err, "gistxlogDelete")
	for _, n := range []int{8, 9, 11} {
		_, err := DecodeGistxlogDeleteOffsets(append(bytes.Clone(b), 0)[:n], x)
		gistWantErr(t, err, "gistxlogDelete offsets")
	}
}

func TestDecodeGistxlogPageReuse(t *testing.T) {
	x, err := DecodeGistxlogPageReuse(newDescBuf().rel(1663, 5, 16400).u32(7).u64(2<<32 | 900).b)
	want := GistxlogPageReuse{Node: RelFileNode{SpcNode: 1663, DbNode: 5, RelNode: 16400}, Block: 7, LatestRemovedFullXid: 2<<32 | 900}
	if err != nil || x != want {
		t.Errorf("%+v, %v", x, err)
	}
	_, err = DecodeGistxlogPageReuse(make([]byte, 23))
	gistWantErr(t, err, "gistxlogPageReuse")
}

func TestDecodeGistxlogPageSplit(t *testing.T) {
	b := newDescBuf().u32(12).pad(4).u64(0x4_A06859E8).u8(1).pad(1).u16(3).u8(1).pad(3).b
	for i := 4; i < 8; i++ {
		b[i] = 0xEE // uninitialized padding is ignored
	}
	x, err := DecodeGistxlogPageSplit(b)
	want := GistxlogPageSplit{OrigRlink: 12, OrigNSN: 0x4_A06859E8, OrigLeaf: true, NPage: 3, MarkFollowRight: true}
	if err != nil || x != want {
		t.Errorf("%+v, %v", x, err)
	}
	_, err = DecodeGistxlogPageSplit(b[:21])
	gistWantErr(t, err, "gistxlogPageSplit")

	a, c := gistTestTuple('a', 24), gistTestTuple('c', 32)
	p, err := DecodeGistxlogPage(append(newDescBuf().i32(2).b, append(a, c...)...))
	if err != nil || p.Num != 2 || len(p.Tuples) != 2 || !bytes.Equal(p.Tuples[0], a) || !bytes.Equal(p.Tuples[1], c) {
		t.Errorf("%+v, %v", p, err)
	}
	if p, err := DecodeGistxlogPage(newDescBuf().i32(0).b); err != nil || p.Num != 0 || len(p.Tuples) != 0 {
		t.Errorf("empty: %+v, %v", p, err)
	}
	for _, b := range [][]byte{
		{1, 0, 0},
		newDescBuf().i32(-1).b,
		append(newDescBuf().i32(1).b, append(a, 0)...),
		append(newDescBuf().i32(3).b, append(a, c...)...),
		append(newDescBuf().i32(1).b, a[:20]...),
	} {
		_, err := DecodeGistxlogPage(b)
		gistWantErr(t, err, "gistxlogPage")
	}
}

func TestDecodeGistxlogPageDelete(t *testing.T) {
	x, err := DecodeGistxlogPageDelete(newDescBuf().u64(2<<32 | 901).u16(4).b)
	if err != nil || x != (GistxlogPageDelete{DeleteXid: 2<<32 | 901, DownlinkOffset: 4}) {
		t.Errorf("%+v, %v", x, err)
	}
	_, err = DecodeGistxlogPageDelete(make([]byte, 9))
	gistWantErr(t, err, "gistxlogPageDelete")
}

func TestDecodeGistxlogAssignLSN(t *testing.T) {
	if x, err := DecodeGistxlogAssignLSN(newDescBuf().i32(0).b); err != nil || x.Dummy != 0 {
		t.Errorf("%+v, %v", x, err)
	}
	_, err := DecodeGistxlogAssignLSN([]byte{0, 0})
	gistWantErr(t, err, "gistxlogAssignLSN")
}

// TestDescribeGistTruncated: a description whose struct is short says so.
func TestDescribeGistTruncated(t *testing.T) {
	for _, tc := range []struct {
		info uint8
		data []byte
	}{
		{XLogGistPageReuse, make([]byte, 20)},
		{XLogGistDelete, make([]byte, 5)},
		{XLogGistPageSplit, make([]byte, 20)},
		{XLogGistPageDelete, make([]byte, 8)},
	} {
		if got := DescribeIn(descRecord(RmgrGist, tc.info, tc.data), nil); got != descTruncated {
			t.Errorf("%#x: %q", tc.info, got)
		}
	}
}
