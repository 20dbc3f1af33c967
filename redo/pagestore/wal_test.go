package pagestore

import (
	"errors"
	"testing"

	"github.com/pagemill/pagemill/schema"
)

// TestWALIndex: the newest checkpoint at or before an LSN, where to read
// the stream from for an LSN (two rounds back), rounds in a range, and
// trimming what the stream no longer holds.
func TestWALIndex(t *testing.T) {
	s := openTest(t)
	w := s.NewWriter()
	for i, end := range []schema.LSN{100, 200, 300, 400} {
		w.PutRound(end, uint64(10*(i+1))) // meta messages at seq 10, 20, 30, 40
	}
	w.PutCheckpoint(150, 180, []byte("first"))
	w.PutCheckpoint(320, 350, []byte("second"))
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CheckpointAt(179); !errors.Is(err, ErrNotFound) {
		t.Errorf("checkpoint before the first: %v", err)
	}
	for at, want := range map[schema.LSN]string{180: "first", 349: "first", 350: "second", 1000: "second"} {
		c, err := s.CheckpointAt(at)
		if err != nil || string(c.Data) != want {
			t.Errorf("checkpoint at %d: %+v %v, want %s", at, c, err, want)
		}
	}
	for at, want := range map[schema.LSN][2]uint64{150: {0, 0}, 200: {11, 100}, 250: {11, 100}, 300: {21, 200}, 1000: {31, 300}} {
		seq, end, err := s.StreamStart(at)
		if err != nil || seq != want[0] || uint64(end) != want[1] {
			t.Errorf("stream start for %d: seq %d end %d (%v), want %v", at, seq, end, err, want)
		}
	}
	if r, err := s.Rounds(200, 300); err != nil || len(r) != 2 || r[0] != (Round{200, 20}) || r[1] != (Round{300, 30}) {
		t.Errorf("rounds 200..300: %+v %v", r, err)
	}
	// The stream now starts at seq 31, the oldest needed checkpoint is at 320.
	if n, err := s.TrimIndex(31, 320); err != nil || n != 3 {
		t.Fatalf("trim: %d entries, %v; want 3 (rounds at 100 and 200, checkpoint at 180)", n, err)
	}
	if r, _ := s.Rounds(0, 1000); len(r) != 2 || r[0].End != 300 {
		t.Errorf("rounds after trimming: %+v", r)
	}
	if c, err := s.CheckpointAt(349); !errors.Is(err, ErrNotFound) {
		t.Errorf("trimmed checkpoint still found: %+v %v", c, err)
	}
}
