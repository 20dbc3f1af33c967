package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/pagemill/pagemill/schema"
)

// parse checks the flags and reads the ones given as text.
func (cfg *redoConfig) parse() error {
	if cfg.SizeMB < 1 || cfg.Runs < 1 {
		return usagef("--size-mb and --runs must be positive")
	}
	if err := checkWorkload(cfg.Workload); err != nil {
		return usagef("--workload: %w", err)
	}
	for _, s := range strings.Split(cfg.flags.workers, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 64 {
			return usagef("bad --workers entry %q (1 to 64)", s)
		}
		cfg.Workers = append(cfg.Workers, n)
	}
	if cfg.Path == "" {
		return nil
	}
	var err error
	if cfg.Start, err = schema.ParseLSN(cfg.flags.start); err != nil {
		return usagef("--start: %w", err)
	}
	if cfg.flags.end != "" {
		if cfg.End, err = schema.ParseLSN(cfg.flags.end); err != nil {
			return usagef("--end: %w", err)
		}
	}
	cfg.Timeline = schema.TimeLineID(cfg.flags.timeline)
	return nil
}

// redoRow is one timed variant (the best of its runs).
type redoRow struct {
	name    string
	elapsed time.Duration
	cpu     time.Duration // user+system CPU
	load    string        // load average at the start of the best run
	noCPU   bool          // cpu not measured
	// pagemill only
	workers     int // 0: serial
	unsupported int64
	pages       int
}

func (x *redoRow) shortName() string {
	if x.workers == 0 {
		return "serial"
	}
	if x.workers == 1 {
		return "1 worker"
	}
	return strconv.Itoa(x.workers) + " workers"
}

// redoResult is what `redo` measured.
type redoResult struct {
	cfg        redoConfig
	start, end schema.LSN
	last       schema.LSN // the start of the last record
	records    int64
	generated  string // how the WAL was made; empty with --path
	pagemill   []redoRow
	byRmgr     []rmgrProfile // serial Apply time per resource manager
	postgres   *redoRow      // crash recovery; nil with --path
	restart    *redoRow      // pg_ctl start -w wall time around it
	pgRedo     *redoLog      // what PostgreSQL's log says it replayed
}

// Run is redo's benchmark: in-memory redo of a pgbench WAL with the
// native engine (read, CRC, decode, redo.Engine.Apply into
// redo.MemPages), serially and page-parallel, beside PostgreSQL's own
// crash recovery of the same WAL on the same machine.
//
// Without --path it makes the WAL on a scratch cluster: the workload's
// setup, a CHECKPOINT (so the WAL begins with the first-touch full-page
// images, as recovery's does), then its rounds until --size-mb of WAL
// exist, with checkpoint_timeout and max_wal_size large enough that no
// checkpoint happens; pg_ctl stop -m immediate; a copy of the WAL for
// pagemill. The server is then restarted (from a copy of the crashed data
// directory for every run after the first) and "redo done at … elapsed"
// is read from its log.
func (cfg *redoConfig) Run(ctx context.Context, env Env) (*Report, error) {
	if err := cfg.parse(); err != nil {
		return nil, err
	}
	res := &redoResult{}
	dir := cfg.Path
	var crashed *crashedCluster
	if dir == "" {
		tmp, err := scratchDir(env, "redo")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(tmp)
		dir = filepath.Join(tmp, "wal")
		if crashed, err = makeCrashedCluster(ctx, *cfg, dir, env.Log); err != nil {
			return nil, err
		}
		defer closeCluster(crashed.c, env.Log)
		cfg.Start, cfg.Timeline = crashed.redoStart, 1
		res.generated = crashed.generated
	}
	// The range ends where valid WAL ends (as crash recovery's does) unless
	// --end says otherwise; this pass also brings the WAL into the page
	// cache.
	open := func(reuse bool) (*schema.DirReader, error) {
		return schema.OpenWALDir(os.DirFS(dir), schema.DirOptions{Start: cfg.Start, End: cfg.End, Timeline: cfg.Timeline, ReuseRecords: reuse})
	}
	var err error
	if res.end, res.last, res.records, err = scanWAL(open, cfg.End == 0); err != nil {
		return nil, err
	}
	res.start, cfg.End = cfg.Start, res.end
	res.cfg = *cfg
	env.Log.Info("WAL range", "start", res.start, "end", res.end, "mb", float64(res.end-res.start)/1e6, "records", res.records)
	if cfg.Keep != "" && crashed != nil {
		if err := os.CopyFS(cfg.Keep, os.DirFS(dir)); err != nil {
			return nil, fmt.Errorf("--keep: %w", err)
		}
		env.Log.Info("kept the WAL", "dir", cfg.Keep, "start", res.start, "end", res.end)
	}
	settle(ctx, cfg.Settle, env.Log)
	if err := res.timePagemill(ctx, open, env); err != nil {
		return nil, err
	}
	if crashed != nil {
		if res.postgres, res.restart, res.pgRedo, err = crashed.timeRecovery(ctx, cfg.Runs, env.Log); err != nil {
			return nil, err
		}
	}
	return res.report(), nil
}

// timePagemill times pagemill's redo serially, then page-parallel, and
// profiles it by resource manager.
func (res *redoResult) timePagemill(ctx context.Context, open walOpener, env Env) error {
	mb := float64(res.end-res.start) / 1e6
	for _, workers := range append([]int{0}, res.cfg.Workers...) {
		row, err := best(res.cfg.Runs, func(int) (redoRow, time.Duration, error) {
			row, err := timeMemRedo(ctx, open, workers)
			if err == nil {
				env.Log.Info("pagemill redo", "variant", row.shortName(), "seconds", row.elapsed.Seconds(),
					"mb_per_s", mb/row.elapsed.Seconds(), "load_average", row.load)
			}
			return row, row.elapsed, err
		})
		if err != nil {
			return err
		}
		res.pagemill = append(res.pagemill, row)
	}
	var err error
	res.byRmgr, err = profileRedo(ctx, open)
	return err
}

func (res *redoResult) report() *Report {
	mb := float64(res.end-res.start) / 1e6
	rep := &Report{}
	head := fmt.Sprintf("WAL %s..%s: %.1f MB, %d records", res.start, res.end, mb, res.records)
	if res.generated != "" {
		head += " (" + res.generated + ")"
	}
	rep.Linef("%s; best of %d runs", head, res.cfg.Runs)
	t := &Table{LabelWidth: 56, Text: "load average (1/5/15 min, at start)", Columns: []Column{
		{"seconds", 9, 3}, {"MB/s", 9, 1}, {"records/s", 11, 0}, {"CPU s", 8, 2}}}
	rows := res.pagemill
	for _, x := range []*redoRow{res.postgres, res.restart} {
		if x != nil {
			rows = append(rows, *x)
		}
	}
	for _, x := range rows {
		s := x.elapsed.Seconds()
		cpu := Num(x.cpu.Seconds())
		if x.noCPU {
			cpu = None()
		}
		t.Rows = append(t.Rows, Row{Name: x.name, Values: []Value{Num(s), Rate(mb, s), Rate(float64(res.records), s), cpu}, Text: x.load})
		rep.Figure("mb_per_s/"+x.name, mb/s)
	}
	rep.Add(Section{Table: t})
	res.summary(rep)
	if len(res.byRmgr) > 0 {
		rep.Add(rmgrSection(res.byRmgr))
	}
	return rep
}

// summary adds the lines under the table: the speed against PostgreSQL's,
// what every pagemill variant left, and PostgreSQL's redo range.
func (res *redoResult) summary(rep *Report) {
	if pg := res.postgres; pg != nil && pg.elapsed > 0 {
		var parts []string
		for _, p := range res.pagemill {
			ratio := pg.elapsed.Seconds() / p.elapsed.Seconds()
			parts = append(parts, fmt.Sprintf("%s %.2fx", p.shortName(), ratio))
			rep.Figure("speed_vs_postgres/"+p.shortName(), ratio)
		}
		rep.Linef("speed vs PostgreSQL crash recovery (its redo elapsed / pagemill's): %s", strings.Join(parts, ", "))
	}
	for _, p := range res.pagemill {
		rep.Linef("pagemill %s: %d unsupported applications, %d pages in memory at the end", p.shortName(), p.unsupported, p.pages)
	}
	if r := res.pgRedo; r != nil {
		rep.Linef("PostgreSQL: redo starts at %s, done at %s (the last record)", r.start, r.done)
		if r.start != res.start || r.done != res.last {
			rep.Linef("note: PostgreSQL replayed %s..%s (last record start), pagemill %s..%s", r.start, r.done, res.start, res.last)
		}
	} else {
		rep.Linef("note: with --path, PostgreSQL's crash recovery is not measured")
	}
}
