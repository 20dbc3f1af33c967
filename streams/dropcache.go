package streams

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// dropCache tells the kernel, every interval until ctx ends, that the
// cached pages of the store's message blocks are not needed again: a
// message is written once and read about once (by the materializer), and
// under a memory limit that counts page cache (a cgroup) those pages
// otherwise crowd out the page store's, whose reads they slow. Dirty
// pages stay (fsync makes them clean soon); a block read again is read
// from disk.
func (e *Embedded) dropCache(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		n := 0
		_ = filepath.WalkDir(e.cfg.Dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".blk") {
				return nil // a block removed while walking, or not a block
			}
			f, err := os.Open(path)
			if err != nil {
				return nil
			}
			defer f.Close()
			if unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED) == nil {
				n++
			}
			return ctx.Err()
		})
		e.log.Debug("dropped the message blocks' cached pages", "blocks", n)
	}
}
