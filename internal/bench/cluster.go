package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"

	"github.com/pagemill/pagemill/internal/scratchpg"
	"github.com/pagemill/pagemill/schema"
)

// clusterConf are the settings of a benchmark's scratch cluster: room for
// maxWALMB of WAL and an hour between timed checkpoints, so that the
// server checkpoints only when told to, and shared_buffers of 256MB;
// extra is applied last.
func clusterConf(maxWALMB int, extra map[string]string) map[string]string {
	conf := map[string]string{
		"max_wal_size":       strconv.Itoa(maxWALMB) + "MB",
		"checkpoint_timeout": "1h",
		"shared_buffers":     "256MB",
	}
	maps.Copy(conf, extra)
	return conf
}

// startCluster creates and starts a scratch PostgreSQL 15 cluster with
// conf; the caller closes it.
func startCluster(ctx context.Context, conf map[string]string, log *slog.Logger) (*scratchpg.Cluster, error) {
	log.Info("starting a scratch PostgreSQL 15 cluster")
	c, err := scratchpg.New(ctx, scratchpg.Options{ExtraConf: conf, Logf: debugf(log)})
	if err != nil {
		return nil, fmt.Errorf("scratch cluster: %w", err)
	}
	return c, nil
}

// debugf logs scratchpg's progress messages at debug level.
func debugf(log *slog.Logger) func(string, ...any) {
	return func(format string, args ...any) { log.Debug(fmt.Sprintf(format, args...)) }
}

// closeCluster stops c and removes its files, logging a failure.
func closeCluster(c *scratchpg.Cluster, log *slog.Logger) {
	if err := c.Close(); err != nil {
		log.Warn("closing the scratch cluster", "err", err)
	}
}

// currentLSN is the server's pg_current_wal_lsn().
func currentLSN(ctx context.Context, c *scratchpg.Cluster) (schema.LSN, error) {
	lsn, err := c.CurrentLSNContext(ctx)
	if err != nil {
		return 0, fmt.Errorf("WAL position: %w", err)
	}
	return schema.LSN(lsn), nil
}

// scratchDir makes a scratch directory under env.Dir; the caller removes
// it.
func scratchDir(env Env, name string) (string, error) {
	dir, err := os.MkdirTemp(env.Dir, "pagemill-bench-"+name+"-")
	if err != nil {
		return "", fmt.Errorf("scratch directory: %w", err)
	}
	return dir, nil
}

// readFrom reads a file (a server log) from offset off on.
func readFrom(path string, off int64) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		return "", err
	}
	b, err := io.ReadAll(f)
	return string(b), err
}

// fileSize is the size of a file, 0 when it cannot be read.
func fileSize(path string) int64 {
	if fi, err := os.Stat(path); err == nil {
		return fi.Size()
	}
	return 0
}

// treeSize is the size of the regular files under dir.
func treeSize(dir string) int64 {
	var total int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return nil
		}
		if fi, err := d.Info(); err == nil {
			total += fi.Size()
		}
		return nil
	})
	return total
}

// copyTree copies a directory with cp -a, keeping owners and modes (the
// server's files belong to postgres when running as root).
func copyTree(ctx context.Context, src, dst string) error {
	if out, err := exec.CommandContext(ctx, "cp", "-a", src, dst).CombinedOutput(); err != nil {
		return fmt.Errorf("cp -a %s %s: %w: %s", src, dst, err, out)
	}
	return nil
}

// copyTreeSync copies the directory tree src into the existing directory
// dst, syncing every file as untar does, and returns the bytes copied.
func copyTreeSync(src, dst string) (int64, error) {
	var total int64
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		switch {
		case d.IsDir():
			return os.MkdirAll(target, 0o700)
		case d.Type().IsRegular():
			n, err := copyFileSync(p, target, 0o600)
			total += n
			return err
		}
		return fmt.Errorf("%s: not a regular file or directory", p)
	})
	return total, err
}

// copyFileSync copies one file to a new file of the given mode, synced.
func copyFileSync(src, dst string, mode os.FileMode) (int64, error) {
	in, err := os.Open(src)
	if err != nil {
		return 0, err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, mode)
	if err != nil {
		return 0, err
	}
	n, err := out.ReadFrom(in)
	if err = errors.Join(err, out.Sync(), out.Close()); err != nil {
		return n, fmt.Errorf("copy %s: %w", src, err)
	}
	return n, nil
}
