package engine_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"taskcenter/internal/engine"
	"taskcenter/internal/store"
)

// TestOfflineWorkers: a worker is shown offline once it has not heartbeaten for OfflineAfter.
func TestOfflineWorkers(t *testing.T) {
	forEachClocked(t, engine.Config{OfflineAfter: 2 * time.Minute}, func(t *testing.T, c clocked) {
		ctx := context.Background()
		w, err := c.e.RegisterWorker(ctx, store.Worker{Name: "w", Kind: "render", Capabilities: []string{"c"}})
		must(t, err)
		for _, step := range []struct {
			advance time.Duration
			offline bool
		}{
			{advance: 0, offline: false},
			{advance: 119 * time.Second, offline: false},
			{advance: 2 * time.Second, offline: true},
		} {
			c.clk.Advance(step.advance)
			must(t, c.e.RunService(ctx, "offline-workers"))
			got, err := c.st.GetWorker(ctx, w.ID)
			must(t, err)
			if (got.Status == store.WorkerOffline) != step.offline {
				t.Fatalf("%v after its last heartbeat: status %s, want offline %v", c.clk.Now().Sub(t0), got.Status, step.offline)
			}
		}
	})
}

// TestStoppedInProcessRowsGo: the row of an in-process worker that stopped is deleted a day after its
// last heartbeat, unless it still holds a unit; an agent's row stays.
func TestStoppedInProcessRowsGo(t *testing.T) {
	forEachClocked(t, engine.Config{OfflineAfter: 2 * time.Minute, LeaseFor: 72 * time.Hour}, func(t *testing.T, c clocked) {
		ctx := context.Background()
		// Rows as StartInProcess writes them (the engine refuses the kind from agents).
		reg := func(name, kind, capability string) store.Worker {
			w, err := c.st.RegisterWorker(ctx, store.Worker{Name: name, Kind: kind, Capabilities: []string{capability}}, c.clk.Now())
			must(t, err)
			return w
		}
		agent := reg("agent", "render", "c")
		idle := reg("idle", engine.WorkerKindInProcess, "inprocess:x")
		holder := reg("holder", engine.WorkerKindInProcess, "inprocess:y")
		_, err := c.e.Submit(ctx, engine.JobSpec{AccountID: 1, Kind: "k", Units: []engine.UnitSpec{{Capability: "inprocess:y"}}})
		must(t, err)
		if us, err := c.e.Lease(ctx, holder, 1, 0); err != nil || len(us) != 1 {
			t.Fatalf("lease: %v, %d units", err, len(us))
		}
		present := func(w store.Worker) bool {
			_, err := c.st.GetWorker(ctx, w.ID)
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				t.Fatal(err)
			}
			return err == nil
		}
		for _, step := range []struct {
			advance             time.Duration
			agent, idle, holder bool
		}{
			{advance: 3 * time.Minute, agent: true, idle: true, holder: true},
			{advance: 23 * time.Hour, agent: true, idle: true, holder: true},
			{advance: time.Hour, agent: true, idle: false, holder: true},
		} {
			c.clk.Advance(step.advance)
			must(t, c.e.RunService(ctx, "offline-workers"))
			if got := [3]bool{present(agent), present(idle), present(holder)}; got != [3]bool{step.agent, step.idle, step.holder} {
				t.Fatalf("%v on: agent, idle in-process, holding in-process present %v, want %v",
					c.clk.Now().Sub(t0), got, [3]bool{step.agent, step.idle, step.holder})
			}
		}
	})
}
