package engine

import (
	"context"
	"fmt"
	"time"

	"taskcenter/internal/store"
)

// RequireLicence makes workers of kind lease nothing unless they hold a licence that has not
// expired (SetLicence) and, when valid is given, that valid accepts for the worker as it is now
// (a licence bound to the machine it was issued for). Robots are sold per machine: an unlicensed,
// expired or moved one gets no jobs.
func (e *Engine) RequireLicence(kind string, valid func(store.Worker) bool) {
	if valid == nil {
		valid = func(store.Worker) bool { return true }
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.licenceKinds[kind] = valid
}

func (e *Engine) needsLicence(kind string) bool {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.licenceKinds[kind] != nil
}

// SetLicence issues (licence not empty, expires nil for no end) or revokes (licence empty) a
// worker's licence, and wakes waiting leases so that a newly licensed worker starts at once.
func (e *Engine) SetLicence(ctx context.Context, workerID int64, licence string, expires *time.Time) error {
	if licence != "" && expires != nil && !expires.After(e.now()) {
		return invalid("the licence expiry is in the past")
	}
	if err := e.store.SetWorkerLicence(ctx, workerID, licence, expires); err != nil {
		return fmt.Errorf("set licence of worker %d: %w", workerID, err)
	}
	ev := "worker.licensed"
	if licence == "" {
		ev = "worker.unlicensed"
	}
	e.record(ctx, store.Event{At: e.now(), WorkerID: workerID, Type: ev})
	e.wake.wake()
	return nil
}

// Licensed reports whether w holds a licence that has not expired at now.
func Licensed(w store.Worker, now time.Time) bool {
	return w.Licence != "" && (w.LicenceExpires == nil || now.Before(*w.LicenceExpires))
}

// licensed reads the worker afresh: callers of Lease may hold a cached copy from before a licence
// was issued or revoked. Only kinds that need a licence pay for the read.
func (e *Engine) licensed(ctx context.Context, workerID int64) (bool, error) {
	w, err := e.store.GetWorker(ctx, workerID)
	if err != nil {
		return false, fmt.Errorf("load worker %d for its licence: %w", workerID, err)
	}
	e.mu.RLock()
	valid := e.licenceKinds[w.Kind]
	e.mu.RUnlock()
	return Licensed(w, e.now()) && (valid == nil || valid(w)), nil
}
