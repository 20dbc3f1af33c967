package bench

import (
	"bufio"
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

// decodeRow is one way of reading the WAL, timed.
type decodeRow struct {
	name    string
	run     func() (records int, err error)
	best    time.Duration
	records int
}

// Run times every way of reading the WAL, the best of cfg.Runs each.
func (cfg *decodeConfig) Run(ctx context.Context, env Env) (*Report, error) {
	if cfg.SizeMB < 1 || cfg.Runs < 1 || cfg.Scale < 1 || cfg.PgbenchSeconds < 1 {
		return nil, usagef("--size-mb, --runs, --scale and --pgbench-seconds must be positive")
	}
	if cfg.Path == "" {
		tmp, err := scratchDir(env, "decode")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(tmp)
		if err := makeDecodeWAL(ctx, env, cfg, tmp); err != nil {
			return nil, err
		}
	}
	start, err := schema.ParseLSN(cfg.Start)
	if err != nil {
		return nil, usagef("--start: %w", err)
	}
	end, err := schema.ParseLSN(cfg.End)
	if err != nil {
		return nil, usagef("--end: %w", err)
	}
	rows := decodeRows(ctx, cfg.Path, start, end)
	for i := range rows {
		r := &rows[i]
		type run struct {
			records int
			took    time.Duration
		}
		b, err := best(cfg.Runs, func(int) (run, time.Duration, error) {
			t0 := time.Now()
			n, err := r.run()
			d := time.Since(t0)
			return run{n, d}, d, err
		})
		if err != nil {
			return nil, fmt.Errorf("%s: %w", r.name, err)
		}
		r.records, r.best = b.records, b.took
	}
	return decodeReport(cfg, end-start, rows), nil
}

// makeDecodeWAL makes pgbench WAL in a scratch cluster, copies it to dir
// and sets cfg's path and range to it (and copies it to cfg.Keep).
func makeDecodeWAL(ctx context.Context, env Env, cfg *decodeConfig, dir string) error {
	c, err := startCluster(ctx, clusterConf(8192, nil), env.Log)
	if err != nil {
		return err
	}
	defer closeCluster(c, env.Log)
	w := pgbenchWorkload(cfg.Scale, cfg.PgbenchSeconds, true)
	if err := w.setup(ctx, c); err != nil {
		return err
	}
	slot, err := c.CreatePhysicalSlotContext(ctx, "bench")
	if err != nil {
		return fmt.Errorf("slot: %w", err)
	}
	start, err := schema.ParseLSN(slot)
	if err != nil {
		return fmt.Errorf("slot LSN: %w", err)
	}
	end, _, err := generateWAL(ctx, c, w, walTarget{from: start, want: schema.LSN(cfg.SizeMB) * 1e6}, env.Log)
	if err != nil {
		return err
	}
	if _, err := c.CopyWALFiles(dir); err != nil {
		return fmt.Errorf("copy the WAL: %w", err)
	}
	cfg.Path, cfg.Start, cfg.End = dir, start.String(), end.String()
	if cfg.Keep != "" {
		if err := os.CopyFS(cfg.Keep, os.DirFS(dir)); err != nil {
			return fmt.Errorf("--keep: %w", err)
		}
		env.Log.Info("kept the WAL", "dir", cfg.Keep, "start", cfg.Start, "end", cfg.End)
	}
	return nil
}

// decodeRows are the ways of reading dir's WAL that decode times.
func decodeRows(ctx context.Context, dir string, start, end schema.LSN) []decodeRow {
	read := func(each func(*schema.DecodedRecord, *bufio.Writer) error) func() (int, error) {
		return func() (int, error) { return readWAL(dir, start, end, each) }
	}
	var line []byte
	page := make([]byte, schema.BLCKSZ)
	return []decodeRow{
		{name: "pagemill decode (read, CRC, decode)", run: read(nil)},
		{name: "pagemill decode + restore every image", run: func() (int, error) {
			ir, err := schema.NewImageRestorer()
			if err != nil {
				return 0, err
			}
			defer ir.Close()
			return readWAL(dir, start, end, func(rec *schema.DecodedRecord, _ *bufio.Writer) error {
				for i := range rec.Blocks {
					if rec.Blocks[i].HasImage {
						if err := ir.Restore(page, rec, &rec.Blocks[i]); err != nil {
							return err
						}
					}
				}
				return nil
			})
		}},
		{name: "pagemill waldump > /dev/null", run: read(func(rec *schema.DecodedRecord, out *bufio.Writer) error {
			line = schema.AppendWaldumpLine(line[:0], rec, nil, false)
			_, err := out.Write(line)
			return err
		})},
		{name: "pg_waldump > /dev/null", run: pgWaldump(ctx, dir, start, end)},
		{name: "pg_waldump --stats=record", run: pgWaldump(ctx, dir, start, end, "--stats=record")},
	}
}

// readWAL reads dir's WAL from start to end, calls each (if not nil) on
// every record with a buffered writer to /dev/null, and returns the
// number of records.
func readWAL(dir string, start, end schema.LSN, each func(*schema.DecodedRecord, *bufio.Writer) error) (int, error) {
	d, err := schema.OpenWALDir(os.DirFS(dir), schema.DirOptions{Start: start, End: end})
	if err != nil {
		return 0, err
	}
	defer d.Close()
	out := bufio.NewWriterSize(io.Discard, 256<<10)
	for n := 0; ; n++ {
		rec, err := d.Next()
		if errors.Is(err, io.EOF) {
			return n, out.Flush()
		}
		if err != nil {
			return n, err
		}
		if each != nil {
			if err := each(rec, out); err != nil {
				return n, fmt.Errorf("record at %s: %w", rec.LSN, err)
			}
		}
	}
}

func pgWaldump(ctx context.Context, dir string, start, end schema.LSN, extra ...string) func() (int, error) {
	return func() (int, error) {
		args := append([]string{"-p", dir, "-s", start.String(), "-e", end.String()}, extra...)
		cmd := exec.CommandContext(ctx, filepath.Join(scratchpg.BinDir(), "pg_waldump"), args...)
		cmd.Stdout = io.Discard
		var errb strings.Builder
		cmd.Stderr = &errb
		if err := cmd.Run(); err != nil {
			return 0, fmt.Errorf("pg_waldump: %w: %s", err, errb.String())
		}
		return 0, nil
	}
}

func decodeReport(cfg *decodeConfig, size schema.LSN, rows []decodeRow) *Report {
	mb := float64(size) / 1e6
	records := rows[0].records
	rep := &Report{}
	rep.Linef("WAL %s..%s: %.1f MB, %d records (best of %d runs)", cfg.Start, cfg.End, mb, records, cfg.Runs)
	t := &Table{LabelWidth: 40, Columns: []Column{{"seconds", 10, 3}, {"MB/s", 10, 1}, {"records/s", 14, 0}}}
	for _, r := range rows {
		s := r.best.Seconds()
		t.Rows = append(t.Rows, Row{Name: r.name, Values: []Value{Num(s), Rate(mb, s), Rate(float64(records), s)}})
	}
	rep.Add(Section{Table: t})
	rep.Figure("mb", mb)
	rep.Figure("records", float64(records))
	return rep
}
