package sqlstore

import (
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"taskcenter/internal/store"
)

// Column lists, in the order the scan functions below read them.
const (
	accountCols    = "id, parent_id, name, role, balance_milli, coupon_milli, credit_milli, quota, settings, created_at, updated_at"
	credentialCols = "id, account_id, kind, key_id, secret_hash, secret_sealed, label, created_at, expires_at, revoked_at"
	jobCols        = "id, account_id, parent_id, wait_for, alias, kind, name, project, status, pause_reason, priority, max_concurrency, max_attempts, blocklist_after, unit_timeout, job_timeout, spec, result, cost_milli, deleted, created_at, updated_at, started_at, finished_at, pending_timeout, pending_deadline, paid_coupon_milli, paid_balance_milli, paid_credit_milli, unpaid_milli"
	unitCols       = "id, job_id, account_id, idx, name, status, priority, capability, tag, attempts, max_attempts, worker_id, epoch, lease_expires, avoid_worker, avoid_until, run_after, deadline, progress, spec, result, outputs, error, log, cost_milli, created_at, updated_at, started_at, finished_at"
	workerCols     = "id, account_id, name, kind, capabilities, tags, info, status, last_heartbeat, created_at, licence, licence_expires, incarnation, drained_at"
	scheduleCols   = "id, account_id, name, cron, timezone, enabled, template, start_at, end_at, next_run, last_run, created_at, updated_at"
	recordCols     = "id, account_id, kind, key, parent_id, data, scope, name, created_at, updated_at"
	eventCols      = "id, at, account_id, job_id, unit_id, worker_id, type, data"
)

// qualify prefixes every column of a list with alias.
func qualify(alias, cols string) string {
	parts := strings.Split(cols, ", ")
	for i, p := range parts {
		parts[i] = alias + "." + p
	}
	return strings.Join(parts, ", ")
}

// notFound turns "no rows" into store.ErrNotFound; pgx.ErrNoRows matches sql.ErrNoRows too.
func notFound(err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return store.ErrNotFound
	}
	return err
}

func scanAccount(r Row) (store.Account, error) {
	var a store.Account
	var role string
	var settings sql.NullString
	var created, updated int64
	err := r.Scan(&a.ID, &a.ParentID, &a.Name, &role, &a.BalanceMilli, &a.CouponMilli, &a.CreditMilli, &a.Quota,
		&settings, &created, &updated)
	if err != nil {
		return a, notFound(err)
	}
	a.Role = store.Role(role)
	a.Settings = RawJSON(settings)
	a.CreatedAt, a.UpdatedAt = Time(created), Time(updated)
	return a, nil
}

func scanCredential(r Row) (store.Credential, error) {
	var c store.Credential
	var kind string
	var created int64
	var expires, revoked sql.NullInt64
	err := r.Scan(&c.ID, &c.AccountID, &kind, &c.KeyID, &c.SecretHash, &c.SecretSealed, &c.Label, &created,
		&expires, &revoked)
	if err != nil {
		return c, notFound(err)
	}
	c.Kind = store.CredentialKind(kind)
	c.CreatedAt = Time(created)
	c.ExpiresAt, c.RevokedAt = TimePtr(expires), TimePtr(revoked)
	if len(c.SecretHash) == 0 {
		c.SecretHash = nil
	}
	if len(c.SecretSealed) == 0 {
		c.SecretSealed = nil
	}
	return c, nil
}

func scanJob(r Row) (store.Job, error) { return newJobScanner().scan(r) }

// jobScanner reads rows of jobCols, then any extra columns, into destinations it keeps: a list of
// jobs allocates its scan targets once, not once per row.
type jobScanner struct {
	j                                                         store.Job
	status                                                    string
	unitTimeout, jobTimeout, created, updated, pendingTimeout int64
	spec, result                                              []byte // both drivers copy into a new slice per row
	started, finished, pendingDeadline                        sql.NullInt64
	dest                                                      []any
}

func newJobScanner(extra ...any) *jobScanner {
	s := &jobScanner{}
	j := &s.j
	s.dest = append([]any{&j.ID, &j.AccountID, &j.ParentID, &j.WaitFor, &j.Alias, &j.Kind, &j.Name, &j.Project, &s.status,
		&j.PauseReason, &j.Priority, &j.MaxConcurrency, &j.MaxAttempts, &j.BlocklistAfter, &s.unitTimeout, &s.jobTimeout,
		&s.spec, &s.result, &j.CostMilli, &j.Deleted, &s.created, &s.updated, &s.started, &s.finished, &s.pendingTimeout,
		&s.pendingDeadline, &j.Paid.CouponMilli, &j.Paid.BalanceMilli, &j.Paid.CreditMilli, &j.Paid.UnpaidMilli}, extra...)
	return s
}

func (s *jobScanner) scan(r Row) (store.Job, error) {
	if err := r.Scan(s.dest...); err != nil {
		return store.Job{}, notFound(err)
	}
	j := s.j
	j.Status = store.JobStatus(s.status)
	j.UnitTimeout, j.JobTimeout = Duration(s.unitTimeout), Duration(s.jobTimeout)
	j.Spec, j.Result = rawJSONBytes(s.spec), rawJSONBytes(s.result)
	j.CreatedAt, j.UpdatedAt = Time(s.created), Time(s.updated)
	j.StartedAt, j.FinishedAt = TimePtr(s.started), TimePtr(s.finished)
	j.PendingTimeout, j.PendingDeadline = Duration(s.pendingTimeout), TimePtr(s.pendingDeadline)
	return j, nil
}

func scanUnit(r Row) (store.Unit, error) {
	var u store.Unit
	var status string
	var runAfter, created, updated int64
	var leaseExp, avoidUntil, deadline, started, finished sql.NullInt64
	var spec, result, outputs sql.NullString
	err := r.Scan(&u.ID, &u.JobID, &u.AccountID, &u.Index, &u.Name, &status, &u.Priority, &u.Capability, &u.Tag,
		&u.Attempts, &u.MaxAttempts, &u.WorkerID, &u.Epoch, &leaseExp, &u.AvoidWorker, &avoidUntil, &runAfter,
		&deadline, &u.Progress, &spec, &result, &outputs, &u.Error, &u.Log, &u.CostMilli, &created, &updated,
		&started, &finished)
	if err != nil {
		return u, notFound(err)
	}
	u.Status = store.UnitStatus(status)
	u.LeaseExpires, u.AvoidUntil, u.Deadline = TimePtr(leaseExp), TimePtr(avoidUntil), TimePtr(deadline)
	u.RunAfter, u.CreatedAt, u.UpdatedAt = Time(runAfter), Time(created), Time(updated)
	u.StartedAt, u.FinishedAt = TimePtr(started), TimePtr(finished)
	u.Spec, u.Result, u.Outputs = RawJSON(spec), RawJSON(result), RawJSON(outputs)
	return u, nil
}

func scanWorker(r Row) (store.Worker, error) {
	var w store.Worker
	var status string
	var caps, tags, info sql.NullString
	var hb, created int64
	var licExpires, drained sql.NullInt64
	err := r.Scan(&w.ID, &w.AccountID, &w.Name, &w.Kind, &caps, &tags, &info, &status, &hb, &created, &w.Licence, &licExpires, &w.Incarnation, &drained)
	if err != nil {
		return w, notFound(err)
	}
	if w.Capabilities, err = ParseList(caps); err != nil {
		return w, err
	}
	if w.Tags, err = ParseList(tags); err != nil {
		return w, err
	}
	w.Info = RawJSON(info)
	w.Status = store.WorkerStatus(status)
	w.LastHeartbeat, w.CreatedAt = Time(hb), Time(created)
	w.LicenceExpires = TimePtr(licExpires)
	w.DrainedAt = TimePtr(drained)
	return w, nil
}

func scanSchedule(r Row) (store.Schedule, error) {
	var s store.Schedule
	var tmpl sql.NullString
	var start, end, next, last sql.NullInt64
	var created, updated int64
	err := r.Scan(&s.ID, &s.AccountID, &s.Name, &s.Cron, &s.Timezone, &s.Enabled, &tmpl, &start, &end, &next, &last,
		&created, &updated)
	if err != nil {
		return s, notFound(err)
	}
	s.Template = RawJSON(tmpl)
	s.StartAt, s.EndAt, s.NextRun, s.LastRun = TimePtr(start), TimePtr(end), TimePtr(next), TimePtr(last)
	s.CreatedAt, s.UpdatedAt = Time(created), Time(updated)
	return s, nil
}

func scanRecord(r Row) (store.Record, error) {
	var rec store.Record
	var data sql.NullString
	var created, updated int64
	err := r.Scan(&rec.ID, &rec.AccountID, &rec.Kind, &rec.Key, &rec.ParentID, &data, &rec.Scope, &rec.Name, &created, &updated)
	if err != nil {
		return rec, notFound(err)
	}
	rec.Data = RawJSON(data)
	rec.CreatedAt, rec.UpdatedAt = Time(created), Time(updated)
	return rec, nil
}

func scanEvent(r Row) (store.Event, error) {
	var e store.Event
	var at int64
	var data sql.NullString
	err := r.Scan(&e.ID, &at, &e.AccountID, &e.JobID, &e.UnitID, &e.WorkerID, &e.Type, &data)
	if err != nil {
		return e, notFound(err)
	}
	e.At = Time(at)
	e.Data = RawJSON(data)
	return e, nil
}

// all returns a function that scans every row of a query's result with scan; it takes the query's two
// results directly: all(scanJob)(q.Query(ctx, ...)).
func all[T any](scan func(Row) (T, error)) func(Rows, error) ([]T, error) {
	return func(rows Rows, err error) ([]T, error) {
		if err != nil {
			return nil, err
		}
		var out []T
		if err := each(rows, scan, func(v T) { out = append(out, v) }); err != nil {
			return nil, err
		}
		return out, nil
	}
}

// each scans every row and hands it to fn, for callers that sort rows as they come instead of
// collecting them first.
func each[T any](rows Rows, scan func(Row) (T, error), fn func(T)) error {
	defer rows.Close()
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return err
		}
		fn(v)
	}
	return rows.Err()
}

// scanInt64 reads a single int64 column.
func scanInt64(r Row) (int64, error) {
	var v int64
	err := r.Scan(&v)
	return v, err
}

// wrap adds context to err, leaving nil alone.
func wrap(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf(format+": %w", append(args, err)...)
}
