package engine_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"taskcenter/internal/engine"
	"taskcenter/internal/store"
)

// TestDrainWorker: a drained worker leases no new units while the unit it runs keeps its lease and
// finishes; the drain is read afresh (the caller's copy of the worker is stale), survives the
// worker's next registration, is in the history, and undraining wakes a waiting lease.
func TestDrainWorker(t *testing.T) {
	forEachStore(t, func(t *testing.T, e *engine.Engine, st store.Store) {
		ctx := context.Background()
		w, err := e.RegisterWorker(ctx, store.Worker{Name: "node", Kind: "render", Capabilities: []string{"blender"}})
		must(t, err)
		job, err := e.Submit(ctx, engine.JobSpec{AccountID: 1, Kind: "render", Units: []engine.UnitSpec{
			{Capability: "blender"}, {Capability: "blender"}, {Capability: "blender"}}})
		must(t, err)
		lease := func(wait time.Duration) []store.Unit {
			t.Helper()
			us, err := e.Lease(ctx, w, 1, wait)
			must(t, err)
			return us
		}
		running := lease(0)
		if len(running) != 1 {
			t.Fatalf("leased %d units before the drain, want 1", len(running))
		}

		must(t, e.DrainWorker(ctx, w.ID))
		if us := lease(0); len(us) != 0 {
			t.Fatalf("a drained worker leased %d units", len(us))
		}
		// The unit it runs goes on: its heartbeat keeps it and its completion is taken.
		u := running[0]
		cancel, err := e.Heartbeat(ctx, w, []store.HeldUnit{{UnitID: u.ID, Epoch: u.Epoch}})
		if err != nil || len(cancel) != 0 {
			t.Fatalf("heartbeat of a drained worker: cancel %v, %v", cancel, err)
		}
		errs, err := e.Complete(ctx, []engine.Completion{{UnitID: u.ID, Epoch: u.Epoch, WorkerID: w.ID}})
		if err != nil || errs[0] != nil {
			t.Fatalf("completion of a drained worker's unit: %v %v", errs, err)
		}
		if got, err := st.GetUnit(ctx, u.ID); err != nil || got.Status != store.UnitDone {
			t.Fatalf("the running unit ended %s (%v), want done", got.Status, err)
		}

		// Registering again (an agent restarted) keeps the drain.
		again, err := e.RegisterWorker(ctx, store.Worker{Name: "node", Kind: "render", Capabilities: []string{"blender"}})
		must(t, err)
		if again.ID != w.ID || again.DrainedAt == nil {
			t.Fatalf("after registering again: %+v", again)
		}
		if us, err := e.Lease(ctx, again, 1, 0); err != nil || len(us) != 0 {
			t.Fatalf("a drained worker registered again leased %d units (%v)", len(us), err)
		}

		// A lease waiting for work is woken by the undrain and takes a unit.
		got := make(chan []store.Unit, 1)
		go func() {
			us, _ := e.Lease(ctx, w, 1, 30*time.Second)
			got <- us
		}()
		must(t, e.UndrainWorker(ctx, w.ID))
		select {
		case us := <-got:
			if len(us) != 1 || us[0].JobID != job.ID {
				t.Fatalf("after the undrain the waiting lease took %v", us)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("the undrain did not wake the waiting lease")
		}
		if cur, err := st.GetWorker(ctx, w.ID); err != nil || cur.DrainedAt != nil {
			t.Fatalf("after the undrain: %+v %v", cur, err)
		}

		evs, err := st.ListEvents(ctx, store.EventFilter{})
		must(t, err)
		var types []string
		for _, ev := range evs {
			if ev.WorkerID == w.ID {
				types = append(types, ev.Type)
			}
		}
		if !slices.Contains(types, "worker.drained") || !slices.Contains(types, "worker.undrained") {
			t.Errorf("the history of the worker: %v", types)
		}
		if err := e.DrainWorker(ctx, 1<<40); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("draining no worker: %v", err)
		}
	})
}
