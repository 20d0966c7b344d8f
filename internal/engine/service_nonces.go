package engine

import (
	"context"
	"fmt"
	"time"
)

// nonceSweepEvery is the least period of the "nonces" service: an expired nonce left in place is
// harmless (using it again overwrites it), so purging is housekeeping, not a deadline.
const nonceSweepEvery = time.Minute

// purgeNonces is the "nonces" service: it deletes the nonces whose replay window has passed.
func (e *Engine) purgeNonces(ctx context.Context, now time.Time) error {
	if _, err := e.store.PurgeNonces(ctx, now); err != nil {
		return fmt.Errorf("purge nonces: %w", err)
	}
	return nil
}
