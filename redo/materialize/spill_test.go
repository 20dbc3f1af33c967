package materialize

import (
	"bytes"
	"log/slog"
	"os"
	"testing"

	"github.com/pagemill/pagemill/schema"
)

// TestSpillFile: pages come back as put, slots are reused after Take and
// Drop, a full file refuses new pages but takes a newer version of one it
// holds, and the file is gone from the directory from the start.
func TestSpillFile(t *testing.T) {
	dir := t.TempDir()
	s, err := newSpillFile(dir, 2, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("spill file left in %s: %v", dir, ents)
	}
	tag := func(b int) schema.BufferTag {
		return schema.BufferTag{Rel: schema.RelFileNode{SpcNode: 1663, DbNode: 5, RelNode: 16384}, Block: schema.BlockNumber(b)}
	}
	page := func(b byte) schema.Page { return bytes.Repeat([]byte{b}, schema.BLCKSZ) }
	if !s.Put(tag(1), page(1), 100, 3) || !s.Put(tag(2), page(2), 200, 0) {
		t.Fatal("a spill with room refused a page")
	}
	if s.Put(tag(3), page(3), 300, 1) {
		t.Fatal("a full spill took a third page")
	}
	if !s.Put(tag(1), page(4), 400, 4) {
		t.Fatal("a full spill refused a newer version of a page it holds")
	}
	buf := make(schema.Page, schema.BLCKSZ)
	p, lsn, deltas, ok := s.Take(tag(1), buf)
	if !ok || lsn != 400 || deltas != 4 || !bytes.Equal(p, page(4)) || &p[0] != &buf[0] {
		t.Fatalf("Take: lsn %d, deltas %d, ok %v, into buf %v", lsn, deltas, ok, ok && &p[0] == &buf[0])
	}
	if _, _, _, ok := s.Take(tag(1), nil); ok {
		t.Fatal("a page taken twice")
	}
	s.Drop(tag(2))
	if _, _, _, ok := s.Take(tag(2), nil); ok {
		t.Fatal("a dropped page taken")
	}
	// Both slots are free again.
	if !s.Put(tag(3), page(3), 300, 1) || !s.Put(tag(5), page(5), 500, 2) || s.next != 2 {
		t.Fatalf("slots not reused (next %d)", s.next)
	}
	if p, lsn, _, ok := s.Take(tag(5), nil); !ok || lsn != 500 || !bytes.Equal(p, page(5)) {
		t.Fatal("page 5 not read back")
	}
}
