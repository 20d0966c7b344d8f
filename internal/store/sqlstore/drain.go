package sqlstore

import (
	"context"
	"time"

	"taskcenter/internal/store"
)

func (b *Base) SetWorkerDrained(ctx context.Context, id int64, at *time.Time) error {
	n, err := b.w.Exec(ctx, `UPDATE workers SET drained_at = $2 WHERE id = $1`, id, MSPtr(at))
	if err == nil && n == 0 {
		err = store.ErrNotFound
	}
	return wrap(err, "set drain of worker %d", id)
}
