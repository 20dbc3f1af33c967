package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/pagemill/pagemill/internal/scratchpg"
	"github.com/pagemill/pagemill/ops"
	"github.com/pagemill/pagemill/redo"
	"github.com/pagemill/pagemill/schema"
	"github.com/pagemill/pagemill/streams"
)

// benchRedoConfig is what `bench redo` measures with.
type benchRedoConfig struct {
	SizeMB         int    // WAL to generate, in 1e6 bytes
	Workload       string // pgbench, or an index-heavy workload (indexAMRedoWorkload)
	Scale          int    // pgbench -i -s; 0 derives it from SizeMB
	PgbenchSeconds int    // -T of each pgbench round; 0 derives it from SizeMB
	Workers        []int  // page-parallel worker counts to time (besides the serial run)
	Runs           int    // repetitions of every timing; the best is reported
	Keep           string // copy the generated WAL here
	// Settle: before timing, wait up to this long for the 1-minute load
	// average to fall below 1 (the WAL generation raises it).
	Settle time.Duration
	// With Path, the WAL is taken from there ([Start, End); End 0: to the
	// end of valid WAL) and PostgreSQL's recovery is not measured.
	Path       string
	Start, End schema.LSN
	Timeline   schema.TimeLineID
}

// benchRedo is `pagemill bench redo`: in-memory redo of a pgbench WAL with
// the native engine (read, CRC, decode, redo.Engine.Apply into
// redo.MemPages), serially and page-parallel, beside PostgreSQL's own crash
// recovery of the same WAL on the same machine.
//
// Without --path it makes the WAL on a scratch cluster: pgbench -i, a
// CHECKPOINT (so the WAL begins with the first-touch full-page images, as
// recovery's does), then pgbench until --size-mb of WAL exist, with
// checkpoint_timeout and max_wal_size large enough that no checkpoint
// happens; pg_ctl stop -m immediate; a copy of the WAL for pagemill. The
// server is then restarted (from a copy of the crashed data directory for
// every run after the first) and "redo done at … elapsed" is read from its
// log.
func benchRedo(ctx context.Context, env Env, args []string) int {
	fs := newFlagSet(env, "bench redo", "[--size-mb 300] [--workers 1,2] [--runs 3] | --path DIR --start LSN [--end LSN]")
	var cfg benchRedoConfig
	wr := addWALRangeFlags(fs)
	fs.IntVar(&cfg.SizeMB, "size-mb", 300, "WAL to generate when --path is not given (MB)")
	fs.StringVar(&cfg.Workload, "workload", "pgbench", "what generates the WAL: "+strings.Join(redoWorkloadNames(), ", ")+
		" (indexam: inserts, deletes and vacuums of hash, GIN, GiST, SP-GiST, BRIN and bloom indexes; or one of them)")
	fs.IntVar(&cfg.Scale, "scale", 0, "pgbench -i scale (0: size-mb/30, from 1 to 10)")
	fs.IntVar(&cfg.PgbenchSeconds, "pgbench-seconds", 0, "-T of each pgbench round (0: size-mb/30, from 1 to 10)")
	workers := fs.String("workers", "1,2", "page-parallel worker counts to time, besides the serial run")
	fs.IntVar(&cfg.Runs, "runs", 3, "repetitions of every timing; the best is reported")
	fs.DurationVar(&cfg.Settle, "settle", time.Minute, "before timing, wait up to this long for the 1-minute load average to fall below 1")
	fs.StringVar(&cfg.Keep, "keep", "", "copy the generated WAL here and print its range, for runs with --path")
	logLevel := fs.String("log-level", "info", "debug, info, warn, error")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 || cfg.SizeMB < 1 || cfg.Runs < 1 {
		fs.Usage()
		return 2
	}
	if err := validRedoWorkload(cfg.Workload); err != nil {
		fmt.Fprintf(env.Stderr, "pagemill bench redo: --workload: %v\n", err)
		return 2
	}
	for _, s := range strings.Split(*workers, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 64 {
			fmt.Fprintf(env.Stderr, "pagemill bench redo: bad --workers entry %q (1 to 64)\n", s)
			return 2
		}
		cfg.Workers = append(cfg.Workers, n)
	}
	if cfg.Path = *wr.path; cfg.Path != "" {
		var err error
		if cfg.Start, err = schema.ParseLSN(*wr.start); err != nil {
			fmt.Fprintf(env.Stderr, "pagemill bench redo: --start: %v\n", err)
			return 2
		}
		if *wr.end != "" {
			if cfg.End, err = schema.ParseLSN(*wr.end); err != nil {
				fmt.Fprintf(env.Stderr, "pagemill bench redo: --end: %v\n", err)
				return 2
			}
		}
		cfg.Timeline = schema.TimeLineID(*wr.tli)
	}
	log, err := ops.NewLogger(env.Stderr, ops.LogConfig{Level: *logLevel})
	if err != nil {
		fmt.Fprintf(env.Stderr, "pagemill bench redo: %v\n", err)
		return 2
	}
	res, err := runBenchRedo(ctx, cfg, log)
	if err != nil {
		log.Error("bench redo failed", "err", err)
		return 1
	}
	res.print(env.Stdout)
	return 0
}

// benchRedoRow is one timed variant (the best of its runs).
type benchRedoRow struct {
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

// benchRedoResult is everything `bench redo` prints.
type benchRedoResult struct {
	cfg        benchRedoConfig
	start, end schema.LSN
	records    int64
	generated  string // how the WAL was made; empty with --path
	pagemill   []benchRedoRow
	byRmgr     []rmgrProfile // serial Apply time per resource manager
	postgres   *benchRedoRow // crash recovery; nil with --path
	restart    *benchRedoRow // pg_ctl start -w wall time around it
	pgRedo     string        // PostgreSQL's "redo starts at X … done at Y" range
	notes      []string
}

func (r *benchRedoResult) print(w io.Writer) {
	mb := float64(r.end-r.start) / 1e6
	fmt.Fprintf(w, "WAL %s..%s: %.1f MB, %d records", r.start, r.end, mb, r.records)
	if r.generated != "" {
		fmt.Fprintf(w, " (%s)", r.generated)
	}
	fmt.Fprintf(w, "; best of %d runs\n\n", r.cfg.Runs)
	fmt.Fprintf(w, "%-56s %9s %9s %11s %8s  %s\n", "", "seconds", "MB/s", "records/s", "CPU s", "load average (1/5/15 min, at start)")
	row := func(x *benchRedoRow) {
		s := x.elapsed.Seconds()
		mbps, rps := "-", "-"
		if s > 0 {
			mbps = strconv.FormatFloat(mb/s, 'f', 1, 64)
			rps = strconv.FormatFloat(float64(r.records)/s, 'f', 0, 64)
		}
		cpu := strconv.FormatFloat(x.cpu.Seconds(), 'f', 2, 64)
		if x.noCPU {
			cpu = "-"
		}
		fmt.Fprintf(w, "%-56s %9.3f %9s %11s %8s  %s\n", x.name, s, mbps, rps, cpu, x.load)
	}
	for i := range r.pagemill {
		row(&r.pagemill[i])
	}
	if r.postgres != nil {
		row(r.postgres)
	}
	if r.restart != nil {
		row(r.restart)
	}
	fmt.Fprintln(w)
	if pg := r.postgres; pg != nil && pg.elapsed > 0 {
		var parts []string
		for _, p := range r.pagemill {
			parts = append(parts, fmt.Sprintf("%s %.2fx", p.shortName(), pg.elapsed.Seconds()/p.elapsed.Seconds()))
		}
		fmt.Fprintf(w, "speed vs PostgreSQL crash recovery (its redo elapsed / pagemill's): %s\n", strings.Join(parts, ", "))
	}
	for _, p := range r.pagemill {
		fmt.Fprintf(w, "pagemill %s: %d unsupported applications, %d pages in memory at the end\n", p.shortName(), p.unsupported, p.pages)
	}
	if r.pgRedo != "" {
		fmt.Fprintf(w, "PostgreSQL: %s\n", r.pgRedo)
	}
	for _, n := range r.notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	if len(r.byRmgr) > 0 {
		printRmgrProfile(w, r.byRmgr)
	}
}

func (x *benchRedoRow) shortName() string {
	if x.workers == 0 {
		return "serial"
	}
	if x.workers == 1 {
		return "1 worker"
	}
	return strconv.Itoa(x.workers) + " workers"
}

func runBenchRedo(ctx context.Context, cfg benchRedoConfig, log *slog.Logger) (*benchRedoResult, error) {
	res := &benchRedoResult{cfg: cfg}
	dir := cfg.Path
	var crashed *crashedCluster
	if dir == "" {
		tmp, err := os.MkdirTemp("", "pagemill-bench-redo-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(tmp)
		dir = filepath.Join(tmp, "wal")
		crashed, err = makeCrashedCluster(ctx, cfg, dir, log)
		if err != nil {
			return nil, err
		}
		defer crashed.close()
		cfg.Start, cfg.Timeline = crashed.redoStart, 1
		res.generated = crashed.generated
	}

	// The range ends where valid WAL ends (as crash recovery's does) unless
	// --end says otherwise; this pass also brings the WAL into the page
	// cache.
	open := func() (*schema.DirReader, error) {
		return schema.OpenWALDir(os.DirFS(dir), schema.DirOptions{Start: cfg.Start, End: cfg.End, Timeline: cfg.Timeline})
	}
	var lastStart schema.LSN
	var err error
	res.end, lastStart, res.records, err = scanWAL(open, cfg.End == 0)
	if err != nil {
		return nil, err
	}
	res.start, cfg.End = cfg.Start, res.end
	res.cfg = cfg
	log.Info("WAL range", "start", res.start, "end", res.end, "mb", float64(res.end-res.start)/1e6, "records", res.records)
	if cfg.Keep != "" && crashed != nil {
		if err := os.CopyFS(cfg.Keep, os.DirFS(dir)); err != nil {
			return nil, err
		}
		log.Info("kept the WAL", "dir", cfg.Keep, "start", res.start, "end", res.end)
	}

	settle(ctx, cfg.Settle, log)

	// pagemill: serial, then page-parallel.
	for _, workers := range append([]int{0}, cfg.Workers...) {
		var best benchRedoRow
		for i := 0; i < cfg.Runs; i++ {
			row, err := timeMemRedo(ctx, open, workers)
			if err != nil {
				return nil, err
			}
			log.Info("pagemill redo", "variant", row.shortName(), "seconds", row.elapsed.Seconds(),
				"mb_per_s", float64(res.end-res.start)/1e6/row.elapsed.Seconds(), "load_average", row.load)
			if i == 0 || row.elapsed < best.elapsed {
				best = row
			}
		}
		res.pagemill = append(res.pagemill, best)
	}

	if res.byRmgr, err = profileRedo(ctx, open); err != nil {
		return nil, err
	}

	// PostgreSQL's crash recovery of the same WAL.
	if crashed != nil {
		pg, restart, rng, err := crashed.timeRecovery(ctx, cfg.Runs, log)
		if err != nil {
			return nil, err
		}
		res.postgres, res.restart = pg, restart
		res.pgRedo = fmt.Sprintf("redo starts at %s, done at %s (the last record)", rng.start, rng.done)
		if rng.start != res.start || rng.done != lastStart {
			res.notes = append(res.notes, fmt.Sprintf("PostgreSQL replayed %s..%s (last record start), pagemill %s..%s",
				rng.start, rng.done, res.start, lastStart))
		}
	} else {
		res.notes = append(res.notes, "with --path, PostgreSQL's crash recovery is not measured")
	}
	return res, nil
}

// settle waits up to d for the 1-minute load average to fall below 1.
func settle(ctx context.Context, d time.Duration, log *slog.Logger) {
	deadline := time.Now().Add(d)
	for {
		load := loadAverage()
		f := strings.Fields(load)
		if len(f) == 0 {
			return
		}
		one, err := strconv.ParseFloat(f[0], 64)
		if err != nil || one < 1 || time.Now().After(deadline) {
			return
		}
		log.Info("waiting for the load average to settle", "load_average", load)
		select {
		case <-ctx.Done():
			return
		case <-time.After(5 * time.Second):
		}
	}
}

// scanWAL reads the range once and returns the end of its last record,
// that record's start and the number of records. With toEnd, a decoding
// error ends the range (the end of valid WAL, as for crash recovery).
func scanWAL(open func() (*schema.DirReader, error), toEnd bool) (end, last schema.LSN, n int64, err error) {
	d, err := open()
	if err != nil {
		return 0, 0, 0, err
	}
	defer d.Close()
	for {
		rec, err := d.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if toEnd && n > 0 {
				break
			}
			return 0, 0, 0, fmt.Errorf("after %d records: %w", n, err)
		}
		end, last = rec.EndLSN, rec.LSN
		n++
	}
	if n == 0 {
		return 0, 0, 0, errors.New("no records in the range")
	}
	return end, last, n, nil
}

// timeMemRedo replays the range into memory: serially (workers 0: one
// goroutine reads, checks, decodes and applies), or page-parallel with
// workers goroutines fed by the calling goroutine, which decodes.
func timeMemRedo(ctx context.Context, open func() (*schema.DirReader, error), workers int) (benchRedoRow, error) {
	row := benchRedoRow{workers: workers}
	switch workers {
	case 0:
		row.name = "pagemill redo, serial (decode + apply, 1 goroutine)"
	case 1:
		row.name = "pagemill redo, reader + 1 worker"
	default:
		row.name = fmt.Sprintf("pagemill redo, reader + %d workers (by page)", workers)
	}
	d, err := open()
	if err != nil {
		return row, err
	}
	defer d.Close()
	syscall.Sync()
	row.load = loadAverage()
	t0, cpu0 := time.Now(), cpuTime(syscall.RUSAGE_SELF)
	if workers == 0 {
		err = serialRedo(ctx, d, &row)
	} else {
		err = parallelRedo(ctx, d, workers, &row)
	}
	row.elapsed, row.cpu = time.Since(t0), cpuTime(syscall.RUSAGE_SELF)-cpu0
	return row, err
}

// applyCounted applies rec, counting unsupported records; any other error
// ends the run.
func applyCounted(e *redo.Engine, rec *schema.DecodedRecord, pages redo.Pages, truncate func(*redo.Truncation), unsupported *int64) error {
	res, err := e.Apply(rec, pages)
	if res.Truncate != nil {
		truncate(res.Truncate)
	}
	if err != nil {
		var uns *redo.Unsupported
		if !errors.As(err, &uns) {
			return fmt.Errorf("redo of %s at %s: %w", schema.RecordTypeName(rec.Rmgr(), rec.Info()), rec.LSN, err)
		}
		*unsupported++
	}
	return nil
}

func serialRedo(ctx context.Context, d *schema.DirReader, row *benchRedoRow) error {
	e, err := redo.NewEngine()
	if err != nil {
		return err
	}
	defer e.Restorer.Close()
	pages := redo.NewMemPages()
	for n := 0; ; n++ {
		if n%4096 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		rec, err := d.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		if err := applyCounted(e, rec, pages, pages.Truncate, &row.unsupported); err != nil {
			return err
		}
	}
	row.pages = pages.Len()
	return nil
}

// workerPages is one worker's view of the pages, as the materializer's
// shards have: pages of other workers are not there (those workers apply
// the same record to them).
type workerPages struct {
	mem     *redo.MemPages
	id, all int
}

// Owns makes workerPages a redo.PartialPages.
func (p workerPages) Owns(tag schema.BufferTag) bool { return streams.ShardOf(tag, p.all) == p.id }

func (p workerPages) Get(tag schema.BufferTag) (schema.Page, bool) {
	if !p.Owns(tag) {
		return nil, false
	}
	return p.mem.Get(tag)
}

func (p workerPages) Put(tag schema.BufferTag, page schema.Page) {
	if p.Owns(tag) {
		p.mem.Put(tag, page)
	}
}

func (p workerPages) Invalidate(tag schema.BufferTag) {
	if p.Owns(tag) {
		p.mem.Invalidate(tag)
	}
}

// redoBatch is how many records go to a worker at a time.
const redoBatch = 256

// parallelRedo decodes on the calling goroutine and routes every record to
// the workers owning the pages it changes (its blocks and the vm pages it
// clears implicitly: streams.ShardOf), so a record whose pages span
// workers goes to each of them. Storage records (truncation) go to every
// worker; other records that change no page are spread round-robin.
func parallelRedo(ctx context.Context, d *schema.DirReader, workers int, row *benchRedoRow) error {
	type result struct {
		unsupported int64
		pages       int
		err         error
	}
	chans := make([]chan []*schema.DecodedRecord, workers)
	results := make([]result, workers)
	var wg sync.WaitGroup
	for w := range workers {
		chans[w] = make(chan []*schema.DecodedRecord, 16)
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			r := &results[w]
			e, err := redo.NewEngine()
			if err != nil {
				r.err = err
				for range chans[w] {
				}
				return
			}
			defer e.Restorer.Close()
			mem := redo.NewMemPages()
			view := workerPages{mem: mem, id: w, all: workers}
			for batch := range chans[w] {
				if r.err != nil {
					continue // drain
				}
				for _, rec := range batch {
					if r.err = applyCounted(e, rec, view, mem.Truncate, &r.unsupported); r.err != nil {
						break
					}
				}
			}
			r.pages = mem.Len()
		}(w)
	}
	batches := make([][]*schema.DecodedRecord, workers)
	send := func(w int) {
		chans[w] <- batches[w]
		batches[w] = make([]*schema.DecodedRecord, 0, redoBatch)
	}
	for w := range batches {
		batches[w] = make([]*schema.DecodedRecord, 0, redoBatch)
	}
	var readErr error
	var tags []schema.BufferTag
	next := 0
	for n := 0; ; n++ {
		if n%4096 == 0 && ctx.Err() != nil {
			readErr = ctx.Err()
			break
		}
		rec, err := d.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			readErr = err
			break
		}
		tags = schema.PagesChanged(tags[:0], rec)
		var mask uint64
		switch {
		case len(tags) > 0:
			for _, t := range tags {
				mask |= 1 << streams.ShardOf(t, workers)
			}
		case rec.Rmgr() == schema.RmgrStorage:
			mask = 1<<workers - 1
		default:
			mask = 1 << next
			next = (next + 1) % workers
		}
		for w := range workers {
			if mask&(1<<w) == 0 {
				continue
			}
			batches[w] = append(batches[w], rec)
			if len(batches[w]) == redoBatch {
				send(w)
			}
		}
	}
	for w := range workers {
		if len(batches[w]) > 0 {
			chans[w] <- batches[w]
		}
		close(chans[w])
	}
	wg.Wait()
	errs := []error{readErr}
	for _, r := range results {
		row.unsupported += r.unsupported
		row.pages += r.pages
		errs = append(errs, r.err)
	}
	return errors.Join(errs...)
}

// crashedCluster is a scratch cluster stopped with -m immediate after a
// pgbench load, and a copy of its WAL.
type crashedCluster struct {
	c         *scratchpg.Cluster
	redoStart schema.LSN // the checkpoint's redo pointer: where recovery starts
	snapshot  string     // copy of the crashed data directory, for runs after the first
	generated string
}

func (cc *crashedCluster) close() {
	if err := cc.c.Close(); err != nil {
		slog.Default().Warn("closing the scratch cluster", "err", err)
	}
}

// makeCrashedCluster makes the pgbench WAL without a checkpoint after the
// first and crashes the server; walDir gets a copy of its WAL.
func makeCrashedCluster(ctx context.Context, cfg benchRedoConfig, walDir string, log *slog.Logger) (*crashedCluster, error) {
	scale := cfg.Scale
	if scale == 0 {
		scale = min(10, max(1, cfg.SizeMB/30))
	}
	secs := cfg.PgbenchSeconds
	if secs == 0 {
		secs = min(10, max(1, cfg.SizeMB/30))
	}
	log.Info("starting a scratch PostgreSQL 15 cluster")
	c, err := scratchpg.New(ctx, scratchpg.Options{ExtraConf: map[string]string{
		// No checkpoint during the load: recovery replays all of it.
		"checkpoint_timeout": "1h",
		"max_wal_size":       strconv.Itoa(4*cfg.SizeMB+1024) + "MB",
		"shared_buffers":     "256MB",
		"autovacuum":         "off",
		// Faster generation; the records are the same.
		"synchronous_commit": "off",
	}})
	if err != nil {
		return nil, err
	}
	cc := &crashedCluster{c: c, generated: fmt.Sprintf("pgbench scale %d, from a checkpoint, full_page_writes on", scale)}
	fail := func(err error) (*crashedCluster, error) {
		cc.close()
		return nil, err
	}
	work := pgbenchRedoWorkload(scale, secs)
	if cfg.Workload != "" && cfg.Workload != "pgbench" {
		work = indexAMRedoWorkload(cfg.Workload)
		cc.generated = fmt.Sprintf("workload %s: inserts, deletes and vacuums, from a checkpoint, full_page_writes on", cfg.Workload)
	}
	if err := work.setup(ctx, c); err != nil {
		return fail(err)
	}
	if err := c.CheckpointContext(ctx); err != nil {
		return fail(err)
	}
	redoLSN := func() (schema.LSN, error) {
		rows, err := c.QueryContext(ctx, "SELECT redo_lsn FROM pg_control_checkpoint()")
		if err != nil {
			return 0, err
		}
		return schema.ParseLSN(rows[0][0])
	}
	if cc.redoStart, err = redoLSN(); err != nil {
		return fail(err)
	}
	want := schema.LSN(cfg.SizeMB) * 1e6
	log.Info("generating WAL (no checkpoint)", "workload", cfg.Workload, "mb", cfg.SizeMB, "from", cc.redoStart)
	if err := runRedoWorkload(ctx, c, work, cc.redoStart, want, log); err != nil {
		return fail(err)
	}
	if r, err := redoLSN(); err != nil {
		return fail(err)
	} else if r != cc.redoStart {
		return fail(fmt.Errorf("a checkpoint happened during the load (redo pointer %s, was %s): raise max_wal_size", r, cc.redoStart))
	}
	log.Info("crashing the server: pg_ctl stop -m immediate")
	if err := c.StopImmediate(); err != nil {
		return fail(err)
	}
	if _, err := c.CopyWALFiles(walDir); err != nil {
		return fail(err)
	}
	if cfg.Runs > 1 {
		cc.snapshot = filepath.Join(filepath.Dir(c.DataDir()), "crashed")
		if err := copyTree(ctx, c.DataDir(), cc.snapshot); err != nil {
			return fail(err)
		}
	}
	return cc, nil
}

// copyTree copies a directory with cp -a, keeping owners and modes (the
// server's files belong to postgres when running as root).
func copyTree(ctx context.Context, src, dst string) error {
	if out, err := exec.CommandContext(ctx, "cp", "-a", src, dst).CombinedOutput(); err != nil {
		return fmt.Errorf("cp -a %s %s: %w: %s", src, dst, err, out)
	}
	return nil
}

// pgRedoRange is what the server log says crash recovery replayed.
type pgRedoRange struct{ start, done schema.LSN }

var (
	redoStartsRE = regexp.MustCompile(`redo starts at ([0-9A-F]+/[0-9A-F]+)`)
	redoDoneRE   = regexp.MustCompile(`redo done at ([0-9A-F]+/[0-9A-F]+) system usage: CPU: user: ([0-9.]+) s, system: ([0-9.]+) s, elapsed: ([0-9.]+) s`)
)

// parseRecoveryLog reads crash recovery's figures from a server log.
func parseRecoveryLog(log string) (rng pgRedoRange, elapsed, cpu time.Duration, err error) {
	m := redoStartsRE.FindStringSubmatch(log)
	d := redoDoneRE.FindStringSubmatch(log)
	if m == nil || d == nil {
		return rng, 0, 0, fmt.Errorf("no \"redo starts at\" and \"redo done at … elapsed\" lines in the server log:\n%s", log)
	}
	if rng.start, err = schema.ParseLSN(m[1]); err != nil {
		return rng, 0, 0, err
	}
	if rng.done, err = schema.ParseLSN(d[1]); err != nil {
		return rng, 0, 0, err
	}
	secs := func(s string) time.Duration {
		f, _ := strconv.ParseFloat(s, 64)
		return time.Duration(f * float64(time.Second))
	}
	return rng, secs(d[4]), secs(d[2]) + secs(d[3]), nil
}

// timeRecovery starts the crashed server runs times (restoring the crashed
// data directory before every run after the first) and returns the best
// redo elapsed time from the log, and the best pg_ctl start wall time.
func (cc *crashedCluster) timeRecovery(ctx context.Context, runs int, log *slog.Logger) (pg, restart *benchRedoRow, rng pgRedoRange, err error) {
	c := cc.c
	pg = &benchRedoRow{name: "PostgreSQL crash recovery (log: redo done … elapsed)"}
	restart = &benchRedoRow{name: "PostgreSQL restart (pg_ctl start -w, wall, 0.1 s polls)", noCPU: true}
	for i := 0; i < runs; i++ {
		if i > 0 {
			if err := c.Stop(); err != nil {
				return nil, nil, rng, err
			}
			if err := os.RemoveAll(c.DataDir()); err != nil {
				return nil, nil, rng, err
			}
			if err := copyTree(ctx, cc.snapshot, c.DataDir()); err != nil {
				return nil, nil, rng, err
			}
		}
		var off int64
		if fi, err := os.Stat(c.LogFile()); err == nil {
			off = fi.Size()
		}
		syscall.Sync()
		load := loadAverage()
		t0 := time.Now()
		if err := c.Restart(); err != nil {
			return nil, nil, rng, fmt.Errorf("restart after the crash: %w", err)
		}
		wall := time.Since(t0)
		b, err := os.ReadFile(c.LogFile())
		if err != nil {
			return nil, nil, rng, err
		}
		if off > int64(len(b)) {
			off = 0
		}
		r, elapsed, cpu, err := parseRecoveryLog(string(b[off:]))
		if err != nil {
			return nil, nil, rng, err
		}
		rng = r
		log.Info("PostgreSQL crash recovery", "run", i+1, "redo_seconds", elapsed.Seconds(), "restart_seconds", wall.Seconds(),
			"redo_start", r.start, "redo_done", r.done, "load_average", load)
		if i == 0 || elapsed < pg.elapsed {
			pg.elapsed, pg.cpu, pg.load = elapsed, cpu, load
		}
		if i == 0 || wall < restart.elapsed {
			restart.elapsed, restart.load = wall, load
		}
	}
	return pg, restart, rng, nil
}
