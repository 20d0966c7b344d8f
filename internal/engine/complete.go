package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"taskcenter/internal/store"
)

// Completion is a unit reported done by its worker.
type Completion struct {
	UnitID   int64
	Epoch    int64
	WorkerID int64 // when non-zero, the unit must be leased to this worker
	// JobID, when the reporter has read the unit, is its job: it lets the engine skip loading the
	// unit to learn whether its kind is priced. Zero when unknown.
	JobID   int64
	Result  json.RawMessage
	Outputs json.RawMessage
	Seconds float64
}

// Complete records finished units. errs has one entry per completion: nil, or store.ErrStale when the
// lease was no longer the reporter's.
func (e *Engine) Complete(ctx context.Context, cs []Completion) ([]error, error) {
	if len(cs) == 0 {
		return nil, nil
	}
	now := e.now()
	priced, err := e.price(ctx, cs)
	if err != nil {
		return nil, err
	}
	scs := make([]store.Completion, len(cs))
	for i, c := range cs {
		scs[i] = store.Completion{UnitID: c.UnitID, Epoch: c.Epoch, WorkerID: c.WorkerID, Result: c.Result, Outputs: c.Outputs, CostMilli: priced[c.UnitID].cost}
	}
	var errs []error
	var jobIDs []int64
	var debts []debt
	if len(priced) == 0 {
		errs, jobIDs, err = e.store.CompleteUnits(ctx, scs, now)
	} else {
		// The completions and their charges commit together: a crash between them cannot lose a charge,
		// and a report repeated after one (the agent's outbox) finds its unit done and is not charged.
		err = e.store.InTx(ctx, func(tx store.Store) error {
			var err error
			if errs, jobIDs, err = tx.CompleteUnits(ctx, scs, now); err != nil {
				return err
			}
			debts, err = e.chargeCompleted(ctx, tx, cs, errs, priced, now)
			return err
		})
	}
	if err != nil {
		return nil, fmt.Errorf("complete units: %w", err)
	}
	done := 0
	for _, err := range errs {
		if err == nil {
			done++
		}
	}
	e.metrics.observeCompletions(done)
	e.stopInArrears(ctx, debts)
	// The check runs after the completions committed: whichever reporter commits last sees every unit
	// finished. The leader's sweep is the backstop for a check that failed.
	for _, id := range jobIDs {
		if err := e.finishIfDone(ctx, id); err != nil {
			e.log.Warn("finish job", "job", id, "err", err)
		}
	}
	return errs, nil
}

// finishIfDone moves a job to its terminal status once none of its units remains to run.
func (e *Engine) finishIfDone(ctx context.Context, jobID int64) error {
	if kind, err := e.jobKind(ctx, jobID); err != nil || e.hooks(kind).Open {
		return err // an open job (a queue) does not end when its units do
	}
	more, err := e.store.HasUnfinishedUnits(ctx, jobID)
	if err != nil || more {
		return err
	}
	return e.finish(ctx, jobID)
}

func (e *Engine) finish(ctx context.Context, jobID int64) error {
	j, err := e.store.GetJob(ctx, jobID)
	if err != nil {
		return err
	}
	if j.Status.Terminal() || j.Status == store.JobPaused || e.hooks(j.Kind).Open {
		return nil
	}
	counts, err := e.store.UnitCounts(ctx, []int64{jobID})
	if err != nil {
		return err
	}
	st := DeriveJobStatus(counts[jobID], false, false)
	if !st.Terminal() {
		return nil
	}
	now := e.now()
	j, err = e.store.PatchJob(ctx, jobID, store.JobPatch{
		Status: &st, FinishedAt: &now, IfStatus: []store.JobStatus{store.JobQueued, store.JobRunning, store.JobWaiting},
	}, now)
	if errors.Is(err, store.ErrStale) {
		return nil // another reporter or the sweep finished it first
	}
	if err != nil {
		return fmt.Errorf("finish job %d: %w", jobID, err)
	}
	e.record(ctx, store.Event{At: now, AccountID: j.AccountID, JobID: j.ID, Type: "job.finished",
		Data: mustJSON(map[string]any{"status": st, "units": counts[jobID]})})
	released, err := e.store.ReleaseWaiters(ctx, jobID, now)
	if err != nil {
		e.log.Warn("release jobs waiting for job", "job", jobID, "err", err)
	}
	if len(released) > 0 {
		e.notify(ctx)
	}
	if h := e.hooks(j.Kind); h.JobFinished != nil {
		h.JobFinished(ctx, j)
	}
	return nil
}

// Failure is a failed attempt reported by a worker.
type Failure struct {
	UnitID   int64
	Epoch    int64
	WorkerID int64
	Error    string
	// Result, when set, replaces the unit's result: what the reporter wants kept with the failure
	// (who failed it, a partial result).
	Result    json.RawMessage
	Permanent bool // do not retry: the input is bad
	TimedOut  bool // the unit ran past its limit
}

// Fail records a failed attempt: the unit is retried after a backoff, away from this worker, while
// attempts remain, and fails for good otherwise. A worker that fails too many units of one job is
// blocklisted for it.
func (e *Engine) Fail(ctx context.Context, f Failure) error {
	u, err := e.store.GetUnit(ctx, f.UnitID)
	if err != nil {
		return err
	}
	if u.Status != store.UnitRunning || u.Epoch != f.Epoch || (f.WorkerID != 0 && u.WorkerID != f.WorkerID) {
		return store.ErrStale
	}
	j, err := e.store.GetJob(ctx, u.JobID)
	if err != nil {
		return err
	}
	now := e.now()
	f.Error = LogText(f.Error) // a failure's message is the end of the unit's output
	uf := store.UnitFailure{UnitID: u.ID, Epoch: f.Epoch, Error: f.Error, Result: f.Result, AvoidUntil: now.Add(e.cfg.AvoidFor)}
	switch {
	case f.TimedOut:
		uf.Final = store.UnitTimedOut
	case !f.Permanent && u.Attempts < u.MaxAttempts:
		uf.Retry = true
		uf.RetryAt = now.Add(e.backoff(u.Attempts))
	default:
		uf.Final = store.UnitFailed
	}
	if _, err := e.store.FailUnit(ctx, uf, now); err != nil {
		return fmt.Errorf("fail unit %d: %w", u.ID, err)
	}
	e.metrics.observeFailure()
	e.record(ctx, store.Event{At: now, AccountID: u.AccountID, JobID: u.JobID, UnitID: u.ID, WorkerID: u.WorkerID,
		Type: "unit.failed", Data: mustJSON(map[string]any{"error": f.Error, "attempt": u.Attempts, "retry": uf.Retry, "final": uf.Final})})
	if u.WorkerID != 0 {
		blocked, err := e.store.RecordWorkerFailure(ctx, u.JobID, u.WorkerID, j.BlocklistAfter, now)
		if err != nil {
			e.log.Warn("record worker failure", "job", u.JobID, "worker", u.WorkerID, "err", err)
		} else if blocked {
			e.record(ctx, store.Event{At: now, AccountID: u.AccountID, JobID: u.JobID, WorkerID: u.WorkerID, Type: "worker.blocklisted"})
		}
	}
	if !uf.Retry {
		return e.finishIfDone(ctx, u.JobID)
	}
	return nil
}

// backoff is the delay before attempt n+1: RetryBase doubling per attempt, capped at RetryMax.
func (e *Engine) backoff(attempts int) time.Duration {
	d := e.cfg.RetryBase
	for i := 1; i < attempts && d < e.cfg.RetryMax; i++ {
		d *= 2
	}
	return min(d, e.cfg.RetryMax)
}
