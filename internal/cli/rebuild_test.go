package cli_test

import (
	"context"
	"crypto/sha256"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pagemill/pagemill/internal/cli"
	"github.com/pagemill/pagemill/internal/natstest"
	"github.com/pagemill/pagemill/internal/pgtest"
	"github.com/pagemill/pagemill/internal/pipetest"
	"github.com/pagemill/pagemill/redo/materialize"
	"github.com/pagemill/pagemill/redo/pagestore"
	"github.com/pagemill/pagemill/schema"
)

// pageRead is what reading one page at one LSN gave.
type pageRead struct {
	sum     [32]byte
	version schema.LSN
	err     string
}

type pageAt struct {
	tag schema.BufferTag
	lsn schema.LSN
}

// readAll reads every page of every relation fork at each LSN.
func readAll(t *testing.T, lsns []schema.LSN,
	rels func(lsn schema.LSN) (map[pagestore.RelFork]schema.BlockNumber, error),
	page func(tag schema.BufferTag, lsn schema.LSN) (schema.Page, schema.LSN, error)) (map[pageAt]pageRead, map[schema.LSN]map[pagestore.RelFork]schema.BlockNumber) {
	t.Helper()
	out := map[pageAt]pageRead{}
	sizes := map[schema.LSN]map[pagestore.RelFork]schema.BlockNumber{}
	for _, lsn := range lsns {
		rs, err := rels(lsn)
		if err != nil {
			t.Fatalf("relations at %s: %v", lsn, err)
		}
		sizes[lsn] = rs
		for rf, n := range rs {
			for b := schema.BlockNumber(0); b < n; b++ {
				tag := schema.BufferTag{Rel: rf.Rel, Fork: rf.Fork, Block: b}
				p, v, err := page(tag, lsn)
				r := pageRead{version: v}
				if err != nil {
					r.err = err.Error()
				} else {
					r.sum = sha256.Sum256(p)
				}
				out[pageAt{tag, lsn}] = r
			}
		}
	}
	return out, sizes
}

// TestRebuildFromStreams: after pgbench and more load, every page of every
// relation fork at the latest LSN and at older LSNs is read; then the
// materializer's store is deleted and `pagemill rebuild` recreates one
// from the same JetStream alone; every page at the same LSNs is
// byte-identical (same version, same error when there is one).
func TestRebuildFromStreams(t *testing.T) {
	c := pgtest.Start(t, pgtest.Options{})
	c.Pgbench(t, "-i", "-s", "1", "-q")
	storeDir := t.TempDir()
	p := pipetest.Start(t, c, pipetest.Options{StoreDir: storeDir, NATSListen: "127.0.0.1:0"})
	lsns := []schema.LSN{p.Mat.Horizon()}
	mark := func() {
		lsn, err := schema.ParseLSN(c.CurrentWALLSN(t))
		if err != nil {
			t.Fatal(err)
		}
		lsns = append(lsns, lsn)
	}
	c.Pgbench(t, "-t", "200", "-c", "2")
	mark()
	c.Exec(t, "CREATE TABLE rb (id int PRIMARY KEY, v text); INSERT INTO rb SELECT g, md5(g::text) FROM generate_series(1, 10000) g")
	c.Exec(t, "UPDATE rb SET v = 'x' WHERE id % 3 = 0; DELETE FROM rb WHERE id % 7 = 0")
	mark()
	c.Pgbench(t, "-t", "200", "-c", "2")
	c.Exec(t, "VACUUM rb")
	c.Exec(t, "TRUNCATE pgbench_history")
	end := p.CatchUp(t, c)
	lsns = append(lsns, end)

	ctx := context.Background()
	began := time.Now()
	before, sizesBefore := readAll(t, lsns,
		func(lsn schema.LSN) (map[pagestore.RelFork]schema.BlockNumber, error) {
			return p.Mat.Relations(ctx, 0, lsn)
		},
		func(tag schema.BufferTag, lsn schema.LSN) (schema.Page, schema.LSN, error) {
			return p.Mat.PageAt(ctx, tag, lsn)
		})
	horizon := p.Mat.Horizon()
	t.Logf("read %d page versions at %v in %s", len(before), lsns, time.Since(began).Round(time.Millisecond))

	p.StopMat()
	if err := os.RemoveAll(storeDir); err != nil {
		t.Fatal(err)
	}
	dataDir := t.TempDir()
	var out, logs pipetest.SyncBuffer
	env := cli.Env{Stdout: &out, Stderr: &logs}
	args := []string{"rebuild", "--data-dir", dataDir, "--nats-url", p.NATSURL, "--progress-interval", "500ms"}
	began = time.Now()
	if code := cli.Main(ctx, env, args); code != 0 {
		t.Fatalf("rebuild: exit %d\n%s", code, logs.String())
	}
	elapsed := time.Since(began)
	summary := strings.TrimSpace(out.String())
	t.Logf("rebuild in %s: %s", elapsed.Round(time.Millisecond), summary)
	if testing.Verbose() {
		t.Logf("rebuild logs:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), "rebuild progress") {
		t.Errorf("no progress line in the logs:\n%s", logs.String())
	}
	if m := regexp.MustCompile(`([0-9.]+) MB/s`).FindStringSubmatch(summary); m == nil {
		t.Errorf("summary without MB/s: %q", summary)
	}

	store, err := pagestore.Open(pagestore.Options{Dir: filepath.Join(dataDir, "pages"), Shards: 1, AdoptShards: true}, pipetest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	if h := store.Horizon(); h != horizon {
		t.Errorf("rebuilt horizon %s, was %s", h, horizon)
	}
	if store.Shards() != materialize.DefaultShards(p.Layout.Shards) {
		t.Errorf("rebuilt store has %d redo shards, want the default %d", store.Shards(), materialize.DefaultShards(p.Layout.Shards))
	}
	for i := 0; i < store.Shards(); i++ {
		if a, _, err := store.Applied(i); err != nil || a < end {
			t.Errorf("shard %d: applied %s (err %v), want at least %s", i, a, err, end)
		}
	}
	after, sizesAfter := readAll(t, lsns,
		func(lsn schema.LSN) (map[pagestore.RelFork]schema.BlockNumber, error) { return store.Relations(0, lsn) },
		store.PageAt)
	compareReads(t, lsns, before, after, sizesBefore, sizesAfter)

	// A second rebuild into the now non-empty directory is refused.
	var out2, logs2 pipetest.SyncBuffer
	if code := cli.Main(ctx, cli.Env{Stdout: &out2, Stderr: &logs2}, args); code != 1 || !strings.Contains(logs2.String(), "--force") {
		t.Errorf("rebuild into a non-empty directory: exit %d\n%s", code, logs2.String())
	}
}

// compareReads fails unless every page read and every relation size
// before the rebuild is the same after it.
func compareReads(t *testing.T, lsns []schema.LSN, before, after map[pageAt]pageRead, sizesBefore, sizesAfter map[schema.LSN]map[pagestore.RelFork]schema.BlockNumber) {
	t.Helper()
	for _, lsn := range lsns {
		if len(sizesBefore[lsn]) != len(sizesAfter[lsn]) {
			t.Errorf("at %s: %d relation forks before, %d after", lsn, len(sizesBefore[lsn]), len(sizesAfter[lsn]))
		}
		for rf, n := range sizesBefore[lsn] {
			if m, ok := sizesAfter[lsn][rf]; !ok || m != n {
				t.Errorf("at %s: %v has %d blocks before, %d (%v) after", lsn, rf, n, m, ok)
			}
		}
	}
	bad, pages, errs := 0, 0, 0
	for k, b := range before {
		a, ok := after[k]
		switch {
		case !ok:
			t.Errorf("%s at %s: not read after the rebuild", k.tag, k.lsn)
		case a != b:
			if bad < 10 {
				t.Errorf("%s at %s: before version %s err %q, after version %s err %q, same bytes %v", k.tag, k.lsn, b.version, b.err, a.version, a.err, a.sum == b.sum)
			}
			bad++
		case b.err != "":
			errs++
		default:
			pages++
		}
	}
	if bad > 0 {
		t.Fatalf("%d of %d page reads differ after the rebuild", bad, len(before))
	}
	t.Logf("%d page reads at %d LSNs identical after the rebuild (%d pages, %d identical errors)", len(before), len(lsns), pages, errs)
	if pages < 4*1000 {
		t.Fatalf("only %d pages compared", pages)
	}
}

// TestRebuildDamagedStoreInRun: `pagemill run` finds its page store
// damaged (MANIFEST overwritten while stopped), moves it aside and
// rebuilds it from the streams by itself; then `pagemill rebuild --force`
// on the stopped data directory (its embedded NATS store) does it again.
// Both times every page equals the source's.
func TestRebuildDamagedStoreInRun(t *testing.T) {
	c := pgtest.Start(t, pipetest.QuietSource(pgtest.Options{}))
	c.Pgbench(t, "-i", "-s", "1", "-q")
	dataDir := t.TempDir()
	pgAddr := natstest.FreeAddr(t)
	args := runArgs(t, c, dataDir, pgAddr, 4, "pm_rebuild")
	ctx := context.Background()
	first := startPagemill(t, args...)
	c.Pgbench(t, "-t", "200", "-c", "2")
	waitApplied(t, ctx, first, pgAddr, 1)
	first.stop(t)

	pages := filepath.Join(dataDir, "pages")
	if err := os.WriteFile(filepath.Join(pages, "MANIFEST"), []byte("this is not a manifest"), 0o600); err != nil {
		t.Fatal(err)
	}
	c.Pgbench(t, "-t", "200", "-c", "2")
	target := settle(t, c)
	second := startPagemill(t, args...)
	waitApplied(t, ctx, second, pgAddr, target)
	for _, want := range []string{"the page store is damaged: moved it aside", "page store rebuilt from the streams"} {
		deadline := time.Now().Add(30 * time.Second)
		for !strings.Contains(second.logs.String(), want) {
			if time.Now().After(deadline) {
				t.Fatalf("no %q in the logs:\n%s", want, tail(second.logs.String(), 40))
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	second.stop(t)
	broken, _ := filepath.Glob(pages + ".broken-*")
	if len(broken) != 1 {
		t.Fatalf("moved-aside stores: %v", broken)
	}
	compareStore(t, c, pages, target, "rebuilt by run")

	var out, rlogs pipetest.SyncBuffer
	code := cli.Main(ctx, cli.Env{Stdout: &out, Stderr: &rlogs}, []string{"rebuild", "--data-dir", dataDir, "--force"})
	if code != 0 {
		t.Fatalf("rebuild --force: exit %d\n%s", code, rlogs.String())
	}
	t.Logf("rebuild --force: %s", strings.TrimSpace(out.String()))
	if broken, _ = filepath.Glob(pages + ".broken-*"); len(broken) != 2 {
		t.Errorf("moved-aside stores after --force: %v", broken)
	}
	compareStore(t, c, pages, target, "rebuilt by rebuild --force")
}
