package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"taskcenter/internal/store"
)

// fireSchedules is the "schedules" service: it creates the jobs of due schedules. Advancing the
// schedule and creating the job happen in one transaction guarded on the expected next run, so a
// schedule fires once per time even if two leaders overlap for a moment.
func (e *Engine) fireSchedules(ctx context.Context, now time.Time) error {
	due, err := e.store.DueSchedules(ctx, now, 100)
	if err != nil {
		return fmt.Errorf("list due schedules: %w", err)
	}
	var errs []error
	for _, s := range due {
		next, err := NextRun(s.Cron, s.Timezone, s.StartAt, s.EndAt, now)
		if err != nil {
			next = nil // a schedule that no longer parses stops rather than firing every sweep
			errs = append(errs, fmt.Errorf("schedule %d: %w", s.ID, err))
		}
		var spec JobSpec
		var job store.Job
		err = e.store.InTx(ctx, func(tx store.Store) error {
			ok, err := tx.AdvanceSchedule(ctx, s.ID, *s.NextRun, now, next)
			if err != nil || !ok {
				return err
			}
			if err := json.Unmarshal(s.Template, &spec); err != nil {
				return fmt.Errorf("%w: decode template: %v", ErrInvalid, err)
			}
			job, err = e.submit(ctx, tx, spec)
			return err
		})
		if errors.Is(err, ErrInvalid) {
			// A template that no longer makes a valid job skips this run rather than failing every sweep.
			errs = append(errs, fmt.Errorf("schedule %d skipped a run: %w", s.ID, err))
			if _, err := e.store.AdvanceSchedule(ctx, s.ID, *s.NextRun, now, next); err != nil {
				errs = append(errs, fmt.Errorf("advance schedule %d: %w", s.ID, err))
			}
			continue
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("fire schedule %d: %w", s.ID, err))
			continue
		}
		if job.ID != 0 {
			e.notify(ctx)
			e.log.Info("schedule fired", "schedule", s.ID, "job", job.ID)
		}
	}
	return errors.Join(errs...)
}
