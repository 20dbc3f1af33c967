package pagestore

import (
	"bytes"
	"errors"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/s2"

	"github.com/pagemill/pagemill/schema"
)

func openTest(t *testing.T) *Store {
	t.Helper()
	s, err := Open(Options{InMemory: true, Shards: 2}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func marked(b byte) schema.Page {
	p := make(schema.Page, schema.BLCKSZ)
	p[100] = b
	return p
}

var rel = schema.RelFileNode{SpcNode: 1663, DbNode: 5, RelNode: 16384}

// TestVersions: the version at an LSN is the newest at or below it;
// absent and unavailable markers end what came before.
func TestVersions(t *testing.T) {
	s := openTest(t)
	tag := schema.BufferTag{Rel: rel, Block: 3}
	w := s.NewWriter()
	w.PutImage(tag, 100, marked(1))
	w.PutImage(tag, 200, marked(2))
	w.PutUnavailable(tag, 300, "GIN/INSERT")
	w.PutImage(tag, 400, marked(4))
	w.PutAbsent(tag, 500)
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		lsn     schema.LSN
		mark    byte
		version schema.LSN
		err     error
	}{
		{99, 0, 0, ErrNotFound},
		{100, 1, 100, nil}, {199, 1, 100, nil}, {250, 2, 200, nil},
		{300, 0, 0, ErrUnavailable}, {399, 0, 0, ErrUnavailable},
		{400, 4, 400, nil}, {500, 0, 0, ErrNotFound}, {1 << 40, 0, 0, ErrNotFound},
	} {
		p, v, err := s.PageAt(tag, tc.lsn)
		if tc.err != nil {
			if !errors.Is(err, tc.err) {
				t.Errorf("at %d: err %v, want %v", tc.lsn, err, tc.err)
			}
			continue
		}
		if err != nil || p[100] != tc.mark || v != tc.version {
			t.Errorf("at %d: mark %d version %d err %v; want %d %d", tc.lsn, p[100], v, err, tc.mark, tc.version)
		}
	}
	// Another page of the same relation is independent.
	if _, _, err := s.PageAt(schema.BufferTag{Rel: rel, Block: 4}, 1000); !errors.Is(err, ErrNotFound) {
		t.Fatalf("other page: %v", err)
	}
}

// TestRelSize: Set, Extend from two shards (each growing on its own),
// Truncate (never grows a fork) and Drop.
func TestRelSize(t *testing.T) {
	s := openTest(t)
	w := s.NewWriter()
	w.PutSize(rel, schema.MainForkNum, 100, 0, SizeSet, 10)
	w.PutSize(rel, schema.MainForkNum, 110, 1, SizeExtend, 12)
	w.PutSize(rel, schema.MainForkNum, 120, 0, SizeExtend, 11)
	w.PutSize(rel, schema.MainForkNum, 130, 0, SizeExtend, 13)
	w.PutSize(rel, schema.MainForkNum, 200, 0, SizeTruncate, 5)
	w.PutSize(rel, schema.MainForkNum, 210, 1, SizeExtend, 6)
	w.PutSize(rel, schema.MainForkNum, 300, 0, SizeTruncate, 50) // past the end: no growth
	w.PutSize(rel, schema.MainForkNum, 400, 0, SizeDrop, 0)
	w.PutSize(rel, schema.VisibilityMapFork, 250, 0, SizeTruncate, 1) // fork never existed
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		fork   schema.ForkNumber
		lsn    schema.LSN
		n      schema.BlockNumber
		exists bool
	}{
		{schema.MainForkNum, 99, 0, false},
		{schema.MainForkNum, 100, 10, true}, {schema.MainForkNum, 115, 12, true},
		{schema.MainForkNum, 125, 12, true}, {schema.MainForkNum, 130, 13, true},
		{schema.MainForkNum, 200, 5, true}, {schema.MainForkNum, 210, 6, true},
		{schema.MainForkNum, 300, 6, true}, {schema.MainForkNum, 400, 0, false},
		{schema.VisibilityMapFork, 300, 0, false},
	} {
		n, ok, err := s.RelSize(rel, tc.fork, tc.lsn)
		if err != nil || n != tc.n || ok != tc.exists {
			t.Errorf("%s at %d: %d %v %v; want %d %v", tc.fork, tc.lsn, n, ok, err, tc.n, tc.exists)
		}
	}
	rels, err := s.Relations(rel.DbNode, 150)
	if err != nil || len(rels) != 1 || rels[RelFork{Rel: rel, Fork: schema.MainForkNum}] != 13 {
		t.Fatalf("relations at 150: %v %v", rels, err)
	}
	if size, err := s.DBSize(rel.DbNode, 500); err != nil || size != 0 {
		t.Fatalf("db size after the drop: %d %v", size, err)
	}
}

// TestGC keeps what reads at and above the horizon need.
func TestGC(t *testing.T) {
	s := openTest(t)
	tag := schema.BufferTag{Rel: rel, Block: 0}
	w := s.NewWriter()
	for i, lsn := range []schema.LSN{100, 200, 300, 400} {
		w.PutImage(tag, lsn, marked(byte(i+1)))
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	st, err := s.GC(350)
	if err != nil {
		t.Fatal(err)
	}
	if st.Deleted != 2 || s.Horizon() != 350 {
		t.Fatalf("gc: %+v, horizon %s", st, s.Horizon())
	}
	for lsn, mark := range map[schema.LSN]byte{350: 3, 399: 3, 400: 4} {
		if p, _, err := s.PageAt(tag, lsn); err != nil || p[100] != mark {
			t.Fatalf("at %d after gc: %v %v", lsn, p[100], err)
		}
	}
	if _, _, err := s.PageAt(tag, 150); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deleted version still read: %v", err)
	}
}

// TestLegacyShardCount: a store written before the shard count was
// recorded has one applied LSN per shard; that is its count.
func TestLegacyShardCount(t *testing.T) {
	dir := t.TempDir()
	log := slog.New(slog.DiscardHandler)
	s, err := Open(Options{Dir: dir, Shards: 3}, log)
	if err != nil {
		t.Fatal(err)
	}
	w := s.NewWriter()
	for i := 0; i < 3; i++ {
		w.SetApplied(i, 100, 7)
	}
	w.del(metaKey(metaShards))
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := Open(Options{Dir: dir, Shards: 2}, log); !errors.Is(err, ErrShardsMismatch) || !strings.Contains(err.Error(), "has 3") {
		t.Fatalf("legacy store of 3 shards opened with 2: %v", err)
	}
	s, err = Open(Options{Dir: dir, Shards: 2, AdoptShards: true}, log)
	if err != nil || s.Shards() != 3 {
		t.Fatalf("adopting: %v", err)
	}
	s.Close()
}

// TestImageCompression: a compressible page is stored S2-compressed, an
// incompressible one as it is; both read back exactly.
func TestImageCompression(t *testing.T) {
	s := openTest(t)
	random := make(schema.Page, schema.BLCKSZ)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range random {
		random[i] = byte(r.Uint32())
	}
	for i, p := range []schema.Page{marked(7), random} {
		v := imageValue(make([]byte, 1+s2.MaxEncodedLen(len(p))), p)
		wantKind := []byte{KindImageS2, KindImage}[i]
		if v[0] != wantKind {
			t.Errorf("page %d stored as kind %d, want %d (%d bytes)", i, v[0], wantKind, len(v))
		}
		tag := schema.BufferTag{Rel: rel, Block: schema.BlockNumber(i)}
		w := s.NewWriter()
		w.PutImage(tag, 100, p)
		if err := w.Commit(); err != nil {
			t.Fatal(err)
		}
		got, _, err := s.PageAt(tag, 100)
		if err != nil || !bytes.Equal(got, p) {
			t.Errorf("page %d read back differs (%v)", i, err)
		}
	}
}

// TestDamagedImageRefused: a page image whose bytes changed on disk after
// it was written (bit rot, a stray write) is refused with an error that
// names the page, not served.
func TestDamagedImageRefused(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(Options{Dir: dir, Shards: 1}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	page := make(schema.Page, schema.BLCKSZ) // incompressible: stored as it is
	r := rand.New(rand.NewPCG(3, 4))
	for i := range page {
		page[i] = byte(r.Uint32())
	}
	tag := schema.BufferTag{Rel: rel, Block: 9}
	w := s.NewWriter()
	w.PutImage(tag, 100, page)
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	if got, _, err := s.PageAt(tag, 100); err != nil || !bytes.Equal(got, page) {
		t.Fatalf("before the damage: %v", err)
	}

	// Flip one byte of the image where it lies in the value log.
	vlogs, err := filepath.Glob(filepath.Join(dir, "*.vlog"))
	if err != nil {
		t.Fatal(err)
	}
	damaged := false
	for _, name := range vlogs {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		i := bytes.Index(b, page[1000:1100])
		if i < 0 {
			continue
		}
		f, err := os.OpenFile(name, os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		_, err = f.WriteAt([]byte{b[i+50] ^ 0xFF}, int64(i+50))
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			t.Fatal(err)
		}
		damaged = true
	}
	if !damaged {
		t.Fatalf("the image is in none of the value log files %v", vlogs)
	}

	got, _, err := s.PageAt(tag, 100)
	if err == nil {
		t.Fatalf("a damaged image was served (equal to what was written: %v)", bytes.Equal(got, page))
	}
	if !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), tag.String()) {
		t.Errorf("want ErrDamaged naming the page %s; got %v", tag, err)
	}
	t.Logf("refused: %v", err)
}
