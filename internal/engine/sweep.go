package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"taskcenter/internal/store"
)

const leaderName = "sweeper"

// Run keeps this process's share of the engine going until ctx ends: it relays wake-ups from other
// replicas, and when it holds leadership it runs the sweeps (expired leases, time limits, offline
// workers, unfinished jobs) and fires schedules. Exactly one process leads at a time.
func (e *Engine) Run(ctx context.Context) error {
	if e.cfg.Holder == "" {
		return errors.New("engine: Config.Holder must name this process")
	}
	go func() {
		err := e.store.Listen(ctx, Topic, func(string) { e.wake.wake() })
		if err != nil && ctx.Err() == nil {
			e.log.Warn("listen for wake-ups", "err", err)
		}
	}()
	t := time.NewTicker(e.cfg.SweepEvery)
	defer t.Stop()
	defer func() {
		if e.leader.Load() {
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
			defer cancel()
			if err := e.store.Resign(rctx, leaderName, e.cfg.Holder); err != nil {
				e.log.Warn("resign leadership", "err", err)
			}
			e.leader.Store(false)
		}
	}()
	for {
		if err := e.tick(ctx); err != nil && ctx.Err() == nil {
			e.log.Warn("sweep", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func (e *Engine) tick(ctx context.Context) error {
	lead, err := e.store.TryLead(ctx, leaderName, e.cfg.Holder, e.cfg.LeaderTTL, e.now())
	if err != nil {
		e.leader.Store(false)
		return fmt.Errorf("take leadership: %w", err)
	}
	if was := e.leader.Swap(lead); was != lead {
		e.log.Info("leadership changed", "leader", lead, "holder", e.cfg.Holder)
	}
	if !lead {
		return nil
	}
	return e.Sweep(ctx)
}

// Sweep runs one pass of the leader's maintenance. Tests call it directly.
func (e *Engine) Sweep(ctx context.Context) error {
	now := e.now()
	var errs []error
	if err := e.sweepExpired(ctx, now); err != nil {
		errs = append(errs, err)
	}
	if err := e.sweepTimeouts(ctx, now); err != nil {
		errs = append(errs, err)
	}
	if err := e.sweepPending(ctx, now); err != nil {
		errs = append(errs, err)
	}
	if _, err := e.store.MarkOffline(ctx, now.Add(-e.cfg.OfflineAfter)); err != nil {
		errs = append(errs, fmt.Errorf("mark workers offline: %w", err))
	}
	if ids, err := e.store.JobsToFinalize(ctx, 500); err != nil {
		errs = append(errs, fmt.Errorf("list jobs to finish: %w", err))
	} else {
		for _, id := range ids {
			if err := e.finish(ctx, id); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if err := e.sweepArrears(ctx); err != nil {
		errs = append(errs, err)
	}
	if err := e.fireSchedules(ctx, now); err != nil {
		errs = append(errs, err)
	}
	if _, err := e.store.PurgeNonces(ctx, now); err != nil {
		errs = append(errs, fmt.Errorf("purge nonces: %w", err))
	}
	if err := e.store.FoldJobTallies(ctx); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// sweepExpired requeues units whose worker stopped heartbeating, and counts that against the worker.
func (e *Engine) sweepExpired(ctx context.Context, now time.Time) error {
	expired, err := e.store.ExpireLeases(ctx, now, now.Add(e.cfg.AvoidFor), 1000)
	if err != nil {
		return fmt.Errorf("expire leases: %w", err)
	}
	if len(expired) == 0 {
		return nil
	}
	e.metrics.observeExpired(len(expired))
	evs := make([]store.Event, 0, len(expired))
	blocklistAfter := map[int64]int{} // per job, loaded once however many of its units expired
	for _, u := range expired {
		evs = append(evs, store.Event{At: now, AccountID: u.AccountID, JobID: u.JobID, UnitID: u.ID, WorkerID: u.WorkerID,
			Type: "unit.lease_expired", Data: mustJSON(map[string]any{"epoch": u.Epoch, "attempt": u.Attempts})})
		threshold, ok := blocklistAfter[u.JobID]
		if !ok {
			j, err := e.store.GetJob(ctx, u.JobID)
			if err != nil {
				e.log.Warn("load job of expired unit", "job", u.JobID, "err", err)
			}
			threshold, blocklistAfter[u.JobID] = j.BlocklistAfter, j.BlocklistAfter
		}
		if u.WorkerID != 0 {
			if _, err := e.store.RecordWorkerFailure(ctx, u.JobID, u.WorkerID, threshold, now); err != nil {
				e.log.Warn("record worker failure", "err", err)
			}
		}
		if u.Attempts >= u.MaxAttempts {
			if err := e.finishIfDone(ctx, u.JobID); err != nil {
				e.log.Warn("finish job", "job", u.JobID, "err", err)
			}
		}
	}
	if err := e.store.AppendEvents(ctx, evs); err != nil {
		e.log.Warn("append events", "err", err)
	}
	e.log.Info("requeued units whose lease expired", "count", len(expired))
	e.notify(ctx)
	return nil
}

// sweepTimeouts stops units and jobs past their time limits.
func (e *Engine) sweepTimeouts(ctx context.Context, now time.Time) error {
	units, err := e.store.UnitsPastTimeout(ctx, now, 1000)
	if err != nil {
		return fmt.Errorf("list units past their time limit: %w", err)
	}
	for _, u := range units {
		err := e.Fail(ctx, Failure{UnitID: u.ID, Epoch: u.Epoch, WorkerID: u.WorkerID, Error: "ran past its time limit", TimedOut: true})
		if err != nil && !errors.Is(err, store.ErrStale) {
			e.log.Warn("time out unit", "unit", u.ID, "err", err)
		}
	}
	jobs, err := e.store.JobsPastTimeout(ctx, now, 100)
	if err != nil {
		return fmt.Errorf("list jobs past their time limit: %w", err)
	}
	for _, j := range jobs {
		if err := e.Pause(ctx, j.ID, PauseTimeout); err != nil && !errors.Is(err, ErrInvalid) {
			e.log.Warn("stop job past its time limit", "job", j.ID, "err", err)
		}
	}
	return nil
}

// ReasonPendingTimeout is the PauseReason of a job cancelled because no worker started it within its
// PendingTimeout.
const ReasonPendingTimeout = string(PausePendingTimeout)

// sweepPending cancels queued jobs that no worker started within their PendingTimeout.
func (e *Engine) sweepPending(ctx context.Context, now time.Time) error {
	jobs, err := e.store.JobsPastPendingTimeout(ctx, now, 500)
	if err != nil {
		return fmt.Errorf("list jobs past their pending timeout: %w", err)
	}
	for _, j := range jobs {
		// A job a worker took meanwhile is no longer queued: the state machine refuses, and that is fine.
		if _, err := e.controlIf(ctx, j.ID, JobAbort, ReasonPendingTimeout, true); err != nil && !errors.Is(err, ErrInvalid) {
			e.log.Warn("end job past its pending timeout", "job", j.ID, "err", err)
		}
	}
	return nil
}
