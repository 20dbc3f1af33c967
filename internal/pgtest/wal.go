package pgtest

import (
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// CurrentWALLSNContext returns pg_current_wal_lsn() in its text form,
// e.g. "0/16B3748".
func (c *Cluster) CurrentWALLSNContext(ctx context.Context) (string, error) {
	return c.queryValue(ctx, "SELECT pg_current_wal_lsn()")
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

// SwitchWALContext runs pg_switch_wal() and returns its result: the end of
// the switch record, or the current position when nothing was written since
// the last switch (the server then does not switch).
func (c *Cluster) SwitchWALContext(ctx context.Context) (string, error) {
	return c.queryValue(ctx, "SELECT pg_switch_wal()")
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

// CheckpointContext runs CHECKPOINT.
func (c *Cluster) CheckpointContext(ctx context.Context) error {
	return c.ExecContext(ctx, "CHECKPOINT")
}

// Checkpoint is [Cluster.CheckpointContext] that fails the test on error.
func (c *Cluster) Checkpoint(tb testing.TB) {
	tb.Helper()
	if err := c.CheckpointContext(context.Background()); err != nil {
		tb.Fatal(err)
	}
}

// CreatePhysicalSlotContext creates a physical replication slot that
// reserves WAL at once (pg_create_physical_replication_slot(name, true)),
// so the server keeps WAL from then on. It returns the slot's restart LSN.
func (c *Cluster) CreatePhysicalSlotContext(ctx context.Context, name string) (string, error) {
	return c.queryValue(ctx, "SELECT lsn FROM pg_create_physical_replication_slot($1, true)", name)
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

// DropSlotContext drops a replication slot.
func (c *Cluster) DropSlotContext(ctx context.Context, name string) error {
	return c.ExecContext(ctx, "SELECT pg_drop_replication_slot($1)", name)
}

// DropSlot is [Cluster.DropSlotContext] that fails the test on error.
func (c *Cluster) DropSlot(tb testing.TB, name string) {
	tb.Helper()
	if err := c.DropSlotContext(context.Background(), name); err != nil {
		tb.Fatal(err)
	}
}

// PgbenchContext runs pgbench with args against the cluster's "postgres"
// database (host, port, user and database come from the environment, see
// the package doc, so args need not give them) and returns its combined
// output. The error includes the output.
func (c *Cluster) PgbenchContext(ctx context.Context, args ...string) ([]byte, error) {
	c.logf("pgtest: pgbench %s", strings.Join(args, " "))
	out, err := c.Command(ctx, "pgbench", args...).CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("pgbench %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return out, nil
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

// IsWALSegmentName reports whether name is a WAL segment file name: 24
// upper-case hexadecimal digits (timeline, log, segment), nothing more.
func IsWALSegmentName(name string) bool {
	if len(name) != 24 {
		return false
	}
	for i := 0; i < len(name); i++ {
		ch := name[i]
		if !('0' <= ch && ch <= '9' || 'A' <= ch && ch <= 'F') {
			return false
		}
	}
	return true
}

// CopyWALFiles copies the WAL segment files in [Cluster.WALDir] (see
// [IsWALSegmentName]: no directories, .partial, .history or .backup files)
// into dstDir, creating it if needed, as files owned by and readable to the
// current user. It returns the copied paths, sorted.
//
// pg_wal may hold recycled segments: files named after segments not yet
// written whose content is old WAL, with page headers whose xlp_pageaddr
// does not match the file name. The segment being written is copied as it
// is at that moment.
func (c *Cluster) CopyWALFiles(dstDir string) ([]string, error) {
	entries, err := os.ReadDir(c.WALDir())
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dstDir, 0o755); err != nil {
		return nil, err
	}
	var copied []string
	for _, e := range entries {
		if !e.Type().IsRegular() || !IsWALSegmentName(e.Name()) {
			continue
		}
		dst := filepath.Join(dstDir, e.Name())
		if err := copyFile(filepath.Join(c.WALDir(), e.Name()), dst); err != nil {
			return copied, err
		}
		copied = append(copied, dst)
	}
	sort.Strings(copied)
	return copied, nil
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

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// ParseLSN parses an LSN in PostgreSQL's text form "X/Y" (hexadecimal).
func ParseLSN(s string) (uint64, error) {
	hi, lo, ok := strings.Cut(s, "/")
	if !ok {
		return 0, fmt.Errorf("pgtest: bad LSN %q", s)
	}
	h, err := strconv.ParseUint(hi, 16, 32)
	if err != nil {
		return 0, fmt.Errorf("pgtest: bad LSN %q", s)
	}
	l, err := strconv.ParseUint(lo, 16, 32)
	if err != nil {
		return 0, fmt.Errorf("pgtest: bad LSN %q", s)
	}
	return h<<32 | l, nil
}

// FormatLSN formats an LSN in PostgreSQL's text form, e.g. "0/16B3748".
func FormatLSN(lsn uint64) string {
	return fmt.Sprintf("%X/%X", lsn>>32, uint32(lsn))
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
		b, err := Gunzip(gz)
		if err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, strings.TrimSuffix(filepath.Base(gz), ".gz")), b, 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	return dir
}

// Gunzip reads a gzip-compressed file whole (testdata kept compressed).
func Gunzip(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return b, nil
}
