package redo

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/pagemill/pagemill/schema"
)

// Page masking for wal_consistency_checking (PostgreSQL 15).
//
// With wal_consistency_checking, every record of a resource manager that has
// an rm_mask carries an image of each block it touches, taken after the
// change. verifyBackupPageConsistency (access/transam/xlogrecovery.c) copies
// the replayed page and the image, applies the record's rm_mask to both and
// memcmps all BLCKSZ bytes. The functions here are Go ports of those masks
// (access/common/bufmask.c and the rmgr-specific *_mask functions), byte for
// byte, so that a page replayed in Go can be compared with the primary's
// image exactly as PostgreSQL compares it.
//
// Every mask works in place on an 8192-byte page and never reads or writes
// outside it. On a well-formed page the result is exactly PostgreSQL's. On a
// malformed page PostgreSQL either stops with ERROR ("invalid page pd_lower
// ...", from mask_unused_space) or would index outside the page; here the
// mask skips only the steps it cannot perform within the page, completes
// the others, and returns a *MaskError (the page is then masked as far as
// possible, and the comparison must be treated as failed). An all-zero
// (new) page is malformed in this sense for every mask that calls
// mask_unused_space unconditionally, as it is in PostgreSQL.
//
// Masking a masked page changes no byte. Only hash_mask of an unused hash
// page reports an error the second time: mask_page_content zeroed pd_lower
// and pd_upper, which mask_unused_space then rejects (PostgreSQL never masks
// twice).

// MaskMarker is the value masked bytes are set to (MASK_MARKER in
// access/bufmask.h).
const MaskMarker = 0

// MaskFunc is an rm_mask: it masks page (BLCKSZ bytes, block blkno of its
// fork) in place.
type MaskFunc func(page []byte, blkno schema.BlockNumber) error

// ErrNoMask is returned (wrapped) by MaskPage for a resource manager without
// an rm_mask. PostgreSQL compares such pages unmasked, but it also never
// writes consistency images for them.
var ErrNoMask = errors.New("resource manager has no rm_mask")

// MaskError reports a page a mask could not handle completely.
type MaskError struct {
	Mask   string // name of the C function: "heap_mask", "mask_unused_space", ...
	Reason string
}

func (e *MaskError) Error() string { return e.Mask + ": " + e.Reason }

// HasMask reports whether PostgreSQL 15's rmgrlist.h gives the resource
// manager an rm_mask: Heap2, Heap, Btree, Hash, Gin, Gist, Sequence, SPGist,
// BRIN and Generic. Custom resource managers (128..255) bring their own
// mask, unknown here, so they report false.
func HasMask(rmid schema.RmgrID) bool { return MaskFuncFor(rmid) != nil }

// MaskedRmgrs lists the resource managers with an rm_mask, in id order.
func MaskedRmgrs() []schema.RmgrID {
	var out []schema.RmgrID
	for id := schema.RmgrID(0); id <= schema.RmgrMaxBuiltin; id++ {
		if HasMask(id) {
			out = append(out, id)
		}
	}
	return out
}

// MaskFuncFor returns the rm_mask of rmid, or nil when it has none.
func MaskFuncFor(rmid schema.RmgrID) MaskFunc {
	switch rmid {
	case schema.RmgrHeap, schema.RmgrHeap2:
		return MaskHeap
	case schema.RmgrBtree:
		return MaskBtree
	case schema.RmgrHash:
		return MaskHash
	case schema.RmgrGin:
		return MaskGin
	case schema.RmgrGist:
		return MaskGist
	case schema.RmgrSequence:
		return MaskSequence
	case schema.RmgrSPGist:
		return MaskSPGist
	case schema.RmgrBRIN:
		return MaskBRIN
	case schema.RmgrGeneric:
		return MaskGeneric
	}
	return nil
}

// MaskPage applies rmid's rm_mask to page in place, as
// verifyBackupPageConsistency does to both the replayed page and the
// primary's image before comparing them. blkno is the block number within
// its fork (heap_mask uses it for speculative ctids). The mask of the
// record's resource manager applies to every block of the record, whatever
// its fork (a Heap2 VISIBLE record's visibility-map page gets heap_mask).
// For a resource manager without a mask the page is left alone and the
// error wraps ErrNoMask.
func MaskPage(rmid schema.RmgrID, page []byte, blkno schema.BlockNumber) error {
	f := MaskFuncFor(rmid)
	if f == nil {
		return fmt.Errorf("mask page of %s: %w", rmid, ErrNoMask)
	}
	return f(page, blkno)
}

// ComparePages compares two pages byte by byte (the memcmp of
// verifyBackupPageConsistency). It returns (-1, true) when they are equal,
// else the offset of the first difference and false; pages of different
// lengths differ at the end of the shorter one if not before.
func ComparePages(a, b []byte) (off int, equal bool) {
	n := min(len(a), len(b))
	if bytes.Equal(a[:n], b[:n]) {
		if len(a) != len(b) {
			return n, false
		}
		return -1, true
	}
	// Find the first differing chunk with memequal, then the byte.
	const chunk = 64
	i := 0
	for ; i+chunk <= n && bytes.Equal(a[i:i+chunk], b[i:i+chunk]); i += chunk {
	}
	for ; i < n; i++ {
		if a[i] != b[i] {
			break
		}
	}
	return i, false
}

// CompareMasked does what verifyBackupPageConsistency does with one block:
// it masks copies of the primary's image and of the replayed page with
// rmid's rm_mask and compares them. Neither input is modified. For a
// resource manager without a mask the pages are compared unmasked, as
// PostgreSQL does. Mask errors (a malformed page) are returned with the
// comparison of the partly masked copies.
//
// The caller decides which blocks to compare: see ConsistencyCheckBlock,
// and PostgreSQL also skips a block whose replayed page LSN is beyond the
// record's end (possible after a restart) or that does not exist.
func CompareMasked(rmid schema.RmgrID, blkno schema.BlockNumber, primary, replay []byte) (off int, equal bool, err error) {
	p := append([]byte(nil), primary...)
	r := append([]byte(nil), replay...)
	if f := MaskFuncFor(rmid); f != nil {
		errR := f(r, blkno)
		errP := f(p, blkno)
		err = errors.Join(errR, errP)
	}
	off, equal = ComparePages(r, p)
	return off, equal, err
}

// ConsistencyCheckBlock reports whether PostgreSQL's replay compares blk of
// rec with its image: the record has XLR_CHECK_CONSISTENCY, and the block
// has an image that is not applied (an applied image is restored rather
// than replayed, so comparing would compare the image with itself).
func ConsistencyCheckBlock(rec *schema.DecodedRecord, blk *schema.DecodedBkpBlock) bool {
	if rec == nil || blk == nil {
		return false
	}
	return rec.Header.Info&schema.XLRCheckConsistency != 0 && blk.HasImage && !blk.ApplyImage()
}

// MaskHeap is heap_mask (access/heap/heapam.c), the rm_mask of Heap and
// Heap2.
func MaskHeap(page []byte, blkno schema.BlockNumber) error {
	if err := maskCheckSize("heap_mask", page); err != nil {
		return err
	}
	maskLSNAndChecksum(page)
	maskHintBits(page)
	err := maskUnusedSpace(page)

	maxoff := maskMaxOffset(page)
	for off := 1; off <= maxoff; off++ {
		lp, ok := maskItemID(page, off)
		if !ok {
			break
		}
		item := int(lp & 0x7FFF)
		flags := (lp >> 15) & 3
		length := int(lp >> 17)

		if flags == schema.LPNormal {
			// Unfrozen xmin: every xact hint bit may differ. Frozen: still
			// ignore the xmax hints.
			if im, ok := maskGet16(page, item+htupInfomask); ok {
				if im&schema.HeapXminFrozen != schema.HeapXminFrozen {
					im &^= schema.HeapXactMask
				} else {
					im &^= schema.HeapXmaxInvalid
					im &^= schema.HeapXmaxCommitted
				}
				maskPut16(page, item+htupInfomask, im)
			}
			// Redo sets the command id to FirstCommandId.
			maskPut32(page, item+htupCid, MaskMarker)
			// A speculative token in t_ctid is never WAL-logged; redo sets
			// ctid to the tuple itself.
			if posid, ok := maskGet16(page, item+htupCtidPosid); ok && posid == specTokenOffsetNumber {
				maskPut16(page, item+htupCtid, uint16(uint32(blkno)>>16))
				maskPut16(page, item+htupCtid+2, uint16(uint32(blkno)))
				maskPut16(page, item+htupCtidPosid, uint16(off))
			}
		}

		// Padding after an item whose length is not MAXALIGNed.
		if length != 0 {
			if pad := maskAlign(length) - length; pad > 0 {
				maskZero(page, item+length, item+length+pad)
			}
		}
	}
	return maskWrap("heap_mask", err)
}

// MaskBtree is btree_mask (access/nbtree/nbtxlog.c).
func MaskBtree(page []byte, _ schema.BlockNumber) error {
	if err := maskCheckSize("btree_mask", page); err != nil {
		return err
	}
	maskLSNAndChecksum(page)
	maskHintBits(page)
	err := maskUnusedSpace(page)

	special, errS := maskOpaque(page, schema.SizeOfBTPageOpaque)
	err = errors.Join(err, errS)
	if flags, ok := maskGet16(page, special+btoFlags); ok && flags&schema.BTPLeaf != 0 {
		// LP_DEAD hints are set on leaf pages without WAL.
		maskLPFlags(page)
	}
	if flags, ok := maskGet16(page, special+btoFlags); ok {
		// BTP_HAS_GARBAGE is an unlogged hint; redo of a split never sets
		// BTP_SPLIT_END and sets the cycle id to 0.
		maskPut16(page, special+btoFlags, flags&^(schema.BTPHasGarbage|schema.BTPSplitEnd))
	}
	maskPut16(page, special+btoCycleID, 0)
	return maskWrap("btree_mask", err)
}

// MaskSequence is seq_mask (commands/sequence.c).
func MaskSequence(page []byte, _ schema.BlockNumber) error {
	if err := maskCheckSize("seq_mask", page); err != nil {
		return err
	}
	maskLSNAndChecksum(page)
	return maskWrap("seq_mask", maskUnusedSpace(page))
}

// The generic helpers of access/common/bufmask.c. They assume a page of
// schema.BLCKSZ bytes (checked by the callers) but still bound every access.

// maskLSNAndChecksum is mask_page_lsn_and_checksum.
func maskLSNAndChecksum(page []byte) {
	maskPut32(page, schema.PdLSNOff, MaskMarker)
	maskPut32(page, schema.PdLSNOff+4, MaskMarker)
	maskPut16(page, schema.PdChecksumOff, MaskMarker)
}

// maskHintBits is mask_page_hint_bits: pd_prune_xid, PD_PAGE_FULL,
// PD_HAS_FREE_LINES and PD_ALL_VISIBLE.
func maskHintBits(page []byte) {
	maskPut32(page, schema.PdPruneXidOff, MaskMarker)
	if f, ok := maskGet16(page, schema.PdFlagsOff); ok {
		maskPut16(page, schema.PdFlagsOff, f&^(schema.PDPageFull|schema.PDHasFreeLines|schema.PDAllVisible))
	}
}

// maskUnusedSpace is mask_unused_space: zero [pd_lower, pd_upper), after
// the same sanity check (which is an ERROR in PostgreSQL).
func maskUnusedSpace(page []byte) error {
	lower, upper, special := maskLower(page), maskUpper(page), maskSpecial(page)
	if lower > upper || special < upper || lower < sizeOfPageHeader || special > schema.BLCKSZ || special > len(page) {
		return &MaskError{Mask: "mask_unused_space", Reason: fmt.Sprintf("invalid page pd_lower %d pd_upper %d pd_special %d", lower, upper, special)}
	}
	maskZero(page, lower, upper)
	return nil
}

// maskLPFlags is mask_lp_flags: every used line pointer becomes LP_UNUSED,
// keeping lp_off and lp_len.
func maskLPFlags(page []byte) {
	maxoff := maskMaxOffset(page)
	for off := 1; off <= maxoff; off++ {
		lp, ok := maskItemID(page, off)
		if !ok {
			return
		}
		if (lp>>15)&3 != schema.LPUnused {
			lp &^= 3 << 15
			maskPut32(page, maskItemIDOffset(off), lp)
		}
	}
}

// maskPageContent is mask_page_content: zero everything after the header,
// and pd_lower and pd_upper.
func maskPageContent(page []byte) {
	maskZero(page, sizeOfPageHeader, schema.BLCKSZ)
	maskPut16(page, schema.PdLowerOff, MaskMarker)
	maskPut16(page, schema.PdUpperOff, MaskMarker)
}

// Bounded little-endian page accessors.

func maskCheckSize(name string, page []byte) error {
	if len(page) != schema.BLCKSZ {
		return &MaskError{Mask: name, Reason: fmt.Sprintf("page is %d bytes, want %d", len(page), schema.BLCKSZ)}
	}
	return nil
}

func maskWrap(name string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", name, err)
}

func maskGet16(page []byte, off int) (uint16, bool) {
	if off < 0 || off+2 > len(page) {
		return 0, false
	}
	return binary.LittleEndian.Uint16(page[off:]), true
}

func maskPut16(page []byte, off int, v uint16) {
	if off >= 0 && off+2 <= len(page) {
		binary.LittleEndian.PutUint16(page[off:], v)
	}
}

func maskGet32(page []byte, off int) (uint32, bool) {
	if off < 0 || off+4 > len(page) {
		return 0, false
	}
	return binary.LittleEndian.Uint32(page[off:]), true
}

func maskPut32(page []byte, off int, v uint32) {
	if off >= 0 && off+4 <= len(page) {
		binary.LittleEndian.PutUint32(page[off:], v)
	}
}

// maskZero zeroes page[from:to] clamped to the page.
func maskZero(page []byte, from, to int) {
	from, to = max(from, 0), min(to, len(page))
	if from < to {
		clear(page[from:to])
	}
}

func maskAlign(n int) int { return (n + maxAlignOf - 1) &^ (maxAlignOf - 1) }

func maskLower(page []byte) int {
	v, _ := maskGet16(page, schema.PdLowerOff)
	return int(v)
}

func maskUpper(page []byte) int {
	v, _ := maskGet16(page, schema.PdUpperOff)
	return int(v)
}

// maskOpaque returns pd_special (where PageGetSpecialPointer points) and an
// error when an opaque struct of size bytes does not fit there; the masks
// then skip the fields that lie outside the page.
func maskOpaque(page []byte, size int) (int, error) {
	special := maskSpecial(page)
	if special+size > len(page) {
		return special, &MaskError{Mask: "PageGetSpecialPointer", Reason: fmt.Sprintf("pd_special %d leaves no room for %d bytes of special space", special, size)}
	}
	return special, nil
}

// maskSpecial is pd_special, the offset PageGetSpecialPointer returns.
func maskSpecial(page []byte) int {
	v, _ := maskGet16(page, schema.PdSpecialOff)
	return int(v)
}

// maskMaxOffset is PageGetMaxOffsetNumber.
func maskMaxOffset(page []byte) int {
	lower := maskLower(page)
	if lower <= sizeOfPageHeader {
		return 0
	}
	return (lower - sizeOfPageHeader) / sizeOfItemID
}

func maskItemIDOffset(off int) int { return sizeOfPageHeader + (off-1)*sizeOfItemID }

// maskItemID returns line pointer off (1-based) as the raw little-endian
// word: lp_off bits 0-14, lp_flags bits 15-16, lp_len bits 17-31.
func maskItemID(page []byte, off int) (uint32, bool) {
	return maskGet32(page, maskItemIDOffset(off))
}
