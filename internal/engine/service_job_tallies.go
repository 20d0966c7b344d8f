package engine

import (
	"context"
	"time"
)

// foldJobTallies is the "job-tallies" service: it folds the journal of list totals into the totals
// (PostgreSQL; SQLite keeps them in place), so that the journal a total adds up stays short.
func (e *Engine) foldJobTallies(ctx context.Context, _ time.Time) error {
	return e.store.FoldJobTallies(ctx)
}
