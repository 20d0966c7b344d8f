package store

import (
	"context"
	"time"
)

// WorkerDrains keeps which workers are drained (Worker.DrainedAt).
type WorkerDrains interface {
	// SetWorkerDrained drains worker id since at, or undrains it (at nil); ErrNotFound when there is
	// no such worker.
	SetWorkerDrained(ctx context.Context, id int64, at *time.Time) error
}
