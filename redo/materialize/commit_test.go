package materialize

import (
	"bytes"
	"log/slog"
	"testing"
	"time"

	"github.com/pagemill/pagemill/redo/pagestore"
	"github.com/pagemill/pagemill/schema"
)

// TestLoadsDuringCommit: while a shard's commit is in flight, a load of a
// page that commit does not leave only to the store reads the snapshot of
// the commit before (it waits for nothing), and a load of a page it does
// (evicted into it, or dropped) waits for it and reads its version.
func TestLoadsDuringCommit(t *testing.T) {
	st, err := pagestore.Open(pagestore.Options{Dir: t.TempDir(), Shards: 1}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	tag := schema.BufferTag{Rel: schema.RelFileNode{SpcNode: 1663, DbNode: 5, RelNode: 16384}, Block: 7}
	page := func(b byte) schema.Page { return bytes.Repeat([]byte{b}, schema.BLCKSZ) }
	put := func(lsn schema.LSN, p schema.Page) {
		t.Helper()
		w := st.NewWriter()
		w.PutImage(tag, lsn, p)
		if err := w.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	load := func(s *shard) (schema.Page, schema.LSN, error) {
		p, lsn, _, err := storeView{st, s}.Latest(tag, nil)
		return p, lsn, err
	}

	put(100, page(1))
	s := &shard{m: &Materializer{store: st}, snap: st.Snapshot()}
	defer func() { s.snap.Close() }()
	// The store has the version of the commit "in flight" already, as it
	// would once Badger has it: only the shard's rule keeps the load off it.
	put(200, page(2))
	inFlight := &pendingCommit{done: make(chan struct{})}
	s.last = inFlight
	if p, lsn, err := load(s); err != nil || lsn != 100 || !bytes.Equal(p, page(1)) {
		t.Fatalf("a page the commit in flight does not hold: version %s, err %v; want the snapshot's, 0/64", lsn, err)
	}

	inFlight.toStore = map[schema.BufferTag]bool{tag: true}
	type result struct {
		p   schema.Page
		lsn schema.LSN
		err error
	}
	got := make(chan result, 1)
	go func() {
		p, lsn, err := load(s)
		got <- result{p, lsn, err}
	}()
	select {
	case r := <-got:
		t.Fatalf("a page the commit in flight holds was loaded before it landed: version %s, err %v", r.lsn, r.err)
	case <-time.After(50 * time.Millisecond):
	}
	inFlight.snap = st.Snapshot()
	close(inFlight.done)
	r := <-got
	if r.err != nil || r.lsn != 200 || !bytes.Equal(r.p, page(2)) {
		t.Fatalf("after the commit landed: version %s, err %v; want 0/C8", r.lsn, r.err)
	}
	if s.last != nil {
		t.Fatal("the landed commit is still the one in flight")
	}
}

// TestRelationReadsDuringCommit: while a shard's commit is in flight, a
// relation read (size, pages) of a relation that commit writes nothing of
// reads the snapshot of the commit before, without waiting; one of a
// relation it writes waits for it and reads the store after it.
func TestRelationReadsDuringCommit(t *testing.T) {
	st, err := pagestore.Open(pagestore.Options{Dir: t.TempDir(), Shards: 1}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	touched := schema.RelFileNode{SpcNode: 1663, DbNode: 5, RelNode: 16384}
	other := schema.RelFileNode{SpcNode: 1663, DbNode: 5, RelNode: 16385}
	extend := func(rel schema.RelFileNode, n schema.BlockNumber, lsn schema.LSN) {
		t.Helper()
		w := st.NewWriter()
		w.PutSize(rel, schema.MainForkNum, lsn, 0, pagestore.SizeExtend, n)
		w.PutImage(schema.BufferTag{Rel: rel, Block: n - 1}, lsn, make(schema.Page, schema.BLCKSZ))
		if err := w.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	extend(touched, 1, 100)
	extend(other, 1, 100)
	s := &shard{m: &Materializer{store: st}, snap: st.Snapshot()}
	defer func() { s.snap.Close() }()
	// What the store has once the commit in flight lands (already there:
	// only the shard's rule keeps the reads off it).
	extend(touched, 2, 200)
	extend(other, 2, 200)
	w := st.NewWriter() // the writer in flight writes only of touched
	defer w.Discard()
	w.PutSize(touched, schema.MainForkNum, 200, 0, pagestore.SizeExtend, 2)
	inFlight := &pendingCommit{w: w, done: make(chan struct{})}
	s.last = inFlight
	v := storeView{st, s}

	// Reads that must not wait for the commit in flight (which never
	// lands unless the test closes done).
	noWait := func(what string, read func()) {
		t.Helper()
		done := make(chan struct{})
		go func() { read(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("%s waited for the commit in flight", what)
		}
	}
	noWait("size of a relation the commit in flight does not write", func() {
		if n, ok, err := v.RelSize(other, schema.MainForkNum, 300); err != nil || !ok || n != 1 {
			t.Errorf("size of a relation the commit in flight does not write: %d, %v, %v; want the snapshot's 1", n, ok, err)
		}
	})
	noWait("pages of a relation the commit in flight does not write", func() {
		if tags, err := v.PagesOf(other, schema.MainForkNum, false, 0); err != nil || len(tags) != 1 {
			t.Errorf("pages of a relation the commit in flight does not write: %v, %v; want the snapshot's one", tags, err)
		}
	})
	got := make(chan schema.BlockNumber, 1)
	go func() {
		n, _, _ := v.RelSize(touched, schema.MainForkNum, 300)
		got <- n
	}()
	select {
	case n := <-got:
		t.Fatalf("size of a relation the commit in flight writes was read before it landed: %d", n)
	case <-time.After(50 * time.Millisecond):
	}
	inFlight.snap = st.Snapshot()
	close(inFlight.done)
	if n := <-got; n != 2 {
		t.Fatalf("size after the commit landed: %d, want 2", n)
	}
	// Nothing in flight now: the store, as before.
	if tags, err := v.PagesOf(other, schema.MainForkNum, false, 0); err != nil || len(tags) != 2 {
		t.Fatalf("pages with nothing in flight: %v, %v; want both", tags, err)
	}
}
