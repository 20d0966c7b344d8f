package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"taskcenter/internal/store"
)

// Default account limits: what an account may hold when an admin has set nothing for it.
const (
	// DefaultUnitsPerJob bounds a job's units, and an open job's (a work queue's) unfinished units.
	// The render dialect's largest task, 100,000 frames, fits as one unit a frame.
	DefaultUnitsPerJob = 100_000
	// DefaultJobsInFlight bounds an account's unfinished jobs (waiting, queued, running, paused).
	// Open jobs (render task shells, work queues) hold no work of their own and are not counted.
	DefaultJobsInFlight = 10_000
)

// ErrLimit marks a request refused because it would take an account past one of its limits. Errors
// that wrap it also wrap ErrInvalid, so that every dialect answers it as a refused request.
var ErrLimit = errors.New("account limit")

// Limits are an account's bounds, kept under the "limits" key of its settings. Zero means the
// engine's default.
type Limits struct {
	UnitsPerJob  int `json:"units_per_job,omitempty"`
	JobsInFlight int `json:"jobs_in_flight,omitempty"`
}

// settingsKey is where Limits live in store.Account.Settings, beside the dialects' own keys.
const settingsKey = "limits"

func (e *Engine) withDefaultLimits(l Limits) Limits {
	if l.UnitsPerJob <= 0 {
		l.UnitsPerJob = e.cfg.UnitsPerJob
	}
	if l.JobsInFlight <= 0 {
		l.JobsInFlight = e.cfg.JobsInFlight
	}
	return l
}

// limitsOf reads the limits an account's settings set, defaults not applied.
func limitsOf(a store.Account) (Limits, error) {
	var l Limits
	if len(a.Settings) == 0 {
		return l, nil
	}
	var all map[string]json.RawMessage
	if err := json.Unmarshal(a.Settings, &all); err != nil {
		return l, fmt.Errorf("decode settings of account %d: %w", a.ID, err)
	}
	if raw, ok := all[settingsKey]; ok {
		if err := json.Unmarshal(raw, &l); err != nil {
			return l, fmt.Errorf("decode limits of account %d: %w", a.ID, err)
		}
	}
	return l, nil
}

// AccountLimits returns the limits in force for an account: its own where set, the defaults elsewhere.
func (e *Engine) AccountLimits(ctx context.Context, accountID int64) (Limits, error) {
	return e.accountLimits(ctx, e.store, accountID)
}

func (e *Engine) accountLimits(ctx context.Context, st store.Store, accountID int64) (Limits, error) {
	a, err := st.GetAccount(ctx, accountID)
	if errors.Is(err, store.ErrNotFound) {
		// The engine never required a job's account to exist (in-process callers, tests): no
		// account, no settings.
		return e.withDefaultLimits(Limits{}), nil
	}
	if err != nil {
		return Limits{}, fmt.Errorf("load account %d: %w", accountID, err)
	}
	l, err := limitsOf(a)
	if err != nil {
		return Limits{}, err
	}
	return e.withDefaultLimits(l), nil
}

// SetAccountLimits changes an account's limits: a field above zero sets that limit, zero leaves it
// as it is, and a negative one goes back to the default. It returns the limits then in force.
func (e *Engine) SetAccountLimits(ctx context.Context, accountID int64, change Limits) (Limits, error) {
	var out Limits
	err := e.store.InTx(ctx, func(tx store.Store) error {
		a, err := tx.GetAccount(ctx, accountID)
		if err != nil {
			return fmt.Errorf("load account %d: %w", accountID, err)
		}
		l, err := limitsOf(a)
		if err != nil {
			return err
		}
		apply := func(cur *int, v int) {
			switch {
			case v > 0:
				*cur = v
			case v < 0:
				*cur = 0
			}
		}
		apply(&l.UnitsPerJob, change.UnitsPerJob)
		apply(&l.JobsInFlight, change.JobsInFlight)
		all := map[string]json.RawMessage{}
		if len(a.Settings) > 0 {
			if err := json.Unmarshal(a.Settings, &all); err != nil {
				return fmt.Errorf("decode settings of account %d: %w", accountID, err)
			}
		}
		if l == (Limits{}) {
			delete(all, settingsKey)
		} else {
			all[settingsKey] = mustJSON(l)
		}
		a.Settings = mustJSON(all)
		a.UpdatedAt = e.now()
		if err := tx.UpdateAccount(ctx, a); err != nil {
			return fmt.Errorf("save limits of account %d: %w", accountID, err)
		}
		out = e.withDefaultLimits(l)
		return nil
	})
	return out, err
}

func limitErr(format string, args ...any) error {
	return fmt.Errorf("%w: %w: %s", ErrInvalid, ErrLimit, fmt.Sprintf(format, args...))
}

// checkSubmit refuses a new job that would take its account past its limits. The count of jobs in
// flight and the insert are not one transaction: concurrent submits may pass the limit by as many
// as run at once, which a bound against floods can afford.
func (e *Engine) checkSubmit(ctx context.Context, st store.Store, s JobSpec, open bool) error {
	l, err := e.accountLimits(ctx, st, s.AccountID)
	if err != nil {
		return err
	}
	if len(s.Units) > l.UnitsPerJob {
		return limitErr("a job of account %d has at most %d units, this one has %d (an admin can raise the limit)",
			s.AccountID, l.UnitsPerJob, len(s.Units))
	}
	if open || e.hooks(s.Kind).Internal {
		return nil
	}
	n, err := st.CountUnfinishedJobs(ctx, s.AccountID, e.openKinds(), l.JobsInFlight)
	if err != nil {
		return err
	}
	if n >= l.JobsInFlight {
		return limitErr("account %d has %d unfinished jobs, its limit (an admin can raise it); wait for some to finish",
			s.AccountID, l.JobsInFlight)
	}
	return nil
}

// checkAddUnits refuses units that would take a job past its account's limit of unfinished units.
func (e *Engine) checkAddUnits(ctx context.Context, jobID int64, adding int) error {
	j, err := e.store.GetJob(ctx, jobID)
	if err != nil {
		return fmt.Errorf("load job %d: %w", jobID, err)
	}
	l, err := e.accountLimits(ctx, e.store, j.AccountID)
	if err != nil {
		return err
	}
	if adding > l.UnitsPerJob {
		return limitErr("a job of account %d holds at most %d unfinished units, %d were added at once", j.AccountID, l.UnitsPerJob, adding)
	}
	n, err := e.store.CountUnfinishedUnits(ctx, jobID, l.UnitsPerJob)
	if err != nil {
		return err
	}
	if n+adding > l.UnitsPerJob {
		return limitErr("job %d holds %d unfinished units, at most %d for account %d (an admin can raise the limit)",
			jobID, n, l.UnitsPerJob, j.AccountID)
	}
	return nil
}

// openKinds lists the registered kinds whose jobs are open or internal: the ones not counted as
// jobs in flight.
func (e *Engine) openKinds() []string {
	e.mu.RLock()
	defer e.mu.RUnlock()
	var out []string
	for k, h := range e.kinds {
		if h.Open || h.Internal {
			out = append(out, k)
		}
	}
	return out
}
