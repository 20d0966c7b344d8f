package sqlstore

import (
	"context"
	"fmt"
	"strings"

	"taskcenter/internal/store"
)

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
