package engine

import (
	"context"
	"fmt"

	"taskcenter/internal/store"
)

// KindHooks let a dialect take part in the life of its kind of job without the engine knowing the
// dialect.
type KindHooks struct {
	// UnitCost prices a finished unit from its node time and names the account that pays. A cost of 0
	// charges nothing. How each charge was paid is on the job (store.Job.Paid) and in the ledger.
	UnitCost func(ctx context.Context, j store.Job, u store.Unit, seconds float64) (payer int64, costMilli int64)
	// JobFinished runs once, on the process that finished the job, after it reached a terminal status.
	JobFinished func(ctx context.Context, j store.Job)
	// Open jobs never finish on their own: a work queue takes new items at any time.
	Open bool
	// Internal jobs are work the server does for a job the account already holds (a scene analysis
	// run by an in-process worker): like open jobs, they count against no limit of jobs in flight.
	Internal bool
}

// jobKindCacheSize bounds jobKinds: the jobs being reported on at one time.
const jobKindCacheSize = 4096

// jobKind returns the kind of job id, from memory when it was seen lately.
func (e *Engine) jobKind(ctx context.Context, id int64) (string, error) {
	if k, ok := e.jobKinds.Get(id); ok {
		return k, nil
	}
	j, err := e.store.GetJob(ctx, id)
	if err != nil {
		return "", fmt.Errorf("load job %d: %w", id, err)
	}
	e.jobKinds.Add(id, j.Kind)
	return j.Kind, nil
}

// RegisterKind installs a dialect's hooks for jobs of kind.
func (e *Engine) RegisterKind(kind string, h KindHooks) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.kinds[kind] = h
}

func (e *Engine) hooks(kind string) KindHooks {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.kinds[kind]
}

func (e *Engine) hasCostHooks() bool {
	e.mu.RLock()
	defer e.mu.RUnlock()
	for _, h := range e.kinds {
		if h.UnitCost != nil {
			return true
		}
	}
	return false
}

// unpriced reports whether a completion is known to need no price: its job is named and its kind
// has no UnitCost hook.
func (e *Engine) unpriced(ctx context.Context, c Completion) bool {
	if c.JobID == 0 {
		return false
	}
	kind, err := e.jobKind(ctx, c.JobID)
	return err == nil && e.hooks(kind).UnitCost == nil
}
