package engine

import (
	"context"
	"sync"
	"time"
)

// Topic is the notification topic that wakes waiting leases on every replica.
const Topic = "taskcenter_units"

// notify wakes this process's waiting leases and, through the store, every other replica's.
func (e *Engine) notify(ctx context.Context) {
	e.wake.wake()
	if err := e.store.Notify(ctx, Topic, ""); err != nil {
		e.log.Warn("notify replicas", "err", err)
	}
}

// idle waits for a wake-up, the next idle re-check or the deadline; it reports false when the lease
// should give up (deadline passed or ctx done).
func (e *Engine) idle(ctx context.Context, woken <-chan struct{}, deadline time.Time) bool {
	left := time.Until(deadline)
	if left <= 0 {
		return false
	}
	t := time.NewTimer(min(left, e.cfg.IdleRecheck))
	defer t.Stop()
	select {
	case <-woken:
	case <-t.C:
	case <-ctx.Done():
		return false
	}
	return true
}

// waker broadcasts "work may be ready" to every waiting lease in this process.
type waker struct {
	mu sync.Mutex
	ch chan struct{}
}

func newWaker() *waker { return &waker{ch: make(chan struct{})} }

func (w *waker) wait() <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.ch
}

func (w *waker) wake() {
	w.mu.Lock()
	defer w.mu.Unlock()
	close(w.ch)
	w.ch = make(chan struct{})
}
