package schema

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
)

// Heap tuple headers (access/htup_details.h) and their visibility as of
// an LSN, for reading catalogs and for page_items.

// Special transaction ids (access/transam.h).
const (
	InvalidXid   = 0
	BootstrapXid = 1
	FrozenXid    = 2
)

// t_infomask bits (htup_details.h).
const (
	HeapHasNull        = 0x0001
	HeapHasVarWidth    = 0x0002
	HeapHasExternal    = 0x0004
	HeapHasOidOld      = 0x0008
	HeapXmaxKeyshrLock = 0x0010
	HeapComboCid       = 0x0020
	HeapXmaxExclLock   = 0x0040
	HeapXmaxLockOnly   = 0x0080
	HeapXmaxShrLock    = HeapXmaxExclLock | HeapXmaxKeyshrLock
	HeapLockMask       = HeapXmaxShrLock | HeapXmaxExclLock | HeapXmaxKeyshrLock
	HeapXminCommitted  = 0x0100
	HeapXminInvalid    = 0x0200
	HeapXminFrozen     = HeapXminCommitted | HeapXminInvalid
	HeapXmaxCommitted  = 0x0400
	HeapXmaxInvalid    = 0x0800
	HeapXmaxIsMulti    = 0x1000
	HeapUpdated        = 0x2000
	HeapMovedOff       = 0x4000
	HeapMovedIn        = 0x8000
	HeapMoved          = HeapMovedOff | HeapMovedIn
	HeapXactMask       = 0xFFF0 // HEAP_XACT_MASK: the bits visibility depends on
	HeapXmaxBits       = HeapXmaxCommitted | HeapXmaxInvalid | HeapXmaxIsMulti | HeapLockMask | HeapXmaxLockOnly

	// HeapInfomaskHintBits are the t_infomask bits PostgreSQL sets
	// without WAL-logging them (SetHintBits): a page rebuilt from WAL may
	// lack them where the server's copy has them.
	HeapInfomaskHintBits = HeapXminCommitted | HeapXminInvalid | HeapXmaxCommitted | HeapXmaxInvalid
)

// t_infomask2 bits.
const (
	HeapNattsMask   = 0x07FF
	HeapKeysUpdated = 0x2000
	HeapHotUpdated  = 0x4000
	HeapOnlyTuple   = 0x8000
	Heap2XactMask   = HeapKeysUpdated | HeapHotUpdated | HeapOnlyTuple
)

// ItemPointer is ItemPointerData, a tuple id: block and offset.
type ItemPointer struct {
	Block  BlockNumber
	Offset OffsetNumber
}

// String formats the tid as PostgreSQL's tidout does: "(block,offset)".
func (p ItemPointer) String() string { return fmt.Sprintf("(%d,%d)", p.Block, p.Offset) }

// readItemPointer reads the 6 bytes of an ItemPointerData: bi_hi, bi_lo,
// ip_posid, each a little-endian uint16.
func readItemPointer(b []byte) ItemPointer {
	le := binary.LittleEndian
	return ItemPointer{
		Block:  BlockNumber(uint32(le.Uint16(b))<<16 | uint32(le.Uint16(b[2:]))),
		Offset: OffsetNumber(le.Uint16(b[4:])),
	}
}

// HeapTupleHeader is the fixed part of HeapTupleHeaderData.
type HeapTupleHeader struct {
	Xmin, Xmax uint32
	Field3     uint32 // t_cid, or t_xvac
	Ctid       ItemPointer
	Infomask2  uint16
	Infomask   uint16
	Hoff       uint8
}

// ParseHeapTupleHeader reads the header of the heap tuple tup (as a line
// pointer delimits it).
func ParseHeapTupleHeader(tup []byte) (HeapTupleHeader, error) {
	if len(tup) < SizeofHeapTupleHeader {
		return HeapTupleHeader{}, fmt.Errorf("heap tuple of %d bytes is shorter than its %d-byte header", len(tup), SizeofHeapTupleHeader)
	}
	le := binary.LittleEndian
	return HeapTupleHeader{
		Xmin:      le.Uint32(tup),
		Xmax:      le.Uint32(tup[4:]),
		Field3:    le.Uint32(tup[8:]),
		Ctid:      readItemPointer(tup[12:]),
		Infomask2: le.Uint16(tup[18:]),
		Infomask:  le.Uint16(tup[20:]),
		Hoff:      tup[22],
	}, nil
}

// Natts is HeapTupleHeaderGetNatts: the number of attributes stored.
func (h HeapTupleHeader) Natts() int { return int(h.Infomask2 & HeapNattsMask) }

// HasNulls reports HEAP_HASNULL: the tuple has a null bitmap.
func (h HeapTupleHeader) HasNulls() bool { return h.Infomask&HeapHasNull != 0 }

// XminFrozen is HeapTupleHeaderXminFrozen.
func (h HeapTupleHeader) XminFrozen() bool { return h.Infomask&HeapXminFrozen == HeapXminFrozen }

// XmaxIsLockedOnly is HEAP_XMAX_IS_LOCKED_ONLY: xmax only locked the
// tuple, it did not update or delete it.
func (h HeapTupleHeader) XmaxIsLockedOnly() bool {
	return h.Infomask&HeapXmaxLockOnly != 0 || h.Infomask&(HeapXmaxIsMulti|HeapLockMask) == HeapXmaxExclLock
}

// XmaxIsMulti reports HEAP_XMAX_IS_MULTI.
func (h HeapTupleHeader) XmaxIsMulti() bool { return h.Infomask&HeapXmaxIsMulti != 0 }

// HeapTupleData returns the attribute data of tup (after t_hoff) and its
// header, checking that t_hoff lies inside the tuple.
func HeapTupleData(tup []byte) (HeapTupleHeader, []byte, error) {
	h, err := ParseHeapTupleHeader(tup)
	if err != nil {
		return h, nil, err
	}
	if int(h.Hoff) < SizeofHeapTupleHeader || int(h.Hoff) > len(tup) {
		return h, nil, fmt.Errorf("heap tuple of %d bytes has t_hoff %d", len(tup), h.Hoff)
	}
	return h, tup[h.Hoff:], nil
}

// infomaskNames are heap_tuple_infomask_flags' raw flags, in its order.
var infomaskNames = []struct {
	bit   uint16
	mask2 bool
	name  string
}{
	{HeapHasNull, false, "HEAP_HASNULL"},
	{HeapHasVarWidth, false, "HEAP_HASVARWIDTH"},
	{HeapHasExternal, false, "HEAP_HASEXTERNAL"},
	{HeapHasOidOld, false, "HEAP_HASOID_OLD"},
	{HeapXmaxKeyshrLock, false, "HEAP_XMAX_KEYSHR_LOCK"},
	{HeapComboCid, false, "HEAP_COMBOCID"},
	{HeapXmaxExclLock, false, "HEAP_XMAX_EXCL_LOCK"},
	{HeapXmaxLockOnly, false, "HEAP_XMAX_LOCK_ONLY"},
	{HeapXminCommitted, false, "HEAP_XMIN_COMMITTED"},
	{HeapXminInvalid, false, "HEAP_XMIN_INVALID"},
	{HeapXmaxCommitted, false, "HEAP_XMAX_COMMITTED"},
	{HeapXmaxInvalid, false, "HEAP_XMAX_INVALID"},
	{HeapXmaxIsMulti, false, "HEAP_XMAX_IS_MULTI"},
	{HeapUpdated, false, "HEAP_UPDATED"},
	{HeapMovedOff, false, "HEAP_MOVED_OFF"},
	{HeapMovedIn, false, "HEAP_MOVED_IN"},
	{HeapKeysUpdated, true, "HEAP_KEYS_UPDATED"},
	{HeapHotUpdated, true, "HEAP_HOT_UPDATED"},
	{HeapOnlyTuple, true, "HEAP_ONLY_TUPLE"},
}

// InfomaskFlags names the bits of t_infomask and t_infomask2 as
// pageinspect's heap_tuple_infomask_flags does: raw, every flag set, and
// combined, the flags that are two bits at once (HEAP_XMAX_SHR_LOCK,
// HEAP_XMIN_FROZEN, HEAP_MOVED).
func InfomaskFlags(infomask, infomask2 uint16) (raw, combined []string) {
	for _, f := range infomaskNames {
		v := infomask
		if f.mask2 {
			v = infomask2
		}
		if v&f.bit != 0 {
			raw = append(raw, f.name)
		}
	}
	if infomask&HeapXmaxShrLock == HeapXmaxShrLock {
		combined = append(combined, "HEAP_XMAX_SHR_LOCK")
	}
	if infomask&HeapXminFrozen == HeapXminFrozen {
		combined = append(combined, "HEAP_XMIN_FROZEN")
	}
	if infomask&HeapMoved == HeapMoved {
		combined = append(combined, "HEAP_MOVED")
	}
	return raw, combined
}

// TextArray formats strings as PostgreSQL's array_out prints a text[]
// whose elements need no quoting: {a,b}; nil is "{}".
func TextArray(elems []string) string { return "{" + strings.Join(elems, ",") + "}" }

// ClogPageOf is the pg_xact page (TransactionIdToPage) holding xid's
// status.
func ClogPageOf(xid uint32) uint32 { return xid / ClogXactsPerPage }

// ClogStatus reads xid's status (XactStatus*) from its pg_xact page
// (TransactionIdGetStatus: two bits per transaction, four per byte).
func ClogStatus(page []byte, xid uint32) (uint8, error) {
	idx := xid % ClogXactsPerPage
	byteNo := int(idx / 4)
	if byteNo >= len(page) {
		return 0, fmt.Errorf("pg_xact page of %d bytes has no byte %d for xid %d", len(page), byteNo, xid)
	}
	return (page[byteNo] >> ((idx % 4) * 2)) & 3, nil
}

// ErrMultiXactUpdater is returned by HeapTupleVisible for a tuple whose
// xmax is a multixact that updated or deleted it: telling whether that
// update committed needs the multixact's members, which the catalog
// reader does not look up.
var ErrMultiXactUpdater = errors.New("xmax is a multixact that updated the tuple")

// XidStatusFunc returns a transaction's status (XactStatus*) as of the
// LSN a reader looks at.
type XidStatusFunc func(xid uint32) (uint8, error)

// HeapTupleVisible reports whether a tuple with header h is visible to a
// snapshot that sees exactly the transactions committed by some LSN, as
// status tells them: its inserter committed (or it is frozen) and no
// committed transaction deleted or updated it. A transaction still in
// progress at that LSN, or aborted, counts as not committed; hint bits are
// not trusted, only frozen xmins.
func HeapTupleVisible(h HeapTupleHeader, status XidStatusFunc) (bool, error) {
	committed := func(xid uint32) (bool, error) {
		switch xid {
		case InvalidXid:
			return false, nil
		case BootstrapXid, FrozenXid:
			return true, nil
		}
		st, err := status(xid)
		if err != nil {
			return false, err
		}
		return st == XactStatusCommitted, nil
	}
	if !h.XminFrozen() {
		ok, err := committed(h.Xmin)
		if err != nil {
			return false, fmt.Errorf("xmin %d: %w", h.Xmin, err)
		}
		if !ok {
			return false, nil
		}
	}
	if h.Xmax == InvalidXid || h.XmaxIsLockedOnly() {
		return true, nil
	}
	if h.XmaxIsMulti() {
		return false, fmt.Errorf("xmax %d: %w", h.Xmax, ErrMultiXactUpdater)
	}
	deleted, err := committed(h.Xmax)
	if err != nil {
		return false, fmt.Errorf("xmax %d: %w", h.Xmax, err)
	}
	return !deleted, nil
}
