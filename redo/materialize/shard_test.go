package materialize

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pagemill/pagemill/internal/pgtest"
	"github.com/pagemill/pagemill/redo"
	"github.com/pagemill/pagemill/redo/pagestore"
	"github.com/pagemill/pagemill/schema"
	"github.com/pagemill/pagemill/streams"
)

// TestRestoredPageNotRead: a page that a record overwrites with its
// full-page image is not read from the store first, so a version the store
// cannot read does not stop the record (a page redo does read fails the
// batch), and the version written is the image.
func TestRestoredPageNotRead(t *testing.T) {
	// A record with an applied image, from the redo package's test WAL.
	dir := pgtest.UnpackWAL(t, filepath.Join("..", "testdata", "verify", "plain"))
	d, err := schema.OpenWALDir(os.DirFS(dir), schema.DirOptions{Start: 0x01300000})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	var rec *schema.DecodedRecord
	var tag schema.BufferTag
	for rec == nil {
		r, err := d.Next()
		if err != nil {
			t.Fatalf("no record with a main-fork image to apply: %v", err)
		}
		for i := range r.Blocks {
			if b := &r.Blocks[i]; b.ApplyImage() && b.Tag.Fork == schema.MainForkNum && len(r.Blocks) == 1 {
				rec, tag = r, b.Tag
			}
		}
	}

	store, err := pagestore.Open(pagestore.Options{InMemory: true, Shards: 1}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	// An older version of the page that cannot be read back: an image of
	// the wrong size.
	w := store.NewWriter()
	w.PutImage(tag, rec.LSN, make(schema.Page, 100))
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	m, err := New(Config{Layout: streams.Layout{SystemID: 1, Timeline: 1, Shards: 1}}, nil, nil, store, prometheus.NewRegistry(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	s := m.shards[0]
	if s.engine, err = redo.NewEngine(); err != nil {
		t.Fatal(err)
	}

	// The control: reading that page fails.
	s.page(tag)
	if err := s.takeLoadErr(); err == nil || !strings.Contains(err.Error(), "load page") {
		t.Fatalf("reading the unreadable version: %v", err)
	}

	s.w = store.NewWriter()
	if err := s.applyRecord(rec); err != nil {
		t.Fatalf("%s at %s with an image of %s: %v", schema.RecordTypeName(rec.Rmgr(), rec.Info()), rec.LSN, tag, err)
	}
	if err := s.w.Commit(); err != nil {
		t.Fatal(err)
	}
	want := s.cache[tag].page
	if want.IsNew() || want.LSN() != rec.EndLSN {
		t.Fatalf("cached page after the image: new %v, LSN %s (record ends at %s)", want.IsNew(), want.LSN(), rec.EndLSN)
	}
	got, at, err := store.PageAt(tag, rec.EndLSN)
	if err != nil || at != rec.EndLSN || !bytes.Equal(got, want) {
		t.Fatalf("stored version at %s: version %s, equal %v, %v", rec.EndLSN, at, bytes.Equal(got, want), err)
	}
}
