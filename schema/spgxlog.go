package schema

import (
	"encoding/binary"
	"fmt"
)

// SP-GiST WAL record layouts (access/spgxlog.h, PostgreSQL 15, x86-64):
// one type per C struct, each decoded in one place. The fixed part of a
// record is followed, unaligned, by offset arrays and tuples; the decoders
// check that they are all there, copy the arrays and slice the tuples out
// of the record (the slices alias it). Bytes after the last tuple are
// ignored, as spg_redo ignores them.

// SP-GiST record opcodes (XLOG_SPGIST_*; 0x00, CREATE_INDEX, is retired).
const (
	XLogSpgistAddLeaf        = 0x10
	XLogSpgistMoveLeafs      = 0x20
	XLogSpgistAddNode        = 0x30
	XLogSpgistSplitTuple     = 0x40
	XLogSpgistPickSplit      = 0x50
	XLogSpgistVacuumLeaf     = 0x60
	XLogSpgistVacuumRoot     = 0x70
	XLogSpgistVacuumRedirect = 0x80
)

// SP-GiST tuple states (SPGIST_LIVE ... in access/spgist_private.h).
const (
	SpgistLive        = 0
	SpgistRedirect    = 1
	SpgistDead        = 2
	SpgistPlaceholder = 3
)

// Sizes of the SP-GiST tuple headers (access/spgist_private.h).
const (
	// SizeOfSpGistLeafTupleData is sizeof(SpGistLeafTupleData): the
	// tupstate/size word, t_info u16 and heapPtr, which redo copies out of
	// the record to read a leaf tuple's size.
	SizeOfSpGistLeafTupleData = 12
	// SizeOfSpGistInnerTupleData is sizeof(SpGistInnerTupleData) and
	// SGITHDRSZ: the tupstate/allTheSame/nNodes/prefixSize word, size u16,
	// two pad bytes. The prefix datum, then the node tuples, follow it.
	SizeOfSpGistInnerTupleData = 8
	// SGDTSIZE is the size of a dead (REDIRECT, DEAD, PLACEHOLDER) tuple:
	// the word, t_info u16, pointer ItemPointerData, xid u32.
	SGDTSIZE = 16

	spgInnerTupleSizeOff = 4 // SpGistInnerTupleData.size
)

// SpGistTupleWord is the 32-bit word every SP-GiST tuple starts with, a C
// bit-field laid out from the least significant bit: tupstate in bits 0-1,
// then for leaf and dead tuples size in bits 2-31, for inner tuples
// allTheSame in bit 2, nNodes in bits 3-15 and prefixSize in bits 16-31.
type SpGistTupleWord uint32

// SpGistTupleWordOf reads the word at the start of tup (at least 4 bytes).
func SpGistTupleWordOf(tup []byte) SpGistTupleWord {
	return SpGistTupleWord(binary.LittleEndian.Uint32(tup))
}

// NewSpGistTupleWord is the word of a leaf or dead tuple.
func NewSpGistTupleWord(tupstate uint8, size uint32) SpGistTupleWord {
	return SpGistTupleWord(uint32(tupstate&3) | size<<2)
}

// Put stores the word at the start of tup.
func (w SpGistTupleWord) Put(tup []byte) { binary.LittleEndian.PutUint32(tup, uint32(w)) }

// State is tupstate.
func (w SpGistTupleWord) State() uint8 { return uint8(w & 3) }

// WithState is the word with tupstate replaced, the other fields kept.
func (w SpGistTupleWord) WithState(tupstate uint8) SpGistTupleWord {
	return w&^3 | SpGistTupleWord(tupstate&3)
}

// Size is the size of a leaf or dead tuple.
func (w SpGistTupleWord) Size() uint32 { return uint32(w >> 2) }

// AllTheSame is an inner tuple's allTheSame.
func (w SpGistTupleWord) AllTheSame() bool { return w&4 != 0 }

// NNodes is an inner tuple's nNodes.
func (w SpGistTupleWord) NNodes() int { return int(w>>3) & 0x1FFF }

// PrefixSize is an inner tuple's prefixSize.
func (w SpGistTupleWord) PrefixSize() int { return int(w >> 16) }

// SpGistInnerTupleSize is an inner tuple's size field (tup holds at least
// SizeOfSpGistInnerTupleData bytes).
func SpGistInnerTupleSize(tup []byte) int {
	return int(binary.LittleEndian.Uint16(tup[spgInnerTupleSizeOff:]))
}

// SpgxlogError reports record data that does not hold the layout of the
// SP-GiST struct it is decoded as.
type SpgxlogError struct {
	Struct string // the C struct, e.g. "spgxlogMoveLeafs"
	// The reason, formatted only when asked for: redo drops these errors.
	format string
	args   []any
}

// Reason says what is wrong with the data.
func (e *SpgxlogError) Reason() string { return fmt.Sprintf(e.format, e.args...) }

func (e *SpgxlogError) Error() string { return e.Struct + ": " + e.Reason() }

func spgErr(name, format string, args ...any) error {
	return &SpgxlogError{Struct: name, format: format, args: args}
}

// spgFixed checks that b holds a struct's fixed part.
func spgFixed(name string, b []byte, size int) error {
	if len(b) < size {
		return spgErr(name, "main data is %d bytes, shorter than the struct's %d", len(b), size)
	}
	return nil
}

// spgDescFixed returns b as a fixed decoder needs it (at least size bytes,
// zero-extended if shorter) when it holds the need bytes a description
// prints from, else nil.
func spgDescFixed(b []byte, need, size int) []byte {
	if len(b) < need {
		return nil
	}
	if len(b) < size {
		padded := make([]byte, size)
		copy(padded, b)
		return padded
	}
	return b
}

func spgU16(b []byte, off int) uint16 { return binary.LittleEndian.Uint16(b[off:]) }
func spgOff(b []byte, off int) OffsetNumber {
	return OffsetNumber(binary.LittleEndian.Uint16(b[off:]))
}

// spgReader walks what follows a struct's fixed part.
type spgReader struct {
	name string
	b    []byte
	pos  int
}

func (r *spgReader) take(n int, what string) ([]byte, error) {
	if n < 0 || len(r.b)-r.pos < n {
		return nil, spgErr(r.name, "%s: need %d bytes at %d, main data is %d bytes", what, n, r.pos, len(r.b))
	}
	s := r.b[r.pos : r.pos+n : r.pos+n]
	r.pos += n
	return s, nil
}

// offsets reads an unaligned OffsetNumber array.
func (r *spgReader) offsets(n int, what string) ([]OffsetNumber, error) {
	s, err := r.take(2*n, what)
	if err != nil {
		return nil, err
	}
	offs := make([]OffsetNumber, n)
	for i := range offs {
		offs[i] = spgOff(s, 2*i)
	}
	return offs, nil
}

// leafTuple slices out a leaf tuple, whose size is in its header.
func (r *spgReader) leafTuple(what string) ([]byte, error) {
	if len(r.b)-r.pos < SizeOfSpGistLeafTupleData {
		return nil, spgErr(r.name, "%s: header needs %d bytes at %d, main data is %d bytes", what, SizeOfSpGistLeafTupleData, r.pos, len(r.b))
	}
	size := SpGistTupleWordOf(r.b[r.pos:]).Size()
	if size < SizeOfSpGistLeafTupleData || size > uint32(len(r.b)-r.pos) {
		return nil, spgErr(r.name, "%s: size %d at %d is below its %d-byte header or past the end of %d bytes of main data",
			what, size, r.pos, SizeOfSpGistLeafTupleData, len(r.b))
	}
	return r.take(int(size), what)
}

// innerTuple slices out an inner tuple, whose size is in its header.
func (r *spgReader) innerTuple(what string) ([]byte, error) {
	if len(r.b)-r.pos < SizeOfSpGistInnerTupleData {
		return nil, spgErr(r.name, "%s: header needs %d bytes at %d, main data is %d bytes", what, SizeOfSpGistInnerTupleData, r.pos, len(r.b))
	}
	size := SpGistInnerTupleSize(r.b[r.pos:])
	if size < SizeOfSpGistInnerTupleData || size > len(r.b)-r.pos {
		return nil, spgErr(r.name, "%s: size %d at %d is below its %d-byte header or past the end of %d bytes of main data",
			what, size, r.pos, SizeOfSpGistInnerTupleData, len(r.b))
	}
	return r.take(size, what)
}

// SpgxlogState is spgxlogState, what fillFakeState takes from a record.
type SpgxlogState struct {
	MyXid   uint32 // TransactionId myXid: the xid of REDIRECT tuples
	IsBuild bool
}

// SizeOfSpgxlogState is sizeof(spgxlogState): myXid u32 @0, isBuild @4,
// three pad bytes.
const SizeOfSpgxlogState = 8

func decodeSpgxlogState(b []byte) SpgxlogState {
	return SpgxlogState{MyXid: binary.LittleEndian.Uint32(b), IsBuild: b[4] != 0}
}

// SpgxlogAddLeaf is spgxlogAddLeaf (XLOG_SPGIST_ADD_LEAF) and the leaf
// tuple that follows it.
type SpgxlogAddLeaf struct {
	NewPage        bool // init the leaf page (block 0)
	StoresNulls    bool
	OffnumLeaf     OffsetNumber
	OffnumHeadLeaf OffsetNumber
	OffnumParent   OffsetNumber // where the parent downlink is (block 1), if valid
	NodeI          uint16
	LeafTuple      []byte // exactly its header's size bytes
}

// spgxlogAddLeaf layout; the record holds sizeof (10 bytes).
const (
	SizeOfSpgxlogAddLeaf   = 10
	spgAddLeafNewPage      = 0
	spgAddLeafStoresNulls  = 1
	spgAddLeafOffnumLeaf   = 2
	spgAddLeafOffnumHead   = 4
	spgAddLeafOffnumParent = 6
	spgAddLeafNodeI        = 8
	spgAddLeafDescLen      = SizeOfSpgxlogAddLeaf
)

func decodeSpgxlogAddLeafFixed(b []byte) SpgxlogAddLeaf {
	return SpgxlogAddLeaf{
		NewPage:        b[spgAddLeafNewPage] != 0,
		StoresNulls:    b[spgAddLeafStoresNulls] != 0,
		OffnumLeaf:     spgOff(b, spgAddLeafOffnumLeaf),
		OffnumHeadLeaf: spgOff(b, spgAddLeafOffnumHead),
		OffnumParent:   spgOff(b, spgAddLeafOffnumParent),
		NodeI:          spgU16(b, spgAddLeafNodeI),
	}
}

// DecodeSpgxlogAddLeaf decodes an ADD_LEAF record's main data.
func DecodeSpgxlogAddLeaf(b []byte) (SpgxlogAddLeaf, error) {
	const name = "spgxlogAddLeaf"
	if err := spgFixed(name, b, SizeOfSpgxlogAddLeaf); err != nil {
		return SpgxlogAddLeaf{}, err
	}
	x := decodeSpgxlogAddLeafFixed(b)
	r := spgReader{name: name, b: b, pos: SizeOfSpgxlogAddLeaf}
	var err error
	if x.LeafTuple, err = r.leafTuple("leaf tuple"); err != nil {
		return SpgxlogAddLeaf{}, err
	}
	return x, nil
}

// SpgxlogMoveLeafs is spgxlogMoveLeafs (XLOG_SPGIST_MOVE_LEAFS) and the
// arrays and leaf tuples that follow it.
type SpgxlogMoveLeafs struct {
	NMoves       uint16
	NewPage      bool // init the destination page (block 1)
	ReplaceDead  bool
	StoresNulls  bool
	OffnumParent OffsetNumber
	NodeI        uint16
	StateSrc     SpgxlogState

	ToDelete   []OffsetNumber // NMoves, on the source page
	ToInsert   []OffsetNumber // NInsert(), on the destination page
	LeafTuples [][]byte       // NInsert()
}

// NInsert is the number of tuples inserted: 1 when replacing a DEAD
// tuple, else NMoves+1.
func (x *SpgxlogMoveLeafs) NInsert() int {
	if x.ReplaceDead {
		return 1
	}
	return int(x.NMoves) + 1
}

// spgxlogMoveLeafs layout; the record holds SizeOfSpgxlogMoveLeafs
// (offsetof offsets) bytes.
const (
	SizeOfSpgxlogMoveLeafs   = 20
	spgMoveLeafsNMoves       = 0
	spgMoveLeafsNewPage      = 2
	spgMoveLeafsReplaceDead  = 3
	spgMoveLeafsStoresNulls  = 4
	spgMoveLeafsOffnumParent = 6
	spgMoveLeafsNodeI        = 8
	spgMoveLeafsStateSrc     = 12
	spgMoveLeafsDescLen      = spgMoveLeafsNodeI + 2
)

func decodeSpgxlogMoveLeafsFixed(b []byte) SpgxlogMoveLeafs {
	return SpgxlogMoveLeafs{
		NMoves:       spgU16(b, spgMoveLeafsNMoves),
		NewPage:      b[spgMoveLeafsNewPage] != 0,
		ReplaceDead:  b[spgMoveLeafsReplaceDead] != 0,
		StoresNulls:  b[spgMoveLeafsStoresNulls] != 0,
		OffnumParent: spgOff(b, spgMoveLeafsOffnumParent),
		NodeI:        spgU16(b, spgMoveLeafsNodeI),
		StateSrc:     decodeSpgxlogState(b[spgMoveLeafsStateSrc:]),
	}
}

// DecodeSpgxlogMoveLeafs decodes a MOVE_LEAFS record's main data.
func DecodeSpgxlogMoveLeafs(b []byte) (SpgxlogMoveLeafs, error) {
	const name = "spgxlogMoveLeafs"
	if err := spgFixed(name, b, SizeOfSpgxlogMoveLeafs); err != nil {
		return SpgxlogMoveLeafs{}, err
	}
	x := decodeSpgxlogMoveLeafsFixed(b)
	r := spgReader{name: name, b: b, pos: SizeOfSpgxlogMoveLeafs}
	var err error
	if x.ToDelete, err = r.offsets(int(x.NMoves), "toDelete"); err != nil {
		return SpgxlogMoveLeafs{}, err
	}
	n := x.NInsert()
	if x.ToInsert, err = r.offsets(n, "toInsert"); err != nil {
		return SpgxlogMoveLeafs{}, err
	}
	x.LeafTuples = make([][]byte, n)
	for i := range x.LeafTuples {
		if x.LeafTuples[i], err = r.leafTuple("leaf tuple"); err != nil {
			return SpgxlogMoveLeafs{}, err
		}
	}
	return x, nil
}

// SpgxlogAddNode is spgxlogAddNode (XLOG_SPGIST_ADD_NODE) and the inner
// tuple that follows it.
type SpgxlogAddNode struct {
	Offnum    OffsetNumber // the original tuple, on block 0
	OffnumNew OffsetNumber // the new tuple, on block 1 (when moved)
	NewPage   bool         // init block 1
	// ParentBlk says where the parent downlink is: 0 the original page,
	// 1 the new page, 2 block 2, -1 not updated.
	ParentBlk    int8
	OffnumParent OffsetNumber
	NodeI        uint16
	StateSrc     SpgxlogState
	InnerTuple   []byte // the updated inner tuple
}

// spgxlogAddNode layout; the record holds sizeof (20 bytes).
const (
	SizeOfSpgxlogAddNode   = 20
	spgAddNodeOffnum       = 0
	spgAddNodeOffnumNew    = 2
	spgAddNodeNewPage      = 4
	spgAddNodeParentBlk    = 5
	spgAddNodeOffnumParent = 6
	spgAddNodeNodeI        = 8
	spgAddNodeStateSrc     = 12
	spgAddNodeDescLen      = spgAddNodeNodeI + 2
)

func decodeSpgxlogAddNodeFixed(b []byte) SpgxlogAddNode {
	return SpgxlogAddNode{
		Offnum:       spgOff(b, spgAddNodeOffnum),
		OffnumNew:    spgOff(b, spgAddNodeOffnumNew),
		NewPage:      b[spgAddNodeNewPage] != 0,
		ParentBlk:    int8(b[spgAddNodeParentBlk]),
		OffnumParent: spgOff(b, spgAddNodeOffnumParent),
		NodeI:        spgU16(b, spgAddNodeNodeI),
		StateSrc:     decodeSpgxlogState(b[spgAddNodeStateSrc:]),
	}
}

// DecodeSpgxlogAddNode decodes an ADD_NODE record's main data.
func DecodeSpgxlogAddNode(b []byte) (SpgxlogAddNode, error) {
	const name = "spgxlogAddNode"
	if err := spgFixed(name, b, SizeOfSpgxlogAddNode); err != nil {
		return SpgxlogAddNode{}, err
	}
	x := decodeSpgxlogAddNodeFixed(b)
	r := spgReader{name: name, b: b, pos: SizeOfSpgxlogAddNode}
	var err error
	if x.InnerTuple, err = r.innerTuple("inner tuple"); err != nil {
		return SpgxlogAddNode{}, err
	}
	return x, nil
}

// SpgxlogSplitTuple is spgxlogSplitTuple (XLOG_SPGIST_SPLIT_TUPLE) and the
// two inner tuples that follow it.
type SpgxlogSplitTuple struct {
	OffnumPrefix   OffsetNumber // on block 0
	OffnumPostfix  OffsetNumber // on block 1, or block 0 if PostfixBlkSame
	NewPage        bool         // init block 1
	PostfixBlkSame bool
	PrefixTuple    []byte
	PostfixTuple   []byte
}

// spgxlogSplitTuple layout; the record holds sizeof (6 bytes).
const (
	SizeOfSpgxlogSplitTuple     = 6
	spgSplitTupleOffnumPrefix   = 0
	spgSplitTupleOffnumPostfix  = 2
	spgSplitTupleNewPage        = 4
	spgSplitTuplePostfixBlkSame = 5
	spgSplitTupleDescLen        = SizeOfSpgxlogSplitTuple
)

func decodeSpgxlogSplitTupleFixed(b []byte) SpgxlogSplitTuple {
	return SpgxlogSplitTuple{
		OffnumPrefix:   spgOff(b, spgSplitTupleOffnumPrefix),
		OffnumPostfix:  spgOff(b, spgSplitTupleOffnumPostfix),
		NewPage:        b[spgSplitTupleNewPage] != 0,
		PostfixBlkSame: b[spgSplitTuplePostfixBlkSame] != 0,
	}
}

// DecodeSpgxlogSplitTuple decodes a SPLIT_TUPLE record's main data.
func DecodeSpgxlogSplitTuple(b []byte) (SpgxlogSplitTuple, error) {
	const name = "spgxlogSplitTuple"
	if err := spgFixed(name, b, SizeOfSpgxlogSplitTuple); err != nil {
		return SpgxlogSplitTuple{}, err
	}
	x := decodeSpgxlogSplitTupleFixed(b)
	r := spgReader{name: name, b: b, pos: SizeOfSpgxlogSplitTuple}
	var err error
	if x.PrefixTuple, err = r.innerTuple("prefix tuple"); err != nil {
		return SpgxlogSplitTuple{}, err
	}
	if x.PostfixTuple, err = r.innerTuple("postfix tuple"); err != nil {
		return SpgxlogSplitTuple{}, err
	}
	return x, nil
}

// SpgxlogPickSplit is spgxlogPickSplit (XLOG_SPGIST_PICKSPLIT) and the
// arrays and tuples that follow it.
type SpgxlogPickSplit struct {
	IsRootSplit   bool
	NDelete       uint16
	NInsert       uint16
	InitSrc       bool // init block 0
	InitDest      bool // init block 1
	OffnumInner   OffsetNumber
	InitInner     bool // init block 2
	StoresNulls   bool
	InnerIsParent bool
	OffnumParent  OffsetNumber
	NodeI         uint16
	StateSrc      SpgxlogState

	ToDelete       []OffsetNumber // NDelete, on the source page
	ToInsert       []OffsetNumber // NInsert
	LeafPageSelect []byte         // NInsert: 0 source page, else destination
	InnerTuple     []byte
	LeafTuples     [][]byte // NInsert
}

// spgxlogPickSplit layout; the record holds SizeOfSpgxlogPickSplit
// (offsetof offsets) bytes.
const (
	SizeOfSpgxlogPickSplit    = 28
	spgPickSplitIsRootSplit   = 0
	spgPickSplitNDelete       = 2
	spgPickSplitNInsert       = 4
	spgPickSplitInitSrc       = 6
	spgPickSplitInitDest      = 7
	spgPickSplitOffnumInner   = 8
	spgPickSplitInitInner     = 10
	spgPickSplitStoresNulls   = 11
	spgPickSplitInnerIsParent = 12
	spgPickSplitOffnumParent  = 14
	spgPickSplitNodeI         = 16
	spgPickSplitStateSrc      = 20
	spgPickSplitDescLen       = spgPickSplitNodeI + 2
)

func decodeSpgxlogPickSplitFixed(b []byte) SpgxlogPickSplit {
	return SpgxlogPickSplit{
		IsRootSplit:   b[spgPickSplitIsRootSplit] != 0,
		NDelete:       spgU16(b, spgPickSplitNDelete),
		NInsert:       spgU16(b, spgPickSplitNInsert),
		InitSrc:       b[spgPickSplitInitSrc] != 0,
		InitDest:      b[spgPickSplitInitDest] != 0,
		OffnumInner:   spgOff(b, spgPickSplitOffnumInner),
		InitInner:     b[spgPickSplitInitInner] != 0,
		StoresNulls:   b[spgPickSplitStoresNulls] != 0,
		InnerIsParent: b[spgPickSplitInnerIsParent] != 0,
		OffnumParent:  spgOff(b, spgPickSplitOffnumParent),
		NodeI:         spgU16(b, spgPickSplitNodeI),
		StateSrc:      decodeSpgxlogState(b[spgPickSplitStateSrc:]),
	}
}

// DecodeSpgxlogPickSplit decodes a PICKSPLIT record's main data.
func DecodeSpgxlogPickSplit(b []byte) (SpgxlogPickSplit, error) {
	const name = "spgxlogPickSplit"
	if err := spgFixed(name, b, SizeOfSpgxlogPickSplit); err != nil {
		return SpgxlogPickSplit{}, err
	}
	x := decodeSpgxlogPickSplitFixed(b)
	r := spgReader{name: name, b: b, pos: SizeOfSpgxlogPickSplit}
	var err error
	if x.ToDelete, err = r.offsets(int(x.NDelete), "toDelete"); err != nil {
		return SpgxlogPickSplit{}, err
	}
	n := int(x.NInsert)
	if x.ToInsert, err = r.offsets(n, "toInsert"); err != nil {
		return SpgxlogPickSplit{}, err
	}
	if x.LeafPageSelect, err = r.take(n, "leafPageSelect"); err != nil {
		return SpgxlogPickSplit{}, err
	}
	if x.InnerTuple, err = r.innerTuple("inner tuple"); err != nil {
		return SpgxlogPickSplit{}, err
	}
	x.LeafTuples = make([][]byte, n)
	for i := range x.LeafTuples {
		if x.LeafTuples[i], err = r.leafTuple("leaf tuple"); err != nil {
			return SpgxlogPickSplit{}, err
		}
	}
	return x, nil
}

// SpgxlogVacuumLeaf is spgxlogVacuumLeaf (XLOG_SPGIST_VACUUM_LEAF) and the
// six offset arrays that follow it.
type SpgxlogVacuumLeaf struct {
	NDead        uint16
	NPlaceholder uint16
	NMove        uint16
	NChain       uint16
	StateSrc     SpgxlogState

	ToDead        []OffsetNumber // NDead: become DEAD
	ToPlaceholder []OffsetNumber // NPlaceholder: become PLACEHOLDER
	MoveSrc       []OffsetNumber // NMove: moved from (become PLACEHOLDER)
	MoveDest      []OffsetNumber // NMove: moved to
	ChainSrc      []OffsetNumber // NChain: tuples whose nextOffset changes
	ChainDest     []OffsetNumber // NChain: their new nextOffset
}

// spgxlogVacuumLeaf layout; the record holds SizeOfSpgxlogVacuumLeaf
// (offsetof offsets) bytes.
const (
	SizeOfSpgxlogVacuumLeaf   = 16
	spgVacuumLeafNDead        = 0
	spgVacuumLeafNPlaceholder = 2
	spgVacuumLeafNMove        = 4
	spgVacuumLeafNChain       = 6
	spgVacuumLeafStateSrc     = 8
	spgVacuumLeafDescLen      = spgVacuumLeafNChain + 2
)

func decodeSpgxlogVacuumLeafFixed(b []byte) SpgxlogVacuumLeaf {
	return SpgxlogVacuumLeaf{
		NDead:        spgU16(b, spgVacuumLeafNDead),
		NPlaceholder: spgU16(b, spgVacuumLeafNPlaceholder),
		NMove:        spgU16(b, spgVacuumLeafNMove),
		NChain:       spgU16(b, spgVacuumLeafNChain),
		StateSrc:     decodeSpgxlogState(b[spgVacuumLeafStateSrc:]),
	}
}

// DecodeSpgxlogVacuumLeaf decodes a VACUUM_LEAF record's main data.
func DecodeSpgxlogVacuumLeaf(b []byte) (SpgxlogVacuumLeaf, error) {
	const name = "spgxlogVacuumLeaf"
	if err := spgFixed(name, b, SizeOfSpgxlogVacuumLeaf); err != nil {
		return SpgxlogVacuumLeaf{}, err
	}
	x := decodeSpgxlogVacuumLeafFixed(b)
	r := spgReader{name: name, b: b, pos: SizeOfSpgxlogVacuumLeaf}
	for _, a := range []struct {
		dst  *[]OffsetNumber
		n    uint16
		what string
	}{
		{&x.ToDead, x.NDead, "toDead"},
		{&x.ToPlaceholder, x.NPlaceholder, "toPlaceholder"},
		{&x.MoveSrc, x.NMove, "moveSrc"},
		{&x.MoveDest, x.NMove, "moveDest"},
		{&x.ChainSrc, x.NChain, "chainSrc"},
		{&x.ChainDest, x.NChain, "chainDest"},
	} {
		offs, err := r.offsets(int(a.n), a.what)
		if err != nil {
			return SpgxlogVacuumLeaf{}, err
		}
		*a.dst = offs
	}
	return x, nil
}

// SpgxlogVacuumRoot is spgxlogVacuumRoot (XLOG_SPGIST_VACUUM_ROOT) and the
// offsets that follow it.
type SpgxlogVacuumRoot struct {
	NDelete  uint16
	StateSrc SpgxlogState
	Offsets  []OffsetNumber // NDelete, ascending
}

// spgxlogVacuumRoot layout; the record holds SizeOfSpgxlogVacuumRoot
// (offsetof offsets) bytes.
const (
	SizeOfSpgxlogVacuumRoot = 12
	spgVacuumRootNDelete    = 0
	spgVacuumRootStateSrc   = 4
	spgVacuumRootDescLen    = spgVacuumRootNDelete + 2
)

func decodeSpgxlogVacuumRootFixed(b []byte) SpgxlogVacuumRoot {
	return SpgxlogVacuumRoot{
		NDelete:  spgU16(b, spgVacuumRootNDelete),
		StateSrc: decodeSpgxlogState(b[spgVacuumRootStateSrc:]),
	}
}

// DecodeSpgxlogVacuumRoot decodes a VACUUM_ROOT record's main data.
func DecodeSpgxlogVacuumRoot(b []byte) (SpgxlogVacuumRoot, error) {
	const name = "spgxlogVacuumRoot"
	if err := spgFixed(name, b, SizeOfSpgxlogVacuumRoot); err != nil {
		return SpgxlogVacuumRoot{}, err
	}
	x := decodeSpgxlogVacuumRootFixed(b)
	r := spgReader{name: name, b: b, pos: SizeOfSpgxlogVacuumRoot}
	var err error
	if x.Offsets, err = r.offsets(int(x.NDelete), "offsets"); err != nil {
		return SpgxlogVacuumRoot{}, err
	}
	return x, nil
}

// SpgxlogVacuumRedirect is spgxlogVacuumRedirect
// (XLOG_SPGIST_VACUUM_REDIRECT) and the offsets that follow it.
type SpgxlogVacuumRedirect struct {
	NToPlaceholder    uint16
	FirstPlaceholder  OffsetNumber // first placeholder to remove, if valid
	NewestRedirectXid uint32       // for hot-standby conflicts only
	Offsets           []OffsetNumber
}

// spgxlogVacuumRedirect layout; the record holds
// SizeOfSpgxlogVacuumRedirect (offsetof offsets) bytes.
const (
	SizeOfSpgxlogVacuumRedirect     = 8
	spgVacuumRedirectNToPlaceholder = 0
	spgVacuumRedirectFirst          = 2
	spgVacuumRedirectNewestXid      = 4
	spgVacuumRedirectDescLen        = SizeOfSpgxlogVacuumRedirect
)

func decodeSpgxlogVacuumRedirectFixed(b []byte) SpgxlogVacuumRedirect {
	return SpgxlogVacuumRedirect{
		NToPlaceholder:    spgU16(b, spgVacuumRedirectNToPlaceholder),
		FirstPlaceholder:  spgOff(b, spgVacuumRedirectFirst),
		NewestRedirectXid: binary.LittleEndian.Uint32(b[spgVacuumRedirectNewestXid:]),
	}
}

// DecodeSpgxlogVacuumRedirect decodes a VACUUM_REDIRECT record's main data.
func DecodeSpgxlogVacuumRedirect(b []byte) (SpgxlogVacuumRedirect, error) {
	const name = "spgxlogVacuumRedirect"
	if err := spgFixed(name, b, SizeOfSpgxlogVacuumRedirect); err != nil {
		return SpgxlogVacuumRedirect{}, err
	}
	x := decodeSpgxlogVacuumRedirectFixed(b)
	r := spgReader{name: name, b: b, pos: SizeOfSpgxlogVacuumRedirect}
	var err error
	if x.Offsets, err = r.offsets(int(x.NToPlaceholder), "offsets"); err != nil {
		return SpgxlogVacuumRedirect{}, err
	}
	return x, nil
}
