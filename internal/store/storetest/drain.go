package storetest

import (
	"context"
	"testing"
	"time"

	"taskcenter/internal/store"
)

// testWorkerDrain checks that a drain is kept on the worker, read back by every read of it, kept
// across its registrations, and cleared by an undrain.
func testWorkerDrain(t *testing.T, s store.Store) {
	ctx := context.Background()
	w, err := s.RegisterWorker(ctx, store.Worker{Name: "drained", Kind: "render", Capabilities: []string{"c"}}, t0)
	must(t, err)
	if w.DrainedAt != nil {
		t.Fatalf("a new worker is drained: %v", w.DrainedAt)
	}
	must(t, s.SetWorkerDrained(ctx, w.ID, &t0))
	got, err := s.GetWorker(ctx, w.ID)
	must(t, err)
	if got.DrainedAt == nil || !got.DrainedAt.Equal(t0) {
		t.Fatalf("drained at %v, want %v", got.DrainedAt, t0)
	}
	again, err := s.RegisterWorker(ctx, store.Worker{Name: "drained", Kind: "render", Capabilities: []string{"c"}}, t0)
	must(t, err)
	if again.ID != w.ID || again.DrainedAt == nil {
		t.Fatalf("registered again: %+v", again)
	}
	// An agent's lease (Undrained) takes nothing; a queue pop for the process it runs still does.
	job(t, s, store.Job{AccountID: 1, Kind: "drain"}, mkUnits(2, "drain-c"))
	req := store.LeaseRequest{WorkerID: w.ID, Capabilities: []string{"drain-c"}, Undrained: true, Max: 1, LeaseFor: time.Minute, Now: t0}
	if us, err := s.Lease(ctx, req); err != nil || len(us) != 0 {
		t.Fatalf("a drained worker leased %d units (%v)", len(us), err)
	}
	req.Undrained = false
	if us, err := s.Lease(ctx, req); err != nil || len(us) != 1 {
		t.Fatalf("a lease not asking for an undrained worker took %d units (%v), want 1", len(us), err)
	}
	ws, err := s.ListWorkers(ctx, "render")
	must(t, err)
	if len(ws) != 1 || ws[0].DrainedAt == nil {
		t.Fatalf("listed: %+v", ws)
	}
	must(t, s.SetWorkerDrained(ctx, w.ID, nil))
	req.Undrained = true
	if us, err := s.Lease(ctx, req); err != nil || len(us) != 1 {
		t.Fatalf("an undrained worker leased %d units (%v), want 1", len(us), err)
	}
	if got, err := s.GetWorker(ctx, w.ID); err != nil || got.DrainedAt != nil {
		t.Fatalf("after undrain: %+v, %v", got, err)
	}
	mustIs(t, s.SetWorkerDrained(ctx, 1<<40, &t0), store.ErrNotFound)
}
