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
	// Its leases find nothing from now on: the lease's own query reads the drain, on every replica.
	e.record(ctx, store.Event{At: now, WorkerID: workerID, Type: "worker.drained"})
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
