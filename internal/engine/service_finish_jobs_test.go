package engine_test

import (
	"context"
	"testing"

	"taskcenter/internal/engine"
	"taskcenter/internal/store"
)

// TestFinishJobs: a job whose units all ended without the completion's own check finishing it (the
// reporter stopped in between) is finished by the service.
func TestFinishJobs(t *testing.T) {
	forEachClocked(t, engine.Config{}, func(t *testing.T, c clocked) {
		ctx := context.Background()
		job, err := c.e.Submit(ctx, engine.JobSpec{AccountID: 1, Kind: "k", Units: []engine.UnitSpec{{Capability: "c"}}})
		must(t, err)
		w, err := c.e.RegisterWorker(ctx, store.Worker{Name: "w", Kind: "render", Capabilities: []string{"c"}})
		must(t, err)
		us, err := c.e.Lease(ctx, w, 1, 0)
		must(t, err)
		if len(us) != 1 {
			t.Fatalf("leased %d units", len(us))
		}
		// Straight to the store: the engine's check after the commit never runs.
		errs, _, err := c.st.CompleteUnits(ctx, []store.Completion{{UnitID: us[0].ID, Epoch: us[0].Epoch, WorkerID: w.ID}}, c.clk.Now())
		must(t, err)
		must(t, errs[0])
		j, err := c.st.GetJob(ctx, job.ID)
		must(t, err)
		if j.Status.Terminal() {
			t.Fatalf("the store finished the job itself (%s): nothing left to test", j.Status)
		}
		must(t, c.e.RunService(ctx, "finish-jobs"))
		j, err = c.st.GetJob(ctx, job.ID)
		must(t, err)
		if j.Status != store.JobSucceeded || j.FinishedAt == nil {
			t.Fatalf("job %s (finished %v), want succeeded", j.Status, j.FinishedAt)
		}
	})
}
