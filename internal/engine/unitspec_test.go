package engine_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"taskcenter/internal/engine"
	"taskcenter/internal/store"
)

// TestUpdateUnitSpec: a held unit waits until a spec change releases it; a running unit's spec
// changes under its lease; a holder that dies leaves its outputs to the next one; an ended unit is
// stale; Change writes a job's document and a unit's spec together or not at all.
func TestUpdateUnitSpec(t *testing.T) {
	forEachClocked(t, engine.Config{LeaseFor: 30 * time.Second}, func(t *testing.T, c clocked) {
		ctx := context.Background()
		held := engine.HeldUntilReleased
		job, err := c.e.Submit(ctx, engine.JobSpec{AccountID: 1, Kind: "k", MaxAttempts: 5,
			Units: []engine.UnitSpec{{Capability: "rec", RunAfter: &held, Spec: json.RawMessage(`{"v":0}`)}}})
		must(t, err)
		unit := onlyUnit(t, c.st, job.ID)
		w1, err := c.e.RegisterWorker(ctx, store.Worker{Name: "w1", Kind: "recorder", Capabilities: []string{"rec"}})
		must(t, err)
		if us, err := c.e.Lease(ctx, w1, 1, 0); err != nil || len(us) != 0 {
			t.Fatalf("a held unit was leased: %v, %d units", err, len(us))
		}

		for _, bad := range []engine.UnitSpecChange{{UnitID: unit.ID}, {UnitID: unit.ID, Spec: json.RawMessage(`{`)}, {Spec: json.RawMessage(`{}`)}} {
			if _, err := c.e.UpdateUnitSpec(ctx, bad); !errors.Is(err, engine.ErrInvalid) {
				t.Fatalf("change %+v: %v, want invalid", bad, err)
			}
		}
		if _, err := c.e.UpdateUnitSpec(ctx, engine.UnitSpecChange{UnitID: unit.ID, Spec: json.RawMessage(`{"v":1}`), Release: true}); err != nil {
			t.Fatal(err)
		}
		us, err := c.e.Lease(ctx, w1, 1, 0)
		if err != nil || len(us) != 1 || string(us[0].Spec) != `{"v":1}` {
			t.Fatalf("released unit: %v, %+v", err, us)
		}
		u, err := c.e.UpdateUnitSpec(ctx, engine.UnitSpecChange{UnitID: unit.ID, Spec: json.RawMessage(`{"v":2}`)})
		must(t, err)
		if u.Status != store.UnitRunning || u.Epoch != us[0].Epoch || string(u.Spec) != `{"v":2}` {
			t.Fatalf("running unit after a change: %s epoch %d spec %s", u.Status, u.Epoch, u.Spec)
		}
		must(t, c.e.SetOutputs(ctx, store.ReportRef{UnitID: u.ID, Epoch: u.Epoch, WorkerID: w1.ID}, json.RawMessage(`{"segment.000000":{"hash":"h","size":3}}`)))

		// The holder dies: its lease runs out, another worker takes the unit with what was uploaded.
		c.clk.Advance(31 * time.Second)
		must(t, c.e.RunService(ctx, "rescuer"))
		w2, err := c.e.RegisterWorker(ctx, store.Worker{Name: "w2", Kind: "recorder", Capabilities: []string{"rec"}})
		must(t, err)
		us, err = c.e.Lease(ctx, w2, 1, 0)
		if err != nil || len(us) != 1 {
			t.Fatalf("lease after expiry: %v, %d units", err, len(us))
		}
		if got := onlyUnit(t, c.st, job.ID); string(got.Outputs) == "" || string(got.Spec) != `{"v":2}` {
			t.Fatalf("requeued unit lost its outputs or spec: %s %s", got.Outputs, got.Spec)
		}

		// Change: one failure undoes the job's document too.
		boom := errors.New("boom")
		err = c.e.Change(ctx, func(tx engine.Tx) error {
			if _, err := tx.UpdateJob(ctx, job.ID, engine.JobChange{Spec: json.RawMessage(`{"doc":1}`)}); err != nil {
				return err
			}
			if _, err := tx.UpdateUnitSpec(ctx, engine.UnitSpecChange{UnitID: unit.ID, Spec: json.RawMessage(`{"v":3}`)}); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("change: %v", err)
		}
		j, err := c.st.GetJob(ctx, job.ID)
		must(t, err)
		if string(j.Spec) == `{"doc":1}` || string(onlyUnit(t, c.st, job.ID).Spec) != `{"v":2}` {
			t.Fatalf("a failed change was half written: job %s unit %s", j.Spec, onlyUnit(t, c.st, job.ID).Spec)
		}

		errs, err := c.e.Complete(ctx, []engine.Completion{{UnitID: us[0].ID, Epoch: us[0].Epoch, WorkerID: w2.ID}})
		if err != nil || errs[0] != nil {
			t.Fatalf("complete: %v %v", err, errs)
		}
		if _, err := c.e.UpdateUnitSpec(ctx, engine.UnitSpecChange{UnitID: unit.ID, Spec: json.RawMessage(`{"v":4}`)}); !errors.Is(err, store.ErrStale) {
			t.Fatalf("change of an ended unit: %v, want stale", err)
		}
	})
}
