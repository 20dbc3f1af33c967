package materialize

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
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

// ackedMsg records its acknowledgement; the rest of jetstream.Msg is
// never called by the ack floor.
type ackedMsg struct {
	jetstream.Msg
	seq   int
	acked *[]int
}

func (m ackedMsg) Ack() error { *m.acked = append(*m.acked, m.seq); return nil }

// TestAckFloor: with AckAll a message is acknowledged only once every
// earlier one is durable, and one acknowledgement covers a run of them.
func TestAckFloor(t *testing.T) {
	var acked []int
	f := &ackFloor{}
	var as []*acker
	for i := 1; i <= 2000; i++ {
		a := newAcker(ackedMsg{seq: i, acked: &acked}, f)
		a.left.Store(2)
		as = append(as, a)
	}
	as[1].done()
	as[1].done() // message 2 durable, 1 not yet
	as[2].done()
	as[2].done()
	if len(acked) != 0 {
		t.Fatalf("acknowledged %v before message 1 was durable", acked)
	}
	as[0].done()
	if len(acked) != 0 {
		t.Fatalf("acknowledged %v with one of message 1's two shards durable", acked)
	}
	as[0].done()
	if len(acked) != 1 || acked[0] != 3 {
		t.Fatalf("acknowledged %v, want message 3 (covering 1 and 2)", acked)
	}
	for i := 1999; i >= 3; i-- { // the rest in reverse: one ack at the end
		as[i].done()
		as[i].done()
	}
	if len(acked) != 2 || acked[1] != 2000 {
		t.Fatalf("acknowledged %v, want 3 then 2000", acked)
	}
	if f.head != len(f.q) || len(f.q) > 1024 {
		t.Fatalf("the floor holds %d messages past head %d: not compacted", len(f.q), f.head)
	}
}
