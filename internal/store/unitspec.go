package store

import (
	"context"
	"encoding/json"
	"time"
)

// UnitSpecs changes what a unit is asked to do while it waits or runs: a recorder's capture unit
// whose layout, subtitles, pause and stop arrive after it was leased.
type UnitSpecs interface {
	// SetUnitSpec replaces the spec of a unit that has not ended and returns the unit after the change.
	// A non-nil runAfter also moves when a queued (or blocked or paused) unit becomes ready; a running
	// unit's lease is left alone either way. An ended unit is ErrStale, an absent one ErrNotFound.
	SetUnitSpec(ctx context.Context, unitID int64, spec json.RawMessage, runAfter *time.Time, now time.Time) (Unit, error)
}
