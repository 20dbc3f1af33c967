package pagestore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// On disk, a segment's bytes are not a Badger value: they are appended to
// files of their own (segFiles), with one write a commit, and the
// segment key holds where they are. Through Badger's
// value log every byte of a segment was encoded once more into a buffer
// that grew with each commit, copied into a memory-mapped file and then
// synced by msync of the mapping: a sixth of the materializer's CPU and
// a tenth of its allocations. In memory (tests) segments stay values.
//
// The segment key's value on disk (segPointerLen bytes):
//
//	version 2 | file (4) | offset (8) | length (4) | crc32c (4)
//
// crc32c is of the segment's header and directory, checked when the
// store opens and reads them to index the segment.
const (
	segPointerVersion = 2
	segPointerLen     = 1 + 4 + 8 + 4 + 4
	// segFileBytes is the default size at which appends go to a new
	// file: GC removes a file once none of its segments is left.
	segFileBytes = 64 << 20
	segDirName   = "segments"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// segPointer is where a segment's bytes are.
type segPointer struct {
	file uint32
	off  int64
	n    uint32
	crc  uint32 // of the header and directory
}

func (p segPointer) encode() []byte {
	v := make([]byte, segPointerLen)
	v[0] = segPointerVersion
	be := binary.BigEndian
	be.PutUint32(v[1:], p.file)
	be.PutUint64(v[5:], uint64(p.off))
	be.PutUint32(v[13:], p.n)
	be.PutUint32(v[17:], p.crc)
	return v
}

func parseSegPointer(seq uint64, v []byte) (segPointer, error) {
	if len(v) != segPointerLen || v[0] != segPointerVersion {
		return segPointer{}, fmt.Errorf("segment %d: a value of %d bytes, version %v: not a segment pointer of version %d", seq, len(v), v[:min(len(v), 1)], segPointerVersion)
	}
	be := binary.BigEndian
	return segPointer{file: be.Uint32(v[1:]), off: int64(be.Uint64(v[5:])), n: be.Uint32(v[13:]), crc: be.Uint32(v[17:])}, nil
}

// segFiles are the files segments are appended to, in Options.Dir's
// segments directory, named by number. A store appends to a file it
// created since it opened, never to an older one: what a crash left past
// the last segment a key points at is dead space, removed with its file.
type segFiles struct {
	dir       string
	fileBytes int64 // the size at which appends go to a new file
	log       *slog.Logger

	mu    sync.Mutex
	files map[uint32]*segFile
	cur   *segFile // appended to; nil until the first append
	next  uint32   // the next file's number
	// retired files are unlinked (no segment of theirs is left) and still
	// open for a read that found one of their segments before GC
	// removed it; the GC after the one that retired them closes them.
	retired []*segFile
	// dirty are the files appended to since the last sync; created, that
	// a file was made since (the directory is synced too).
	dirty   []*os.File
	created bool
}

type segFile struct {
	id   uint32
	f    *os.File
	size int64
	live int // segments of the file the store's keys point at
}

func segFileName(dir string, id uint32) string {
	return filepath.Join(dir, fmt.Sprintf("%08d.seg", id))
}

// openSegFiles opens the segment files in dir (creating it).
func openSegFiles(storeDir string, fileBytes int64, log *slog.Logger) (*segFiles, error) {
	dir := filepath.Join(storeDir, segDirName)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("segment files: %w", err)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("segment files: %w", err)
	}
	fs := &segFiles{dir: dir, fileBytes: fileBytes, log: log, files: map[uint32]*segFile{}, next: 1} // 0: no file
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), ".seg")
		id, err := strconv.ParseUint(name, 10, 32)
		if !ok || err != nil || e.IsDir() {
			continue
		}
		f, err := os.Open(filepath.Join(dir, e.Name()))
		if err != nil {
			fs.close()
			return nil, fmt.Errorf("segment files: %w", err)
		}
		info, err := f.Stat()
		if err != nil {
			f.Close()
			fs.close()
			return nil, fmt.Errorf("segment files: %w", err)
		}
		fs.files[uint32(id)] = &segFile{id: uint32(id), f: f, size: info.Size()}
		fs.next = max(fs.next, uint32(id)+1)
	}
	return fs, nil
}

// errSegFileGone: a segment's file is not there.
var errSegFileGone = errors.New("segment file missing")

// readAt reads len(b) bytes of file id at off.
func (fs *segFiles) readAt(id uint32, off int64, b []byte) error {
	fs.mu.Lock()
	f := fs.files[id]
	for _, r := range fs.retired {
		if f == nil && r.id == id {
			f = r
		}
	}
	fs.mu.Unlock()
	if f == nil {
		return fmt.Errorf("%w: %s", errSegFileGone, segFileName(fs.dir, id))
	}
	// Reads outside mu: a file leaves files only to be retired, and is
	// closed a whole GC later (see removed).
	if _, err := f.f.ReadAt(b, off); err != nil {
		return fmt.Errorf("segment file %s at %d (+%d): %w", f.f.Name(), off, len(b), err)
	}
	return nil
}

// append appends the segments vs, each whole to one file, and returns
// where they are. They are durable after the next sync. Their places
// are taken under mu and written outside it, so that the shards' commits
// do not wait on each other's writes; a file is marked for the next
// sync once written.
func (fs *segFiles) append(vs [][]byte) ([]segPointer, error) {
	ptrs := make([]segPointer, 0, len(vs))
	files := make([]*segFile, 0, len(vs))
	fs.mu.Lock()
	for _, v := range vs {
		if fs.cur == nil || fs.cur.size > 0 && fs.cur.size+int64(len(v)) > fs.fileBytes {
			if err := fs.roll(); err != nil {
				fs.mu.Unlock()
				return nil, err
			}
		}
		f := fs.cur
		ptrs = append(ptrs, segPointer{file: f.id, off: f.size, n: uint32(len(v))})
		files = append(files, f)
		f.size += int64(len(v))
		f.live++
	}
	fs.mu.Unlock()
	for i, v := range vs {
		f, p := files[i], &ptrs[i]
		if _, err := f.f.WriteAt(v, p.off); err != nil {
			return nil, fmt.Errorf("segment file %s at %d: %w", f.f.Name(), p.off, err)
		}
		p.crc = crc32.Checksum(segDirectory(v), castagnoli)
	}
	fs.mu.Lock()
	for _, f := range files {
		if !slices.Contains(fs.dirty, f.f) {
			fs.dirty = append(fs.dirty, f.f)
		}
	}
	fs.mu.Unlock()
	return ptrs, nil
}

// sync makes every append before the call durable. It runs before
// Badger's sync (Store.Sync), so a key that is durable points at bytes
// that are. (Badger may write a commit to disk before its Sync; a crash
// of the machine then can leave a key whose segment is lost: the
// directory's checksum finds that when the store opens, and a lost pack
// fails its records' WAL checksums when read.)
func (fs *segFiles) sync() error {
	fs.mu.Lock()
	dirty, created := fs.dirty, fs.created
	fs.dirty, fs.created = nil, false
	fs.mu.Unlock()
	// Outside mu: the shards append meanwhile.
	if created {
		// The new files' names, before a key pointing into them is.
		if err := syncDir(fs.dir); err != nil {
			fs.mu.Lock()
			fs.created = true
			fs.dirty = append(fs.dirty, dirty...)
			fs.mu.Unlock()
			return err
		}
	}
	for i, f := range dirty {
		if err := f.Sync(); err != nil {
			fs.mu.Lock()
			fs.dirty = append(fs.dirty, dirty[i:]...) // still to sync
			fs.mu.Unlock()
			return fmt.Errorf("segment file %s: sync: %w", f.Name(), err)
		}
	}
	return nil
}

// roll starts a new file to append to (under mu).
func (fs *segFiles) roll() error {
	id := fs.next
	f, err := os.OpenFile(segFileName(fs.dir, id), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("segment files: %w", err)
	}
	// Its name is synced with its bytes (sync): an fsync of the directory
	// here, under mu, held up both shards' commits.
	fs.created = true
	fs.next++
	sf := &segFile{id: id, f: f}
	fs.files[id] = sf
	fs.cur = sf
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("segment files: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("segment files: sync %s: %w", dir, err)
	}
	return nil
}

// segDirectory is the header and directory of an encoded segment.
func segDirectory(v []byte) []byte {
	if len(v) < segHeaderLen {
		return v
	}
	n := segHeaderLen + int(binary.BigEndian.Uint32(v[21:]))*segEntryLen
	return v[:min(n, len(v))]
}

// counted notes a segment of file id that a key points at (as the store
// opens).
func (fs *segFiles) counted(id uint32) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if f := fs.files[id]; f != nil {
		f.live++
	}
}

// removed notes that the keys of segments in files ids are deleted, and
// retires the files left with none (not the one appended to). It closes
// what the previous call retired.
func (fs *segFiles) removed(ids []uint32) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	for _, f := range fs.retired {
		f.f.Close()
	}
	fs.retired = fs.retired[:0]
	for _, id := range ids {
		if f := fs.files[id]; f != nil {
			f.live--
		}
	}
	fs.retireEmpty()
}

// retireEmpty unlinks the files no key points into, but the one appended
// to (under mu).
func (fs *segFiles) retireEmpty() {
	for id, f := range fs.files {
		if f.live > 0 || f == fs.cur {
			continue
		}
		if err := os.Remove(f.f.Name()); err != nil && !errors.Is(err, os.ErrNotExist) {
			fs.log.Warn("segment file not removed", "file", f.f.Name(), "err", err)
			continue
		}
		delete(fs.files, id)
		fs.retired = append(fs.retired, f)
	}
}

// bytes is the size of the segment files (as this process wrote or
// found them).
func (fs *segFiles) bytes() int64 {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	var n int64
	for _, f := range fs.files {
		n += f.size
	}
	return n
}

func (fs *segFiles) close() {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	for _, f := range fs.files {
		f.f.Close()
	}
	for _, f := range fs.retired {
		f.f.Close()
	}
	fs.files, fs.retired, fs.cur = map[uint32]*segFile{}, nil, nil
}
