package materialize_test

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/pagemill/pagemill/internal/pgtest"
	"github.com/pagemill/pagemill/internal/pipetest"
	"github.com/pagemill/pagemill/redo/materialize"
	"github.com/pagemill/pagemill/schema"
)

// TestRetentionGC: collecting garbage at a horizon keeps every page at
// and above it byte-identical, deletes older versions, and refuses reads
// below it with a clear error.
func TestRetentionGC(t *testing.T) {
	c := pgtest.Start(t, pgtest.Options{})
	c.Pgbench(t, "-i", "-s", "1", "-q")
	p := pipetest.Start(t, c, pipetest.Options{})
	c.Pgbench(t, "-t", "500", "-c", "2")
	l1 := p.CatchUp(t, c)
	c.Pgbench(t, "-t", "500", "-c", "2")
	l2 := p.CatchUp(t, c)
	ctx := context.Background()
	rels, err := p.Mat.Relations(ctx, 0, l2)
	if err != nil {
		t.Fatal(err)
	}
	type key struct {
		tag schema.BufferTag
		lsn schema.LSN
	}
	before := map[key][]byte{}
	for rf, n := range rels {
		for b := schema.BlockNumber(0); b < n; b++ {
			tag := schema.BufferTag{Rel: rf.Rel, Fork: rf.Fork, Block: b}
			for _, lsn := range []schema.LSN{l1, l2} {
				page, _, err := p.Mat.PageAt(ctx, tag, lsn)
				if err == nil {
					before[key{tag, lsn}] = page
				}
			}
		}
	}
	deleted, err := p.Mat.CollectGarbage(l1)
	if err != nil {
		t.Fatal(err)
	}
	if deleted == 0 {
		t.Fatal("nothing deleted")
	}
	for k, want := range before {
		got, _, err := p.Mat.PageAt(ctx, k.tag, k.lsn)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("%s at %s after gc: err %v, equal %v", k.tag, k.lsn, err, bytes.Equal(got, want))
		}
	}
	var tag schema.BufferTag
	for k := range before {
		tag = k.tag
		break
	}
	_, _, err = p.Mat.PageAt(ctx, tag, l1-1)
	if !errors.Is(err, materialize.ErrBelowHorizon) {
		t.Fatalf("read below the horizon: %v", err)
	}
	t.Logf("gc at %s: %d versions deleted; %d page versions at %s and %s unchanged; below: %v", l1, deleted, len(before), l1, l2, err)

	// A pin (a restore writing a data directory at l1) holds the horizon
	// back; a pin below the horizon is refused; after unpinning GC moves.
	if _, err := p.Mat.Pin(l1 - 1); !errors.Is(err, materialize.ErrBelowHorizon) {
		t.Errorf("pin below the horizon: %v", err)
	}
	unpin, err := p.Mat.Pin(l1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Mat.CollectGarbage(l2); err != nil {
		t.Fatal(err)
	}
	if h := p.Mat.Horizon(); h != l1 {
		t.Errorf("horizon %s with a pin at %s", h, l1)
	}
	unpin()
	if _, err := p.Mat.CollectGarbage(l2); err != nil {
		t.Fatal(err)
	}
	if h := p.Mat.Horizon(); h != l2 {
		t.Errorf("horizon %s after unpinning, want %s", h, l2)
	}
}
