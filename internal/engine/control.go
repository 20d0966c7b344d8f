package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"taskcenter/internal/store"
)

// ErrNotFound: no such job for this caller.
var ErrNotFound = store.ErrNotFound

// control applies a job control action: it checks the job state machine, moves the units the unit state
// machine allows, and records the job's new status.
func (e *Engine) control(ctx context.Context, jobID int64, ev JobEvent, reason string) (store.Job, error) {
	return e.controlIf(ctx, jobID, ev, reason, false)
}

// controlIf is control; with onlyQueued it acts only on a job no worker has started: it moves only
// units that are not running, and the job only while it is still queued, so a lease that wins the
// race keeps its unit.
func (e *Engine) controlIf(ctx context.Context, jobID int64, ev JobEvent, reason string, onlyQueued bool) (store.Job, error) {
	for attempt := 1; ; attempt++ {
		j, err := e.controlOnce(ctx, jobID, ev, reason, onlyQueued)
		// A lease that marked the job running between our read and our write is the usual cause:
		// read the job again and redo the step, rather than hand the race to the caller.
		if !errors.Is(err, errJobChanged) || attempt == controlAttempts {
			return j, err
		}
	}
}

// controlAttempts bounds how often a control step is redone because the job changed under it.
const controlAttempts = 3

// errJobChanged marks a control step that lost a race with another change of the job.
var errJobChanged = errors.New("job changed meanwhile")

func (e *Engine) controlOnce(ctx context.Context, jobID int64, ev JobEvent, reason string, onlyQueued bool) (store.Job, error) {
	j, err := e.store.GetJob(ctx, jobID)
	if err != nil {
		return store.Job{}, err
	}
	if onlyQueued && j.Status != store.JobQueued {
		return store.Job{}, fmt.Errorf("%w: job %d is %s, not queued", ErrInvalid, jobID, j.Status)
	}
	target, err := NextJobStatus(j.Status, ev)
	if err != nil {
		return store.Job{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	now := e.now()
	was := j.Status
	var moved int
	// The units' move and the job's new status commit together: between two separate writes the
	// finish-jobs sweep (or a completion's check) would see an aborted job's units all ended and
	// finish the job itself, without the reason the abort records.
	err = e.store.InTx(ctx, func(tx store.Store) error {
		var err error
		switch ev {
		case JobPause:
			moved, err = tx.TransitionUnits(ctx, store.UnitTransition{JobID: jobID, From: unitStatusesFor(UnitPause), To: store.UnitPaused}, now)
		case JobResume:
			moved, err = tx.TransitionUnits(ctx, store.UnitTransition{JobID: jobID, From: unitStatusesFor(UnitResume), To: store.UnitQueued}, now)
		case JobAbort:
			from := unitStatusesFor(UnitAbort)
			if onlyQueued {
				from = slices.DeleteFunc(from, func(s store.UnitStatus) bool { return s == store.UnitRunning })
			}
			moved, err = tx.TransitionUnits(ctx, store.UnitTransition{JobID: jobID, From: from, To: store.UnitCancelled}, now)
		}
		if err != nil {
			return fmt.Errorf("%s units of job %d: %w", ev, jobID, err)
		}
		patch := store.JobPatch{IfStatus: []store.JobStatus{was}}
		switch ev {
		case JobPause:
			patch.Status, patch.PauseReason = &target, &reason
		case JobResume:
			if target, err = deriveStatus(ctx, tx, j, false); err != nil {
				return err
			}
			empty := ""
			patch.Status, patch.PauseReason = &target, &empty
			if ReasonOf(j) == PauseTimeout {
				patch.StartedAt = &now // the job's time limit runs anew
			}
		case JobAbort:
			patch.Status, patch.FinishedAt = &target, &now
			if reason != "" {
				patch.PauseReason = &reason // why it ended: a pending timeout, a delete
			}
			patch.ClearPendingDeadline = true
		}
		j, err = tx.PatchJob(ctx, jobID, patch, now)
		if errors.Is(err, store.ErrStale) {
			return fmt.Errorf("%w: job %d: %w, try again", ErrInvalid, jobID, errJobChanged)
		}
		if err != nil {
			return fmt.Errorf("%s job %d: %w", ev, jobID, err)
		}
		return nil
	})
	if err != nil {
		return store.Job{}, err
	}
	if moved > 0 && ev != JobResume {
		e.unitsMoved(jobID)
	}
	e.record(ctx, store.Event{At: now, AccountID: j.AccountID, JobID: jobID, Type: "job." + string(ev),
		Data: mustJSON(map[string]any{"status": j.Status, "reason": reason, "units": moved})})
	switch ev {
	case JobResume:
		e.notify(ctx)
	case JobAbort:
		if _, err := e.store.ReleaseWaiters(ctx, jobID, now); err != nil {
			e.log.Warn("release jobs waiting for aborted job", "job", jobID, "err", err)
		}
		e.notify(ctx)
		if h := e.hooks(j.Kind); h.JobFinished != nil {
			h.JobFinished(ctx, j)
		}
	}
	return j, nil
}

// deriveStatus computes a job's status from its units as st (a transaction, or the store) sees them.
func deriveStatus(ctx context.Context, st store.Store, j store.Job, paused bool) (store.JobStatus, error) {
	counts, err := st.UnitCounts(ctx, []int64{j.ID})
	if err != nil {
		return "", fmt.Errorf("count units of job %d: %w", j.ID, err)
	}
	return DeriveJobStatus(counts[j.ID], paused, j.WaitFor != 0), nil
}

// Pause holds a job: its queued units wait and its running units are taken back from their workers
// (whose reports are then refused). reason says why (PauseUser when empty).
func (e *Engine) Pause(ctx context.Context, jobID int64, reason PauseReason) error {
	if reason == "" {
		reason = PauseUser
	}
	_, err := e.control(ctx, jobID, JobPause, string(reason))
	return err
}

// Resume lets a paused job run again.
func (e *Engine) Resume(ctx context.Context, jobID int64) error {
	_, err := e.control(ctx, jobID, JobResume, "")
	return err
}

// Abort cancels every unit that has not finished; the job ends cancelled.
func (e *Engine) Abort(ctx context.Context, jobID int64) error {
	_, err := e.control(ctx, jobID, JobAbort, "")
	return err
}

// Purge removes the job with its units for good (a job that should never have been made, a
// benchmark's). The engine forgets what it remembered of the job: SQLite may give its id to the
// next job.
func (e *Engine) Purge(ctx context.Context, jobID int64) error {
	e.jobKinds.Remove(jobID)
	if err := e.store.DeleteJob(ctx, jobID); err != nil {
		return fmt.Errorf("purge job %d: %w", jobID, err)
	}
	return nil
}

// Delete aborts the job if it still runs and hides it from lists (soft delete).
func (e *Engine) Delete(ctx context.Context, jobID int64) error {
	j, err := e.store.GetJob(ctx, jobID)
	if err != nil {
		return err
	}
	if !j.Status.Terminal() {
		if _, err := e.control(ctx, jobID, JobAbort, string(PauseDeleted)); err != nil {
			return err
		}
	}
	deleted := true
	if _, err := e.store.PatchJob(ctx, jobID, store.JobPatch{Deleted: &deleted}, e.now()); err != nil {
		return fmt.Errorf("delete job %d: %w", jobID, err)
	}
	e.record(ctx, store.Event{At: e.now(), AccountID: j.AccountID, JobID: jobID, Type: "job.deleted"})
	return nil
}

// RestartFailed queues the job's failed and timed-out units again with fresh attempts. It returns how
// many it queued.
func (e *Engine) RestartFailed(ctx context.Context, jobID int64) (int, error) {
	return e.restart(ctx, jobID, nil, []store.UnitStatus{store.UnitFailed, store.UnitTimedOut})
}

// RestartUnits queues the chosen units of the job again, whatever their state (running ones are taken
// from their workers). Units of other jobs are ignored. It returns how many it queued.
func (e *Engine) RestartUnits(ctx context.Context, jobID int64, unitIDs []int64) (int, error) {
	if len(unitIDs) == 0 {
		return 0, invalid("no units chosen")
	}
	return e.restart(ctx, jobID, unitIDs, unitStatusesFor(UnitRestart))
}

func (e *Engine) restart(ctx context.Context, jobID int64, unitIDs []int64, from []store.UnitStatus) (int, error) {
	for attempt := 1; ; attempt++ {
		n, err := e.restartOnce(ctx, jobID, unitIDs, from)
		if !errors.Is(err, errJobChanged) || attempt == controlAttempts {
			return n, err
		}
	}
}

func (e *Engine) restartOnce(ctx context.Context, jobID int64, unitIDs []int64, from []store.UnitStatus) (int, error) {
	j, err := e.store.GetJob(ctx, jobID)
	if err != nil {
		return 0, err
	}
	if _, err := NextJobStatus(j.Status, JobRestart); err != nil {
		return 0, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	to := store.UnitQueued
	paused := j.Status == store.JobPaused
	if paused {
		to = store.UnitPaused // a stopped task keeps its restarted frames until it is started
	}
	now := e.now()
	var n int
	// As in controlOnce: the units and the job's reopening commit together, and only onto the job
	// as it was read, so a concurrent abort or finish is not overwritten.
	err = e.store.InTx(ctx, func(tx store.Store) error {
		var err error
		n, err = tx.TransitionUnits(ctx, store.UnitTransition{
			JobID: jobID, UnitIDs: unitIDs, From: from, To: to, ResetAttempts: true,
		}, now)
		if err != nil {
			return fmt.Errorf("restart units of job %d: %w", jobID, err)
		}
		if n == 0 {
			return nil
		}
		st, err := deriveStatus(ctx, tx, j, paused)
		if err != nil {
			return err
		}
		patch := store.JobPatch{Status: &st, ClearFinished: true, IfStatus: []store.JobStatus{j.Status}}
		if !paused {
			empty := ""
			patch.PauseReason = &empty // a cancelled job's reason no longer holds
		}
		if st == store.JobQueued && j.PendingTimeout > 0 {
			d := now.Add(j.PendingTimeout) // queued again: the wait for a worker starts anew
			patch.PendingDeadline = &d
		}
		_, err = tx.PatchJob(ctx, jobID, patch, now)
		if errors.Is(err, store.ErrStale) {
			return fmt.Errorf("%w: job %d: %w, try again", ErrInvalid, jobID, errJobChanged)
		}
		if err != nil {
			return fmt.Errorf("reopen job %d: %w", jobID, err)
		}
		return nil
	})
	if err != nil || n == 0 {
		return 0, err
	}
	e.record(ctx, store.Event{At: now, AccountID: j.AccountID, JobID: jobID, Type: "job.restart",
		Data: mustJSON(map[string]any{"units": n})})
	e.notify(ctx)
	return n, nil
}

// SetPriority changes a job's priority, and its waiting units' with it.
func (e *Engine) SetPriority(ctx context.Context, jobID int64, priority int) error {
	if _, err := e.store.PatchJob(ctx, jobID, store.JobPatch{Priority: &priority}, e.now()); err != nil {
		return fmt.Errorf("set priority of job %d: %w", jobID, err)
	}
	e.notify(ctx)
	return nil
}

// SetConcurrency changes how many units of the job may run at once (0: no cap).
func (e *Engine) SetConcurrency(ctx context.Context, jobID int64, limit int) error {
	if limit < 0 {
		return invalid("max_concurrency must not be negative")
	}
	if _, err := e.store.PatchJob(ctx, jobID, store.JobPatch{MaxConcurrency: &limit}, e.now()); err != nil {
		return fmt.Errorf("set concurrency of job %d: %w", jobID, err)
	}
	e.notify(ctx)
	return nil
}

// Blocklist lists the workers that failed units of the job, and whether each is blocklisted.
func (e *Engine) Blocklist(ctx context.Context, jobID int64) ([]store.BlockEntry, error) {
	return e.store.Blocklist(ctx, jobID)
}

// ClearBlocklist lets workerID (0: every worker) take the job's units again.
func (e *Engine) ClearBlocklist(ctx context.Context, jobID, workerID int64) error {
	if err := e.store.ClearBlocklist(ctx, jobID, workerID); err != nil {
		return fmt.Errorf("clear blocklist of job %d: %w", jobID, err)
	}
	e.notify(ctx)
	return nil
}
