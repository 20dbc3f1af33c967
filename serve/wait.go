package serve

import (
	"context"
	"sync"
	"time"

	"github.com/pagemill/pagemill/schema"
)

// Waits are coalesced. A compute sends its requests at (nearly) the same
// LSN, so thousands of requests can wait for one shard at once; if each
// waited in the page source on its own, every advance of the shard's
// applied LSN would wake all of them to find most still short, a
// thundering herd that takes the CPU redo and other clients need. Instead
// one goroutine per shard (and one for "all shards") waits in the page
// source for the smallest LSN any request needs, and wakes exactly the
// requests the new applied LSN satisfies. It exists only while someone
// waits, holds no lock while it waits, and belongs to the server's
// context.

// waitKey names one waiting line: a page source and a shard (allShards:
// every shard).
type waitKey struct {
	p     Pages
	shard int
}

const allShards = -1

// waiter is one request waiting for lsn.
type waiter struct {
	lsn  schema.LSN
	done chan struct{} // closed once applied ≥ lsn
}

// waitLine is the waiters of one waitKey.
type waitLine struct {
	s       *Server
	wait    func(ctx context.Context, lsn schema.LSN) error
	applied func() schema.LSN

	mu       sync.Mutex
	waiters  map[*waiter]struct{}
	running  bool
	target   schema.LSN         // what the running goroutine waits for
	retarget context.CancelFunc // interrupts that wait
}

// line returns the waiting line of shard in p.
func (s *Server) line(p Pages, shard int) *waitLine {
	s.waitMu.Lock()
	defer s.waitMu.Unlock()
	k := waitKey{p, shard}
	if l := s.lines[k]; l != nil {
		return l
	}
	l := &waitLine{s: s, waiters: map[*waiter]struct{}{}}
	if shard == allShards {
		l.wait, l.applied = p.WaitAll, p.Applied
	} else {
		l.wait = func(ctx context.Context, lsn schema.LSN) error { return p.WaitShard(ctx, shard, lsn) }
		l.applied = func() schema.LSN { return p.AppliedShard(shard) }
	}
	s.lines[k] = l
	return l
}

// add queues w, starting the line's goroutine or redirecting it to a
// smaller LSN.
func (l *waitLine) add(w *waiter) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.waiters[w] = struct{}{}
	switch {
	case !l.running:
		if l.s.runCtx.Err() != nil {
			return // stopping: the request's own context ends its wait
		}
		// The new goroutine looks at every waiter before it waits.
		l.running, l.target, l.retarget = true, 0, nil
		l.s.bg.Add(1)
		go l.run()
	case w.lsn < l.target && l.retarget != nil:
		l.retarget()
	}
}

// remove takes w out of the line (its wait ended) and reports whether it
// was satisfied meanwhile.
func (l *waitLine) remove(w *waiter) (satisfied bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.waiters[w]; ok {
		delete(l.waiters, w)
		if len(l.waiters) == 0 && l.retarget != nil {
			// Nobody left to wait for: the goroutine ends now rather
			// than when redo gets there.
			l.retarget()
		}
		return false
	}
	return true
}

func (l *waitLine) run() {
	defer l.s.bg.Done()
	for {
		applied := l.applied()
		l.mu.Lock()
		next := schema.LSN(^uint64(0))
		for w := range l.waiters {
			if w.lsn <= applied {
				close(w.done)
				delete(l.waiters, w)
			} else {
				next = min(next, w.lsn)
			}
		}
		if len(l.waiters) == 0 || l.s.runCtx.Err() != nil {
			l.running, l.target, l.retarget = false, 0, nil
			l.mu.Unlock()
			return
		}
		ctx, cancel := context.WithCancel(l.s.runCtx)
		l.target, l.retarget = next, cancel
		l.mu.Unlock()
		err := l.wait(ctx, next)
		cancel()
		if err != nil && ctx.Err() == nil {
			// Not a cancellation: the source failed; do not spin on it.
			// The waiters' own timeouts end their waits.
			select {
			case <-time.After(10 * time.Millisecond):
			case <-l.s.runCtx.Done():
			}
		}
	}
}

// waitApplied waits until shard (or allShards) of p has applied lsn, or
// ctx ends (then it returns ctx's error).
func (s *Server) waitApplied(ctx context.Context, p Pages, shard int, lsn schema.LSN) error {
	l := s.line(p, shard)
	w := &waiter{lsn: lsn, done: make(chan struct{})}
	l.add(w)
	select {
	case <-w.done:
		return nil
	case <-ctx.Done():
		if l.remove(w) {
			return nil
		}
		return ctx.Err()
	}
}
