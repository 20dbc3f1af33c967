package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/pagemill/pagemill/internal/scratchpg"
	"github.com/pagemill/pagemill/schema"
	"github.com/pagemill/pagemill/streams"
)

// A fixture is what materialize's run starts from, kept for later runs
// (--fixture): the source cluster's data directory as the crash left it,
// the JetStream store holding the published WAL, and where that WAL lies.
// Generating the WAL with pgbench is most of a run's time; a run from a
// fixture starts at PostgreSQL's crash recovery. Each run works on copies,
// so the fixture stays as it was made.
type fixture struct {
	Version  int    `json:"version"`
	SizeMB   int    `json:"size_mb"`
	Scale    int    `json:"scale"`
	Shards   int    `json:"shards"`
	Backlog  bool   `json:"backlog"`
	From     string `json:"from"` // LSNs, as PostgreSQL prints them
	To       string `json:"to"`
	SystemID uint64 `json:"system_id"`
	Timeline uint32 `json:"timeline"`

	from, to schema.LSN
}

// fixtureVersion is the layout of a fixture directory this build reads
// and writes.
const fixtureVersion = 1

const (
	fixtureFile   = "fixture.json"
	fixturePGData = "pgdata"
	fixtureNATS   = "nats"
)

// loadFixture reads the fixture in dir: nil when dir is empty or holds
// none yet. A fixture made with other workload flags is refused: its
// figures would not be the ones asked for.
func loadFixture(dir string, cfg *materializeConfig) (*fixture, error) {
	if dir == "" {
		return nil, nil
	}
	b, err := os.ReadFile(filepath.Join(dir, fixtureFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("fixture: %w", err)
	}
	var fx fixture
	if err := json.Unmarshal(b, &fx); err != nil {
		return nil, fmt.Errorf("fixture %s: %w", filepath.Join(dir, fixtureFile), err)
	}
	if fx.Version != fixtureVersion {
		return nil, fmt.Errorf("fixture %s has version %d, this build reads %d: remove the directory to make a new one", dir, fx.Version, fixtureVersion)
	}
	if fx.from, err = schema.ParseLSN(fx.From); err == nil {
		fx.to, err = schema.ParseLSN(fx.To)
	}
	if err != nil {
		return nil, fmt.Errorf("fixture %s: %w", dir, err)
	}
	if fx.SizeMB != cfg.SizeMB || fx.Scale != cfg.Scale || fx.Shards != cfg.Shards || fx.Backlog != cfg.Backlog {
		return nil, usagef("the fixture in %s was made with --size-mb %d --scale %d --shards %d --backlog=%v: run with those, or name another directory",
			dir, fx.SizeMB, fx.Scale, fx.Shards, fx.Backlog)
	}
	return &fx, nil
}

func (fx *fixture) layout() streams.Layout {
	return streams.Layout{SystemID: fx.SystemID, Timeline: fx.Timeline, Shards: fx.Shards}
}

// cluster makes a stopped scratch cluster from a copy of the fixture's
// data directory: its first start is the crash recovery.
func (fx *fixture) cluster(ctx context.Context, dir string, conf map[string]string, log *slog.Logger) (*scratchpg.Cluster, error) {
	log.Info("starting from a fixture", "dir", dir, "from", fx.from, "to", fx.to)
	c, err := scratchpg.New(ctx, scratchpg.Options{ExtraConf: conf, Logf: debugf(log), Stopped: true,
		Fill: func(data string) error { return copyTree(ctx, filepath.Join(dir, fixturePGData)+"/.", data) }})
	if err != nil {
		return nil, fmt.Errorf("scratch cluster from the fixture: %w", err)
	}
	return c, nil
}

// saveFixture keeps this run's inputs in dir: the crashed cluster's data
// directory (the server must be stopped) and the JetStream store, which
// it copies with the server shut down and then starts again.
func (b *materializeBench) saveFixture(ctx context.Context, dir, natsDir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("fixture: %w", err)
	}
	for _, sub := range []string{fixturePGData, fixtureNATS} {
		if err := os.RemoveAll(filepath.Join(dir, sub)); err != nil {
			return fmt.Errorf("fixture: %w", err)
		}
	}
	if err := copyTree(ctx, b.c.DataDir(), filepath.Join(dir, fixturePGData)); err != nil {
		return fmt.Errorf("fixture: %w", err)
	}
	b.nats.close()
	if err := copyTree(ctx, natsDir, filepath.Join(dir, fixtureNATS)); err != nil {
		return fmt.Errorf("fixture: %w", err)
	}
	var err error
	if b.nats, err = startNATS(ctx, natsDir, b.cfg.memory.DropStreamCache, b.log); err != nil {
		return err
	}
	fx := fixture{Version: fixtureVersion, SizeMB: b.cfg.SizeMB, Scale: b.cfg.Scale, Shards: b.cfg.Shards, Backlog: b.cfg.Backlog,
		From: b.from.String(), To: b.to.String(), SystemID: b.layout.SystemID, Timeline: b.layout.Timeline}
	js, err := json.MarshalIndent(fx, "", "  ")
	if err != nil {
		return err
	}
	// Written last, and by rename: a fixture without it is not one.
	tmp := filepath.Join(dir, fixtureFile+".tmp")
	if err := os.WriteFile(tmp, append(js, '\n'), 0o644); err != nil {
		return fmt.Errorf("fixture: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, fixtureFile)); err != nil {
		return fmt.Errorf("fixture: %w", err)
	}
	b.log.Info("fixture kept", "dir", dir)
	return nil
}
