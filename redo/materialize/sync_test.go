package materialize_test

import (
	"context"
	"testing"
	"time"

	"github.com/pagemill/pagemill/internal/pgtest"
	"github.com/pagemill/pagemill/internal/pipetest"
	"github.com/pagemill/pagemill/redo/materialize"
	"github.com/pagemill/pagemill/schema"
)

// TestAcksWaitForSync: with a sync interval longer than the test, the
// batches after the first sync are readable at once, but their messages
// stay unacknowledged, the durable LSN stays behind the applied one, and
// garbage collection does not move the horizon past it.
func TestAcksWaitForSync(t *testing.T) {
	c := pgtest.Start(t, pipetest.QuietSource(pgtest.Options{}))
	c.Pgbench(t, "-i", "-s", "1", "-q")
	p := pipetest.Start(t, c, pipetest.Options{Mat: materialize.Config{SyncInterval: time.Hour}})
	c.Pgbench(t, "-t", "200", "-c", "2")
	lsn := p.CatchUp(t, c)
	ctx := context.Background()

	durable := p.Mat.Durable()
	if durable >= lsn {
		t.Fatalf("durable %s reached the applied %s with an hour between syncs", durable, lsn)
	}
	pending := 0
	for info := range p.Handles.Stream.ListConsumers(ctx).Info() {
		pending += info.NumAckPending
	}
	if pending == 0 {
		t.Fatal("no message waits for its acknowledgement, though the batches are not synced")
	}

	// Readable before they are durable: the pages at lsn.
	rels, err := p.Mat.Relations(ctx, 0, lsn)
	if err != nil || len(rels) == 0 {
		t.Fatalf("relations at %s: %d, %v", lsn, len(rels), err)
	}
	read := 0
	for rf, n := range rels {
		if n == 0 || rf.Fork != schema.MainForkNum {
			continue
		}
		if _, _, err := p.Mat.PageAt(ctx, schema.BufferTag{Rel: rf.Rel, Fork: rf.Fork, Block: n - 1}, lsn); err != nil {
			t.Fatalf("%s at %s: %v", rf.Rel, lsn, err)
		}
		read++
	}

	// The horizon starts at the end of the base backup.
	h0 := p.Mat.Horizon()
	if _, err := p.Mat.CollectGarbage(lsn); err != nil {
		t.Fatal(err)
	}
	if h := p.Mat.Horizon(); h > max(h0, durable) {
		t.Fatalf("horizon %s moved past the durable LSN %s (it was %s)", h, durable, h0)
	}
	t.Logf("applied %s, durable %s, %d messages unacknowledged, %d pages read", lsn, durable, pending, read)
}
