package engine

import (
	"context"
	"fmt"
	"time"

	"taskcenter/internal/store"
)

// Drain makes waiting and future leases return at once with nothing, so that a server shutting down
// hands out no unit it could not deliver. Reports are still taken.
func (e *Engine) Drain() {
	e.draining.Store(true)
	e.wake.wake()
}

// Lease hands up to max ready units to worker w, waiting up to wait for one to become ready.
func (e *Engine) Lease(ctx context.Context, w store.Worker, max int, wait time.Duration) ([]store.Unit, error) {
	deadline := time.Now().Add(wait)
	for {
		if e.draining.Load() {
			return nil, nil
		}
		// Take the wake-up channel before looking, so that work arriving between the look and the wait
		// is not missed.
		woken := e.wake.wait()
		if e.needsLicence(w.Kind) {
			ok, err := e.licensed(ctx, w.ID)
			if err != nil {
				return nil, err
			}
			if !ok {
				// An unlicensed worker waits out its long poll with nothing rather than asking again at
				// once; a wake-up (a licence issued) makes it look again.
				if !e.idle(ctx, woken, deadline) {
					return nil, nil
				}
				continue
			}
		}
		start := time.Now()
		select {
		case e.leaseSlots <- struct{}{}:
		case <-ctx.Done():
			return nil, nil
		}
		// The lease runs to its end even when the caller goes: a commit cancelled half-way could take
		// units nobody hears of. Units leased for a caller that is gone are handed back below.
		units, err := e.store.Lease(context.WithoutCancel(ctx), store.LeaseRequest{
			WorkerID: w.ID, Capabilities: w.Capabilities, Tags: w.Tags, AccountID: w.AccountID, Undrained: true,
			Max: max, LeaseFor: e.cfg.LeaseFor, Now: e.now(),
		})
		<-e.leaseSlots
		if err != nil {
			return nil, fmt.Errorf("lease units for worker %d: %w", w.ID, err)
		}
		e.metrics.observeLease(time.Since(start), len(units))
		if len(units) > 0 && ctx.Err() != nil {
			e.ReturnLeased(ctx, w.ID, units)
			return nil, nil
		}
		if len(units) > 0 {
			return units, nil
		}
		if !e.idle(ctx, woken, deadline) {
			return nil, nil
		}
	}
}

// LeaseJob pops up to max ready units of one job for a caller that is not an agent (a process popping
// queue items) and holds them for leaseFor (0: the configured LeaseFor), since such a caller does not
// heartbeat. It never waits.
func (e *Engine) LeaseJob(ctx context.Context, workerID, jobID int64, capabilities []string, max int, leaseFor time.Duration) ([]store.Unit, error) {
	if leaseFor <= 0 {
		leaseFor = e.cfg.LeaseFor
	}
	units, err := e.store.Lease(ctx, store.LeaseRequest{
		WorkerID: workerID, Capabilities: capabilities, JobID: jobID, Max: max, LeaseFor: leaseFor, Now: e.now(),
	})
	if err != nil {
		return nil, fmt.Errorf("pop units of job %d: %w", jobID, err)
	}
	e.metrics.observeLease(0, len(units))
	return units, nil
}

// ReturnLeased hands back units just leased to worker workerID whose lease answer could not be
// delivered (the caller hung up), as a release does: the attempt is not counted. It runs even when
// ctx is done.
func (e *Engine) ReturnLeased(ctx context.Context, workerID int64, units []store.Unit) {
	held := make([]store.HeldUnit, len(units))
	for i, u := range units {
		held[i] = store.HeldUnit{UnitID: u.ID, JobID: u.JobID, Epoch: u.Epoch}
	}
	if _, err := e.Release(context.WithoutCancel(ctx), workerID, held); err != nil {
		// The worker's next heartbeat, which does not list them, takes them back.
		e.log.Warn("hand back undelivered units", "worker", workerID, "units", len(units), "err", err)
	}
}

// Release hands a shutting-down worker's units back to the queue without counting the attempt.
func (e *Engine) Release(ctx context.Context, workerID int64, held []store.HeldUnit) (int, error) {
	n, err := e.store.ReleaseUnits(ctx, workerID, held, e.now())
	if err != nil {
		return 0, fmt.Errorf("release units of worker %d: %w", workerID, err)
	}
	if n > 0 {
		e.notify(ctx)
	}
	return n, nil
}
