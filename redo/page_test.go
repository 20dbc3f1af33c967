package redo

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/pagemill/pagemill/internal/pgtest"
	"github.com/pagemill/pagemill/schema"
)

// ---------------------------------------------------------------------------
// Helpers.

// newPage returns a PageInit'd page whose free space holds garbage (0xEE),
// so that tests see which bytes the helpers write and which they leave.
func newPage(t *testing.T, special int) schema.Page {
	t.Helper()
	p := make(schema.Page, schema.BLCKSZ)
	if err := PageInit(p, special); err != nil {
		t.Fatal(err)
	}
	for i := int(p.Lower()); i < int(p.Upper()); i++ {
		p[i] = 0xEE
	}
	return p
}

// tuple returns n bytes seed, seed+1, ...
func tuple(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = seed + byte(i)
	}
	return b
}

// randBytes returns n bytes from rng.
func randBytes(rng *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

func mustAdd(t *testing.T, p schema.Page, item []byte, off schema.OffsetNumber, flags int) schema.OffsetNumber {
	t.Helper()
	got, err := PageAddItemExtended(p, item, off, flags)
	if err != nil {
		t.Fatalf("PageAddItemExtended(%d bytes at %d, flags %d): %v", len(item), off, flags, err)
	}
	return got
}

func clonePage(p schema.Page) schema.Page { return slices.Clone(p) }

// diffPages describes where got and want differ (empty if they do not).
func diffPages(got, want []byte) string {
	var b strings.Builder
	n := 0
	for i := 0; i < len(got) && i < len(want); i++ {
		if got[i] == want[i] {
			continue
		}
		j := i
		for j < len(got) && j < len(want) && got[j] != want[j] {
			j++
		}
		if n < 8 {
			fmt.Fprintf(&b, "\n  [%d, %d): got % x want % x", i, j, got[i:min(j, i+16)], want[i:min(j, i+16)])
		}
		n++
		i = j
	}
	if len(got) != len(want) {
		fmt.Fprintf(&b, "\n  lengths %d and %d", len(got), len(want))
	}
	if n > 8 {
		fmt.Fprintf(&b, "\n  ... %d differing ranges in all", n)
	}
	return b.String()
}

func assertPage(t *testing.T, what string, got, want schema.Page) {
	t.Helper()
	if d := diffPages(got, want); d != "" {
		t.Errorf("%s: pages differ:%s", what, d)
	}
}

// assertUnchangedOnError checks that err is a corrupt-page error naming
// want and that the page is byte-identical to before.
func assertRefused(t *testing.T, what string, err error, kind error, want string, page, before schema.Page) {
	t.Helper()
	var pe *schema.PageError
	if !errors.As(err, &pe) || !errors.Is(err, kind) || !strings.Contains(err.Error(), want) {
		t.Errorf("%s: error = %v, want a *schema.PageError matching %v and naming %q", what, err, kind, want)
	}
	if d := diffPages(page, before); d != "" {
		t.Errorf("%s: page changed by a failed call:%s", what, d)
	}
}

// extent is an item's storage as compaction sees it.
type extent struct {
	slot int // line pointer slot (1-based) after the operation
	off  int // lp_off before
	alen int // MAXALIGN(lp_len)
}

// packModel is the documented outcome of compactify_tuples for a page whose
// items do not overlap: the items' MAXALIGNed extents (padding included)
// packed against pd_special in the order given, every lp_off updated, and
// nothing below the new pd_upper written. want starts as a copy of the page
// with the operation's line pointer changes already made.
func packModel(orig, want schema.Page, items []extent) {
	upper := int(orig.Special())
	for _, it := range items {
		upper -= it.alen
		copy(want[upper:upper+it.alen], orig[it.off:it.off+it.alen])
		lp := want.ItemID(schema.OffsetNumber(it.slot))
		lp.SetOff(uint16(upper))
		_ = want.SetItemID(schema.OffsetNumber(it.slot), lp)
	}
	want.SetUpper(uint16(upper))
}

// ---------------------------------------------------------------------------
// PageInit and PageAddItemExtended.

func TestPageInit(t *testing.T) {
	for _, c := range []struct{ special, wantSpecial int }{{0, 8192}, {16, 8176}, {13, 8176}, {1, 8184}, {8160, 32}} {
		p := make(schema.Page, schema.BLCKSZ)
		for i := range p {
			p[i] = 0x5A
		}
		if err := PageInit(p, c.special); err != nil {
			t.Fatalf("special %d: %v", c.special, err)
		}
		want := make([]byte, schema.BLCKSZ)
		binary.LittleEndian.PutUint16(want[12:], 24)
		binary.LittleEndian.PutUint16(want[14:], uint16(c.wantSpecial))
		binary.LittleEndian.PutUint16(want[16:], uint16(c.wantSpecial))
		binary.LittleEndian.PutUint16(want[18:], 0x2004)
		assertPage(t, fmt.Sprintf("PageInit(special %d)", c.special), p, want)
		if err := p.Validate(); err != nil {
			t.Errorf("PageInit'd page does not validate: %v", err)
		}
	}
	p := make(schema.Page, schema.BLCKSZ)
	for _, special := range []int{8168, 8161, 9000, -1} {
		if err := PageInit(p, special); err == nil {
			t.Errorf("PageInit(special %d) succeeded", special)
		}
	}
	if err := PageInit(make(schema.Page, 4096), 0); !errors.Is(err, schema.ErrCorruptPage) {
		t.Errorf("PageInit on 4096 bytes: %v", err)
	}
}

func TestPageAddItemAppend(t *testing.T) {
	p := newPage(t, 0)
	items := [][]byte{tuple(40, 1), tuple(29, 100), tuple(8, 200)}
	uppers := []int{8152, 8120, 8112} // 8192-40, -MAXALIGN(29)=32, -8
	for i, it := range items {
		if off := mustAdd(t, p, it, schema.InvalidOffsetNumber, PAIIsHeap); off != schema.OffsetNumber(i+1) {
			t.Fatalf("item %d went to offset %d", i, off)
		}
	}
	if p.Lower() != 36 || p.Upper() != 8112 {
		t.Fatalf("lower %d upper %d, want 36 8112", p.Lower(), p.Upper())
	}
	for i, it := range items {
		lp := p.ItemID(schema.OffsetNumber(i + 1))
		if int(lp.Off()) != uppers[i] || int(lp.Len()) != len(it) || !lp.IsNormal() {
			t.Errorf("lp %d = %v, want off %d len %d NORMAL (length not aligned)", i+1, lp, uppers[i], len(it))
		}
		if !bytes.Equal(p[uppers[i]:uppers[i]+len(it)], it) {
			t.Errorf("item %d bytes wrong", i+1)
		}
	}
	// The 3 padding bytes after the 29-byte item keep the old garbage.
	if !bytes.Equal(p[8120+29:8152], []byte{0xEE, 0xEE, 0xEE}) {
		t.Errorf("padding after item 2 = % x, want the stale ee ee ee", p[8149:8152])
	}
	// Free space untouched.
	for i := int(p.Lower()); i < int(p.Upper()); i++ {
		if p[i] != 0xEE {
			t.Fatalf("free space byte %d written", i)
		}
	}
	if PageGetExactFreeSpace(p) != 8112-36 || PageGetFreeSpace(p) != 8112-36-4 {
		t.Errorf("free space %d/%d", PageGetExactFreeSpace(p), PageGetFreeSpace(p))
	}
}

// threeItemPage has items 1..3 (24, 16, 8 bytes) appended in order.
func threeItemPage(t *testing.T, special int) schema.Page {
	p := newPage(t, special)
	mustAdd(t, p, tuple(24, 10), 0, 0)
	mustAdd(t, p, tuple(16, 50), 0, 0)
	mustAdd(t, p, tuple(8, 90), 0, 0)
	return p
}

func TestPageAddItemOverwrite(t *testing.T) {
	p := threeItemPage(t, 0)
	_ = p.SetItemID(2, 0) // unused, storage orphaned
	before := clonePage(p)

	// Heap redo style: overwrite an unused slot; no line pointer moves and
	// pd_lower stays.
	off := mustAdd(t, p, tuple(10, 7), 2, PAIOverwrite|PAIIsHeap)
	want := clonePage(before)
	want.SetUpper(8144 - 16)
	_ = want.SetItemID(2, schema.NewItemId(8128, schema.LPNormal, 10))
	copy(want[8128:], tuple(10, 7))
	if off != 2 {
		t.Errorf("offset %d, want 2", off)
	}
	assertPage(t, "overwrite unused slot", p, want)

	// Overwriting a used slot, or an unused slot with storage, is refused.
	before = clonePage(p)
	_, err := PageAddItemExtended(p, tuple(8, 1), 1, PAIOverwrite)
	assertRefused(t, "overwrite used", err, ErrItemRejected, "will not overwrite a used ItemId", p, before)
	_ = p.SetItemID(3, schema.NewItemId(8128, schema.LPUnused, 8))
	before = clonePage(p)
	_, err = PageAddItemExtended(p, tuple(8, 1), 3, PAIOverwrite)
	assertRefused(t, "overwrite unused with storage", err, ErrItemRejected, "will not overwrite", p, before)

	// Overwrite at limit appends; past limit is refused.
	p = threeItemPage(t, 0)
	if off := mustAdd(t, p, tuple(8, 1), 4, PAIOverwrite); off != 4 || p.Lower() != 40 {
		t.Errorf("overwrite at limit: offset %d lower %d", off, p.Lower())
	}
	before = clonePage(p)
	_, err = PageAddItemExtended(p, tuple(8, 1), 6, PAIOverwrite)
	assertRefused(t, "past limit", err, ErrItemRejected, "too large", p, before)
	_, err = PageAddItemExtended(p, tuple(8, 1), 6, 0)
	assertRefused(t, "past limit, no overwrite", err, ErrItemRejected, "too large", p, before)
}

func TestPageAddItemShuffle(t *testing.T) {
	p := threeItemPage(t, 16)
	before := clonePage(p)
	off := mustAdd(t, p, tuple(12, 33), 2, 0)
	if off != 2 {
		t.Fatalf("offset %d", off)
	}
	// special 8176: items at 8152 (24), 8136 (16), 8128 (8); new one at
	// 8112 (16 aligned), line pointers 2 and 3 move to 3 and 4.
	want := clonePage(before)
	want.SetLower(40)
	want.SetUpper(8112)
	_ = want.SetItemID(2, schema.NewItemId(8112, schema.LPNormal, 12))
	_ = want.SetItemID(3, before.ItemID(2))
	_ = want.SetItemID(4, before.ItemID(3))
	copy(want[8112:], tuple(12, 33))
	assertPage(t, "insert in the middle", p, want)

	// Inserting at 1 shifts every line pointer.
	off = mustAdd(t, p, tuple(8, 1), 1, 0)
	if off != 1 || p.ItemID(2) != want.ItemID(1) || p.ItemID(5) != want.ItemID(4) || p.Lower() != 44 {
		t.Errorf("insert at 1: off %d, lps %v %v, lower %d", off, p.ItemID(2), p.ItemID(5), p.Lower())
	}
}

func TestPageAddItemFreeLineSearch(t *testing.T) {
	// Hint set, unused slot 2: the item reuses it.
	p := threeItemPage(t, 0)
	_ = p.SetItemID(2, 0)
	p.SetHasFreeLinePointers()
	if off := mustAdd(t, p, tuple(8, 1), 0, PAIIsHeap); off != 2 || p.Lower() != 36 {
		t.Errorf("reuse: offset %d lower %d", off, p.Lower())
	}
	if !p.HasFreeLinePointers() {
		t.Error("a right hint must not be cleared")
	}
	// Hint set but wrong: cleared, item appended.
	if off := mustAdd(t, p, tuple(8, 1), 0, PAIIsHeap); off != 4 || p.HasFreeLinePointers() {
		t.Errorf("wrong hint: offset %d, hint %v", off, p.HasFreeLinePointers())
	}
	// Hint clear: unused slots are not searched.
	_ = p.SetItemID(1, 0)
	if off := mustAdd(t, p, tuple(8, 1), 0, PAIIsHeap); off != 5 {
		t.Errorf("no hint: offset %d, want 5 (append)", off)
	}
	// An offset number above MaxOffsetNumber is not valid, so it means
	// "find a slot" too.
	p.SetHasFreeLinePointers()
	if off := mustAdd(t, p, tuple(8, 1), schema.MaxOffsetNumber+1, 0); off != 1 {
		t.Errorf("invalid offnum: offset %d, want 1", off)
	}
	// An unused slot with storage is not recyclable.
	p = threeItemPage(t, 0)
	_ = p.SetItemID(2, schema.NewItemId(8136, schema.LPUnused, 16))
	p.SetHasFreeLinePointers()
	if off := mustAdd(t, p, tuple(8, 1), 0, 0); off != 4 || p.HasFreeLinePointers() {
		t.Errorf("unused with storage: offset %d hint %v", off, p.HasFreeLinePointers())
	}
}

func TestPageAddItemHeapLimit(t *testing.T) {
	p := newPage(t, 0)
	for i := 1; i <= schema.MaxHeapTuplesPerPage; i++ {
		_ = p.SetItemID(schema.OffsetNumber(i), schema.NewItemId(0, schema.LPDead, 0))
	}
	p.SetLower(uint16(24 + 4*schema.MaxHeapTuplesPerPage))
	before := clonePage(p)
	_, err := PageAddItemExtended(p, tuple(24, 0), 0, PAIIsHeap)
	assertRefused(t, "292nd heap line pointer", err, ErrItemRejected, "MaxHeapTuplesPerPage", p, before)
	if PageGetHeapFreeSpace(p) != 0 || PageGetFreeSpace(p) == 0 {
		t.Errorf("heap free space %d (want 0), free space %d (want > 0)", PageGetHeapFreeSpace(p), PageGetFreeSpace(p))
	}
	// With the hint set but no unused slot, still none.
	p.SetHasFreeLinePointers()
	if PageGetHeapFreeSpace(p) != 0 {
		t.Error("wrong hint trusted by PageGetHeapFreeSpace")
	}
	// One unused slot: space again, and the add reuses it.
	_ = p.SetItemID(100, 0)
	if PageGetHeapFreeSpace(p) != PageGetFreeSpace(p) {
		t.Error("unused slot not seen by PageGetHeapFreeSpace")
	}
	if off := mustAdd(t, p, tuple(24, 0), 0, PAIIsHeap); off != 100 {
		t.Errorf("offset %d, want 100", off)
	}
	// Not a heap page: no limit.
	p.ClearHasFreeLinePointers()
	if off := mustAdd(t, p, tuple(24, 0), 0, 0); off != 292 {
		t.Errorf("index add: offset %d, want 292", off)
	}
}

func TestPageAddItemNoSpace(t *testing.T) {
	p := newPage(t, 0)
	// Exactly fill the page: 8168 bytes free = 4 (lp) + 8164, aligned 8160.
	if off := mustAdd(t, p, tuple(8160, 0), 0, 0); off != 1 || p.Lower() != 28 || p.Upper() != 32 {
		t.Fatalf("big item: off %d lower %d upper %d", off, p.Lower(), p.Upper())
	}
	before := clonePage(p)
	_, err := PageAddItemExtended(p, tuple(1, 0), 0, 0)
	assertRefused(t, "full page", err, ErrNoSpace, "does not fit", p, before)
	if PageGetFreeSpace(p) != 0 || PageGetExactFreeSpace(p) != 4 {
		t.Errorf("free space %d exact %d", PageGetFreeSpace(p), PageGetExactFreeSpace(p))
	}
	p = newPage(t, 0)
	before = clonePage(p)
	_, err = PageAddItemExtended(p, tuple(8161, 0), 0, 0)
	assertRefused(t, "too big", err, ErrNoSpace, "does not fit", p, before)
	_, err = PageAddItemExtended(p, make([]byte, 100000), 0, 0)
	assertRefused(t, "huge", err, ErrNoSpace, "does not fit", p, before)
}

func TestPageAddItemCorruptPointers(t *testing.T) {
	for _, c := range []struct {
		name                  string
		lower, upper, special uint16
	}{
		{"lower below header", 20, 8000, 8192},
		{"lower above upper", 100, 90, 8192},
		{"upper above special", 24, 8192, 8000},
		{"special past page", 24, 8000, 9000},
	} {
		p := newPage(t, 0)
		p.SetLower(c.lower)
		p.SetUpper(c.upper)
		p.SetSpecial(c.special)
		before := clonePage(p)
		_, err := PageAddItemExtended(p, tuple(8, 0), 0, 0)
		assertRefused(t, c.name, err, schema.ErrCorruptPage, fmt.Sprintf("lower = %d, upper = %d, special = %d", c.lower, c.upper, c.special), p, before)
	}
	// PageAddItemExtended, unlike the compacting functions, accepts an
	// unaligned pd_special.
	p := newPage(t, 0)
	p.SetSpecial(8190)
	p.SetUpper(8190)
	if off := mustAdd(t, p, tuple(3, 0), 0, 0); off != 1 || p.Upper() != 8182 {
		t.Errorf("unaligned special: off %d upper %d", off, p.Upper())
	}
	if _, err := PageAddItemExtended(make(schema.Page, 100), nil, 0, 0); !errors.Is(err, schema.ErrCorruptPage) {
		t.Errorf("short buffer: %v", err)
	}
}

func TestFreeSpaceFunctions(t *testing.T) {
	p := newPage(t, 0)
	p.SetLower(100)
	p.SetUpper(96)
	if PageGetFreeSpace(p) != 0 || PageGetExactFreeSpace(p) != 0 || PageGetHeapFreeSpace(p) != 0 {
		t.Error("lower > upper must give 0")
	}
	p.SetUpper(103)
	if PageGetFreeSpace(p) != 0 || PageGetExactFreeSpace(p) != 3 {
		t.Error("3 bytes: no room for a line pointer")
	}
	p.SetUpper(104)
	if PageGetFreeSpace(p) != 0 || PageGetFreeSpaceForMultipleTuples(p, 0) != 4 || PageGetFreeSpaceForMultipleTuples(p, 2) != 0 {
		t.Error("4 bytes")
	}
	p.SetUpper(200)
	if PageGetFreeSpace(p) != 96 || PageGetHeapFreeSpace(p) != 96 || PageGetFreeSpaceForMultipleTuples(p, 3) != 88 {
		t.Errorf("100 bytes: %d %d", PageGetFreeSpace(p), PageGetFreeSpaceForMultipleTuples(p, 3))
	}
	if PageGetFreeSpace(schema.Page{1, 2}) != 0 || PageGetExactFreeSpace(nil) != 0 {
		t.Error("short buffers must have no space")
	}
}

func TestTempPageCopySpecial(t *testing.T) {
	p := threeItemPage(t, 16)
	for i := 8176; i < 8192; i++ {
		p[i] = byte(i)
	}
	temp, err := PageGetTempPageCopySpecial(p)
	if err != nil {
		t.Fatal(err)
	}
	want := make(schema.Page, schema.BLCKSZ)
	_ = PageInit(want, 16)
	copy(want[8176:], p[8176:])
	assertPage(t, "temp page", temp, want)
	if err := PageRestoreTempPage(temp, p); err != nil || !bytes.Equal(p, want) {
		t.Errorf("PageRestoreTempPage: %v", err)
	}
	p.SetPageSizeAndVersion(4096, 4)
	if _, err := PageGetTempPageCopySpecial(p); !errors.Is(err, schema.ErrCorruptPage) {
		t.Errorf("bad page size: %v", err)
	}
}

// ---------------------------------------------------------------------------
// PageRepairFragmentation and PageTruncateLinePointerArray.

// heapPage builds a heap page from sizes (0 = an LP_DEAD line pointer
// without storage), appending in order, over garbage free space.
func heapPage(t *testing.T, sizes []int) schema.Page {
	p := newPage(t, 0)
	for i, n := range sizes {
		if n == 0 {
			p.SetLower(p.Lower() + 4)
			_ = p.SetItemID(schema.OffsetNumber(i+1), schema.NewItemId(0, schema.LPDead, 0))
			continue
		}
		mustAdd(t, p, tuple(n, byte(i*16)), 0, PAIIsHeap)
	}
	return p
}

// repairModel is PageRepairFragmentation's documented result on p.
func repairModel(p schema.Page) schema.Page {
	want := clonePage(p)
	var items []extent
	nline := int(p.MaxOffsetNumber())
	final, nunused := 0, 0
	for i := 1; i <= nline; i++ {
		lp := p.ItemID(schema.OffsetNumber(i))
		if !lp.IsUsed() {
			_ = want.SetItemID(schema.OffsetNumber(i), 0)
			nunused++
			continue
		}
		final = i
		if lp.HasStorage() {
			items = append(items, extent{slot: i, off: int(lp.Off()), alen: maxAlign(int(lp.Len()))})
		}
	}
	packModel(p, want, items)
	want.SetLower(uint16(24 + 4*final))
	nunused -= nline - final
	if nunused > 0 {
		want.SetHasFreeLinePointers()
	} else {
		want.ClearHasFreeLinePointers()
	}
	return want
}

// assertRepaired runs PageRepairFragmentation on p and compares the result
// with repairModel of p as it was.
func assertRepaired(t *testing.T, what string, p schema.Page) {
	t.Helper()
	orig := clonePage(p)
	if err := PageRepairFragmentation(p); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	assertPage(t, what, p, repairModel(orig))
}

func TestPageRepairFragmentationHand(t *testing.T) {
	// Five items of 24, 20, 32, 7, 16 bytes at 8168, 8144, 8112, 8104, 8088.
	p := heapPage(t, []int{24, 20, 32, 7, 16})
	_ = p.SetItemID(2, schema.NewItemId(1234, schema.LPUnused, 0)) // unused with junk offset
	_ = p.SetItemID(4, schema.NewItemId(0, schema.LPDead, 0))
	orig := clonePage(p)
	if err := PageRepairFragmentation(p); err != nil {
		t.Fatal(err)
	}
	// Kept: 1 (24 in place at 8168), 3 (32: 8112 -> 8136), 5 (16: 8088 -> 8120).
	want := clonePage(orig)
	_ = want.SetItemID(2, 0)
	_ = want.SetItemID(3, schema.NewItemId(8136, schema.LPNormal, 32))
	_ = want.SetItemID(5, schema.NewItemId(8120, schema.LPNormal, 16))
	copy(want[8136:8168], orig[8112:8144])
	copy(want[8120:8136], orig[8088:8104])
	want.SetUpper(8120)
	want.SetHasFreeLinePointers()
	assertPage(t, "hand repair", p, want)
	// Bytes 8088..8120 (old items 5 and 4, and 4's padding) are stale, not zeroed.
	if !bytes.Equal(p[8088:8120], orig[8088:8120]) {
		t.Error("stale bytes below the new pd_upper were rewritten")
	}
	// Running it again changes nothing (everything is in place).
	again := clonePage(p)
	if err := PageRepairFragmentation(again); err != nil || !bytes.Equal(again, p) {
		t.Errorf("second repair changed the page: %v%s", err, diffPages(again, p))
	}
}

func TestPageRepairFragmentationTruncatesAndHints(t *testing.T) {
	// Trailing unused line pointers are cut off (PG 15's
	// PageRepairFragmentation does this itself, keeping no minimum), and
	// with no other unused ones the hint is cleared.
	p := heapPage(t, []int{24, 24, 24, 24})
	p.SetHasFreeLinePointers()
	_ = p.SetItemID(3, schema.NewItemId(77, schema.LPUnused, 0))
	_ = p.SetItemID(4, 0)
	assertRepaired(t, "truncate", p)
	if p.Lower() != 32 || p.HasFreeLinePointers() || p.Upper() != 8144 {
		t.Errorf("lower %d hint %v upper %d, want 32 false 8144", p.Lower(), p.HasFreeLinePointers(), p.Upper())
	}
	// The cut-off slot 3 was zeroed (ItemIdSetUnused) before being cut off.
	if binary.LittleEndian.Uint32(p[32:]) != 0 {
		t.Error("truncated unused line pointer not zeroed")
	}

	// All unused: pd_lower goes back to the header, pd_upper to pd_special.
	p = heapPage(t, []int{24, 24})
	_ = p.SetItemID(1, 0)
	_ = p.SetItemID(2, 0)
	p.SetHasFreeLinePointers()
	if err := PageRepairFragmentation(p); err != nil {
		t.Fatal(err)
	}
	if p.Lower() != 24 || p.Upper() != 8192 || p.HasFreeLinePointers() {
		t.Errorf("all unused: lower %d upper %d hint %v", p.Lower(), p.Upper(), p.HasFreeLinePointers())
	}

	// Only dead and redirect line pointers: no storage, nothing truncated.
	p = heapPage(t, []int{0, 24, 0})
	_ = p.SetItemID(2, schema.NewItemId(3, schema.LPRedirect, 0))
	orig := clonePage(p)
	if err := PageRepairFragmentation(p); err != nil {
		t.Fatal(err)
	}
	want := clonePage(orig)
	want.SetUpper(8192)
	assertPage(t, "no storage", p, want)

	// Empty page.
	p = newPage(t, 0)
	orig = clonePage(p)
	if err := PageRepairFragmentation(p); err != nil || !bytes.Equal(p, orig) {
		t.Errorf("empty page changed: %v", err)
	}
}

// scramble makes a heap page whose line pointer order is not the physical
// order: items added, some slots freed and reused by later, lower items.
func scramble(t *testing.T, rng *rand.Rand, n int) schema.Page {
	p := newPage(t, 0)
	for i := 0; i < n; i++ {
		mustAdd(t, p, tuple(1+rng.IntN(60), byte(rng.Uint32())), 0, PAIIsHeap)
	}
	// Free some slots (as pruning would, storage gone) and refill them.
	for i := 1; i <= n; i++ {
		if rng.IntN(3) == 0 {
			_ = p.SetItemID(schema.OffsetNumber(i), 0)
		}
	}
	p.SetHasFreeLinePointers()
	for PageGetFreeSpace(p) > 200 {
		if _, err := PageAddItemExtended(p, tuple(1+rng.IntN(60), byte(rng.Uint32())), 0, PAIIsHeap); err != nil {
			break
		}
	}
	return p
}

func TestPageRepairFragmentationPaths(t *testing.T) {
	// Exercise each compactify_tuples path and compare with the model.
	t.Run("presorted-gaps", func(t *testing.T) {
		p := heapPage(t, []int{24, 20, 32, 7, 16, 40, 1})
		_ = p.SetItemID(1, schema.NewItemId(0, schema.LPDead, 0))
		_ = p.SetItemID(4, 0)
		_ = p.SetItemID(6, schema.NewItemId(2, schema.LPRedirect, 0))
		assertRepaired(t, "presorted", p)
	})
	t.Run("not-presorted-few-items", func(t *testing.T) {
		// Fewer items with storage than maxoff/4: the tuple-by-tuple copy.
		p := heapPage(t, []int{16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16})
		for i := 1; i <= 12; i++ {
			_ = p.SetItemID(schema.OffsetNumber(i), schema.NewItemId(0, schema.LPDead, 0))
		}
		// Two items, lp 3 physically below lp 9.
		_ = p.SetItemID(3, schema.NewItemId(8000, schema.LPNormal, 16))
		_ = p.SetItemID(9, schema.NewItemId(8176, schema.LPNormal, 12))
		assertRepaired(t, "few items", p)
		if p.ItemID(3).Off() != 8176 || p.ItemID(9).Off() != 8160 {
			t.Errorf("lp 3 %v, lp 9 %v: want lp order packing", p.ItemID(3), p.ItemID(9))
		}
	})
	t.Run("not-presorted-many-items", func(t *testing.T) {
		rng := rand.New(rand.NewPCG(1, 2))
		p := scramble(t, rng, 40)
		_ = p.SetItemID(5, 0)
		_ = p.SetItemID(6, schema.NewItemId(0, schema.LPDead, 0))
		assertRepaired(t, "many items", p)
	})
}

func TestPageRepairFragmentationRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(42, 7))
	for round := 0; round < 500; round++ {
		p := scramble(t, rng, 10+rng.IntN(150))
		nline := int(p.MaxOffsetNumber())
		for i := 1; i <= nline; i++ {
			switch rng.IntN(6) {
			case 0:
				_ = p.SetItemID(schema.OffsetNumber(i), 0)
			case 1:
				_ = p.SetItemID(schema.OffsetNumber(i), schema.NewItemId(0, schema.LPDead, 0))
			case 2:
				_ = p.SetItemID(schema.OffsetNumber(i), schema.NewItemId(uint16(1+rng.IntN(nline)), schema.LPRedirect, 0))
			}
		}
		if rng.IntN(4) == 0 { // a run of trailing unused line pointers
			for i := nline; i > nline-rng.IntN(nline); i-- {
				_ = p.SetItemID(schema.OffsetNumber(i), 0)
			}
		}
		orig := clonePage(p)
		if err := PageRepairFragmentation(p); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if d := diffPages(p, repairModel(orig)); d != "" {
			t.Fatalf("round %d: differs from the model:%s", round, d)
		}
	}
}

func TestPageRepairFragmentationCorrupt(t *testing.T) {
	cases := []struct {
		name string
		edit func(schema.Page)
		off  schema.OffsetNumber
		want string
	}{
		{"special unaligned", func(p schema.Page) { p.SetSpecial(8190) }, 0, "corrupted page pointers"},
		{"lower > upper", func(p schema.Page) { p.SetLower(8150) }, 0, "corrupted page pointers"},
		{"item below upper", func(p schema.Page) { _ = p.SetItemID(2, schema.NewItemId(100, schema.LPNormal, 8)) }, 2, "corrupted line pointer: 100"},
		{"item at special", func(p schema.Page) { _ = p.SetItemID(3, schema.NewItemId(8192, schema.LPNormal, 8)) }, 3, "corrupted line pointer: 8192"},
		{"dead item outside", func(p schema.Page) { _ = p.SetItemID(1, schema.NewItemId(50, schema.LPDead, 8)) }, 1, "corrupted line pointer: 50"},
		{"lengths", func(p schema.Page) { _ = p.SetItemID(1, schema.NewItemId(8168, schema.LPNormal, 8150)) }, 0, "corrupted item lengths"},
		{"past page end", func(p schema.Page) { _ = p.SetItemID(1, schema.NewItemId(8184, schema.LPNormal, 100)) }, 1, "past the end of the page"},
	}
	for _, c := range cases {
		p := heapPage(t, []int{24, 24, 24})
		_ = p.SetItemID(2, 0) // an unused one the failed call must not zero
		_ = p.SetItemID(2, schema.NewItemId(5, schema.LPUnused, 0))
		c.edit(p)
		before := clonePage(p)
		err := PageRepairFragmentation(p)
		assertRefused(t, c.name, err, schema.ErrCorruptPage, c.want, p, before)
		var pe *schema.PageError
		if errors.As(err, &pe) && pe.Offset != c.off {
			t.Errorf("%s: error names offset %d, want %d", c.name, pe.Offset, c.off)
		}
	}
	if err := PageRepairFragmentation(make(schema.Page, 8191)); !errors.Is(err, schema.ErrCorruptPage) {
		t.Errorf("short buffer: %v", err)
	}
}

func TestPageTruncateLinePointerArray(t *testing.T) {
	cases := []struct {
		name      string
		flags     []uint8 // lp_flags of slots 1..n (storage irrelevant)
		wantLower uint16
		wantHint  bool
	}{
		{"trailing", []uint8{1, 3, 0, 0}, 32, false},
		{"trailing and inner", []uint8{1, 0, 3, 0, 0}, 36, true},
		{"keeps item 1", []uint8{0, 0, 0}, 28, true},
		{"item 1 unused, others used", []uint8{0, 1, 0}, 32, true},
		{"nothing to cut", []uint8{3, 0, 2}, 36, true},
		{"single unused", []uint8{0}, 28, true},
	}
	for _, c := range cases {
		p := newPage(t, 0)
		for i, f := range c.flags {
			_ = p.SetItemID(schema.OffsetNumber(i+1), schema.NewItemId(uint16(i), f, 0))
		}
		p.SetLower(uint16(24 + 4*len(c.flags)))
		if !c.wantHint {
			p.SetHasFreeLinePointers()
		}
		before := clonePage(p)
		if err := PageTruncateLinePointerArray(p); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if p.Lower() != c.wantLower || p.HasFreeLinePointers() != c.wantHint {
			t.Errorf("%s: lower %d hint %v, want %d %v", c.name, p.Lower(), p.HasFreeLinePointers(), c.wantLower, c.wantHint)
		}
		want := clonePage(before)
		want.SetLower(c.wantLower)
		want.SetFlags(p.Flags())
		assertPage(t, c.name+": only pd_lower and pd_flags change", p, want)
	}
	p := newPage(t, 0)
	p.SetLower(9000)
	if err := PageTruncateLinePointerArray(p); !errors.Is(err, schema.ErrCorruptPage) {
		t.Errorf("pd_lower past page: %v", err)
	}
}

// ---------------------------------------------------------------------------
// Index page deletion and overwrite.

// indexPage builds an index page (special 16) with the given item sizes
// (multiples of 8 as btree's are, or not), inserted at the given offsets
// (0 = append), so the physical order can differ from the line pointer
// order.
func indexPage(t *testing.T, sizes []int, at []schema.OffsetNumber) schema.Page {
	p := newPage(t, 16)
	for i := 8176; i < 8192; i++ {
		p[i] = 0xC0 | byte(i&0xF)
	}
	for i, n := range sizes {
		var off schema.OffsetNumber
		if at != nil {
			off = at[i]
		}
		mustAdd(t, p, tuple(n, byte(i*16+1)), off, 0)
	}
	return p
}

// deleteModel is PageIndexTupleDelete's documented result.
func deleteModel(p schema.Page, off schema.OffsetNumber) schema.Page {
	want := clonePage(p)
	lp := p.ItemID(off)
	offset, size := int(lp.Off()), maxAlign(int(lp.Len()))
	upper, lower := int(p.Upper()), int(p.Lower())
	pos := 24 + 4*int(off)
	copy(want[pos-4:], p[pos:lower])
	copy(want[upper+size:offset+size], p[upper:offset])
	want.SetUpper(uint16(upper + size))
	want.SetLower(uint16(lower - 4))
	for i := 1; i < int(p.MaxOffsetNumber()); i++ {
		ii := want.ItemID(schema.OffsetNumber(i))
		if int(ii.Off()) <= offset {
			ii.SetOff(ii.Off() + uint16(size))
			_ = want.SetItemID(schema.OffsetNumber(i), ii)
		}
	}
	return want
}

// compactDeleteModel is PageIndexMultiDelete's documented result for more
// than two deletions: the kept line pointers renumbered in order and their
// items packed by compactify_tuples (in line pointer order).
func compactDeleteModel(orig schema.Page, del []schema.OffsetNumber) schema.Page {
	want := clonePage(orig)
	var items []extent
	slot := 0
	for i := 1; i <= int(orig.MaxOffsetNumber()); i++ {
		if slices.Contains(del, schema.OffsetNumber(i)) {
			continue
		}
		slot++
		lp := orig.ItemID(schema.OffsetNumber(i))
		_ = want.SetItemID(schema.OffsetNumber(slot), lp)
		items = append(items, extent{slot: slot, off: int(lp.Off()), alen: maxAlign(int(lp.Len()))})
	}
	want.SetLower(uint16(24 + 4*slot))
	if len(items) > 0 {
		packModel(orig, want, items)
	} else {
		want.SetUpper(orig.Special())
	}
	return want
}

func TestPageIndexTupleDelete(t *testing.T) {
	// Items 1..4 of 16, 24, 13, 8 bytes at 8160, 8136, 8120, 8112.
	p := indexPage(t, []int{16, 24, 13, 8}, nil)
	orig := clonePage(p)
	if err := PageIndexTupleDelete(p, 2); err != nil {
		t.Fatal(err)
	}
	want := clonePage(orig)
	_ = want.SetItemID(1, orig.ItemID(1))
	_ = want.SetItemID(2, schema.NewItemId(8144, schema.LPNormal, 13))
	_ = want.SetItemID(3, schema.NewItemId(8136, schema.LPNormal, 8))
	copy(want[8136:8160], orig[8112:8136])
	want.SetLower(36)
	want.SetUpper(8136)
	assertPage(t, "delete 2", p, want)
	if !bytes.Equal(p[36:40], orig[36:40]) {
		t.Error("the vacated line pointer slot must keep its old bytes")
	}

	// Deleting the lowest item moves nothing.
	p = clonePage(orig)
	if err := PageIndexTupleDelete(p, 4); err != nil {
		t.Fatal(err)
	}
	assertPage(t, "delete 4", p, deleteModel(orig, 4))
	if !bytes.Equal(p[8112:8192], orig[8112:8192]) {
		t.Error("deleting the first tuple in tuple space moved data")
	}

	// Down to empty.
	p = indexPage(t, []int{16}, nil)
	if err := PageIndexTupleDelete(p, 1); err != nil {
		t.Fatal(err)
	}
	if p.Lower() != 24 || p.Upper() != 8176 {
		t.Errorf("empty: lower %d upper %d", p.Lower(), p.Upper())
	}

	// Random deletions against the model.
	rng := rand.New(rand.NewPCG(3, 4))
	for round := 0; round < 200; round++ {
		p := randomIndexPage(t, rng)
		off := schema.OffsetNumber(1 + rng.IntN(int(p.MaxOffsetNumber())))
		orig := clonePage(p)
		if err := PageIndexTupleDelete(p, off); err != nil {
			t.Fatal(err)
		}
		if d := diffPages(p, deleteModel(orig, off)); d != "" {
			t.Fatalf("round %d, delete %d:%s", round, off, d)
		}
	}
}

func randomIndexPage(t *testing.T, rng *rand.Rand) schema.Page {
	n := 3 + rng.IntN(120)
	sizes := make([]int, n)
	at := make([]schema.OffsetNumber, n)
	for i := range sizes {
		sizes[i] = 8 * (1 + rng.IntN(6))
		if rng.IntN(3) == 0 {
			sizes[i] -= rng.IntN(8) // some unaligned lengths
		}
		at[i] = schema.OffsetNumber(1 + rng.IntN(i+1))
	}
	return indexPage(t, sizes, at)
}

func TestIndexDeleteCorrupt(t *testing.T) {
	type fn func(schema.Page) error
	ops := map[string]fn{
		"PageIndexTupleDelete":          func(p schema.Page) error { return PageIndexTupleDelete(p, 2) },
		"PageIndexTupleDeleteNoCompact": func(p schema.Page) error { return PageIndexTupleDeleteNoCompact(p, 2) },
		"PageIndexTupleOverwrite": func(p schema.Page) error {
			_, err := PageIndexTupleOverwrite(p, 2, tuple(8, 0))
			return err
		},
		"PageIndexMultiDelete": func(p schema.Page) error { return PageIndexMultiDelete(p, []schema.OffsetNumber{1, 2, 3}) },
	}
	edits := []struct {
		name string
		edit func(schema.Page)
		want string
	}{
		{"unaligned special", func(p schema.Page) { p.SetSpecial(8180) }, "corrupted page pointers"},
		{"lower below header", func(p schema.Page) { p.SetLower(10) }, "corrupted page pointers"},
		{"item below upper", func(p schema.Page) { _ = p.SetItemID(2, schema.NewItemId(1000, 1, 8)) }, "corrupted line pointer: offset = 1000"},
		{"item past special", func(p schema.Page) { _ = p.SetItemID(2, schema.NewItemId(8168, 1, 16)) }, "offset = 8168, size = 16"},
		{"item unaligned", func(p schema.Page) { _ = p.SetItemID(2, schema.NewItemId(8153, 1, 8)) }, "offset = 8153"},
	}
	for name, op := range ops {
		for _, e := range edits {
			p := indexPage(t, []int{16, 16, 16, 16}, nil)
			e.edit(p)
			before := clonePage(p)
			assertRefused(t, name+"/"+e.name, op(p), schema.ErrCorruptPage, e.want, p, before)
		}
		p := indexPage(t, []int{16}, nil)
		before := clonePage(p)
		assertRefused(t, name+"/offset past maxoff", op(p), schema.ErrCorruptPage, "1 line pointers", p, before)
	}
	p := indexPage(t, []int{16, 16}, nil)
	before := clonePage(p)
	assertRefused(t, "delete offset 0", PageIndexTupleDelete(p, 0), schema.ErrCorruptPage, "invalid index offnum: 0", p, before)
}

func TestPageIndexMultiDelete(t *testing.T) {
	// Items inserted out of order so physical order != line pointer order.
	fx := multiDeleteFixture{
		at:    []schema.OffsetNumber{1, 1, 2, 1, 3, 5, 2, 8},
		sizes: []int{16, 24, 8, 16, 32, 8, 16, 24},
	}
	t.Run("bulk", fx.bulk)
	t.Run("retail", fx.retail)
	t.Run("bad lists", fx.badLists)
	t.Run("all", fx.all)
	t.Run("random", fx.random)
}

// multiDeleteFixture is the index page TestPageIndexMultiDelete deletes
// from: item sizes and the offsets they were inserted at.
type multiDeleteFixture struct {
	at    []schema.OffsetNumber
	sizes []int
}

// bulk checks that deleting three items compacts the page in line
// pointer order.
func (fx multiDeleteFixture) bulk(t *testing.T) {
	p := indexPage(t, fx.sizes, fx.at)
	orig := clonePage(p)
	del := []schema.OffsetNumber{2, 5, 6}
	if err := PageIndexMultiDelete(p, del); err != nil {
		t.Fatal(err)
	}
	assertPage(t, "bulk delete", p, compactDeleteModel(orig, del))
}

// retail checks that up to two items are deleted one by one, last first,
// keeping the physical order.
func (fx multiDeleteFixture) retail(t *testing.T) {
	for _, del := range [][]schema.OffsetNumber{{4}, {2, 7}, {1, 8}, {}} {
		p := indexPage(t, fx.sizes, fx.at)
		want := clonePage(p)
		for i := len(del) - 1; i >= 0; i-- {
			if err := PageIndexTupleDelete(want, del[i]); err != nil {
				t.Fatal(err)
			}
		}
		if err := PageIndexMultiDelete(p, del); err != nil {
			t.Fatal(err)
		}
		assertPage(t, fmt.Sprintf("retail delete %v", del), p, want)
	}
	// The retail path leaves a different layout than compaction would:
	// physical order is kept, not rebuilt in line pointer order.
	p := indexPage(t, fx.sizes, fx.at)
	if err := PageIndexMultiDelete(p, []schema.OffsetNumber{2, 7}); err != nil {
		t.Fatal(err)
	}
	q := indexPage(t, fx.sizes, fx.at)
	if err := PageIndexMultiDelete(q, []schema.OffsetNumber{2, 7, 8}); err != nil {
		t.Fatal(err)
	}
	if p.ItemID(1).Off() == q.ItemID(1).Off() && p.ItemID(3).Off() == q.ItemID(3).Off() {
		t.Error("expected the retail and compacting paths to place items differently on this page")
	}
	// Retail with unsorted input is PostgreSQL's behaviour too: last first.
	p = indexPage(t, fx.sizes, fx.at)
	want := clonePage(p)
	_ = PageIndexTupleDelete(want, 3)
	_ = PageIndexTupleDelete(want, 6)
	if err := PageIndexMultiDelete(p, []schema.OffsetNumber{6, 3}); err != nil {
		t.Fatal(err)
	}
	assertPage(t, "retail unsorted", p, want)
	// A failure in the second retail deletion leaves the page as it was.
	p = indexPage(t, fx.sizes, fx.at)
	before := clonePage(p)
	assertRefused(t, "retail second fails", PageIndexMultiDelete(p, []schema.OffsetNumber{8, 8}), schema.ErrCorruptPage, "invalid index offnum: 8", p, before)
}

// badLists checks that unsorted, repeated or out-of-range lists are
// refused and leave the page untouched.
func (fx multiDeleteFixture) badLists(t *testing.T) {
	for _, del := range [][]schema.OffsetNumber{{3, 2, 5}, {2, 2, 5}, {1, 2, 9}, {0, 1, 2}} {
		p := indexPage(t, fx.sizes, fx.at)
		before := clonePage(p)
		assertRefused(t, fmt.Sprint(del), PageIndexMultiDelete(p, del), schema.ErrCorruptPage, "incorrect index offsets", p, before)
	}
}

// all checks that deleting every item leaves an empty page.
func (fx multiDeleteFixture) all(t *testing.T) {
	p := indexPage(t, fx.sizes, fx.at)
	if err := PageIndexMultiDelete(p, []schema.OffsetNumber{1, 2, 3, 4, 5, 6, 7, 8}); err != nil {
		t.Fatal(err)
	}
	if p.Lower() != 24 || p.Upper() != 8176 {
		t.Errorf("lower %d upper %d", p.Lower(), p.Upper())
	}
}

// random checks random pages and deletions against the model.
func (fx multiDeleteFixture) random(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for round := 0; round < 300; round++ {
		p := randomIndexPage(t, rng)
		nline := int(p.MaxOffsetNumber())
		var del []schema.OffsetNumber
		for i := 1; i <= nline; i++ {
			if rng.IntN(3) == 0 {
				del = append(del, schema.OffsetNumber(i))
			}
		}
		want := clonePage(p)
		if len(del) <= 2 {
			for i := len(del) - 1; i >= 0; i-- {
				want = deleteModel(want, del[i])
			}
		} else {
			want = compactDeleteModel(p, del)
		}
		if err := PageIndexMultiDelete(p, del); err != nil {
			t.Fatal(err)
		}
		if d := diffPages(p, want); d != "" {
			t.Fatalf("round %d, delete %v:%s", round, del, d)
		}
	}
}

func TestPageIndexTupleDeleteNoCompact(t *testing.T) {
	// Items 16, 24, 13, 8 at 8160, 8136, 8120, 8112; lp 3 made storage-less
	// dead (BRIN-style) to show such line pointers are not adjusted.
	p := indexPage(t, []int{16, 24, 13, 8}, nil)
	_ = p.SetItemID(3, schema.NewItemId(8120, schema.LPDead, 0))
	orig := clonePage(p)
	if err := PageIndexTupleDeleteNoCompact(p, 2); err != nil {
		t.Fatal(err)
	}
	want := clonePage(orig)
	_ = want.SetItemID(2, 0)
	_ = want.SetItemID(4, schema.NewItemId(8136, schema.LPNormal, 8))
	copy(want[8136:8160], orig[8112:8136])
	want.SetUpper(8136)
	assertPage(t, "delete 2, no compact", p, want)

	// The last line pointer is removed instead.
	if err := PageIndexTupleDeleteNoCompact(p, 4); err != nil {
		t.Fatal(err)
	}
	if p.Lower() != 36 || p.Upper() != 8144 || p.ItemID(1).Off() != 8160 || p.ItemID(3) != orig.ItemID(3) {
		t.Errorf("delete last: lower %d upper %d lp1 %v lp3 %v", p.Lower(), p.Upper(), p.ItemID(1), p.ItemID(3))
	}
}

func TestPageIndexTupleOverwrite(t *testing.T) {
	// Items 16, 24, 13, 8 at 8160, 8136, 8120, 8112, lp 2 marked LP_DEAD.
	base := indexPage(t, []int{16, 24, 13, 8}, nil)
	_ = base.SetItemID(2, schema.NewItemId(8136, schema.LPDead, 24))

	// Overwriting item 2 (24 bytes at 8136) moves the data below it, items
	// 3 and 4 (base[8112:8136]), by the change in aligned size.
	for _, tc := range []struct {
		name  string
		n     int             // new tuple length
		moved int             // where base[8112:8136] goes: pd_upper after
		lps   []schema.ItemId // line pointers 2.. after
	}{
		{"same aligned size", 17, 8112, []schema.ItemId{schema.NewItemId(8136, schema.LPDead, 17)}},
		{"smaller", 8, 8128, []schema.ItemId{schema.NewItemId(8152, schema.LPDead, 8), schema.NewItemId(8136, schema.LPNormal, 13), schema.NewItemId(8128, schema.LPNormal, 8)}},
		{"larger", 40, 8096, []schema.ItemId{schema.NewItemId(8120, schema.LPDead, 40), schema.NewItemId(8104, schema.LPNormal, 13), schema.NewItemId(8096, schema.LPNormal, 8)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := clonePage(base)
			ok, err := PageIndexTupleOverwrite(p, 2, tuple(tc.n, 0xA0))
			if err != nil || !ok {
				t.Fatal(ok, err)
			}
			want := clonePage(base)
			copy(want[tc.moved:tc.moved+24], base[8112:8136])
			for i, lp := range tc.lps {
				_ = want.SetItemID(schema.OffsetNumber(2+i), lp)
			}
			copy(want[tc.lps[0].Off():], tuple(tc.n, 0xA0))
			want.SetUpper(uint16(tc.moved))
			assertPage(t, tc.name, p, want)
		})
	}
	t.Run("no room", func(t *testing.T) {
		p := clonePage(base)
		free := int(p.Upper() - p.Lower())
		ok, err := PageIndexTupleOverwrite(p, 2, make([]byte, 24+free+1))
		if err != nil || ok || !bytes.Equal(p, base) {
			t.Errorf("too large: ok %v err %v, page changed %v", ok, err, !bytes.Equal(p, base))
		}
		ok, err = PageIndexTupleOverwrite(p, 2, make([]byte, 24+free-free%8))
		if err != nil || !ok || p.Upper() != p.Lower() {
			t.Errorf("exactly fitting: ok %v err %v lower %d upper %d", ok, err, p.Lower(), p.Upper())
		}
	})
}

// ---------------------------------------------------------------------------
// Oracle tests against PostgreSQL 15 (pageinspect).

// rawPage returns block blk of rel as PostgreSQL's buffer holds it.
func rawPage(t *testing.T, c *pgtest.Cluster, rel string, blk int) schema.Page {
	t.Helper()
	rows := c.Query(t, fmt.Sprintf("SELECT encode(get_raw_page('%s', %d), 'hex')", rel, blk))
	b, err := hex.DecodeString(rows[0][0])
	if err != nil || len(b) != schema.BLCKSZ {
		t.Fatalf("get_raw_page(%s, %d): %d bytes, %v", rel, blk, len(b), err)
	}
	return b
}

func relBlocks(t *testing.T, c *pgtest.Cluster, rel string) int {
	t.Helper()
	rows := c.Query(t, fmt.Sprintf("SELECT pg_relation_size('%s') / 8192", rel))
	var n int
	if _, err := fmt.Sscan(rows[0][0], &n); err != nil {
		t.Fatal(err)
	}
	return n
}

// maskLSNChecksum zeroes pd_lsn and pd_checksum, which the comparisons
// below do not model (redo sets the LSN itself; checksums are set on write).
func maskLSNChecksum(p schema.Page) schema.Page {
	q := clonePage(p)
	q.SetLSN(0)
	q.SetChecksum(0)
	return q
}

const heapOnlyTuple = 0x8000 // HEAP_ONLY_TUPLE in t_infomask2

// emulateVacuum applies to a heap page what VACUUM did between before and
// after, using only the line pointer states after shows and the bufpage
// helpers: heap_page_prune_execute + PageRepairFragmentation (pruning), then
// lazy_vacuum_heap_page's LP_DEAD -> LP_UNUSED + PageTruncateLinePointerArray.
// A line pointer that ends LP_UNUSED was made unused by pruning if it held a
// heap-only tuple, and was LP_DEAD in between otherwise.
func emulateVacuum(t *testing.T, before, after schema.Page) (schema.Page, string) {
	t.Helper()
	p := clonePage(before)
	nline := int(before.MaxOffsetNumber())
	afterMax := int(after.MaxOffsetNumber())
	var laterUnused []int
	for i := 1; i <= nline; i++ {
		off := schema.OffsetNumber(i)
		b := before.ItemID(off)
		var a schema.ItemId
		if i <= afterMax {
			a = after.ItemID(off)
		}
		switch a.Flags() {
		case schema.LPNormal:
			if !b.IsNormal() || b.Len() != a.Len() {
				t.Fatalf("lp %d normal after VACUUM but %v before", i, b)
			}
		case schema.LPRedirect:
			_ = p.SetItemID(off, schema.NewItemId(uint16(a.Redirect()), schema.LPRedirect, 0))
		case schema.LPDead:
			_ = p.SetItemID(off, schema.NewItemId(0, schema.LPDead, 0))
		case schema.LPUnused:
			heapOnly := false
			if b.IsNormal() {
				tup, err := before.Item(off)
				if err != nil {
					t.Fatal(err)
				}
				heapOnly = binary.LittleEndian.Uint16(tup[18:])&heapOnlyTuple != 0
			}
			if !b.IsUsed() || heapOnly {
				_ = p.SetItemID(off, 0)
			} else {
				_ = p.SetItemID(off, schema.NewItemId(0, schema.LPDead, 0))
				laterUnused = append(laterUnused, i)
			}
		}
	}
	path := compactifyPath(p)
	if err := PageRepairFragmentation(p); err != nil {
		t.Fatal(err)
	}
	p.ClearFull()
	p.SetPruneXid(after.PruneXid())
	if len(laterUnused) > 0 {
		for _, i := range laterUnused {
			_ = p.SetItemID(schema.OffsetNumber(i), 0)
		}
		if err := PageTruncateLinePointerArray(p); err != nil {
			t.Fatal(err)
		}
	}
	if after.IsAllVisible() {
		p.SetAllVisible()
	}
	return p, path
}

// compactifyPath names the compactify_tuples path PageRepairFragmentation
// takes on p: "presorted", "scratch-per-tuple" (fewer items than maxoff/4)
// or "scratch-bulk"; "none" without items with storage.
func compactifyPath(p schema.Page) string {
	last, n, presorted := int(p.Special()), 0, true
	for i := 1; i <= int(p.MaxOffsetNumber()); i++ {
		lp := p.ItemID(schema.OffsetNumber(i))
		if !lp.IsUsed() || !lp.HasStorage() {
			continue
		}
		n++
		if int(lp.Off()) < last {
			last = int(lp.Off())
		} else {
			presorted = false
		}
	}
	switch {
	case n == 0:
		return "none"
	case presorted:
		return "presorted"
	case n < int(p.MaxOffsetNumber())/4:
		return "scratch-per-tuple"
	}
	return "scratch-bulk"
}

func describeLPs(p schema.Page) string {
	var b strings.Builder
	for i := 1; i <= int(p.MaxOffsetNumber()); i++ {
		lp := p.ItemID(schema.OffsetNumber(i))
		fmt.Fprintf(&b, " %d:%d/%d/%d", i, lp.Flags(), lp.Off(), lp.Len())
	}
	return b.String()
}

// TestVacuumMatchesPostgres replays real VACUUMs of heap pages with the Go
// helpers and compares every byte of the result with PostgreSQL's page
// (LSN and checksum masked), including the stale bytes between pd_lower
// and pd_upper that wal_consistency_checking would mask: compaction must
// move exactly what compactify_tuples moves. Hint bits are made stable by
// reading the table before taking the "before" image, and the pages keep
// more than BLCKSZ/10 free so that the read does not prune.
func TestVacuumMatchesPostgres(t *testing.T) {
	c := pgtest.Start(t, pgtest.Options{})
	c.Exec(t, `CREATE EXTENSION pageinspect`)
	paths := map[string]int{}
	for _, sc := range vacuumScenarios() {
		for _, sql := range sc.ddl {
			c.Exec(t, sql)
		}
		for _, st := range sc.steps {
			t.Run(sc.table+"/"+st.name, func(t *testing.T) {
				checkVacuumStep(t, c, sc.table, st.setup, paths)
			})
		}
	}
	for _, path := range []string{"presorted", "scratch-per-tuple", "scratch-bulk", "none"} {
		if paths[path] == 0 {
			t.Errorf("no page took compactify path %q (paths taken: %v)", path, paths)
		}
	}
	t.Logf("compactify paths taken: %v", paths)
}

type vacuumStep struct {
	name  string
	setup string // run before the before-image
}

// vacuumScenario is a table, the statements that create it and the steps
// each followed by a VACUUM whose pages are compared.
type vacuumScenario struct {
	table string
	ddl   []string // run one by one (VACUUM cannot share a transaction)
	steps []vacuumStep
}

func vacuumScenarios() []vacuumScenario {
	return []vacuumScenario{
		{
			// Presorted pages (insertion order), varied tuple sizes so that
			// MAXALIGN padding travels with the tuples.
			table: "va",
			ddl: []string{`CREATE TABLE va (id int4, pad text) WITH (autovacuum_enabled = off);
			INSERT INTO va SELECT g, repeat('x', g % 23) FROM generate_series(1, 60) g`},
			steps: []vacuumStep{
				{"every third", `DELETE FROM va WHERE id % 3 = 0`},
				{"a run in the middle", `DELETE FROM va WHERE id BETWEEN 20 AND 30`},
				{"the last ones", `DELETE FROM va WHERE id > 50`},
			},
		},
		{
			// Not presorted: after a first VACUUM, new rows reuse freed line
			// pointers with tuples placed below the old ones.
			table: "vb",
			ddl: []string{`CREATE TABLE vb (id int4, pad text) WITH (autovacuum_enabled = off);
			INSERT INTO vb SELECT g, repeat('y', (g * 7) % 31) FROM generate_series(1, 80) g;
			DELETE FROM vb WHERE id % 4 <> 1`,
				`VACUUM vb`,
				`INSERT INTO vb SELECT g, repeat('z', (g * 5) % 37) FROM generate_series(101, 140) g`},
			steps: []vacuumStep{
				{"some old, some new", `DELETE FROM vb WHERE id % 3 = 0`},
				{"more than 3/4", `DELETE FROM vb WHERE id % 9 <> 0`},
				{"refill and delete again", `INSERT INTO vb SELECT g, repeat('w', g % 41) FROM generate_series(201, 260) g;
				DELETE FROM vb WHERE id % 2 = 0`},
			},
		},
		{
			// Not presorted with few survivors (fewer than maxoff/4): old
			// rows high in the page at high line pointers, new rows low in
			// the page at reused low line pointers.
			table: "vd",
			ddl: []string{`CREATE TABLE vd (id int4, pad text) WITH (autovacuum_enabled = off);
			INSERT INTO vd SELECT g, repeat('d', (g * 3) % 29) FROM generate_series(1, 80) g;
			DELETE FROM vd WHERE id % 4 <> 1`,
				`VACUUM vd`,
				`INSERT INTO vd SELECT g, repeat('e', g % 19) FROM generate_series(101, 140) g`},
			steps: []vacuumStep{
				{"few survivors out of order", `DELETE FROM vd WHERE id NOT IN (1, 41, 77, 101, 102, 120, 133)`},
			},
		},
		{
			// HOT chains with an index: redirects, heap-only tuples removed
			// by pruning, LP_DEAD then LP_UNUSED for the rest.
			table: "vc",
			ddl: []string{`CREATE TABLE vc (id int4 PRIMARY KEY, v int4, pad text) WITH (autovacuum_enabled = off, fillfactor = 70);
			INSERT INTO vc SELECT g, 0, repeat('h', g % 17) FROM generate_series(1, 40) g`},
			steps: []vacuumStep{
				{"HOT updates", `UPDATE vc SET v = v + 1 WHERE id % 2 = 0; UPDATE vc SET v = v + 1 WHERE id % 4 = 0; UPDATE vc SET v = v + 1 WHERE id % 8 = 0`},
				{"HOT updates then deletes", `UPDATE vc SET v = v + 1 WHERE id % 3 = 0; DELETE FROM vc WHERE id % 5 = 0`},
				{"delete everything on the page", `DELETE FROM vc`},
			},
		},
	}
}

// checkVacuumStep runs setup, VACUUMs table and compares every page VACUUM
// changed with emulateVacuum on its before-image, counting the compactify
// paths taken.
func checkVacuumStep(t *testing.T, c *pgtest.Cluster, table, setup string, paths map[string]int) {
	c.Exec(t, setup)
	c.Exec(t, fmt.Sprintf("SET enable_indexscan = off; SET enable_bitmapscan = off; SET enable_indexonlyscan = off; SELECT count(*) FROM %s", table))
	nblocks := relBlocks(t, c, table)
	befores := make([]schema.Page, nblocks)
	for b := range befores {
		befores[b] = rawPage(t, c, table, b)
	}
	c.Exec(t, fmt.Sprintf("VACUUM (INDEX_CLEANUP ON, TRUNCATE OFF) %s", table))
	compared := 0
	for b, before := range befores {
		after := rawPage(t, c, table, b)
		if bytes.Equal(maskLSNChecksum(before), maskLSNChecksum(after)) {
			continue
		}
		got, path := emulateVacuum(t, before, after)
		paths[path]++
		if d := diffPages(maskLSNChecksum(got), maskLSNChecksum(after)); d != "" {
			t.Errorf("block %d differs from PostgreSQL's VACUUM:%s\nbefore:%s\nafter: %s", b, d, describeLPs(before), describeLPs(after))
		}
		compared++
	}
	if compared == 0 {
		t.Fatal("VACUUM changed no page; the scenario tests nothing")
	}
	t.Logf("%d of %d blocks compared byte for byte", compared, nblocks)
}

// TestHeapInsertMatchesPostgres checks PageAddItemExtended as heap_insert
// uses it (InvalidOffsetNumber, PAI_IS_HEAP) on real pages, including pages
// with free line pointers and stale free space after VACUUM: the result
// must equal PostgreSQL's page in every byte but the LSN and checksum.
func TestHeapInsertMatchesPostgres(t *testing.T) {
	c := pgtest.Start(t, pgtest.Options{})
	c.Exec(t, `CREATE EXTENSION pageinspect;
		CREATE TABLE hi (id int4, pad text) WITH (autovacuum_enabled = off);
		INSERT INTO hi SELECT g, repeat('q', g % 29) FROM generate_series(1, 50) g;
		DELETE FROM hi WHERE id % 4 = 0 OR id > 45`)
	c.Exec(t, `VACUUM hi`)
	checked := 0
	for i := 0; i < 30; i++ {
		before := rawPage(t, c, "hi", 0)
		c.Exec(t, fmt.Sprintf("INSERT INTO hi VALUES (%d, repeat('n', %d))", 1000+i, (i*11)%37))
		after := rawPage(t, c, "hi", 0)
		// The new tuple is the one line pointer whose bytes changed.
		var newOff schema.OffsetNumber
		for off := schema.OffsetNumber(1); off <= after.MaxOffsetNumber(); off++ {
			if off > before.MaxOffsetNumber() || before.ItemID(off) != after.ItemID(off) {
				newOff = off
				break
			}
		}
		tup, err := after.Item(newOff)
		if err != nil {
			t.Fatalf("insert %d: %v", i, err)
		}
		got := clonePage(before)
		off, err := PageAddItemExtended(got, tup, schema.InvalidOffsetNumber, PAIIsHeap)
		if err != nil {
			t.Fatalf("insert %d: %v", i, err)
		}
		if off != newOff {
			t.Errorf("insert %d: PageAddItemExtended chose offset %d, PostgreSQL %d", i, off, newOff)
		}
		got.ClearAllVisible()
		if d := diffPages(maskLSNChecksum(got), maskLSNChecksum(after)); d != "" {
			t.Errorf("insert %d differs:%s", i, d)
		}
		if before.HasFreeLinePointers() {
			checked++
		}
	}
	if checked == 0 {
		t.Error("no insert went through the free line pointer search")
	}
}

// btree tuple helpers for the index oracle (access/nbtree.h, itup.h).
func btKey(tup []byte) uint32 { return binary.LittleEndian.Uint32(tup[8:]) }

func btTIDs(tup []byte) []uint64 {
	tid := func(b []byte) uint64 {
		return uint64(binary.LittleEndian.Uint16(b))<<32 | uint64(binary.LittleEndian.Uint16(b[2:]))<<16 | uint64(binary.LittleEndian.Uint16(b[4:]))
	}
	info := binary.LittleEndian.Uint16(tup[6:])
	posid := binary.LittleEndian.Uint16(tup[4:])
	if info&0x2000 == 0 || posid&0x2000 == 0 { // not INDEX_ALT_TID_MASK with BT_IS_POSTING
		return []uint64{tid(tup)}
	}
	n := int(posid & 0x0FFF)
	start := int(binary.LittleEndian.Uint16(tup[0:]))<<16 | int(binary.LittleEndian.Uint16(tup[2:]))
	var out []uint64
	for i := 0; i < n; i++ {
		out = append(out, tid(tup[start+6*i:]))
	}
	return out
}

// emulateBtreeVacuum applies _bt_delitems_vacuum to before: items whose
// TIDs all vanished are deleted (PageIndexMultiDelete), items that lost
// some are overwritten with PostgreSQL's new posting tuple
// (PageIndexTupleOverwrite) first, as the C code does; then btpo_cycleid = 0
// and BTP_HAS_GARBAGE cleared. It returns the page and the list sizes.
func emulateBtreeVacuum(t *testing.T, before, after schema.Page) (schema.Page, int, int) {
	t.Helper()
	p := clonePage(before)
	var deletable []schema.OffsetNumber
	type upd struct {
		off schema.OffsetNumber
		tup []byte
	}
	var updates []upd
	k := schema.OffsetNumber(1)
	for j := schema.OffsetNumber(1); j <= before.MaxOffsetNumber(); j++ {
		bt, err := before.Item(j)
		if err != nil {
			t.Fatal(err)
		}
		if k <= after.MaxOffsetNumber() {
			at, err := after.Item(k)
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Equal(at, bt) {
				k++
				continue
			}
			if btKey(at) == btKey(bt) {
				tids := btTIDs(bt)
				subset := true
				for _, x := range btTIDs(at) {
					subset = subset && slices.Contains(tids, x)
				}
				if subset {
					updates = append(updates, upd{j, at})
					k++
					continue
				}
			}
		}
		deletable = append(deletable, j)
	}
	for _, u := range updates {
		ok, err := PageIndexTupleOverwrite(p, u.off, u.tup)
		if err != nil || !ok {
			t.Fatalf("overwrite %d: %v %v", u.off, ok, err)
		}
	}
	if len(deletable) > 0 {
		if err := PageIndexMultiDelete(p, deletable); err != nil {
			t.Fatal(err)
		}
	}
	sp := int(p.Special())
	flags := binary.LittleEndian.Uint16(p[sp+12:])
	binary.LittleEndian.PutUint16(p[sp+12:], flags&^0x40) // BTP_HAS_GARBAGE
	binary.LittleEndian.PutUint16(p[sp+14:], 0)           // btpo_cycleid
	return p, len(deletable), len(updates)
}

// TestBtreeVacuumMatchesPostgres replays btree leaf VACUUMs with
// PageIndexMultiDelete (both its retail path for one or two items and its
// compacting path) and PageIndexTupleOverwrite (posting lists losing some
// TIDs), and compares all 8192 bytes, stale free space included, with
// PostgreSQL's page (LSN and checksum masked). Keys are inserted in
// scrambled order so that the leaf's physical order differs from its line
// pointer order, which is where the two deletion paths differ.
func TestBtreeVacuumMatchesPostgres(t *testing.T) {
	c := pgtest.Start(t, pgtest.Options{})
	c.Exec(t, `CREATE EXTENSION pageinspect;
		CREATE TABLE bt (k int4) WITH (autovacuum_enabled = off);
		CREATE INDEX bt_k ON bt (k) WITH (deduplicate_items = off);
		INSERT INTO bt SELECT (g * 7919) % 251 FROM generate_series(1, 250) g;
		CREATE TABLE bp (k int4) WITH (autovacuum_enabled = off);
		CREATE INDEX bp_k ON bp (k);
		INSERT INTO bp SELECT g % 23 FROM generate_series(1, 700) g`)
	noIdx := "SET enable_indexscan = off; SET enable_bitmapscan = off; SET enable_indexonlyscan = off; "
	steps := []struct {
		name, index, sql   string
		wantDel, wantUpdat int // -1: any
	}{
		{"retail one", "bt_k", "DELETE FROM bt WHERE k = 17", 1, 0},
		{"retail two", "bt_k", "DELETE FROM bt WHERE k IN (3, 200)", 2, 0},
		{"compacting three", "bt_k", "DELETE FROM bt WHERE k IN (5, 100, 150)", 3, 0},
		{"compacting many", "bt_k", "DELETE FROM bt WHERE k % 5 = 1", -1, 0},
		{"posting lists", "bp_k", "DELETE FROM bp WHERE k = 4 OR (k = 9 AND ctid::text LIKE '(0,%') OR k % 6 = 0", -1, -1},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			if n := relBlocks(t, c, st.index); n != 2 {
				t.Fatalf("%s has %d blocks; the test wants one leaf (block 1)", st.index, n)
			}
			before := rawPage(t, c, st.index, 1)
			c.Exec(t, noIdx+st.sql)
			table := strings.TrimSuffix(st.index, "_k")
			c.Exec(t, fmt.Sprintf("VACUUM (INDEX_CLEANUP ON, TRUNCATE OFF) %s", table))
			after := rawPage(t, c, st.index, 1)
			got, ndel, nupd := emulateBtreeVacuum(t, before, after)
			if (st.wantDel >= 0 && ndel != st.wantDel) || (st.wantDel < 0 && ndel < 3) || (st.wantUpdat >= 0 && nupd != st.wantUpdat) || (st.wantUpdat < 0 && nupd == 0) {
				t.Fatalf("VACUUM deleted %d and updated %d items; the step wants %d and %d", ndel, nupd, st.wantDel, st.wantUpdat)
			}
			if d := diffPages(maskLSNChecksum(got), maskLSNChecksum(after)); d != "" {
				t.Errorf("differs from PostgreSQL (%d deleted, %d updated):%s", ndel, nupd, d)
			}
			t.Logf("%d items deleted, %d updated: all 8192 bytes match", ndel, nupd)
		})
	}
}
