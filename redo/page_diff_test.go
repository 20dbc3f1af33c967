package redo

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/pagemill/pagemill/schema"
)

// randomDiffPage builds a page of items of random sizes added at random
// positions (so their data is not in line pointer order), some deleted
// again, and, now and then, a corrupted pointer.
func randomDiffPage(rng *rand.Rand) schema.Page {
	page := make(schema.Page, schema.BLCKSZ)
	specials := []int{0, 8, 16, 24}
	_ = PageInit(page, specials[rng.IntN(len(specials))])
	n := rng.IntN(400)
	maxLen := 1 + rng.IntN(300)
	if rng.IntN(8) == 0 {
		// Many tiny items: more than MaxIndexTuplesPerPage fit.
		n, maxLen = 400+rng.IntN(300), 8
	}
	for i := 0; i < n; i++ {
		item := randBytes(rng, 1+rng.IntN(maxLen))
		off := schema.InvalidOffsetNumber
		if m := int(page.MaxOffsetNumber()); m > 0 && rng.IntN(3) == 0 {
			off = schema.OffsetNumber(1 + rng.IntN(m))
		}
		if _, err := refPageAddItemExtended(page, item, off, 0); err != nil {
			break
		}
		if m := int(page.MaxOffsetNumber()); m > 2 && rng.IntN(8) == 0 {
			_ = refPageIndexTupleDelete(page, schema.OffsetNumber(1+rng.IntN(m)))
		}
	}
	if rng.IntN(4) == 0 {
		// Heap-like line pointers: unused, dead and redirect ones.
		for i := 1; i <= int(page.MaxOffsetNumber()); i++ {
			if rng.IntN(4) == 0 {
				lp := getItemID(page, i)
				switch rng.IntN(3) {
				case 0:
					lp = 0
				case 1:
					lp.SetFlags(schema.LPDead)
					lp.SetLen(0)
				case 2:
					lp = schema.NewItemId(uint16(1+rng.IntN(i)), schema.LPRedirect, 0)
				}
				setItemID(page, i, lp)
			}
		}
	}
	if rng.IntN(10) == 0 {
		// Corruption: a flipped bit in a line pointer or a page pointer.
		if m := int(page.MaxOffsetNumber()); m > 0 && rng.IntN(2) == 0 {
			i := 1 + rng.IntN(m)
			setItemID(page, i, getItemID(page, i)^schema.ItemId(1)<<rng.IntN(32))
		} else {
			pos := 12 + rng.IntN(6)
			page[pos] ^= 1 << rng.IntN(8)
		}
	}
	return page
}

// TestPageHelpersMatchReference runs the optimised bufpage.c helpers and
// their reference copies (page_ref_test.go) on random pages and compares
// results, errors and every byte of the page.
func TestPageHelpersMatchReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 5))
	iters := 30000
	if testing.Short() {
		iters = 3000
	}
	for it := 0; it < iters; it++ {
		page := randomDiffPage(rng)
		nline := int(page.MaxOffsetNumber())
		a := slices.Clone(page)
		b := slices.Clone(page)
		randOff := func() schema.OffsetNumber { return schema.OffsetNumber(rng.IntN(nline + 2)) }
		var name string
		var got, want string
		res := func(v any, err error) string { return fmt.Sprintf("%v %v", v, err) }
		switch op := rng.IntN(7); op {
		case 0:
			off := randOff()
			name = fmt.Sprintf("PageIndexTupleDelete(%d)", off)
			got, want = res(nil, PageIndexTupleDelete(a, off)), res(nil, refPageIndexTupleDelete(b, off))
		case 1:
			items := randomDeleteList(rng, nline, randOff)
			name = fmt.Sprintf("PageIndexMultiDelete(%v)", items)
			got, want = res(nil, PageIndexMultiDelete(a, items)), res(nil, refPageIndexMultiDelete(b, items))
		case 2:
			off := randOff()
			name = fmt.Sprintf("PageIndexTupleDeleteNoCompact(%d)", off)
			got, want = res(nil, PageIndexTupleDeleteNoCompact(a, off)), res(nil, refPageIndexTupleDeleteNoCompact(b, off))
		case 3:
			off := randOff()
			tup := randBytes(rng, rng.IntN(400))
			name = fmt.Sprintf("PageIndexTupleOverwrite(%d, %d bytes)", off, len(tup))
			got, want = res(PageIndexTupleOverwrite(a, off, tup)), res(refPageIndexTupleOverwrite(b, off, tup))
		case 4:
			name = "PageRepairFragmentation"
			got, want = res(nil, PageRepairFragmentation(a)), res(nil, refPageRepairFragmentation(b))
		case 5:
			off := randOff()
			flags := rng.IntN(4)
			tup := make([]byte, rng.IntN(300))
			name = fmt.Sprintf("PageAddItemExtended(%d, %d bytes, %d)", off, len(tup), flags)
			got, want = res(PageAddItemExtended(a, tup, off, flags)), res(refPageAddItemExtended(b, tup, off, flags))
		case 6:
			off := randOff()
			tup := randBytes(rng, rng.IntN(300))
			name = fmt.Sprintf("pageIndexTupleReplace(%d, %d bytes)", off, len(tup))
			got, want = replaceVsReference(t, it, name, page, a, &b, off, tup)
		}
		if got != want {
			t.Fatalf("iteration %d: %s returned %s, reference %s", it, name, got, want)
		}
		if !bytes.Equal(a, b) {
			i := 0
			for a[i] == b[i] {
				i++
			}
			t.Fatalf("iteration %d: %s: pages differ first at byte %d", it, name, i)
		}
	}
}

// randomDeleteList returns a list of offsets for PageIndexMultiDelete:
// up to 3 random ones or up to nline, or most of the page, and mostly
// sorted and without duplicates.
func randomDeleteList(rng *rand.Rand, nline int, randOff func() schema.OffsetNumber) []schema.OffsetNumber {
	var items []schema.OffsetNumber
	k := rng.IntN(4)
	if rng.IntN(3) == 0 {
		k = rng.IntN(nline + 1)
	}
	for range k {
		items = append(items, randOff())
	}
	if rng.IntN(4) == 0 {
		// Most of the page: compactify_tuples' path for few
		// remaining items.
		items = items[:0]
		for o := 1; o <= nline; o++ {
			if rng.IntN(10) != 0 {
				items = append(items, schema.OffsetNumber(o))
			}
		}
	}
	if rng.IntN(8) != 0 {
		slices.Sort(items)
		items = slices.Compact(items)
	}
	return items
}

// replaceVsReference runs pageIndexTupleReplace on a and the reference
// delete and add on *b, both copies of page, and returns what each did.
// pageIndexTupleReplace either does what the delete and the add do, or
// nothing when one of them fails; then *b is reset to page.
func replaceVsReference(t *testing.T, it int, name string, page, a schema.Page, b *schema.Page, off schema.OffsetNumber, tup []byte) (got, want string) {
	t.Helper()
	done := pageIndexTupleReplace(a, off, tup)
	ok := refPageIndexTupleDelete(*b, off) == nil
	if ok {
		got, err := refPageAddItemExtended(*b, tup, off, 0)
		ok = err == nil && got == off
	}
	got, want = fmt.Sprint(done), fmt.Sprint(ok)
	if !done {
		*b = slices.Clone(page)
		if !bytes.Equal(a, page) {
			t.Fatalf("iteration %d: %s refused but changed the page", it, name)
		}
	}
	return got, want
}
