package redo

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/pagemill/pagemill/schema"
)

// SP-GiST redo on hand-made pages, one test per record type, with the
// shapes a small workload does not reach (ADD_NODE with the parent on the
// new page, MOVE_LEAFS replacing a DEAD tuple, PICKSPLIT with initSrc,
// isBuild states).

const spgTestLSN = schema.LSN(0x7000000) // records start here; pages are older

// spgMD builds record main data field by field.
type spgMD struct{ b []byte }

func (m *spgMD) u8(vs ...uint8) *spgMD { m.b = append(m.b, vs...); return m }
func (m *spgMD) u16(vs ...uint16) *spgMD {
	for _, v := range vs {
		m.b = binary.LittleEndian.AppendUint16(m.b, v)
	}
	return m
}
func (m *spgMD) u32(v uint32) *spgMD { m.b = binary.LittleEndian.AppendUint32(m.b, v); return m }
func (m *spgMD) raw(bs ...[]byte) *spgMD {
	for _, b := range bs {
		m.b = append(m.b, b...)
	}
	return m
}

// state is an spgxlogState; its pad bytes are garbage, as in WAL.
func (m *spgMD) state(xid uint32, isBuild bool) *spgMD {
	m.u32(xid)
	if isBuild {
		m.u8(1)
	} else {
		m.u8(0)
	}
	return m.u8(0xA5, 0xA5, 0xA5)
}

func b2u8(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}

// spgLeaf is a LIVE leaf tuple of size bytes with nextOffset next, filled
// with mark after the header.
func spgLeaf(size int, mark byte, next schema.OffsetNumber) []byte {
	t := bytes.Repeat([]byte{mark}, size)
	schema.NewSpGistTupleWord(schema.SpgistLive, uint32(size)).Put(t)
	binary.LittleEndian.PutUint16(t[4:], uint16(next))
	copy(t[6:], []byte{0, 0, 0, 42, 0, 1}) // heapPtr (42,1)
	return t
}

// spgInner is an inner tuple with a prefix of prefixSize bytes and nNodes
// nodes of 16 bytes (invalid downlink, 8-byte label n).
func spgInner(prefixSize, nNodes int, mark byte) []byte {
	size := schema.SizeOfSpGistInnerTupleData + prefixSize + 16*nNodes
	t := make([]byte, size)
	binary.LittleEndian.PutUint32(t, uint32(nNodes)<<3|uint32(prefixSize)<<16)
	binary.LittleEndian.PutUint16(t[4:], uint16(size))
	for i := 8; i < 8+prefixSize; i++ {
		t[i] = mark
	}
	for n := 0; n < nNodes; n++ {
		node := t[8+prefixSize+16*n:]
		copy(node, []byte{0xFF, 0xFF, 0xFF, 0xFF, 0, 0})
		binary.LittleEndian.PutUint16(node[6:], 16)
		node[8] = byte(n)
	}
	return t
}

// spgNodeLink reads node n's downlink.
func spgNodeLink(t *testing.T, tup []byte, n int) (schema.BlockNumber, schema.OffsetNumber) {
	t.Helper()
	w := schema.SpGistTupleWordOf(tup)
	pos := 8 + w.PrefixSize()
	for i := 0; i < n; i++ {
		pos += int(binary.LittleEndian.Uint16(tup[pos+6:]) & 0x1FFF)
	}
	node := tup[pos:]
	blk := uint32(binary.LittleEndian.Uint16(node))<<16 | uint32(binary.LittleEndian.Uint16(node[2:]))
	return schema.BlockNumber(blk), schema.OffsetNumber(binary.LittleEndian.Uint16(node[4:]))
}

// spgWantDownlink checks that node n of the inner tuple at off on p points
// at (blk, to).
func spgWantDownlink(t *testing.T, p schema.Page, off schema.OffsetNumber, n int, blk schema.BlockNumber, to schema.OffsetNumber) {
	t.Helper()
	it, _ := p.Item(off)
	if gotBlk, gotOff := spgNodeLink(t, it, n); gotBlk != blk || gotOff != to {
		t.Fatalf("downlink (%d,%d)", gotBlk, gotOff)
	}
}

// spgDead is a dead tuple, written out independently of spgFormDeadTuple.
func spgDead(state uint8, blk uint32, off uint16, xid uint32) []byte {
	t := make([]byte, 16)
	binary.LittleEndian.PutUint32(t, uint32(state)|16<<2)
	binary.LittleEndian.PutUint16(t[6:], uint16(blk>>16))
	binary.LittleEndian.PutUint16(t[8:], uint16(blk))
	binary.LittleEndian.PutUint16(t[10:], off)
	binary.LittleEndian.PutUint32(t[12:], xid)
	return t
}

var spgPlaceholder = spgDead(schema.SpgistPlaceholder, 0xFFFFFFFF, 0, 0)

// spgPage is an SP-GiST page with items at offsets 1, 2, ... and the given
// counters, LSN older than the test records.
func spgPage(t *testing.T, flags uint16, nRedirection, nPlaceholder uint16, items ...[]byte) schema.Page {
	t.Helper()
	p := make(schema.Page, schema.BLCKSZ)
	spgInitPage(p, flags)
	addTestItems(t, p, items...)
	o, _ := spgPageGetOpaque(p)
	binary.LittleEndian.PutUint16(o[spgoNRedirection:], nRedirection)
	binary.LittleEndian.PutUint16(o[spgoNPlaceholder:], nPlaceholder)
	p.SetLSN(spgTestLSN - 0x100)
	return p
}

func spgRecord(t *testing.T, op uint8, md []byte, blocks ...schema.BlockSpec) *schema.DecodedRecord {
	t.Helper()
	return assemble(t, schema.RecordSpec{Xid: 900, Rmgr: schema.RmgrSPGist, Info: op, MainData: md, Blocks: blocks}, spgTestLSN)
}

// spgApply applies rec and fails unless it was applied.
func spgApply(t *testing.T, pages *MemPages, rec *schema.DecodedRecord) {
	t.Helper()
	if _, err := newTestEngine(t).Apply(rec, pages); err != nil {
		t.Fatal(err)
	}
}

// spgWantItems checks the page's items (nil: any) and that it was redone.
func spgWantItems(t *testing.T, rec *schema.DecodedRecord, p schema.Page, want ...[]byte) {
	t.Helper()
	if p.LSN() != rec.EndLSN {
		t.Errorf("page LSN %s, want %s", p.LSN(), rec.EndLSN)
	}
	if got := int(p.MaxOffsetNumber()); got != len(want) {
		t.Fatalf("%d items, want %d", got, len(want))
	}
	for i, w := range want {
		got, err := p.Item(schema.OffsetNumber(i + 1))
		if err != nil {
			t.Fatalf("item %d: %v", i+1, err)
		}
		if w != nil && !bytes.Equal(got, w) {
			t.Errorf("item %d:\n got % x\nwant % x", i+1, got, w)
		}
	}
	if err := p.Validate(); err != nil {
		t.Error(err)
	}
}

func spgWantOpaque(t *testing.T, p schema.Page, flags, nRedirection, nPlaceholder uint16) {
	t.Helper()
	o, ok := spgPageGetOpaque(p)
	if !ok {
		t.Fatal("no opaque")
	}
	got := [4]uint16{o.flags(), o.nRedirection(), o.nPlaceholder(), binary.LittleEndian.Uint16(o[spgoPageID:])}
	if want := [4]uint16{flags, nRedirection, nPlaceholder, spgistPageID}; got != want {
		t.Errorf("opaque flags, nRedirection, nPlaceholder, page id = %v, want %v", got, want)
	}
}

func TestSpgInitPageAndDeadTuple(t *testing.T) {
	p := make(schema.Page, schema.BLCKSZ)
	for i := range p {
		p[i] = 0xEE
	}
	spgInitPage(p, spgistLeaf|spgistNulls)
	if p.Lower() != 24 || p.Upper() != 8184 || p.Special() != 8184 || p.PageSizeVersion() != 0x2004 {
		t.Fatalf("header lower %d upper %d special %d version %#x", p.Lower(), p.Upper(), p.Special(), p.PageSizeVersion())
	}
	if want := []byte{0x0C, 0, 0, 0, 0, 0, 0x82, 0xFF}; !bytes.Equal(p[8184:], want) {
		t.Fatalf("opaque % x", p[8184:])
	}
	if !schema.AllZero(p[:8]) || !schema.AllZero(p[24:8184]) {
		t.Fatal("PageInit left bytes")
	}

	for _, tc := range []struct {
		state uint8
		want  []byte
	}{
		// The reference's example: REDIRECT to (0x00010002, 7) by xid 0x11223344.
		{schema.SpgistRedirect, []byte{0x41, 0, 0, 0, 0, 0, 1, 0, 2, 0, 7, 0, 0x44, 0x33, 0x22, 0x11}},
		{schema.SpgistDead, []byte{0x42, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0, 0, 0}},
		{schema.SpgistPlaceholder, []byte{0x43, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0, 0, 0}},
	} {
		if got := spgFormDeadTuple(tc.state, 0x00010002, 7, 0x11223344); !bytes.Equal(got[:], tc.want) {
			t.Errorf("state %d: % x, want % x", tc.state, got, tc.want)
		}
	}
}

func TestSpgUpdateNodeLink(t *testing.T) {
	tup := spgInner(16, 3, 0xAB)
	if !spgUpdateNodeLink(tup, 2, 0x00030004, 9) {
		t.Fatal("node 2 not updated")
	}
	if blk, off := spgNodeLink(t, tup, 2); blk != 0x00030004 || off != 9 {
		t.Fatalf("node 2 -> (%d,%d)", blk, off)
	}
	if blk, off := spgNodeLink(t, tup, 1); blk != schema.InvalidBlockNumber || off != 0 {
		t.Fatalf("node 1 changed -> (%d,%d)", blk, off)
	}
	if spgUpdateNodeLink(tup, 3, 1, 1) {
		t.Fatal("node 3 of 3 found")
	}
	if spgUpdateNodeLink(tup[:len(tup)-16], 2, 1, 1) {
		t.Fatal("node past the tuple's end updated")
	}
}

// TestSpgPageIndexMultiDelete: the first offset of the unsorted array gets
// firststate; the counters follow the states.
func TestSpgPageIndexMultiDelete(t *testing.T) {
	a, b, c, d := spgLeaf(24, 1, 0), spgLeaf(32, 2, 0), spgLeaf(16, 3, 0), spgLeaf(24, 4, 0)
	for _, tc := range []struct {
		name  string
		items []schema.OffsetNumber
		want  [][]byte
	}{
		{"two", []schema.OffsetNumber{3, 1}, [][]byte{spgPlaceholder, b, spgDead(schema.SpgistRedirect, 7, 5, 99), d}},
		{"three", []schema.OffsetNumber{2, 4, 1}, [][]byte{spgPlaceholder, spgDead(schema.SpgistRedirect, 7, 5, 99), c, spgPlaceholder}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := spgPage(t, spgistLeaf, 1, 1, a, b, c, d)
			if !spgPageIndexMultiDelete(p, tc.items, schema.SpgistRedirect, schema.SpgistPlaceholder, 7, 5, 99) {
				t.Fatal("failed")
			}
			p.SetLSN(spgTestLSN) // spgWantItems checks it
			spgWantItems(t, &schema.DecodedRecord{EndLSN: spgTestLSN}, p, tc.want...)
			spgWantOpaque(t, p, spgistLeaf, 2, uint16(len(tc.items)))
		})
	}
}

func TestSpgRedoAddLeaf(t *testing.T) {
	addLeaf := func(newPage, nulls bool, leaf, head, parent, nodeI uint16, tup []byte) []byte {
		return (&spgMD{}).u8(b2u8(newPage), b2u8(nulls)).u16(leaf, head, parent, nodeI).raw(tup).b
	}
	t.Run("new page in the nulls tree, with parent", func(t *testing.T) {
		pages := NewMemPages()
		inner := spgInner(8, 3, 1)
		pages.Put(testTag(5), spgPage(t, 0, 0, 0, spgLeaf(16, 9, 0), inner))
		pages.Put(testTag(9), spgPage(t, spgistLeaf, 0, 0, spgLeaf(40, 7, 0))) // garbage: re-initialized
		tup := spgLeaf(24, 3, 0)
		rec := spgRecord(t, schema.XLogSpgistAddLeaf, addLeaf(true, true, 1, 0, 2, 1, tup),
			schema.BlockSpec{ID: 0, Tag: testTag(9), WillInit: true}, schema.BlockSpec{ID: 1, Tag: testTag(5)})
		spgApply(t, pages, rec)
		leaf := mustPage(t, pages, 9)
		spgWantItems(t, rec, leaf, tup)
		spgWantOpaque(t, leaf, spgistLeaf|spgistNulls, 0, 0)
		parent := mustPage(t, pages, 5)
		spgWantItems(t, rec, parent, nil, nil)
		spgWantDownlink(t, parent, 2, 1, 9, 1)
	})
	t.Run("second in a chain", func(t *testing.T) {
		pages := NewMemPages()
		head := spgLeaf(24, 1, 2)
		binary.LittleEndian.PutUint16(head[4:], 0x8000|2) // nulls-bitmap flag kept
		second := spgLeaf(24, 2, 0)
		pages.Put(testTag(3), spgPage(t, spgistLeaf, 0, 0, head, second))
		tup := spgLeaf(32, 3, 2) // carries the head's old next
		rec := spgRecord(t, schema.XLogSpgistAddLeaf, addLeaf(false, false, 3, 1, 0, 0, tup), schema.BlockSpec{ID: 0, Tag: testTag(3)})
		spgApply(t, pages, rec)
		newHead := append([]byte(nil), head...)
		binary.LittleEndian.PutUint16(newHead[4:], 0x8000|3)
		spgWantItems(t, rec, mustPage(t, pages, 3), newHead, second, tup)
	})
	t.Run("replaces a placeholder", func(t *testing.T) {
		pages := NewMemPages()
		a := spgLeaf(24, 1, 0)
		pages.Put(testTag(3), spgPage(t, spgistLeaf, 0, 2, a, spgPlaceholder, spgPlaceholder))
		tup := spgLeaf(40, 3, 0)
		rec := spgRecord(t, schema.XLogSpgistAddLeaf, addLeaf(false, false, 2, 0, 0, 0, tup), schema.BlockSpec{ID: 0, Tag: testTag(3)})
		spgApply(t, pages, rec)
		p := mustPage(t, pages, 3)
		spgWantItems(t, rec, p, a, tup, spgPlaceholder)
		spgWantOpaque(t, p, spgistLeaf, 0, 1)
	})
	t.Run("replaces a DEAD chain head", func(t *testing.T) {
		pages := NewMemPages()
		a := spgLeaf(24, 1, 0)
		dead := spgDead(schema.SpgistDead, 0xFFFFFFFF, 0, 0)
		pages.Put(testTag(3), spgPage(t, spgistLeaf, 0, 0, a, dead))
		tup := spgLeaf(40, 3, 0)
		rec := spgRecord(t, schema.XLogSpgistAddLeaf, addLeaf(false, false, 2, 2, 0, 0, tup), schema.BlockSpec{ID: 0, Tag: testTag(3)})
		spgApply(t, pages, rec)
		spgWantItems(t, rec, mustPage(t, pages, 3), a, tup)
	})
	t.Run("leaf restored, parent redone", func(t *testing.T) {
		pages := NewMemPages()
		img := spgPage(t, spgistLeaf, 0, 0, spgLeaf(16, 4, 0))
		pages.Put(testTag(5), spgPage(t, 0, 0, 0, spgInner(0, 2, 1)))
		rec := spgRecord(t, schema.XLogSpgistAddLeaf, addLeaf(false, false, 1, 0, 1, 0, spgLeaf(16, 4, 0)),
			schema.BlockSpec{ID: 0, Tag: testTag(9), Image: img, Apply: true}, schema.BlockSpec{ID: 1, Tag: testTag(5)})
		spgApply(t, pages, rec)
		spgWantDownlink(t, mustPage(t, pages, 5), 1, 0, 9, 1)
	})
	t.Run("page already done", func(t *testing.T) {
		pages := NewMemPages()
		p := spgPage(t, spgistLeaf, 0, 0)
		p.SetLSN(spgTestLSN + 0x10000)
		pages.Put(testTag(3), p)
		before := append(schema.Page(nil), p...)
		spgApply(t, pages, spgRecord(t, schema.XLogSpgistAddLeaf, addLeaf(false, false, 1, 0, 0, 0, spgLeaf(16, 1, 0)), schema.BlockSpec{ID: 0, Tag: testTag(3)}))
		if !bytes.Equal(mustPage(t, pages, 3), before) {
			t.Fatal("page changed")
		}
	})
}

func TestSpgRedoMoveLeafs(t *testing.T) {
	moveLeafs := func(nMoves uint16, newPage, replaceDead, nulls bool, parent, nodeI uint16, xid uint32, isBuild bool, toDelete, toInsert []uint16, tuples ...[]byte) []byte {
		return (&spgMD{}).u16(nMoves).u8(b2u8(newPage), b2u8(replaceDead), b2u8(nulls), 0xA5).u16(parent, nodeI).u8(0xA5, 0xA5).state(xid, isBuild).
			u16(toDelete...).u16(toInsert...).raw(tuples...).b
	}
	other, a, b := spgLeaf(24, 1, 0), spgLeaf(32, 2, 3), spgLeaf(24, 3, 0)
	na, nb, nn := spgLeaf(32, 2, 0), spgLeaf(24, 3, 1), spgLeaf(16, 4, 2)
	for _, tc := range []struct {
		name     string
		isBuild  bool
		toDelete []uint16
		wantSrc  [][]byte
		redir    uint16
	}{
		{"redirect", false, []uint16{2, 3}, [][]byte{other, spgDead(schema.SpgistRedirect, 4, 3, 777), spgPlaceholder}, 1},
		{"unsorted", false, []uint16{3, 2}, [][]byte{other, spgPlaceholder, spgDead(schema.SpgistRedirect, 4, 3, 777)}, 1},
		{"build", true, []uint16{2, 3}, [][]byte{other, spgPlaceholder, spgPlaceholder}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pages := NewMemPages()
			pages.Put(testTag(3), spgPage(t, spgistLeaf|spgistNulls, 0, 0, other, a, b))
			pages.Put(testTag(5), spgPage(t, spgistNulls, 0, 0, spgInner(0, 4, 1)))
			rec := spgRecord(t, schema.XLogSpgistMoveLeafs,
				moveLeafs(2, true, false, true, 1, 3, 777, tc.isBuild, tc.toDelete, []uint16{1, 2, 3}, na, nb, nn),
				schema.BlockSpec{ID: 0, Tag: testTag(3)}, schema.BlockSpec{ID: 1, Tag: testTag(4), WillInit: true}, schema.BlockSpec{ID: 2, Tag: testTag(5)})
			spgApply(t, pages, rec)
			dst := mustPage(t, pages, 4)
			spgWantItems(t, rec, dst, na, nb, nn)
			spgWantOpaque(t, dst, spgistLeaf|spgistNulls, 0, 0)
			src := mustPage(t, pages, 3)
			spgWantItems(t, rec, src, tc.wantSrc...)
			spgWantOpaque(t, src, spgistLeaf|spgistNulls, tc.redir, 2-tc.redir)
			spgWantDownlink(t, mustPage(t, pages, 5), 1, 3, 4, 3)
		})
	}
	t.Run("replace dead", func(t *testing.T) {
		// The chain is a single DEAD tuple: it is not copied, only the
		// new tuple goes to the (existing) destination page.
		pages := NewMemPages()
		dead := spgDead(schema.SpgistDead, 0xFFFFFFFF, 0, 0)
		pages.Put(testTag(3), spgPage(t, spgistLeaf, 0, 0, other, dead))
		pages.Put(testTag(4), spgPage(t, spgistLeaf, 0, 0, a))
		pages.Put(testTag(5), spgPage(t, 0, 0, 0, spgInner(8, 2, 1)))
		rec := spgRecord(t, schema.XLogSpgistMoveLeafs,
			moveLeafs(1, false, true, false, 1, 1, 55, false, []uint16{2}, []uint16{2}, nn),
			schema.BlockSpec{ID: 0, Tag: testTag(3)}, schema.BlockSpec{ID: 1, Tag: testTag(4)}, schema.BlockSpec{ID: 2, Tag: testTag(5)})
		spgApply(t, pages, rec)
		spgWantItems(t, rec, mustPage(t, pages, 4), a, nn)
		spgWantItems(t, rec, mustPage(t, pages, 3), other, spgDead(schema.SpgistRedirect, 4, 2, 55))
		spgWantOpaque(t, mustPage(t, pages, 3), spgistLeaf, 1, 0)
		spgWantDownlink(t, mustPage(t, pages, 5), 1, 1, 4, 2)
	})
}

func TestSpgRedoAddNode(t *testing.T) {
	addNode := func(offnum, offnumNew uint16, newPage bool, parentBlk int8, parent, nodeI uint16, xid uint32, isBuild bool, tup []byte) []byte {
		return (&spgMD{}).u16(offnum, offnumNew).u8(b2u8(newPage), uint8(parentBlk)).u16(parent, nodeI).u8(0xA5, 0xA5).state(xid, isBuild).raw(tup).b
	}
	t.Run("in place", func(t *testing.T) {
		pages := NewMemPages()
		a, other := spgInner(8, 2, 1), spgInner(0, 1, 2)
		pages.Put(testTag(5), spgPage(t, 0, 0, 0, a, other))
		bigger := spgInner(8, 3, 1)
		rec := spgRecord(t, schema.XLogSpgistAddNode, addNode(1, 0, false, -1, 0, 0, 1, false, bigger), schema.BlockSpec{ID: 0, Tag: testTag(5)})
		spgApply(t, pages, rec)
		spgWantItems(t, rec, mustPage(t, pages, 5), bigger, other)
	})
	parentNode := spgInner(0, 3, 7)
	old := spgInner(8, 2, 1)
	bigger := spgInner(8, 3, 1)
	for _, tc := range []struct {
		name      string
		parentBlk int8
		isBuild   bool
	}{
		{"moved, parent on the old page", 0, false},
		{"moved, parent on the new page", 1, false},
		{"moved, parent elsewhere", 2, false},
		{"moved during a build", 2, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pages := NewMemPages()
			blocks := []schema.BlockSpec{{ID: 0, Tag: testTag(5)}, {ID: 1, Tag: testTag(6)}}
			offnum, offnumNew, offParent := uint16(1), uint16(1), uint16(1)
			newPage := true
			switch tc.parentBlk {
			case 0:
				pages.Put(testTag(5), spgPage(t, 0, 0, 0, parentNode, old))
				offnum, offParent = 2, 1
				blocks[1].WillInit = true
			case 1:
				pages.Put(testTag(5), spgPage(t, 0, 0, 0, old))
				pages.Put(testTag(6), spgPage(t, 0, 0, 0, parentNode))
				offnumNew, newPage = 2, false
			case 2:
				pages.Put(testTag(5), spgPage(t, 0, 0, 0, old))
				pages.Put(testTag(7), spgPage(t, 0, 0, 0, spgLeaf(16, 0, 0), parentNode))
				offParent = 2
				blocks[1].WillInit = true
				blocks = append(blocks, schema.BlockSpec{ID: 2, Tag: testTag(7)})
			}
			rec := spgRecord(t, schema.XLogSpgistAddNode, addNode(offnum, offnumNew, newPage, tc.parentBlk, offParent, 2, 31, tc.isBuild, bigger), blocks...)
			spgApply(t, pages, rec)

			newp, oldp := mustPage(t, pages, 6), mustPage(t, pages, 5)
			if tc.parentBlk == 1 {
				spgWantItems(t, rec, newp, nil, bigger)
			} else {
				spgWantItems(t, rec, newp, bigger)
			}
			spgWantOpaque(t, newp, 0, 0, 0)
			dead := spgDead(schema.SpgistRedirect, 6, offnumNew, 31)
			if tc.isBuild {
				dead = spgPlaceholder
			}
			if tc.parentBlk == 0 {
				spgWantItems(t, rec, oldp, nil, dead)
			} else {
				spgWantItems(t, rec, oldp, dead)
			}
			if tc.isBuild {
				spgWantOpaque(t, oldp, 0, 0, 1)
			} else {
				spgWantOpaque(t, oldp, 0, 1, 0)
			}
			pp := oldp
			switch tc.parentBlk {
			case 1:
				pp = newp
			case 2:
				pp = mustPage(t, pages, 7)
			}
			spgWantDownlink(t, pp, schema.OffsetNumber(offParent), 2, 6, schema.OffsetNumber(offnumNew))
		})
	}
}

func TestSpgRedoSplitTuple(t *testing.T) {
	splitTuple := func(prefix, postfix uint16, newPage, same bool, tuples ...[]byte) []byte {
		return (&spgMD{}).u16(prefix, postfix).u8(b2u8(newPage), b2u8(same)).raw(tuples...).b
	}
	orig, other := spgInner(24, 2, 1), spgInner(0, 1, 2)
	pre, post := spgInner(8, 1, 3), spgInner(16, 2, 4)
	t.Run("same page, over a placeholder", func(t *testing.T) {
		pages := NewMemPages()
		pages.Put(testTag(5), spgPage(t, 0, 0, 1, other, orig, spgPlaceholder))
		rec := spgRecord(t, schema.XLogSpgistSplitTuple, splitTuple(2, 3, false, true, pre, post), schema.BlockSpec{ID: 0, Tag: testTag(5)})
		spgApply(t, pages, rec)
		p := mustPage(t, pages, 5)
		spgWantItems(t, rec, p, other, pre, post)
		spgWantOpaque(t, p, 0, 0, 0)
	})
	t.Run("postfix on a new page", func(t *testing.T) {
		pages := NewMemPages()
		pages.Put(testTag(5), spgPage(t, 0, 0, 0, orig))
		rec := spgRecord(t, schema.XLogSpgistSplitTuple, splitTuple(1, 1, true, false, pre, post),
			schema.BlockSpec{ID: 0, Tag: testTag(5)}, schema.BlockSpec{ID: 1, Tag: testTag(8), WillInit: true})
		spgApply(t, pages, rec)
		spgWantItems(t, rec, mustPage(t, pages, 5), pre)
		spgWantItems(t, rec, mustPage(t, pages, 8), post)
		spgWantOpaque(t, mustPage(t, pages, 8), 0, 0, 0)
	})
}

func TestSpgRedoPickSplit(t *testing.T) {
	fx := spgPickSplitFixture{inner: spgInner(8, 2, 9)}
	fx.l1, fx.l2, fx.l3 = spgLeaf(24, 1, 0), spgLeaf(32, 2, 0), spgLeaf(16, 3, 2)

	t.Run("root split", fx.rootSplit)
	for _, isBuild := range []bool{false, true} {
		name := "source, destination, inner and parent"
		if isBuild {
			name += " during a build"
		}
		t.Run(name, func(t *testing.T) { fx.allBlocks(t, isBuild) })
	}
	t.Run("no destination, inner on the parent's page", fx.innerOnParentPage)
	t.Run("re-initialized source", fx.reinitializedSource)
	t.Run("source page unavailable", fx.sourceUnavailable)
}

// spgPickSplitXl is the content of a spgxlogPickSplit record.
type spgPickSplitXl struct {
	root, initSrc, initDest, initInner, nulls, innerIsParent, isBuild bool
	offInner, offParent, nodeI                                        uint16
	toDelete, toInsert                                                []uint16
	sel                                                               []uint8
	inner                                                             []byte
	leaves                                                            [][]byte
}

// spgPickSplitData encodes x as a PickSplit record's main data.
func spgPickSplitData(x spgPickSplitXl) []byte {
	m := (&spgMD{}).u8(b2u8(x.root), 0xA5).u16(uint16(len(x.toDelete)), uint16(len(x.toInsert))).
		u8(b2u8(x.initSrc), b2u8(x.initDest)).u16(x.offInner).u8(b2u8(x.initInner), b2u8(x.nulls), b2u8(x.innerIsParent), 0xA5).
		u16(x.offParent, x.nodeI).u8(0xA5, 0xA5).state(4242, x.isBuild).
		u16(x.toDelete...).u16(x.toInsert...).u8(x.sel...).raw(x.inner).raw(x.leaves...)
	return m.b
}

// spgPickSplitFixture holds the inner tuple and leaf tuples the PickSplit
// cases insert.
type spgPickSplitFixture struct {
	inner      []byte
	l1, l2, l3 []byte
}

func (fx spgPickSplitFixture) rootSplit(t *testing.T) {
	pages := NewMemPages()
	pages.Put(testTag(1), spgPage(t, spgistLeaf, 0, 0, spgLeaf(24, 8, 0), spgLeaf(24, 8, 0)))
	rec := spgRecord(t, schema.XLogSpgistPickSplit,
		spgPickSplitData(spgPickSplitXl{root: true, initDest: true, initInner: true, offInner: 1, toInsert: []uint16{1, 2}, sel: []uint8{1, 1}, inner: fx.inner, leaves: [][]byte{fx.l1, fx.l2}}),
		schema.BlockSpec{ID: 1, Tag: testTag(3), WillInit: true}, schema.BlockSpec{ID: 2, Tag: testTag(1), WillInit: true})
	spgApply(t, pages, rec)
	root := mustPage(t, pages, 1)
	spgWantItems(t, rec, root, fx.inner)
	spgWantOpaque(t, root, 0, 0, 0)
	spgWantItems(t, rec, mustPage(t, pages, 3), fx.l1, fx.l2)
	spgWantOpaque(t, mustPage(t, pages, 3), spgistLeaf, 0, 0)
}

// allBlocks splits with a source, a destination, an inner and a parent
// page, during an index build or not.
func (fx spgPickSplitFixture) allBlocks(t *testing.T, isBuild bool) {
	pages := NewMemPages()
	a, b, c := spgLeaf(24, 5, 2), spgLeaf(24, 6, 3), spgLeaf(24, 7, 0)
	pages.Put(testTag(3), spgPage(t, spgistLeaf|spgistNulls, 0, 0, a, b, c))
	pages.Put(testTag(5), spgPage(t, spgistNulls, 0, 0, spgInner(0, 1, 4)))
	pages.Put(testTag(6), spgPage(t, spgistNulls, 0, 0, spgLeaf(16, 0, 0), spgInner(0, 3, 4)))
	rec := spgRecord(t, schema.XLogSpgistPickSplit,
		spgPickSplitData(spgPickSplitXl{initDest: true, nulls: true, isBuild: isBuild, offInner: 2, offParent: 2, nodeI: 1,
			toDelete: []uint16{1, 2, 3}, toInsert: []uint16{2, 1, 2}, sel: []uint8{0, 1, 1}, inner: fx.inner, leaves: [][]byte{fx.l3, fx.l1, fx.l2}}),
		schema.BlockSpec{ID: 0, Tag: testTag(3)}, schema.BlockSpec{ID: 1, Tag: testTag(4), WillInit: true},
		schema.BlockSpec{ID: 2, Tag: testTag(5)}, schema.BlockSpec{ID: 3, Tag: testTag(6)})
	spgApply(t, pages, rec)
	src := mustPage(t, pages, 3)
	if isBuild {
		spgWantItems(t, rec, src, spgPlaceholder, fx.l3, spgPlaceholder)
		spgWantOpaque(t, src, spgistLeaf|spgistNulls, 0, 2)
	} else {
		spgWantItems(t, rec, src, spgDead(schema.SpgistRedirect, 5, 2, 4242), fx.l3, spgPlaceholder)
		spgWantOpaque(t, src, spgistLeaf|spgistNulls, 1, 1)
	}
	spgWantItems(t, rec, mustPage(t, pages, 4), fx.l1, fx.l2)
	spgWantOpaque(t, mustPage(t, pages, 4), spgistLeaf|spgistNulls, 0, 0)
	spgWantItems(t, rec, mustPage(t, pages, 5), nil, fx.inner)
	spgWantDownlink(t, mustPage(t, pages, 6), 2, 1, 5, 2)
}

// innerOnParentPage splits with no destination, the inner tuple going to
// the parent's page.
func (fx spgPickSplitFixture) innerOnParentPage(t *testing.T) {
	pages := NewMemPages()
	a, b := spgLeaf(24, 5, 2), spgLeaf(24, 6, 0)
	pages.Put(testTag(3), spgPage(t, spgistLeaf, 0, 0, a, b))
	pages.Put(testTag(5), spgPage(t, 0, 0, 0, spgInner(0, 2, 4)))
	// toDelete[0] becomes the redirect, the rest placeholders, which
	// the leaf tuples then reuse before appending.
	rec := spgRecord(t, schema.XLogSpgistPickSplit,
		spgPickSplitData(spgPickSplitXl{innerIsParent: true, offInner: 2, offParent: 1, nodeI: 0,
			toDelete: []uint16{1, 2}, toInsert: []uint16{2, 3}, sel: []uint8{0, 0}, inner: fx.inner, leaves: [][]byte{fx.l1, fx.l2}}),
		schema.BlockSpec{ID: 0, Tag: testTag(3)}, schema.BlockSpec{ID: 2, Tag: testTag(5)})
	spgApply(t, pages, rec)
	src := mustPage(t, pages, 3)
	spgWantItems(t, rec, src, spgDead(schema.SpgistRedirect, 5, 2, 4242), fx.l1, fx.l2)
	spgWantOpaque(t, src, spgistLeaf, 1, 0)
	p := mustPage(t, pages, 5)
	spgWantItems(t, rec, p, nil, fx.inner)
	spgWantDownlink(t, p, 1, 0, 5, 2)
}

func (fx spgPickSplitFixture) reinitializedSource(t *testing.T) {
	pages := NewMemPages()
	pages.Put(testTag(3), spgPage(t, spgistLeaf, 0, 0, spgLeaf(40, 5, 0)))
	pages.Put(testTag(5), spgPage(t, 0, 0, 0, spgInner(0, 2, 4)))
	rec := spgRecord(t, schema.XLogSpgistPickSplit,
		spgPickSplitData(spgPickSplitXl{initSrc: true, innerIsParent: true, offInner: 2, offParent: 1, nodeI: 1,
			toInsert: []uint16{1, 2}, sel: []uint8{0, 0}, inner: fx.inner, leaves: [][]byte{fx.l1, fx.l2}}),
		schema.BlockSpec{ID: 0, Tag: testTag(3), WillInit: true}, schema.BlockSpec{ID: 2, Tag: testTag(5)})
	spgApply(t, pages, rec)
	spgWantItems(t, rec, mustPage(t, pages, 3), fx.l1, fx.l2)
	spgWantOpaque(t, mustPage(t, pages, 3), spgistLeaf, 0, 0)
	p := mustPage(t, pages, 5)
	spgWantItems(t, rec, p, nil, fx.inner)
	spgWantDownlink(t, p, 1, 1, 5, 2)
}

func (fx spgPickSplitFixture) sourceUnavailable(t *testing.T) {
	// Each block's redo depends on its own page only: the others are
	// still replayed.
	pages := NewMemPages()
	pages.Put(testTag(5), spgPage(t, 0, 0, 0, spgInner(0, 2, 4)))
	rec := spgRecord(t, schema.XLogSpgistPickSplit,
		spgPickSplitData(spgPickSplitXl{initDest: true, innerIsParent: true, offInner: 2, offParent: 1, nodeI: 0,
			toDelete: []uint16{1}, toInsert: []uint16{1, 1}, sel: []uint8{0, 1}, inner: fx.inner, leaves: [][]byte{fx.l1, fx.l2}}),
		schema.BlockSpec{ID: 0, Tag: testTag(3)}, schema.BlockSpec{ID: 1, Tag: testTag(4), WillInit: true}, schema.BlockSpec{ID: 2, Tag: testTag(5)})
	spgApply(t, pages, rec)
	if !pages.Unavailable(testTag(3)) {
		t.Fatal("source page not made unavailable")
	}
	spgWantItems(t, rec, mustPage(t, pages, 4), fx.l2)
	spgWantItems(t, rec, mustPage(t, pages, 5), nil, fx.inner)
}

func TestSpgRedoVacuumLeaf(t *testing.T) {
	// A chain 1 -> 2 -> 3 and lone tuples 4 and 5. Tuple 2 dies: its
	// successor 3 moves into its slot (line pointers swapped, 3 becomes a
	// placeholder) and 1 is re-chained to 2; 4 becomes DEAD, 5 a
	// placeholder.
	a, b, c, d, e := spgLeaf(24, 1, 2), spgLeaf(32, 2, 3), spgLeaf(16, 3, 0), spgLeaf(24, 4, 0), spgLeaf(24, 5, 0)
	pages := NewMemPages()
	pages.Put(testTag(3), spgPage(t, spgistLeaf, 1, 0, a, b, c, d, e))
	md := (&spgMD{}).u16(1, 1, 1, 1).state(3, false).u16(4).u16(5).u16(3).u16(2).u16(1).u16(2).b
	rec := spgRecord(t, schema.XLogSpgistVacuumLeaf, md, schema.BlockSpec{ID: 0, Tag: testTag(3)})
	spgApply(t, pages, rec)
	p := mustPage(t, pages, 3)
	spgWantItems(t, rec, p, a, c, spgPlaceholder, spgDead(schema.SpgistDead, 0xFFFFFFFF, 0, 0), spgPlaceholder)
	spgWantOpaque(t, p, spgistLeaf, 1, 2)
}

func TestSpgRedoVacuumRoot(t *testing.T) {
	items := [][]byte{spgLeaf(24, 1, 0), spgLeaf(32, 2, 0), spgLeaf(16, 3, 0), spgLeaf(24, 4, 0), spgLeaf(40, 5, 0)}
	for _, tc := range []struct {
		name string
		del  []uint16
		want [][]byte
	}{
		{"two", []uint16{1, 3}, [][]byte{items[1], items[3], items[4]}},
		{"three", []uint16{1, 2, 4}, [][]byte{items[2], items[4]}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pages := NewMemPages()
			pages.Put(testTag(1), spgPage(t, spgistLeaf, 0, 0, items...))
			md := (&spgMD{}).u16(uint16(len(tc.del)), 0xA5A5).state(1, false).u16(tc.del...).b
			rec := spgRecord(t, schema.XLogSpgistVacuumRoot, md, schema.BlockSpec{ID: 0, Tag: testTag(1)})
			spgApply(t, pages, rec)
			spgWantItems(t, rec, mustPage(t, pages, 1), tc.want...)
		})
	}
}

func TestSpgRedoVacuumRedirect(t *testing.T) {
	r1, r3 := spgDead(schema.SpgistRedirect, 9, 1, 55), spgDead(schema.SpgistRedirect, 9, 2, 56)
	live := spgInner(0, 2, 1)
	pages := NewMemPages()
	pages.Put(testTag(5), spgPage(t, 0, 2, 2, r1, live, r3, spgPlaceholder, spgPlaceholder))
	md := (&spgMD{}).u16(2, 3).u32(56).u16(1, 3).b
	rec := spgRecord(t, schema.XLogSpgistVacuumRedirect, md, schema.BlockSpec{ID: 0, Tag: testTag(5)})
	spgApply(t, pages, rec)
	p := mustPage(t, pages, 5)
	// The xid stays; the pointer is invalidated; 3..5 are removed.
	spgWantItems(t, rec, p, spgDead(schema.SpgistPlaceholder, 0xFFFFFFFF, 0, 55), live)
	spgWantOpaque(t, p, 0, 0, 1)
}

// TestSpgChecksums: with data checksums every page written carries its
// checksum.
func TestSpgChecksums(t *testing.T) {
	e := newTestEngine(t)
	e.DataChecksums = true
	pages := NewMemPages()
	pages.Put(testTag(3), spgPage(t, spgistLeaf, 0, 0))
	md := (&spgMD{}).u8(0, 0).u16(1, 0, 0, 0).raw(spgLeaf(16, 1, 0)).b
	if _, err := e.Apply(spgRecord(t, schema.XLogSpgistAddLeaf, md, schema.BlockSpec{ID: 0, Tag: testTag(3)}), pages); err != nil {
		t.Fatal(err)
	}
	p := mustPage(t, pages, 3)
	want := append(schema.Page(nil), p...)
	if err := PageSetChecksumInplace(want, 3); err != nil {
		t.Fatal(err)
	}
	if p.Checksum() == 0 || p.Checksum() != want.Checksum() {
		t.Fatalf("checksum %#x, want %#x", p.Checksum(), want.Checksum())
	}
}

// spgShort is a record of op whose main data is one byte short of its
// fixed part.
func spgShort(op uint8, size int) func(t *testing.T) *schema.DecodedRecord {
	return func(t *testing.T) *schema.DecodedRecord {
		return spgRecord(t, op, make([]byte, size-1), schema.BlockSpec{ID: 0, Tag: testTag(3)})
	}
}

// TestSpgRefused: records PostgreSQL would not write, or whose redo would
// ERROR or PANIC, are not applied and their pages become unavailable.
func TestSpgRefused(t *testing.T) {
	leafPage := func(t *testing.T) schema.Page {
		return spgPage(t, spgistLeaf, 0, 0, spgLeaf(24, 1, 0), spgLeaf(24, 2, 0))
	}
	addLeaf := func(newPage bool, leaf, head, parent, nodeI uint16, tup []byte) []byte {
		return (&spgMD{}).u8(b2u8(newPage), 0).u16(leaf, head, parent, nodeI).raw(tup).b
	}
	blk0 := schema.BlockSpec{ID: 0, Tag: testTag(3)}
	for _, tc := range []struct {
		name string
		rec  func(t *testing.T) *schema.DecodedRecord
	}{
		{"unknown opcode", func(t *testing.T) *schema.DecodedRecord { return spgRecord(t, 0x00, make([]byte, 16), blk0) }},
		{"short add leaf", spgShort(schema.XLogSpgistAddLeaf, schema.SizeOfSpgxlogAddLeaf)},
		{"short move leafs", spgShort(schema.XLogSpgistMoveLeafs, schema.SizeOfSpgxlogMoveLeafs)},
		{"short add node", spgShort(schema.XLogSpgistAddNode, schema.SizeOfSpgxlogAddNode)},
		{"short split tuple", spgShort(schema.XLogSpgistSplitTuple, schema.SizeOfSpgxlogSplitTuple)},
		{"short picksplit", spgShort(schema.XLogSpgistPickSplit, schema.SizeOfSpgxlogPickSplit)},
		{"short vacuum leaf", spgShort(schema.XLogSpgistVacuumLeaf, schema.SizeOfSpgxlogVacuumLeaf)},
		{"short vacuum root", spgShort(schema.XLogSpgistVacuumRoot, schema.SizeOfSpgxlogVacuumRoot)},
		{"short vacuum redirect", spgShort(schema.XLogSpgistVacuumRedirect, schema.SizeOfSpgxlogVacuumRedirect)},
		{"picksplit without inner block", func(t *testing.T) *schema.DecodedRecord {
			md := (&spgMD{}).u8(1, 0).u16(0, 0).u8(0, 0).u16(1).u8(0, 0, 0, 0).u16(0, 0).u8(0, 0).state(1, false).raw(spgInner(0, 1, 1)).b
			return spgRecord(t, schema.XLogSpgistPickSplit, md, blk0)
		}},
		{"split tuple over a live tuple", func(t *testing.T) *schema.DecodedRecord {
			md := (&spgMD{}).u16(1, 2).u8(0, 1).raw(spgInner(0, 1, 1), spgInner(0, 1, 2)).b
			return spgRecord(t, schema.XLogSpgistSplitTuple, md, blk0)
		}},
		{"add node moved without its parent block", func(t *testing.T) *schema.DecodedRecord {
			md := (&spgMD{}).u16(1, 1).u8(0, 2).u16(1, 0).u8(0, 0).state(1, false).raw(spgInner(0, 2, 1)).b
			return spgRecord(t, schema.XLogSpgistAddNode, md, blk0, schema.BlockSpec{ID: 1, Tag: testTag(5)})
		}},
		{"vacuum redirect of a missing tuple", func(t *testing.T) *schema.DecodedRecord {
			md := (&spgMD{}).u16(1, 0).u32(0).u16(3).b
			return spgRecord(t, schema.XLogSpgistVacuumRedirect, md, blk0)
		}},
		{"truncated tuple", func(t *testing.T) *schema.DecodedRecord {
			md := addLeaf(false, 3, 0, 0, 0, spgLeaf(24, 3, 0))
			return spgRecord(t, schema.XLogSpgistAddLeaf, md[:len(md)-1], blk0)
		}},
		{"replacing a live tuple", func(t *testing.T) *schema.DecodedRecord {
			return spgRecord(t, schema.XLogSpgistAddLeaf, addLeaf(false, 1, 0, 0, 0, spgLeaf(24, 3, 0)), blk0)
		}},
		{"offset past the end", func(t *testing.T) *schema.DecodedRecord {
			return spgRecord(t, schema.XLogSpgistAddLeaf, addLeaf(false, 5, 0, 0, 0, spgLeaf(24, 3, 0)), blk0)
		}},
		{"new page without WILL_INIT", func(t *testing.T) *schema.DecodedRecord {
			return spgRecord(t, schema.XLogSpgistAddLeaf, addLeaf(true, 1, 0, 0, 0, spgLeaf(24, 3, 0)), blk0)
		}},
		{"WILL_INIT on a page not initialized", func(t *testing.T) *schema.DecodedRecord {
			return spgRecord(t, schema.XLogSpgistAddLeaf, addLeaf(false, 3, 0, 0, 0, spgLeaf(24, 3, 0)),
				schema.BlockSpec{ID: 0, Tag: testTag(3), WillInit: true})
		}},
		{"parent block missing", func(t *testing.T) *schema.DecodedRecord {
			return spgRecord(t, schema.XLogSpgistAddLeaf, addLeaf(false, 3, 0, 1, 0, spgLeaf(24, 3, 0)), blk0)
		}},
		{"node not in the parent", func(t *testing.T) *schema.DecodedRecord {
			return spgRecord(t, schema.XLogSpgistAddLeaf, addLeaf(false, 3, 0, 1, 5, spgLeaf(24, 3, 0)),
				blk0, schema.BlockSpec{ID: 1, Tag: testTag(5)})
		}},
		{"vacuum root offsets not ascending", func(t *testing.T) *schema.DecodedRecord {
			md := (&spgMD{}).u16(3, 0).state(1, false).u16(2, 1, 3).b
			return spgRecord(t, schema.XLogSpgistVacuumRoot, md, blk0)
		}},
		{"vacuum leaf move past the end", func(t *testing.T) *schema.DecodedRecord {
			md := (&spgMD{}).u16(0, 0, 1, 0).state(1, false).u16(2).u16(7).b
			return spgRecord(t, schema.XLogSpgistVacuumLeaf, md, blk0)
		}},
		{"move leafs without a parent block", func(t *testing.T) *schema.DecodedRecord {
			md := (&spgMD{}).u16(0).u8(0, 0, 0, 0).u16(1, 0).u8(0, 0).state(1, false).u16(3).raw(spgLeaf(16, 1, 0)).b
			return spgRecord(t, schema.XLogSpgistMoveLeafs, md, blk0, schema.BlockSpec{ID: 1, Tag: testTag(4)})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pages := NewMemPages()
			pages.Put(testTag(3), leafPage(t))
			pages.Put(testTag(5), spgPage(t, 0, 0, 0, spgInner(0, 2, 1)))
			rec := tc.rec(t)
			_, err := newTestEngine(t).Apply(rec, pages)
			var u *Unsupported
			if !errors.As(err, &u) {
				t.Fatalf("err %v, want *Unsupported", err)
			}
			for _, b := range rec.Blocks {
				if !pages.Unavailable(b.Tag) {
					t.Errorf("block %d still available", b.Tag.Block)
				}
			}
		})
	}
}

// TestSpgMask: spg_mask blanks the LSN, checksum, hint bits and hole,
// and nothing else (counters, tuples, line pointer flags are compared).
func TestSpgMask(t *testing.T) {
	p := spgPage(t, spgistLeaf, 3, 4, spgLeaf(24, 1, 0))
	p.SetChecksum(0x1234)
	p.SetFlags(0x0007)
	p.SetPruneXid(77)
	hole := p[p.Lower():p.Upper()]
	for i := range hole {
		hole[i] = 0xEE
	}
	want := append(schema.Page(nil), p...)
	if err := MaskSPGist(p, 3); err != nil {
		t.Fatal(err)
	}
	clear(want[0:10])
	clear(want[20:24])
	binary.LittleEndian.PutUint16(want[10:], 0)
	clear(want[want.Lower():want.Upper()])
	if !bytes.Equal(p, want) {
		t.Fatal("mask differs")
	}
	// pd_lower below the header: the hole is left alone.
	q := make([]byte, schema.BLCKSZ)
	q[100] = 1
	if err := MaskSPGist(q, 0); err != nil || q[100] != 1 {
		t.Fatalf("new page: %v, byte %d", err, q[100])
	}
}
