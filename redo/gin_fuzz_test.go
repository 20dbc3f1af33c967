package redo

import (
	"bytes"
	"encoding/binary"
	"slices"
	"testing"

	"github.com/pagemill/pagemill/schema"
)

// FuzzGinPostingList decodes arbitrary bytes as a GinPostingList segment:
// no panic, the same items as the reference decoder, and when the items
// are in order they encode back into a segment that decodes to them.
func FuzzGinPostingList(f *testing.F) {
	seg, _ := refCompress(tids(0, 1, 0, 2, 0, 5, 1, 1, 1000, 300, 0x12345678, 7), 384)
	f.Add(seg)
	f.Add([]byte{0, 0, 0, 0, 1, 0, 7, 0, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x81, 0})
	f.Add([]byte{0, 0, 0, 0, 1, 0, 2, 0, 0x80, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, ok := newGinSegmentReader(b)
		if !ok {
			return
		}
		var items []ginTID
		for {
			it, more, err := r.next()
			if err != nil {
				return
			}
			if !more {
				break
			}
			items = append(items, it)
		}
		if !slices.Equal(items, refDecode(b)) {
			t.Fatalf("decoded %v, reference %v", items, refDecode(b))
		}
		for i := 1; i < len(items); i++ {
			if refU64(items[i]) <= refU64(items[i-1]) {
				return // not an order ginCompressPostingList accepts
			}
		}
		buf := make([]byte, schema.BLCKSZ)
		var w ginSegmentWriter
		w.start(buf, schema.BLCKSZ, items[0])
		for _, it := range items[1:] {
			if !w.add(buf, it) {
				t.Fatalf("increasing item %v refused", it)
			}
		}
		enc := buf[:w.finish(buf)]
		if ref, n := refCompress(items, schema.BLCKSZ); !bytes.Equal(enc, ref) || n != w.count {
			t.Fatalf("encoded %x, reference %x", enc, ref)
		}
		if w.count == len(items) && !slices.Equal(decodeSegment(t, enc), items) {
			t.Fatalf("round trip of %v", items)
		}
	})
}

// FuzzGinRedoRecompress applies arbitrary action lists to arbitrary leaf
// pages: no panic, nothing written outside the posting list area, and
// where the page's posting list is well formed, the result the model
// gives.
func FuzzGinRedoRecompress(f *testing.F) {
	s1, _ := refCompress(tids(1, 1, 1, 2), 64)
	s2, _ := refCompress(tids(2, 1, 2, 5), 64)
	area := append(slices.Clone(s1), s2...)
	add := func(area []byte, actions ...[]byte) {
		f.Add(append(binary.LittleEndian.AppendUint16(nil, uint16(len(area))), append(area, ginLeafData(actions...)...)...))
	}
	add(area, ginSegAction(1, schema.GinSegmentAddItems, ginAddItemsData(tids(2, 3, 3, 1))))
	add(area, ginSegAction(0, schema.GinSegmentDelete, nil), ginSegAction(1, schema.GinSegmentInsert, s1), ginSegAction(1, schema.GinSegmentReplace, s2))
	add(nil, ginSegAction(0, schema.GinSegmentInsert, s1))
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) < 2 {
			return
		}
		n := int(binary.LittleEndian.Uint16(b)) % (ginDataPageMaxDataSize + 1)
		b = b[2:]
		if n > len(b) {
			n = len(b)
		}
		area, data := b[:n], b[n:]
		x, err := schema.DecodeGinxlogRecompressDataLeaf(data)
		if err != nil || !ginCheckActions(x) {
			return
		}
		page := ginLeafPage(area)
		before := slices.Clone(page)
		if !ginRedoRecompress(page, x) {
			return
		}
		lower := int(page.Lower())
		if lower < ginDataPageData || lower > int(page.Special()) {
			t.Fatalf("pd_lower %d", lower)
		}
		from := max(lower, ginDataPageData+n)
		page.SetLower(before.Lower())
		if !bytes.Equal(page[:ginDataPageData], before[:ginDataPageData]) || !bytes.Equal(page[from:], before[from:]) {
			t.Fatal("bytes outside the posting list area changed")
		}
		page.SetLower(uint16(lower))

		var old [][]byte
		for rest := area; len(rest) > 0; {
			size, ok := schema.GinPostingListSize(rest)
			if !ok {
				return
			}
			old = append(old, rest[:size])
			rest = rest[size:]
		}
		want := ginModelLeaf(old, x)
		if !bytes.Equal(page[ginDataPageData:lower], want) {
			t.Fatalf("posting list\n got %x\nwant %x", page[ginDataPageData:lower], want)
		}
	})
}
