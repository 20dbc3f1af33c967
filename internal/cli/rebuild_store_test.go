package cli

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pagemill/pagemill/redo/pagestore"
	"github.com/pagemill/pagemill/schema"
)

// TestRebuildOpenPageStore: openPageStore keeps a healthy store, moves a
// damaged one aside (corrupt MANIFEST, unreadable base record, watermarks
// behind the base) and opens an empty one, and leaves a store another
// process holds alone.
func TestRebuildOpenPageStore(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	met := newRebuildMetrics(prometheus.NewRegistry())
	const shards = 2
	opts := func(dir string) pagestore.Options { return pagestore.Options{Dir: dir, Shards: shards} }
	// create writes a store with a base backup record (or the given
	// raw one) and applied watermarks.
	create := func(t *testing.T, base string, applied schema.LSN) string {
		dir := filepath.Join(t.TempDir(), "pages")
		s, err := pagestore.Open(opts(dir), log)
		if err != nil {
			t.Fatal(err)
		}
		w := s.NewWriter()
		w.PutImage(schema.BufferTag{Rel: schema.RelFileNode{SpcNode: 1663, DbNode: 5, RelNode: 16384}}, 0x3000028, make(schema.Page, schema.BLCKSZ))
		w.SetMeta("base", []byte(base))
		for i := 0; i < shards; i++ {
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
	good := `{"prefix":"bb","start_lsn":50331688,"end_lsn":50331904,"pages":1}`
	movedAside := func(t *testing.T, dir string) []string {
		t.Helper()
		m, _ := filepath.Glob(dir + ".broken-*")
		return m
	}

	t.Run("healthy", func(t *testing.T) {
		dir := create(t, good, 0x3000028)
		s, fresh, err := openPageStore(opts(dir), log, met)
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
		s, fresh, err := openPageStore(opts(dir), log, met)
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
	}
	for name, damage := range damaged {
		t.Run(name, func(t *testing.T) {
			dir := damage(t)
			before := time.Now()
			s, fresh, err := openPageStore(opts(dir), log, met)
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
		s, _, err := openPageStore(opts(dir), log, met)
		if err == nil {
			s.Close()
			t.Fatal("opened a store another handle holds")
		}
		if storeDamaged(err) || len(movedAside(t, dir)) != 0 {
			t.Fatalf("a held store taken for damaged: %v; moved aside %v", err, movedAside(t, dir))
		}
	})
	t.Run("force", func(t *testing.T) {
		dir := create(t, good, 0x3000028)
		if err := preparePagesDir(dir, false, log, met); err == nil || !strings.Contains(err.Error(), "--force") {
			t.Fatalf("non-empty directory without --force: %v", err)
		}
		held, err := pagestore.Open(opts(dir), log)
		if err != nil {
			t.Fatal(err)
		}
		if err := preparePagesDir(dir, true, log, met); err == nil || len(movedAside(t, dir)) != 0 {
			t.Fatalf("--force moved a store in use: %v", err)
		}
		held.Close()
		if err := preparePagesDir(dir, true, log, met); err != nil || len(movedAside(t, dir)) != 1 {
			t.Fatalf("--force: %v, moved aside %v", err, movedAside(t, dir))
		}
		if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("%s still there: %v", dir, err)
		}
	})
}

// TestRebuildProgressLine: the progress bar's line and the summary.
func TestRebuildProgressLine(t *testing.T) {
	p := rebuildProgress{BasePages: 100, BaseTotal: 100, Applied: 0x2000000, Target: 0x3000000,
		WALDone: 16 << 20, WALTotal: 32 << 20, Records: 1234, Versions: 2000, Elapsed: 3 * time.Second, WALElapsed: 2 * time.Second}
	line := p.Line()
	for _, want := range []string{"[############............]", " 50.0%", "WAL 16.8/33.6 MB", "8.4 MB/s", "ETA 0:02", "1234 records"} {
		if !strings.Contains(line, want) {
			t.Errorf("line %q lacks %q", line, want)
		}
	}
	p.Importing, p.BasePages = true, 25
	if line := p.Line(); !strings.Contains(line, "base 25/100 pages") || !strings.Contains(line, " 25.0%") {
		t.Errorf("import line %q", line)
	}
	p.Importing, p.Done, p.WALDone = false, true, p.WALTotal
	sum := p.Summary("/d/pages", 50e6)
	for _, want := range []string{"33.8 MB (base 0.2 MB + WAL 33.6 MB) in 3.00 s, 11.3 MB/s (WAL replay 16.8 MB/s)", "25 base pages + 2000 page versions", "store 50.0 MB"} {
		if !strings.Contains(sum, want) {
			t.Errorf("summary %q lacks %q", sum, want)
		}
	}
	var b strings.Builder
	bar := &progressBar{out: &b}
	bar.draw("long line here")
	bar.draw("short")
	bar.finish()
	if got := b.String(); got != "\rlong line here\rshort         \n" {
		t.Errorf("bar output %q", got)
	}
}
