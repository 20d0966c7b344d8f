package engine

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// finishDoneJobs is the "finish-jobs" service, the backstop of the check a completion makes: it
// finishes jobs whose units have all ended but that are not finished yet (the reporter's check failed,
// or its process stopped in between).
func (e *Engine) finishDoneJobs(ctx context.Context, _ time.Time) error {
	ids, err := e.store.JobsToFinalize(ctx, 500)
	if err != nil {
		return fmt.Errorf("list jobs to finish: %w", err)
	}
	var errs []error
	for _, id := range ids {
		if err := e.finish(ctx, id); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
