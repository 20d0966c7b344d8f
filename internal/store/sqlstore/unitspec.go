package sqlstore

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"taskcenter/internal/store"
)

// SetUnitSpec reads the unit after the change in the same statement; a unit that exists but has
// ended is told apart from one that does not exist by a second read.
func (b *Base) SetUnitSpec(ctx context.Context, unitID int64, spec json.RawMessage, runAfter *time.Time, now time.Time) (store.Unit, error) {
	var a Args
	idp, specp, nowp := a.Add(unitID), a.Add(JSON(spec)), a.Add(MS(now))
	set := "spec = " + specp + ", updated_at = " + nowp
	if runAfter != nil {
		set += ", run_after = CASE WHEN status = 'running' THEN run_after ELSE " + a.Add(MS(*runAfter)) + " END"
	}
	u, err := scanUnit(b.w.QueryRow(ctx, `UPDATE units SET `+set+` WHERE id = `+idp+
		` AND status IN ('blocked', 'queued', 'running', 'paused') RETURNING `+unitCols, a.Vals...))
	if errors.Is(err, store.ErrNotFound) {
		if _, gerr := b.GetUnit(ctx, unitID); gerr == nil {
			err = store.ErrStale
		} else {
			err = gerr
		}
	}
	return u, wrap(err, "set spec of unit %d", unitID)
}
