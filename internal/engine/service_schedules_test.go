package engine_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"taskcenter/internal/engine"
	"taskcenter/internal/store"
	"taskcenter/internal/store/storetest/drivers"
	"taskcenter/internal/testutil"
)

// advancePast moves the engines' clock just past at.
func advancePast(t *testing.T, clk *testutil.Clock, at *time.Time) {
	t.Helper()
	if at == nil {
		t.Fatal("schedule has no next run")
	}
	clk.Advance(max(at.Sub(clk.Now()), 0) + 20*time.Millisecond)
}

func scheduledJobs(t *testing.T, st store.Store, accountID int64) []store.Job {
	t.Helper()
	jobs, _, err := st.ListJobs(context.Background(), store.JobFilter{AccountIDs: []int64{accountID}})
	if err != nil {
		t.Fatal(err)
	}
	return jobs
}

// TestSchedulesFire drives the "schedules" service (through Sweep) on a real store: a due schedule makes exactly one job per fire
// time even when two leaders overlap and sweep at once; a disabled one and one past its end never
// fire; one whose template no longer makes a valid job skips the run and moves on.
func TestSchedulesFire(t *testing.T) {
	drivers.Each(t, func(t *testing.T, open func(testing.TB) store.Store) {
		ctx := context.Background()
		st := open(t)
		log := slog.New(slog.NewTextHandler(io.Discard, nil))
		clk := testutil.NewClock(t0)
		a := engine.New(st, engine.Config{Holder: "a", Now: clk.Now}, log, nil)
		b := engine.New(st, engine.Config{Holder: "b", Now: clk.Now}, log, nil)
		acct, err := st.CreateAccount(ctx, store.Account{Name: "ops", Role: store.RoleUser})
		if err != nil {
			t.Fatal(err)
		}
		tmpl := engine.JobSpec{AccountID: acct.ID, Kind: "shell", Name: "nightly",
			Units: []engine.UnitSpec{{Capability: "shell", Spec: json.RawMessage(`{"command":"true"}`)}}}
		every := func(name string, enabled bool, end *time.Time) store.Schedule {
			s, err := a.CreateSchedule(ctx, engine.ScheduleSpec{AccountID: acct.ID, Name: name, Cron: "* * * * * ?",
				Enabled: enabled, EndAt: end, Template: tmpl})
			if err != nil {
				t.Fatalf("create schedule %s: %v", name, err)
			}
			return s
		}
		on := every("on", true, nil)
		every("off", false, nil)
		past := clk.Now().Add(-time.Hour)
		if _, err := a.CreateSchedule(ctx, engine.ScheduleSpec{AccountID: acct.ID, Name: "ended", Cron: "* * * * * ?",
			Enabled: true, StartAt: &past, EndAt: &past, Template: tmpl}); err != nil {
			t.Fatal(err)
		}

		for round := 1; round <= 2; round++ {
			cur, err := st.GetSchedule(ctx, on.ID)
			if err != nil {
				t.Fatal(err)
			}
			advancePast(t, clk, cur.NextRun)
			var wg sync.WaitGroup
			for _, e := range []*engine.Engine{a, b} {
				wg.Go(func() {
					if err := e.Sweep(ctx); err != nil {
						t.Errorf("sweep: %v", err)
					}
				})
			}
			wg.Wait()
			jobs := scheduledJobs(t, st, acct.ID)
			if len(jobs) != round {
				t.Fatalf("round %d: %d jobs, want %d (one per fire time)", round, len(jobs), round)
			}
			if jobs[0].Name != "nightly" || jobs[0].Kind != "shell" {
				t.Fatalf("job from template: %+v", jobs[0])
			}
			after, err := st.GetSchedule(ctx, on.ID)
			if err != nil {
				t.Fatal(err)
			}
			if after.LastRun == nil || after.NextRun == nil || !after.NextRun.After(*cur.NextRun) {
				t.Fatalf("round %d: schedule not advanced: last %v next %v (was %v)", round, after.LastRun, after.NextRun, cur.NextRun)
			}
		}

		// A template that no longer validates: the run is skipped and the schedule advances.
		cur, err := st.GetSchedule(ctx, on.ID)
		if err != nil {
			t.Fatal(err)
		}
		cur.Template = json.RawMessage(`{"account_id":` + jsonInt(acct.ID) + `,"kind":"shell","units":[]}`)
		if err := st.UpdateSchedule(ctx, cur, clk.Now()); err != nil {
			t.Fatal(err)
		}
		advancePast(t, clk, cur.NextRun)
		if err := a.Sweep(ctx); err == nil {
			t.Fatal("a sweep over an invalid template reported nothing")
		}
		if n := len(scheduledJobs(t, st, acct.ID)); n != 2 {
			t.Fatalf("invalid template made a job: %d jobs", n)
		}
		after, err := st.GetSchedule(ctx, on.ID)
		if err != nil {
			t.Fatal(err)
		}
		if after.NextRun == nil || !after.NextRun.After(*cur.NextRun) {
			t.Fatalf("invalid template did not advance the schedule: next %v (was %v)", after.NextRun, cur.NextRun)
		}
	})
}

func jsonInt(v int64) string { b, _ := json.Marshal(v); return string(b) }
