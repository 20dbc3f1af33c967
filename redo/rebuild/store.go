package rebuild

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/pagemill/pagemill/redo/pagestore"
	"github.com/pagemill/pagemill/schema"
)

// PrepareDir makes sure dir is absent or empty: a non-empty one is
// refused, or with force moved aside (unless a process has it open).
func PrepareDir(dir string, force bool, log *slog.Logger, met *Metrics) error {
	ents, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil
	case err != nil:
		return err
	case len(ents) == 0:
		return nil
	case !force:
		return fmt.Errorf("%s is not empty (%d entries): rebuild into an empty directory, or give --force to move it aside", dir, len(ents))
	}
	if err := CheckUnlocked(dir); err != nil {
		return err
	}
	to, err := MoveAside(dir)
	if err != nil {
		return err
	}
	met.movedAside.Inc()
	log.Warn("moved the old page store aside", "from", dir, "to", to)
	return nil
}

// CheckUnlocked fails when a process (a running `pagemill run`) holds
// the page store in dir: Badger flocks its directory.
func CheckUnlocked(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		return fmt.Errorf("%s is in use by another process (is `pagemill run` running on it?): %w", dir, err)
	}
	return syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
}

// MoveAside renames dir to dir.broken-<timestamp> (with a counter when
// that exists) and returns the new name.
func MoveAside(dir string) (string, error) {
	to := dir + ".broken-" + time.Now().UTC().Format("20060102T150405Z")
	for i := 2; ; i++ {
		if _, err := os.Lstat(to); errors.Is(err, os.ErrNotExist) {
			break
		}
		to = fmt.Sprintf("%s.broken-%s-%d", dir, time.Now().UTC().Format("20060102T150405Z"), i)
	}
	if err := os.Rename(dir, to); err != nil {
		return "", fmt.Errorf("move %s aside: %w", dir, err)
	}
	return to, nil
}

// OpenStore opens the page store of a node. A store that cannot be opened
// because it is damaged (Badger reports corruption, or the store's own
// records are unreadable), or that was found damaged while it ran
// (MarkDamaged), is moved aside to dir.broken-<timestamp> and an
// empty one opened in its place: the materializer then rebuilds it from
// the streams. Errors of the environment (another process holds the
// store, permissions, a full or failing disk) are returned as they are:
// the store may be fine. fresh reports a store without an imported base
// backup (new, lost or moved aside), which the materializer fills from
// the streams.
func OpenStore(opts pagestore.Options, log *slog.Logger, met *Metrics) (store *pagestore.Store, fresh bool, err error) {
	if err = markedDamaged(opts.Dir); err == nil {
		store, err = openStore(opts, log)
		if err == nil {
			var base bool
			if base, err = checkStore(store, store.Shards()); err == nil {
				return store, !base, nil
			}
			store.Close()
			err = fmt.Errorf("page store %s: %w", opts.Dir, err)
		} else if !storeDamaged(err) {
			return nil, false, err
		}
	}
	if lerr := CheckUnlocked(opts.Dir); lerr != nil {
		return nil, false, fmt.Errorf("%w (and %w)", err, lerr)
	}
	to, merr := MoveAside(opts.Dir)
	if merr != nil {
		return nil, false, fmt.Errorf("%w (and %w)", err, merr)
	}
	met.movedAside.Inc()
	log.Warn("the page store is damaged: moved it aside; it is rebuilt from the streams (base backup, then the records)",
		"err", err, "moved_to", to)
	store, err = pagestore.Open(opts, log)
	return store, err == nil, err
}

// damagedMark is the file in a page store's directory that says the
// store was found damaged while it ran (MarkDamaged).
const damagedMark = "DAMAGED"

// MarkDamaged records in the page store directory dir that the store was
// found damaged while it ran (a read failed with pagestore.ErrDamaged):
// the next OpenStore moves it aside and rebuilds it from the streams, as
// it does a store that cannot be opened. The store must be closed.
func MarkDamaged(dir string, cause error) error {
	f, err := os.OpenFile(filepath.Join(dir, damagedMark), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("mark the page store damaged: %w", err)
	}
	_, err = fmt.Fprintf(f, "%s\n%v\n", time.Now().UTC().Format(time.RFC3339), cause)
	if serr := f.Sync(); err == nil {
		err = serr
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("mark the page store damaged: %w", err)
	}
	return nil
}

// markedDamaged is an error naming the cause MarkDamaged recorded in dir,
// or nil when there is none.
func markedDamaged(dir string) error {
	b, err := os.ReadFile(filepath.Join(dir, damagedMark))
	if err != nil {
		return nil // absent (or unreadable: the open that follows tells)
	}
	return fmt.Errorf("page store %s was found damaged while it ran: %s", dir, strings.Join(strings.Fields(string(b)), " "))
}

// openStore is pagestore.Open, with a panic in Badger (some corruptions
// end in one) turned into an error.
func openStore(opts pagestore.Options, log *slog.Logger) (s *pagestore.Store, err error) {
	defer func() {
		if r := recover(); r != nil {
			s, err = nil, fmt.Errorf("open page store %s: panic: %v", opts.Dir, r)
		}
	}()
	return pagestore.Open(opts, log)
}

// storeDamaged tells an open error caused by the store's files from one
// caused by the environment. Badger flattens wrapped errors into text, so
// the environment's causes are recognised by errno and by message.
func storeDamaged(err error) bool {
	if errors.Is(err, pagestore.ErrShardsMismatch) {
		return false // the store is fine; the caller asked for another count
	}
	for _, errno := range []syscall.Errno{syscall.EAGAIN, syscall.EACCES, syscall.EPERM, syscall.ENOSPC, syscall.EDQUOT,
		syscall.EMFILE, syscall.ENFILE, syscall.EROFS, syscall.ENOMEM, syscall.EIO, syscall.EBUSY} {
		if errors.Is(err, errno) {
			return false
		}
	}
	msg := strings.ToLower(err.Error())
	for _, s := range []string{"cannot acquire directory lock", "another process", "resource temporarily unavailable",
		"permission denied", "operation not permitted", "no space left", "disk quota", "too many open files",
		"read-only file system", "cannot allocate memory", "input/output error", "device or resource busy"} {
		if strings.Contains(msg, s) {
			return false
		}
	}
	return true
}

// checkStore reads the store's own records: the imported base backup
// (if any) and every shard's applied watermark, which the import writes
// together. It reports whether the base backup is imported.
func checkStore(s *pagestore.Store, shards int) (bool, error) {
	v, err := s.GetMeta("base")
	if err != nil {
		return false, fmt.Errorf("base backup record: %w", err)
	}
	var base struct {
		StartLSN schema.LSN `json:"start_lsn"`
	}
	if v != nil {
		if err := json.Unmarshal(v, &base); err != nil {
			return false, fmt.Errorf("base backup record: %w", err)
		}
	}
	for i := 0; i < shards; i++ {
		applied, _, err := s.Applied(i)
		if err != nil {
			return false, fmt.Errorf("applied LSN of shard %d: %w", i, err)
		}
		if v != nil && applied < base.StartLSN {
			return false, fmt.Errorf("shard %d applied only %s, before the base backup's start %s", i, applied, base.StartLSN)
		}
	}
	return v != nil, nil
}
