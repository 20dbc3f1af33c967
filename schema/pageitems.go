package schema

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
)

// The items of heap and btree pages as pageinspect shows them
// (contrib/pageinspect heapfuncs.c heap_page_items, btreefuncs.c
// bt_page_items), with the values in PostgreSQL's text output.

// HeapItem is one row of heap_page_items.
type HeapItem struct {
	Lp              OffsetNumber
	LpOff, LpLen    uint16
	LpFlags         uint8
	HasHeader       bool // the line pointer holds a tuple header: t_xmin … t_hoff
	Header          HeapTupleHeader
	HasBits, HasOid bool
	Bits            string // t_bits as '0'/'1' characters
	Oid             Oid    // t_oid: only tuples of pre-12 tables WITH OIDS
	HasData         bool
	Data            []byte // t_data: the tuple after t_hoff (aliases the page)
}

// HeapPageItems decodes every line pointer of a heap page as
// heap_page_items does, with its checks: a tuple header is read only
// when the line pointer has storage of at least MinHeapTupleSize bytes at
// a MAXALIGNed offset inside the page, and t_bits, t_oid and t_data only
// when t_hoff is MAXALIGNed and inside the item.
func HeapPageItems(p Page) ([]HeapItem, error) {
	if len(p) < SizeOfPageHeaderData {
		return nil, fmt.Errorf("heap_page_items: input page too small (%d bytes)", len(p))
	}
	n := p.MaxOffsetNumber()
	out := make([]HeapItem, 0, n)
	for off := FirstOffsetNumber; off <= n; off++ {
		id := p.ItemID(off)
		it := HeapItem{Lp: off, LpOff: id.Off(), LpFlags: id.Flags(), LpLen: id.Len()}
		start, length := int(id.Off()), int(id.Len())
		if id.HasStorage() && length >= MinHeapTupleSize && start%maxAlignOf == 0 && start+length <= len(p) {
			tup := p[start : start+length]
			it.HasHeader = true
			it.Header, _ = ParseHeapTupleHeader(tup) // long enough: checked above
			hoff := int(it.Header.Hoff)
			if hoff >= SizeofHeapTupleHeader && hoff <= length && hoff%maxAlignOf == 0 {
				if it.Header.HasNulls() {
					nbits := (it.Header.Natts() + 7) / 8 * 8 // BITMAPLEN(natts) * BITS_PER_BYTE
					var sb strings.Builder
					for i := 0; i < nbits; i++ {
						c := byte('0')
						if pos := SizeofHeapTupleHeader + i/8; pos < length && tup[pos]&(1<<(i%8)) != 0 {
							c = '1'
						}
						sb.WriteByte(c)
					}
					it.HasBits, it.Bits = true, sb.String()
				}
				if it.Header.Infomask&HeapHasOidOld != 0 && hoff >= SizeofHeapTupleHeader+4 {
					it.HasOid, it.Oid = true, binary.LittleEndian.Uint32(tup[hoff-4:])
				}
				it.HasData, it.Data = true, tup[hoff:]
			}
		}
		out = append(out, it)
	}
	return out, nil
}

// HeapItemColumns are the columns of heap_page_items.
func HeapItemColumns() []string {
	return []string{"lp", "lp_off", "lp_flags", "lp_len", "t_xmin", "t_xmax", "t_field3", "t_ctid",
		"t_infomask2", "t_infomask", "t_hoff", "t_bits", "t_oid", "t_data"}
}

// Values is the item in PostgreSQL's text output, one per
// HeapItemColumns; nil is NULL. t_field3 is an int4, so shown signed.
func (it *HeapItem) Values() []*string {
	v := make([]*string, 14)
	set := func(i int, s string) { v[i] = &s }
	u := func(i int, x uint64) { set(i, strconv.FormatUint(x, 10)) }
	u(0, uint64(it.Lp))
	u(1, uint64(it.LpOff))
	u(2, uint64(it.LpFlags))
	u(3, uint64(it.LpLen))
	if !it.HasHeader {
		return v
	}
	h := &it.Header
	u(4, uint64(h.Xmin))
	u(5, uint64(h.Xmax))
	set(6, strconv.FormatInt(int64(int32(h.Field3)), 10))
	set(7, h.Ctid.String())
	u(8, uint64(h.Infomask2))
	u(9, uint64(h.Infomask))
	u(10, uint64(h.Hoff))
	if it.HasBits {
		set(11, it.Bits)
	}
	if it.HasOid {
		u(12, uint64(it.Oid))
	}
	if it.HasData {
		set(13, ByteaText(it.Data))
	}
	return v
}

// Flags are heap_tuple_infomask_flags' raw_flags and combined_flags for
// the item's tuple, as text[] values; empty when it has no header.
func (it *HeapItem) Flags() (raw, combined string) {
	if !it.HasHeader {
		return "", ""
	}
	r, c := InfomaskFlags(it.Header.Infomask, it.Header.Infomask2)
	return TextArray(r), TextArray(c)
}

// ByteaText formats bytes as bytea's hex output: \x then hex digits.
func ByteaText(b []byte) string { return `\x` + hex.EncodeToString(b) }

// BTPageOpaque is BTPageOpaqueData, a btree page's special space.
type BTPageOpaque struct {
	Prev, Next BlockNumber
	Level      uint32
	Flags      uint16
	CycleID    uint16
}

// btpo_flags bits (access/nbtree.h).
const (
	BTPLeaf            = 1 << 0 // BTP_LEAF
	BTPRoot            = 1 << 1 // BTP_ROOT
	BTPDeleted         = 1 << 2 // BTP_DELETED
	BTPMeta            = 1 << 3 // BTP_META
	BTPHalfDead        = 1 << 4 // BTP_HALF_DEAD
	BTPSplitEnd        = 1 << 5 // BTP_SPLIT_END
	BTPHasGarbage      = 1 << 6 // BTP_HAS_GARBAGE
	BTPIncompleteSplit = 1 << 7 // BTP_INCOMPLETE_SPLIT
	BTPHasFullXid      = 1 << 8 // BTP_HAS_FULLXID
)

// SizeOfBTPageOpaque is MAXALIGN(sizeof(BTPageOpaqueData)).
const SizeOfBTPageOpaque = 16

// BTreeOpaque reads a btree page's special space; an error when the page
// does not have one of the right size (not a btree page).
func BTreeOpaque(p Page) (BTPageOpaque, error) {
	if len(p) != BLCKSZ || p.IsNew() {
		return BTPageOpaque{}, fmt.Errorf("input page is not a valid btree page: new or of %d bytes", len(p))
	}
	if p.SpecialSize() != SizeOfBTPageOpaque || int(p.Special())+SizeOfBTPageOpaque > len(p) {
		return BTPageOpaque{}, fmt.Errorf("input page is not a valid btree page: special space of %d bytes, want %d", p.SpecialSize(), SizeOfBTPageOpaque)
	}
	s := p[p.Special():]
	le := binary.LittleEndian
	return BTPageOpaque{
		Prev:    BlockNumber(le.Uint32(s)),
		Next:    BlockNumber(le.Uint32(s[4:])),
		Level:   le.Uint32(s[8:]),
		Flags:   le.Uint16(s[12:]),
		CycleID: le.Uint16(s[14:]),
	}, nil
}

// Index tuple layout (access/itup.h, nbtree.h).
const (
	indexSizeMask     = 0x1FFF
	indexAltTidMask   = 0x2000 // INDEX_AM_RESERVED_BIT, nbtree's INDEX_ALT_TID_MASK
	indexVarMask      = 0x4000
	indexNullMask     = 0x8000
	btOffsetMask      = 0x0FFF
	btPivotHeapTid    = 0x1000
	btIsPosting       = 0x2000
	sizeOfItemPointer = 6
)

// BtreeItem is one row of bt_page_items.
type BtreeItem struct {
	Offset  OffsetNumber
	Ctid    ItemPointer // t_tid as stored (for pivots and posting lists it holds other things)
	ItemLen uint16
	Nulls   bool
	Vars    bool
	Data    []byte // the key, without a posting list or pivot heap TID (aliases the page)
	HasDead bool   // false for pivot tuples, whose dead column is NULL
	Dead    bool
	HasHtid bool
	Htid    ItemPointer
	Tids    []ItemPointer // the posting list; nil when the tuple is not one
}

// BtreePageItems decodes the items of a btree page as bt_page_items does.
// The meta page, and pages that are not btree pages, are errors (as in
// pageinspect); so is an item whose bounds or lengths do not fit.
func BtreePageItems(p Page) ([]BtreeItem, error) {
	op, err := BTreeOpaque(p)
	if err != nil {
		return nil, err
	}
	if op.Flags&BTPMeta != 0 {
		return nil, fmt.Errorf("block is a meta page")
	}
	leaf, rightmost := op.Flags&BTPLeaf != 0, op.Next == 0
	le := binary.LittleEndian
	n := p.MaxOffsetNumber()
	out := make([]BtreeItem, 0, n)
	for off := FirstOffsetNumber; off <= n; off++ {
		id := p.ItemID(off)
		start, length := int(id.Off()), int(id.Len())
		if start+length > len(p) || length < SizeOfIndexTupleData {
			return nil, fmt.Errorf("bt_page_items: item at offset %d (off %d, len %d) does not fit in the page", off, start, length)
		}
		itup := p[start : start+length]
		info := le.Uint16(itup[6:])
		size := int(info & indexSizeMask)
		if size > length || size < SizeOfIndexTupleData {
			return nil, fmt.Errorf("bt_page_items: item at offset %d has size %d in a %d-byte line pointer", off, size, length)
		}
		it := BtreeItem{
			Offset:  off,
			Ctid:    readItemPointer(itup),
			ItemLen: uint16(size),
			Nulls:   info&indexNullMask != 0,
			Vars:    info&indexVarMask != 0,
		}
		dataOff := 8 // IndexInfoFindDataOffset: MAXALIGN(sizeof(IndexTupleData)) …
		if it.Nulls {
			dataOff = 16 // … + sizeof(IndexAttributeBitMapData)
		}
		tidOff := uint16(it.Ctid.Offset)
		alt := info&indexAltTidMask != 0
		posting := alt && tidOff&btIsPosting != 0
		pivot := alt && tidOff&btIsPosting == 0
		dlen := size - dataOff
		var htid *ItemPointer
		switch {
		case posting:
			postOff := int(uint32(it.Ctid.Block))
			nposting := int(tidOff & btOffsetMask)
			if postOff < dataOff || postOff+nposting*sizeOfItemPointer > size {
				return nil, fmt.Errorf("bt_page_items: posting list of %d tids at %d in item %d of %d bytes", nposting, postOff, off, size)
			}
			dlen -= size - postOff
			it.Tids = make([]ItemPointer, nposting)
			for i := range it.Tids {
				it.Tids[i] = readItemPointer(itup[postOff+i*sizeOfItemPointer:])
			}
			if nposting > 0 {
				htid = &it.Tids[0]
			}
		case pivot:
			if tidOff&btPivotHeapTid != 0 {
				if size < sizeOfItemPointer {
					return nil, fmt.Errorf("bt_page_items: pivot item %d of %d bytes", off, size)
				}
				t := readItemPointer(itup[size-sizeOfItemPointer:])
				htid = &t
				dlen -= 8 // MAXALIGN(sizeof(ItemPointerData))
			}
		default:
			t := it.Ctid
			htid = &t
		}
		if dlen < 0 || dlen > indexSizeMask || dataOff+dlen > size {
			return nil, fmt.Errorf("invalid tuple length %d for tuple at offset number %d", dlen, off)
		}
		it.Data = itup[dataOff : dataOff+dlen]
		isPivot := !leaf || (!rightmost && off == FirstOffsetNumber) // P_HIKEY
		if !isPivot {
			it.HasDead, it.Dead = true, id.IsDead()
		}
		if isPivot && !pivot {
			htid = nil // a !heapkeyspace pivot: its t_tid is no heap TID
		}
		if htid != nil {
			it.HasHtid, it.Htid = true, *htid
		}
		out = append(out, it)
	}
	return out, nil
}

// BtreeItemColumns are the columns of bt_page_items.
func BtreeItemColumns() []string {
	return []string{"itemoffset", "ctid", "itemlen", "nulls", "vars", "data", "dead", "htid", "tids"}
}

// Values is the item in PostgreSQL's text output, one per
// BtreeItemColumns; nil is NULL.
func (it *BtreeItem) Values() []*string {
	v := make([]*string, 9)
	set := func(i int, s string) { v[i] = &s }
	tf := func(b bool) string {
		if b {
			return "t"
		}
		return "f"
	}
	set(0, strconv.Itoa(int(int16(it.Offset))))
	set(1, it.Ctid.String())
	set(2, strconv.Itoa(int(int16(it.ItemLen))))
	set(3, tf(it.Nulls))
	set(4, tf(it.Vars))
	var sb strings.Builder
	for i, b := range it.Data {
		if i > 0 {
			sb.WriteByte(' ')
		}
		sb.WriteString(hex.EncodeToString([]byte{b}))
	}
	set(5, sb.String())
	if it.HasDead {
		set(6, tf(it.Dead))
	}
	if it.HasHtid {
		set(7, it.Htid.String())
	}
	if it.Tids != nil {
		elems := make([]string, len(it.Tids))
		for i, t := range it.Tids {
			elems[i] = `"` + t.String() + `"` // array_out quotes elements with commas
		}
		set(8, TextArray(elems))
	}
	return v
}
