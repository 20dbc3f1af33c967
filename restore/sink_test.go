package restore

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/pagemill/pagemill/schema"
)

// TestDirSink: relation files get their pages at any offset, zero pages
// stay holes (the file takes less disk than its size), files are closed
// once written; small files keep whole zero blocks as holes too; a
// directory that is not empty is refused.
func TestDirSink(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "dd")
	d, err := newDirSink(dir)
	if err != nil {
		t.Fatal(err)
	}
	page := func(b byte) schema.Page {
		p := make(schema.Page, schema.BLCKSZ)
		p[0], p[schema.BLCKSZ-1] = b, b
		return p
	}
	const n = 256
	if err := d.relation("base/5/16384", n*schema.BLCKSZ); err != nil {
		t.Fatal(err)
	}
	// Two chunks, the second first; most pages zero.
	second := make([]schema.Page, n/2)
	first := make([]schema.Page, n/2)
	for i := range second {
		second[i], first[i] = zeroPage, zeroPage
	}
	second[5], first[0], first[1] = page(3), page(1), page(2)
	if err := d.pages("base/5/16384", n/2*schema.BLCKSZ, second); err != nil {
		t.Fatal(err)
	}
	if len(d.open) != 1 {
		t.Fatalf("%d files open after half the pages", len(d.open))
	}
	if err := d.pages("base/5/16384", 0, first); err != nil {
		t.Fatal(err)
	}
	if len(d.open) != 0 {
		t.Fatalf("%d files open after all pages", len(d.open))
	}
	if err := d.file("pg_wal/seg", append(append(make([]byte, 4*schema.BLCKSZ), page(7)...), 1, 2, 3)); err != nil {
		t.Fatal(err)
	}
	if err := d.finish(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "base/5/16384"))
	if err != nil || len(b) != n*schema.BLCKSZ {
		t.Fatalf("relation file: %d bytes, %v", len(b), err)
	}
	for i, want := range map[int]byte{0: 1, 1: 2, n/2 + 5: 3, 7: 0, n - 1: 0} {
		if got := b[i*schema.BLCKSZ]; got != want || b[(i+1)*schema.BLCKSZ-1] != want {
			t.Errorf("page %d starts with %d, want %d", i, got, want)
		}
	}
	for _, f := range []string{"base/5/16384", "pg_wal/seg"} {
		st, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if sys, ok := st.Sys().(*syscall.Stat_t); ok && sys.Blocks*512 >= st.Size() {
			t.Errorf("%s: %d bytes on disk for a %d-byte file with holes", f, sys.Blocks*512, st.Size())
		}
	}
	if _, err := newDirSink(dir); !errors.Is(err, ErrNotRestorable) {
		t.Errorf("a directory that is not empty: %v", err)
	}
}

// TestTarComment: the first entry of a restore tar carries the target and
// the size estimate, which ParseTarComment reads back.
func TestTarComment(t *testing.T) {
	var buf bytes.Buffer
	s := newTarSink(&buf, time.Now(), fmt.Sprintf(tarCommentFormat, schema.LSN(0x1_0000_2A28).Short(), 123456789))
	if err := s.dir("global"); err != nil {
		t.Fatal(err)
	}
	if err := s.file("PG_VERSION", []byte("15\n")); err != nil {
		t.Fatal(err)
	}
	if err := s.finish(); err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(&buf)
	h, err := tr.Next()
	if err != nil {
		t.Fatal(err)
	}
	lsn, n, ok := ParseTarComment(h.PAXRecords["comment"])
	if !ok || lsn != 0x1_0000_2A28 || n != 123456789 || h.Name != "global/" {
		t.Errorf("first entry %q, comment %q: %s %d %v", h.Name, h.PAXRecords["comment"], lsn, n, ok)
	}
	if h, err = tr.Next(); err != nil || h.PAXRecords["comment"] != "" {
		t.Errorf("second entry: %+v %v", h, err)
	}
}
