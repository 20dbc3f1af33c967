package redo

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/pagemill/pagemill/internal/pgtest"
	"github.com/pagemill/pagemill/schema"
)

// Hand-made pages. The helpers are prefixed mt to stay clear of other test
// files of the package.

const mtBlk = schema.BlockNumber(0x12345)

// mtPageInit is PageInit(page, BLCKSZ, specialSize).
func mtPageInit(specialSize int) []byte {
	p := make([]byte, schema.BLCKSZ)
	special := schema.BLCKSZ - maskAlign(specialSize)
	binary.LittleEndian.PutUint16(p[12:], 24)
	binary.LittleEndian.PutUint16(p[14:], uint16(special))
	binary.LittleEndian.PutUint16(p[16:], uint16(special))
	binary.LittleEndian.PutUint16(p[18:], 0x2004)
	return p
}

func mtU16(p []byte, off int) uint16 { return binary.LittleEndian.Uint16(p[off:]) }
func mtU32(p []byte, off int) uint32 { return binary.LittleEndian.Uint32(p[off:]) }
func mtPut16(p []byte, off int, v uint16) {
	binary.LittleEndian.PutUint16(p[off:], v)
}
func mtPut32(p []byte, off int, v uint32) {
	binary.LittleEndian.PutUint32(p[off:], v)
}

func mtLP(lpOff, flags, length int) uint32 {
	return uint32(lpOff) | uint32(flags)<<15 | uint32(length)<<17
}

// mtAddItem appends item with lp_flags flags, as PageAddItem does (the
// MAXALIGN padding keeps whatever was there), and returns its offset number
// and the item's page offset.
func mtAddItem(p, item []byte, flags int) (off, at int) {
	lower, upper := int(mtU16(p, 12)), int(mtU16(p, 14))
	upper -= maskAlign(len(item))
	copy(p[upper:], item)
	mtPut32(p, lower, mtLP(upper, flags, len(item)))
	mtPut16(p, 12, uint16(lower+4))
	mtPut16(p, 14, uint16(upper))
	return (lower-24)/4 + 1, upper
}

// mtAddLP appends a line pointer without storage (redirect, dead, unused).
func mtAddLP(p []byte, lp uint32) int {
	lower := int(mtU16(p, 12))
	mtPut32(p, lower, lp)
	mtPut16(p, 12, uint16(lower+4))
	return (lower-24)/4 + 1
}

// mtHeapTuple is a heap tuple with t_hoff 24 and payload after it.
func mtHeapTuple(xmin, xmax, cid uint32, ctidBlk uint32, ctidOff, infomask2, infomask uint16, payload string) []byte {
	t := make([]byte, 24+len(payload))
	binary.LittleEndian.PutUint32(t[0:], xmin)
	binary.LittleEndian.PutUint32(t[4:], xmax)
	binary.LittleEndian.PutUint32(t[8:], cid)
	binary.LittleEndian.PutUint16(t[12:], uint16(ctidBlk>>16))
	binary.LittleEndian.PutUint16(t[14:], uint16(ctidBlk))
	binary.LittleEndian.PutUint16(t[16:], ctidOff)
	binary.LittleEndian.PutUint16(t[18:], infomask2)
	binary.LittleEndian.PutUint16(t[20:], infomask)
	t[22] = 24
	copy(t[24:], payload)
	return t
}

// mtHeapPage is a heap page with, in order: an unfrozen tuple (odd length,
// so with padding), a frozen tuple, a speculative insertion, a redirect, a
// dead line pointer, an unused line pointer, and a tuple of aligned length.
type mtHeap struct {
	page                            []byte
	unfrozen, frozen, spec, aligned int // page offsets of the tuples
	specOff, deadOff                int // offset numbers
	unfrozenLen, frozenLen          int
}

func mtHeapPage() mtHeap {
	var h mtHeap
	h.page = mtPageInit(0)
	t1 := mtHeapTuple(1000, 0, 0, uint32(mtBlk), 1, 3, 0x0002, "hello, world") // 36 bytes
	h.unfrozenLen = len(t1)
	_, h.unfrozen = mtAddItem(h.page, t1, schema.LPNormal)
	t2 := mtHeapTuple(2, 0, 0, uint32(mtBlk), 2, 3, 0x0300, "frozen!") // 31 bytes
	h.frozenLen = len(t2)
	_, h.frozen = mtAddItem(h.page, t2, schema.LPNormal)
	t3 := mtHeapTuple(1001, 0, 0, uint32(mtBlk), 3, 3, 0, "speculative")
	h.specOff, h.spec = mtAddItem(h.page, t3, schema.LPNormal)
	mtAddLP(h.page, mtLP(1, 2, 0)) // redirect to 1
	h.deadOff = mtAddLP(h.page, mtLP(0, 3, 0))
	mtAddLP(h.page, 0)
	_, h.aligned = mtAddItem(h.page, mtHeapTuple(1002, 0, 0, uint32(mtBlk), 7, 3, 0, "12345678"), schema.LPNormal)
	return h
}

// mtBtreePage is a btree page (16-byte special space) with three index
// tuples of 16 bytes.
func mtBtreePage(btpoFlags uint16) []byte {
	p := mtPageInit(16)
	for i := range 3 {
		it := make([]byte, 16)
		binary.LittleEndian.PutUint16(it[2:], uint16(i+1)) // t_tid block lo
		binary.LittleEndian.PutUint16(it[4:], 1)           // t_tid offset
		binary.LittleEndian.PutUint16(it[6:], 16)          // t_info
		copy(it[8:], fmt.Sprintf("key%05d", i))
		mtAddItem(p, it, schema.LPNormal)
	}
	s := schema.BLCKSZ - 16
	mtPut32(p, s+4, 77) // btpo_next
	mtPut16(p, s+12, btpoFlags)
	return p
}

// mtAssertHoleCompared sets pd_lower of a copy of p to lower, with which
// the rmgr's mask must leave the hole alone, and checks that setting byte
// off (in the hole) to v is a difference.
func mtAssertHoleCompared(t *testing.T, rmid schema.RmgrID, p []byte, lower uint16, off int, v byte) {
	t.Helper()
	a := slices.Clone(p)
	mtPut16(a, 12, lower)
	b := slices.Clone(a)
	b[off] = v
	mtAssertMaskedEqual(t, rmid, a, b, off)
}

// mtAssertMaskedEqual masks copies of a and b with rmid's mask and requires
// them equal (want < 0) or first different at want.
func mtAssertMaskedEqual(t *testing.T, rmid schema.RmgrID, a, b []byte, want int) {
	t.Helper()
	off, eq, err := CompareMasked(rmid, mtBlk, a, b)
	if err != nil {
		t.Fatalf("CompareMasked: %v", err)
	}
	if want < 0 {
		if !eq {
			t.Fatalf("pages differ after %s masking at %d: %#x vs %#x", rmid, off, a[off], b[off])
		}
		return
	}
	if eq {
		t.Fatalf("pages equal after %s masking, want a difference at %d", rmid, want)
	}
	if off != want {
		t.Fatalf("first difference after %s masking at %d, want %d", rmid, off, want)
	}
}

func mtMasked(t *testing.T, rmid schema.RmgrID, p []byte) []byte {
	t.Helper()
	q := slices.Clone(p)
	if err := MaskPage(rmid, q, mtBlk); err != nil {
		t.Fatalf("MaskPage(%s): %v", rmid, err)
	}
	return q
}

func TestMaskedRmgrs(t *testing.T) {
	want := []schema.RmgrID{schema.RmgrHeap2, schema.RmgrHeap, schema.RmgrBtree, schema.RmgrHash,
		schema.RmgrGin, schema.RmgrGist, schema.RmgrSequence, schema.RmgrSPGist, schema.RmgrBRIN, schema.RmgrGeneric}
	if got := MaskedRmgrs(); !slices.Equal(got, want) {
		t.Fatalf("MaskedRmgrs = %v, want %v", got, want)
	}
	for id := range 256 {
		rm := schema.RmgrID(id)
		if HasMask(rm) != slices.Contains(want, rm) {
			t.Errorf("HasMask(%s) = %v", rm, HasMask(rm))
		}
	}
	p := mtHeapPage().page
	q := slices.Clone(p)
	for _, rm := range []schema.RmgrID{schema.RmgrXLOG, schema.RmgrTransaction, schema.RmgrStorage, schema.RmgrMinCustom} {
		if err := MaskPage(rm, q, 0); !errors.Is(err, ErrNoMask) {
			t.Errorf("MaskPage(%s) = %v, want ErrNoMask", rm, err)
		}
	}
	if !bytes.Equal(p, q) {
		t.Fatal("MaskPage without a mask changed the page")
	}
	// CompareMasked without a mask compares raw bytes, as PostgreSQL does.
	q[100]++
	if off, eq, err := CompareMasked(schema.RmgrXLOG, 0, p, q); err != nil || eq || off != 100 {
		t.Fatalf("CompareMasked(XLOG) = %d, %v, %v", off, eq, err)
	}
}

func TestComparePages(t *testing.T) {
	a := make([]byte, 8192)
	for i := range a {
		a[i] = byte(i * 7)
	}
	if off, eq := ComparePages(a, slices.Clone(a)); !eq || off != -1 {
		t.Fatalf("equal pages: %d, %v", off, eq)
	}
	for _, at := range []int{0, 1, 7, 8, 9, 4095, 8183, 8184, 8191} {
		b := slices.Clone(a)
		b[at] ^= 0x10
		b[min(at+3, 8191)] ^= 0x01 // a later difference must not be reported
		if off, eq := ComparePages(a, b); eq || off != at {
			t.Errorf("difference at %d: got %d, %v", at, off, eq)
		}
	}
	if off, eq := ComparePages(a, a[:100]); eq || off != 100 {
		t.Errorf("prefix: %d, %v", off, eq)
	}
	if off, eq := ComparePages(nil, nil); !eq || off != -1 {
		t.Errorf("nil: %d, %v", off, eq)
	}
}

// TestMaskGenericHelpers covers bufmask.c through seq_mask and
// generic_mask, which are exactly mask_page_lsn_and_checksum plus
// mask_unused_space, and heap_mask for mask_page_hint_bits.
func TestMaskGenericHelpers(t *testing.T) {
	base := mtHeapPage().page
	for _, rm := range []schema.RmgrID{schema.RmgrSequence, schema.RmgrGeneric, schema.RmgrHeap} {
		t.Run(rm.String(), func(t *testing.T) {
			b := slices.Clone(base)
			mtPut32(b, 0, 0x1)          // pd_lsn xlogid
			mtPut32(b, 4, 0xDEADBEEF)   // pd_lsn xrecoff
			mtPut16(b, 8, 0xABCD)       // pd_checksum
			b[int(mtU16(b, 12))+5] = 99 // the hole
			b[int(mtU16(b, 14))-1] = 42 // last byte of the hole
			mtAssertMaskedEqual(t, rm, base, b, -1)

			m := mtMasked(t, rm, b)
			for i := range 10 {
				if m[i] != 0 {
					t.Fatalf("byte %d of the LSN/checksum = %#x after masking", i, m[i])
				}
			}
			for i := int(mtU16(b, 12)); i < int(mtU16(b, 14)); i++ {
				if m[i] != 0 {
					t.Fatalf("hole byte %d = %#x after masking", i, m[i])
				}
			}

			// Hint bits in the header: masked by heap_mask, not by seq_mask
			// or generic_mask.
			for _, hint := range []struct {
				off int
				v   uint16
			}{{10, schema.PDAllVisible}, {10, schema.PDPageFull}, {10, schema.PDHasFreeLines}, {20, 0x1234}, {22, 0x0001}} {
				c := slices.Clone(base)
				mtPut16(c, hint.off, mtU16(c, hint.off)|hint.v)
				want := -1
				if rm != schema.RmgrHeap {
					want = hint.off
					if hint.v&0xFF == 0 {
						want++
					}
				}
				mtAssertMaskedEqual(t, rm, base, c, want)
			}
			// pd_flags bits other than the three hints are compared.
			c := slices.Clone(base)
			c[10] |= 0x08
			mtAssertMaskedEqual(t, rm, base, c, 10)
			// So are pd_lower, pd_upper, pd_special and the version.
			for _, off := range []int{12, 14, 16, 18} {
				c := slices.Clone(base)
				c[off] ^= 0x08
				// A changed pd_lower/pd_upper also moves the hole, so the
				// first difference need not be at off; an error from
				// mask_unused_space is fine too.
				if _, eq, _ := CompareMasked(rm, mtBlk, base, c); eq {
					t.Errorf("header byte %d changed but pages compare equal", off)
				}
			}
		})
	}
}

func TestMaskHeap(t *testing.T) {
	h := mtHeapPage()
	base := h.page

	// Everything heap_mask ignores, all at once.
	b := slices.Clone(base)
	mtPut32(b, 0, 7)
	mtPut32(b, 4, 0x1000)
	mtPut16(b, 8, 0x7777)
	b[10] |= schema.PDAllVisible | schema.PDPageFull | schema.PDHasFreeLines
	mtPut32(b, 20, 12345)                                            // pd_prune_xid
	b[int(mtU16(b, 12))] = 0xEE                                      // hole
	mtPut16(b, h.unfrozen+20, mtU16(b, h.unfrozen+20)|0x0100|0x0800) // XMIN_COMMITTED | XMAX_INVALID
	mtPut16(b, h.unfrozen+20, mtU16(b, h.unfrozen+20)|0x0020|0x2000) // COMBOCID | UPDATED
	mtPut32(b, h.unfrozen+8, 5)                                      // t_cid
	b[h.unfrozen+h.unfrozenLen] = 0xAA                               // padding (36 -> 40)
	b[h.unfrozen+h.unfrozenLen+3] = 0xAB                             //
	mtPut16(b, h.frozen+20, mtU16(b, h.frozen+20)|0x0400)            // frozen: XMAX_COMMITTED
	b[h.frozen+h.frozenLen] = 0x55                                   // padding (31 -> 32)
	mtPut16(b, h.spec+12, 0)                                         // speculative token 77
	mtPut16(b, h.spec+14, 77)                                        //
	mtPut16(b, h.spec+16, 0xFFFE)                                    //
	mtAssertMaskedEqual(t, schema.RmgrHeap, base, b, -1)
	mtAssertMaskedEqual(t, schema.RmgrHeap2, base, b, -1)

	// Real differences, and the offset reported for each.
	cases := []struct {
		name string
		mod  func(p []byte)
		want int
	}{
		{"tuple data", func(p []byte) { p[h.unfrozen+30]++ }, h.unfrozen + 30},
		{"xmin", func(p []byte) { p[h.unfrozen]++ }, h.unfrozen},
		{"xmax", func(p []byte) { p[h.unfrozen+4]++ }, h.unfrozen + 4},
		{"ctid not speculative", func(p []byte) { p[h.unfrozen+16]++ }, h.unfrozen + 16},
		{"infomask2 HOT", func(p []byte) { p[h.unfrozen+19] |= 0x40 }, h.unfrozen + 19},
		{"infomask low bits", func(p []byte) { p[h.unfrozen+20] |= 0x01 }, h.unfrozen + 20},
		{"t_hoff", func(p []byte) { p[h.unfrozen+22]++ }, h.unfrozen + 22},
		{"frozen tuple UPDATED", func(p []byte) { p[h.frozen+21] |= 0x20 }, h.frozen + 21},
		{"frozen tuple lock bit", func(p []byte) { p[h.frozen+20] |= 0x10 }, h.frozen + 20},
		{"frozen to unfrozen", func(p []byte) { p[h.frozen+21] &^= 0x01 }, h.frozen + 21},
		{"line pointer flags", func(p []byte) { p[24+4*(h.deadOff-1)+1] &^= 0x80 }, 24 + 4*(h.deadOff-1) + 1},
		{"line pointer length", func(p []byte) { p[24+3]++ }, 24 + 3},
		{"pd_lower", func(p []byte) { p[12] += 4 }, 12},
		{"aligned tuple last byte", func(p []byte) { p[h.aligned+31]++ }, h.aligned + 31},
	}
	for _, tc := range cases {
		c := slices.Clone(base)
		tc.mod(c)
		t.Run(tc.name, func(t *testing.T) { mtAssertMaskedEqual(t, schema.RmgrHeap, base, c, tc.want) })
	}

	// A speculative token is replaced by (blkno, offnum); a non-speculative
	// ctid is kept.
	m := mtMasked(t, schema.RmgrHeap, b)
	if got := [3]uint16{mtU16(m, h.spec+12), mtU16(m, h.spec+14), mtU16(m, h.spec+16)}; got != [3]uint16{0x1, 0x2345, uint16(h.specOff)} {
		t.Errorf("speculative ctid masked to %v", got)
	}
	if im := mtU16(m, h.unfrozen+20); im != 0x0002 {
		t.Errorf("unfrozen infomask masked to %#x, want 0x0002", im)
	}
	if im := mtU16(m, h.frozen+20); im != 0x0300 {
		t.Errorf("frozen infomask masked to %#x, want 0x0300", im)
	}
	// Masked with another block number, the speculative ctid differs.
	other := slices.Clone(b)
	if err := MaskHeap(other, mtBlk+1); err != nil {
		t.Fatal(err)
	}
	if off, eq := ComparePages(m, other); eq || off != h.spec+14 {
		t.Errorf("blkno not used for the speculative ctid: %d, %v", off, eq)
	}
	// The padding after the frozen tuple is only up to MAXALIGN: the byte
	// after that belongs to the next item and is compared.
	if h.frozen+32 != h.unfrozen {
		t.Fatalf("layout: frozen at %d, unfrozen at %d", h.frozen, h.unfrozen)
	}

	// A redirect or dead line pointer has no tuple header: heap_mask does
	// not touch "its" bytes (offset 1 / 0 would be the page header).
	c := mtMasked(t, schema.RmgrHeap, base)
	if c[11] != base[11] || c[12] != base[12] {
		t.Error("masking a redirect touched the header")
	}
}

// TestMaskHeapVMPage: heap_mask on a visibility-map page (Heap2 VISIBLE
// masks every block with the record's mask) hides the whole bitmap.
func TestMaskHeapVMPage(t *testing.T) {
	a := mtPageInit(0)
	b := slices.Clone(a)
	for i := 24; i < 8192; i += 3 {
		b[i] = byte(i)
	}
	mtAssertMaskedEqual(t, schema.RmgrHeap2, a, b, -1)
}

func TestMaskBtree(t *testing.T) {
	const special = 8192 - 16
	leaf := mtBtreePage(schema.BTPLeaf)
	inner := mtBtreePage(0)
	inner[special+8] = 1 // btpo_level

	dead := func(p []byte) { p[24+4+1] |= 0x80; p[24+4+2] |= 0x01 } // item 2 LP_DEAD
	for _, tc := range []struct {
		name string
		page []byte
		mod  func(p []byte)
		want int
	}{
		{"leaf LP_DEAD", leaf, dead, -1},
		{"inner LP_DEAD", inner, dead, 24 + 4 + 2},
		{"leaf BTP_HAS_GARBAGE", leaf, func(p []byte) { p[special+12] |= 0x40 }, -1},
		{"inner BTP_HAS_GARBAGE", inner, func(p []byte) { p[special+12] |= 0x40 }, -1},
		{"BTP_SPLIT_END", leaf, func(p []byte) { p[special+12] |= 0x20 }, -1},
		{"btpo_cycleid", leaf, func(p []byte) { mtPut16(p, special+14, 0xBEEF) }, -1},
		{"hint bits and LSN", leaf, func(p []byte) { p[10] |= 7; p[3] = 9; p[200] = 1 }, -1},
		{"BTP_INCOMPLETE_SPLIT", leaf, func(p []byte) { p[special+12] |= 0x80 }, special + 12},
		{"BTP_HALF_DEAD", leaf, func(p []byte) { p[special+12] |= 0x10 }, special + 12},
		{"BTP_HAS_FULLXID", leaf, func(p []byte) { p[special+13] |= 0x01 }, special + 13},
		{"btpo_next", leaf, func(p []byte) { p[special+4]++ }, special + 4},
		{"btpo_level", inner, func(p []byte) { p[special+8]++ }, special + 8},
		{"key byte", leaf, func(p []byte) { p[special-3]++ }, special - 3},
		{"leaf lp_len", leaf, func(p []byte) { p[24+3] ^= 0x02 }, 24 + 3},
		{"leaf lp_off", leaf, func(p []byte) { p[24] ^= 0x08 }, 24},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := slices.Clone(tc.page)
			tc.mod(c)
			mtAssertMaskedEqual(t, schema.RmgrBtree, tc.page, c, tc.want)
		})
	}
	// Leaf flags become LP_UNUSED; lp_off and lp_len survive.
	m := mtMasked(t, schema.RmgrBtree, leaf)
	for off := 1; off <= 3; off++ {
		lp, orig := mtU32(m, 24+4*(off-1)), mtU32(leaf, 24+4*(off-1))
		if lp != orig&^(3<<15) {
			t.Errorf("line pointer %d masked to %#x from %#x", off, lp, orig)
		}
	}
	if mtU16(m, special+12) != schema.BTPLeaf || mtU16(m, special+14) != 0 {
		t.Errorf("special masked to flags %#x cycle %#x", mtU16(m, special+12), mtU16(m, special+14))
	}
	// Heap's infomask rule does not apply to btree pages, and vice versa.
	c := slices.Clone(leaf)
	c[24+4+2] |= 0x01
	if _, eq, _ := CompareMasked(schema.RmgrHeap, mtBlk, leaf, c); eq {
		t.Error("heap_mask hid an lp_flags difference")
	}
}

func TestMaskGist(t *testing.T) {
	p := mtPageInit(16)
	s := 8192 - 16
	it := make([]byte, 16)
	copy(it[8:], "gistkey!")
	mtAddItem(p, it, schema.LPNormal)
	mtPut16(p, s+12, gistFLeaf)
	mtPut16(p, s+14, 0xFF81) // GIST_PAGE_ID

	for _, tc := range []struct {
		name string
		mod  func(p []byte)
		want int
	}{
		{"NSN", func(p []byte) { mtPut32(p, s, 1); mtPut32(p, s+4, 0x5000) }, -1},
		{"F_FOLLOW_RIGHT", func(p []byte) { p[s+12] |= gistFFollowRight }, -1},
		{"F_HAS_GARBAGE", func(p []byte) { p[s+12] |= gistFHasGarbage }, -1},
		{"leaf LP_DEAD", func(p []byte) { p[24+2] |= 1 }, -1},
		{"leaf LP_UNUSED", func(p []byte) { p[24+1] &^= 0x80 }, -1},
		{"F_TUPLES_DELETED", func(p []byte) { p[s+12] |= 1 << 2 }, s + 12},
		{"rightlink", func(p []byte) { p[s+8]++ }, s + 8},
		{"page id", func(p []byte) { p[s+14]++ }, s + 14},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := slices.Clone(p)
			tc.mod(c)
			mtAssertMaskedEqual(t, schema.RmgrGist, p, c, tc.want)
		})
	}
	if m := mtMasked(t, schema.RmgrGist, p); mtU16(m, s+12) != gistFLeaf|gistFFollowRight {
		t.Errorf("gist flags masked to %#x, want F_LEAF|F_FOLLOW_RIGHT", mtU16(m, s+12))
	}
	// Internal page: line pointer flags are compared.
	q := slices.Clone(p)
	mtPut16(q, s+12, 0)
	c := slices.Clone(q)
	c[24+2] |= 0x01
	mtAssertMaskedEqual(t, schema.RmgrGist, q, c, 26)
}

func TestMaskGin(t *testing.T) {
	p := mtPageInit(8)
	s := 8192 - 8
	mtAddItem(p, []byte("gin entry tuple!"), schema.LPNormal)
	mtPut16(p, s+6, 1<<1) // GIN_LEAF

	c := slices.Clone(p)
	c[100] = 1 // hole
	c[10] |= schema.PDAllVisible
	mtAssertMaskedEqual(t, schema.RmgrGin, p, c, -1)
	c[s-1]++ // data
	mtAssertMaskedEqual(t, schema.RmgrGin, p, c, s-1)
	// LP flags are not masked on GIN pages.
	c = slices.Clone(p)
	c[26] |= 0x01
	mtAssertMaskedEqual(t, schema.RmgrGin, p, c, 26)

	// A deleted page: everything after the header, and pd_lower/pd_upper.
	d := slices.Clone(p)
	mtPut16(d, s+6, ginFDeleted)
	e := slices.Clone(d)
	for i := 24; i < 8192; i++ {
		e[i] ^= 0x5A
	}
	mtPut16(e, s+6, ginFDeleted|1) // still deleted
	mtPut16(e, 12, 40)
	mtPut16(e, 14, 4000)
	mtAssertMaskedEqual(t, schema.RmgrGin, d, e, -1)
	e[19]++ // pd_pagesize_version is kept
	mtAssertMaskedEqual(t, schema.RmgrGin, d, e, 19)

	// pd_lower not set (data pages in old versions): the hole is compared.
	mtAssertHoleCompared(t, schema.RmgrGin, p, 24, 30, 1)
}

func TestMaskSPGist(t *testing.T) {
	p := mtPageInit(8)
	mtAddItem(p, []byte("spgist tuple 16b"), schema.LPNormal)
	c := slices.Clone(p)
	c[40] = 3
	c[10] |= schema.PDPageFull
	c[26] |= 0x01 // LP flags are compared
	mtAssertMaskedEqual(t, schema.RmgrSPGist, p, c, 26)
	c[26] = p[26]
	mtAssertMaskedEqual(t, schema.RmgrSPGist, p, c, -1)
	// pd_lower below the header: no hole masking, and no error.
	mtAssertHoleCompared(t, schema.RmgrSPGist, p, 0, 40, 9)
}

func TestMaskBRIN(t *testing.T) {
	for _, tc := range []struct {
		name     string
		typ      uint16
		lower    uint16
		holeMask bool
	}{
		{"regular", brinPageTypeRegular, 28, true},
		{"meta", brinPageTypeMeta, 48, true},
		{"meta without pd_lower", brinPageTypeMeta, 24, false},
		{"revmap", 0xF092, 24, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := mtPageInit(8)
			s := 8192 - 8
			mtPut16(p, 12, tc.lower)
			mtPut16(p, s+6, tc.typ)
			c := slices.Clone(p)
			mtPut16(c, s+4, brinEvacuatePage)
			c[10] |= schema.PDAllVisible
			mtAssertMaskedEqual(t, schema.RmgrBRIN, p, c, -1)
			c[100] = 1
			want := 100
			if tc.holeMask {
				want = -1
			}
			mtAssertMaskedEqual(t, schema.RmgrBRIN, p, c, want)
			c[100] = 0
			c[s+4] |= 2 // other flag bits are compared
			mtAssertMaskedEqual(t, schema.RmgrBRIN, p, c, s+4)
		})
	}
}

func TestMaskHash(t *testing.T) {
	mk := func(flag uint16) []byte {
		p := mtPageInit(16)
		mtAddItem(p, []byte("hash index tuple"), schema.LPNormal)
		mtPut16(p, 8192-16+12, flag)
		mtPut16(p, 8192-16+14, 0xFF80)
		return p
	}
	s := 8192 - 16
	for _, tc := range []struct {
		name string
		flag uint16
		mod  func(p []byte)
		want int
	}{
		{"bucket LP_DEAD", lhBucketPage, func(p []byte) { p[26] |= 0x01 }, -1},
		{"overflow LP_DEAD", lhOverflowPage, func(p []byte) { p[26] |= 0x01 }, -1},
		{"bitmap LP flags", 1 << 2, func(p []byte) { p[26] |= 0x01 }, 26},
		{"meta LP flags", 1 << 3, func(p []byte) { p[26] |= 0x01 }, 26},
		{"bucket+meta is no bucket", lhBucketPage | 1<<3, func(p []byte) { p[26] |= 0x01 }, 26},
		{"has dead tuples", lhBucketPage, func(p []byte) { p[s+12] |= 0x80 }, -1},
		{"being split", lhBucketPage, func(p []byte) { p[s+12] |= 1 << 5 }, s + 12},
		{"unused page content", lhUnusedPage, func(p []byte) {
			for i := 24; i < s; i++ {
				p[i] = byte(i)
			}
			mtPut16(p, 12, 99)
			mtPut16(p, 14, 1234)
		}, -1},
		{"unused page special", lhUnusedPage, func(p []byte) { p[s+2] = 5 }, -1},
		{"bucket data", lhBucketPage, func(p []byte) { p[s-2]++ }, s - 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := mk(tc.flag)
			c := slices.Clone(p)
			tc.mod(c)
			off, eq, err := CompareMasked(schema.RmgrHash, mtBlk, p, c)
			if err != nil {
				t.Fatal(err)
			}
			if (tc.want < 0) != eq || (tc.want >= 0 && off != tc.want) {
				t.Errorf("got %d, %v; want %d", off, eq, tc.want)
			}
		})
	}
}

// TestMaskIdempotent: masking a masked well-formed page changes nothing.
func TestMaskIdempotent(t *testing.T) {
	h := mtHeapPage()
	pages := map[string][]byte{"heap": h.page, "btree leaf": mtBtreePage(schema.BTPLeaf | schema.BTPHasGarbage), "vm": mtPageInit(0)}
	for name, p := range pages {
		for _, rm := range MaskedRmgrs() {
			m := slices.Clone(p)
			err1 := MaskPage(rm, m, mtBlk)
			mm := slices.Clone(m)
			err2 := MaskPage(rm, mm, mtBlk)
			if (err1 == nil) != (err2 == nil) {
				t.Errorf("%s/%s: errors %v then %v", name, rm, err1, err2)
			}
			if off, eq := ComparePages(m, mm); !eq {
				t.Errorf("%s/%s: second mask changed byte %d", name, rm, off)
			}
		}
	}
}

// TestMaskMalformed: wrong sizes are refused untouched; broken pointers are
// reported but never make a mask panic or leave the page.
func TestMaskMalformed(t *testing.T) {
	for _, n := range []int{0, 1, 23, 24, 8191, 8193, 16384} {
		p := bytes.Repeat([]byte{0xFF}, n)
		for _, rm := range MaskedRmgrs() {
			if err := MaskPage(rm, p, 0); err == nil {
				t.Errorf("%s accepted a %d-byte page", rm, n)
			}
		}
		if !bytes.Equal(p, bytes.Repeat([]byte{0xFF}, n)) {
			t.Errorf("a %d-byte page was modified", n)
		}
	}
	var me *MaskError
	// pd_lower > pd_upper: mask_unused_space's ERROR.
	p := mtHeapPage().page
	mtPut16(p, 12, 5000)
	mtPut16(p, 14, 4000)
	if err := MaskPage(schema.RmgrHeap, p, 0); !errors.As(err, &me) || me.Mask != "mask_unused_space" {
		t.Errorf("heap_mask on pd_lower > pd_upper: %v", err)
	}
	// All-ones page: every pointer out of range.
	for _, rm := range MaskedRmgrs() {
		p := bytes.Repeat([]byte{0xFF}, 8192)
		if err := MaskPage(rm, p, 0); err == nil {
			t.Errorf("%s: no error on an all-ones page", rm)
		}
	}
	// The all-zero (new) page: PostgreSQL's mask_unused_space fails on it.
	if err := MaskPage(schema.RmgrBtree, make([]byte, 8192), 0); err == nil {
		t.Error("btree_mask accepted an all-zero page")
	}
	// spg_mask skips the hole when pd_lower < 24: a new page is fine.
	if err := MaskPage(schema.RmgrSPGist, make([]byte, 8192), 0); err != nil {
		t.Errorf("spg_mask on a new page: %v", err)
	}

	// Random pages with plausible and implausible pointers: no panic, the
	// same result twice (determinism).
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 1000 {
		p := randBytes(rng, 8192)
		if i%2 == 0 {
			mtPut16(p, 12, uint16(24+4*rng.IntN(40)))
			mtPut16(p, 14, uint16(rng.IntN(8193)))
			mtPut16(p, 16, uint16(8192-8*rng.IntN(4)))
		}
		for _, rm := range MaskedRmgrs() {
			a, b := slices.Clone(p), slices.Clone(p)
			errA := MaskPage(rm, a, schema.BlockNumber(i))
			errB := MaskPage(rm, b, schema.BlockNumber(i))
			if !bytes.Equal(a, b) || fmt.Sprint(errA) != fmt.Sprint(errB) {
				t.Fatalf("%s is not deterministic", rm)
			}
		}
	}
}

func TestConsistencyCheckBlock(t *testing.T) {
	rec := &schema.DecodedRecord{}
	rec.Header.Info = schema.XLRCheckConsistency
	for _, tc := range []struct {
		info     uint8
		hasImage bool
		bimgInfo uint8
		want     bool
	}{
		{schema.XLRCheckConsistency, true, 0, true},
		{schema.XLRCheckConsistency, true, schema.BkpImageApply, false},
		{schema.XLRCheckConsistency, false, 0, false},
		{0, true, 0, false},
	} {
		rec.Header.Info = tc.info
		blk := &schema.DecodedBkpBlock{HasImage: tc.hasImage, BimgInfo: tc.bimgInfo}
		if got := ConsistencyCheckBlock(rec, blk); got != tc.want {
			t.Errorf("info %#x image %v bimg_info %#x: %v, want %v", tc.info, tc.hasImage, tc.bimgInfo, got, tc.want)
		}
	}
	if ConsistencyCheckBlock(nil, nil) {
		t.Error("nil record checked")
	}
}

func FuzzMaskPage(f *testing.F) {
	f.Add(uint8(schema.RmgrHeap), mtHeapPage().page)
	f.Add(uint8(schema.RmgrBtree), mtBtreePage(1))
	f.Add(uint8(schema.RmgrHash), make([]byte, 8192))
	f.Fuzz(func(t *testing.T, rm uint8, data []byte) {
		p := make([]byte, 8192)
		copy(p, data)
		_ = MaskPage(schema.RmgrID(rm), p, 1)
	})
}

// ---------------------------------------------------------------------------
// Real PostgreSQL: consistency images written with wal_consistency_checking.

// mtRule says which bits of page[from:to] the mask may change (may) and
// which must end up zero (clear): an independent statement of heap_mask and
// btree_mask from the PostgreSQL sources. A rule with may but no clear bits
// covers a speculative ctid (set to the tuple's own TID, checked
// separately).
type mtRule struct {
	from, to   int
	may, clear byte
}

func mtRulesFor(rm schema.RmgrID, p []byte) []mtRule {
	var rs []mtRule
	both := func(from, to int, bits byte) {
		from, to = max(from, 0), min(to, len(p))
		if from < to {
			rs = append(rs, mtRule{from, to, bits, bits})
		}
	}
	both(0, 10, 0xFF) // pd_lsn, pd_checksum
	both(10, 11, 0x07)
	both(20, 24, 0xFF) // pd_prune_xid
	lower, upper := int(mtU16(p, 12)), int(mtU16(p, 14))
	both(lower, upper, 0xFF)
	nlp := max(lower-24, 0) / 4
	switch rm {
	case schema.RmgrHeap, schema.RmgrHeap2:
		for i := range nlp {
			lp := mtU32(p, 24+4*i)
			at, flags, n := int(lp&0x7FFF), (lp>>15)&3, int(lp>>17)
			if flags == 1 {
				if mtU16(p, at+20)&0x0300 == 0x0300 {
					both(at+21, at+22, 0x0C) // XMAX_COMMITTED | XMAX_INVALID
				} else {
					both(at+20, at+21, 0xF0)
					both(at+21, at+22, 0xFF)
				}
				both(at+8, at+12, 0xFF) // t_cid
				if mtU16(p, at+16) == 0xFFFE {
					rs = append(rs, mtRule{at + 12, at + 18, 0xFF, 0})
				}
			}
			if n != 0 {
				both(at+n, at+(n+7)&^7, 0xFF)
			}
		}
	case schema.RmgrBtree:
		s := int(mtU16(p, 16))
		if mtU16(p, s+12)&1 != 0 {
			for i := range nlp {
				both(24+4*i+1, 24+4*i+2, 0x80) // lp_flags bit 15
				both(24+4*i+2, 24+4*i+3, 0x01) // lp_flags bit 16
			}
		}
		both(s+12, s+13, 0x60) // BTP_SPLIT_END | BTP_HAS_GARBAGE
		both(s+14, s+16, 0xFF) // btpo_cycleid
	}
	slices.SortFunc(rs, func(a, b mtRule) int { return a.from - b.from })
	return rs
}

var mtZeroPage = make([]byte, schema.BLCKSZ)

// mtCheckRules checks masked against the rules derived from orig: bytes no
// rule covers are unchanged, covered bytes change only in the rule's bits,
// and bits to clear are clear. Bulk ranges are compared with bytes.Equal
// so that the check stays fast under the race detector.
func mtCheckRules(rm schema.RmgrID, orig, masked []byte, blkno schema.BlockNumber) error {
	rs := mtRulesFor(rm, orig)
	cursor := 0
	gap := func(to int) error {
		if cursor < to && !bytes.Equal(orig[cursor:to], masked[cursor:to]) {
			off, _ := ComparePages(orig[cursor:to], masked[cursor:to])
			return fmt.Errorf("byte %d changed %#x -> %#x outside what %s masks", cursor+off, orig[cursor+off], masked[cursor+off], rm)
		}
		return nil
	}
	for _, r := range rs {
		if err := gap(r.from); err != nil {
			return err
		}
		cursor = max(cursor, r.to)
		switch {
		case r.clear == 0:
			// speculative ctid, checked below
		case r.may == 0xFF && r.clear == 0xFF:
			if !bytes.Equal(masked[r.from:r.to], mtZeroPage[:r.to-r.from]) {
				return fmt.Errorf("bytes [%d,%d) are not all masked to zero", r.from, r.to)
			}
		default:
			for i := r.from; i < r.to; i++ {
				if d := orig[i] ^ masked[i]; d&^r.may != 0 {
					return fmt.Errorf("byte %d changed %#x -> %#x outside bits %#x", i, orig[i], masked[i], r.may)
				}
				if masked[i]&r.clear != 0 {
					return fmt.Errorf("byte %d is %#x after masking, bits %#x should be clear", i, masked[i], masked[i]&r.clear)
				}
			}
		}
	}
	if err := gap(len(orig)); err != nil {
		return err
	}
	if rm == schema.RmgrHeap || rm == schema.RmgrHeap2 {
		lower := int(mtU16(orig, 12))
		for i := range max(lower-24, 0) / 4 {
			lp := mtU32(orig, 24+4*i)
			at := int(lp & 0x7FFF)
			if (lp>>15)&3 == 1 && mtU16(orig, at+16) == 0xFFFE {
				want := [3]uint16{uint16(blkno >> 16), uint16(blkno), uint16(i + 1)}
				if got := [3]uint16{mtU16(masked, at+12), mtU16(masked, at+14), mtU16(masked, at+16)}; got != want {
					return fmt.Errorf("speculative ctid of item %d masked to %v, want %v", i+1, got, want)
				}
			}
		}
	}
	return nil
}

// TestMaskRealConsistencyImages runs pgbench on a cluster with
// wal_consistency_checking=all and checks every consistency image in the
// WAL:
//
//   - the record's mask accepts it (PostgreSQL masks the same images on
//     replay and would stop with ERROR otherwise);
//   - masking is idempotent;
//   - for heap and btree, masking changes only the bits heap_mask and
//     btree_mask change, and those end up cleared (mtRules);
//   - where a record's change to a block is entirely one the mask hides,
//     the masked image equals the masked previous image of the same block:
//     the heap page of a Heap2 VISIBLE record (PD_ALL_VISIBLE, and the
//     tuple hint bits VACUUM set since the last record), the VM page of
//     a VISIBLE record (its bitmap is "unused space"), and the heap page of
//     a Heap CONFIRM record (the speculative token in t_ctid becomes the
//     tuple's own TID).
func TestMaskRealConsistencyImages(t *testing.T) {
	dir, start, end := mtWorkloadWAL(t)
	ir, err := schema.NewImageRestorer()
	if err != nil {
		t.Fatal(err)
	}
	defer ir.Close()

	w := &maskRun{
		t:         t,
		ir:        ir,
		page:      make([]byte, schema.BLCKSZ),
		perRmgr:   map[schema.RmgrID]*mtStats{},
		prevCmp:   map[string]*mtPrevCmp{"VISIBLE heap": {}, "VISIBLE vm": {}, "CONFIRM heap": {}},
		lastImage: map[schema.BufferTag][]byte{},
	}
	for rec := range dirRecords(t, dir, schema.DirOptions{Start: start, End: end}) {
		w.record(rec)
	}
	w.report()
	w.checkCoverage()
}

// mtWorkloadWAL runs a workload that writes consistency-check images of
// every masked rmgr and returns a copy of its WAL and where it lies.
func mtWorkloadWAL(t *testing.T) (dir string, start, end schema.LSN) {
	t.Helper()
	c := pgtest.Start(t, pgtest.Options{WALConsistencyChecking: "all"})
	startText := c.CreatePhysicalSlot(t, "keep")
	c.Pgbench(t, "-i", "-s", "1", "-q")
	c.Pgbench(t, "-T", "2", "-c", "2")
	// Speculative insertions (INSERT ... ON CONFLICT) and a VACUUM that
	// sets hint bits and PD_ALL_VISIBLE after pgbench's updates.
	c.Exec(t, `CREATE TABLE mt_spec (id int PRIMARY KEY, v text);
INSERT INTO mt_spec SELECT g, 'row ' || g FROM generate_series(1, 300) g`)
	for i := range 20 {
		c.Exec(t, fmt.Sprintf(`INSERT INTO mt_spec VALUES (%d, 'new') ON CONFLICT (id) DO NOTHING`, 1000+i))
		c.Exec(t, fmt.Sprintf(`INSERT INTO mt_spec VALUES (%d, 'dup') ON CONFLICT (id) DO UPDATE SET v = excluded.v`, 1+i))
	}
	c.Exec(t, `SELECT count(*) FROM mt_spec`)
	// Tuples nobody read: VACUUM sets their hint bits without WAL (there
	// is nothing to prune), then logs VISIBLE.
	c.Exec(t, `CREATE TABLE mt_hint (a int, b text) WITH (autovacuum_enabled = off);
INSERT INTO mt_hint SELECT g, repeat('x', g % 50) FROM generate_series(1, 1500) g`)
	c.Exec(t, `VACUUM mt_spec, mt_hint, pgbench_branches, pgbench_tellers`)
	// The other masks: hash, GIN (pending list and entry tree), GiST,
	// SP-GiST and BRIN indexes and a sequence, all maintained row by row.
	c.Exec(t, `CREATE TABLE mt_idx (id int, k int, tags int[], pt point) WITH (autovacuum_enabled = off);
CREATE INDEX mt_idx_hash ON mt_idx USING hash (k);
CREATE INDEX mt_idx_gin ON mt_idx USING gin (tags);
CREATE INDEX mt_idx_gist ON mt_idx USING gist (pt);
CREATE INDEX mt_idx_spgist ON mt_idx USING spgist (pt);
CREATE INDEX mt_idx_brin ON mt_idx USING brin (id) WITH (pages_per_range = 2);
CREATE SEQUENCE mt_seq CACHE 1;
INSERT INTO mt_idx SELECT nextval('mt_seq'), g % 50, ARRAY[g % 7, g % 11], point(g % 100, g / 100) FROM generate_series(1, 3000) g;
DELETE FROM mt_idx WHERE id % 3 = 0`)
	c.Exec(t, `VACUUM mt_idx`)
	endText := c.CurrentWALLSN(t)
	dir = t.TempDir()
	c.CopyWAL(t, dir)

	start, err := schema.ParseLSN(startText)
	if err != nil {
		t.Fatal(err)
	}
	end, err = schema.ParseLSN(endText)
	if err != nil {
		t.Fatal(err)
	}
	return dir, start, end
}

// mtStats counts, per rmgr, the records and images and what was checked.
type mtStats struct {
	records, images, checked, ruleChecked, changed int
	spec, leafDead                                 int
}

// mtPrevCmp counts comparisons with the previous image, and how many of
// those differed raw in the header after pd_lsn or after the header.
type mtPrevCmp struct{ n, rawHeader, rawBody int }

// maskRun is TestMaskRealConsistencyImages' pass over the WAL.
type maskRun struct {
	t    *testing.T
	ir   *schema.ImageRestorer
	page []byte

	perRmgr                     map[schema.RmgrID]*mtStats
	records, consistencyRecords int
	verifyBlocks                int // blocks verifyBackupPageConsistency compares
	prevCmp                     map[string]*mtPrevCmp
	lastImage                   map[schema.BufferTag][]byte
}

// record counts rec and masks and checks each of its block images.
func (w *maskRun) record(rec *schema.DecodedRecord) {
	w.records++
	rm := rec.Rmgr()
	if rec.Info()&schema.XLRCheckConsistency != 0 {
		w.consistencyRecords++
	}
	st := w.perRmgr[rm]
	if st == nil {
		st = &mtStats{}
		w.perRmgr[rm] = st
	}
	st.records++
	for i := range rec.Blocks {
		w.image(rec, st, &rec.Blocks[i])
	}
}

// image restores blk's image, masks it and checks the mask is idempotent
// and keeps the rules, then compares it with the block's previous image.
func (w *maskRun) image(rec *schema.DecodedRecord, st *mtStats, blk *schema.DecodedBkpBlock) {
	rm := rec.Rmgr()
	if !blk.HasImage {
		return
	}
	st.images++
	if ConsistencyCheckBlock(rec, blk) {
		w.verifyBlocks++
	}
	if err := w.ir.Restore(w.page, rec, blk); err != nil {
		w.t.Fatalf("%s: %v", rec.LSN, err)
	}
	prev := w.lastImage[blk.Tag]
	w.lastImage[blk.Tag] = slices.Clone(w.page)
	if !HasMask(rm) {
		return
	}
	if rec.Info()&schema.XLRCheckConsistency == 0 {
		w.t.Fatalf("%s: %s record without XLR_CHECK_CONSISTENCY", rec.LSN, rm)
	}
	bn := blk.Tag.Block
	m := slices.Clone(w.page)
	if err := MaskPage(rm, m, bn); err != nil {
		w.t.Fatalf("%s: %s block %s: %v", rec.LSN, rm, blk.Tag, err)
	}
	st.checked++
	mm := slices.Clone(m)
	// mask_page_content zeroes pd_lower and pd_upper, which a
	// second hash_mask's mask_unused_space rejects (PostgreSQL
	// never masks twice); the bytes must still be stable.
	if err := MaskPage(rm, mm, bn); err != nil && !(rm == schema.RmgrHash && mtU32(m, 12) == 0) {
		w.t.Fatalf("%s: second mask: %v", rec.LSN, err)
	}
	if off, eq := ComparePages(m, mm); !eq {
		w.t.Fatalf("%s: %s block %s: masking is not idempotent at %d", rec.LSN, rm, blk.Tag, off)
	}
	if !bytes.Equal(m, w.page) {
		st.changed++
	}
	switch rm {
	case schema.RmgrHeap, schema.RmgrHeap2, schema.RmgrBtree:
		if err := mtCheckRules(rm, w.page, m, bn); err != nil {
			w.t.Fatalf("%s: %s block %s: %v", rec.LSN, rm, blk.Tag, err)
		}
		st.ruleChecked++
	}
	st.spec += mtCountSpeculative(rm, w.page)
	st.leafDead += mtCountLeafDead(rm, w.page)

	w.compareWithPrevious(rec, blk, prev)
}

// compareWithPrevious checks that a VISIBLE or CONFIRM image equals the
// block's previous image after masking, and counts how it differed raw.
func (w *maskRun) compareWithPrevious(rec *schema.DecodedRecord, blk *schema.DecodedBkpBlock, prev []byte) {
	rm, bn := rec.Rmgr(), blk.Tag.Block
	op := rec.Info() & 0x70
	isVisible := rm == schema.RmgrHeap2 && op == 0x40
	isConfirm := rm == schema.RmgrHeap && op == 0x50
	if prev == nil || !(isVisible || isConfirm) {
		return
	}
	off, eq, err := CompareMasked(rm, bn, prev, w.page)
	if err != nil {
		w.t.Fatalf("%s: %v", rec.LSN, err)
	}
	if !eq {
		w.t.Fatalf("%s: %s op %#x block %s: masked image differs from the masked previous image at %d (%#x -> %#x)",
			rec.LSN, rm, op, blk.Tag, off, prev[off], w.page[off])
	}
	kind := "VISIBLE heap"
	switch {
	case isConfirm:
		kind = "CONFIRM heap"
	case blk.Tag.Fork == schema.VisibilityMapFork:
		kind = "VISIBLE vm"
	}
	pc := w.prevCmp[kind]
	pc.n++
	if !bytes.Equal(prev[8:24], w.page[8:24]) {
		pc.rawHeader++
	}
	if !bytes.Equal(prev[24:], w.page[24:]) {
		pc.rawBody++
	}
}

// report logs what was masked and compared, per rmgr and in all.
func (w *maskRun) report() {
	for _, rm := range slices.Sorted(func(yield func(schema.RmgrID) bool) {
		for k := range w.perRmgr {
			if !yield(k) {
				return
			}
		}
	}) {
		st := w.perRmgr[rm]
		if st.images == 0 {
			continue
		}
		w.t.Logf("%-8s records %6d, images %6d, masked %6d (changed by the mask %6d), rule-checked %6d, speculative tuples %d, leaf LP_DEAD items %d",
			rm, st.records, st.images, st.checked, st.changed, st.ruleChecked, st.spec, st.leafDead)
	}
	w.t.Logf("%d records, %d with XLR_CHECK_CONSISTENCY, %d blocks whose image is for verification only",
		w.records, w.consistencyRecords, w.verifyBlocks)
	for _, kind := range []string{"VISIBLE heap", "VISIBLE vm", "CONFIRM heap"} {
		pc := w.prevCmp[kind]
		w.t.Logf("%s: %d images equal to the previous image of the block after masking; raw, %d differed in the header after pd_lsn, %d after the header",
			kind, pc.n, pc.rawHeader, pc.rawBody)
		if pc.n == 0 || pc.rawBody == 0 {
			w.t.Errorf("%s: too few previous-image comparisons that exercise the mask", kind)
		}
	}
}

// checkCoverage fails unless every masked rmgr had images checked.
func (w *maskRun) checkCoverage() {
	for _, rm := range []schema.RmgrID{schema.RmgrHeap, schema.RmgrHeap2, schema.RmgrBtree} {
		if st := w.perRmgr[rm]; st == nil || st.ruleChecked == 0 {
			w.t.Errorf("no %s consistency images checked", rm)
		}
	}
	for _, rm := range []schema.RmgrID{schema.RmgrHash, schema.RmgrGin, schema.RmgrGist, schema.RmgrSPGist, schema.RmgrBRIN, schema.RmgrSequence} {
		if st := w.perRmgr[rm]; st == nil || st.checked == 0 {
			w.t.Errorf("no %s consistency images masked", rm)
		}
	}
	if w.perRmgr[schema.RmgrHeap].spec == 0 {
		w.t.Error("no speculative tuple seen in the heap images")
	}
}

func mtCountSpeculative(rm schema.RmgrID, p []byte) int {
	if rm != schema.RmgrHeap && rm != schema.RmgrHeap2 {
		return 0
	}
	n := 0
	for i := range max(int(mtU16(p, 12))-24, 0) / 4 {
		lp := mtU32(p, 24+4*i)
		at := int(lp & 0x7FFF)
		if (lp>>15)&3 == 1 && at+18 <= len(p) && mtU16(p, at+16) == 0xFFFE {
			n++
		}
	}
	return n
}

func mtCountLeafDead(rm schema.RmgrID, p []byte) int {
	s := int(mtU16(p, 16))
	if rm != schema.RmgrBtree || s+16 > len(p) || mtU16(p, s+12)&1 == 0 {
		return 0
	}
	n := 0
	for i := range max(int(mtU16(p, 12))-24, 0) / 4 {
		if (mtU32(p, 24+4*i)>>15)&3 == 3 {
			n++
		}
	}
	return n
}
