package materialize

import (
	"context"
	"sync"

	"github.com/pagemill/pagemill/schema"
)

// watermark is a monotonically advancing LSN that wakes waiters by
// closing a channel and replacing it.
type watermark struct {
	mu      sync.Mutex
	lsn     schema.LSN
	changed chan struct{}
	waiters int
}

func newWatermark(lsn schema.LSN) *watermark {
	return &watermark{lsn: lsn, changed: make(chan struct{})}
}

func (w *watermark) get() schema.LSN {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.lsn
}

func (w *watermark) advance(lsn schema.LSN) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if lsn > w.lsn {
		w.lsn = lsn
		close(w.changed)
		w.changed = make(chan struct{})
	}
}

// wait returns when the watermark reaches lsn or ctx ends. gauge (if not
// nil) is told +1/-1 around an actual wait.
func (w *watermark) wait(ctx context.Context, lsn schema.LSN, gauge func(int)) error {
	w.mu.Lock()
	if w.lsn >= lsn {
		w.mu.Unlock()
		return nil
	}
	w.waiters++
	w.mu.Unlock()
	if gauge != nil {
		gauge(+1)
		defer gauge(-1)
	}
	defer func() {
		w.mu.Lock()
		w.waiters--
		w.mu.Unlock()
	}()
	for {
		w.mu.Lock()
		reached, ch := w.lsn >= lsn, w.changed
		w.mu.Unlock()
		if reached {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// lower moves the watermark down to lsn if it is above (the records
// above lsn were an abandoned branch's): readers of LSNs above wait again.
func (w *watermark) lower(lsn schema.LSN) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.lsn = min(w.lsn, lsn)
}
