package engine_test

import (
	"context"
	"testing"
	"time"

	"taskcenter/internal/engine"
	"taskcenter/internal/store"
)

// TestTimeLimits: a unit past its job's unit_timeout ends timed_out, and a job past its job_timeout is
// paused with reason "timeout"; neither happens before the limit.
func TestTimeLimits(t *testing.T) {
	tests := []struct {
		name       string
		spec       engine.JobSpec
		wantUnit   store.UnitStatus
		wantJob    store.JobStatus
		wantReason string
	}{
		{name: "unit timeout", spec: engine.JobSpec{UnitTimeout: engine.Duration(time.Minute), MaxAttempts: 1},
			wantUnit: store.UnitTimedOut, wantJob: store.JobFailed},
		{name: "job timeout", spec: engine.JobSpec{JobTimeout: engine.Duration(time.Minute)},
			wantUnit: store.UnitPaused, wantJob: store.JobPaused, wantReason: "timeout"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			forEachClocked(t, engine.Config{LeaseFor: time.Hour}, func(t *testing.T, c clocked) {
				ctx := context.Background()
				spec := tc.spec
				spec.AccountID, spec.Kind, spec.Units = 1, "k", []engine.UnitSpec{{Capability: "c"}}
				job, err := c.e.Submit(ctx, spec)
				must(t, err)
				w, err := c.e.RegisterWorker(ctx, store.Worker{Name: "w", Kind: "render", Capabilities: []string{"c"}})
				must(t, err)
				if us, err := c.e.Lease(ctx, w, 1, 0); err != nil || len(us) != 1 {
					t.Fatalf("lease: %v, %d units", err, len(us))
				}

				c.clk.Advance(59 * time.Second)
				must(t, c.e.RunService(ctx, "time-limits"))
				if u := onlyUnit(t, c.st, job.ID); u.Status != store.UnitRunning {
					t.Fatalf("stopped before its limit: unit %s", u.Status)
				}

				c.clk.Advance(2 * time.Second)
				must(t, c.e.RunService(ctx, "time-limits"))
				if u := onlyUnit(t, c.st, job.ID); u.Status != tc.wantUnit {
					t.Fatalf("unit %s past the limit, want %s", u.Status, tc.wantUnit)
				}
				j, err := c.st.GetJob(ctx, job.ID)
				must(t, err)
				if j.Status != tc.wantJob || j.PauseReason != tc.wantReason {
					t.Fatalf("job %s (reason %q), want %s (%q)", j.Status, j.PauseReason, tc.wantJob, tc.wantReason)
				}
			})
		})
	}
}
