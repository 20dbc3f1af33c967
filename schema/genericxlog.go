package schema

import (
	"encoding/binary"
	"fmt"
)

// Generic WAL layouts (access/transam/generic_xlog.c, PostgreSQL 15). A
// generic record (rmgr Generic, info 0) has no main data; each of its
// blocks (ids 0 .. MaxGenericXLogPages-1) carries either a full-page image
// or, as block data, a delta: fragments of (offset u16, length u16, length
// bytes), unaligned, to copy into the page in order.

// MaxGenericXLogPages is MAX_GENERIC_XLOG_PAGES: a generic record
// references block ids 0..3 only.
const MaxGenericXLogPages = 4

// GenericFragmentHeaderSize is FRAGMENT_HEADER_SIZE: offset and length.
const GenericFragmentHeaderSize = 4

// GenericDeltaFragment is one fragment of a generic WAL delta: Data
// (aliasing the record) goes to page[Offset : Offset+Length].
type GenericDeltaFragment struct {
	Offset uint16
	Length uint16
	Data   []byte
}

// GenericDelta is a page's delta, its fragments in the order applyPageRedo
// applies them.
type GenericDelta []GenericDeltaFragment

// genericFragmentHeader reads the fragment header at b[p:]: its offset and
// length, and where the next fragment starts (which may be past len(b)).
// ok is false when fewer than GenericFragmentHeaderSize bytes remain.
func genericFragmentHeader(b []byte, p int) (offset, length uint16, next int, ok bool) {
	if p+GenericFragmentHeaderSize > len(b) {
		return 0, 0, p, false
	}
	le := binary.LittleEndian
	offset, length = le.Uint16(b[p:]), le.Uint16(b[p+2:])
	return offset, length, p + GenericFragmentHeaderSize + int(length), true
}

// DecodeGenericDelta splits a block's delta into its fragments. Every
// fragment must be whole and lie within a BLCKSZ page (PostgreSQL's
// computeDelta writes no other; applying one would write outside the
// page).
func DecodeGenericDelta(b []byte) (GenericDelta, error) {
	if err := CheckGenericDelta(b); err != nil {
		return nil, err
	}
	var frags GenericDelta
	for p := 0; p < len(b); {
		var f GenericDeltaFragment
		f, p = NextGenericFragment(b, p)
		frags = append(frags, f)
	}
	return frags, nil
}

// CheckGenericDelta returns the error DecodeGenericDelta would, without
// building the fragment list: redo walks an accepted delta with
// NextGenericFragment instead.
func CheckGenericDelta(b []byte) error {
	for p := 0; p < len(b); {
		offset, length, next, ok := genericFragmentHeader(b, p)
		switch {
		case !ok:
			return fmt.Errorf("generic delta: fragment header at byte %d of %d is cut short", p, len(b))
		case next > len(b):
			return fmt.Errorf("generic delta: fragment at byte %d (offset %d, length %d) runs past the %d bytes of the delta", p, offset, length, len(b))
		case int(offset)+int(length) > BLCKSZ:
			return fmt.Errorf("generic delta: fragment at byte %d (offset %d, length %d) runs past the %d-byte page", p, offset, length, BLCKSZ)
		}
		p = next
	}
	return nil
}

// NextGenericFragment returns the fragment at byte p of a delta that
// CheckGenericDelta accepted, and where the next one starts (len(b) after
// the last).
func NextGenericFragment(b []byte, p int) (GenericDeltaFragment, int) {
	offset, length, next, _ := genericFragmentHeader(b, p)
	return GenericDeltaFragment{Offset: offset, Length: length, Data: b[p+GenericFragmentHeaderSize : next]}, next
}
