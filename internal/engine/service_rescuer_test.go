package engine_test

import (
	"context"
	"testing"
	"time"

	"taskcenter/internal/engine"
	"taskcenter/internal/store"
)

// TestRescuer: a unit whose lease ran out is requeued with the failure counted against its worker and
// a lease_expired event; one out of attempts fails its job. A live lease is left alone.
func TestRescuer(t *testing.T) {
	tests := []struct {
		name        string
		maxAttempts int
		wantUnit    store.UnitStatus
		wantJob     store.JobStatus
	}{
		{name: "attempts left", maxAttempts: 3, wantUnit: store.UnitQueued, wantJob: store.JobRunning},
		{name: "last attempt", maxAttempts: 1, wantUnit: store.UnitFailed, wantJob: store.JobFailed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			forEachClocked(t, engine.Config{LeaseFor: 30 * time.Second}, func(t *testing.T, c clocked) {
				ctx := context.Background()
				job, err := c.e.Submit(ctx, engine.JobSpec{AccountID: 1, Kind: "k", MaxAttempts: tc.maxAttempts,
					Units: []engine.UnitSpec{{Capability: "c"}}})
				must(t, err)
				w, err := c.e.RegisterWorker(ctx, store.Worker{Name: "w", Kind: "render", Capabilities: []string{"c"}})
				must(t, err)
				if us, err := c.e.Lease(ctx, w, 1, 0); err != nil || len(us) != 1 {
					t.Fatalf("lease: %v, %d units", err, len(us))
				}

				c.clk.Advance(29 * time.Second)
				must(t, c.e.RunService(ctx, "rescuer"))
				if u := onlyUnit(t, c.st, job.ID); u.Status != store.UnitRunning {
					t.Fatalf("a live lease was taken back: %s", u.Status)
				}

				c.clk.Advance(2 * time.Second)
				must(t, c.e.RunService(ctx, "rescuer"))
				u := onlyUnit(t, c.st, job.ID)
				if u.Status != tc.wantUnit {
					t.Fatalf("unit %s after its lease ran out, want %s", u.Status, tc.wantUnit)
				}
				j, err := c.st.GetJob(ctx, job.ID)
				must(t, err)
				if j.Status != tc.wantJob {
					t.Fatalf("job %s, want %s", j.Status, tc.wantJob)
				}
				bl, err := c.st.Blocklist(ctx, job.ID)
				must(t, err)
				if len(bl) != 1 || bl[0].WorkerID != w.ID || bl[0].Failures != 1 {
					t.Fatalf("worker failures %+v, want one against worker %d", bl, w.ID)
				}
				evs, err := c.st.ListEvents(ctx, store.EventFilter{JobID: job.ID})
				must(t, err)
				if !hasEvent(evs, "unit.lease_expired") {
					t.Fatalf("no lease_expired event in %+v", evs)
				}
			})
		})
	}
}

func onlyUnit(t *testing.T, st store.Store, jobID int64) store.Unit {
	t.Helper()
	us, _, err := st.ListUnits(context.Background(), store.UnitFilter{JobID: jobID})
	must(t, err)
	if len(us) != 1 {
		t.Fatalf("job %d has %d units, want 1", jobID, len(us))
	}
	return us[0]
}

func hasEvent(evs []store.Event, typ string) bool {
	for _, e := range evs {
		if e.Type == typ {
			return true
		}
	}
	return false
}
