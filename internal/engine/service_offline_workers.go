package engine

import (
	"context"
	"fmt"
	"time"
)

// inProcessRowsKept is how long the row of an in-process worker that stopped stays listed. Every
// server start registers new rows (one per worker started, see StartInProcess), so without this the
// rows of past starts would pile up offline.
const inProcessRowsKept = 24 * time.Hour

// markWorkersOffline is the "offline-workers" service: a worker with no heartbeat for OfflineAfter
// is shown offline, and the rows of in-process workers gone for inProcessRowsKept are deleted (agents'
// rows stay until an admin removes them: they carry names, licences and history people look for).
func (e *Engine) markWorkersOffline(ctx context.Context, now time.Time) error {
	if _, err := e.store.MarkOffline(ctx, now.Add(-e.cfg.OfflineAfter)); err != nil {
		return fmt.Errorf("mark workers offline: %w", err)
	}
	if _, err := e.store.DeleteGoneWorkers(ctx, WorkerKindInProcess, now.Add(-inProcessRowsKept)); err != nil {
		return fmt.Errorf("delete stopped in-process workers: %w", err)
	}
	return nil
}
