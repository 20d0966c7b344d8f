package engine

import (
	"context"
	"fmt"
	"time"
)

// markWorkersOffline is the "offline-workers" service: a worker with no heartbeat for OfflineAfter
// is shown offline.
func (e *Engine) markWorkersOffline(ctx context.Context, now time.Time) error {
	if _, err := e.store.MarkOffline(ctx, now.Add(-e.cfg.OfflineAfter)); err != nil {
		return fmt.Errorf("mark workers offline: %w", err)
	}
	return nil
}
