package engine_test

import (
	"context"
	"sync"
	"testing"

	"taskcenter/internal/engine"
	"taskcenter/internal/store"
)

// TestSubmitWithMoreCallersThanConnections: jobs submitted with a facade's write by more callers at
// once than the PostgreSQL pool has connections all land. A submit that woke other replicas from
// inside its transaction took a second connection while holding the first, and once every
// connection was held so, every caller waited for ever.
func TestSubmitWithMoreCallersThanConnections(t *testing.T) {
	forEachClocked(t, engine.Config{}, func(t *testing.T, c clocked) {
		ctx := context.Background()
		const callers = 64 // four times the pool
		done := make(chan error, callers)
		for range callers {
			go func() {
				_, err := c.e.SubmitWith(ctx, engine.JobSpec{AccountID: 1, Kind: "k", Units: []engine.UnitSpec{{Capability: "c"}}},
					func(tx engine.Tx, j store.Job) error { return nil })
				done <- err
			}()
		}
		for range callers {
			must(t, await(t, done, "a submit"))
		}
	})
}

// TestWaiterCreatedAsItsJobFinishes: a job created to wait for another while that one finishes is
// released, whichever commits first; it never waits for a job that has ended.
func TestWaiterCreatedAsItsJobFinishes(t *testing.T) {
	forEachClocked(t, engine.Config{}, func(t *testing.T, c clocked) {
		ctx := context.Background()
		w, err := c.e.RegisterWorker(ctx, store.Worker{Name: "w", Kind: "render", Capabilities: []string{"c"}})
		must(t, err)
		for range 40 {
			first, err := c.e.Submit(ctx, engine.JobSpec{AccountID: 1, Kind: "k", Units: []engine.UnitSpec{{Capability: "c"}}})
			must(t, err)
			us, err := c.e.Lease(ctx, w, 1, 0)
			if err != nil || len(us) != 1 {
				t.Fatalf("lease: %v, %d units", err, len(us))
			}
			var wg sync.WaitGroup
			var waiter store.Job
			var completeErr, submitErr error
			wg.Add(2)
			go func() {
				defer wg.Done()
				_, completeErr = c.e.Complete(ctx, []engine.Completion{{UnitID: us[0].ID, Epoch: us[0].Epoch, WorkerID: w.ID}})
			}()
			go func() {
				defer wg.Done()
				waiter, submitErr = c.e.Submit(ctx, engine.JobSpec{AccountID: 1, Kind: "k", WaitFor: first.ID,
					Units: []engine.UnitSpec{{Capability: "other"}}})
			}()
			wg.Wait()
			must(t, completeErr)
			must(t, submitErr)
			if j, err := c.st.GetJob(ctx, first.ID); err != nil || j.Status != store.JobSucceeded {
				t.Fatalf("awaited job: %v, status %s", err, j.Status)
			}
			j, err := c.st.GetJob(ctx, waiter.ID)
			must(t, err)
			if j.Status == store.JobWaiting {
				t.Fatalf("job %d waits for job %d, which has finished", j.ID, first.ID)
			}
		}
	})
}
