package schema

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
)

func TestPageConstants(t *testing.T) {
	for _, c := range []struct {
		name      string
		got, want int
	}{
		{"SizeOfPageHeaderData", SizeOfPageHeaderData, 24},
		{"SizeOfItemIdData", SizeOfItemIdData, 4},
		{"MaxHeapTuplesPerPage", MaxHeapTuplesPerPage, 291},
		{"MaxHeapTupleSize", MaxHeapTupleSize, 8160},
		{"MinHeapTupleSize", MinHeapTupleSize, 24},
		{"MaxIndexTuplesPerPage", MaxIndexTuplesPerPage, 408},
		{"MaxOffsetNumber", int(MaxOffsetNumber), 2048},
		{"PGPageLayoutVersion", PGPageLayoutVersion, 4},
		{"PDHasFreeLines|PDPageFull|PDAllVisible", PDHasFreeLines | PDPageFull | PDAllVisible, PDValidFlagBits},
	} {
		if c.got != c.want {
			t.Errorf("%s = %d, want %d", c.name, c.got, c.want)
		}
	}
	if !OffsetNumberIsValid(1) || !OffsetNumberIsValid(MaxOffsetNumber) || OffsetNumberIsValid(0) || OffsetNumberIsValid(MaxOffsetNumber+1) {
		t.Error("OffsetNumberIsValid disagrees with off.h: valid is 1..MaxOffsetNumber")
	}
}

// handPage is an initialized heap page built byte by byte (not with the
// accessors under test): lower 32 (2 line pointers), upper 8112, special
// 8192, size/version 0x2004, LSN 1/2345678, checksum 0xBEEF, flags
// PD_ALL_VISIBLE, prune xid 777.
func handPage() Page {
	p := make(Page, BLCKSZ)
	copy(p[0:], []byte{0x01, 0, 0, 0}) // xlogid 1
	copy(p[4:], []byte{0x78, 0x56, 0x34, 0x02})
	copy(p[8:], []byte{0xEF, 0xBE})
	copy(p[10:], []byte{0x04, 0x00})
	copy(p[12:], []byte{32, 0})
	copy(p[14:], []byte{0xB0, 0x1F}) // 8112
	copy(p[16:], []byte{0x00, 0x20}) // 8192
	copy(p[18:], []byte{0x04, 0x20})
	copy(p[20:], []byte{0x09, 0x03, 0, 0}) // 777
	// lp 1: off 8152, NORMAL, len 40 -> 8152 | 1<<15 | 40<<17
	binary.LittleEndian.PutUint32(p[24:], 8152|1<<15|40<<17)
	// lp 2: off 8112, NORMAL, len 33
	binary.LittleEndian.PutUint32(p[28:], 8112|1<<15|33<<17)
	for i := 8112; i < 8192; i++ {
		p[i] = byte(i)
	}
	return p
}

func TestPageHeaderAccessors(t *testing.T) {
	p := handPage()
	if got, want := p.LSN(), LSN(0x1_02345678); got != want {
		t.Errorf("LSN = %s, want %s", got, want)
	}
	if p.Checksum() != 0xBEEF || p.Flags() != PDAllVisible || p.Lower() != 32 || p.Upper() != 8112 ||
		p.Special() != 8192 || p.PageSize() != 8192 || p.Version() != 4 || p.PruneXid() != 777 ||
		p.PageSizeVersion() != 0x2004 || p.SpecialSize() != 0 {
		t.Errorf("header = checksum %#x flags %#x lower %d upper %d special %d size %d version %d prune %d",
			p.Checksum(), p.Flags(), p.Lower(), p.Upper(), p.Special(), p.PageSize(), p.Version(), p.PruneXid())
	}
	if p.IsNew() || p.IsEmpty() || !p.IsAllVisible() || p.IsFull() || p.HasFreeLinePointers() {
		t.Error("predicates wrong on hand page")
	}
	if got := p.MaxOffsetNumber(); got != 2 {
		t.Errorf("MaxOffsetNumber = %d, want 2", got)
	}

	// Setters write exactly the documented bytes.
	q := make(Page, BLCKSZ)
	q.SetLSN(0xAABBCCDD_11223344)
	q.SetChecksum(0x0102)
	q.SetFlags(0x0007)
	q.SetLower(0x0304)
	q.SetUpper(0x0506)
	q.SetSpecial(0x0708)
	q.SetPageSizeAndVersion(8192, 4)
	q.SetPruneXid(0x0A0B0C0D)
	want := []byte{
		0xDD, 0xCC, 0xBB, 0xAA, 0x44, 0x33, 0x22, 0x11, // xlogid, xrecoff
		0x02, 0x01, 0x07, 0x00, 0x04, 0x03, 0x06, 0x05,
		0x08, 0x07, 0x04, 0x20, 0x0D, 0x0C, 0x0B, 0x0A,
	}
	if !bytes.Equal(q[:24], want) {
		t.Errorf("header bytes\n got % x\nwant % x", q[:24], want)
	}
	if !bytes.Equal(q[24:], make([]byte, BLCKSZ-24)) {
		t.Error("setters wrote past the header")
	}

	q.ClearHasFreeLinePointers()
	q.ClearFull()
	q.ClearAllVisible()
	if q.Flags() != 0 {
		t.Errorf("flags after clears = %#x", q.Flags())
	}
	q.SetHasFreeLinePointers()
	q.SetFull()
	if q.Flags() != PDHasFreeLines|PDPageFull || !q.HasFreeLinePointers() || !q.IsFull() || q.IsAllVisible() {
		t.Errorf("flags = %#x", q.Flags())
	}
	q.SetAllVisible()
	if q.Flags() != 7 {
		t.Errorf("flags = %#x", q.Flags())
	}

	// PageGetMaxOffsetNumber: 0 at or below the header, floor otherwise.
	for _, c := range []struct {
		lower uint16
		want  OffsetNumber
	}{{0, 0}, {23, 0}, {24, 0}, {27, 0}, {28, 1}, {31, 1}, {8192, 2042}} {
		q.SetLower(c.lower)
		if got := q.MaxOffsetNumber(); got != c.want {
			t.Errorf("lower %d: MaxOffsetNumber = %d, want %d", c.lower, got, c.want)
		}
	}
	// PageGetSpecialSize: page size from the header minus pd_special.
	q.SetSpecial(8176)
	if q.SpecialSize() != 16 {
		t.Errorf("SpecialSize = %d, want 16", q.SpecialSize())
	}
}

func TestItemIdBits(t *testing.T) {
	id := NewItemId(8152, LPNormal, 40)
	if uint32(id) != 8152|1<<15|40<<17 {
		t.Fatalf("NewItemId = %#x", uint32(id))
	}
	if id.Off() != 8152 || id.Flags() != LPNormal || id.Len() != 40 || !id.IsNormal() || !id.IsUsed() || !id.HasStorage() {
		t.Errorf("decoded %v", id)
	}
	// Fields truncate like C bit fields.
	if got := NewItemId(0xFFFF, 7, 0xFFFF); got.Off() != 0x7FFF || got.Flags() != 3 || got.Len() != 0x7FFF || uint32(got) != 0xFFFFFFFF {
		t.Errorf("truncation: %v (%#x)", got, uint32(got))
	}
	id.SetOff(100)
	id.SetLen(7)
	if id.Off() != 100 || id.Len() != 7 || id.Flags() != LPNormal {
		t.Errorf("after SetOff/SetLen: %v", id)
	}
	id.MarkDead()
	if !id.IsDead() || id.Off() != 100 || id.Len() != 7 {
		t.Errorf("MarkDead must keep off and len: %v", id)
	}
	id.SetDead()
	if uint32(id) != 3<<15 || id.HasStorage() {
		t.Errorf("SetDead = %#x", uint32(id))
	}
	id.SetRedirect(17)
	if !id.IsRedirected() || id.Redirect() != 17 || id.Len() != 0 || uint32(id) != 17|2<<15 {
		t.Errorf("SetRedirect = %v", id)
	}
	id.SetNormal(8000, 123)
	if uint32(id) != 8000|1<<15|123<<17 {
		t.Errorf("SetNormal = %v", id)
	}
	id.SetFlags(LPUnused)
	if id.IsUsed() || !id.HasStorage() {
		t.Errorf("SetFlags(LP_UNUSED) = %v", id)
	}
	id.SetUnused()
	if id != 0 {
		t.Errorf("SetUnused = %v", id)
	}
}

func TestItemIDAndItem(t *testing.T) {
	p := handPage()
	if got := p.ItemID(1); got.Off() != 8152 || got.Len() != 40 || !got.IsNormal() {
		t.Errorf("ItemID(1) = %v", got)
	}
	if got := p.ItemID(2); got.Off() != 8112 || got.Len() != 33 {
		t.Errorf("ItemID(2) = %v", got)
	}
	// Slots past maxoff are still readable (PageGetItemId does not check),
	// invalid or out-of-buffer slots read as unused.
	if got := p.ItemID(3); got != 0 {
		t.Errorf("ItemID(3) = %v", got)
	}
	if p.ItemID(0) != 0 || p.ItemID(MaxOffsetNumber) != 0 || p.ItemID(2043) != 0 || uint32(p.ItemID(2042)) != binary.LittleEndian.Uint32(p[8188:]) {
		t.Error("invalid slot not read as 0")
	}
	if err := p.SetItemID(0, 1); err == nil {
		t.Error("SetItemID(0) succeeded")
	}
	if err := p.SetItemID(2043, 1); !errors.Is(err, ErrCorruptPage) {
		t.Errorf("SetItemID(2043) = %v", err)
	}
	if err := p.SetItemID(2042, NewItemId(1, 2, 3)); err != nil {
		t.Errorf("SetItemID(2042): %v", err)
	} else if got := binary.LittleEndian.Uint32(p[8188:]); got != 1|2<<15|3<<17 {
		t.Errorf("slot 2042 = %#x", got)
	}

	p = handPage()
	item, err := p.Item(1)
	if err != nil {
		t.Fatal(err)
	}
	if len(item) != 40 || cap(item) != 40 || item[0] != byte(8152%256) || &item[0] != &p[8152] {
		t.Errorf("Item(1) = %d bytes starting %#x, want the 40 bytes at 8152", len(item), item[0])
	}
	if item, err := p.Item(2); err != nil || len(item) != 33 || &item[0] != &p[8112] {
		t.Errorf("Item(2) = %d bytes, %v", len(item), err)
	}

	bad := []struct {
		name  string
		off   OffsetNumber
		edit  func(Page)
		where string
	}{
		{"zero", 0, nil, "out of range"},
		{"past maxoff", 3, nil, "out of range"},
		{"no storage", 1, func(p Page) { _ = p.SetItemID(1, NewItemId(8152, LPDead, 0)) }, "no storage"},
		{"redirect", 1, func(p Page) { _ = p.SetItemID(1, NewItemId(2, LPRedirect, 0)) }, "no storage"},
		{"below upper", 2, func(p Page) { _ = p.SetItemID(2, NewItemId(8000, LPNormal, 33)) }, "outside"},
		{"past special", 1, func(p Page) { _ = p.SetItemID(1, NewItemId(8160, LPNormal, 40)) }, "outside"},
		{"past page", 1, func(p Page) { p.SetSpecial(0xFFFF); _ = p.SetItemID(1, NewItemId(8160, LPNormal, 0x7FFF)) }, "outside"},
	}
	for _, c := range bad {
		p := handPage()
		if c.edit != nil {
			c.edit(p)
		}
		_, err := p.Item(c.off)
		var pe *PageError
		if !errors.As(err, &pe) || !errors.Is(err, ErrCorruptPage) || pe.Offset != c.off || !strings.Contains(err.Error(), c.where) {
			t.Errorf("%s: Item(%d) error = %v", c.name, c.off, err)
		}
	}
	if _, err := Page(make([]byte, 10)).Item(1); err == nil {
		t.Error("Item on a 10-byte buffer succeeded")
	}
}

func TestValidate(t *testing.T) {
	if err := handPage().Validate(); err != nil {
		t.Fatalf("hand page: %v", err)
	}
	if err := Page(make([]byte, BLCKSZ)).Validate(); err != nil {
		t.Errorf("all-zero page: %v", err)
	}
	cases := []struct {
		name string
		edit func(Page) Page
		want string
	}{
		{"short", func(p Page) Page { return p[:BLCKSZ-1] }, "8191 bytes"},
		{"new not zero", func(p Page) Page { p = make(Page, BLCKSZ); p[100] = 1; return p }, "non-zero byte 0x01 at 100"},
		{"bad flags", func(p Page) Page { p.SetFlags(0x8); return p }, "invalid bits"},
		{"lower below header", func(p Page) Page { p.SetLower(20); return p }, "lower = 20"},
		{"lower above upper", func(p Page) Page { p.SetLower(8120); return p }, "lower = 8120"},
		{"upper above special", func(p Page) Page { p.SetSpecial(8000); return p }, "special = 8000"},
		{"special past page", func(p Page) Page { p.SetSpecial(8200); return p }, "special = 8200"},
		{"special unaligned", func(p Page) Page { p.SetSpecial(8180); return p }, "not MAXALIGNed"},
		{"size", func(p Page) Page { p.SetPageSizeAndVersion(4096, 4); return p }, "page size 4096"},
		{"version", func(p Page) Page { p.SetPageSizeAndVersion(8192, 3); return p }, "version 3"},
	}
	for _, c := range cases {
		err := c.edit(handPage()).Validate()
		if !errors.Is(err, ErrCorruptPage) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: Validate = %v, want an ErrCorruptPage naming %q", c.name, err, c.want)
		}
	}
}

func TestPageErrorKinds(t *testing.T) {
	other := errors.New("other kind")
	e := &PageError{Op: "X", Offset: 3, Kind: other, Reason: "why"}
	if !errors.Is(e, other) || errors.Is(e, ErrCorruptPage) {
		t.Error("Kind not honoured by Is")
	}
	if got := e.Error(); got != "X: other kind at offset 3: why" {
		t.Errorf("Error() = %q", got)
	}
	e = &PageError{Op: "Y", Reason: "r"}
	if !errors.Is(e, ErrCorruptPage) || e.Error() != "Y: corrupt page: r" {
		t.Errorf("default kind: %q", e.Error())
	}
}
