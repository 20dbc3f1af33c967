package scratchpg

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
)

// CurrentWALLSNContext returns pg_current_wal_lsn() in its text form,
// e.g. "0/16B3748".
func (c *Cluster) CurrentWALLSNContext(ctx context.Context) (string, error) {
	return c.queryValue(ctx, "SELECT pg_current_wal_lsn()")
}

// CurrentLSNContext returns pg_current_wal_lsn() as a number.
func (c *Cluster) CurrentLSNContext(ctx context.Context) (uint64, error) {
	s, err := c.CurrentWALLSNContext(ctx)
	if err != nil {
		return 0, err
	}
	return ParseLSN(strings.TrimSpace(s))
}

// SwitchWALContext runs pg_switch_wal() and returns its result: the end of
// the switch record, or the current position when nothing was written since
// the last switch (the server then does not switch).
func (c *Cluster) SwitchWALContext(ctx context.Context) (string, error) {
	return c.queryValue(ctx, "SELECT pg_switch_wal()")
}

// CheckpointContext runs CHECKPOINT.
func (c *Cluster) CheckpointContext(ctx context.Context) error {
	return c.ExecContext(ctx, "CHECKPOINT")
}

// CreatePhysicalSlotContext creates a physical replication slot that
// reserves WAL at once (pg_create_physical_replication_slot(name, true)),
// so the server keeps WAL from then on. It returns the slot's restart LSN.
func (c *Cluster) CreatePhysicalSlotContext(ctx context.Context, name string) (string, error) {
	return c.queryValue(ctx, "SELECT lsn FROM pg_create_physical_replication_slot($1, true)", name)
}

// DropSlotContext drops a replication slot.
func (c *Cluster) DropSlotContext(ctx context.Context, name string) error {
	return c.ExecContext(ctx, "SELECT pg_drop_replication_slot($1)", name)
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
