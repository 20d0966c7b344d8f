package sqlutil

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"taskcenter/internal/store"
)

// RegisterWorker upserts on the account and name, so that a name never crosses accounts; an existing
// worker keeps its id and creation time and moves to its next incarnation.
func (b *Base) RegisterWorker(ctx context.Context, w store.Worker, now time.Time) (store.Worker, error) {
	out, err := scanWorker(b.w.QueryRow(ctx, `INSERT INTO workers (account_id, name, kind, capabilities, tags, info,
		status, last_heartbeat, created_at, incarnation) VALUES ($1, $2, $3, $4, $5, $6, 'idle', $7, $7, 1)
		ON CONFLICT (account_id, name) DO UPDATE SET kind = excluded.kind, capabilities = excluded.capabilities,
		tags = excluded.tags, info = excluded.info, status = 'idle', last_heartbeat = excluded.last_heartbeat,
		incarnation = workers.incarnation + 1
		RETURNING `+workerCols,
		w.AccountID, w.Name, w.Kind, List(w.Capabilities), List(w.Tags), JSON(w.Info), MS(now)))
	return out, wrap(err, "register worker %q", w.Name)
}

func (b *Base) GetWorker(ctx context.Context, id int64) (store.Worker, error) {
	w, err := scanWorker(b.r.QueryRow(ctx, `SELECT `+workerCols+` FROM workers WHERE id = $1`, id))
	return w, wrap(err, "get worker %d", id)
}

// ListWorkers lists every worker when kind is empty.
func (b *Base) ListWorkers(ctx context.Context, kind string) ([]store.Worker, error) {
	var ws []store.Worker
	var err error
	if kind == "" {
		ws, err = all(scanWorker)(b.r.Query(ctx, `SELECT `+workerCols+` FROM workers ORDER BY id`))
	} else {
		ws, err = all(scanWorker)(b.r.Query(ctx, `SELECT `+workerCols+` FROM workers WHERE kind = $1 ORDER BY id`, kind))
	}
	return ws, wrap(err, "list workers")
}

func (b *Base) TouchWorker(ctx context.Context, id int64, status store.WorkerStatus, now time.Time) error {
	n, err := b.w.Exec(ctx, `UPDATE workers SET status = $2, last_heartbeat = $3 WHERE id = $1`, id, string(status), MS(now))
	if err == nil && n == 0 {
		err = store.ErrNotFound
	}
	return wrap(err, "touch worker %d", id)
}

// UpdateWorkerInfo leaves Info or Tags alone when given nil.
func (b *Base) UpdateWorkerInfo(ctx context.Context, id int64, info json.RawMessage, tags []string) error {
	a := Args{Vals: []any{id}}
	sets := []string{"id = id"}
	if info != nil {
		sets = append(sets, "info = "+a.Add(JSON(info)))
	}
	if tags != nil {
		sets = append(sets, "tags = "+a.Add(List(tags)))
	}
	n, err := b.w.Exec(ctx, `UPDATE workers SET `+strings.Join(sets, ", ")+` WHERE id = $1`, a.Vals...)
	if err == nil && n == 0 {
		err = store.ErrNotFound
	}
	return wrap(err, "update worker %d", id)
}

func (b *Base) SetWorkerLicence(ctx context.Context, id int64, licence string, expires *time.Time) error {
	if licence == "" {
		expires = nil
	}
	n, err := b.w.Exec(ctx, `UPDATE workers SET licence = $2, licence_expires = $3 WHERE id = $1`, id, licence, MSPtr(expires))
	if err == nil && n == 0 {
		err = store.ErrNotFound
	}
	return wrap(err, "set licence of worker %d", id)
}

func (b *Base) MarkOffline(ctx context.Context, cutoff time.Time) ([]int64, error) {
	ids, err := all(scanInt64)(b.w.Query(ctx, `UPDATE workers SET status = 'offline'
		WHERE status <> 'offline' AND last_heartbeat < $1 RETURNING id`, MS(cutoff)))
	return ids, wrap(err, "mark workers offline")
}

func (b *Base) DeleteWorker(ctx context.Context, id int64) error {
	n, err := b.w.Exec(ctx, `DELETE FROM workers WHERE id = $1`, id)
	if err == nil && n == 0 {
		err = store.ErrNotFound
	}
	return wrap(err, "delete worker %d", id)
}

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

func (b *Base) PutRecord(ctx context.Context, r store.Record, now time.Time) (store.Record, error) {
	var out store.Record
	var err error
	if r.ID == 0 {
		out, err = scanRecord(b.w.QueryRow(ctx, `INSERT INTO records (account_id, kind, key, parent_id, data,
			created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING `+recordCols,
			r.AccountID, r.Kind, r.Key, r.ParentID, JSON(r.Data), MS(now)))
	} else {
		out, err = scanRecord(b.w.QueryRow(ctx, `UPDATE records SET account_id = $2, kind = $3, key = $4,
			parent_id = $5, data = $6, updated_at = $7 WHERE id = $1 RETURNING `+recordCols,
			r.ID, r.AccountID, r.Kind, r.Key, r.ParentID, JSON(r.Data), MS(now)))
	}
	return out, wrap(b.conflict(err), "put %s record %q", r.Kind, r.Key)
}

func (b *Base) GetRecord(ctx context.Context, id int64) (store.Record, error) {
	r, err := scanRecord(b.r.QueryRow(ctx, `SELECT `+recordCols+` FROM records WHERE id = $1`, id))
	return r, wrap(err, "get record %d", id)
}

func (b *Base) GetRecordByKey(ctx context.Context, accountID int64, kind, key string) (store.Record, error) {
	r, err := scanRecord(b.r.QueryRow(ctx, `SELECT `+recordCols+` FROM records
		WHERE account_id = $1 AND kind = $2 AND key = $3 ORDER BY id LIMIT 1`, accountID, kind, key))
	return r, wrap(err, "get %s record %q", kind, key)
}

// ListRecords orders by id. ParentID filters unless -1 (0 selects top-level records).
func (b *Base) ListRecords(ctx context.Context, f store.RecordFilter) ([]store.Record, int, error) {
	var a Args
	var w []string
	if len(f.AccountIDs) > 0 {
		w = append(w, b.D.InInt64s(&a, "account_id", f.AccountIDs, false))
	}
	if f.Kind != "" {
		w = append(w, "kind = "+a.Add(f.Kind))
	}
	if f.ParentID != -1 {
		w = append(w, "parent_id = "+a.Add(f.ParentID))
	}
	if f.KeyPrefix != "" {
		w = append(w, fmt.Sprintf("SUBSTR(key, 1, %d) = %s", len([]rune(f.KeyPrefix)), a.Add(f.KeyPrefix)))
	}
	where := ""
	if len(w) > 0 {
		where = " WHERE " + strings.Join(w, " AND ")
	}
	var total int
	if err := b.r.QueryRow(ctx, `SELECT COUNT(*) FROM records`+where, a.Vals...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count records: %w", err)
	}
	page := limitOffset(&a, f.Limit, f.Offset)
	rs, err := all(scanRecord)(b.r.Query(ctx, `SELECT `+recordCols+` FROM records`+where+` ORDER BY id`+page, a.Vals...))
	if err != nil {
		return nil, 0, fmt.Errorf("list records: %w", err)
	}
	return rs, total, nil
}

func (b *Base) DeleteRecord(ctx context.Context, id int64) error {
	n, err := b.w.Exec(ctx, `DELETE FROM records WHERE id = $1`, id)
	if err == nil && n == 0 {
		err = store.ErrNotFound
	}
	return wrap(err, "delete record %d", id)
}

var eventBatchCols = []BatchCol{{"at", Int}, {"account_id", Int}, {"job_id", Int}, {"unit_id", Int},
	{"worker_id", Int}, {"type", Text}, {"data", Text}}

// AppendEvents inserts the batch in one statement per chunk.
func (b *Base) AppendEvents(ctx context.Context, es []store.Event) error {
	for start := 0; start < len(es); start += insertChunk {
		chunk := es[start:min(start+insertChunk, len(es))]
		var a Args
		src := b.D.Batch(&a, "c", eventBatchCols, len(chunk), func(r, c int) any {
			e := &chunk[r]
			switch c {
			case 0:
				return MS(e.At)
			case 1:
				return e.AccountID
			case 2:
				return e.JobID
			case 3:
				return e.UnitID
			case 4:
				return e.WorkerID
			case 5:
				return e.Type
			default:
				return JSON(e.Data)
			}
		})
		if _, err := b.w.Exec(ctx, `INSERT INTO events (at, account_id, job_id, unit_id, worker_id, type, data)
			SELECT c.at, c.account_id, c.job_id, c.unit_id, c.worker_id, c.type, c.data FROM `+src+` ORDER BY c.ord`,
			a.Vals...); err != nil {
			return fmt.Errorf("append events: %w", err)
		}
	}
	return nil
}

func (b *Base) ListEvents(ctx context.Context, f store.EventFilter) ([]store.Event, error) {
	var a Args
	w := []string{"id > " + a.Add(f.AfterID)}
	if f.AccountID != 0 {
		w = append(w, "account_id = "+a.Add(f.AccountID))
	}
	if f.JobID != 0 {
		w = append(w, "job_id = "+a.Add(f.JobID))
	}
	es, err := all(scanEvent)(b.r.Query(ctx, `SELECT `+eventCols+` FROM events WHERE `+strings.Join(w, " AND ")+
		` ORDER BY id`+limitOffset(&a, f.Limit, 0), a.Vals...))
	return es, wrap(err, "list events")
}

// TryLead is one upsert: it takes the row when free, expired or already ours.
func (b *Base) TryLead(ctx context.Context, name, holder string, ttl time.Duration, now time.Time) (bool, error) {
	n, err := b.w.Exec(ctx, `INSERT INTO leaders (name, holder, expires_at) VALUES ($1, $2, $3)
		ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
		WHERE leaders.expires_at <= $4 OR leaders.holder = excluded.holder`, name, holder, MS(now.Add(ttl)), MS(now))
	return n == 1, wrap(err, "lead %q", name)
}

func (b *Base) Resign(ctx context.Context, name, holder string) error {
	_, err := b.w.Exec(ctx, `DELETE FROM leaders WHERE name = $1 AND holder = $2`, name, holder)
	return wrap(err, "resign %q", name)
}
