package schema

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// spgTestBuf builds record main data field by field.
type spgTestBuf struct{ b []byte }

func (w *spgTestBuf) u8(v uint8) *spgTestBuf { w.b = append(w.b, v); return w }
func (w *spgTestBuf) u16(vs ...uint16) *spgTestBuf {
	for _, v := range vs {
		w.b = binary.LittleEndian.AppendUint16(w.b, v)
	}
	return w
}
func (w *spgTestBuf) u32(v uint32) *spgTestBuf {
	w.b = binary.LittleEndian.AppendUint32(w.b, v)
	return w
}
func (w *spgTestBuf) pad(n int) *spgTestBuf { w.b = append(w.b, make([]byte, n)...); return w }
func (w *spgTestBuf) raw(b ...[]byte) *spgTestBuf {
	for _, x := range b {
		w.b = append(w.b, x...)
	}
	return w
}

// state appends an spgxlogState with garbage in its padding.
func (w *spgTestBuf) state(xid uint32, isBuild bool) *spgTestBuf {
	w.u32(xid)
	if isBuild {
		w.u8(1)
	} else {
		w.u8(0)
	}
	return w.u8(0xAA).u8(0xBB).u8(0xCC)
}

// spgTestLeaf is a leaf tuple of size bytes (at least 16), marked with m.
func spgTestLeaf(size int, m byte) []byte {
	t := bytes.Repeat([]byte{m}, size)
	NewSpGistTupleWord(SpgistLive, uint32(size)).Put(t)
	return t
}

// spgTestInner is an inner tuple of size bytes (at least 8), marked with m.
func spgTestInner(size int, m byte) []byte {
	t := bytes.Repeat([]byte{m}, size)
	binary.LittleEndian.PutUint32(t, 0)
	binary.LittleEndian.PutUint16(t[4:], uint16(size))
	return t
}

func TestSpGistTupleWord(t *testing.T) {
	// A REDIRECT dead tuple of 16 bytes (the reference's example word).
	w := NewSpGistTupleWord(SpgistRedirect, SGDTSIZE)
	var b [4]byte
	w.Put(b[:])
	if !bytes.Equal(b[:], []byte{0x41, 0, 0, 0}) {
		t.Fatalf("word bytes % x", b)
	}
	if w.State() != SpgistRedirect || w.Size() != 16 {
		t.Fatalf("state %d size %d", w.State(), w.Size())
	}
	if p := w.WithState(SpgistPlaceholder); p.State() != SpgistPlaceholder || p.Size() != 16 {
		t.Fatalf("WithState: %#x", p)
	}
	// Inner tuple: tupstate 0, allTheSame, nNodes 5, prefixSize 24.
	in := SpGistTupleWord(0 | 1<<2 | 5<<3 | 24<<16)
	if !in.AllTheSame() || in.NNodes() != 5 || in.PrefixSize() != 24 || in.State() != SpgistLive {
		t.Fatalf("inner word %#x: %v %d %d", in, in.AllTheSame(), in.NNodes(), in.PrefixSize())
	}
	if got := SpGistInnerTupleSize(spgTestInner(40, 0)); got != 40 {
		t.Fatalf("inner size %d", got)
	}
}

func TestDecodeSpgxlogAddLeaf(t *testing.T) {
	leaf := spgTestLeaf(24, 7)
	md := (&spgTestBuf{}).u8(1).u8(1).u16(5, 6, 7, 8).raw(leaf).b
	x, err := DecodeSpgxlogAddLeaf(append(md, 0xEE)) // a trailing byte is ignored
	if err != nil {
		t.Fatal(err)
	}
	want := SpgxlogAddLeaf{NewPage: true, StoresNulls: true, OffnumLeaf: 5, OffnumHeadLeaf: 6, OffnumParent: 7, NodeI: 8, LeafTuple: leaf}
	if !spgEqual(x, want) {
		t.Fatalf("got %+v\nwant %+v", x, want)
	}
	// Any non-zero byte is a true bool, as in C.
	md[0], md[1] = 0, 2
	if x, _ := DecodeSpgxlogAddLeaf(md); x.NewPage || !x.StoresNulls {
		t.Fatalf("bools %+v", x)
	}
	for _, bad := range [][]byte{
		md[:9],                         // fixed part
		md[:SizeOfSpgxlogAddLeaf+11],   // tuple header
		md[:len(md)-1],                 // tuple body
		spgWithLeafSize(md, 10, 11),    // size below the header
		spgWithLeafSize(md, 10, 1<<29), // size past the data
	} {
		spgWantErr(t, "spgxlogAddLeaf", func() error { _, err := DecodeSpgxlogAddLeaf(bad); return err })
	}
}

// spgWithLeafSize copies md with the size of the leaf tuple at pos set.
func spgWithLeafSize(md []byte, pos int, size uint32) []byte {
	c := slices.Clone(md)
	NewSpGistTupleWord(SpgistLive, size).Put(c[pos:])
	return c
}

func TestDecodeSpgxlogMoveLeafs(t *testing.T) {
	l1, l2, l3 := spgTestLeaf(16, 1), spgTestLeaf(24, 2), spgTestLeaf(32, 3)
	md := (&spgTestBuf{}).u16(2).u8(1).u8(0).u8(1).u8(0x99).u16(9, 3).u8(0x77).u8(0x77).state(1234, false).
		u16(4, 2).u16(7, 8, 9).raw(l1, l2, l3).b
	x, err := DecodeSpgxlogMoveLeafs(md)
	if err != nil {
		t.Fatal(err)
	}
	want := SpgxlogMoveLeafs{NMoves: 2, NewPage: true, StoresNulls: true, OffnumParent: 9, NodeI: 3,
		StateSrc: SpgxlogState{MyXid: 1234}, ToDelete: []OffsetNumber{4, 2}, ToInsert: []OffsetNumber{7, 8, 9},
		LeafTuples: [][]byte{l1, l2, l3}}
	if !spgEqual(x, want) || x.NInsert() != 3 {
		t.Fatalf("got %+v\nwant %+v", x, want)
	}
	// replaceDead: one inserted offset and one tuple, whatever nMoves is.
	rd := (&spgTestBuf{}).u16(1).u8(0).u8(1).u8(0).pad(1).u16(9, 3).pad(2).state(5, true).
		u16(4).u16(6).raw(l2).b
	x, err = DecodeSpgxlogMoveLeafs(rd)
	if err != nil {
		t.Fatal(err)
	}
	if !x.ReplaceDead || x.NInsert() != 1 || !slices.Equal(x.ToInsert, []OffsetNumber{6}) || len(x.LeafTuples) != 1 || !x.StateSrc.IsBuild {
		t.Fatalf("replaceDead %+v", x)
	}
	for _, n := range []int{19, 20 + 3, 20 + 4 + 5, len(md) - 1} {
		spgWantErr(t, "spgxlogMoveLeafs", func() error { _, err := DecodeSpgxlogMoveLeafs(md[:n]); return err })
	}
}

func TestDecodeSpgxlogAddNode(t *testing.T) {
	inner := spgTestInner(40, 5)
	md := (&spgTestBuf{}).u16(3, 4).u8(1).u8(0xFF).u16(6, 2).pad(2).state(77, false).raw(inner).b
	x, err := DecodeSpgxlogAddNode(md)
	if err != nil {
		t.Fatal(err)
	}
	want := SpgxlogAddNode{Offnum: 3, OffnumNew: 4, NewPage: true, ParentBlk: -1, OffnumParent: 6, NodeI: 2,
		StateSrc: SpgxlogState{MyXid: 77}, InnerTuple: inner}
	if !spgEqual(x, want) {
		t.Fatalf("got %+v\nwant %+v", x, want)
	}
	short := slices.Clone(md)
	binary.LittleEndian.PutUint16(short[SizeOfSpgxlogAddNode+4:], 7) // below the header
	for _, bad := range [][]byte{md[:19], md[:27], md[:len(md)-1], short} {
		spgWantErr(t, "spgxlogAddNode", func() error { _, err := DecodeSpgxlogAddNode(bad); return err })
	}
}

func TestDecodeSpgxlogSplitTuple(t *testing.T) {
	pre, post := spgTestInner(24, 1), spgTestInner(48, 2)
	md := (&spgTestBuf{}).u16(2, 3).u8(0).u8(1).raw(pre, post).b
	x, err := DecodeSpgxlogSplitTuple(md)
	if err != nil {
		t.Fatal(err)
	}
	want := SpgxlogSplitTuple{OffnumPrefix: 2, OffnumPostfix: 3, PostfixBlkSame: true, PrefixTuple: pre, PostfixTuple: post}
	if !spgEqual(x, want) {
		t.Fatalf("got %+v\nwant %+v", x, want)
	}
	for _, n := range []int{5, 6 + 7, 6 + 24 + 7, len(md) - 1} {
		spgWantErr(t, "spgxlogSplitTuple", func() error { _, err := DecodeSpgxlogSplitTuple(md[:n]); return err })
	}
}

func TestDecodeSpgxlogPickSplit(t *testing.T) {
	inner := spgTestInner(32, 9)
	l1, l2 := spgTestLeaf(16, 1), spgTestLeaf(24, 2)
	md := (&spgTestBuf{}).u8(1).pad(1).u16(3, 2).u8(0).u8(1).u16(5).u8(1).u8(0).u8(1).pad(1).u16(4, 6).pad(2).state(88, false).
		u16(1, 2, 3).u16(1, 2).u8(0).u8(1).raw(inner, l1, l2).b
	x, err := DecodeSpgxlogPickSplit(md)
	if err != nil {
		t.Fatal(err)
	}
	want := SpgxlogPickSplit{IsRootSplit: true, NDelete: 3, NInsert: 2, InitDest: true, OffnumInner: 5, InitInner: true,
		InnerIsParent: true, OffnumParent: 4, NodeI: 6, StateSrc: SpgxlogState{MyXid: 88},
		ToDelete: []OffsetNumber{1, 2, 3}, ToInsert: []OffsetNumber{1, 2}, LeafPageSelect: []byte{0, 1},
		InnerTuple: inner, LeafTuples: [][]byte{l1, l2}}
	if !spgEqual(x, want) {
		t.Fatalf("got %+v\nwant %+v", x, want)
	}
	for _, n := range []int{27, 28 + 5, 28 + 6 + 3, 28 + 10 + 1, 28 + 12 + 31, len(md) - 1} {
		spgWantErr(t, "spgxlogPickSplit", func() error { _, err := DecodeSpgxlogPickSplit(md[:n]); return err })
	}
}

func TestDecodeSpgxlogVacuumLeaf(t *testing.T) {
	md := (&spgTestBuf{}).u16(1, 2, 1, 2).state(9, false).
		u16(10).u16(11, 12).u16(13).u16(14).u16(15, 16).u16(17, 18).b
	x, err := DecodeSpgxlogVacuumLeaf(md)
	if err != nil {
		t.Fatal(err)
	}
	want := SpgxlogVacuumLeaf{NDead: 1, NPlaceholder: 2, NMove: 1, NChain: 2, StateSrc: SpgxlogState{MyXid: 9},
		ToDead: []OffsetNumber{10}, ToPlaceholder: []OffsetNumber{11, 12}, MoveSrc: []OffsetNumber{13}, MoveDest: []OffsetNumber{14},
		ChainSrc: []OffsetNumber{15, 16}, ChainDest: []OffsetNumber{17, 18}}
	if !spgEqual(x, want) {
		t.Fatalf("got %+v\nwant %+v", x, want)
	}
	for _, n := range []int{15, len(md) - 1, len(md) - 2} {
		spgWantErr(t, "spgxlogVacuumLeaf", func() error { _, err := DecodeSpgxlogVacuumLeaf(md[:n]); return err })
	}
	_, err = DecodeSpgxlogVacuumLeaf(md[:len(md)-2])
	if !strings.Contains(err.Error(), "chainDest") {
		t.Fatalf("error does not name the array: %v", err)
	}
}

func TestDecodeSpgxlogVacuumRootRedirect(t *testing.T) {
	md := (&spgTestBuf{}).u16(2).pad(2).state(3, false).u16(4, 5).b
	x, err := DecodeSpgxlogVacuumRoot(md)
	if err != nil {
		t.Fatal(err)
	}
	if !spgEqual(x, SpgxlogVacuumRoot{NDelete: 2, StateSrc: SpgxlogState{MyXid: 3}, Offsets: []OffsetNumber{4, 5}}) {
		t.Fatalf("root %+v", x)
	}
	for _, n := range []int{11, 13, 15} {
		spgWantErr(t, "spgxlogVacuumRoot", func() error { _, err := DecodeSpgxlogVacuumRoot(md[:n]); return err })
	}

	md = (&spgTestBuf{}).u16(3, 7).u32(0xDEADBEEF).u16(1, 2, 3).b
	y, err := DecodeSpgxlogVacuumRedirect(md)
	if err != nil {
		t.Fatal(err)
	}
	if !spgEqual(y, SpgxlogVacuumRedirect{NToPlaceholder: 3, FirstPlaceholder: 7, NewestRedirectXid: 0xDEADBEEF, Offsets: []OffsetNumber{1, 2, 3}}) {
		t.Fatalf("redirect %+v", y)
	}
	for _, n := range []int{7, 13} {
		spgWantErr(t, "spgxlogVacuumRedirect", func() error { _, err := DecodeSpgxlogVacuumRedirect(md[:n]); return err })
	}
}

// TestSpgDescribeFullRecords: descriptions of complete records, decoded
// by the same decoders as redo, print what pg_waldump prints.
func TestSpgDescribeFullRecords(t *testing.T) {
	leaf := spgTestLeaf(16, 1)
	inner := spgTestInner(16, 2)
	for _, tc := range []struct {
		name string
		info uint8
		md   []byte
		want string
	}{
		{"add leaf", XLogSpgistAddLeaf, (&spgTestBuf{}).u8(0).u8(0).u16(3, 2, 1, 4).raw(leaf).b,
			"off: 3, headoff: 2, parentoff: 1, nodeI: 4"},
		{"move leafs", XLogSpgistMoveLeafs, (&spgTestBuf{}).u16(1).u8(0).u8(0).u8(0).pad(1).u16(5, 6).pad(2).state(1, false).
			u16(2).u16(3, 4).raw(leaf, leaf).b, "nmoves: 1, parentoff: 5, nodeI: 6"},
		{"add node", XLogSpgistAddNode, (&spgTestBuf{}).u16(1, 2).u8(0).u8(2).u16(3, 4).pad(2).state(1, false).raw(inner).b,
			"off: 1, newoff: 2, parentBlk: 2, parentoff: 3, nodeI: 4"},
		{"split tuple", XLogSpgistSplitTuple, (&spgTestBuf{}).u16(1, 2).u8(1).u8(0).raw(inner, inner).b,
			"prefixoff: 1, postfixoff: 2 (newpage)"},
		{"picksplit", XLogSpgistPickSplit, (&spgTestBuf{}).u8(0).pad(1).u16(0, 1).u8(1).u8(0).u16(2).u8(0).u8(1).u8(0).pad(1).u16(3, 4).pad(2).state(1, false).
			u16(1).u8(0).raw(inner, leaf).b, "ndelete: 0, ninsert: 1, inneroff: 2, parentoff: 3, nodeI: 4 (nulls)"},
		{"vacuum leaf", XLogSpgistVacuumLeaf, (&spgTestBuf{}).u16(0, 1, 0, 0).state(1, false).u16(3).b,
			"ndead: 0, nplaceholder: 1, nmove: 0, nchain: 0"},
		{"vacuum root", XLogSpgistVacuumRoot, (&spgTestBuf{}).u16(1).pad(2).state(1, false).u16(3).b, "ndelete: 1"},
		{"vacuum redirect", XLogSpgistVacuumRedirect, (&spgTestBuf{}).u16(1, 0).u32(5).u16(3).b,
			"ntoplaceholder: 1, firstplaceholder: 0, newestredirectxid: 5"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := string((&descCtx{data: tc.md, info: tc.info}).spg(nil))
			if got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
	// Shorter than the fields printed: truncated.
	if got := string((&descCtx{data: make([]byte, 9), info: XLogSpgistMoveLeafs}).spg(nil)); got != descTruncated {
		t.Fatalf("short move leafs: %q", got)
	}
}

func spgWantErr(t *testing.T, name string, f func() error) {
	t.Helper()
	err := f()
	var se *SpgxlogError
	if !errors.As(err, &se) || se.Struct != name || !strings.HasPrefix(err.Error(), name+": ") {
		t.Fatalf("want a %s error, got %v", name, err)
	}
}

// spgEqual compares decoded structs, slices by content (%v prints a nil
// and an empty slice alike).
func spgEqual(a, b any) bool { return fmt.Sprintf("%+v", a) == fmt.Sprintf("%+v", b) }
