package restore

import (
	"archive/tar"
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"time"
	"unsafe"

	"github.com/pagemill/pagemill/schema"
)

// tarCommentFormat is the pax comment of a restore tar's first entry: the
// target LSN and the estimated size of the data directory, for a client's
// progress (ParseTarComment). Readers ignore pax comments.
const tarCommentFormat = "pagemill data directory at LSN %s, about %d bytes"

var tarCommentRE = regexp.MustCompile(`^pagemill data directory at LSN ([0-9A-Fa-f]+/[0-9A-Fa-f]+), about (\d+) bytes$`)

// ParseTarComment reads the target LSN and the estimated size from the
// pax comment of a restore tar's first entry (tar.Header.PAXRecords
// ["comment"]).
func ParseTarComment(c string) (schema.LSN, int64, bool) {
	m := tarCommentRE.FindStringSubmatch(c)
	if m == nil {
		return 0, 0, false
	}
	lsn, err1 := schema.ParseLSN(m[1])
	n, err2 := strconv.ParseInt(m[2], 10, 64)
	return lsn, n, err1 == nil && err2 == nil
}

// tarSink writes a tar stream.
type tarSink struct {
	bw      *bufio.Writer
	tw      *tar.Writer
	mtime   time.Time
	comment string // for the first entry, then ""
}

func newTarSink(w io.Writer, mtime time.Time, comment string) *tarSink {
	// Pages go out 8 KiB at a time: batch them for the pipe or the wire.
	bw := bufio.NewWriterSize(w, 1<<20)
	return &tarSink{bw: bw, tw: tar.NewWriter(bw), mtime: mtime, comment: comment}
}

func (t *tarSink) ordered() bool { return true }

func (t *tarSink) header(h *tar.Header) error {
	if t.comment != "" {
		h.Format = tar.FormatPAX
		h.PAXRecords = map[string]string{"comment": t.comment}
		t.comment = ""
	}
	if err := t.tw.WriteHeader(h); err != nil {
		return fmt.Errorf("tar entry %s: %w", h.Name, err)
	}
	return nil
}

func (t *tarSink) dir(name string) error {
	return t.header(&tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: 0o700, ModTime: t.mtime})
}

func (t *tarSink) file(name string, data []byte) error {
	if err := t.relation(name, int64(len(data))); err != nil {
		return err
	}
	if _, err := t.tw.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	return nil
}

func (t *tarSink) relation(name string, size int64) error {
	return t.header(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o600, Size: size, ModTime: t.mtime})
}

func (t *tarSink) pages(name string, _ int64, pages []schema.Page) error {
	for _, p := range pages {
		if _, err := t.tw.Write(p); err != nil {
			return err
		}
	}
	return nil
}

func (t *tarSink) release() {}

func (t *tarSink) finish() error {
	if err := t.tw.Close(); err != nil {
		return err
	}
	return t.bw.Flush()
}

// dirSink writes into a directory: files created new, zero pages left as
// holes, one sync of the file system at the end.
type dirSink struct {
	root string
	bufs sync.Pool // *[]byte of chunkPages pages, for runs of pages
	// direct: relation files are written with O_DIRECT (the file system
	// takes it); bufs are then aligned as it requires.
	direct bool

	// Relation files stay open from their creation until every page is
	// written (opening a file per chunk was a third of the time).
	mu   sync.Mutex
	open map[string]*openFile
}

// openFile is a relation file being written and the bytes still to come.
type openFile struct {
	f    *os.File
	left int64
}

// checkEmptyDir fails unless dir does not exist or is an empty directory.
func checkEmptyDir(dir string) error {
	ents, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("target directory: %w", err)
	case len(ents) > 0:
		return fmt.Errorf("%w: the target directory %s is not empty (%d entries, %s first)", ErrNotRestorable, dir, len(ents), ents[0].Name())
	}
	return nil
}

func newDirSink(dir string) (*dirSink, error) {
	if err := checkEmptyDir(dir); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("target directory: %w", err)
	}
	d := &dirSink{root: dir, open: map[string]*openFile{}}
	d.direct = directWorks(dir)
	d.bufs.New = func() any { b := alignedBuffer(chunkPages * schema.BLCKSZ); return &b }
	return d, nil
}

// directMinSize: relation files from this size on are written with
// direct I/O; smaller ones (most catalogs are a page or two) through the
// page cache, where a write costs no wait for the device.
const directMinSize = chunkPages * schema.BLCKSZ

// directAlign is the alignment of direct I/O buffers (offsets and lengths
// are multiples of pages already).
const directAlign = 4096

// alignedBuffer is a buffer of n bytes starting at a directAlign boundary.
func alignedBuffer(n int) []byte {
	b := make([]byte, n+directAlign)
	off := 0
	if r := int(uintptr(unsafe.Pointer(&b[0])) % directAlign); r != 0 {
		off = directAlign - r
	}
	return b[off : off+n : off+n]
}

// directWorks reports whether files in dir can be written with direct
// I/O: a probe file takes an aligned page.
func directWorks(dir string) bool {
	if directFlag == 0 {
		return false
	}
	probe := filepath.Join(dir, ".pagemill-direct-probe")
	f, err := os.OpenFile(probe, os.O_CREATE|os.O_EXCL|os.O_WRONLY|directFlag, 0o600)
	if err != nil {
		return false
	}
	_, err = f.WriteAt(alignedBuffer(schema.BLCKSZ), 0)
	f.Close()
	os.Remove(probe)
	return err == nil
}

func (d *dirSink) ordered() bool { return false }

func (d *dirSink) path(name string) string { return filepath.Join(d.root, filepath.FromSlash(name)) }

func (d *dirSink) dir(name string) error {
	if err := os.MkdirAll(d.path(name), 0o700); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	return nil
}

func (d *dirSink) create(name string, size int64, flags int) (*os.File, error) {
	p := d.path(name)
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_WRONLY|flags, 0o600)
	if err != nil {
		return nil, err
	}
	if err := f.Truncate(size); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

func (d *dirSink) file(name string, data []byte) error {
	f, err := d.create(name, int64(len(data)), 0)
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	// Whole zero blocks stay holes (a WAL segment is mostly zeros).
	var werr error
	for off := 0; off < len(data) && werr == nil; off += schema.BLCKSZ {
		blk := data[off:min(off+schema.BLCKSZ, len(data))]
		if len(blk) == schema.BLCKSZ && isZero(blk) {
			continue
		}
		_, werr = f.WriteAt(blk, int64(off))
	}
	if err := f.Close(); werr == nil {
		werr = err
	}
	if werr != nil {
		return fmt.Errorf("restore: write %s: %w", name, werr)
	}
	return nil
}

func (d *dirSink) relation(name string, size int64) error {
	flags := 0
	if d.direct && size >= directMinSize {
		flags = directFlag
	}
	f, err := d.create(name, size, flags)
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	if size == 0 {
		return f.Close()
	}
	d.mu.Lock()
	d.open[name] = &openFile{f: f, left: size}
	d.mu.Unlock()
	return nil
}

// pages writes the runs of non-zero pages; zero pages stay holes. The
// file is closed once all its pages came.
func (d *dirSink) pages(name string, off int64, pages []schema.Page) error {
	d.mu.Lock()
	of := d.open[name]
	d.mu.Unlock()
	if of == nil {
		return fmt.Errorf("restore: pages for %s, which is not open", name)
	}
	bp := d.bufs.Get().(*[]byte)
	defer d.bufs.Put(bp)
	buf := *bp
	var werr error
	for i := 0; i < len(pages) && werr == nil; {
		if isZero(pages[i]) {
			i++
			continue
		}
		j := i
		run := buf[:0]
		for j < len(pages) && !isZero(pages[j]) {
			run = append(run, pages[j]...)
			j++
		}
		_, werr = of.f.WriteAt(run, off+int64(i)*schema.BLCKSZ)
		i = j
	}
	if werr != nil {
		return werr
	}
	d.mu.Lock()
	of.left -= int64(len(pages)) * schema.BLCKSZ
	last := of.left <= 0
	if last {
		delete(d.open, name)
	}
	d.mu.Unlock()
	if last {
		return of.f.Close()
	}
	return nil
}

func (d *dirSink) release() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for name, of := range d.open {
		of.f.Close()
		delete(d.open, name)
	}
}

func (d *dirSink) finish() error {
	d.mu.Lock()
	left := len(d.open)
	for name, of := range d.open {
		of.f.Close()
		delete(d.open, name)
	}
	d.mu.Unlock()
	if left > 0 {
		return fmt.Errorf("restore: %d relation files were not written to the end", left)
	}
	if err := SyncTree(d.root); err != nil {
		return fmt.Errorf("restore: sync %s: %w", d.root, err)
	}
	return nil
}
