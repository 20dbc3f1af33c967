package schema

import "testing"

func TestImplicitVMPages(t *testing.T) {
	rel := RelFileNode{1663, 5, 16384}
	heapBlk := func(id uint8, blk BlockNumber) BlockSpec {
		return BlockSpec{ID: id, Tag: BufferTag{rel, MainForkNum, blk}}
	}
	vm := func(blk BlockNumber) BufferTag { return BufferTag{rel, VisibilityMapFork, blk} }
	cases := []struct {
		name string
		spec RecordSpec
		want []BufferTag
	}{
		{"insert cleared", RecordSpec{Rmgr: RmgrHeap, Info: 0x00, MainData: []byte{1, 0, 1}, Blocks: []BlockSpec{heapBlk(0, 40000)}}, []BufferTag{vm(1)}},
		{"insert not cleared", RecordSpec{Rmgr: RmgrHeap, Info: 0x80, MainData: []byte{1, 0, 0}, Blocks: []BlockSpec{heapBlk(0, 5)}}, nil},
		{"delete cleared", RecordSpec{Rmgr: RmgrHeap, Info: 0x10, MainData: []byte{0, 0, 0, 0, 1, 0, 0, 1}, Blocks: []BlockSpec{heapBlk(0, 3)}}, []BufferTag{vm(0)}},
		{"update both pages", RecordSpec{Rmgr: RmgrHeap, Info: 0x20, MainData: []byte{0, 0, 0, 0, 1, 0, 0, 3, 0, 0, 0, 0, 1, 0}, Blocks: []BlockSpec{heapBlk(0, 70000), heapBlk(1, 2)}}, []BufferTag{vm(0), vm(2)}},
		{"hot update old", RecordSpec{Rmgr: RmgrHeap, Info: 0x40, MainData: []byte{0, 0, 0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 1, 0}, Blocks: []BlockSpec{heapBlk(0, 9)}}, []BufferTag{vm(0)}},
		{"lock frozen cleared", RecordSpec{Rmgr: RmgrHeap, Info: 0x60, MainData: []byte{0, 0, 0, 0, 1, 0, 0, 1}, Blocks: []BlockSpec{heapBlk(0, 32672)}}, []BufferTag{vm(1)}},
		{"multi insert", RecordSpec{Rmgr: RmgrHeap2, Info: 0x50, MainData: []byte{1, 0, 1, 0}, Blocks: []BlockSpec{heapBlk(0, 32671)}}, []BufferTag{vm(0)}},
		{"lock updated", RecordSpec{Rmgr: RmgrHeap2, Info: 0x60, MainData: []byte{0, 0, 0, 0, 1, 0, 0, 1}, Blocks: []BlockSpec{heapBlk(0, 1)}}, []BufferTag{vm(0)}},
		{"truncated main data", RecordSpec{Rmgr: RmgrHeap, Info: 0x20, MainData: []byte{0, 0}, Blocks: []BlockSpec{heapBlk(0, 1)}}, nil},
		{"btree", RecordSpec{Rmgr: RmgrBtree, Info: 0x00, MainData: []byte{1, 1, 1, 1, 1, 1, 1, 1}, Blocks: []BlockSpec{heapBlk(0, 1)}}, nil},
	}
	for _, c := range cases {
		raw := AssembleRecord(c.spec)
		copy(raw[20:], []byte{0, 0, 0, 0})
		binaryPutCRC(raw)
		rec, err := DecodeRecord(raw, 0x1000, 0x1100)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		got := ImplicitVMPages(nil, rec)
		if len(got) != len(c.want) {
			t.Fatalf("%s: got %v, want %v", c.name, got, c.want)
		}
		for i := range got {
			if got[i] != c.want[i] {
				t.Fatalf("%s: got %v, want %v", c.name, got, c.want)
			}
		}
	}
}

func binaryPutCRC(raw []byte) {
	c := RecordCRC(raw)
	raw[20], raw[21], raw[22], raw[23] = byte(c), byte(c>>8), byte(c>>16), byte(c>>24)
}
