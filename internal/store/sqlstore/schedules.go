package sqlstore

import (
	"context"
	"time"

	"taskcenter/internal/store"
)

func (b *Base) CreateSchedule(ctx context.Context, s store.Schedule, now time.Time) (store.Schedule, error) {
	out, err := scanSchedule(b.w.QueryRow(ctx, `INSERT INTO schedules (account_id, name, cron, timezone, enabled,
		template, start_at, end_at, next_run, last_run, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11) RETURNING `+scheduleCols,
		s.AccountID, s.Name, s.Cron, s.Timezone, s.Enabled, JSON(s.Template), MSPtr(s.StartAt), MSPtr(s.EndAt),
		MSPtr(s.NextRun), MSPtr(s.LastRun), MS(now)))
	return out, wrap(err, "create schedule %q", s.Name)
}

func (b *Base) GetSchedule(ctx context.Context, id int64) (store.Schedule, error) {
	s, err := scanSchedule(b.r.QueryRow(ctx, `SELECT `+scheduleCols+` FROM schedules WHERE id = $1`, id))
	return s, wrap(err, "get schedule %d", id)
}

func (b *Base) ListSchedules(ctx context.Context, accountID int64) ([]store.Schedule, error) {
	var ss []store.Schedule
	var err error
	if accountID == 0 {
		ss, err = all(scanSchedule)(b.r.Query(ctx, `SELECT `+scheduleCols+` FROM schedules ORDER BY id`))
	} else {
		ss, err = all(scanSchedule)(b.r.Query(ctx, `SELECT `+scheduleCols+` FROM schedules WHERE account_id = $1
			ORDER BY id`, accountID))
	}
	return ss, wrap(err, "list schedules")
}

// UpdateSchedule writes every field but the account and creation time.
func (b *Base) UpdateSchedule(ctx context.Context, s store.Schedule, now time.Time) error {
	n, err := b.w.Exec(ctx, `UPDATE schedules SET name = $2, cron = $3, timezone = $4, enabled = $5, template = $6,
		start_at = $7, end_at = $8, next_run = $9, last_run = $10, updated_at = $11 WHERE id = $1`,
		s.ID, s.Name, s.Cron, s.Timezone, s.Enabled, JSON(s.Template), MSPtr(s.StartAt), MSPtr(s.EndAt),
		MSPtr(s.NextRun), MSPtr(s.LastRun), MS(now))
	if err == nil && n == 0 {
		err = store.ErrNotFound
	}
	return wrap(err, "update schedule %d", s.ID)
}

func (b *Base) DeleteSchedule(ctx context.Context, id int64) error {
	n, err := b.w.Exec(ctx, `DELETE FROM schedules WHERE id = $1`, id)
	if err == nil && n == 0 {
		err = store.ErrNotFound
	}
	return wrap(err, "delete schedule %d", id)
}

func (b *Base) DueSchedules(ctx context.Context, now time.Time, limit int) ([]store.Schedule, error) {
	a := Args{Vals: []any{MS(now)}}
	ss, err := all(scanSchedule)(b.r.Query(ctx, `SELECT `+scheduleCols+` FROM schedules
		WHERE enabled AND next_run IS NOT NULL AND next_run <= $1 ORDER BY next_run, id`+limitOffset(&a, limit, 0),
		a.Vals...))
	return ss, wrap(err, "due schedules")
}

// AdvanceSchedule is a compare-and-set on NextRun, so only one process fires each run.
func (b *Base) AdvanceSchedule(ctx context.Context, id int64, expected, lastRun time.Time, next *time.Time) (bool, error) {
	n, err := b.w.Exec(ctx, `UPDATE schedules SET last_run = $3, next_run = $4, updated_at = $3
		WHERE id = $1 AND next_run = $2`, id, MS(expected), MS(lastRun), MSPtr(next))
	return n == 1, wrap(err, "advance schedule %d", id)
}
