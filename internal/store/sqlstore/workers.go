package sqlstore

import (
	"context"
	"encoding/json"
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

func (b *Base) DeleteGoneWorkers(ctx context.Context, kind string, cutoff time.Time) (int, error) {
	n, err := b.w.Exec(ctx, `DELETE FROM workers WHERE kind = $1 AND status = 'offline' AND last_heartbeat < $2
		AND NOT EXISTS (SELECT 1 FROM units u WHERE u.worker_id = workers.id AND u.status = 'running')`, kind, MS(cutoff))
	return int(n), wrap(err, "delete gone %s workers", kind)
}
