package cli

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/pagemill/pagemill/ops"
	"github.com/pagemill/pagemill/ops/node"
	"github.com/pagemill/pagemill/redo/materialize"
	"github.com/pagemill/pagemill/redo/rebuild"
	"github.com/pagemill/pagemill/streams"
)

// Rebuild is `pagemill rebuild`: it recreates the page store DIR/pages
// from the streams alone (the base backup in the object store, then the
// WAL records), with the materializer `pagemill run` uses, and stops once
// every shard has applied the last round the stream held at the start
// (package redo/rebuild, run by an ops/node).
func Rebuild(ctx context.Context, env Env, args []string) int {
	fs := newFlagSet(env, "rebuild", "--data-dir DIR [--nats-url URL] [--system-id N --timeline N --shards N] [--force] [flags]")
	dataDir := fs.String("data-dir", "", "pagemill's data directory: the page store is rebuilt in DIR/pages; without --nats-url, DIR/nats is the embedded NATS store to read; required")
	natsOpts := addNATSFlags(fs, "empty opens the embedded NATS store in DIR/nats")
	sysID := fs.Uint64("system-id", 0, "source system identifier (default: the only PM_WAL_<sysid> stream)")
	tli := fs.Uint("timeline", 0, "timeline (default: the newest round's)")
	shards := fs.Int("shards", 0, "the stream's WAL subjects (default: the stream's metadata "+streams.MetaShards+")")
	redoShards := fs.Int("redo-shards", 0, "redo shards of the rebuilt page store (default: one per core, at least 2)")
	force := fs.Bool("force", false, "move a non-empty DIR/pages aside to DIR/pages.broken-<timestamp> first")
	imageEvery := fs.Int("image-every", 0, "write a full page image after this many records of a page (0: the materializer's default, 256)")
	cachePages := fs.Int("cache-pages", 0, "current pages the redo shards keep in memory, over all shards (0: the --memory-budget's share, without a budget 24576)")
	spillPages := fs.Int("spill-pages", 0, "current pages evicted from that cache kept in the shards' spill files, over all shards (0: the --memory-budget's share, without a budget as many as --cache-pages; negative: none)")
	every := fs.Duration("progress-interval", 5*time.Second, "how often a progress line is logged when stdout is not a terminal")
	httpListen := fs.String("http-listen", "", "serve /metrics and /healthz on this address while rebuilding (default: none)")
	logFlags := addLogFlags(fs)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *dataDir == "" || fs.NArg() > 0 || *tli > 1<<32-1 {
		fs.Usage()
		return 2
	}
	log, memory, err := logFlags.logger(env.Stderr)
	if err != nil {
		fmt.Fprintf(env.Stderr, "pagemill rebuild: %v\n", err)
		return 2
	}
	var bar *progressBar
	if isTerminal(env.Stdout) {
		bar = &progressBar{out: env.Stdout}
	}
	lastLog := time.Now()
	show := func(p rebuild.Progress) {
		switch {
		case bar != nil:
			bar.draw(progressLine(p))
		case p.Done || time.Since(lastLog) >= *every:
			lastLog = time.Now()
			p.Log(log)
		}
	}
	n, err := node.New(node.Config{
		DataDir: *dataDir, NATS: node.NATSConfig{External: natsOpts.connConfig("pagemill-rebuild")}, HTTPListen: *httpListen,
		Materialize: materialize.Config{ImageEvery: *imageEvery, CachePages: *cachePages, SpillPages: *spillPages}, RedoShards: *redoShards, Memory: memory,
		Rebuild: &node.RebuildConfig{Force: *force, Progress: show,
			Layout: streams.Layout{SystemID: *sysID, Timeline: uint32(*tli), Shards: *shards}},
		Log: log, Registry: ops.NewRegistry(),
	})
	if err == nil {
		err = n.Run(ctx)
	}
	if err != nil {
		bar.finish()
		log.Error("pagemill rebuild failed", "err", err)
		return 1
	}
	p := n.Rebuilt()
	if bar != nil {
		bar.draw(progressLine(p))
		bar.finish()
	}
	pagesDir := filepath.Join(*dataDir, "pages")
	size := dirSize(pagesDir)
	fmt.Fprintln(env.Stdout, summaryLine(p, pagesDir, size))
	p.LogDone(log, pagesDir, size)
	return 0
}

// progressLine is the progress bar's line.
func progressLine(p rebuild.Progress) string {
	const width = 24
	frac := p.Fraction()
	var what string
	if p.Importing {
		what = fmt.Sprintf("base %d/%d pages (%.1f MB)", p.BasePages, p.BaseTotal, mb(p.BaseBytes()))
	} else {
		what = fmt.Sprintf("WAL %.1f/%.1f MB  %.1f MB/s  ETA %s  %d records", mb(p.WALDone), mb(p.WALTotal), p.WALRate(), rebuild.FormatETA(p.ETA()), p.Records)
	}
	n := int(frac * width)
	return fmt.Sprintf("rebuild [%s%s] %5.1f%%  %s", strings.Repeat("#", n), strings.Repeat(".", width-n), 100*frac, what)
}

// summaryLine is the rebuild's last line: MB, seconds, MB/s, pages.
func summaryLine(p rebuild.Progress, dir string, storeBytes int64) string {
	return fmt.Sprintf("rebuilt %s up to %s: %.1f MB (base %.1f MB + WAL %.1f MB) in %.2f s, %.1f MB/s (WAL replay %.1f MB/s); %d base pages + %d page versions from %d records; store %.1f MB",
		dir, p.Applied, mb(p.BaseBytes()+p.WALDone), mb(p.BaseBytes()), mb(p.WALDone), p.Elapsed.Seconds(), p.Rate(), p.WALRate(),
		p.BasePages, p.Versions, p.Records, mb(storeBytes))
}

func mb(b int64) float64 { return float64(b) / 1e6 }
