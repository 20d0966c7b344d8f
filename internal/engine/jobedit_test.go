package engine_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"testing"
	"time"

	"taskcenter/internal/engine"
	"taskcenter/internal/store"
	"taskcenter/internal/store/storetest/drivers"
)

// TestFacadeWritesRecordEvents checks that the writes facades make to jobs, units and schedules
// through the engine each leave their event, and that only scheduling settings (not a dialect's
// descriptive fields or documents) record one.
func TestFacadeWritesRecordEvents(t *testing.T) {
	name, level, limit := "renamed", 7, 90*time.Second
	tests := []struct {
		name      string
		do        func(ctx context.Context, e *engine.Engine, j store.Job, units []store.Unit, sched int64) error
		wantEvent string // "" when none is due
		check     func(t *testing.T, st store.Store, j store.Job)
	}{
		{"settings", func(ctx context.Context, e *engine.Engine, j store.Job, _ []store.Unit, _ int64) error {
			_, err := e.UpdateJob(ctx, j.ID, engine.JobChange{Name: &name, Priority: &level, UnitTimeout: &limit})
			return err
		}, "job.updated", func(t *testing.T, st store.Store, j store.Job) {
			got, err := st.GetJob(context.Background(), j.ID)
			must(t, err)
			if got.Name != name || got.Priority != level || got.UnitTimeout != limit {
				t.Fatalf("job after update: name %q priority %d unit timeout %v", got.Name, got.Priority, got.UnitTimeout)
			}
			us, _, err := st.ListUnits(context.Background(), store.UnitFilter{JobID: j.ID})
			must(t, err)
			for _, u := range us {
				if u.Priority != level {
					t.Fatalf("unit %d keeps priority %d, want %d", u.ID, u.Priority, level)
				}
			}
		}},
		{"documents and descriptions", func(ctx context.Context, e *engine.Engine, j store.Job, _ []store.Unit, _ int64) error {
			_, err := e.UpdateJob(ctx, j.ID, engine.JobChange{Project: &name, Spec: json.RawMessage(`{"state":1}`), Result: json.RawMessage(`{"end":"x"}`)})
			return err
		}, "", func(t *testing.T, st store.Store, j store.Job) {
			got, err := st.GetJob(context.Background(), j.ID)
			must(t, err)
			if string(got.Spec) != `{"state":1}` || string(got.Result) != `{"end":"x"}` || got.Project != name {
				t.Fatalf("job documents %s %s, project %q", got.Spec, got.Result, got.Project)
			}
		}},
		{"delete units", func(ctx context.Context, e *engine.Engine, j store.Job, units []store.Unit, _ int64) error {
			n, err := e.DeleteUnits(ctx, j.ID, []int64{units[0].ID})
			if err == nil && n != 1 {
				t.Fatalf("deleted %d units, want 1", n)
			}
			return err
		}, "units.deleted", func(t *testing.T, st store.Store, j store.Job) {
			_, total, err := st.ListUnits(context.Background(), store.UnitFilter{JobID: j.ID})
			must(t, err)
			if total != 1 {
				t.Fatalf("%d units left, want 1", total)
			}
		}},
		{"delete schedule", func(ctx context.Context, e *engine.Engine, _ store.Job, _ []store.Unit, sched int64) error {
			return e.DeleteSchedule(ctx, sched)
		}, "schedule.deleted", nil},
	}
	drivers.Each(t, func(t *testing.T, open func(testing.TB) store.Store) {
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				ctx := context.Background()
				st := open(t)
				e := engine.New(st, engine.Config{Holder: "t"}, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
				acct, err := st.CreateAccount(ctx, store.Account{Name: "a", Role: store.RoleUser})
				must(t, err)
				j, err := e.Submit(ctx, engine.JobSpec{AccountID: acct.ID, Kind: "k", Units: []engine.UnitSpec{{Capability: "c"}, {Capability: "c"}}})
				must(t, err)
				units, _, err := st.ListUnits(ctx, store.UnitFilter{JobID: j.ID})
				must(t, err)
				sc, err := e.CreateSchedule(ctx, engine.ScheduleSpec{AccountID: acct.ID, Name: "s", Cron: "0 0 * * * ?", Enabled: true,
					Template: engine.JobSpec{AccountID: acct.ID, Kind: "k", Units: []engine.UnitSpec{{Capability: "c"}}}})
				must(t, err)
				evs, err := st.ListEvents(ctx, store.EventFilter{AccountID: acct.ID})
				must(t, err)

				must(t, tc.do(ctx, e, j, units, sc.ID))

				evs, err = st.ListEvents(ctx, store.EventFilter{AccountID: acct.ID, AfterID: lastID(evs)})
				must(t, err)
				switch {
				case tc.wantEvent == "" && len(evs) > 0:
					t.Fatalf("events %+v, want none", evs)
				case tc.wantEvent != "" && (len(evs) != 1 || evs[0].Type != tc.wantEvent):
					t.Fatalf("events %+v, want one %s", evs, tc.wantEvent)
				}
				if tc.check != nil {
					tc.check(t, st, j)
				}
			})
		}
	})
}

func lastID(evs []store.Event) int64 {
	if len(evs) == 0 {
		return 0
	}
	return evs[len(evs)-1].ID
}

// TestDeleteUnitsWakesWorkers deletes the running unit of a job limited to one at a time: a worker
// waiting for work gets the job's next unit at once, not at its next idle re-check.
func TestDeleteUnitsWakesWorkers(t *testing.T) {
	drivers.Each(t, func(t *testing.T, open func(testing.TB) store.Store) {
		ctx := context.Background()
		st := open(t)
		e := engine.New(st, engine.Config{Holder: "t", IdleRecheck: time.Hour}, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
		j, err := e.Submit(ctx, engine.JobSpec{AccountID: 1, Kind: "k", MaxConcurrency: 1,
			Units: []engine.UnitSpec{{Capability: "c"}, {Capability: "c"}}})
		must(t, err)
		w, err := e.RegisterWorker(ctx, store.Worker{Name: "w", Kind: "test", Capabilities: []string{"c"}})
		must(t, err)
		first, err := e.Lease(ctx, w, 1, 0)
		must(t, err)
		if len(first) != 1 {
			t.Fatalf("leased %d units, want 1", len(first))
		}
		got := make(chan []store.Unit, 1)
		go func() {
			us, err := e.Lease(ctx, w, 1, time.Minute)
			if err != nil {
				t.Error(err)
			}
			got <- us
		}()
		// The waiting lease may look before or after the delete: either way it must come back with the
		// second unit well before its idle re-check (an hour) or its wait (a minute).
		_, err = e.DeleteUnits(ctx, j.ID, []int64{first[0].ID})
		must(t, err)
		select {
		case us := <-got:
			if len(us) != 1 || us[0].ID == first[0].ID {
				t.Fatalf("leased %+v after the delete, want the other unit", us)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("the waiting worker was not woken by the delete")
		}
	})
}
