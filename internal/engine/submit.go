package engine

import (
	"context"
	"fmt"

	"taskcenter/internal/store"
)

// Submit creates a job and its units and wakes waiting workers.
func (e *Engine) Submit(ctx context.Context, s JobSpec) (store.Job, error) {
	j, err := e.submit(ctx, e.store, s)
	if err != nil {
		return store.Job{}, err
	}
	e.notify(ctx)
	return j, nil
}

// submit creates the job through st, which may be a transaction. It does not wake anyone: a
// notification taken from the pool while st holds a connection can wait for ever once every
// connection is held so, and a wake-up before the commit finds nothing to lease. Callers notify
// after their commit.
func (e *Engine) submit(ctx context.Context, st store.Store, s JobSpec) (store.Job, error) {
	open := e.hooks(s.Kind).Open
	if err := s.validate(open); err != nil {
		return store.Job{}, err
	}
	if err := e.checkSubmit(ctx, st, s, open); err != nil {
		return store.Job{}, err
	}
	j, units := s.toStore()
	now := e.now()
	j, err := st.CreateJob(ctx, j, units, now)
	if err != nil {
		return store.Job{}, fmt.Errorf("create job: %w", err)
	}
	// The event goes through st: inside a schedule's transaction, a write on another connection
	// would wait for that transaction (forever on SQLite, whose one writer the transaction holds).
	ev := store.Event{At: now, AccountID: j.AccountID, JobID: j.ID, Type: "job.created",
		Data: mustJSON(map[string]any{"kind": j.Kind, "units": len(units), "status": j.Status})}
	if err := st.AppendEvents(ctx, []store.Event{ev}); err != nil {
		return store.Job{}, fmt.Errorf("record job %d created: %w", j.ID, err)
	}
	return j, nil
}

// AddUnits appends units to a job (work queue items) and wakes waiting workers.
func (e *Engine) AddUnits(ctx context.Context, jobID int64, specs []UnitSpec) ([]store.Unit, error) {
	if err := validateUnits(specs); err != nil {
		return nil, err
	}
	if err := e.checkAddUnits(ctx, jobID, len(specs)); err != nil {
		return nil, err
	}
	units, err := e.store.AddUnits(ctx, jobID, unitsFromSpecs(specs, 0), e.now())
	if err != nil {
		return nil, fmt.Errorf("add units to job %d: %w", jobID, err)
	}
	e.notify(ctx)
	return units, nil
}

// SubmitWith creates a job as Submit does and runs also with the job in the same transaction, so that
// the job exists if and only if what also writes does: a facade records that work is under way (a
// task's state) together with the unit that does it.
func (e *Engine) SubmitWith(ctx context.Context, s JobSpec, also func(tx Tx, j store.Job) error) (store.Job, error) {
	var j store.Job
	err := e.store.InTx(ctx, func(tx store.Store) error {
		var err error
		if j, err = e.submit(ctx, tx, s); err != nil {
			return err
		}
		return also(Tx{e: e, tx: tx}, j)
	})
	if err != nil {
		return store.Job{}, err
	}
	e.notify(ctx)
	return j, nil
}
