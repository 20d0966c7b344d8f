package engine

import (
	"context"
	"fmt"
	"time"

	"taskcenter/internal/store"
)

// rescueExpiredLeases is the "rescuer" service: it requeues units whose worker stopped heartbeating,
// counts that against the worker, and ends jobs whose expired unit had no attempt left.
func (e *Engine) rescueExpiredLeases(ctx context.Context, now time.Time) error {
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
