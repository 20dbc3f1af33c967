package schema

import "testing"

// TestRecordSlabReset: Fits says when the next Decode would allocate, and
// Reset hands the same arrays out again, cleared.
func TestRecordSlabReset(t *testing.T) {
	var s RecordSlab
	if s.Fits() {
		t.Fatal("an empty slab fits a record without allocating")
	}
	s.Reset()
	first, _ := s.next()
	first.LSN = 42
	n := 1
	for s.Fits() {
		s.next()
		n++
	}
	if n != 256 {
		t.Fatalf("%d records fit, want 256", n)
	}
	s.Reset()
	again, blocks := s.next()
	if again != first || again.LSN != 0 || cap(blocks) != XLRMaxBlockID+1 {
		t.Fatalf("after Reset: the same record %v, cleared %v, block room %d", again == first, again.LSN == 0, cap(blocks))
	}
}
