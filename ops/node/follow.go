package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/pagemill/pagemill/ingest"
	"github.com/pagemill/pagemill/redo/materialize"
	"github.com/pagemill/pagemill/redo/pagestore"
	"github.com/pagemill/pagemill/redo/rebuild"
	"github.com/pagemill/pagemill/restore"
	"github.com/pagemill/pagemill/streams"
)

// runFollow follows the source: NATS, ingest, the servers and the
// materializer, until ctx ends or one of them fails.
func (n *Node) runFollow(ctx context.Context) error {
	if err := os.MkdirAll(n.cfg.DataDir, 0o750); err != nil {
		return err
	}
	nc, closeNATS, err := n.connectNATS(ctx, "pagemill")
	if err != nil {
		return err
	}
	defer closeNATS()
	ing, err := ingest.New(ingest.Config{Source: n.cfg.Source, Slot: n.cfg.Slot, Streams: n.scfg, WholeBytes: n.cfg.WholeRoundBytes}, nc, n.reg, n.log)
	if err != nil {
		return err
	}
	n.mu.Lock()
	n.ing = ing
	n.mu.Unlock()
	httpSrv, pgSrv, err := n.servers(ing)
	if err != nil {
		return err
	}
	g := newGroup(ctx)
	if httpSrv != nil {
		g.Go(httpSrv.Run)
	}
	if pgSrv != nil {
		g.Go(pgSrv.Run)
	}
	g.Go(ing.Run)
	g.Go(func(ctx context.Context) error { return n.runMaterializer(ctx, ing, nc) })
	return g.Wait()
}

// runMaterializer starts the materializer once ingest knows the source's
// layout, and runs it until ctx ends or StopMaterializer. A page store
// that is damaged is moved aside and rebuilt from the streams.
func (n *Node) runMaterializer(ctx context.Context, ing *ingest.Ingester, nc *nats.Conn) error {
	select {
	case <-ing.Identified():
	case <-ctx.Done():
		return nil
	}
	layout := ing.Layout()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	h, err := streams.Ensure(ctx, js, layout, n.scfg)
	if err != nil {
		if ctx.Err() != nil {
			return nil // stopped while starting
		}
		return fmt.Errorf("materializer: %w", err)
	}
	// A damaged store is moved aside and rebuilt from the streams; a
	// missing or empty one (first start, or lost) is filled from them.
	met := rebuild.NewMetrics(n.reg)
	sopts := pagestore.Options{Dir: n.cfg.StoreDir, Shards: n.cfg.RedoShards, AdoptShards: n.cfg.RedoShards == 0}
	if sopts.AdoptShards {
		sopts.Shards = materialize.DefaultShards(layout.Shards)
	}
	mcfg := n.cfg.Materialize
	mcfg.Layout = layout
	SizeFromBudget(n.cfg.Memory, &mcfg, &sopts)
	store, fresh, err := rebuild.OpenStore(sopts, n.log, met)
	if err != nil {
		return err
	}
	m, err := materialize.New(mcfg, js, h, store, n.reg, n.log)
	if err != nil {
		store.Close()
		return err
	}
	p := &parts{js: js, handles: h, store: store, mat: m, backup: restore.New(m, h, n.reg, n.log.With("component", "restore"))}
	err = n.materialize(ctx, p, func(ctx context.Context) {
		if fresh {
			rebuild.Follow(ctx, m, h, n.reg, met, n.log)
		}
	})
	if n.mat.stopped() && ctx.Err() == nil {
		<-ctx.Done() // stopped on purpose: the rest goes on
		return nil
	}
	return markIfDamaged(sopts.Dir, err, n.log)
}

// markIfDamaged marks the (closed) page store in dir damaged when the
// materializer stopped on pagestore.ErrDamaged, so that the next start
// moves it aside and rebuilds it from the streams. It returns err, with
// a failure to mark added.
func markIfDamaged(dir string, err error, log *slog.Logger) error {
	if !errors.Is(err, pagestore.ErrDamaged) {
		return err
	}
	if merr := rebuild.MarkDamaged(dir, err); merr != nil {
		return fmt.Errorf("%w (and %w)", err, merr)
	}
	log.Error("the page store is damaged: it is moved aside and rebuilt from the streams when pagemill starts again", "dir", dir, "err", err)
	return err
}

// materialize runs p's materializer with watch beside it, closes Ready
// when it is ready, and closes the store when it stopped.
func (n *Node) materialize(ctx context.Context, p *parts, watch func(context.Context)) (err error) {
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	defer func() { n.mat.exit(err) }()
	n.mu.Lock()
	n.last = p
	n.mu.Unlock()
	if !n.mat.start(stop) {
		p.store.Close()
		return nil
	}
	n.parts.Store(p)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		select {
		case <-p.mat.Ready():
			n.setReady()
		case <-ctx.Done():
		}
	}()
	go func() {
		defer wg.Done()
		watch(ctx)
	}()
	err = p.mat.Run(ctx)
	stop()
	wg.Wait()
	n.parts.Store(nil)
	if cerr := p.store.Close(); cerr != nil {
		n.log.Warn("closing the page store failed", "err", cerr)
	}
	return err
}

// StopMaterializer stops the materializer and closes the page store;
// ingest, NATS and the servers go on (pages read as not ready). It returns
// the materializer's error, and nil when it has not started (it then
// never does).
func (n *Node) StopMaterializer() error {
	stop, started := n.mat.requestStop()
	if !started {
		return nil
	}
	stop()
	<-n.mat.done
	return n.mat.result()
}

// matControl is the materializer's lifecycle, for StopMaterializer.
type matControl struct {
	mu       sync.Mutex
	stop     context.CancelFunc // set once it runs
	stopping bool
	done     chan struct{} // closed when it ended (after it ran)
	err      error
}

// start registers stop; false when a stop came first.
func (c *matControl) start(stop context.CancelFunc) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopping {
		return false
	}
	c.stop = stop
	return true
}

func (c *matControl) requestStop() (context.CancelFunc, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stopping = true
	return c.stop, c.stop != nil
}

func (c *matControl) stopped() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stopping
}

// exit records the end of a materializer that was started.
func (c *matControl) exit(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stop == nil {
		return
	}
	c.err = err
	close(c.done)
}

func (c *matControl) result() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}
