package rebuild

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pagemill/pagemill/redo/pagestore"
	"github.com/pagemill/pagemill/schema"
)

const testShards = 2

func testLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

func testOpts(dir string) pagestore.Options { return pagestore.Options{Dir: dir, Shards: testShards} }

// goodBase is a base backup record.
const goodBase = `{"prefix":"bb","start_lsn":50331688,"end_lsn":50331904,"pages":1}`

// createStore writes a store with a base backup record (or the given raw
// one) and applied watermarks.
func createStore(t *testing.T, base string, applied schema.LSN) string {
	dir := filepath.Join(t.TempDir(), "pages")
	s, err := pagestore.Open(testOpts(dir), testLogger())
	if err != nil {
		t.Fatal(err)
	}
	w := s.NewWriter()
	w.PutImage(schema.BufferTag{Rel: schema.RelFileNode{SpcNode: 1663, DbNode: 5, RelNode: 16384}}, 0x3000028, make(schema.Page, schema.BLCKSZ))
	w.SetMeta("base", []byte(base))
	for i := 0; i < testShards; i++ {
		w.SetApplied(i, applied, 0)
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

func movedAside(t *testing.T, dir string) []string {
	t.Helper()
	m, _ := filepath.Glob(dir + ".broken-*")
	return m
}

// TestOpenStore: OpenStore keeps a healthy store, moves a
// damaged one aside (corrupt MANIFEST, unreadable base record, watermarks
// behind the base, marked damaged by a node) and opens an empty one, and leaves a store another
// process holds alone.
func TestOpenStore(t *testing.T) {
	log, opts, create, good := testLogger(), testOpts, createStore, goodBase
	met := NewMetrics(prometheus.NewRegistry())
	t.Run("healthy", func(t *testing.T) {
		dir := create(t, good, 0x3000028)
		s, fresh, err := OpenStore(opts(dir), log, met)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if fresh || len(movedAside(t, dir)) != 0 {
			t.Fatalf("fresh %v, moved aside %v", fresh, movedAside(t, dir))
		}
	})
	t.Run("new", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "pages")
		s, fresh, err := OpenStore(opts(dir), log, met)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if !fresh || len(movedAside(t, dir)) != 0 {
			t.Fatalf("fresh %v, moved aside %v", fresh, movedAside(t, dir))
		}
	})
	damaged := map[string]func(t *testing.T) string{
		"manifest": func(t *testing.T) string {
			dir := create(t, good, 0x3000028)
			if err := os.WriteFile(filepath.Join(dir, "MANIFEST"), []byte("garbage garbage garbage"), 0o600); err != nil {
				t.Fatal(err)
			}
			return dir
		},
		"base record": func(t *testing.T) string { return create(t, "{not json", 0x3000028) },
		"watermarks":  func(t *testing.T) string { return create(t, good, 0) },
		// Found damaged while it ran (a node marked it): it opens fine.
		"marked": func(t *testing.T) string {
			dir := create(t, good, 0x3000028)
			if err := MarkDamaged(dir, fmt.Errorf("read page: %w", pagestore.ErrDamaged)); err != nil {
				t.Fatal(err)
			}
			return dir
		},
	}
	for name, damage := range damaged {
		t.Run(name, func(t *testing.T) {
			dir := damage(t)
			before := time.Now()
			s, fresh, err := OpenStore(opts(dir), log, met)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			moved := movedAside(t, dir)
			if !fresh || len(moved) != 1 {
				t.Fatalf("fresh %v, moved aside %v", fresh, moved)
			}
			if v, err := s.GetMeta("base"); err != nil || v != nil {
				t.Fatalf("new store has a base record %q (%v)", v, err)
			}
			if _, err := os.Stat(filepath.Join(dir, damagedMark)); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("the new store is marked damaged (%v)", err)
			}
			if fi, err := os.Stat(moved[0]); err != nil || fi.ModTime().Before(before.Add(-time.Minute)) || !strings.HasPrefix(filepath.Base(moved[0]), "pages.broken-") {
				t.Fatalf("moved aside to %s: %v", moved[0], err)
			}
		})
	}
	t.Run("locked", func(t *testing.T) {
		dir := create(t, good, 0x3000028)
		held, err := pagestore.Open(opts(dir), log)
		if err != nil {
			t.Fatal(err)
		}
		defer held.Close()
		s, _, err := OpenStore(opts(dir), log, met)
		if err == nil {
			s.Close()
			t.Fatal("opened a store another handle holds")
		}
		if storeDamaged(err) || len(movedAside(t, dir)) != 0 {
			t.Fatalf("a held store taken for damaged: %v; moved aside %v", err, movedAside(t, dir))
		}
	})
}

// TestPrepareDir: a non-empty directory is refused without force, and
// with it moved aside unless a process holds it.
func TestPrepareDir(t *testing.T) {
	log, opts, create, good := testLogger(), testOpts, createStore, goodBase
	met := NewMetrics(prometheus.NewRegistry())
	t.Run("force", func(t *testing.T) {
		dir := create(t, good, 0x3000028)
		if err := PrepareDir(dir, false, log, met); err == nil || !strings.Contains(err.Error(), "--force") {
			t.Fatalf("non-empty directory without --force: %v", err)
		}
		held, err := pagestore.Open(opts(dir), log)
		if err != nil {
			t.Fatal(err)
		}
		if err := PrepareDir(dir, true, log, met); err == nil || len(movedAside(t, dir)) != 0 {
			t.Fatalf("--force moved a store in use: %v", err)
		}
		held.Close()
		if err := PrepareDir(dir, true, log, met); err != nil || len(movedAside(t, dir)) != 1 {
			t.Fatalf("--force: %v, moved aside %v", err, movedAside(t, dir))
		}
		if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("%s still there: %v", dir, err)
		}
	})
}

// TestMoveAside: a second store moved aside in the same second gets a
// name of its own, and the directory is gone afterwards.
func TestMoveAside(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pages")
	var names []string
	for i := 0; i < 3; i++ {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "f"), []byte{byte(i)}, 0o600); err != nil {
			t.Fatal(err)
		}
		to, err := MoveAside(dir)
		if err != nil {
			t.Fatal(err)
		}
		if b, err := os.ReadFile(filepath.Join(to, "f")); err != nil || len(b) != 1 || b[0] != byte(i) {
			t.Fatalf("moved to %s: %v %v", to, b, err)
		}
		names = append(names, to)
	}
	if names[0] == names[1] || names[1] == names[2] || names[0] == names[2] {
		t.Fatalf("names %v", names)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("%s still there: %v", dir, err)
	}
	if _, err := MoveAside(dir); err == nil {
		t.Fatal("moved a directory that does not exist")
	}
}

// TestStoreDamaged: errors of the environment are not damage.
func TestStoreDamaged(t *testing.T) {
	for _, c := range []struct {
		err     error
		damaged bool
	}{
		{errors.New("manifest has bad magic"), true},
		{fmt.Errorf("open: %w", syscall.EACCES), false},
		{errors.New("Cannot acquire directory lock on \"/x\". Another process is using this Badger database."), false},
		{errors.New("write /x/000001.vlog: no space left on device"), false},
		{errors.New("read /x/MANIFEST: input/output error"), false},
	} {
		if got := storeDamaged(c.err); got != c.damaged {
			t.Errorf("storeDamaged(%q) = %v", c.err, got)
		}
	}
}

// TestCheckUnlocked: a directory a page store holds is refused.
func TestCheckUnlocked(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pages")
	s, err := pagestore.Open(pagestore.Options{Dir: dir, Shards: 1}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckUnlocked(dir); err == nil || !strings.Contains(err.Error(), "in use by another process") {
		t.Fatalf("held store: %v", err)
	}
	s.Close()
	if err := CheckUnlocked(dir); err != nil {
		t.Fatalf("closed store: %v", err)
	}
}
