package materialize

import (
	"context"
	"testing"
	"time"
)

// TestReserveBoundsQueuedBytes: the dispatcher hands a shard items while
// their bytes fit in two batches, an item of any size to an empty queue,
// and waits otherwise until the shard releases what it committed.
func TestReserveBoundsQueuedBytes(t *testing.T) {
	m := &Materializer{cfg: Config{BatchBytes: 100}}
	s := &shard{m: m, room: make(chan struct{}, 1)}
	d := &dispatcher{m: m}
	ctx := context.Background()
	if err := d.reserve(ctx, s, 500); err != nil { // larger than the bound, but the queue is empty
		t.Fatal(err)
	}
	s.release(500)
	for range 2 {
		if err := d.reserve(ctx, s, 100); err != nil {
			t.Fatal(err)
		}
	}
	got := make(chan error, 1)
	go func() { got <- d.reserve(ctx, s, 1) }()
	select {
	case err := <-got:
		t.Fatalf("reserved past the bound (%d queued): %v", s.queued.Load(), err)
	case <-time.After(50 * time.Millisecond):
	}
	s.release(100)
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	if q := s.queued.Load(); q != 101 {
		t.Fatalf("queued %d bytes, want 101", q)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := d.reserve(cctx, s, 100); err == nil {
		t.Fatal("reserve past the bound returned without room after its context ended")
	}
}
