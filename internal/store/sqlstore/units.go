package sqlstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"taskcenter/internal/store"
)

// AddUnits takes the job's priority and max attempts; the units start blocked while the job waits,
// paused while it is paused, queued otherwise.
func (b *Base) AddUnits(ctx context.Context, jobID int64, units []store.Unit, now time.Time) ([]store.Unit, error) {
	var out []store.Unit
	err := b.tx(ctx, func(q Querier) error {
		j, err := scanJob(q.QueryRow(ctx, `SELECT `+jobCols+` FROM jobs WHERE id = $1`, jobID))
		if err != nil {
			return err
		}
		status := store.UnitQueued
		switch j.Status {
		case store.JobWaiting:
			status = store.UnitBlocked
		case store.JobPaused:
			status = store.UnitPaused
		}
		ids, err := b.insertUnits(ctx, q, j, units, status, now)
		if err != nil {
			return err
		}
		// Build the result from what was inserted rather than reading it back: the columns not
		// written take their defaults.
		at := Trunc(now)
		out = make([]store.Unit, len(units))
		for i, u := range units {
			v := store.Unit{ID: ids[i], JobID: j.ID, AccountID: j.AccountID, Index: u.Index, Name: u.Name,
				Status: status, Priority: u.Priority, Capability: u.Capability, Tag: unitTag(u),
				MaxAttempts: j.MaxAttempts, RunAfter: at, Spec: u.Spec, CreatedAt: at, UpdatedAt: at}
			if v.Priority == 0 {
				v.Priority = j.Priority
			}
			if !u.RunAfter.IsZero() {
				v.RunAfter = Trunc(u.RunAfter)
			}
			if u.Deadline != nil && !u.Deadline.IsZero() {
				d := Trunc(*u.Deadline)
				v.Deadline = &d
			}
			if len(v.Spec) == 0 {
				v.Spec = nil
			}
			out[i] = v
		}
		return nil
	})
	return out, wrap(err, "add units to job %d", jobID)
}

func (b *Base) GetUnit(ctx context.Context, id int64) (store.Unit, error) {
	u, err := scanUnit(b.r.QueryRow(ctx, `SELECT `+unitCols+` FROM units WHERE id = $1`, id))
	return u, wrap(err, "get unit %d", id)
}

func (b *Base) ListUnits(ctx context.Context, f store.UnitFilter) ([]store.Unit, int, error) {
	var a Args
	var w []string
	if f.JobID != 0 {
		w = append(w, "job_id = "+a.Add(f.JobID))
	}
	if len(f.JobIDs) > 0 {
		w = append(w, b.D.InInt64s(&a, "job_id", f.JobIDs, false))
	}
	if len(f.Statuses) > 0 {
		w = append(w, b.D.InStrings(&a, "status", strs(f.Statuses)))
	}
	if len(f.UnitIDs) > 0 {
		w = append(w, b.D.InInt64s(&a, "id", f.UnitIDs, false))
	}
	if f.Search != "" {
		w = append(w, `LOWER(name) LIKE `+a.Add(likePattern(f.Search))+` ESCAPE '\'`)
	}
	if f.WorkerID != 0 {
		w = append(w, "worker_id = "+a.Add(f.WorkerID))
	}
	if f.MinPriority != nil {
		w = append(w, "priority >= "+a.Add(int64(*f.MinPriority)))
	}
	if f.MaxPriority != nil {
		w = append(w, "priority <= "+a.Add(int64(*f.MaxPriority)))
	}
	if f.CreatedFrom != nil {
		w = append(w, "created_at >= "+a.Add(MS(*f.CreatedFrom)))
	}
	if f.CreatedTo != nil {
		w = append(w, "created_at <= "+a.Add(MS(*f.CreatedTo)))
	}
	if f.Attempted != nil {
		if *f.Attempted {
			w = append(w, "attempts > 0")
		} else {
			w = append(w, "attempts = 0")
		}
	}
	where := ""
	if len(w) > 0 {
		where = " WHERE " + strings.Join(w, " AND ")
	}
	var total int
	if err := b.r.QueryRow(ctx, `SELECT COUNT(*) FROM units`+where, a.Vals...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count units: %w", err)
	}
	page := limitOffset(&a, f.Limit, f.Offset)
	units, err := all(scanUnit)(b.r.Query(ctx, `SELECT `+unitCols+` FROM units`+where+` ORDER BY idx, id`+page,
		a.Vals...))
	if err != nil {
		return nil, 0, fmt.Errorf("list units: %w", err)
	}
	return units, total, nil
}

var completionCols = []BatchCol{{"id", Int}, {"epoch", Int}, {"worker", Int}, {"result", Text}, {"outputs", Text}, {"cost", Int}}

// CompleteUnits completes the whole batch in one UPDATE joined to the batch's rows. Result replaces the
// unit's when given; Outputs are merged into the unit's (keys given win); CostMilli is added.
func (b *Base) CompleteUnits(ctx context.Context, cs []store.Completion, now time.Time) ([]error, []int64, error) {
	if len(cs) == 0 {
		return nil, nil, nil
	}
	var a Args
	nowp := a.Add(MS(now))
	src := b.D.Batch(&a, "c", completionCols, len(cs), func(r, c int) any {
		switch c {
		case 0:
			return cs[r].UnitID
		case 1:
			return cs[r].Epoch
		case 2:
			return cs[r].WorkerID
		case 3:
			return JSON(cs[r].Result)
		case 4:
			return JSON(cs[r].Outputs)
		default:
			return cs[r].CostMilli
		}
	})
	rows, err := b.w.Query(ctx, `UPDATE units SET status = 'done', progress = 100, finished_at = `+nowp+`,
		updated_at = `+nowp+`, lease_expires = NULL, result = COALESCE(c.result, units.result),
		outputs = CASE WHEN c.outputs IS NULL THEN units.outputs ELSE `+b.D.MergeJSON("units.outputs", "c.outputs")+` END,
		cost_milli = units.cost_milli + c.cost
		FROM `+src+` WHERE units.id = c.id AND units.epoch = c.epoch AND units.status = 'running'
		AND (c.worker = 0 OR units.worker_id = c.worker)
		RETURNING units.id, units.epoch, units.job_id`, a.Vals...)
	if err != nil {
		return nil, nil, fmt.Errorf("complete units: %w", err)
	}
	defer rows.Close()
	type lease struct{ id, epoch int64 }
	done := make(map[lease]bool, len(cs))
	var jobIDs []int64
	seenJob := map[int64]bool{}
	for rows.Next() {
		var l lease
		var job int64
		if err := rows.Scan(&l.id, &l.epoch, &job); err != nil {
			return nil, nil, fmt.Errorf("complete units: %w", err)
		}
		done[l] = true
		if !seenJob[job] {
			seenJob[job] = true
			jobIDs = append(jobIDs, job)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("complete units: %w", err)
	}
	errs := make([]error, len(cs))
	for i, c := range cs {
		l := lease{c.UnitID, c.Epoch}
		if done[l] {
			delete(done, l) // a duplicate in the batch completes only once
		} else {
			errs[i] = store.ErrStale
		}
	}
	return errs, jobIDs, nil
}

// FailUnit clears the worker either way; a retry remembers it in AvoidWorker.
func (b *Base) FailUnit(ctx context.Context, f store.UnitFailure, now time.Time) (store.Unit, error) {
	var a Args
	idp, epp, nowp := a.Add(f.UnitID), a.Add(f.Epoch), a.Add(MS(now))
	sets := "error = " + a.Add(f.Error) + ", worker_id = 0, lease_expires = NULL, updated_at = " + nowp
	if f.Result != nil {
		sets += ", result = " + a.Add(JSON(f.Result))
	}
	if f.Retry {
		at := f.RetryAt
		if at.IsZero() {
			at = now
		}
		sets += ", status = 'queued', run_after = " + a.Add(MS(at)) + ", avoid_worker = worker_id, avoid_until = " +
			a.Add(MSOrNil(f.AvoidUntil))
	} else {
		final := f.Final
		if final == "" {
			final = store.UnitFailed
		}
		sets += ", status = " + a.Add(string(final)) + ", finished_at = " + nowp
	}
	u, err := scanUnit(b.w.QueryRow(ctx, `UPDATE units SET `+sets+` WHERE id = `+idp+` AND epoch = `+epp+
		` AND status = 'running' RETURNING `+unitCols, a.Vals...))
	if errors.Is(err, store.ErrNotFound) {
		err = store.ErrStale
	}
	return u, wrap(err, "fail unit %d", f.UnitID)
}

// ReportProgress leaves the lease alone when leaseUntil is zero.
func (b *Base) ReportProgress(ctx context.Context, ref store.ReportRef, progress float64, logAppend string, leaseUntil, now time.Time) error {
	unitID, epoch, workerID := ref.UnitID, ref.Epoch, ref.WorkerID
	n, err := b.w.Exec(ctx, `UPDATE units SET progress = $3, log = log || $4,
		lease_expires = COALESCE(CAST($5 AS BIGINT), lease_expires), updated_at = $6
		WHERE id = $1 AND epoch = $2 AND status = 'running' AND (CAST($7 AS BIGINT) = 0 OR worker_id = $7)`,
		unitID, epoch, progress, logAppend, MSOrNil(leaseUntil), MS(now), workerID)
	if err == nil && n == 0 {
		err = store.ErrStale
	}
	return wrap(err, "report progress of unit %d", unitID)
}

// SetUnitOutputs also accepts a unit its holder has just completed (same epoch, done): outputs may
// land after the completion.
func (b *Base) SetUnitOutputs(ctx context.Context, ref store.ReportRef, outputs json.RawMessage, now time.Time) error {
	unitID, epoch, workerID := ref.UnitID, ref.Epoch, ref.WorkerID
	set := "outputs = outputs"
	args := []any{unitID, epoch, MS(now), workerID}
	if len(outputs) > 0 {
		set = "outputs = " + b.D.MergeJSON("outputs", "$5")
		args = append(args, string(outputs))
	}
	n, err := b.w.Exec(ctx, `UPDATE units SET `+set+`, updated_at = $3
		WHERE id = $1 AND epoch = $2 AND status IN ('running', 'done') AND (CAST($4 AS BIGINT) = 0 OR worker_id = $4)`, args...)
	if err == nil && n == 0 {
		err = store.ErrStale
	}
	return wrap(err, "set outputs of unit %d", unitID)
}

// SyncLeases runs in one transaction: extend the listed leases, then read (locking on PostgreSQL,
// skipping rows a concurrent report holds: the next heartbeat sees them) and requeue the rest.
func (b *Base) SyncLeases(ctx context.Context, r store.LeaseSync) (kept []store.HeldUnit, reclaimed []store.Unit, err error) {
	err = b.tx(ctx, func(q Querier) error {
		kept, reclaimed = nil, nil
		if len(r.Held) > 0 {
			var a Args
			wp, untilp, nowp := a.Add(r.WorkerID), a.Add(MS(r.Until)), a.Add(MS(r.Now))
			src := b.D.Batch(&a, "c", heldCols, len(r.Held), func(i, c int) any {
				if c == 0 {
					return r.Held[i].UnitID
				}
				return r.Held[i].Epoch
			})
			var err error
			kept, err = all(func(row Row) (store.HeldUnit, error) {
				var h store.HeldUnit
				return h, row.Scan(&h.UnitID, &h.JobID, &h.Epoch)
			})(q.Query(ctx, `UPDATE units SET lease_expires = `+untilp+`, updated_at = `+nowp+` FROM `+src+`
				WHERE units.id = c.id AND units.epoch = c.epoch AND units.worker_id = `+wp+` AND units.status = 'running'
				RETURNING units.id, units.job_id, units.epoch`, a.Vals...))
			if err != nil {
				return fmt.Errorf("extend leases: %w", err)
			}
		}
		if !r.AnyCapability && len(r.Capabilities) == 0 {
			return nil
		}
		var a Args
		w := []string{"worker_id = " + a.Add(r.WorkerID), "status = 'running'"}
		if !r.LeasedBefore.IsZero() {
			w = append(w, "started_at < "+a.Add(MS(r.LeasedBefore)))
		}
		if !r.AnyCapability {
			w = append(w, b.D.InStrings(&a, "capability", r.Capabilities))
		}
		if len(kept) > 0 {
			ids := make([]int64, len(kept))
			for i, h := range kept {
				ids[i] = h.UnitID
			}
			w = append(w, b.D.InInt64s(&a, "id", ids, true))
		}
		var err error
		reclaimed, err = all(scanUnit)(q.Query(ctx, `SELECT `+unitCols+` FROM units WHERE `+strings.Join(w, " AND ")+
			` ORDER BY id`+b.D.LockSkipLocked(), a.Vals...))
		if err != nil || len(reclaimed) == 0 {
			return wrap(err, "select units to take back")
		}
		ids := make([]int64, len(reclaimed))
		for i, u := range reclaimed {
			ids[i] = u.ID
		}
		a = Args{}
		nowp, errp := a.Add(MS(r.Now)), a.Add(r.Error)
		out := `max_attempts > 0 AND attempts >= max_attempts`
		_, err = q.Exec(ctx, `UPDATE units SET status = CASE WHEN `+out+` THEN 'failed' ELSE 'queued' END,
			finished_at = CASE WHEN `+out+` THEN `+nowp+` ELSE finished_at END, error = `+errp+`,
			epoch = epoch + 1, worker_id = 0, lease_expires = NULL, updated_at = `+nowp+`
			WHERE `+b.D.InInt64s(&a, "id", ids, false), a.Vals...)
		return wrap(err, "take back units")
	})
	if err != nil {
		return nil, nil, wrap(err, "sync leases of worker %d", r.WorkerID)
	}
	return kept, reclaimed, nil
}

var heldCols = []BatchCol{{"id", Int}, {"epoch", Int}}

// ReleaseUnits requeues the given units at once, giving back the attempt their lease counted. RunAfter
// stays: it had passed when the unit was leased.
func (b *Base) ReleaseUnits(ctx context.Context, workerID int64, held []store.HeldUnit, now time.Time) (int, error) {
	if len(held) == 0 {
		return 0, nil
	}
	var a Args
	wp, nowp := a.Add(workerID), a.Add(MS(now))
	src := b.D.Batch(&a, "c", heldCols, len(held), func(r, c int) any {
		if c == 0 {
			return held[r].UnitID
		}
		return held[r].Epoch
	})
	n, err := b.w.Exec(ctx, `UPDATE units SET status = 'queued', epoch = units.epoch + 1,
		attempts = CASE WHEN units.attempts > 0 THEN units.attempts - 1 ELSE 0 END, worker_id = 0,
		lease_expires = NULL, updated_at = `+nowp+` FROM `+src+`
		WHERE units.id = c.id AND units.epoch = c.epoch AND units.worker_id = `+wp+` AND units.status = 'running'`,
		a.Vals...)
	return int(n), wrap(err, "release units of worker %d", workerID)
}

// ExpireLeases reads the expired units (locking them on PostgreSQL) and requeues them in the same
// transaction, so what it returns is exactly what it changed. A unit out of attempts (MaxAttempts > 0)
// fails instead.
func (b *Base) ExpireLeases(ctx context.Context, now, avoidUntil time.Time, limit int) ([]store.Unit, error) {
	var units []store.Unit
	err := b.tx(ctx, func(q Querier) error {
		a := Args{Vals: []any{MS(now)}}
		var err error
		units, err = all(scanUnit)(q.Query(ctx, `SELECT `+unitCols+` FROM units
			WHERE status = 'running' AND lease_expires < $1 ORDER BY lease_expires, id`+limitOffset(&a, limit, 0)+
			b.D.LockSkipLocked(), a.Vals...))
		if err != nil || len(units) == 0 {
			return err
		}
		ids := make([]int64, len(units))
		for i, u := range units {
			ids[i] = u.ID
		}
		a = Args{}
		nowp, avp := a.Add(MS(now)), a.Add(MSOrNil(avoidUntil))
		out := `max_attempts > 0 AND attempts >= max_attempts`
		_, err = q.Exec(ctx, `UPDATE units SET status = CASE WHEN `+out+` THEN 'failed' ELSE 'queued' END,
			finished_at = CASE WHEN `+out+` THEN `+nowp+` ELSE finished_at END, error = 'lease expired',
			avoid_worker = worker_id, avoid_until = `+avp+`, epoch = epoch + 1, worker_id = 0, lease_expires = NULL,
			updated_at = `+nowp+` WHERE `+b.D.InInt64s(&a, "id", ids, false), a.Vals...)
		return err
	})
	return units, wrap(err, "expire leases")
}

func (b *Base) UnitsPastTimeout(ctx context.Context, now time.Time, limit int) ([]store.Unit, error) {
	a := Args{Vals: []any{MS(now)}}
	units, err := all(scanUnit)(b.r.Query(ctx, `SELECT `+qualify("u", unitCols)+` FROM units u
		JOIN jobs j ON j.id = u.job_id WHERE u.status = 'running' AND j.unit_timeout > 0
		AND u.started_at + j.unit_timeout < $1 ORDER BY u.id`+limitOffset(&a, limit, 0), a.Vals...))
	return units, wrap(err, "units past timeout")
}

// TransitionUnits moves units in one UPDATE. Every SET expression reads the row as it was, so "status =
// 'running'" below means "was running".
func (b *Base) TransitionUnits(ctx context.Context, t store.UnitTransition, now time.Time) (int, error) {
	var a Args
	jp, nowp := a.Add(t.JobID), a.Add(MS(now))
	sets := []string{"status = " + a.Add(string(t.To)), "updated_at = " + nowp,
		"epoch = CASE WHEN status = 'running' THEN epoch + 1 ELSE epoch END",
		"worker_id = CASE WHEN status = 'running' THEN 0 ELSE worker_id END",
		"lease_expires = CASE WHEN status = 'running' THEN NULL ELSE lease_expires END"}
	if t.ResetAttempts {
		sets = append(sets, "attempts = 0")
	}
	switch {
	case t.To == store.UnitQueued:
		sets = append(sets, "run_after = "+nowp, "finished_at = NULL", "progress = 0")
		if t.Error == "" {
			sets = append(sets, "error = ''")
		}
	case t.To.Terminal():
		sets = append(sets, "finished_at = "+nowp)
	}
	if t.Error != "" {
		sets = append(sets, "error = "+a.Add(t.Error))
	}
	where := "job_id = " + jp
	if len(t.From) > 0 {
		where += " AND " + b.D.InStrings(&a, "status", strs(t.From))
	}
	if len(t.UnitIDs) > 0 {
		where += " AND " + b.D.InInt64s(&a, "id", t.UnitIDs, false)
	}
	n, err := b.w.Exec(ctx, `UPDATE units SET `+strings.Join(sets, ", ")+` WHERE `+where, a.Vals...)
	return int(n), wrap(err, "move units of job %d to %s", t.JobID, t.To)
}

func (b *Base) DeleteUnits(ctx context.Context, jobID int64, ids []int64) (int, error) {
	a := Args{Vals: []any{jobID}}
	where := "job_id = $1"
	if len(ids) > 0 {
		where += " AND " + b.D.InInt64s(&a, "id", ids, false)
	}
	n, err := b.w.Exec(ctx, `DELETE FROM units WHERE `+where, a.Vals...)
	return int(n), wrap(err, "delete units of job %d", jobID)
}

func (b *Base) RecordWorkerFailure(ctx context.Context, jobID, workerID int64, threshold int, now time.Time) (bool, error) {
	var blocked bool
	err := b.w.QueryRow(ctx, `INSERT INTO worker_failures (job_id, worker_id, failures, blocked, last_failure)
		VALUES ($1, $2, 1, $3, $4) ON CONFLICT (job_id, worker_id) DO UPDATE SET
		failures = worker_failures.failures + 1, last_failure = excluded.last_failure,
		blocked = (worker_failures.blocked OR (CAST($5 AS BIGINT) > 0 AND worker_failures.failures + 1 >= $5))
		RETURNING blocked`, jobID, workerID, threshold > 0 && threshold <= 1, MS(now), int64(threshold)).Scan(&blocked)
	return blocked, wrap(err, "record failure of worker %d in job %d", workerID, jobID)
}

func (b *Base) Blocklist(ctx context.Context, jobID int64) ([]store.BlockEntry, error) {
	es, err := all(func(r Row) (store.BlockEntry, error) {
		var e store.BlockEntry
		var last int64
		err := r.Scan(&e.JobID, &e.WorkerID, &e.Failures, &e.Blocked, &last)
		e.LastFailure = Time(last)
		return e, err
	})(b.r.Query(ctx, `SELECT job_id, worker_id, failures, blocked, last_failure FROM worker_failures
		WHERE job_id = $1 ORDER BY worker_id`, jobID))
	return es, wrap(err, "blocklist of job %d", jobID)
}

func (b *Base) ClearBlocklist(ctx context.Context, jobID, workerID int64) error {
	var err error
	if workerID == 0 {
		_, err = b.w.Exec(ctx, `DELETE FROM worker_failures WHERE job_id = $1`, jobID)
	} else {
		_, err = b.w.Exec(ctx, `DELETE FROM worker_failures WHERE job_id = $1 AND worker_id = $2`, jobID, workerID)
	}
	return wrap(err, "clear blocklist of job %d", jobID)
}

// QueueDepth counts queued units past RunAfter of jobs not deleted, per capability up to
// store.QueueDepthCap. A scrape must stay cheap at any queue size: counting a million queued units,
// with a job lookup each, takes seconds. The capabilities are found by skipping through the ready
// index (one probe per capability, not a row per unit), then each is counted up to the cap.
func (b *Base) QueueDepth(ctx context.Context, now time.Time) (map[string]int, error) {
	caps, err := all(scanString)(b.r.Query(ctx, `WITH RECURSIVE caps(c) AS (
		SELECT MIN(capability) FROM units WHERE status = 'queued'
		UNION ALL
		SELECT (SELECT MIN(capability) FROM units WHERE status = 'queued' AND capability > caps.c)
		FROM caps WHERE caps.c IS NOT NULL
	) SELECT c FROM caps WHERE c IS NOT NULL`))
	if err != nil {
		return nil, fmt.Errorf("queue depth: capabilities: %w", err)
	}
	out := make(map[string]int, len(caps))
	for _, c := range caps {
		var n int
		err := b.r.QueryRow(ctx, `SELECT COUNT(*) FROM (SELECT 1 FROM units u WHERE status = 'queued' AND capability = $1
			AND run_after <= $2 AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.id = u.job_id AND j.deleted) LIMIT $3) AS x`,
			c, MS(now), store.QueueDepthCap).Scan(&n)
		if err != nil {
			return nil, fmt.Errorf("queue depth of %s: %w", c, err)
		}
		if n > 0 {
			out[c] = n
		}
	}
	return out, nil
}

func scanString(r Row) (string, error) {
	var v string
	err := r.Scan(&v)
	return v, err
}
