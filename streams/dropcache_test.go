package streams

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/sys/unix"
)

// TestDropCache: with DropCacheEvery, the message blocks' pages leave the
// page cache once written; without it they stay (the control, so the test
// sees residency at all).
func TestDropCache(t *testing.T) {
	for _, every := range []time.Duration{0, 20 * time.Millisecond} {
		dir := t.TempDir()
		e, err := StartEmbedded(testCtx(t, 10*time.Second), EmbeddedConfig{Dir: dir, DropCacheEvery: every}, testLogger(t))
		if err != nil {
			t.Fatal(err)
		}
		_, js := connect(t, e)
		ctx := testCtx(t, 10*time.Second)
		if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "D", Subjects: []string{"d"}}); err != nil {
			t.Fatal(err)
		}
		body := make([]byte, 64<<10)
		for i := range 32 {
			body[0] = byte(i)
			if _, err := js.Publish(ctx, "d", body); err != nil {
				t.Fatal(err)
			}
		}
		resident := 0
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			if resident = residentPages(t, dir); (resident == 0) == (every > 0) {
				break
			}
		}
		e.Shutdown()
		if every > 0 && resident != 0 {
			t.Errorf("DropCacheEvery %v: %d pages of the blocks still cached", every, resident)
		}
		if every == 0 && resident == 0 {
			t.Errorf("without DropCacheEvery no page of the blocks is cached: the test cannot see a drop")
		}
	}
}

// residentPages counts the cached pages of the .blk files under dir.
func residentPages(t *testing.T, dir string) int {
	t.Helper()
	n := 0
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".blk") {
			return err
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		st, err := f.Stat()
		if err != nil || st.Size() == 0 {
			return err
		}
		m, err := unix.Mmap(int(f.Fd()), 0, int(st.Size()), unix.PROT_READ, unix.MAP_SHARED)
		if err != nil {
			return err
		}
		defer unix.Munmap(m)
		vec := make([]byte, (len(m)+os.Getpagesize()-1)/os.Getpagesize())
		if _, _, errno := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&m[0])), uintptr(len(m)), uintptr(unsafe.Pointer(&vec[0]))); errno != 0 {
			return errno
		}
		for _, v := range vec {
			n += int(v & 1)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}
