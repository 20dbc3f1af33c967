package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/pagemill/pagemill/internal/scratchpg"
	"github.com/pagemill/pagemill/schema"
)

// Bench runs pagemill's benchmarks that compare against PostgreSQL's own
// tools on the same input. "bench decode" times WAL decoding beside
// pg_waldump; "bench ingest" times catching up on WAL beside pg_receivewal;
// "bench redo" times in-memory redo and "bench materialize" the page store
// beside PostgreSQL's crash recovery of the same WAL.
func Bench(ctx context.Context, env Env, args []string) int {
	if len(args) > 0 && args[0] == "ingest" {
		return benchIngest(ctx, env, args[1:])
	}
	if len(args) > 0 && args[0] == "redo" {
		return benchRedo(ctx, env, args[1:])
	}
	if len(args) > 0 && args[0] == "materialize" {
		return benchMaterialize(ctx, env, args[1:])
	}
	if len(args) > 0 && args[0] == "restore" {
		return benchRestore(ctx, env, args[1:])
	}
	if len(args) == 0 || args[0] != "decode" {
		fmt.Fprintln(env.Stderr, "Usage: pagemill bench decode [--path DIR --start LSN --end LSN] [--size-mb N]\n       pagemill bench ingest [--size-mb N] [--shards N] [--round-bytes N]\n       pagemill bench redo [--size-mb N] [--runs N]\n       pagemill bench materialize [--size-mb N] [--scale N] [--shards N]\n       pagemill bench restore [--scale N] [--size-mb N] [--checkpoint-mb N] [--rebuild=false]")
		return 2
	}
	fs := newFlagSet(env, "bench decode", "[--path DIR --start LSN --end LSN] [--size-mb N]")
	path := fs.String("path", "", "WAL directory to decode (default: make pgbench WAL in a scratch cluster)")
	start := fs.String("start", "", "start LSN (with --path)")
	end := fs.String("end", "", "end LSN (with --path)")
	sizeMB := fs.Int("size-mb", 300, "WAL to generate with pgbench when --path is not given")
	runs := fs.Int("runs", 3, "repetitions; the best is reported")
	keep := fs.String("keep", "", "copy the generated WAL here and print the range, for later runs")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	fail := func(err error) int {
		fmt.Fprintf(env.Stderr, "pagemill bench decode: %v\n", err)
		return 1
	}
	dir := *path
	if dir == "" {
		tmp, err := os.MkdirTemp("", "pagemill-bench-")
		if err != nil {
			return fail(err)
		}
		defer os.RemoveAll(tmp)
		fmt.Fprintf(env.Stderr, "generating ~%d MB of pgbench WAL in a scratch cluster...\n", *sizeMB)
		s, e, err := makePgbenchWAL(ctx, tmp, *sizeMB)
		if err != nil {
			return fail(err)
		}
		dir, *start, *end = tmp, s, e
		if *keep != "" {
			if err := os.CopyFS(*keep, os.DirFS(tmp)); err != nil {
				return fail(err)
			}
			fmt.Fprintf(env.Stderr, "kept WAL in %s: --start %s --end %s\n", *keep, s, e)
		}
	}
	startLSN, err := schema.ParseLSN(*start)
	if err != nil {
		return fail(fmt.Errorf("--start: %w", err))
	}
	endLSN, err := schema.ParseLSN(*end)
	if err != nil {
		return fail(fmt.Errorf("--end: %w", err))
	}
	mb := float64(endLSN-startLSN) / 1e6

	type result struct {
		name    string
		best    time.Duration
		records int
	}
	var results []result
	measure := func(name string, f func() (int, error)) error {
		r := result{name: name}
		for i := 0; i < *runs; i++ {
			t0 := time.Now()
			n, err := f()
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			if d := time.Since(t0); r.best == 0 || d < r.best {
				r.best = d
			}
			r.records = n
		}
		results = append(results, r)
		return nil
	}
	decode := func(restore bool) func() (int, error) {
		return func() (int, error) {
			d, err := schema.OpenWALDir(os.DirFS(dir), schema.DirOptions{Start: startLSN, End: endLSN})
			if err != nil {
				return 0, err
			}
			defer d.Close()
			ir, err := schema.NewImageRestorer()
			if err != nil {
				return 0, err
			}
			defer ir.Close()
			page := make([]byte, schema.BLCKSZ)
			n := 0
			for {
				rec, err := d.Next()
				if errors.Is(err, io.EOF) {
					return n, nil
				}
				if err != nil {
					return n, err
				}
				if restore {
					for i := range rec.Blocks {
						if rec.Blocks[i].HasImage {
							if err := ir.Restore(page, rec, &rec.Blocks[i]); err != nil {
								return n, err
							}
						}
					}
				}
				n++
			}
		}
	}
	steps := []struct {
		name string
		f    func() (int, error)
	}{
		{"pagemill decode (read, CRC, decode)", decode(false)},
		{"pagemill decode + restore every image", decode(true)},
		{"pagemill waldump > /dev/null", func() (int, error) {
			var errb strings.Builder
			if code := Waldump(ctx, Env{Stdout: io.Discard, Stderr: &errb}, []string{"--path", dir, "--start", *start, "--end", *end}); code != 0 {
				return 0, errors.New(errb.String())
			}
			return 0, nil
		}},
		{"pg_waldump > /dev/null", pgWaldump(ctx, dir, *start, *end)},
		{"pg_waldump --stats=record", pgWaldump(ctx, dir, *start, *end, "--stats=record")},
	}
	for _, s := range steps {
		if err := measure(s.name, s.f); err != nil {
			return fail(err)
		}
	}
	records := results[0].records
	fmt.Fprintf(env.Stdout, "WAL %s..%s: %.1f MB, %d records (best of %d runs)\n\n", *start, *end, mb, records, *runs)
	fmt.Fprintf(env.Stdout, "%-40s %10s %10s %14s\n", "", "seconds", "MB/s", "records/s")
	for _, r := range results {
		s := r.best.Seconds()
		fmt.Fprintf(env.Stdout, "%-40s %10.3f %10.1f %14.0f\n", r.name, s, mb/s, float64(records)/s)
	}
	return 0
}

func pgWaldump(ctx context.Context, dir, start, end string, extra ...string) func() (int, error) {
	return func() (int, error) {
		args := append([]string{"-p", dir, "-s", start, "-e", end}, extra...)
		cmd := exec.CommandContext(ctx, filepath.Join(scratchpg.BinDir(), "pg_waldump"), args...)
		cmd.Stdout = io.Discard
		var errb strings.Builder
		cmd.Stderr = &errb
		if err := cmd.Run(); err != nil {
			return 0, fmt.Errorf("%v: %s", err, errb.String())
		}
		return 0, nil
	}
}

// makePgbenchWAL runs pgbench on a scratch cluster until about sizeMB of
// WAL exist after the initial load, and copies the segments to dir.
func makePgbenchWAL(ctx context.Context, dir string, sizeMB int) (start, end string, err error) {
	c, err := scratchpg.New(ctx, scratchpg.Options{ExtraConf: map[string]string{
		"max_wal_size": "8GB", "checkpoint_timeout": "30min", "shared_buffers": "256MB",
	}})
	if err != nil {
		return "", "", err
	}
	defer c.Close()
	if _, err := c.PgbenchContext(ctx, "-i", "-s", "10", "-q"); err != nil {
		return "", "", err
	}
	if start, err = c.CreatePhysicalSlotContext(ctx, "bench"); err != nil {
		return "", "", err
	}
	startLSN, _ := schema.ParseLSN(start)
	for {
		if _, err := c.PgbenchContext(ctx, "-T", "10", "-c", "4", "-j", "2"); err != nil {
			return "", "", err
		}
		if err := c.CheckpointContext(ctx); err != nil { // more first-touch images, as in production
			return "", "", err
		}
		if end, err = c.CurrentWALLSNContext(ctx); err != nil {
			return "", "", err
		}
		endLSN, _ := schema.ParseLSN(end)
		if int(endLSN-startLSN) >= sizeMB*1e6 {
			break
		}
	}
	if _, err := c.CopyWALFiles(dir); err != nil {
		return "", "", err
	}
	return start, end, nil
}
