package engine

import (
	"context"
	"fmt"
	"slices"

	"taskcenter/internal/store"
)

// Heartbeat records that a worker is alive, extends the leases of the units it lists (running or
// holding unsent reports), takes back its units it does not list once they are older than LeaseGrace,
// and returns the listed units that are no longer its own (to stop).
func (e *Engine) Heartbeat(ctx context.Context, w store.Worker, running []store.HeldUnit) ([]store.HeldUnit, error) {
	now := e.now()
	status := store.WorkerIdle
	if len(running) > 0 {
		status = store.WorkerBusy
	}
	if err := e.store.TouchWorker(ctx, w.ID, status, now); err != nil {
		return nil, fmt.Errorf("heartbeat of worker %d: %w", w.ID, err)
	}
	held, err := e.syncLeases(ctx, store.LeaseSync{
		WorkerID: w.ID, Held: running, Until: now.Add(e.cfg.LeaseFor), LeasedBefore: now.Add(-e.cfg.LeaseGrace),
		Capabilities: w.Capabilities, Error: "lease lost: its worker does not run it", Now: now,
	})
	if err != nil {
		return nil, err
	}
	valid := make(map[store.HeldUnit]bool, len(held))
	for _, h := range held {
		valid[store.HeldUnit{UnitID: h.UnitID, Epoch: h.Epoch}] = true
	}
	var cancel []store.HeldUnit
	for _, r := range running {
		if !valid[store.HeldUnit{UnitID: r.UnitID, Epoch: r.Epoch}] {
			cancel = append(cancel, r)
		}
	}
	return cancel, nil
}

// syncLeases applies r and deals with the units it took back: history, waiting leases, jobs that
// ended because a unit ran out of attempts.
func (e *Engine) syncLeases(ctx context.Context, r store.LeaseSync) ([]store.HeldUnit, error) {
	kept, reclaimed, err := e.store.SyncLeases(ctx, r)
	if err != nil {
		return nil, fmt.Errorf("sync leases of worker %d: %w", r.WorkerID, err)
	}
	if len(reclaimed) == 0 {
		return kept, nil
	}
	e.metrics.observeExpired(len(reclaimed))
	evs := make([]store.Event, len(reclaimed))
	var jobs []int64
	for i, u := range reclaimed {
		evs[i] = store.Event{At: r.Now, AccountID: u.AccountID, JobID: u.JobID, UnitID: u.ID, WorkerID: u.WorkerID,
			Type: "unit.lease_lost", Data: mustJSON(map[string]any{"epoch": u.Epoch, "attempt": u.Attempts})}
		if !slices.Contains(jobs, u.JobID) {
			jobs = append(jobs, u.JobID)
		}
	}
	if err := e.store.AppendEvents(ctx, evs); err != nil {
		e.log.Warn("append events", "type", "unit.lease_lost", "err", err)
	}
	e.log.Info("took back units their worker does not hold", "worker", r.WorkerID, "units", len(reclaimed))
	e.notify(ctx)
	for _, id := range jobs { // a unit out of attempts failed: its job may be over
		if err := e.finishIfDone(ctx, id); err != nil {
			e.log.Warn("finish job", "job", id, "err", err)
		}
	}
	return kept, nil
}

// RegisterWorker records an agent and its capabilities as a new incarnation of the worker of its
// account and name. The previous incarnation's units are taken back at once, except those in held:
// the ones the registering agent still runs or holds unsent reports for.
func (e *Engine) RegisterWorker(ctx context.Context, w store.Worker, held ...store.HeldUnit) (store.Worker, error) {
	if err := checkWorker(w); err != nil {
		return store.Worker{}, err
	}
	return e.registerWorker(ctx, w, held...)
}

func (e *Engine) registerWorker(ctx context.Context, w store.Worker, held ...store.HeldUnit) (store.Worker, error) {
	now := e.now()
	reg, err := e.store.RegisterWorker(ctx, w, now)
	if err != nil {
		return store.Worker{}, err // the store's error names the worker already
	}
	w = reg
	e.record(ctx, store.Event{At: now, WorkerID: w.ID, Type: "worker.registered",
		Data: mustJSON(map[string]any{"name": w.Name, "kind": w.Kind, "capabilities": w.Capabilities, "incarnation": w.Incarnation})})
	if _, err := e.syncLeases(ctx, store.LeaseSync{
		WorkerID: w.ID, Held: held, Until: now.Add(e.cfg.LeaseFor), AnyCapability: true,
		Error: "lease lost: its worker restarted", Now: now,
	}); err != nil {
		return store.Worker{}, fmt.Errorf("register worker %q: %w", w.Name, err)
	}
	return w, nil
}
