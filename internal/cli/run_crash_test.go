package cli_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"github.com/pagemill/pagemill/internal/natstest"
	"github.com/pagemill/pagemill/internal/pgtest"
	"github.com/pagemill/pagemill/internal/pipetest"
)

// TestRunSurvivesSIGKILL: `pagemill run` is killed with SIGKILL at random
// moments ten times while pgbench runs; after the last restart catches
// up, every page equals the source's.
func TestRunSurvivesSIGKILL(t *testing.T) {
	c := pgtest.Start(t, pipetest.QuietSource(pgtest.Options{}))
	c.Pgbench(t, "-i", "-s", "1", "-q")
	dataDir := t.TempDir()
	pgAddr := natstest.FreeAddr(t)
	args := runArgs(t, c, dataDir, pgAddr, 4, "pm_crash")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// First start: the base backup is taken and imported.
	first := startPagemill(t, args...)
	waitApplied(t, ctx, first, pgAddr, 1)
	first.kill(t)
	load := pgbenchAsync(ctx, c, "-T", "20", "-c", "2")
	// Then ten runs, each killed at a random moment of its catch-up (the
	// load goes on while pagemill is down, so each start has a backlog).
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	for i := 0; i < 10; i++ {
		time.Sleep(time.Duration(200+rng.IntN(800)) * time.Millisecond)
		p := startPagemill(t, args...)
		d := time.Duration(300+rng.IntN(2200)) * time.Millisecond
		select {
		case <-p.done:
			t.Fatalf("pagemill exited on its own (run %d): %v\n%s", i, p.err, p.logs.String())
		case <-time.After(d):
		}
		p.kill(t)
		t.Logf("killed pagemill after %s (run %d)", d, i+1)
	}
	if err := <-load; err != nil {
		t.Fatalf("pgbench: %v", err)
	}
	target := settle(t, c)
	p := startPagemill(t, args...)
	applied := waitApplied(t, ctx, p, pgAddr, target)
	// Stop cleanly and read the page store directly.
	p.stop(t)
	compareStore(t, c, filepath.Join(dataDir, "pages"), target, fmt.Sprintf("after 10 SIGKILLs: applied %s", applied))
}
