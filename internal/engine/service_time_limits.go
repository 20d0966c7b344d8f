package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"taskcenter/internal/store"
)

// stopPastTimeLimits is the "time-limits" service: it times out units past their job's unit_timeout
// and pauses jobs past their job_timeout (PauseTimeout).
func (e *Engine) stopPastTimeLimits(ctx context.Context, now time.Time) error {
	units, err := e.store.UnitsPastTimeout(ctx, now, 1000)
	if err != nil {
		return fmt.Errorf("list units past their time limit: %w", err)
	}
	for _, u := range units {
		err := e.Fail(ctx, Failure{UnitID: u.ID, Epoch: u.Epoch, WorkerID: u.WorkerID, Error: "ran past its time limit", TimedOut: true})
		if err != nil && !errors.Is(err, store.ErrStale) {
			e.log.Warn("time out unit", "unit", u.ID, "err", err)
		}
	}
	jobs, err := e.store.JobsPastTimeout(ctx, now, 100)
	if err != nil {
		return fmt.Errorf("list jobs past their time limit: %w", err)
	}
	for _, j := range jobs {
		if err := e.Pause(ctx, j.ID, PauseTimeout); err != nil && !errors.Is(err, ErrInvalid) {
			e.log.Warn("stop job past its time limit", "job", j.ID, "err", err)
		}
	}
	return nil
}
