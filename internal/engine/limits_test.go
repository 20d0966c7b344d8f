package engine_test

import (
	"context"
	"errors"
	"testing"

	"taskcenter/internal/engine"
	"taskcenter/internal/store"
	"taskcenter/internal/store/storetest/drivers"
)

// TestAccountLimits: a job over its account's unit limit, or one past its jobs in flight, is refused
// with nothing written; an admin raises the limits and the same submits pass. A work queue (an open
// job) is not counted in flight, and its unfinished items are bounded by the unit limit.
func TestAccountLimits(t *testing.T) {
	drivers.Each(t, func(t *testing.T, open func(testing.TB) store.Store) {
		ctx := context.Background()
		st := open(t)
		eng := engine.New(st, engine.Config{UnitsPerJob: 3, JobsInFlight: 2}, nil, nil)
		eng.RegisterKind("queue", engine.KindHooks{Open: true})
		acct, err := st.CreateAccount(ctx, store.Account{Name: "t", Role: store.RoleUser})
		if err != nil {
			t.Fatal(err)
		}
		units := func(n int) []engine.UnitSpec {
			out := make([]engine.UnitSpec, n)
			for i := range out {
				out[i] = engine.UnitSpec{Capability: "c"}
			}
			return out
		}
		job := func(kind string, n int) engine.JobSpec {
			return engine.JobSpec{AccountID: acct.ID, Kind: kind, Units: units(n)}
		}
		jobs := func() int {
			t.Helper()
			_, total, err := st.ListJobs(ctx, store.JobFilter{AccountIDs: []int64{acct.ID}})
			if err != nil {
				t.Fatal(err)
			}
			return total
		}
		refused := func(what string, err error) {
			t.Helper()
			if !errors.Is(err, engine.ErrLimit) || !errors.Is(err, engine.ErrInvalid) {
				t.Fatalf("%s: %v, want a refusal for the account's limit", what, err)
			}
		}

		_, err = eng.Submit(ctx, job("k", 4))
		refused("4 units over a limit of 3", err)
		if n := jobs(); n != 0 {
			t.Fatalf("%d jobs written by a refused submit", n)
		}
		for i := range 2 {
			if _, err := eng.Submit(ctx, job("k", 3)); err != nil {
				t.Fatalf("job %d within the limits: %v", i, err)
			}
		}
		_, err = eng.Submit(ctx, job("k", 1))
		refused("a third job in flight over a limit of 2", err)
		q, err := eng.Submit(ctx, job("queue", 0))
		if err != nil {
			t.Fatalf("an open job is not in flight: %v", err)
		}
		if _, err := eng.AddUnits(ctx, q.ID, units(3)); err != nil {
			t.Fatalf("3 items within the limit: %v", err)
		}
		_, err = eng.AddUnits(ctx, q.ID, units(1))
		refused("a fourth unfinished item", err)
		if c, err := st.UnitCounts(ctx, []int64{q.ID}); err != nil || c[q.ID][store.UnitQueued] != 3 {
			t.Fatalf("queue holds %v (%v), want 3 queued", c[q.ID], err)
		}

		l, err := eng.SetAccountLimits(ctx, acct.ID, engine.Limits{UnitsPerJob: 10, JobsInFlight: 5})
		if err != nil || l.UnitsPerJob != 10 || l.JobsInFlight != 5 {
			t.Fatalf("raise limits: %+v %v", l, err)
		}
		if _, err := eng.Submit(ctx, job("k", 4)); err != nil {
			t.Fatalf("4 units after the limit was raised: %v", err)
		}
		if _, err := eng.AddUnits(ctx, q.ID, units(1)); err != nil {
			t.Fatalf("a fourth item after the limit was raised: %v", err)
		}
		// A negative value goes back to the default; the other limit stays.
		l, err = eng.SetAccountLimits(ctx, acct.ID, engine.Limits{UnitsPerJob: -1})
		if err != nil || l.UnitsPerJob != 3 || l.JobsInFlight != 5 {
			t.Fatalf("reset one limit: %+v %v", l, err)
		}
		if got, err := eng.AccountLimits(ctx, acct.ID); err != nil || got != l {
			t.Fatalf("limits read back %+v %v, want %+v", got, err, l)
		}
	})
}
