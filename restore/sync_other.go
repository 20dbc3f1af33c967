//go:build !linux

package restore

import (
	"io/fs"
	"os"
	"path/filepath"
)

// SyncTree makes everything written under dir durable: every file and
// directory fsynced, once, at the end.
func SyncTree(dir string) error {
	return filepath.WalkDir(dir, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		err = f.Sync()
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		return err
	})
}

// directFlag: no direct I/O here; relation files go through the page
// cache.
const directFlag = 0
