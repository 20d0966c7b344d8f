// Package batch owns group commit: concurrent calls that each write one item become one write of
// many items. The first caller to find no write running writes everything queued so far; callers
// arriving meanwhile queue up, and when the write ends the oldest of them writes the next batch.
// Nobody waits on a timer, so a lone call costs what it did before and a busy path writes less often.
package batch

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Group batches calls of Do. The zero value is not usable; make one with New.
type Group[T, R any] struct {
	run func(ctx context.Context, items []T) ([]R, error)
	max int

	mu      sync.Mutex
	queue   []*call[T, R]
	running bool
}

type call[T, R any] struct {
	item T
	res  R
	err  error
	lead bool          // woken to write the next batch rather than with its result
	done chan struct{} // closed once, when answered or made the leader
}

// writeTimeout bounds one batch's write: it runs on behalf of every caller in it, so no single
// caller's cancellation ends it, and a stuck database must not hold them all for ever.
const writeTimeout = 30 * time.Second

// New makes a group whose batches of at most size items (1 when size < 1) are written by run. run
// answers one result per item, in order, or an error that fails the whole batch. It gets the
// leading caller's context without its cancellation, bounded by writeTimeout: the batch belongs to
// every caller in it.
func New[T, R any](size int, run func(ctx context.Context, items []T) ([]R, error)) *Group[T, R] {
	return &Group[T, R]{run: run, max: max(size, 1)}
}

// Do queues item, waits for the batch that writes it and returns its result.
func (g *Group[T, R]) Do(ctx context.Context, item T) (R, error) {
	c := &call[T, R]{item: item, done: make(chan struct{})}
	g.mu.Lock()
	g.queue = append(g.queue, c)
	if g.running {
		g.mu.Unlock()
		// No select on ctx: a queued call may be made the leader, and a leader that left would
		// strand the calls behind it. writeTimeout bounds the wait instead.
		<-c.done
		if !c.lead {
			return c.res, c.err
		}
		g.mu.Lock()
	}
	g.running = true
	// c is the queue's first call: either the queue was empty, or c was made the leader from its head.
	n := min(len(g.queue), g.max)
	batch := g.queue[:n:n]
	g.queue = g.queue[n:]
	g.mu.Unlock()

	items := make([]T, n)
	for i, bc := range batch {
		items[i] = bc.item
	}
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), writeTimeout)
	res, panicked, err := g.write(wctx, items)
	cancel()
	for i, bc := range batch {
		switch {
		case err != nil:
			bc.err = err
		case i < len(res):
			bc.res = res[i]
		}
		if bc != c {
			close(bc.done)
		}
	}

	g.mu.Lock()
	if len(g.queue) > 0 {
		next := g.queue[0]
		next.lead = true
		close(next.done)
	} else {
		g.running = false
	}
	g.mu.Unlock()
	if panicked != nil {
		panic(panicked) // after the group is handed on: the other callers got an error, not a hang
	}
	return c.res, c.err
}

// write runs one batch, turning a panic of run into an error for the batch's callers.
func (g *Group[T, R]) write(ctx context.Context, items []T) (res []R, panicked any, err error) {
	defer func() {
		if p := recover(); p != nil {
			res, panicked, err = nil, p, fmt.Errorf("batch write panicked: %v", p)
		}
	}()
	res, err = g.run(ctx, items)
	return res, nil, err
}
