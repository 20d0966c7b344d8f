package storetest

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"taskcenter/internal/store"
)

// testSetUnitSpec: a waiting or running unit takes a new spec (a running one keeps its lease), a held
// unit is made ready by a new RunAfter, an ended unit is stale, an absent one not found; a requeued
// unit keeps the outputs its lost holder uploaded.
func testSetUnitSpec(t *testing.T, s store.Store) {
	ctx := context.Background()
	far := at(1000 * time.Hour)
	us := mkUnits(2, "rec")
	us[0].RunAfter, us[1].RunAfter = far, far
	j := job(t, s, store.Job{}, us)
	units := unitsOf(t, s, j.ID)

	eq(t, "held unit not leased", len(lease(t, s, store.LeaseRequest{WorkerID: 1, Capabilities: []string{"rec"}})), 0)
	u, err := s.SetUnitSpec(ctx, units[0].ID, json.RawMessage(`{"v":1}`), ptr(at(0)), at(time.Second))
	must(t, err)
	jsonEq(t, "spec", u.Spec, `{"v":1}`)
	eq(t, "run after", u.RunAfter.UnixMilli(), at(0).UnixMilli())
	got := lease(t, s, store.LeaseRequest{WorkerID: 1, Capabilities: []string{"rec"}, Now: at(2 * time.Second)})
	eq(t, "released unit leased", len(got), 1)
	eq(t, "the released one", got[0].ID, units[0].ID)

	// Running: the spec changes, the lease and run_after stay.
	u, err = s.SetUnitSpec(ctx, got[0].ID, json.RawMessage(`{"v":2}`), ptr(far), at(3*time.Second))
	must(t, err)
	eq(t, "still running", u.Status, store.UnitRunning)
	eq(t, "same epoch", u.Epoch, got[0].Epoch)
	eq(t, "run_after of a running unit kept", u.RunAfter.UnixMilli(), at(0).UnixMilli())
	jsonEq(t, "spec", u.Spec, `{"v":2}`)

	// Outputs uploaded, then the lease expires: the requeued unit keeps them.
	must(t, s.SetUnitOutputs(ctx, store.ReportRef{UnitID: u.ID, Epoch: u.Epoch, WorkerID: 1}, json.RawMessage(`{"segment.000000":{"hash":"h0","size":1}}`), at(4*time.Second)))
	exp, err := s.ExpireLeases(ctx, at(time.Hour), at(time.Hour), 10)
	must(t, err)
	eq(t, "expired", len(exp), 1)
	back, err := s.GetUnit(ctx, u.ID)
	must(t, err)
	eq(t, "requeued", back.Status, store.UnitQueued)
	jsonEq(t, "outputs kept", back.Outputs, `{"segment.000000":{"hash":"h0","size":1}}`)
	jsonEq(t, "spec kept", back.Spec, `{"v":2}`)

	// Ended: stale; absent: not found.
	again := lease(t, s, store.LeaseRequest{WorkerID: 2, Capabilities: []string{"rec"}, Now: at(2 * time.Hour)})
	eq(t, "leased again", len(again), 1)
	complete(t, s, again[0])
	_, err = s.SetUnitSpec(ctx, u.ID, json.RawMessage(`{"v":3}`), nil, at(3*time.Hour))
	mustIs(t, err, store.ErrStale)
	_, err = s.SetUnitSpec(ctx, 987654, json.RawMessage(`{}`), nil, at(3*time.Hour))
	mustIs(t, err, store.ErrNotFound)
}
