package schema

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Page layout of PostgreSQL 15 (storage/bufpage.h, storage/itemid.h,
// storage/off.h, access/htup_details.h, access/itup.h), for BLCKSZ 8192 and
// MAXALIGN 8 on a little-endian machine.
const (
	// SizeOfPageHeaderData is offsetof(PageHeaderData, pd_linp).
	SizeOfPageHeaderData = 24
	// SizeOfItemIdData is sizeof(ItemIdData).
	SizeOfItemIdData = 4
	// MaximumAlignOf is MAXIMUM_ALIGNOF.
	MaximumAlignOf = maxAlignOf

	// PGPageLayoutVersion is PG_PAGE_LAYOUT_VERSION.
	PGPageLayoutVersion = 4
	// PGDataChecksumVersion is PG_DATA_CHECKSUM_VERSION.
	PGDataChecksumVersion = 1
)

// pd_flags bits.
const (
	PDHasFreeLines  = 0x0001 // PD_HAS_FREE_LINES: are there unused line pointers?
	PDPageFull      = 0x0002 // PD_PAGE_FULL: not enough free space for a new tuple?
	PDAllVisible    = 0x0004 // PD_ALL_VISIBLE: all tuples visible to everyone?
	PDValidFlagBits = 0x0007 // PD_VALID_FLAG_BITS
)

// lp_flags values.
const (
	LPUnused   = 0 // LP_UNUSED: should have lp_len 0
	LPNormal   = 1 // LP_NORMAL: should have lp_len > 0
	LPRedirect = 2 // LP_REDIRECT: lp_off is the target offset number, lp_len 0
	LPDead     = 3 // LP_DEAD: may or may not have storage
)

// OffsetNumber is a 1-based index into a page's line pointer array
// (storage/off.h).
type OffsetNumber uint16

// Offset numbers.
const (
	InvalidOffsetNumber OffsetNumber = 0
	FirstOffsetNumber   OffsetNumber = 1
	// MaxOffsetNumber is BLCKSZ / sizeof(ItemIdData).
	MaxOffsetNumber OffsetNumber = BLCKSZ / SizeOfItemIdData
)

// OffsetNumberIsValid mirrors OffsetNumberIsValid.
func OffsetNumberIsValid(off OffsetNumber) bool {
	return off != InvalidOffsetNumber && off <= MaxOffsetNumber
}

// Tuple size limits.
const (
	// SizeofHeapTupleHeader is offsetof(HeapTupleHeaderData, t_bits).
	SizeofHeapTupleHeader = 23
	// SizeOfIndexTupleData is sizeof(IndexTupleData).
	SizeOfIndexTupleData = 8
	// MaxHeapTuplesPerPage bounds the line pointers of a heap page (291).
	MaxHeapTuplesPerPage = (BLCKSZ - SizeOfPageHeaderData) /
		((SizeofHeapTupleHeader+maxAlignOf-1)&^(maxAlignOf-1) + SizeOfItemIdData)
	// MaxHeapTupleSize is the largest heap tuple, header and padding
	// included (8160).
	MaxHeapTupleSize = BLCKSZ - (SizeOfPageHeaderData+SizeOfItemIdData+maxAlignOf-1)&^(maxAlignOf-1)
	// MinHeapTupleSize is MAXALIGN(SizeofHeapTupleHeader) (24).
	MinHeapTupleSize = (SizeofHeapTupleHeader + maxAlignOf - 1) &^ (maxAlignOf - 1)
	// MaxIndexTuplesPerPage bounds the line pointers of an index page (408).
	MaxIndexTuplesPerPage = (BLCKSZ - SizeOfPageHeaderData) /
		((SizeOfIndexTupleData+1+maxAlignOf-1)&^(maxAlignOf-1) + SizeOfItemIdData)
)

// Byte offsets of PageHeaderData's fields.
const (
	PdLSNOff             = 0 // pd_lsn.xlogid, then pd_lsn.xrecoff at 4
	PdChecksumOff        = 8
	PdFlagsOff           = 10
	PdLowerOff           = 12
	PdUpperOff           = 14
	PdSpecialOff         = 16
	PdPagesizeVersionOff = 18
	PdPruneXidOff        = 20
)

// ErrCorruptPage is matched (errors.Is) by every *PageError: the page's
// bytes, or an offset number applied to it, are not what the operation
// needs.
var ErrCorruptPage = errors.New("corrupt page")

// PageError says what is wrong with a page and where. Kind is the sentinel
// it matches with errors.Is: ErrCorruptPage, or a sentinel of the package
// that returned it.
type PageError struct {
	Op     string       // PostgreSQL function (or accessor) that found it
	Offset OffsetNumber // line pointer concerned; InvalidOffsetNumber if none
	Kind   error
	Reason string
}

func (e *PageError) Error() string {
	kind := ErrCorruptPage
	if e.Kind != nil {
		kind = e.Kind
	}
	if e.Offset != InvalidOffsetNumber {
		return fmt.Sprintf("%s: %v at offset %d: %s", e.Op, kind, e.Offset, e.Reason)
	}
	return fmt.Sprintf("%s: %v: %s", e.Op, kind, e.Reason)
}

// Is matches the error's Kind (ErrCorruptPage when Kind is nil).
func (e *PageError) Is(target error) bool {
	if e.Kind == nil {
		return target == ErrCorruptPage
	}
	return target == e.Kind
}

// ItemId is one line pointer (ItemIdData), the little-endian uint32 of the
// bit fields lp_off (bits 0-14), lp_flags (bits 15-16), lp_len (bits 17-31).
type ItemId uint32

// NewItemId builds a line pointer; each field is truncated to its width as
// the C bit-field assignment does.
func NewItemId(off uint16, flags uint8, length uint16) ItemId {
	return ItemId(uint32(off)&0x7FFF | (uint32(flags)&3)<<15 | (uint32(length)&0x7FFF)<<17)
}

// Off mirrors ItemIdGetOffset.
func (id ItemId) Off() uint16 { return uint16(id & 0x7FFF) }

// Flags mirrors ItemIdGetFlags.
func (id ItemId) Flags() uint8 { return uint8(id>>15) & 3 }

// Len mirrors ItemIdGetLength.
func (id ItemId) Len() uint16 { return uint16(id >> 17) }

// Redirect mirrors ItemIdGetRedirect.
func (id ItemId) Redirect() OffsetNumber { return OffsetNumber(id.Off()) }

// IsUsed mirrors ItemIdIsUsed.
func (id ItemId) IsUsed() bool { return id.Flags() != LPUnused }

// IsNormal mirrors ItemIdIsNormal.
func (id ItemId) IsNormal() bool { return id.Flags() == LPNormal }

// IsRedirected mirrors ItemIdIsRedirected.
func (id ItemId) IsRedirected() bool { return id.Flags() == LPRedirect }

// IsDead mirrors ItemIdIsDead.
func (id ItemId) IsDead() bool { return id.Flags() == LPDead }

// HasStorage mirrors ItemIdHasStorage.
func (id ItemId) HasStorage() bool { return id.Len() != 0 }

// SetOff assigns lp_off (truncated to 15 bits).
func (id *ItemId) SetOff(off uint16) { *id = *id&^0x7FFF | ItemId(off&0x7FFF) }

// SetFlags assigns lp_flags (truncated to 2 bits).
func (id *ItemId) SetFlags(flags uint8) { *id = *id&^(3<<15) | ItemId(flags&3)<<15 }

// SetLen assigns lp_len (truncated to 15 bits).
func (id *ItemId) SetLen(length uint16) { *id = *id&^(0x7FFF<<17) | ItemId(length&0x7FFF)<<17 }

// SetUnused mirrors ItemIdSetUnused.
func (id *ItemId) SetUnused() { *id = 0 }

// SetNormal mirrors ItemIdSetNormal.
func (id *ItemId) SetNormal(off, length uint16) { *id = NewItemId(off, LPNormal, length) }

// SetRedirect mirrors ItemIdSetRedirect.
func (id *ItemId) SetRedirect(link OffsetNumber) { *id = NewItemId(uint16(link), LPRedirect, 0) }

// SetDead mirrors ItemIdSetDead.
func (id *ItemId) SetDead() { *id = NewItemId(0, LPDead, 0) }

// MarkDead mirrors ItemIdMarkDead: only lp_flags changes.
func (id *ItemId) MarkDead() { id.SetFlags(LPDead) }

func (id ItemId) String() string {
	return fmt.Sprintf("(off %d, flags %d, len %d)", id.Off(), id.Flags(), id.Len())
}

// Page is one relation page (PostgreSQL's Page), BLCKSZ bytes. Header
// fields are little-endian. The header accessors need at least
// SizeOfPageHeaderData bytes; Validate checks the length before anything
// else.
type Page []byte

func (p Page) u16(off int) uint16       { return binary.LittleEndian.Uint16(p[off:]) }
func (p Page) setU16(off int, v uint16) { binary.LittleEndian.PutUint16(p[off:], v) }

// LSN mirrors PageGetLSN: pd_lsn is {xlogid, xrecoff}, each a
// little-endian uint32, high half first.
func (p Page) LSN() LSN {
	return LSN(uint64(binary.LittleEndian.Uint32(p[PdLSNOff:]))<<32 | uint64(binary.LittleEndian.Uint32(p[PdLSNOff+4:])))
}

// SetLSN mirrors PageSetLSN.
func (p Page) SetLSN(lsn LSN) {
	binary.LittleEndian.PutUint32(p[PdLSNOff:], uint32(lsn>>32))
	binary.LittleEndian.PutUint32(p[PdLSNOff+4:], uint32(lsn))
}

// Checksum returns pd_checksum.
func (p Page) Checksum() uint16 { return p.u16(PdChecksumOff) }

// SetChecksum sets pd_checksum.
func (p Page) SetChecksum(v uint16) { p.setU16(PdChecksumOff, v) }

// Flags returns pd_flags.
func (p Page) Flags() uint16 { return p.u16(PdFlagsOff) }

// SetFlags sets pd_flags.
func (p Page) SetFlags(v uint16) { p.setU16(PdFlagsOff, v) }

// Lower returns pd_lower, the end of the line pointer array.
func (p Page) Lower() uint16 { return p.u16(PdLowerOff) }

// SetLower sets pd_lower.
func (p Page) SetLower(v uint16) { p.setU16(PdLowerOff, v) }

// Upper returns pd_upper, the start of tuple space.
func (p Page) Upper() uint16 { return p.u16(PdUpperOff) }

// SetUpper sets pd_upper.
func (p Page) SetUpper(v uint16) { p.setU16(PdUpperOff, v) }

// Special returns pd_special, the start of the special space.
func (p Page) Special() uint16 { return p.u16(PdSpecialOff) }

// SetSpecial sets pd_special.
func (p Page) SetSpecial(v uint16) { p.setU16(PdSpecialOff, v) }

// PageSizeVersion returns pd_pagesize_version.
func (p Page) PageSizeVersion() uint16 { return p.u16(PdPagesizeVersionOff) }

// PageSize mirrors PageGetPageSize.
func (p Page) PageSize() int { return int(p.u16(PdPagesizeVersionOff) & 0xFF00) }

// Version mirrors PageGetPageLayoutVersion.
func (p Page) Version() uint8 { return uint8(p.u16(PdPagesizeVersionOff) & 0x00FF) }

// SetPageSizeAndVersion mirrors PageSetPageSizeAndVersion; size keeps only
// its high byte and version its low byte.
func (p Page) SetPageSizeAndVersion(size int, version uint8) {
	p.setU16(PdPagesizeVersionOff, uint16(size)&0xFF00|uint16(version))
}

// SpecialSize mirrors PageGetSpecialSize: the page size from the header
// minus pd_special, as a uint16 (so it wraps when pd_special is larger).
func (p Page) SpecialSize() uint16 { return uint16(p.PageSize()) - p.Special() }

// PruneXid returns pd_prune_xid.
func (p Page) PruneXid() uint32 { return binary.LittleEndian.Uint32(p[PdPruneXidOff:]) }

// SetPruneXid sets pd_prune_xid.
func (p Page) SetPruneXid(xid uint32) { binary.LittleEndian.PutUint32(p[PdPruneXidOff:], xid) }

// AllZero reports whether every byte of b is zero (an all-zero page, a
// tar trailer, the unused rest of a WAL page).
func AllZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// IsNew mirrors PageIsNew: pd_upper == 0 (an uninitialized page).
func (p Page) IsNew() bool { return p.Upper() == 0 }

// IsEmpty mirrors PageIsEmpty: no line pointers.
func (p Page) IsEmpty() bool { return p.Lower() <= SizeOfPageHeaderData }

// HasFreeLinePointers mirrors PageHasFreeLinePointers.
func (p Page) HasFreeLinePointers() bool { return p.Flags()&PDHasFreeLines != 0 }

// SetHasFreeLinePointers mirrors PageSetHasFreeLinePointers.
func (p Page) SetHasFreeLinePointers() { p.SetFlags(p.Flags() | PDHasFreeLines) }

// ClearHasFreeLinePointers mirrors PageClearHasFreeLinePointers.
func (p Page) ClearHasFreeLinePointers() { p.SetFlags(p.Flags() &^ PDHasFreeLines) }

// IsFull mirrors PageIsFull.
func (p Page) IsFull() bool { return p.Flags()&PDPageFull != 0 }

// SetFull mirrors PageSetFull.
func (p Page) SetFull() { p.SetFlags(p.Flags() | PDPageFull) }

// ClearFull mirrors PageClearFull.
func (p Page) ClearFull() { p.SetFlags(p.Flags() &^ PDPageFull) }

// IsAllVisible mirrors PageIsAllVisible.
func (p Page) IsAllVisible() bool { return p.Flags()&PDAllVisible != 0 }

// SetAllVisible mirrors PageSetAllVisible.
func (p Page) SetAllVisible() { p.SetFlags(p.Flags() | PDAllVisible) }

// ClearAllVisible mirrors PageClearAllVisible.
func (p Page) ClearAllVisible() { p.SetFlags(p.Flags() &^ PDAllVisible) }

// MaxOffsetNumber mirrors PageGetMaxOffsetNumber: the number of line
// pointers, 0 when pd_lower <= SizeOfPageHeaderData.
func (p Page) MaxOffsetNumber() OffsetNumber {
	lower := p.Lower()
	if lower <= SizeOfPageHeaderData {
		return 0
	}
	return OffsetNumber((lower - SizeOfPageHeaderData) / SizeOfItemIdData)
}

// itemIDPos is the byte position of line pointer off, or -1 when off is
// InvalidOffsetNumber or the slot does not lie inside p.
func (p Page) itemIDPos(off OffsetNumber) int {
	if off == InvalidOffsetNumber {
		return -1
	}
	pos := SizeOfPageHeaderData + SizeOfItemIdData*(int(off)-1)
	if pos+SizeOfItemIdData > len(p) {
		return -1
	}
	return pos
}

// ItemID mirrors PageGetItemId: the line pointer in slot off, whether or
// not off <= MaxOffsetNumber(). For InvalidOffsetNumber or a slot past the
// end of p it returns 0 (LP_UNUSED without storage).
func (p Page) ItemID(off OffsetNumber) ItemId {
	pos := p.itemIDPos(off)
	if pos < 0 {
		return 0
	}
	return ItemId(binary.LittleEndian.Uint32(p[pos:]))
}

// SetItemID stores id in slot off. It fails, changing nothing, for
// InvalidOffsetNumber or a slot past the end of p; pd_lower is not
// consulted or changed.
func (p Page) SetItemID(off OffsetNumber, id ItemId) error {
	pos := p.itemIDPos(off)
	if pos < 0 {
		return &PageError{Op: "SetItemID", Offset: off, Reason: fmt.Sprintf("no line pointer slot %d in a %d-byte page", off, len(p))}
	}
	binary.LittleEndian.PutUint32(p[pos:], uint32(id))
	return nil
}

// Item mirrors PageGetItem for line pointer off, checked: off must be in
// 1..MaxOffsetNumber(), the line pointer must have storage, and its bytes
// [lp_off, lp_off+lp_len) must lie inside [pd_upper, pd_special) of a page
// of at most len(p) bytes. The slice aliases p and is exactly lp_len long.
func (p Page) Item(off OffsetNumber) ([]byte, error) {
	if len(p) < SizeOfPageHeaderData {
		return nil, &PageError{Op: "PageGetItem", Offset: off, Reason: fmt.Sprintf("page is %d bytes, shorter than its header", len(p))}
	}
	maxoff := p.MaxOffsetNumber()
	if off == InvalidOffsetNumber || off > maxoff {
		return nil, &PageError{Op: "PageGetItem", Offset: off, Reason: fmt.Sprintf("offset number out of range 1..%d", maxoff)}
	}
	lp := p.ItemID(off)
	if !lp.HasStorage() {
		return nil, &PageError{Op: "PageGetItem", Offset: off, Reason: fmt.Sprintf("line pointer %v has no storage", lp)}
	}
	start, end := int(lp.Off()), int(lp.Off())+int(lp.Len())
	upper, special := int(p.Upper()), int(p.Special())
	if start < upper || end > special || end > len(p) {
		return nil, &PageError{Op: "PageGetItem", Offset: off, Reason: fmt.Sprintf("line pointer %v outside tuple space [%d, %d)", lp, upper, min(special, len(p)))}
	}
	return p[start:end:end], nil
}

// Validate checks the header as PageIsVerifiedExtended does (without the
// checksum), and more strictly: the page must be BLCKSZ bytes; a new page
// (pd_upper 0) must be all zeroes; otherwise pd_flags must hold only valid
// bits, SizeOfPageHeaderData <= pd_lower <= pd_upper <= pd_special <=
// BLCKSZ, pd_special must be MAXALIGNed, and the header must say page size
// BLCKSZ and layout version PGPageLayoutVersion. (PostgreSQL itself checks
// neither pd_lower >= 24 nor the size and version when reading a page.)
func (p Page) Validate() error {
	fail := func(format string, args ...any) error {
		return &PageError{Op: "PageIsVerifiedExtended", Reason: fmt.Sprintf(format, args...)}
	}
	if len(p) != BLCKSZ {
		return fail("page is %d bytes, want %d", len(p), BLCKSZ)
	}
	if p.IsNew() {
		for i, b := range p {
			if b != 0 {
				return fail("new page (pd_upper 0) has non-zero byte 0x%02x at %d", b, i)
			}
		}
		return nil
	}
	lower, upper, special := p.Lower(), p.Upper(), p.Special()
	switch {
	case p.Flags()&^PDValidFlagBits != 0:
		return fail("pd_flags 0x%04x has invalid bits", p.Flags())
	case lower < SizeOfPageHeaderData || lower > upper || upper > special || special > BLCKSZ:
		return fail("corrupted page pointers: lower = %d, upper = %d, special = %d", lower, upper, special)
	case special%maxAlignOf != 0:
		return fail("pd_special %d is not MAXALIGNed", special)
	case p.PageSize() != BLCKSZ:
		return fail("page size %d in header, want %d", p.PageSize(), BLCKSZ)
	case p.Version() != PGPageLayoutVersion:
		return fail("page layout version %d, want %d", p.Version(), PGPageLayoutVersion)
	}
	return nil
}
