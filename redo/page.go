package redo

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/pagemill/pagemill/schema"
)

// Page mutation helpers of storage/page/bufpage.c, byte for byte. Each
// works on a schema.Page of exactly schema.BLCKSZ bytes. Where PostgreSQL
// raises ERROR or PANIC (corrupt pointers, bad offsets) these return a
// *schema.PageError and leave the page unchanged; where PostgreSQL returns
// a refusal (PageAddItemExtended's InvalidOffsetNumber, PageIndexTupleOverwrite's
// false) these say so too. Bytes PostgreSQL leaves stale (free space after
// compaction or deletion, MAXALIGN padding after an added item) are left
// stale here as well.

// Errors a caller can decide on with errors.Is, besides
// schema.ErrCorruptPage.
var (
	// ErrNoSpace: the page has not enough free space for the item.
	ErrNoSpace = errors.New("not enough free space on page")
	// ErrItemRejected: PageAddItemExtended refused the offset number (a
	// used line pointer to overwrite, an offset past the end of the line
	// pointer array, or more than MaxHeapTuplesPerPage on a heap page).
	ErrItemRejected = errors.New("item rejected")
)

// PageAddItemExtended flags.
const (
	PAIOverwrite = 1 << 0 // PAI_OVERWRITE
	PAIIsHeap    = 1 << 1 // PAI_IS_HEAP
)

const (
	sizeOfPageHeader = schema.SizeOfPageHeaderData
	sizeOfItemID     = schema.SizeOfItemIdData
	maxAlignOf       = schema.MaximumAlignOf
)

func maxAlign(n int) int { return (n + maxAlignOf - 1) &^ (maxAlignOf - 1) }

func pageErr(op string, off schema.OffsetNumber, format string, args ...any) error {
	return &schema.PageError{Op: op, Offset: off, Kind: schema.ErrCorruptPage, Reason: fmt.Sprintf(format, args...)}
}

func refusal(op string, kind error, off schema.OffsetNumber, format string, args ...any) error {
	return &schema.PageError{Op: op, Offset: off, Kind: kind, Reason: fmt.Sprintf(format, args...)}
}

// checkSize makes sure every byte the helpers index lies inside page.
func checkSize(op string, page schema.Page) error {
	if len(page) != schema.BLCKSZ {
		return pageErr(op, 0, "page buffer is %d bytes, want %d", len(page), schema.BLCKSZ)
	}
	return nil
}

// checkPointers is the "corrupted page pointers" test the compacting
// functions share; PageAddItemExtended's omits the MAXALIGN test.
func checkPointers(op string, page schema.Page, needAligned bool) error {
	if err := checkSize(op, page); err != nil {
		return err
	}
	lower, upper, special := page.Lower(), page.Upper(), page.Special()
	if lower < sizeOfPageHeader || lower > upper || upper > special || special > schema.BLCKSZ ||
		(needAligned && int(special) != maxAlign(int(special))) {
		return pageErr(op, 0, "corrupted page pointers: lower = %d, upper = %d, special = %d", lower, upper, special)
	}
	return nil
}

// Line pointers are read and written directly: callers have checked that
// the slot lies inside the page.
func getItemID(page schema.Page, off int) schema.ItemId {
	return schema.ItemId(binary.LittleEndian.Uint32(page[sizeOfPageHeader+sizeOfItemID*(off-1):]))
}

func setItemID(page schema.Page, off int, id schema.ItemId) {
	binary.LittleEndian.PutUint32(page[sizeOfPageHeader+sizeOfItemID*(off-1):], uint32(id))
}

// PageInit mirrors PageInit: it zeroes the page and sets pd_lower,
// pd_upper = pd_special = BLCKSZ - MAXALIGN(specialSize), and the page size
// and layout version.
func PageInit(page schema.Page, specialSize int) error {
	if err := checkSize("PageInit", page); err != nil {
		return err
	}
	if specialSize < 0 || maxAlign(specialSize)+sizeOfPageHeader >= schema.BLCKSZ {
		return refusal("PageInit", ErrNoSpace, 0, "special size %d does not leave room on a %d-byte page", specialSize, schema.BLCKSZ)
	}
	specialSize = maxAlign(specialSize)
	clear(page)
	page.SetLower(sizeOfPageHeader)
	page.SetUpper(uint16(schema.BLCKSZ - specialSize))
	page.SetSpecial(uint16(schema.BLCKSZ - specialSize))
	page.SetPageSizeAndVersion(schema.BLCKSZ, schema.PGPageLayoutVersion)
	return nil
}

// PageAddItem mirrors the PageAddItem macro.
func PageAddItem(page schema.Page, item []byte, offnum schema.OffsetNumber, overwrite, isHeap bool) (schema.OffsetNumber, error) {
	flags := 0
	if overwrite {
		flags |= PAIOverwrite
	}
	if isHeap {
		flags |= PAIIsHeap
	}
	return PageAddItemExtended(page, item, offnum, flags)
}

// PageAddItemExtended mirrors PageAddItemExtended: it adds item (all
// len(item) bytes) at offnum, or at the first free line pointer when offnum
// is not a valid offset number, and returns the offset used. Refusals where
// PostgreSQL returns InvalidOffsetNumber match ErrItemRejected or
// ErrNoSpace; corrupt pointers (PostgreSQL's PANIC) match
// schema.ErrCorruptPage. As in PostgreSQL, a PD_HAS_FREE_LINES hint found
// wrong during the search is cleared even when the add is then refused;
// nothing else changes on any error.
func PageAddItemExtended(page schema.Page, item []byte, offnum schema.OffsetNumber, flags int) (schema.OffsetNumber, error) {
	off, dst, err := pageAddItemSpace(page, len(item), offnum, flags)
	if err == nil {
		copy(dst, item)
	}
	return off, err
}

// pageAddItemSpace is PageAddItemExtended of an item of size bytes whose
// contents the caller writes afterwards into the slice returned (size
// bytes of the page, at the new pd_upper): callers that build an item
// from parts write it in place instead of building it first.
func pageAddItemSpace(page schema.Page, size int, offnum schema.OffsetNumber, flags int) (schema.OffsetNumber, []byte, error) {
	const op = "PageAddItemExtended"
	if err := checkPointers(op, page, false); err != nil {
		return schema.InvalidOffsetNumber, nil, err
	}
	limit := int(page.MaxOffsetNumber()) + 1
	off := int(offnum)
	needShuffle := false

	if schema.OffsetNumberIsValid(offnum) {
		if flags&PAIOverwrite != 0 {
			if off < limit {
				if lp := getItemID(page, off); lp.IsUsed() || lp.HasStorage() {
					return schema.InvalidOffsetNumber, nil, refusal(op, ErrItemRejected, offnum, "will not overwrite a used ItemId %v", lp)
				}
			}
		} else if off < limit {
			needShuffle = true
		}
	} else if page.HasFreeLinePointers() {
		for off = int(schema.FirstOffsetNumber); off < limit; off++ {
			if lp := getItemID(page, off); !lp.IsUsed() && !lp.HasStorage() {
				break
			}
		}
		if off >= limit {
			page.ClearHasFreeLinePointers()
		}
	} else {
		off = limit
	}

	if off > limit {
		return schema.InvalidOffsetNumber, nil, refusal(op, ErrItemRejected, offnum, "specified item offset is too large (line pointer array ends at %d)", limit-1)
	}
	if flags&PAIIsHeap != 0 && off > schema.MaxHeapTuplesPerPage {
		return schema.InvalidOffsetNumber, nil, refusal(op, ErrItemRejected, schema.OffsetNumber(off), "can't put more than MaxHeapTuplesPerPage (%d) items in a heap page", schema.MaxHeapTuplesPerPage)
	}

	lower := int(page.Lower())
	if off == limit || needShuffle {
		lower += sizeOfItemID
	}
	alignedSize := maxAlign(size)
	upper := int(page.Upper()) - alignedSize
	if lower > upper {
		return schema.InvalidOffsetNumber, nil, refusal(op, ErrNoSpace, schema.OffsetNumber(off), "item of %d bytes (%d aligned) does not fit: lower would be %d, upper %d", size, alignedSize, lower, upper)
	}

	pos := sizeOfPageHeader + sizeOfItemID*(off-1)
	if needShuffle {
		copy(page[pos+sizeOfItemID:], page[pos:sizeOfPageHeader+sizeOfItemID*(limit-1)])
	}
	setItemID(page, off, schema.NewItemId(uint16(upper), schema.LPNormal, uint16(size)))
	page.SetLower(uint16(lower))
	page.SetUpper(uint16(upper))
	return schema.OffsetNumber(off), page[upper : upper+size], nil
}

// PageGetTempPageCopySpecial mirrors PageGetTempPageCopySpecial: a new
// PageInit'd page with page's special space size and contents.
func PageGetTempPageCopySpecial(page schema.Page) (schema.Page, error) {
	const op = "PageGetTempPageCopySpecial"
	if err := checkSize(op, page); err != nil {
		return nil, err
	}
	if page.PageSize() != schema.BLCKSZ || page.Special() < sizeOfPageHeader || page.Special() > schema.BLCKSZ {
		return nil, pageErr(op, 0, "page size %d and pd_special %d give no valid special space", page.PageSize(), page.Special())
	}
	temp := make(schema.Page, schema.BLCKSZ)
	if err := PageInit(temp, int(page.SpecialSize())); err != nil {
		return nil, err
	}
	copy(temp[temp.Special():], page[page.Special():])
	return temp, nil
}

// PageRestoreTempPage mirrors PageRestoreTempPage: it copies temp over old.
func PageRestoreTempPage(temp, old schema.Page) error {
	if err := checkSize("PageRestoreTempPage", temp); err != nil {
		return err
	}
	if err := checkSize("PageRestoreTempPage", old); err != nil {
		return err
	}
	copy(old, temp)
	return nil
}

// itemIDCompact mirrors itemIdCompactData (uint16 fields, as in C).
type itemIDCompact struct {
	offsetIndex uint16 // line pointer array index (offset number - 1)
	itemOff     uint16 // page offset of the item's data
	alignedLen  uint16 // MAXALIGN(lp_len)
}

// end is itemOff + alignedLen.
func (it *itemIDCompact) end() int { return int(it.itemOff) + int(it.alignedLen) }

// linePointers returns the bytes of line pointers 1..n of page (4 each);
// callers have checked that they lie inside the page.
func linePointers(page schema.Page, n int) []byte {
	return page[sizeOfPageHeader : sizeOfPageHeader+sizeOfItemID*n]
}

// shiftItemOffsets adds delta to lp_off (modulo 2^15, as C's bitfield
// arithmetic does) of every line pointer in lps whose lp_off is at most
// limit and, with storageOnly, whose lp_len is not 0 (ItemIdHasStorage).
//
// Whether a line pointer moves depends on where its item lies, which no
// branch predictor guesses: the loop decides without branching, two line
// pointers at a time in the halves of a uint64, and stores every line
// pointer back. Each half's arithmetic stays below bit 16 of its half, so
// nothing carries across: lp_off and limit are below 2^15, and delta is
// taken modulo 2^15 (the result is).
func shiftItemOffsets(lps []byte, limit int, delta int, storageOnly bool) {
	const (
		offs  = 0x00007FFF_00007FFF // lp_off of both halves
		ones  = 0x00000001_00000001
		bit15 = 0x00008000_00008000
	)
	d := uint64(uint32(delta) & 0x7FFF)
	lim := uint64(uint32(limit)&0x7FFF)*ones | bit15
	// Bit 0 of a half of sel(v) is set when the half's lp_off <= limit
	// (then limit + 2^15 - lp_off keeps bit 15) and, with storageOnly,
	// its lp_len != 0 (then lp_len + 0x7FFF reaches bit 15).
	n := len(lps) &^ (2*sizeOfItemID - 1)
	if storageOnly {
		for i := 0; i < n; i += 2 * sizeOfItemID {
			b := lps[i : i+2*sizeOfItemID]
			v := binary.LittleEndian.Uint64(b)
			off := v & offs
			m := (lim - off) >> 15 & (((v>>17)&offs + offs) >> 15) & ones
			binary.LittleEndian.PutUint64(b, v&^offs|(off+m*d)&offs)
		}
	} else {
		for i := 0; i < n; i += 2 * sizeOfItemID {
			b := lps[i : i+2*sizeOfItemID]
			v := binary.LittleEndian.Uint64(b)
			off := v & offs
			m := (lim - off) >> 15 & ones
			binary.LittleEndian.PutUint64(b, v&^offs|(off+m*d)&offs)
		}
	}
	if n < len(lps) {
		b := lps[n:]
		v := binary.LittleEndian.Uint32(b)
		off := v & 0x7FFF
		m := (uint32(lim) - off) >> 15 & 1
		if storageOnly {
			m &= (v>>17 + 0x7FFF) >> 15
		}
		binary.LittleEndian.PutUint32(b, v&^0x7FFF|(off+m*uint32(d))&0x7FFF)
	}
}

// compactifyTuples mirrors compactify_tuples: it packs the items, in the
// order given, down from pd_special, sets their lp_off and pd_upper, and
// writes nothing below the final pd_upper. Callers guarantee len(items) > 0,
// pd_upper <= itemOff and itemOff+alignedLen <= BLCKSZ for every item, and
// a total length that fits above pd_lower, so every copy stays inside the
// page.
//
// Presorted items (decreasing itemOff) move within the page: items already
// packed against pd_special stay, and the others move up in runs of
// adjacent items, one copy per run, each run past bytes already read.
// Otherwise the runs are copied from a scratch block (compactifyUnsorted).
func compactifyTuples(items []itemIDCompact, page schema.Page, presorted bool) {
	if !presorted {
		compactifyUnsorted(items, page)
		return
	}
	upper, i := skipPacked(items, int(page.Special()))
	moveRuns(items[i:], page, upper, page)
}

// compactifyUnsorted is compactify_tuples' path for items in any order:
// the scratch block holds only what the runs read, each item's bytes when
// fewer than a quarter of the line pointers have storage, else the bytes
// from pd_upper to the first item left in place (those packed against
// pd_special stay). No item ends above that point unless items overlap;
// then the scratch also takes the bytes up to the highest end, so that
// every run reads the page's bytes, as from a copy of the whole page.
func compactifyUnsorted(items []itemIDCompact, page schema.Page) {
	var scratch [schema.BLCKSZ]byte
	upper, i := int(page.Special()), 0
	if len(items) < int(page.MaxOffsetNumber())/4 {
		for k := range items {
			it := &items[k]
			copy(scratch[it.itemOff:it.end()], page[it.itemOff:it.end()])
		}
	} else {
		upper, i = skipPacked(items, upper)
		hi := upper
		for k := i; k < len(items); k++ {
			hi = max(hi, items[k].end())
		}
		from := int(page.Upper())
		copy(scratch[from:hi], page[from:hi])
	}
	moveRuns(items[i:], page, upper, scratch[:])
}

// skipPacked returns where the items already packed against special, in
// order, begin and how many they are.
func skipPacked(items []itemIDCompact, special int) (upper, i int) {
	upper = special
	for i < len(items) && items[i].end() == upper {
		upper -= int(items[i].alignedLen)
		i++
	}
	return upper, i
}

// moveRuns packs items down from upper, reading their bytes from src (the
// page itself, or a scratch block): runs of adjacent items move in one
// copy. It sets their lp_off and pd_upper.
func moveRuns(items []itemIDCompact, page schema.Page, upper int, src []byte) {
	if len(items) > 0 {
		lps := linePointers(page, int(page.MaxOffsetNumber()))
		copyTail := items[0].end()
		copyHead := copyTail
		for i := range items {
			it := &items[i]
			if copyHead != it.end() {
				copy(page[upper:], src[copyHead:copyTail])
				copyTail = it.end()
			}
			upper -= int(it.alignedLen)
			copyHead = int(it.itemOff)
			lp := lps[sizeOfItemID*int(it.offsetIndex):]
			lp = lp[:sizeOfItemID]
			binary.LittleEndian.PutUint32(lp, binary.LittleEndian.Uint32(lp)&^0x7FFF|uint32(upper)&0x7FFF)
		}
		copy(page[upper:], src[copyHead:copyTail])
	}
	page.SetUpper(uint16(upper))
}

// PageRepairFragmentation mirrors PageRepairFragmentation (heap pages):
// line pointers that are LP_UNUSED are zeroed, the items with storage are
// packed against pd_special in line pointer order (bytes below the new
// pd_upper are left as they were), trailing LP_UNUSED line pointers are
// cut off pd_lower, and PD_HAS_FREE_LINES is set if LP_UNUSED ones remain,
// cleared otherwise.
func PageRepairFragmentation(page schema.Page) error {
	const op = "PageRepairFragmentation"
	if err := checkPointers(op, page, true); err != nil {
		return err
	}
	lower, upper, special := int(page.Lower()), int(page.Upper()), int(page.Special())
	nline := int(page.MaxOffsetNumber())

	// Validate everything before changing anything. The loop only
	// notes where it stops; the error is built after it (a lean loop
	// keeps its variables in registers).
	var itemBuf [schema.MaxHeapTuplesPerPage]itemIDCompact
	n := 0 // items in itemBuf
	presorted := true
	lastOffset := special
	totalLen, nunused, finalUsed := 0, 0, 0
	maxEnd := 0 // of the items' extents
	lps := linePointers(page, nline)
	stop := -1 // byte offset in lps of the line pointer the loop stopped at
	for j := 0; j+sizeOfItemID <= len(lps); j += sizeOfItemID {
		lp := schema.ItemId(binary.LittleEndian.Uint32(lps[j : j+sizeOfItemID]))
		if !lp.IsUsed() {
			nunused++
			continue
		}
		finalUsed = j + sizeOfItemID // as an offset number: finalUsed/sizeOfItemID
		if !lp.HasStorage() {
			continue
		}
		off := int(lp.Off())
		if off < upper || off >= special || n == len(itemBuf) {
			stop = j
			break
		}
		alen := maxAlign(int(lp.Len()))
		if lastOffset > off {
			lastOffset = off
		} else {
			presorted = false
		}
		itemBuf[n] = itemIDCompact{offsetIndex: uint16(j / sizeOfItemID), itemOff: uint16(off), alignedLen: uint16(alen)}
		n++
		totalLen += alen
		maxEnd = max(maxEnd, off+alen)
	}
	if stop >= 0 {
		i := stop/sizeOfItemID + 1
		if off := int(getItemID(page, i).Off()); off < upper || off >= special {
			return pageErr(op, schema.OffsetNumber(i), "corrupted line pointer: %d (tuple space is [%d, %d))", off, upper, special)
		}
		return pageErr(op, schema.OffsetNumber(i), "more than MaxHeapTuplesPerPage (%d) items with storage", schema.MaxHeapTuplesPerPage)
	}
	finalUsed /= sizeOfItemID
	items := itemBuf[:n]
	if len(items) > 0 && totalLen > special-lower {
		return pageErr(op, 0, "corrupted item lengths: total %d, available space %d", totalLen, special-lower)
	}
	for k := 0; maxEnd > schema.BLCKSZ && k < len(items); k++ {
		// PostgreSQL would copy bytes from beyond the page here.
		if it := &items[k]; it.end() > schema.BLCKSZ {
			lp := getItemID(page, int(it.offsetIndex)+1)
			return pageErr(op, schema.OffsetNumber(it.offsetIndex+1), "corrupted line pointer: item at %d of length %d runs past the end of the page", lp.Off(), lp.Len())
		}
	}

	// LP_UNUSED line pointers become all zero; without branching, as
	// which ones they are follows no pattern.
	for j := 0; nunused > 0 && j+sizeOfItemID <= len(lps); j += sizeOfItemID {
		lp := lps[j : j+sizeOfItemID]
		v := binary.LittleEndian.Uint32(lp)
		used := (v>>15&3 + 3) >> 2 // 1 unless lp_flags is LP_UNUSED
		binary.LittleEndian.PutUint32(lp, v&-used)
	}
	if len(items) == 0 {
		page.SetUpper(uint16(special))
	} else {
		compactifyTuples(items, page, presorted)
	}
	if finalUsed != nline {
		nunusedEnd := nline - finalUsed
		nunused -= nunusedEnd
		page.SetLower(page.Lower() - uint16(sizeOfItemID*nunusedEnd))
	}
	if nunused > 0 {
		page.SetHasFreeLinePointers()
	} else {
		page.ClearHasFreeLinePointers()
	}
	return nil
}

// PageTruncateLinePointerArray mirrors PageTruncateLinePointerArray (heap
// pages): trailing LP_UNUSED line pointers are cut off pd_lower, keeping at
// least line pointer 1, and PD_HAS_FREE_LINES is set if an LP_UNUSED one
// remains, cleared otherwise. No data moves.
func PageTruncateLinePointerArray(page schema.Page) error {
	const op = "PageTruncateLinePointerArray"
	if err := checkSize(op, page); err != nil {
		return err
	}
	nline := int(page.MaxOffsetNumber())
	if sizeOfPageHeader+sizeOfItemID*nline > schema.BLCKSZ {
		return pageErr(op, 0, "pd_lower %d is past the end of the page", page.Lower())
	}
	countDone, setHint := false, false
	nunusedEnd := 0
	for i := nline; i >= int(schema.FirstOffsetNumber); i-- {
		lp := getItemID(page, i)
		if !countDone && i > int(schema.FirstOffsetNumber) {
			if !lp.IsUsed() {
				nunusedEnd++
			} else {
				countDone = true
			}
		} else if !lp.IsUsed() {
			setHint = true
			break
		}
	}
	if nunusedEnd > 0 {
		page.SetLower(page.Lower() - uint16(sizeOfItemID*nunusedEnd))
	}
	if setHint {
		page.SetHasFreeLinePointers()
	} else {
		page.ClearHasFreeLinePointers()
	}
	return nil
}

// PageGetFreeSpace mirrors PageGetFreeSpace: pd_upper - pd_lower less one
// line pointer, or 0. A buffer shorter than a page header has no space.
func PageGetFreeSpace(page schema.Page) int {
	return PageGetFreeSpaceForMultipleTuples(page, 1)
}

// PageGetFreeSpaceForMultipleTuples mirrors
// PageGetFreeSpaceForMultipleTuples: pd_upper - pd_lower less ntups line
// pointers, or 0.
func PageGetFreeSpaceForMultipleTuples(page schema.Page, ntups int) int {
	if len(page) < sizeOfPageHeader {
		return 0
	}
	space := int(page.Upper()) - int(page.Lower())
	if space < ntups*sizeOfItemID {
		return 0
	}
	return space - ntups*sizeOfItemID
}

// PageGetExactFreeSpace mirrors PageGetExactFreeSpace: pd_upper - pd_lower,
// or 0.
func PageGetExactFreeSpace(page schema.Page) int {
	if len(page) < sizeOfPageHeader {
		return 0
	}
	return max(int(page.Upper())-int(page.Lower()), 0)
}

// PageGetHeapFreeSpace mirrors PageGetHeapFreeSpace: PageGetFreeSpace, but
// 0 when the page already has MaxHeapTuplesPerPage line pointers and none is
// free (trusting PD_HAS_FREE_LINES when it is clear, checking it when set).
// Line pointer slots past the end of the buffer count as used.
func PageGetHeapFreeSpace(page schema.Page) int {
	space := PageGetFreeSpace(page)
	if space == 0 {
		return 0
	}
	nline := int(page.MaxOffsetNumber())
	if nline < schema.MaxHeapTuplesPerPage {
		return space
	}
	if !page.HasFreeLinePointers() {
		return 0
	}
	for off := 1; off <= nline && sizeOfPageHeader+sizeOfItemID*off <= len(page); off++ {
		if !getItemID(page, off).IsUsed() {
			return space
		}
	}
	return 0
}

// checkIndexItem is the line pointer test of the index deletion functions.
func checkIndexItem(op string, page schema.Page, offnum schema.OffsetNumber) (schema.ItemId, error) {
	nline := int(page.MaxOffsetNumber())
	if offnum == schema.InvalidOffsetNumber || int(offnum) > nline {
		return 0, pageErr(op, offnum, "invalid index offnum: %d (page has %d line pointers)", offnum, nline)
	}
	lp := getItemID(page, int(offnum))
	off, size := int(lp.Off()), int(lp.Len())
	if off < int(page.Upper()) || off+size > int(page.Special()) || off != maxAlign(off) {
		return 0, pageErr(op, offnum, "corrupted line pointer: offset = %d, size = %d", off, size)
	}
	return lp, nil
}

// indexItemOf is the opening of the functions that change one item of an
// index page: the page pointers and line pointer offnum are checked
// (checkPointers, checkIndexItem). It returns the item's offset and
// MAXALIGNed size and the number of line pointers.
func indexItemOf(op string, page schema.Page, offnum schema.OffsetNumber) (offset, size, nline int, err error) {
	if err := checkPointers(op, page, true); err != nil {
		return 0, 0, 0, err
	}
	lp, err := checkIndexItem(op, page, offnum)
	if err != nil {
		return 0, 0, 0, err
	}
	return int(lp.Off()), maxAlign(int(lp.Len())), int(page.MaxOffsetNumber()), nil
}

// PageIndexTupleDelete mirrors PageIndexTupleDelete: it removes line
// pointer offnum (later ones shift down), moves the data below the item up
// by its MAXALIGNed length (leaving the vacated bytes stale), and adjusts
// pd_lower, pd_upper and the line pointers that pointed at or below it.
func PageIndexTupleDelete(page schema.Page, offnum schema.OffsetNumber) error {
	offset, size, nline, err := indexItemOf("PageIndexTupleDelete", page, offnum)
	if err != nil {
		return err
	}
	lower, upper := int(page.Lower()), int(page.Upper())

	next := sizeOfPageHeader + sizeOfItemID*int(offnum)
	if lower > next {
		copy(page[next-sizeOfItemID:], page[next:lower])
	}
	if offset > upper {
		copy(page[upper+size:], page[upper:offset])
	}
	page.SetUpper(uint16(upper + size))
	page.SetLower(uint16(lower - sizeOfItemID))

	if !page.IsEmpty() {
		shiftItemOffsets(linePointers(page, nline-1), offset, size, false)
	}
	return nil
}

// pageIndexTupleReplace does what PageIndexTupleDelete(page, offnum)
// followed by PageAddItem(page, item, offnum, false, false) does when both
// succeed (the add then returns offnum), to the byte: the data below the
// deleted item moves up by its MAXALIGNed size, the other line pointers
// that pointed at or below it are adjusted, and item is added where the
// add would put it, with line pointer offnum. The two shifts of the line
// pointer array (down by the delete, back up by the add) cancel out and
// are skipped. It returns false, changing nothing, when either would
// fail; the caller then makes the two calls, which fail as they do.
func pageIndexTupleReplace(page schema.Page, offnum schema.OffsetNumber, item []byte) bool {
	offset, size, nline, err := indexItemOf("PageIndexTupleDelete", page, offnum)
	if err != nil {
		return false
	}
	lower, upper := int(page.Lower()), int(page.Upper())
	// After the delete pd_upper is upper+size and pd_lower lower-4; the
	// add puts pd_lower back and needs the aligned item below pd_upper.
	newUpper := upper + size - maxAlign(len(item))
	if lower > newUpper {
		return false // PageAddItemExtended: not enough free space
	}
	if offset > upper {
		copy(page[upper+size:], page[upper:offset])
	}
	lps := linePointers(page, nline)
	shiftItemOffsets(lps[:sizeOfItemID*(int(offnum)-1)], offset, size, false)
	shiftItemOffsets(lps[sizeOfItemID*int(offnum):], offset, size, false)
	setItemID(page, int(offnum), schema.NewItemId(uint16(newUpper), schema.LPNormal, uint16(len(item))))
	copy(page[newUpper:], item)
	page.SetUpper(uint16(newUpper))
	return true
}

// PageIndexMultiDelete mirrors PageIndexMultiDelete: it deletes the items
// itemnos (ascending offset order). With at most two items it calls
// PageIndexTupleDelete for each, last first, as PostgreSQL does; otherwise
// it rebuilds the line pointer array from the kept items and compacts their
// data in line pointer order. The two paths leave different bytes.
func PageIndexMultiDelete(page schema.Page, itemnos []schema.OffsetNumber) error {
	const op = "PageIndexMultiDelete"
	if len(itemnos) <= 2 {
		if err := checkSize(op, page); err != nil {
			return err
		}
		if len(itemnos) == 2 && twoDeletesSucceed(page, itemnos[0], itemnos[1]) {
			if err := PageIndexTupleDelete(page, itemnos[1]); err != nil {
				return err
			}
			return PageIndexTupleDelete(page, itemnos[0])
		}
		if len(itemnos) == 2 {
			// Stay atomic: the second deletion may fail after the first.
			var tmp [schema.BLCKSZ]byte
			copy(tmp[:], page)
			if err := PageIndexTupleDelete(tmp[:], itemnos[1]); err != nil {
				return err
			}
			if err := PageIndexTupleDelete(tmp[:], itemnos[0]); err != nil {
				return err
			}
			copy(page, tmp[:])
		} else if len(itemnos) == 1 {
			return PageIndexTupleDelete(page, itemnos[0])
		}
		return nil
	}
	if err := checkPointers(op, page, true); err != nil {
		return err
	}
	lower, upper, special := int(page.Lower()), int(page.Upper()), int(page.Special())
	nline := int(page.MaxOffsetNumber())

	// The loop only notes where it stops; the error is built after it.
	var itemBuf [schema.MaxIndexTuplesPerPage]itemIDCompact
	var idBuf [schema.MaxIndexTuplesPerPage]uint32
	n := 0 // kept items
	totalLen, nextItm := 0, 0
	presorted := true
	lastOffset := special
	lps := linePointers(page, nline)
	stop := -1 // byte offset in lps of the line pointer the loop stopped at
	for j := 0; j+sizeOfItemID <= len(lps); j += sizeOfItemID {
		v := binary.LittleEndian.Uint32(lps[j : j+sizeOfItemID])
		size, offset := int(v>>17), int(v&0x7FFF)
		if offset < upper || offset+size > special || offset&(maxAlignOf-1) != 0 {
			stop = j
			break
		}
		if nextItm < len(itemnos) && j/sizeOfItemID+1 == int(itemnos[nextItm]) {
			nextItm++
			continue
		}
		if n == len(itemBuf) {
			stop = j
			break
		}
		if lastOffset > offset {
			lastOffset = offset
		} else {
			presorted = false
		}
		itemBuf[n] = itemIDCompact{offsetIndex: uint16(n), itemOff: uint16(offset), alignedLen: uint16(maxAlign(size))}
		idBuf[n] = v
		n++
		totalLen += maxAlign(size)
	}
	if stop >= 0 {
		off := stop/sizeOfItemID + 1
		lp := getItemID(page, off)
		size, offset := int(lp.Len()), int(lp.Off())
		if offset < upper || offset+size > special || offset != maxAlign(offset) {
			return pageErr(op, schema.OffsetNumber(off), "corrupted line pointer: offset = %d, size = %d", offset, size)
		}
		return pageErr(op, schema.OffsetNumber(off), "more than MaxIndexTuplesPerPage (%d) items kept", schema.MaxIndexTuplesPerPage)
	}
	items, newItemIDs := itemBuf[:n], idBuf[:n]
	if nextItm != len(itemnos) {
		// A copy, so that itemnos does not escape (callers pass arrays
		// on their stack).
		return pageErr(op, 0, "incorrect index offsets supplied: %v (offset %d not found in ascending order among %d line pointers)", slices.Clone(itemnos), itemnos[nextItm], nline)
	}
	if totalLen > special-lower {
		return pageErr(op, 0, "corrupted item lengths: total %d, available space %d", totalLen, special-lower)
	}

	out := linePointers(page, len(newItemIDs))
	for i, v := range newItemIDs {
		binary.LittleEndian.PutUint32(out[sizeOfItemID*i:], v)
	}
	page.SetLower(uint16(sizeOfPageHeader + sizeOfItemID*len(newItemIDs)))
	if len(items) > 0 {
		compactifyTuples(items, page, presorted)
	} else {
		page.SetUpper(uint16(special))
	}
	return nil
}

// twoDeletesSucceed reports whether PageIndexTupleDelete of b and then of
// a is sure to succeed: a < b, the page pointers and both line pointers
// pass the checks, and the two items do not overlap (then the first
// deletion leaves the second's line pointer and the page pointers valid).
// PageIndexMultiDelete then needs no copy of the page to stay atomic.
func twoDeletesSucceed(page schema.Page, a, b schema.OffsetNumber) bool {
	const op = "PageIndexMultiDelete"
	if a >= b || checkPointers(op, page, true) != nil {
		return false
	}
	lpA, errA := checkIndexItem(op, page, a)
	lpB, errB := checkIndexItem(op, page, b)
	if errA != nil || errB != nil {
		return false
	}
	offA, endA := int(lpA.Off()), int(lpA.Off())+int(lpA.Len())
	offB, endB := int(lpB.Off()), int(lpB.Off())+int(lpB.Len())
	return endA <= offB || endB <= offA
}

// PageIndexTupleDeleteNoCompact mirrors PageIndexTupleDeleteNoCompact: the
// item's data is removed as in PageIndexTupleDelete, but its line pointer
// is set LP_UNUSED instead of removed, unless it is the last one.
func PageIndexTupleDeleteNoCompact(page schema.Page, offnum schema.OffsetNumber) error {
	offset, size, nline, err := indexItemOf("PageIndexTupleDeleteNoCompact", page, offnum)
	if err != nil {
		return err
	}
	upper := int(page.Upper())

	if int(offnum) < nline {
		setItemID(page, int(offnum), 0)
	} else {
		page.SetLower(page.Lower() - sizeOfItemID)
		nline--
	}
	if offset > upper {
		copy(page[upper+size:], page[upper:offset])
	}
	page.SetUpper(uint16(upper + size))

	if !page.IsEmpty() {
		shiftItemOffsets(linePointers(page, nline), offset, size, true)
	}
	return nil
}

// PageIndexTupleOverwrite mirrors PageIndexTupleOverwrite: it replaces the
// data of item offnum with newtup in place, moving the data below it by the
// change in MAXALIGNed size and adjusting pd_upper and the affected line
// pointers; lp_flags is kept. It returns false, changing nothing, when the
// page has not enough free space.
func PageIndexTupleOverwrite(page schema.Page, offnum schema.OffsetNumber, newtup []byte) (bool, error) {
	offset, oldSize, itemCount, err := indexItemOf("PageIndexTupleOverwrite", page, offnum)
	if err != nil {
		return false, err
	}
	alignedNewSize := maxAlign(len(newtup))
	lower, upper := int(page.Lower()), int(page.Upper())
	if alignedNewSize > oldSize+(upper-lower) {
		return false, nil
	}

	sizeDiff := oldSize - alignedNewSize
	if sizeDiff != 0 {
		copy(page[upper+sizeDiff:], page[upper:offset])
		page.SetUpper(uint16(upper + sizeDiff))
		shiftItemOffsets(linePointers(page, itemCount), offset, sizeDiff, true)
	}
	tup := getItemID(page, int(offnum))
	tup.SetOff(uint16(offset + sizeDiff))
	tup.SetLen(uint16(len(newtup)))
	setItemID(page, int(offnum), tup)
	copy(page[offset+sizeDiff:], newtup)
	return true, nil
}
