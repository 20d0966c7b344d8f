package engine

import (
	"context"
	"fmt"

	"taskcenter/internal/store"
)

// DrainWorker drains a worker: from now on it leases no new units, and the units it runs finish
// (their reports are taken as ever). The drain is stored on the worker, so it holds on every replica
// and across the worker's registrations until UndrainWorker.
func (e *Engine) DrainWorker(ctx context.Context, workerID int64) error {
	now := e.now()
	if err := e.store.SetWorkerDrained(ctx, workerID, &now); err != nil {
		return fmt.Errorf("drain worker %d: %w", workerID, err)
	}
	e.record(ctx, store.Event{At: now, WorkerID: workerID, Type: "worker.drained"})
	// Leases waiting for the worker look again, and find it drained.
	e.wake.wake()
	return nil
}

// UndrainWorker lets a drained worker lease again, at once.
func (e *Engine) UndrainWorker(ctx context.Context, workerID int64) error {
	if err := e.store.SetWorkerDrained(ctx, workerID, nil); err != nil {
		return fmt.Errorf("undrain worker %d: %w", workerID, err)
	}
	e.record(ctx, store.Event{At: e.now(), WorkerID: workerID, Type: "worker.undrained"})
	e.wake.wake()
	return nil
}

// mayLease reads the worker afresh (callers of Lease may hold a cached copy from before a drain or
// a licence changed) and reports whether it may lease: not drained, and licensed if its kind needs
// a licence.
func (e *Engine) mayLease(ctx context.Context, workerID int64) (bool, error) {
	w, err := e.store.GetWorker(ctx, workerID)
	if err != nil {
		return false, fmt.Errorf("load worker %d before a lease: %w", workerID, err)
	}
	if w.DrainedAt != nil {
		return false, nil
	}
	e.mu.RLock()
	valid, needs := e.licenceKinds[w.Kind]
	e.mu.RUnlock()
	if !needs {
		return true, nil
	}
	return Licensed(w, e.now()) && (valid == nil || valid(w)), nil
}
