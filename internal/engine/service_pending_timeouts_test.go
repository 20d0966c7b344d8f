package engine_test

import (
	"context"
	"testing"
	"time"

	"taskcenter/internal/engine"
	"taskcenter/internal/store"
	"taskcenter/internal/store/storetest/drivers"
	"taskcenter/internal/testutil"
)

// TestPendingTimeoutSweep: a job no worker started within its PendingTimeout is cancelled with reason
// pending_timeout; a started one is not; a restart queues it again with a fresh deadline.
func TestPendingTimeoutSweep(t *testing.T) {
	forEachClocked(t, engine.Config{}, func(t *testing.T, c clocked) {
		e, st := c.e, c.st
		ctx := context.Background()
		spec := engine.JobSpec{AccountID: 1, Kind: "k", PendingTimeout: engine.Duration(time.Millisecond),
			Units: []engine.UnitSpec{{Capability: "c"}}}
		waits, err := e.Submit(ctx, spec)
		must(t, err)
		spec.Units[0].Capability = "d"
		taken, err := e.Submit(ctx, spec)
		must(t, err)
		w, err := e.RegisterWorker(ctx, store.Worker{Name: "w", Kind: "render", Capabilities: []string{"d"}})
		must(t, err)
		us, err := e.Lease(ctx, w, 1, 0)
		must(t, err)
		if len(us) != 1 {
			t.Fatalf("leased %d", len(us))
		}
		// Not before its deadline, a millisecond after creation; at once after it.
		must(t, e.RunService(ctx, "pending-timeouts"))
		if j, err := st.GetJob(ctx, waits.ID); err != nil || j.Status != store.JobQueued {
			t.Fatalf("pending job ended before its deadline: %s, %v", j.Status, err)
		}
		c.clk.Advance(time.Second)
		must(t, e.RunService(ctx, "pending-timeouts"))
		j, err := st.GetJob(ctx, waits.ID)
		must(t, err)
		if j.Status != store.JobCancelled {
			t.Fatalf("pending job still %s", j.Status)
		}
		if j.PauseReason != engine.ReasonPendingTimeout {
			t.Fatalf("pending job ended with reason %q", j.PauseReason)
		}
		j, err = st.GetJob(ctx, taken.ID)
		must(t, err)
		if j.Status != store.JobRunning {
			t.Fatalf("a started job was swept: %s", j.Status)
		}
		// Restarting queues it again with a fresh deadline and no reason.
		u, _, err := st.ListUnits(ctx, store.UnitFilter{JobID: waits.ID})
		must(t, err)
		_, err = e.RestartUnits(ctx, waits.ID, []int64{u[0].ID})
		must(t, err)
		j, err = st.GetJob(ctx, waits.ID)
		must(t, err)
		if j.Status != store.JobQueued || j.PauseReason != "" || j.PendingDeadline == nil || j.PendingDeadline.Before(j.CreatedAt) {
			t.Fatalf("restarted job %+v", j)
		}
	})
}

// sweepBetween is a store that runs a sweep right after each move of units, inside the mover's
// transaction when it has one: the moment a separate job write would leave the job behind its units.
type sweepBetween struct {
	store.Store
	sweep func()
}

func (s sweepBetween) TransitionUnits(ctx context.Context, t store.UnitTransition, now time.Time) (int, error) {
	n, err := s.Store.TransitionUnits(ctx, t, now)
	if err == nil && s.sweep != nil {
		s.sweep()
	}
	return n, err
}

func (s sweepBetween) InTx(ctx context.Context, fn func(tx store.Store) error) error {
	return s.Store.InTx(ctx, func(tx store.Store) error { return fn(sweepBetween{Store: tx, sweep: s.sweep}) })
}

// TestPendingTimeoutKeepsItsReason: the finish-jobs sweep running between the cancel of a pending
// job's units and the job's own update cannot finish the job first and lose why it ended.
func TestPendingTimeoutKeepsItsReason(t *testing.T) {
	drivers.Each(t, func(t *testing.T, open func(testing.TB) store.Store) {
		ctx := context.Background()
		clk := testutil.NewClock(t0)
		st := &sweepBetween{Store: open(t)}
		e := engine.New(st, engine.Config{Now: clk.Now}, discard(), nil)
		st.sweep = func() { must(t, e.RunService(ctx, "finish-jobs")) }
		j, err := e.Submit(ctx, engine.JobSpec{AccountID: 1, Kind: "k", PendingTimeout: engine.Duration(time.Minute),
			Units: []engine.UnitSpec{{Capability: "c"}}})
		must(t, err)
		clk.Advance(2 * time.Minute)
		must(t, e.RunService(ctx, "pending-timeouts"))
		got, err := st.GetJob(ctx, j.ID)
		must(t, err)
		if got.Status != store.JobCancelled || got.PauseReason != engine.ReasonPendingTimeout {
			t.Fatalf("job past its pending timeout ended %s with reason %q", got.Status, got.PauseReason)
		}
	})
}
