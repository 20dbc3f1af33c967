package redo

// Reference copies of the bufpage.c helpers as they were before they were
// optimised (line pointers decoded one by one, a zeroed full-page scratch,
// a page copy for every two-item PageIndexMultiDelete); page_diff_test.go
// checks that the optimised ones change the same bytes and fail alike.

import "github.com/pagemill/pagemill/schema"

// refPageAddItemExtended is PageAddItemExtended as it was.
func refPageAddItemExtended(page schema.Page, item []byte, offnum schema.OffsetNumber, flags int) (schema.OffsetNumber, error) {
	const op = "PageAddItemExtended"
	if err := checkPointers(op, page, false); err != nil {
		return schema.InvalidOffsetNumber, err
	}
	limit := int(page.MaxOffsetNumber()) + 1
	off := int(offnum)
	needShuffle := false

	if schema.OffsetNumberIsValid(offnum) {
		if flags&PAIOverwrite != 0 {
			if off < limit {
				if lp := getItemID(page, off); lp.IsUsed() || lp.HasStorage() {
					return schema.InvalidOffsetNumber, refusal(op, ErrItemRejected, offnum, "will not overwrite a used ItemId %v", lp)
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
		return schema.InvalidOffsetNumber, refusal(op, ErrItemRejected, offnum, "specified item offset is too large (line pointer array ends at %d)", limit-1)
	}
	if flags&PAIIsHeap != 0 && off > schema.MaxHeapTuplesPerPage {
		return schema.InvalidOffsetNumber, refusal(op, ErrItemRejected, schema.OffsetNumber(off), "can't put more than MaxHeapTuplesPerPage (%d) items in a heap page", schema.MaxHeapTuplesPerPage)
	}

	lower := int(page.Lower())
	if off == limit || needShuffle {
		lower += sizeOfItemID
	}
	alignedSize := maxAlign(len(item))
	upper := int(page.Upper()) - alignedSize
	if lower > upper {
		return schema.InvalidOffsetNumber, refusal(op, ErrNoSpace, schema.OffsetNumber(off), "item of %d bytes (%d aligned) does not fit: lower would be %d, upper %d", len(item), alignedSize, lower, upper)
	}

	pos := sizeOfPageHeader + sizeOfItemID*(off-1)
	if needShuffle {
		copy(page[pos+sizeOfItemID:], page[pos:sizeOfPageHeader+sizeOfItemID*(limit-1)])
	}
	setItemID(page, off, schema.NewItemId(uint16(upper), schema.LPNormal, uint16(len(item))))
	copy(page[upper:], item)
	page.SetLower(uint16(lower))
	page.SetUpper(uint16(upper))
	return schema.OffsetNumber(off), nil
}

// refItemIDCompact mirrors itemIdCompactData.
type refItemIDCompact struct {
	offsetIndex int // line pointer array index (offset number - 1)
	itemOff     int // page offset of the item's data
	alignedLen  int // MAXALIGN(lp_len)
}

// refCompactifyTuples mirrors compactify_tuples: it packs the items, in the
// order given, down from pd_special, sets their lp_off and pd_upper, and
// writes nothing below the final pd_upper. Callers guarantee len(items) > 0,
// every itemOff+alignedLen <= BLCKSZ, and a total length that fits above
// pd_lower, so every copy stays inside the page.
//
// PostgreSQL's non-presorted path copies through an uninitialized scratch
// block into which it has copied only the items' bytes; here the scratch is
// a copy of the whole page, which reads the same bytes for any page whose
// items do not overlap (and is deterministic for pages whose items do).
func refCompactifyTuples(items []refItemIDCompact, page schema.Page, presorted bool) {
	special := int(page.Special())
	var upper, copyTail, copyHead, i int
	it := &items[0]

	setOff := func(it *refItemIDCompact, off int) {
		lp := getItemID(page, it.offsetIndex+1)
		lp.SetOff(uint16(off))
		setItemID(page, it.offsetIndex+1, lp)
	}

	// skipInPlace advances past the items already packed at the end of
	// the page.
	skipInPlace := func() {
		upper = special
		for i = 0; ; {
			it = &items[i]
			if upper != it.itemOff+it.alignedLen {
				break
			}
			upper -= it.alignedLen
			i++
			if i >= len(items) {
				break
			}
		}
	}

	// Presorted items move within the page (copy handles the overlap);
	// otherwise they are copied from a snapshot of it. Either way, runs of
	// adjacent items move in one copy, as compactify_tuples does.
	src := []byte(page)
	if presorted {
		skipInPlace()
	} else {
		var scratch [schema.BLCKSZ]byte
		copy(scratch[:], page)
		src = scratch[:]
		if len(items) < int(page.MaxOffsetNumber())/4 {
			i = 0
			it = &items[0]
			upper = special
		} else {
			skipInPlace()
		}
	}
	copyTail = it.itemOff + it.alignedLen
	copyHead = copyTail
	for ; i < len(items); i++ {
		it = &items[i]
		if copyHead != it.itemOff+it.alignedLen {
			copy(page[upper:], src[copyHead:copyTail])
			copyTail = it.itemOff + it.alignedLen
		}
		upper -= it.alignedLen
		copyHead = it.itemOff
		setOff(it, upper)
	}
	copy(page[upper:], src[copyHead:copyTail])
	page.SetUpper(uint16(upper))
}

// refPageRepairFragmentation mirrors PageRepairFragmentation (heap pages):
// line pointers that are LP_UNUSED are zeroed, the items with storage are
// packed against pd_special in line pointer order (bytes below the new
// pd_upper are left as they were), trailing LP_UNUSED line pointers are
// cut off pd_lower, and PD_HAS_FREE_LINES is set if LP_UNUSED ones remain,
// cleared otherwise.
func refPageRepairFragmentation(page schema.Page) error {
	const op = "PageRepairFragmentation"
	if err := checkPointers(op, page, true); err != nil {
		return err
	}
	lower, upper, special := int(page.Lower()), int(page.Upper()), int(page.Special())
	nline := int(page.MaxOffsetNumber())

	// Validate everything before changing anything.
	var itemBuf [schema.MaxHeapTuplesPerPage]refItemIDCompact
	items := itemBuf[:0]
	presorted := true
	lastOffset := special
	totalLen, nunused, finalUsed := 0, 0, 0
	pastEnd := 0 // first item whose extent runs past BLCKSZ
	for i := 1; i <= nline; i++ {
		lp := getItemID(page, i)
		if !lp.IsUsed() {
			nunused++
			continue
		}
		finalUsed = i
		if !lp.HasStorage() {
			continue
		}
		off := int(lp.Off())
		if off < upper || off >= special {
			return pageErr(op, schema.OffsetNumber(i), "corrupted line pointer: %d (tuple space is [%d, %d))", off, upper, special)
		}
		alen := maxAlign(int(lp.Len()))
		if off+alen > schema.BLCKSZ && pastEnd == 0 {
			pastEnd = i
		}
		if len(items) == schema.MaxHeapTuplesPerPage {
			return pageErr(op, schema.OffsetNumber(i), "more than MaxHeapTuplesPerPage (%d) items with storage", schema.MaxHeapTuplesPerPage)
		}
		if lastOffset > off {
			lastOffset = off
		} else {
			presorted = false
		}
		items = append(items, refItemIDCompact{offsetIndex: i - 1, itemOff: off, alignedLen: alen})
		totalLen += alen
	}
	if len(items) > 0 && totalLen > special-lower {
		return pageErr(op, 0, "corrupted item lengths: total %d, available space %d", totalLen, special-lower)
	}
	if pastEnd != 0 {
		// PostgreSQL would copy bytes from beyond the page here.
		lp := getItemID(page, pastEnd)
		return pageErr(op, schema.OffsetNumber(pastEnd), "corrupted line pointer: item at %d of length %d runs past the end of the page", lp.Off(), lp.Len())
	}

	for i := 1; i <= nline; i++ {
		if !getItemID(page, i).IsUsed() {
			setItemID(page, i, 0)
		}
	}
	if len(items) == 0 {
		page.SetUpper(uint16(special))
	} else {
		refCompactifyTuples(items, page, presorted)
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

// refCheckIndexItem is the page and line pointer test the single-item index
// functions begin with; it returns the item's offset and MAXALIGNed size.
func refCheckIndexItem(op string, page schema.Page, offnum schema.OffsetNumber) (offset, alignedSize int, err error) {
	if err := checkPointers(op, page, true); err != nil {
		return 0, 0, err
	}
	nline := int(page.MaxOffsetNumber())
	if offnum == schema.InvalidOffsetNumber || int(offnum) > nline {
		return 0, 0, pageErr(op, offnum, "invalid index offnum: %d (page has %d line pointers)", offnum, nline)
	}
	lp := getItemID(page, int(offnum))
	off, size := int(lp.Off()), int(lp.Len())
	if off < int(page.Upper()) || off+size > int(page.Special()) || off != maxAlign(off) {
		return 0, 0, pageErr(op, offnum, "corrupted line pointer: offset = %d, size = %d", off, size)
	}
	return off, maxAlign(size), nil
}

// refPageIndexTupleDelete mirrors PageIndexTupleDelete: it removes line
// pointer offnum (later ones shift down), moves the data below the item up
// by its MAXALIGNed length (leaving the vacated bytes stale), and adjusts
// pd_lower, pd_upper and the line pointers that pointed at or below it.
func refPageIndexTupleDelete(page schema.Page, offnum schema.OffsetNumber) error {
	offset, size, err := refCheckIndexItem("PageIndexTupleDelete", page, offnum)
	if err != nil {
		return err
	}
	nline := int(page.MaxOffsetNumber())
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
		for i := 1; i <= nline-1; i++ {
			ii := getItemID(page, i)
			if int(ii.Off()) <= offset {
				ii.SetOff(ii.Off() + uint16(size))
				setItemID(page, i, ii)
			}
		}
	}
	return nil
}

// refPageIndexMultiDelete mirrors PageIndexMultiDelete: it deletes the items
// itemnos (ascending offset order). With at most two items it calls
// refPageIndexTupleDelete for each, last first, as PostgreSQL does; otherwise
// it rebuilds the line pointer array from the kept items and compacts their
// data in line pointer order. The two paths leave different bytes.
func refPageIndexMultiDelete(page schema.Page, itemnos []schema.OffsetNumber) error {
	const op = "PageIndexMultiDelete"
	if len(itemnos) <= 2 {
		if err := checkSize(op, page); err != nil {
			return err
		}
		if len(itemnos) == 2 {
			// Stay atomic: the second deletion may fail after the first.
			var tmp [schema.BLCKSZ]byte
			copy(tmp[:], page)
			if err := refPageIndexTupleDelete(tmp[:], itemnos[1]); err != nil {
				return err
			}
			if err := refPageIndexTupleDelete(tmp[:], itemnos[0]); err != nil {
				return err
			}
			copy(page, tmp[:])
		} else if len(itemnos) == 1 {
			return refPageIndexTupleDelete(page, itemnos[0])
		}
		return nil
	}
	if err := checkPointers(op, page, true); err != nil {
		return err
	}
	lower, upper, special := int(page.Lower()), int(page.Upper()), int(page.Special())
	nline := int(page.MaxOffsetNumber())

	items := make([]refItemIDCompact, 0, min(nline, schema.MaxIndexTuplesPerPage))
	newItemIDs := make([]schema.ItemId, 0, cap(items))
	totalLen, nextItm := 0, 0
	presorted := true
	lastOffset := special
	for off := 1; off <= nline; off++ {
		lp := getItemID(page, off)
		size, offset := int(lp.Len()), int(lp.Off())
		if offset < upper || offset+size > special || offset != maxAlign(offset) {
			return pageErr(op, schema.OffsetNumber(off), "corrupted line pointer: offset = %d, size = %d", offset, size)
		}
		if nextItm < len(itemnos) && off == int(itemnos[nextItm]) {
			nextItm++
			continue
		}
		if len(items) == schema.MaxIndexTuplesPerPage {
			return pageErr(op, schema.OffsetNumber(off), "more than MaxIndexTuplesPerPage (%d) items kept", schema.MaxIndexTuplesPerPage)
		}
		if lastOffset > offset {
			lastOffset = offset
		} else {
			presorted = false
		}
		items = append(items, refItemIDCompact{offsetIndex: len(items), itemOff: offset, alignedLen: maxAlign(size)})
		totalLen += maxAlign(size)
		newItemIDs = append(newItemIDs, lp)
	}
	if nextItm != len(itemnos) {
		return pageErr(op, 0, "incorrect index offsets supplied: %v (offset %d not found in ascending order among %d line pointers)", itemnos, itemnos[nextItm], nline)
	}
	if totalLen > special-lower {
		return pageErr(op, 0, "corrupted item lengths: total %d, available space %d", totalLen, special-lower)
	}

	for i, lp := range newItemIDs {
		setItemID(page, i+1, lp)
	}
	page.SetLower(uint16(sizeOfPageHeader + sizeOfItemID*len(newItemIDs)))
	if len(items) > 0 {
		refCompactifyTuples(items, page, presorted)
	} else {
		page.SetUpper(uint16(special))
	}
	return nil
}

// refPageIndexTupleDeleteNoCompact mirrors PageIndexTupleDeleteNoCompact: the
// item's data is removed as in refPageIndexTupleDelete, but its line pointer
// is set LP_UNUSED instead of removed, unless it is the last one.
func refPageIndexTupleDeleteNoCompact(page schema.Page, offnum schema.OffsetNumber) error {
	offset, size, err := refCheckIndexItem("PageIndexTupleDeleteNoCompact", page, offnum)
	if err != nil {
		return err
	}
	nline := int(page.MaxOffsetNumber())
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
		for i := 1; i <= nline; i++ {
			ii := getItemID(page, i)
			if ii.HasStorage() && int(ii.Off()) <= offset {
				ii.SetOff(ii.Off() + uint16(size))
				setItemID(page, i, ii)
			}
		}
	}
	return nil
}

// refPageIndexTupleOverwrite mirrors PageIndexTupleOverwrite: it replaces the
// data of item offnum with newtup in place, moving the data below it by the
// change in MAXALIGNed size and adjusting pd_upper and the affected line
// pointers; lp_flags is kept. It returns false, changing nothing, when the
// page has not enough free space.
func refPageIndexTupleOverwrite(page schema.Page, offnum schema.OffsetNumber, newtup []byte) (bool, error) {
	offset, oldSize, err := refCheckIndexItem("PageIndexTupleOverwrite", page, offnum)
	if err != nil {
		return false, err
	}
	itemCount := int(page.MaxOffsetNumber())
	alignedNewSize := maxAlign(len(newtup))
	lower, upper := int(page.Lower()), int(page.Upper())
	if alignedNewSize > oldSize+(upper-lower) {
		return false, nil
	}

	sizeDiff := oldSize - alignedNewSize
	if sizeDiff != 0 {
		copy(page[upper+sizeDiff:], page[upper:offset])
		page.SetUpper(uint16(upper + sizeDiff))
		for i := 1; i <= itemCount; i++ {
			ii := getItemID(page, i)
			if ii.HasStorage() && int(ii.Off()) <= offset {
				ii.SetOff(uint16(int(ii.Off()) + sizeDiff))
				setItemID(page, i, ii)
			}
		}
	}
	tup := getItemID(page, int(offnum))
	tup.SetOff(uint16(offset + sizeDiff))
	tup.SetLen(uint16(len(newtup)))
	setItemID(page, int(offnum), tup)
	copy(page[offset+sizeDiff:], newtup)
	return true, nil
}
