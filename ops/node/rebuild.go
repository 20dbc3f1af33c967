package node

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/pagemill/pagemill/redo/pagestore"
	"github.com/pagemill/pagemill/redo/rebuild"
)

// runRebuild rebuilds the page store from the streams (see
// rebuild.Run), with the HTTP server beside it, and returns when it is
// done.
func (n *Node) runRebuild(ctx context.Context) error {
	if n.cfg.NATS.External.URL == "" {
		if err := n.checkEmbeddedStore(); err != nil {
			return err
		}
	}
	nc, closeNATS, err := n.connectNATS(ctx, "pagemill-rebuild")
	if err != nil {
		return err
	}
	defer closeNATS()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	httpSrv, _, err := n.servers(nil)
	if err != nil {
		return err
	}
	g := newGroup(ctx)
	if httpSrv != nil {
		g.Go(httpSrv.Run)
	}
	g.Go(func(ctx context.Context) error {
		src, err := rebuild.OpenSource(ctx, js, n.cfg.Rebuild.Layout)
		if err != nil {
			return err
		}
		mcfg, sopts := n.cfg.Materialize, pagestore.Options{}
		SizeFromBudget(n.cfg.Memory, &mcfg, &sopts)
		p, err := rebuild.Run(ctx, js, src, rebuild.Config{Dir: n.cfg.StoreDir, Force: n.cfg.Rebuild.Force, Shards: n.cfg.RedoShards,
			Materialize: mcfg, Store: sopts, Registry: n.reg, Log: n.log, Progress: n.cfg.Rebuild.Progress})
		n.mu.Lock()
		n.rebuilt = p
		n.mu.Unlock()
		if err == nil {
			n.setReady()
		}
		return err
	})
	return g.Wait()
}

// checkEmbeddedStore makes sure the embedded NATS store to read exists
// and that no process runs on the data directory: a second NATS server
// must not open the store of a running one.
func (n *Node) checkEmbeddedStore() error {
	if _, err := os.Stat(n.cfg.StoreDir); err == nil {
		if err := rebuild.CheckUnlocked(n.cfg.StoreDir); err != nil {
			return err
		}
	}
	natsDir := filepath.Join(n.cfg.DataDir, "nats")
	if ents, err := os.ReadDir(natsDir); err != nil || len(ents) == 0 {
		return fmt.Errorf("no embedded NATS store in %s: give --nats-url, or the --data-dir of a stopped `pagemill run`", natsDir)
	}
	return nil
}
