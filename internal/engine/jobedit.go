package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"taskcenter/internal/store"
)

// JobChange is what a dialect may change on a job besides its state: its descriptive fields, the
// document it keeps in the job's Spec or Result, its priority and its units' time limit. Nil fields
// stay as they are.
type JobChange struct {
	Name    *string
	Project *string
	// Spec and Result replace the job's own documents (a dialect's state of the job).
	Spec   json.RawMessage
	Result json.RawMessage
	// Priority also re-prioritises the job's waiting units.
	Priority *int
	// UnitTimeout is how long one unit may run (0: no limit).
	UnitTimeout *time.Duration
}

// settings lists the changed fields that decide how the engine runs the job, for the job.updated
// event. Descriptive fields and the dialect's documents (Name, Project, Spec, Result) are the
// dialect's state, rewritten as often as that state moves (a render task's start writes them in its
// submission's transaction), and record no event, so those writes cost no extra statement.
func (c JobChange) settings() map[string]any {
	m := map[string]any{}
	if c.Priority != nil {
		m["priority"] = *c.Priority
	}
	if c.UnitTimeout != nil {
		m["unit_timeout_ms"] = c.UnitTimeout.Milliseconds()
	}
	return m
}

// UpdateJob applies c to the job in one write. A change of priority or unit time limit records a job.updated event; a new priority wakes waiting workers, as SetPriority does.
func (e *Engine) UpdateJob(ctx context.Context, jobID int64, c JobChange) (store.Job, error) {
	j, ev, err := e.updateJob(ctx, e.store, jobID, c)
	if err != nil {
		return store.Job{}, err
	}
	if ev != nil {
		e.record(ctx, *ev)
	}
	if c.Priority != nil {
		e.notify(ctx)
	}
	return j, nil
}

// updateJob writes c through st and returns the event to record, if any.
func (e *Engine) updateJob(ctx context.Context, st store.Store, jobID int64, c JobChange) (store.Job, *store.Event, error) {
	if c.UnitTimeout != nil && *c.UnitTimeout < 0 {
		return store.Job{}, nil, invalid("unit_timeout must not be negative")
	}
	now := e.now()
	j, err := st.PatchJob(ctx, jobID, store.JobPatch{
		Name: c.Name, Project: c.Project, Spec: c.Spec, Result: c.Result,
		Priority: c.Priority, UnitTimeout: c.UnitTimeout,
	}, now)
	if err != nil {
		return store.Job{}, nil, fmt.Errorf("update job %d: %w", jobID, err)
	}
	s := c.settings()
	if len(s) == 0 {
		return j, nil, nil
	}
	return j, &store.Event{At: now, AccountID: j.AccountID, JobID: jobID, Type: "job.updated", Data: mustJSON(s)}, nil
}

// Tx is what a facade writes in the transaction of SubmitWith: changes to jobs, through the engine's
// rules, and its own records.
type Tx struct {
	e  *Engine
	tx store.Store
	// submitted, when set, records that Submit made a job, so that WithTx wakes workers only then.
	submitted *bool
}

// UpdateJob is Engine.UpdateJob inside the transaction (workers are woken after the commit).
func (t Tx) UpdateJob(ctx context.Context, jobID int64, c JobChange) (store.Job, error) {
	j, ev, err := t.e.updateJob(ctx, t.tx, jobID, c)
	if err != nil {
		return store.Job{}, err
	}
	if ev != nil {
		if err := t.tx.AppendEvents(ctx, []store.Event{*ev}); err != nil {
			return store.Job{}, fmt.Errorf("record update of job %d: %w", jobID, err)
		}
	}
	return j, nil
}

// Records writes the facade's own documents in the transaction.
func (t Tx) Records() store.Records { return t.tx }

// BlobRefs records read rights that must land with the job (blobs its units name).
func (t Tx) BlobRefs() store.BlobRefs { return t.tx }

// DeleteUnits removes units of a job (a queue's items; none given: every unit) whatever their state;
// a holder's later report of one is refused. It records a units.deleted event and wakes waiting
// workers, since a deleted running unit frees a place under the job's concurrency limit.
func (e *Engine) DeleteUnits(ctx context.Context, jobID int64, unitIDs []int64) (int, error) {
	j, err := e.store.GetJob(ctx, jobID)
	if err != nil {
		return 0, fmt.Errorf("delete units of job %d: %w", jobID, err)
	}
	n, err := e.store.DeleteUnits(ctx, jobID, unitIDs)
	if err != nil {
		return 0, fmt.Errorf("delete units of job %d: %w", jobID, err)
	}
	if n > 0 {
		e.record(ctx, store.Event{At: e.now(), AccountID: j.AccountID, JobID: jobID, Type: "units.deleted",
			Data: mustJSON(map[string]any{"units": n, "all": len(unitIDs) == 0})})
		e.notify(ctx)
	}
	return n, nil
}
