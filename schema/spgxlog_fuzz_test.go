package schema

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// FuzzSpgxlogDecoders runs every SP-GiST decoder, and the description, on
// arbitrary main data: none may panic, and what a decoder accepts must be
// laid out in the data as the struct says: the fixed part, then the arrays
// (as many as the counts say) and the tuples (each its header's size),
// back to back.
func FuzzSpgxlogDecoders(f *testing.F) {
	leaf, inner := spgTestLeaf(16, 1), spgTestInner(24, 2)
	f.Add((&spgTestBuf{}).u8(1).u8(0).u16(1, 0, 2, 3).raw(leaf).b)
	f.Add((&spgTestBuf{}).u16(1).u8(0).u8(0).u8(0).pad(1).u16(5, 6).pad(2).state(1, false).u16(2).u16(3, 4).raw(leaf, leaf).b)
	f.Add((&spgTestBuf{}).u16(1, 2).u8(0).u8(2).u16(3, 4).pad(2).state(1, false).raw(inner).b)
	f.Add((&spgTestBuf{}).u16(1, 2).u8(1).u8(0).raw(inner, inner).b)
	f.Add((&spgTestBuf{}).u8(0).pad(1).u16(1, 2).u8(1).u8(0).u16(2).u8(0).u8(1).u8(0).pad(1).u16(3, 4).pad(2).state(1, false).
		u16(7).u16(1, 2).u8(0).u8(1).raw(inner, leaf, leaf).b)
	f.Add((&spgTestBuf{}).u16(1, 1, 1, 1).state(1, false).u16(3, 4, 5, 6, 7, 8).b)
	f.Add((&spgTestBuf{}).u16(2).pad(2).state(1, false).u16(3, 4).b)
	f.Add((&spgTestBuf{}).u16(1, 2).u32(5).u16(3).b)
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, op := range []uint8{XLogSpgistAddLeaf, XLogSpgistMoveLeafs, XLogSpgistAddNode, XLogSpgistSplitTuple,
			XLogSpgistPickSplit, XLogSpgistVacuumLeaf, XLogSpgistVacuumRoot, XLogSpgistVacuumRedirect} {
			_ = (&descCtx{data: data, info: op}).spg(nil)
		}
		c := spgFuzzChecker{t: t, data: data}
		c.insertDecoders()
		c.vacuumDecoders()
	})
}

// spgFuzzChecker checks what the SP-GiST decoders made of data.
type spgFuzzChecker struct {
	t    *testing.T
	data []byte
}

// check fails unless err is an *SpgxlogError or the arrays, byte array
// and tuples lie in data one after another from fixed.
func (c spgFuzzChecker) check(name string, fixed int, arrays [][]OffsetNumber, bytesArr []byte, tuples [][]byte, err error) {
	t, data := c.t, c.data
	t.Helper()
	if err != nil {
		if _, ok := err.(*SpgxlogError); !ok {
			t.Fatalf("%s: error %T %v", name, err, err)
		}
		return
	}
	pos := fixed
	for _, a := range arrays {
		for _, off := range a {
			if pos+2 > len(data) || OffsetNumber(binary.LittleEndian.Uint16(data[pos:])) != off {
				t.Fatalf("%s: offset array does not match the data at %d", name, pos)
			}
			pos += 2
		}
	}
	if bytesArr != nil {
		if !bytes.Equal(data[pos:pos+len(bytesArr)], bytesArr) {
			t.Fatalf("%s: byte array does not match the data at %d", name, pos)
		}
		pos += len(bytesArr)
	}
	for i, tup := range tuples {
		if pos+len(tup) > len(data) || !bytes.Equal(data[pos:pos+len(tup)], tup) {
			t.Fatalf("%s: tuple %d does not match the data at %d", name, i, pos)
		}
		pos += len(tup)
	}
}

// insertDecoders checks the add leaf, move leafs, add node, split tuple
// and picksplit decoders.
func (c spgFuzzChecker) insertDecoders() {
	t, data, check := c.t, c.data, c.check
	t.Helper()
	if x, err := DecodeSpgxlogAddLeaf(data); err == nil && int(SpGistTupleWordOf(x.LeafTuple).Size()) != len(x.LeafTuple) {
		t.Fatalf("add leaf: tuple of %d bytes, header says %d", len(x.LeafTuple), SpGistTupleWordOf(x.LeafTuple).Size())
	} else {
		check("add leaf", SizeOfSpgxlogAddLeaf, nil, nil, [][]byte{x.LeafTuple}, err)
	}
	if x, err := DecodeSpgxlogMoveLeafs(data); err == nil && (len(x.ToDelete) != int(x.NMoves) || len(x.ToInsert) != x.NInsert() || len(x.LeafTuples) != x.NInsert()) {
		t.Fatalf("move leafs: counts %+v", x)
	} else {
		check("move leafs", SizeOfSpgxlogMoveLeafs, [][]OffsetNumber{x.ToDelete, x.ToInsert}, nil, x.LeafTuples, err)
		for _, tup := range x.LeafTuples {
			if int(SpGistTupleWordOf(tup).Size()) != len(tup) {
				t.Fatalf("move leafs: tuple size")
			}
		}
	}
	if x, err := DecodeSpgxlogAddNode(data); err == nil && SpGistInnerTupleSize(x.InnerTuple) != len(x.InnerTuple) {
		t.Fatalf("add node: tuple size")
	} else {
		check("add node", SizeOfSpgxlogAddNode, nil, nil, [][]byte{x.InnerTuple}, err)
	}
	if x, err := DecodeSpgxlogSplitTuple(data); err == nil && (SpGistInnerTupleSize(x.PrefixTuple) != len(x.PrefixTuple) || SpGistInnerTupleSize(x.PostfixTuple) != len(x.PostfixTuple)) {
		t.Fatalf("split tuple: tuple size")
	} else {
		check("split tuple", SizeOfSpgxlogSplitTuple, nil, nil, [][]byte{x.PrefixTuple, x.PostfixTuple}, err)
	}
	if x, err := DecodeSpgxlogPickSplit(data); err == nil && (len(x.ToDelete) != int(x.NDelete) || len(x.ToInsert) != int(x.NInsert) ||
		len(x.LeafPageSelect) != int(x.NInsert) || len(x.LeafTuples) != int(x.NInsert) || SpGistInnerTupleSize(x.InnerTuple) != len(x.InnerTuple)) {
		t.Fatalf("picksplit: counts %+v", x)
	} else {
		sel := x.LeafPageSelect
		if err == nil && sel == nil {
			sel = []byte{}
		}
		check("picksplit", SizeOfSpgxlogPickSplit, [][]OffsetNumber{x.ToDelete, x.ToInsert}, sel,
			append([][]byte{x.InnerTuple}, x.LeafTuples...), err)
	}
}

// vacuumDecoders checks the vacuum leaf, root and redirect decoders.
func (c spgFuzzChecker) vacuumDecoders() {
	t, data, check := c.t, c.data, c.check
	t.Helper()
	if x, err := DecodeSpgxlogVacuumLeaf(data); err == nil && (len(x.ToDead) != int(x.NDead) || len(x.ToPlaceholder) != int(x.NPlaceholder) ||
		len(x.MoveSrc) != int(x.NMove) || len(x.MoveDest) != int(x.NMove) || len(x.ChainSrc) != int(x.NChain) || len(x.ChainDest) != int(x.NChain)) {
		t.Fatalf("vacuum leaf: counts %+v", x)
	} else {
		check("vacuum leaf", SizeOfSpgxlogVacuumLeaf, [][]OffsetNumber{x.ToDead, x.ToPlaceholder, x.MoveSrc, x.MoveDest, x.ChainSrc, x.ChainDest}, nil, nil, err)
	}
	if x, err := DecodeSpgxlogVacuumRoot(data); err == nil && len(x.Offsets) != int(x.NDelete) {
		t.Fatalf("vacuum root: counts %+v", x)
	} else {
		check("vacuum root", SizeOfSpgxlogVacuumRoot, [][]OffsetNumber{x.Offsets}, nil, nil, err)
	}
	if x, err := DecodeSpgxlogVacuumRedirect(data); err == nil && len(x.Offsets) != int(x.NToPlaceholder) {
		t.Fatalf("vacuum redirect: counts %+v", x)
	} else {
		check("vacuum redirect", SizeOfSpgxlogVacuumRedirect, [][]OffsetNumber{x.Offsets}, nil, nil, err)
	}
}
