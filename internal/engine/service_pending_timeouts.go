package engine

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ReasonPendingTimeout is the PauseReason of a job cancelled because no worker started it within its
// PendingTimeout.
const ReasonPendingTimeout = string(PausePendingTimeout)

// cancelPastPendingTimeout is the "pending-timeouts" service: it cancels queued jobs that no worker
// started within their PendingTimeout.
func (e *Engine) cancelPastPendingTimeout(ctx context.Context, now time.Time) error {
	jobs, err := e.store.JobsPastPendingTimeout(ctx, now, 500)
	if err != nil {
		return fmt.Errorf("list jobs past their pending timeout: %w", err)
	}
	for _, j := range jobs {
		// A job a worker took meanwhile is no longer queued: the state machine refuses, and that is fine.
		if _, err := e.controlIf(ctx, j.ID, JobAbort, ReasonPendingTimeout, true); err != nil && !errors.Is(err, ErrInvalid) {
			e.log.Warn("end job past its pending timeout", "job", j.ID, "err", err)
		}
	}
	return nil
}
