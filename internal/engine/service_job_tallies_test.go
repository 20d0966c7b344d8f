package engine_test

import (
	"context"
	"sync/atomic"
	"testing"

	"taskcenter/internal/engine"
	"taskcenter/internal/store"
)

// foldCount counts the folds of the job tallies' journal.
type foldCount struct {
	store.Store
	n *atomic.Int64
}

func (s foldCount) FoldJobTallies(ctx context.Context) error {
	s.n.Add(1)
	return s.Store.FoldJobTallies(ctx)
}

// TestJobTallies: the service folds the journal of list totals, and totals stay exact across a fold.
func TestJobTallies(t *testing.T) {
	forEachClocked(t, engine.Config{}, func(t *testing.T, c clocked) {
		ctx := context.Background()
		var folds atomic.Int64
		e := engine.New(foldCount{Store: c.st, n: &folds}, engine.Config{Now: c.clk.Now}, discard(), nil)
		for range 3 {
			_, err := e.Submit(ctx, engine.JobSpec{AccountID: 1, Kind: "k", Units: []engine.UnitSpec{{Capability: "c"}}})
			must(t, err)
		}
		must(t, e.RunService(ctx, "job-tallies"))
		if folds.Load() != 1 {
			t.Fatalf("%d folds, want 1", folds.Load())
		}
		_, total, err := c.st.ListJobs(ctx, store.JobFilter{AccountIDs: []int64{1}, Kind: "k", Limit: 1})
		must(t, err)
		if total != 3 {
			t.Fatalf("total %d after the fold, want 3", total)
		}
	})
}
