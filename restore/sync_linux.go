package restore

import (
	"os"

	"golang.org/x/sys/unix"
)

// SyncTree makes everything written under dir durable: one syncfs(2) of
// its file system.
func SyncTree(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return unix.Syncfs(int(f.Fd()))
}

// directFlag is the open(2) flag for writes that bypass the page cache
// (O_DIRECT): relation files are written with it where the file system
// takes it, at the disk's speed and without filling the page cache.
const directFlag = unix.O_DIRECT
