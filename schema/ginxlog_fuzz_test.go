package schema

import (
	"bytes"
	"testing"
)

// FuzzGinxlogDecoders runs every GIN record decoder on arbitrary bytes:
// none may panic, and what they return must lie inside the input and be
// consistent with the lengths it states.
func FuzzGinxlogDecoders(f *testing.F) {
	f.Add(ginLeafActions())
	f.Add(newDescBuf().u16(2).u8(5).u8(9).u8(0).u8(1).b)
	f.Add(append(newDescBuf().u16(4).u8(1).pad(1).b, ginTuple(24, 9)...))
	f.Add(newDescBuf().rel(1663, 5, 16400).pad(4).raw(ginMeta()...).u32(10).u32(11).i32(2).pad(4).b)
	f.Add(append(ginTuple(16, 1), ginTuple(13, 2)...))
	f.Add(newDescBuf().u32(3).raw(1, 2, 3, 4).b)
	f.Fuzz(func(t *testing.T, b []byte) {
		within := func(name string, part []byte) {
			if len(part) > 0 && !ginWithin(b, part) {
				t.Fatalf("%s: %d bytes outside the input", name, len(part))
			}
		}
		if x, err := DecodeGinxlogCreatePostingTree(b); err == nil {
			if int(x.Size) != len(x.Segments) {
				t.Fatalf("size %d, %d bytes", x.Size, len(x.Segments))
			}
			within("create ptree", x.Segments)
		}
		if x, err := DecodeGinxlogInsert(b); err == nil && !x.IsLeaf() && len(b) < 10 {
			t.Fatalf("non-leaf insert of %d bytes", len(b))
		}
		if x, err := DecodeGinxlogInsertEntry(b); err == nil {
			within("entry tuple", x.Tuple)
			if tup, err := x.IndexTuple(); err == nil {
				if len(tup) < SizeOfIndexTupleData || int(rdU16(tup, 6)&0x1FFF) != len(tup) {
					t.Fatalf("tuple of %d bytes", len(tup))
				}
				within("entry index tuple", tup)
			}
		}
		_, _ = DecodeGinxlogInsertDataInternal(b)
		_, _ = DecodeGinxlogSplit(b)
		_, _ = DecodeGinxlogDeletePage(b)
		_, _ = DecodeGinxlogInsertListPage(b)
		if x, err := DecodeGinxlogUpdateMeta(b); err == nil && !bytes.Equal(x.Metadata.Raw[:], b[16:72]) {
			t.Fatal("update meta: metadata not copied whole")
		}
		if x, err := DecodeGinxlogDeleteListPages(b); err == nil && !bytes.Equal(x.Metadata.Raw[:], b[:56]) {
			t.Fatal("delete list pages: metadata not copied whole")
		}
		if x, err := DecodeGinxlogVacuumDataLeafPage(b); err == nil {
			it := x.Data.Actions()
			n, used := 0, 2
			for {
				a, ok := it.Next()
				if !ok {
					break
				}
				n++
				used += 2
				switch a.Type {
				case GinSegmentInsert, GinSegmentReplace:
					if size, ok := GinPostingListSize(a.Segment); !ok || size != len(a.Segment) {
						t.Fatalf("segment of %d bytes, size %d", len(a.Segment), size)
					}
					within("segment", a.Segment)
					used += len(a.Segment)
				case GinSegmentAddItems:
					if len(a.Items) != 6*int(a.NItems) {
						t.Fatalf("%d items in %d bytes", a.NItems, len(a.Items))
					}
					within("items", a.Items)
					for i := range int(a.NItems) {
						_ = a.Item(i)
					}
					used += 2 + len(a.Items)
				}
			}
			if n > int(x.Data.NActions) || used > len(b) {
				t.Fatalf("%d actions of %d, %d bytes of %d", n, x.Data.NActions, used, len(b))
			}
			if n < int(x.Data.NActions) && it.Err() == nil {
				t.Fatalf("%d actions of %d and no error", n, x.Data.NActions)
			}
		}
		// Tuples, as many as the first byte says.
		var ntuples int32
		if len(b) > 0 {
			ntuples = int32(b[0]%8) - 1
		}
		if tu, err := DecodeGinxlogTuples(b, ntuples); err == nil {
			total := 0
			for {
				tup, ok := tu.Next()
				if !ok {
					break
				}
				within("list tuple", tup)
				total += len(tup)
			}
			if total > len(b) {
				t.Fatalf("%d tuple bytes of %d", total, len(b))
			}
		}
	})
}

// ginWithin reports whether part is a subslice of b.
func ginWithin(b, part []byte) bool {
	for i := 0; i+len(part) <= len(b); i++ {
		if &b[i] == &part[0] {
			return true
		}
	}
	return false
}
