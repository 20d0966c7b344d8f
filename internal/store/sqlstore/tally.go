package sqlstore

import (
	"context"

	"taskcenter/internal/store"
)

// TallyUnits counts units by their job's kind and their status (store.Tallies).
func (b *Base) TallyUnits(ctx context.Context, accountID int64) ([]store.UnitTally, error) {
	var a Args
	where := ` WHERE NOT j.deleted`
	if accountID > 0 {
		where += ` AND u.account_id = ` + a.Add(accountID)
	}
	out, err := all(func(r Row) (store.UnitTally, error) {
		var t store.UnitTally
		err := r.Scan(&t.Kind, &t.Status, &t.Count)
		return t, err
	})(b.r.Query(ctx, `SELECT j.kind, u.status, COUNT(*) FROM units u JOIN jobs j ON j.id = u.job_id`+where+`
		GROUP BY j.kind, u.status ORDER BY j.kind, u.status`, a.Vals...))
	return out, wrap(err, "tally units")
}

// LastEventID is the highest event id, 0 when there is none (store.LastEventIDer).
func (b *Base) LastEventID(ctx context.Context) (int64, error) {
	var id int64
	err := b.r.QueryRow(ctx, `SELECT COALESCE(MAX(id), 0) FROM events`).Scan(&id)
	return id, wrap(err, "last event id")
}
