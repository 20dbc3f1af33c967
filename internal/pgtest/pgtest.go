package pgtest

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pagemill/pagemill/internal/scratchpg"
)

// Options configures a scratch cluster (see package scratchpg).
type Options = scratchpg.Options

// NotInstalledError reports PostgreSQL's programs missing (see
// scratchpg.CheckInstalled).
type NotInstalledError = scratchpg.NotInstalledError

// BinDirEnv names the environment variable that overrides DefaultBinDir.
const BinDirEnv = scratchpg.BinDirEnv

// DefaultBinDir is where Debian's PostgreSQL 15 packages put their programs.
const DefaultBinDir = scratchpg.DefaultBinDir

// ServerUser is the system user that runs the server-side programs when
// the current process is root.
const ServerUser = scratchpg.ServerUser

// BinDir returns the directory holding the PostgreSQL programs.
func BinDir() string { return scratchpg.BinDir() }

// IsWALSegmentName reports whether name is a WAL segment file name.
func IsWALSegmentName(name string) bool { return scratchpg.IsWALSegmentName(name) }

// Gunzip returns the decompressed contents of a gzip file.
func Gunzip(path string) ([]byte, error) { return scratchpg.Gunzip(path) }

// ParseLSN parses an LSN as PostgreSQL prints it.
func ParseLSN(s string) (uint64, error) { return scratchpg.ParseLSN(s) }

// FormatLSN prints an LSN as PostgreSQL does.
func FormatLSN(lsn uint64) string { return scratchpg.FormatLSN(lsn) }

// Cluster is a scratch cluster with test helpers: each method taking a
// testing.TB is its *Context variant (promoted from scratchpg.Cluster)
// that fails the test on error.
type Cluster struct {
	*scratchpg.Cluster
}

// New creates and starts a cluster (scratchpg.New); the caller closes it.
func New(ctx context.Context, opts Options) (*Cluster, error) {
	c, err := scratchpg.New(ctx, opts)
	if err != nil {
		return nil, err
	}
	return &Cluster{c}, nil
}

// Start creates and starts a cluster for the test tb, failing the test if
// that is impossible. The cluster is stopped and its directory removed when
// the test and its subtests end; if the test failed, the tail of the server
// log is logged first.
func Start(tb testing.TB, opts Options) *Cluster {
	tb.Helper()
	if opts.Logf == nil {
		opts.Logf = tb.Logf
	}
	c, err := New(tb.Context(), opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if tb.Failed() {
			if tail, err := c.LogTail(); err == nil {
				tb.Logf("pgtest: tail of %s:\n%s", c.LogFile(), tail)
			}
		}
		if err := c.Close(); err != nil {
			tb.Error(err)
		}
	})
	return c
}

// CurrentWALLSN is [Cluster.CurrentWALLSNContext] that fails the test on
// error.
func (c *Cluster) CurrentWALLSN(tb testing.TB) string {
	tb.Helper()
	lsn, err := c.CurrentWALLSNContext(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	return lsn
}

// SwitchWAL is [Cluster.SwitchWALContext] that fails the test on error.
func (c *Cluster) SwitchWAL(tb testing.TB) string {
	tb.Helper()
	lsn, err := c.SwitchWALContext(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	return lsn
}

// Checkpoint is [Cluster.CheckpointContext] that fails the test on error.
func (c *Cluster) Checkpoint(tb testing.TB) {
	tb.Helper()
	if err := c.CheckpointContext(context.Background()); err != nil {
		tb.Fatal(err)
	}
}

// CreatePhysicalSlot is [Cluster.CreatePhysicalSlotContext] that fails the
// test on error.
func (c *Cluster) CreatePhysicalSlot(tb testing.TB, name string) string {
	tb.Helper()
	lsn, err := c.CreatePhysicalSlotContext(context.Background(), name)
	if err != nil {
		tb.Fatal(err)
	}
	return lsn
}

// DropSlot is [Cluster.DropSlotContext] that fails the test on error.
func (c *Cluster) DropSlot(tb testing.TB, name string) {
	tb.Helper()
	if err := c.DropSlotContext(context.Background(), name); err != nil {
		tb.Fatal(err)
	}
}

// Pgbench is [Cluster.PgbenchContext] that fails the test on error. For
// example Pgbench(t, "-i", "-s", "1") or Pgbench(t, "-T", "3", "-c", "4").
func (c *Cluster) Pgbench(tb testing.TB, args ...string) string {
	tb.Helper()
	out, err := c.PgbenchContext(context.Background(), args...)
	if err != nil {
		tb.Fatal(err)
	}
	return string(out)
}

// CopyWAL is [Cluster.CopyWALFiles] that fails the test on error.
func (c *Cluster) CopyWAL(tb testing.TB, dstDir string) []string {
	tb.Helper()
	files, err := c.CopyWALFiles(dstDir)
	if err != nil {
		tb.Fatalf("pgtest: copying WAL: %v", err)
	}
	return files
}

// UnpackWAL gunzips every src/*.gz (WAL segments kept compressed in a
// testdata directory) into a new temporary directory and returns it.
func UnpackWAL(tb testing.TB, src string) string {
	tb.Helper()
	segs, err := filepath.Glob(filepath.Join(src, "*.gz"))
	if err != nil || len(segs) == 0 {
		tb.Fatalf("no compressed WAL segments in %s (%v)", src, err)
	}
	dir := tb.TempDir()
	for _, gz := range segs {
		b, err := scratchpg.Gunzip(gz)
		if err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, strings.TrimSuffix(filepath.Base(gz), ".gz")), b, 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	return dir
}

// Exec is [Cluster.ExecContext] that fails the test on error.
func (c *Cluster) Exec(tb testing.TB, sql string, args ...any) {
	tb.Helper()
	if err := c.ExecContext(context.Background(), sql, args...); err != nil {
		tb.Fatal(err)
	}
}

// Query is [Cluster.QueryContext] that fails the test on error.
func (c *Cluster) Query(tb testing.TB, sql string, args ...any) [][]string {
	tb.Helper()
	rows, err := c.QueryContext(context.Background(), sql, args...)
	if err != nil {
		tb.Fatal(err)
	}
	return rows
}

// RunDDLWorkload is [Cluster.RunDDLWorkloadContext] that fails the test on
// error.
func (c *Cluster) RunDDLWorkload(tb testing.TB) {
	tb.Helper()
	if err := c.RunDDLWorkloadContext(context.Background()); err != nil {
		tb.Fatal(err)
	}
}
