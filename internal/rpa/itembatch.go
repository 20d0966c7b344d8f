package rpa

import (
	"context"
	"sync"
	"time"

	"taskcenter/internal/batch"
	"taskcenter/internal/engine"
	"taskcenter/internal/store"
)

// itemBatchSize bounds how many concurrent pops share one lease, and updates one completion.
const itemBatchSize = 64

// popKey names the pops that may share a lease: same queue, same worker, same lease length.
type popKey struct {
	jobID, workerID int64
	hold            time.Duration
}

// itemBatches turns concurrent queue pops into one engine lease per queue and concurrent item
// completions into one engine completion: consumers working one queue otherwise queue up behind
// each other's transactions, one item at a time.
type itemBatches struct {
	eng      *engine.Engine
	mu       sync.Mutex
	pops     map[popKey]*batch.Group[struct{}, *store.Unit]
	complete *batch.Group[engine.Completion, error]
}

func newItemBatches(eng *engine.Engine) *itemBatches {
	b := &itemBatches{eng: eng, pops: map[popKey]*batch.Group[struct{}, *store.Unit]{}}
	b.complete = batch.New(itemBatchSize, func(ctx context.Context, cs []engine.Completion) ([]error, error) {
		return eng.Complete(ctx, cs)
	})
	return b
}

// pop leases one item of the queue job, or nil when none is ready.
func (b *itemBatches) pop(ctx context.Context, k popKey) (*store.Unit, error) {
	b.mu.Lock()
	g, ok := b.pops[k]
	if !ok {
		// One group per queue, worker and lease length ever popped in this process: few, and each
		// is a few words, so a deleted queue's group is simply left.
		g = batch.New(itemBatchSize, func(ctx context.Context, calls []struct{}) ([]*store.Unit, error) {
			units, err := b.eng.LeaseJob(ctx, k.workerID, k.jobID, []string{CapabilityQueue}, len(calls), k.hold)
			if err != nil {
				return nil, err
			}
			out := make([]*store.Unit, len(calls)) // callers past the units leased get nil: the queue ran dry
			for i := range min(len(units), len(out)) {
				out[i] = &units[i]
			}
			return out, nil
		})
		b.pops[k] = g
	}
	b.mu.Unlock()
	return g.Do(ctx, struct{}{})
}
