package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"taskcenter/internal/store"
)

// HeldUntilReleased is the RunAfter of a unit that must not be leased until a facade says so
// (UnitSpecChange.Release): a recording's capture before its first layout, its finalize until the
// capture has ended. Such a unit keeps its job unfinished while it waits.
var HeldUntilReleased = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)

// UnitSpecChange replaces what a unit that has not ended is asked to do.
type UnitSpecChange struct {
	UnitID int64
	Spec   json.RawMessage
	// Release makes a held unit ready now (a running unit is left as it is).
	Release bool
}

func (c UnitSpecChange) validate() error {
	if c.UnitID <= 0 {
		return invalid("unit id is required")
	}
	if len(c.Spec) == 0 || !json.Valid(c.Spec) {
		return invalid("a unit's spec must be a JSON document")
	}
	return nil
}

// UpdateUnitSpec replaces the spec of a unit that waits or runs: a running holder reads the new spec
// through the agent protocol (agentapi.PathUnitSpec). An ended unit is store.ErrStale.
func (e *Engine) UpdateUnitSpec(ctx context.Context, c UnitSpecChange) (store.Unit, error) {
	u, err := e.updateUnitSpec(ctx, e.store, c)
	if err == nil && c.Release {
		e.notify(ctx)
	}
	return u, err
}

func (e *Engine) updateUnitSpec(ctx context.Context, st store.Store, c UnitSpecChange) (store.Unit, error) {
	if err := c.validate(); err != nil {
		return store.Unit{}, err
	}
	now := e.now()
	var runAfter *time.Time
	if c.Release {
		runAfter = &now
	}
	u, err := st.SetUnitSpec(ctx, c.UnitID, c.Spec, runAfter, now)
	if err != nil {
		return store.Unit{}, fmt.Errorf("update spec of unit %d: %w", c.UnitID, err)
	}
	return u, nil
}

// UpdateUnitSpec is Engine.UpdateUnitSpec inside the transaction (workers are woken after the commit).
func (t Tx) UpdateUnitSpec(ctx context.Context, c UnitSpecChange) (store.Unit, error) {
	return t.e.updateUnitSpec(ctx, t.tx, c)
}

// Change runs fn in one transaction, so that a facade's change of a job's document and of its units'
// specs lands whole or not at all, then wakes waiting workers.
func (e *Engine) Change(ctx context.Context, fn func(tx Tx) error) error {
	err := e.store.InTx(ctx, func(tx store.Store) error { return fn(Tx{e: e, tx: tx}) })
	if err != nil {
		return err
	}
	e.notify(ctx)
	return nil
}
