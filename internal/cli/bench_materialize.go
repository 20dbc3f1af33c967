package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/pagemill/pagemill/ingest"
	"github.com/pagemill/pagemill/internal/scratchpg"
	"github.com/pagemill/pagemill/ops"
	"github.com/pagemill/pagemill/redo/materialize"
	"github.com/pagemill/pagemill/redo/pagestore"
	"github.com/pagemill/pagemill/schema"
	"github.com/pagemill/pagemill/streams"
)

// benchMaterializeConfig configures `pagemill bench materialize`.
type benchMaterializeConfig struct {
	SizeMB      int
	Scale       int
	Shards      int
	LiveSeconds int
	Dir         string
	CPUProfile  string
	HeapProfile string
	ImageEvery  int
	CachePages  int
	MemoryLimit int64 // the Go heap soft limit in effect (0: none)
}

// benchMaterialize is `pagemill bench materialize`: with a pgbench WAL
// already in JetStream (after the base backup, no checkpoint in it), the
// time until every shard's applied LSN reaches its end, beside
// PostgreSQL's own crash recovery of the same WAL (the base backup's
// checkpoint is the last one, so the server replays exactly that range
// after `pg_ctl stop -m immediate`). Then the live lag while pgbench runs.
func benchMaterialize(ctx context.Context, env Env, args []string) int {
	var cfg benchMaterializeConfig
	fs := newFlagSet(env, "bench materialize", "[--size-mb N] [--scale N] [--shards N]")
	fs.IntVar(&cfg.SizeMB, "size-mb", 500, "pgbench WAL to materialize (MB)")
	fs.IntVar(&cfg.Scale, "scale", 10, "pgbench -i scale")
	fs.IntVar(&cfg.Shards, "shards", 8, "shards")
	fs.IntVar(&cfg.LiveSeconds, "live-seconds", 10, "pgbench seconds for the live lag measurement (0: skip)")
	fs.StringVar(&cfg.Dir, "dir", "", "scratch directory (default: the system temp dir)")
	fs.StringVar(&cfg.CPUProfile, "cpu-profile", "", "write a CPU profile of the materialize phase here")
	memLimit := addMemoryLimitFlag(fs)
	fs.IntVar(&cfg.ImageEvery, "image-every", 0, "write a full page image after this many records of a page (0: the materializer's default)")
	fs.IntVar(&cfg.CachePages, "cache-pages", 0, "current pages the redo shards keep in memory (0: the materializer's default)")
	fs.StringVar(&cfg.HeapProfile, "heap-profile", "", "write a heap profile at the end of the materialize phase here")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	log, _ := ops.NewLogger(env.Stderr, ops.LogConfig{Level: "info"})
	var err error
	if cfg.MemoryLimit, err = ops.ApplyMemoryLimit(*memLimit, log); err != nil {
		fmt.Fprintf(env.Stderr, "pagemill bench materialize: %v\n", err)
		return 2
	}
	res, err := runBenchMaterialize(ctx, cfg, log)
	if err != nil {
		fmt.Fprintf(env.Stderr, "pagemill bench materialize: %v\n", err)
		return 1
	}
	res.print(env.Stdout)
	return 0
}

type benchMaterializeResult struct {
	cfg                 benchMaterializeConfig
	from, to            schema.LSN
	importSecs          float64
	matSecs, matCPU     float64
	peakMem             memPeaks
	images, deltas      int64
	commits, syncs      uint64
	streamMsgs          uint64
	streamBytes         uint64
	pgSecs, pgCPU       float64
	pgFrom, pgTo        schema.LSN
	load                string
	liveSamples         int
	liveP50, liveP99    time.Duration
	liveMax             time.Duration
	storeLSM, storeVlog int64
}

func (r *benchMaterializeResult) print(w io.Writer) {
	// Both replay the same records; the bytes after PostgreSQL's "redo
	// done at" are the empty rest of switched segments.
	mb := float64(r.pgTo-r.pgFrom) / 1e6
	fmt.Fprintf(w, "pgbench WAL %s .. %s (records up to %s): %.1f MB (scale %d, %d shards; load average before: %s)\n\n", r.from, r.to, r.pgTo, mb, r.cfg.Scale, r.cfg.Shards, r.load)
	fmt.Fprintf(w, "%-58s %9s %9s %9s\n", "", "seconds", "MB/s", "CPU s")
	fmt.Fprintf(w, "%-58s %9.2f %9.1f %9.2f\n", "pagemill materialize (JetStream -> Badger, durable)", r.matSecs, mb/r.matSecs, r.matCPU)
	pgMB := mb
	fmt.Fprintf(w, "%-58s %9.2f %9.1f %9.2f\n", fmt.Sprintf("PostgreSQL crash recovery (%s .. %s)", r.pgFrom, r.pgTo), r.pgSecs, pgMB/r.pgSecs, r.pgCPU)
	fmt.Fprintf(w, "\nratio pagemill/PostgreSQL (MB/s): %.2f\n", (mb/r.matSecs)/(pgMB/r.pgSecs))
	fmt.Fprintf(w, "peak RSS during materialize (VmHWM, whole process incl. embedded NATS): %.0f MiB (Go heap soft limit %s)\n",
		mib(r.peakMem.hwm), memLimitText(r.cfg.MemoryLimit))
	fmt.Fprintf(w, "  of which, sampled peaks: anonymous %.0f MiB (Go heap in use %.0f MiB, Go runtime total %.0f MiB), file-backed (mmapped Badger files) %.0f MiB\n",
		mib(r.peakMem.anon), mib(r.peakMem.heapInuse), mib(r.peakMem.goSys), mib(r.peakMem.file))
	if r.streamMsgs > 0 {
		fmt.Fprintf(w, "stream: %d messages, %.0f bytes on average\n", r.streamMsgs, float64(r.streamBytes)/float64(r.streamMsgs))
	}
	fmt.Fprintf(w, "page versions written: %d full images (restored FPIs and every image interval), %d records as deltas, in %d shard commits, %d syncs\n",
		r.images, r.deltas, r.commits, r.syncs)
	fmt.Fprintf(w, "base backup import: %.2f s; page store after: LSM %.0f MiB, value log %.0f MiB\n", r.importSecs, float64(r.storeLSM)/(1<<20), float64(r.storeVlog)/(1<<20))
	if r.liveSamples > 0 {
		fmt.Fprintf(w, "live lag while pgbench runs (%d samples, source LSN -> applied on every shard): p50 %s, p99 %s, max %s\n",
			r.liveSamples, r.liveP50.Round(time.Millisecond), r.liveP99.Round(time.Millisecond), r.liveMax.Round(time.Millisecond))
	}
}

func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		f.Close()
		return fmt.Errorf("heap profile: %w", err)
	}
	return f.Close()
}

func memLimitText(n int64) string {
	if n <= 0 || n == math.MaxInt64 {
		return "none"
	}
	return fmt.Sprintf("%.0f MiB", mib(n))
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }

// memPeaks are the process's peak resident set (VmHWM, since resetHWM)
// and the largest values sampled of its parts: what is anonymous (Go's
// heap and runtime) and what is mapped files (Badger's mmapped value log
// and tables count in RSS once touched).
type memPeaks struct{ hwm, anon, file, heapInuse, goSys int64 }

func (p *memPeaks) sample() {
	b, _ := os.ReadFile("/proc/self/status")
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case "VmHWM:":
			p.hwm = max(p.hwm, kb<<10)
		case "RssAnon:":
			p.anon = max(p.anon, kb<<10)
		case "RssFile:":
			p.file = max(p.file, kb<<10)
		}
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	p.heapInuse = max(p.heapInuse, int64(ms.HeapInuse))
	p.goSys = max(p.goSys, int64(ms.Sys))
}

// sampleMem samples p every interval until stop is closed, then once more.
func sampleMem(p *memPeaks, interval time.Duration, stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		p.sample()
		select {
		case <-stop:
			p.sample()
			return
		case <-t.C:
		}
	}
}

// resetHWM resets VmHWM to the current RSS (Linux clear_refs 5).
func resetHWM() { _ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

func runBenchMaterialize(ctx context.Context, cfg benchMaterializeConfig, log *slog.Logger) (*benchMaterializeResult, error) {
	tmp, err := os.MkdirTemp(cfg.Dir, "pagemill-bench-materialize-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	log.Info("starting a scratch PostgreSQL 15 cluster")
	c, err := scratchpg.New(ctx, scratchpg.Options{ExtraConf: map[string]string{
		"max_wal_size":       strconv.Itoa(max(2048, 3*cfg.SizeMB)) + "MB",
		"checkpoint_timeout": "1h",
		"shared_buffers":     "256MB",
		"autovacuum":         "off",
	}})
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if _, err := c.PgbenchContext(ctx, "-i", "-s", strconv.Itoa(cfg.Scale), "-q"); err != nil {
		return nil, err
	}
	emb, err := streams.StartEmbedded(ctx, streams.EmbeddedConfig{Dir: filepath.Join(tmp, "nats")}, log)
	if err != nil {
		return nil, err
	}
	defer emb.Shutdown()
	nc, err := emb.Connect()
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	scfg := streams.Config{Shards: cfg.Shards, Replicas: 1}
	ing, err := ingest.New(ingest.Config{Source: c.ConnString("postgres"), Slot: "pagemill", Streams: scfg}, nc, prometheus.NewRegistry(), log)
	if err != nil {
		return nil, err
	}
	ictx, icancel := context.WithCancel(ctx)
	defer icancel()
	ingErr := make(chan error, 1)
	go func() { ingErr <- ing.Run(ictx) }()
	// The base backup (its fast checkpoint is the redo start of both).
	var from schema.LSN
	if err := waitIngest(ctx, ing, ingErr, 100*time.Millisecond, 5*time.Minute, func(st ingest.Status) (bool, error) {
		if st.BaseBackup != nil && st.BaseBackup.Completed {
			from = st.BaseBackup.StartLSN
			return true, nil
		}
		return false, nil
	}); err != nil {
		return nil, err
	}
	log.Info("base backup taken; generating WAL", "from", from, "mb", cfg.SizeMB)
	// The backup ends with a segment switch: count the size from there.
	genStart, err := currentLSN(ctx, c)
	if err != nil {
		return nil, err
	}
	var to schema.LSN
	for {
		if to, err = currentLSN(ctx, c); err != nil {
			return nil, err
		}
		log.Info("WAL so far", "lsn", to, "mb", float64(to-genStart)/1e6)
		if to >= genStart+schema.LSN(cfg.SizeMB)*1e6 {
			break
		}
		if _, err := c.PgbenchContext(ctx, "-T", "5", "-c", "4", "-j", "2"); err != nil {
			return nil, err
		}
	}
	if err := c.ExecContext(ctx, "SELECT pg_switch_wal()"); err != nil {
		return nil, err
	}
	if to, err = currentLSN(ctx, c); err != nil {
		return nil, err
	}
	if err := waitIngest(ctx, ing, ingErr, 100*time.Millisecond, 2*time.Minute, func(st ingest.Status) (bool, error) {
		return st.PublishedLSN >= to, nil
	}); err != nil {
		return nil, err
	}
	log.Info("WAL in JetStream", "from", from, "to", to, "mb", float64(to-from)/1e6)
	res := &benchMaterializeResult{cfg: cfg, from: from, to: to}

	// PostgreSQL's crash recovery of the same range, first (the ingest
	// keeps running; its slot holds the WAL).
	icancel()
	<-ingErr
	off := logSize(c.LogFile())
	if err := c.StopImmediate(); err != nil {
		return nil, err
	}
	syscall.Sync()
	if err := c.Restart(); err != nil {
		return nil, err
	}
	logText, _ := readFrom(c.LogFile(), off)
	rng, elapsed, cpu, err := parseRecoveryLog(logText)
	if err != nil {
		return nil, err
	}
	res.pgSecs, res.pgCPU, res.pgFrom, res.pgTo = elapsed.Seconds(), cpu.Seconds(), rng.start, rng.done

	// The materializer on an empty store.
	layout := ing.Layout()
	js, _ := jetstream.New(nc)
	h, err := streams.Ensure(ctx, js, layout, scfg)
	if err != nil {
		return nil, err
	}
	store, err := pagestore.Open(pagestore.Options{Dir: filepath.Join(tmp, "pages"), Shards: layout.Shards}, log)
	if err != nil {
		return nil, err
	}
	defer store.Close()
	reg := prometheus.NewRegistry()
	mat, err := materialize.New(materialize.Config{Layout: layout, ImageEvery: cfg.ImageEvery, CachePages: cfg.CachePages}, js, h, store, reg, log)
	if err != nil {
		return nil, err
	}
	mctx, mcancel := context.WithCancel(ctx)
	matDone := make(chan struct{}) // closed when Run returned; matErr is then set
	var matErr error
	defer func() {
		mcancel()
		<-matDone
	}()
	syscall.Sync()
	res.load = loadAverage()
	t0 := time.Now()
	go func() { matErr = mat.Run(mctx); close(matDone) }()
	select {
	case <-mat.Ready():
	case <-matDone:
		return nil, fmt.Errorf("materializer: %v", matErr)
	}
	res.importSecs = time.Since(t0).Seconds()
	resetHWM()
	if cfg.CPUProfile != "" {
		f, err := os.Create(cfg.CPUProfile)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return nil, err
		}
	}
	memStop, memDone := make(chan struct{}), make(chan struct{})
	go sampleMem(&res.peakMem, 100*time.Millisecond, memStop, memDone)
	t1, cpu0 := time.Now(), cpuTime(syscall.RUSAGE_SELF)
	wctx, wcancel := context.WithCancel(ctx)
	go func() {
		select {
		case <-matDone:
			log.Error("materializer stopped", "err", matErr)
			wcancel()
		case <-wctx.Done():
		}
	}()
	// Durable, not only applied: every batch synced and acknowledged.
	err = mat.WaitDurable(wctx, to)
	wcancel()
	close(memStop)
	<-memDone
	if err != nil {
		return nil, err
	}
	res.matSecs, res.matCPU = time.Since(t1).Seconds(), (cpuTime(syscall.RUSAGE_SELF) - cpu0).Seconds()
	if cfg.HeapProfile != "" {
		if err := writeHeapProfile(cfg.HeapProfile); err != nil {
			return nil, err
		}
	}
	if cfg.CPUProfile != "" {
		pprof.StopCPUProfile()
	}
	res.storeLSM, res.storeVlog = store.Size()
	if info, err := h.Stream.Info(ctx); err == nil {
		res.streamMsgs, res.streamBytes = info.State.Msgs, info.State.Bytes
	}
	if mfs, err := reg.Gather(); err == nil {
		for _, mf := range mfs {
			if len(mf.GetMetric()) == 0 {
				continue
			}
			switch v := int64(mf.GetMetric()[0].GetCounter().GetValue()); mf.GetName() {
			case "pagemill_materialize_commit_seconds":
				res.commits = mf.GetMetric()[0].GetHistogram().GetSampleCount()
			case "pagemill_materialize_sync_seconds":
				res.syncs = mf.GetMetric()[0].GetHistogram().GetSampleCount()
			case "pagemill_materialize_images_written_total":
				res.images = v
			case "pagemill_materialize_deltas_written_total":
				res.deltas = v
			}
		}
	}
	log.Info("materialized", "seconds", res.matSecs, "mb_per_s", float64(to-from)/1e6/res.matSecs)

	// Live: ingest and materializer follow pgbench.
	if cfg.LiveSeconds > 0 {
		lctx, lcancel := context.WithCancel(ctx)
		ing2, err := ingest.New(ingest.Config{Source: c.ConnString("postgres"), Slot: "pagemill", Streams: scfg}, nc, prometheus.NewRegistry(), log)
		if err != nil {
			lcancel()
			return nil, err
		}
		go func() { _ = ing2.Run(lctx) }()
		load := make(chan error, 1)
		go func() {
			_, err := c.PgbenchContext(lctx, "-T", strconv.Itoa(cfg.LiveSeconds), "-c", "2")
			load <- err
		}()
		var lags []time.Duration
		lagc := make(chan time.Duration, 1024)
		pending := 0
	sampling:
		for {
			select {
			case err := <-load:
				if err != nil {
					lcancel()
					return nil, err
				}
				break sampling
			case <-ctx.Done():
				lcancel()
				return nil, ctx.Err()
			case <-time.After(100 * time.Millisecond):
			}
			lsn, err := currentLSN(ctx, c)
			if err != nil {
				continue
			}
			sent := time.Now()
			pending++
			go func() {
				wctx, cancel := context.WithTimeout(lctx, time.Minute)
				defer cancel()
				if mat.WaitAll(wctx, lsn) != nil {
					lagc <- -1
					return
				}
				lagc <- time.Since(sent)
			}()
		}
		for ; pending > 0; pending-- {
			if d := <-lagc; d >= 0 {
				lags = append(lags, d)
			}
		}
		lcancel()
		sort.Slice(lags, func(i, j int) bool { return lags[i] < lags[j] })
		if n := len(lags); n > 0 {
			res.liveSamples = n
			res.liveP50, res.liveP99, res.liveMax = lags[n/2], lags[min(n-1, n*99/100)], lags[n-1]
		}
	}
	return res, nil
}

func logSize(path string) int64 {
	if fi, err := os.Stat(path); err == nil {
		return fi.Size()
	}
	return 0
}

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
