package engine_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"taskcenter/internal/engine"
	"taskcenter/internal/store"
	"taskcenter/internal/store/storetest/drivers"
)

// TestChargeOrder checks that a charge takes coupon, then balance, then credit, and reports the rest as
// unpaid, on both drivers.
func TestChargeOrder(t *testing.T) {
	tests := []struct {
		name   string
		amount int64
		want   engine.Payment
	}{
		{"coupon covers it", 4, engine.Payment{CouponMilli: 4}},
		{"coupon then balance", 7, engine.Payment{CouponMilli: 5, BalanceMilli: 2}},
		{"all three", 9, engine.Payment{CouponMilli: 5, BalanceMilli: 3, CreditMilli: 1}},
		{"arrears", 12, engine.Payment{CouponMilli: 5, BalanceMilli: 3, CreditMilli: 2, UnpaidMilli: 2}},
		{"nothing to charge", 0, engine.Payment{}},
	}
	drivers.Each(t, func(t *testing.T, open func(testing.TB) store.Store) {
		ctx := context.Background()
		st := open(t)
		e := engine.New(st, engine.Config{Holder: "t"}, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				a, err := st.CreateAccount(ctx, store.Account{Name: tc.name, Role: store.RoleUser})
				if err != nil {
					t.Fatal(err)
				}
				if _, _, err := st.AdjustFunds(ctx, a.ID, store.FundsDelta{CouponMilli: 5, BalanceMilli: 3, CreditMilli: 2}, false, time.Now()); err != nil {
					t.Fatal(err)
				}
				p, err := e.Charge(ctx, a.ID, tc.amount)
				if err != nil {
					t.Fatal(err)
				}
				if p != tc.want || p.Paid() != (tc.want.UnpaidMilli == 0) {
					t.Fatalf("payment %+v, want %+v", p, tc.want)
				}
				after, err := st.GetAccount(ctx, a.ID)
				if err != nil {
					t.Fatal(err)
				}
				if after.CouponMilli != 5-p.CouponMilli || after.BalanceMilli != 3-p.BalanceMilli || after.CreditMilli != 2-p.CreditMilli {
					t.Fatalf("account after %+v: coupon %d balance %d credit %d", p, after.CouponMilli, after.BalanceMilli, after.CreditMilli)
				}
			})
		}
	})
}

// TestCompletionsAreChargedOnce prices completed units through a kind's hooks: each accepted completion
// is charged once, a stale one not at all, the ledger and the job's Paid totals say how it was paid, and
// a job whose payer runs out of money is paused for arrears.
func TestCompletionsAreChargedOnce(t *testing.T) {
	drivers.Each(t, func(t *testing.T, open func(testing.TB) store.Store) {
		ctx := context.Background()
		st := open(t)
		e := engine.New(st, engine.Config{Holder: "t"}, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
		e.RegisterKind("metered", engine.KindHooks{
			UnitCost: func(_ context.Context, j store.Job, _ store.Unit, seconds float64) (int64, int64) {
				return j.AccountID, int64(seconds * 1000) // 1 per node-second
			},
		})
		a, err := st.CreateAccount(ctx, store.Account{Name: "payer", Role: store.RoleUser})
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := st.AdjustFunds(ctx, a.ID, store.FundsDelta{CouponMilli: 1000, BalanceMilli: 2500}, false, time.Now()); err != nil {
			t.Fatal(err)
		}
		units := make([]engine.UnitSpec, 4)
		for i := range units {
			units[i] = engine.UnitSpec{Capability: "meter"}
		}
		j, err := e.Submit(ctx, engine.JobSpec{AccountID: a.ID, Kind: "metered", Units: units})
		if err != nil {
			t.Fatal(err)
		}
		w, err := e.RegisterWorker(ctx, store.Worker{Name: "w", Kind: "test", Capabilities: []string{"meter"}})
		if err != nil {
			t.Fatal(err)
		}
		leased, err := e.Lease(ctx, w, 2, 0)
		if err != nil || len(leased) != 2 {
			t.Fatalf("lease: %d units, %v", len(leased), err)
		}
		errs, err := e.Complete(ctx, []engine.Completion{
			{UnitID: leased[0].ID, Epoch: leased[0].Epoch, WorkerID: w.ID, Seconds: 2},
			{UnitID: leased[1].ID, Epoch: leased[1].Epoch - 1, WorkerID: w.ID, Seconds: 50}, // stale: not charged
		})
		if err != nil || errs[0] != nil || errs[1] == nil {
			t.Fatalf("complete: %v %v", errs, err)
		}
		errs, err = e.Complete(ctx, []engine.Completion{{UnitID: leased[1].ID, Epoch: leased[1].Epoch, WorkerID: w.ID, Seconds: 3}})
		if err != nil || errs[0] != nil {
			t.Fatalf("complete: %v %v", errs, err)
		}
		want := []store.Split{{BalanceMilli: 1500, UnpaidMilli: 1500}, {CouponMilli: 1000, BalanceMilli: 1000}} // newest first
		lines, _, err := e.Ledger(ctx, a.ID, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(lines) != len(want) || lines[0].Split != want[0] || lines[1].Split != want[1] ||
			lines[0].UnitID != leased[1].ID || lines[1].UnitID != leased[0].ID || lines[0].JobID != j.ID {
			t.Fatalf("ledger %+v, want %+v", lines, want)
		}
		after, err := st.GetJob(ctx, j.ID)
		if err != nil {
			t.Fatal(err)
		}
		if after.CostMilli != 5000 || after.Status != store.JobPaused || engine.ReasonOf(after) != engine.PauseArrears {
			t.Fatalf("job after arrears: cost %d status %s reason %q", after.CostMilli, after.Status, after.PauseReason)
		}
		if paid := (store.Split{CouponMilli: 1000, BalanceMilli: 2500, UnpaidMilli: 1500}); after.Paid != paid {
			t.Fatalf("job paid %+v, want %+v", after.Paid, paid)
		}
	})
}

// TestCompletionNamingItsJob checks that a completion naming its job is priced by that job's kind: a
// unit of a kind without UnitCost is not charged, one of a priced kind is, when both kinds exist.
func TestCompletionNamingItsJob(t *testing.T) {
	drivers.Each(t, func(t *testing.T, open func(testing.TB) store.Store) {
		ctx := context.Background()
		st := open(t)
		e := engine.New(st, engine.Config{Holder: "t"}, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
		e.RegisterKind("metered", engine.KindHooks{
			UnitCost: func(_ context.Context, j store.Job, _ store.Unit, _ float64) (int64, int64) { return j.AccountID, 7 },
		})
		e.RegisterKind("free", engine.KindHooks{})
		a, err := st.CreateAccount(ctx, store.Account{Name: "payer", Role: store.RoleUser})
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := st.AdjustFunds(ctx, a.ID, store.FundsDelta{BalanceMilli: 100}, false, time.Now()); err != nil {
			t.Fatal(err)
		}
		w, err := e.RegisterWorker(ctx, store.Worker{Name: "w", Kind: "test", Capabilities: []string{"c"}})
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			kind        string
			wantCharged int
		}{{"free", 0}, {"metered", 1}} {
			j, err := e.Submit(ctx, engine.JobSpec{AccountID: a.ID, Kind: tc.kind, Units: []engine.UnitSpec{{Capability: "c"}}})
			if err != nil {
				t.Fatal(err)
			}
			u, err := e.LeaseJob(ctx, w.ID, j.ID, []string{"c"}, 1, 0)
			if err != nil || len(u) != 1 {
				t.Fatalf("%s: lease %d units, %v", tc.kind, len(u), err)
			}
			errs, err := e.Complete(ctx, []engine.Completion{{UnitID: u[0].ID, JobID: j.ID, Epoch: u[0].Epoch, WorkerID: w.ID, Seconds: 1}})
			if err != nil || errs[0] != nil {
				t.Fatalf("%s: complete %v %v", tc.kind, errs, err)
			}
			after, err := st.GetJob(ctx, j.ID)
			if err != nil {
				t.Fatal(err)
			}
			_, got, err := st.ListLedger(ctx, store.LedgerFilter{JobID: j.ID})
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.wantCharged || after.Status != store.JobSucceeded {
				t.Fatalf("%s: %d charges, job %s; want %d charges, succeeded", tc.kind, got, after.Status, tc.wantCharged)
			}
		}
	})
}
