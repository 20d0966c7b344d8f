package engine_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"taskcenter/internal/engine"
	"taskcenter/internal/store"
	"taskcenter/internal/store/storetest/drivers"
)

// errCrash stands for the process dying at a step of the charge: the step's transaction never
// commits.
var errCrash = errors.New("crash")

// crashingStore fails the first call of the method named in crashAt once armed, inside transactions
// too: what a server killed at that step of a completion leaves behind.
type crashingStore struct {
	store.Store
	crashAt string
	armed   *atomic.Bool
}

func (s crashingStore) crash(method string) error {
	if s.crashAt == method && s.armed.CompareAndSwap(true, false) {
		return errCrash
	}
	return nil
}

func (s crashingStore) InTx(ctx context.Context, fn func(tx store.Store) error) error {
	return s.Store.InTx(ctx, func(tx store.Store) error {
		return fn(crashingStore{Store: tx, crashAt: s.crashAt, armed: s.armed})
	})
}

func (s crashingStore) AdjustFunds(ctx context.Context, id int64, d store.FundsDelta, guard bool, now time.Time) (store.Account, bool, error) {
	if err := s.crash("AdjustFunds"); err != nil {
		return store.Account{}, false, err
	}
	return s.Store.AdjustFunds(ctx, id, d, guard, now)
}

func (s crashingStore) PatchJob(ctx context.Context, id int64, p store.JobPatch, now time.Time) (store.Job, error) {
	if p.AddCostMilli != 0 {
		if err := s.crash("PatchJob"); err != nil {
			return store.Job{}, err
		}
	}
	return s.Store.PatchJob(ctx, id, p, now)
}

func (s crashingStore) AppendLedger(ctx context.Context, lines []store.LedgerLine) error {
	if err := s.crash("AppendLedger"); err != nil {
		return err
	}
	return s.Store.AppendLedger(ctx, lines)
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// meteredEngine registers a kind "metered" that costs 1 per node-second, paid by the job's account,
// and makes an account holding funds.
func meteredEngine(t *testing.T, st store.Store, funds store.FundsDelta) (*engine.Engine, store.Account) {
	t.Helper()
	e := engine.New(st, engine.Config{Holder: "t"}, quietLog(), nil)
	e.RegisterKind("metered", engine.KindHooks{
		UnitCost: func(_ context.Context, j store.Job, _ store.Unit, seconds float64) (int64, int64) {
			return j.AccountID, int64(seconds * 1000)
		},
	})
	a, err := st.CreateAccount(context.Background(), store.Account{Name: "payer", Role: store.RoleUser})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := st.AdjustFunds(context.Background(), a.ID, funds, false, time.Now()); err != nil {
		t.Fatal(err)
	}
	return e, a
}

// submitLeased submits a metered job of n units and leases them all.
func submitLeased(t *testing.T, e *engine.Engine, accountID int64, n int) (store.Job, store.Worker, []store.Unit) {
	t.Helper()
	ctx := context.Background()
	units := make([]engine.UnitSpec, n)
	for i := range units {
		units[i] = engine.UnitSpec{Capability: "meter"}
	}
	j, err := e.Submit(ctx, engine.JobSpec{AccountID: accountID, Kind: "metered", Units: units})
	if err != nil {
		t.Fatal(err)
	}
	w, err := e.RegisterWorker(ctx, store.Worker{Name: "w", Kind: "test", Capabilities: []string{"meter"}})
	if err != nil {
		t.Fatal(err)
	}
	leased, err := e.Lease(ctx, w, n, 0)
	if err != nil || len(leased) != n {
		t.Fatalf("lease: %d units, %v", len(leased), err)
	}
	return j, w, leased
}

// TestCrashBetweenCompletionAndCharge: a server that dies at any step of charging a batch of
// completions leaves the units running and nothing charged; the agent's repeated report (its outbox)
// then completes and charges each unit exactly once, and a third report changes nothing.
func TestCrashBetweenCompletionAndCharge(t *testing.T) {
	for _, step := range []string{"AdjustFunds", "PatchJob", "AppendLedger"} {
		t.Run(step, func(t *testing.T) {
			drivers.Each(t, func(t *testing.T, open func(testing.TB) store.Store) {
				ctx := context.Background()
				raw := open(t)
				armed := &atomic.Bool{}
				st := crashingStore{Store: raw, crashAt: step, armed: armed}
				e, a := meteredEngine(t, st, store.FundsDelta{BalanceMilli: 100_000})
				j, w, leased := submitLeased(t, e, a.ID, 3)
				report := make([]engine.Completion, len(leased))
				for i, u := range leased {
					report[i] = engine.Completion{UnitID: u.ID, Epoch: u.Epoch, WorkerID: w.ID, Seconds: float64(i + 1)}
				}

				armed.Store(true)
				if _, err := e.Complete(ctx, report); !errors.Is(err, errCrash) {
					t.Fatalf("complete with a crash at %s: %v", step, err)
				}
				units, _, err := raw.ListUnits(ctx, store.UnitFilter{JobID: j.ID})
				if err != nil {
					t.Fatal(err)
				}
				for _, u := range units {
					if u.Status != store.UnitRunning || u.CostMilli != 0 {
						t.Fatalf("unit %d after the crash: %s, cost %d; want running, uncharged", u.ID, u.Status, u.CostMilli)
					}
				}
				checkCharged(t, raw, a.ID, j.ID, 100_000, 0)

				for range 2 { // the outbox repeats the report; the second repeat is stale
					if _, err := e.Complete(ctx, report); err != nil {
						t.Fatal(err)
					}
					checkCharged(t, raw, a.ID, j.ID, 100_000-6000, 3)
				}
				after, err := raw.GetJob(ctx, j.ID)
				if err != nil {
					t.Fatal(err)
				}
				if after.Status != store.JobSucceeded || after.CostMilli != 6000 || after.Paid != (store.Split{BalanceMilli: 6000}) {
					t.Fatalf("job after the repeated report: %s, cost %d, paid %+v", after.Status, after.CostMilli, after.Paid)
				}
			})
		})
	}
}

// checkCharged checks the account's balance and that the job has wantLines charge lines, one per
// unit, none twice.
func checkCharged(t *testing.T, st store.Store, accountID, jobID, wantBalance int64, wantLines int) {
	t.Helper()
	ctx := context.Background()
	a, err := st.GetAccount(ctx, accountID)
	if err != nil {
		t.Fatal(err)
	}
	lines, _, err := st.ListLedger(ctx, store.LedgerFilter{JobID: jobID})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int64]bool{}
	for _, l := range lines {
		if l.Kind != store.LedgerCharge || seen[l.UnitID] {
			t.Fatalf("ledger of job %d: %+v", jobID, lines)
		}
		seen[l.UnitID] = true
	}
	if a.BalanceMilli != wantBalance || len(lines) != wantLines {
		t.Fatalf("balance %d with %d charge lines, want %d with %d", a.BalanceMilli, len(lines), wantBalance, wantLines)
	}
}

// TestChargeOnceAndRefundOnce: a keyed charge is taken once however often it is asked for, and its
// refund is given once however many callers ask at the same time; a debt it left is forgiven.
func TestChargeOnceAndRefundOnce(t *testing.T) {
	tests := []struct {
		name      string
		funds     store.FundsDelta
		amount    int64
		wantPaid  engine.Payment
		wantPause bool
	}{
		{"paid", store.FundsDelta{CouponMilli: 300, BalanceMilli: 10_000}, 1000, engine.Payment{CouponMilli: 300, BalanceMilli: 700}, false},
		{"left owing", store.FundsDelta{BalanceMilli: 400}, 1000, engine.Payment{BalanceMilli: 400, UnpaidMilli: 600}, true},
	}
	drivers.Each(t, func(t *testing.T, open func(testing.TB) store.Store) {
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				ctx := context.Background()
				st := open(t)
				e, a := meteredEngine(t, st, tc.funds)
				j, err := e.Submit(ctx, engine.JobSpec{AccountID: a.ID, Kind: "metered", Units: []engine.UnitSpec{{Capability: "meter"}}})
				if err != nil {
					t.Fatal(err)
				}
				c := engine.Charge{AccountID: a.ID, JobID: j.ID, Key: "ai:submit:42", AmountMilli: tc.amount, Note: "submit"}
				p, charged, err := e.ChargeOnce(ctx, c)
				if err != nil || !charged || p != tc.wantPaid {
					t.Fatalf("first charge: %+v %v %v, want %+v", p, charged, err, tc.wantPaid)
				}
				p, charged, err = e.ChargeOnce(ctx, c)
				if err != nil || charged || p != tc.wantPaid {
					t.Fatalf("second charge: %+v %v %v, want the first's payment, not charged", p, charged, err)
				}
				paused, err := st.GetJob(ctx, j.ID)
				if err != nil {
					t.Fatal(err)
				}
				if (engine.ReasonOf(paused) == engine.PauseArrears) != tc.wantPause {
					t.Fatalf("job after the charge: %s %q", paused.Status, paused.PauseReason)
				}

				const callers = 12
				var wg sync.WaitGroup
				var refunds atomic.Int32
				for range callers {
					wg.Go(func() {
						back, refunded, err := e.Refund(ctx, c.Key)
						if err != nil {
							t.Error(err)
						}
						if refunded {
							refunds.Add(1)
							if want := (engine.Payment{CouponMilli: tc.wantPaid.CouponMilli, BalanceMilli: tc.wantPaid.BalanceMilli}); back != want {
								t.Errorf("refund gave back %+v, want %+v", back, want)
							}
						}
					})
				}
				wg.Wait()
				if n := refunds.Load(); n != 1 {
					t.Fatalf("%d refunds, want 1", n)
				}
				after, err := st.GetAccount(ctx, a.ID)
				if err != nil {
					t.Fatal(err)
				}
				if after.CouponMilli != tc.funds.CouponMilli || after.BalanceMilli != tc.funds.BalanceMilli {
					t.Fatalf("account after the refund: coupon %d balance %d, want %+v", after.CouponMilli, after.BalanceMilli, tc.funds)
				}
				jr, err := st.GetJob(ctx, j.ID)
				if err != nil {
					t.Fatal(err)
				}
				if jr.CostMilli != 0 || !jr.Paid.Zero() {
					t.Fatalf("job after the refund: cost %d paid %+v", jr.CostMilli, jr.Paid)
				}
				lines, total, err := e.Ledger(ctx, a.ID, 10, 0)
				if err != nil {
					t.Fatal(err)
				}
				if total != 2 || lines[0].Kind != store.LedgerRefund || lines[1].Kind != store.LedgerCharge ||
					lines[0].Split != lines[1].Split.Neg() {
					t.Fatalf("ledger: %+v", lines)
				}
			})
		}
	})
}

// TestArrearsSettledByTheSweep: a job stopped for arrears stays stopped through a top-up short of its
// debt (which pays part of it), and the leader's sweep after a sufficient top-up settles the rest and
// resumes it; each top-up is a ledger line, and so is each settlement.
func TestArrearsSettledByTheSweep(t *testing.T) {
	drivers.Each(t, func(t *testing.T, open func(testing.TB) store.Store) {
		ctx := context.Background()
		st := open(t)
		e, a := meteredEngine(t, st, store.FundsDelta{BalanceMilli: 1000})
		j, w, leased := submitLeased(t, e, a.ID, 2)
		if _, err := e.Complete(ctx, []engine.Completion{{UnitID: leased[0].ID, Epoch: leased[0].Epoch, WorkerID: w.ID, Seconds: 3}}); err != nil {
			t.Fatal(err)
		}
		steps := []struct {
			name        string
			topUp       int64
			wantStatus  store.JobStatus
			wantUnpaid  int64
			wantBalance int64
		}{
			{"in arrears", 0, store.JobPaused, 2000, 0},
			{"short top-up", 500, store.JobPaused, 1500, 0},
			{"enough", 10_000, store.JobRunning, 0, 8500},
		}
		for _, s := range steps {
			if s.topUp > 0 {
				if _, ok, err := e.AdjustFunds(ctx, a.ID, store.FundsDelta{BalanceMilli: s.topUp}, "top-up"); err != nil || !ok {
					t.Fatalf("%s: top-up %v %v", s.name, ok, err)
				}
			}
			if err := e.Sweep(ctx); err != nil {
				t.Fatal(err)
			}
			got, err := st.GetJob(ctx, j.ID)
			if err != nil {
				t.Fatal(err)
			}
			acct, err := st.GetAccount(ctx, a.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.Status != s.wantStatus || got.Paid.UnpaidMilli != s.wantUnpaid || acct.BalanceMilli != s.wantBalance {
				t.Fatalf("%s: job %s (%q) owing %d, balance %d; want %s owing %d, balance %d", s.name, got.Status,
					got.PauseReason, got.Paid.UnpaidMilli, acct.BalanceMilli, s.wantStatus, s.wantUnpaid, s.wantBalance)
			}
		}
		lines, _, err := e.Ledger(ctx, a.ID, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		var kinds []store.LedgerKind
		for _, l := range lines {
			kinds = append(kinds, l.Kind)
		}
		want := []store.LedgerKind{store.LedgerSettle, store.LedgerTopUp, store.LedgerSettle, store.LedgerTopUp, store.LedgerCharge}
		if len(kinds) != len(want) {
			t.Fatalf("ledger kinds %v, want %v", kinds, want)
		}
		for i := range want {
			if kinds[i] != want[i] {
				t.Fatalf("ledger kinds %v, want %v", kinds, want)
			}
		}
		// A refused adjustment writes nothing.
		if _, ok, err := e.AdjustFunds(ctx, a.ID, store.FundsDelta{BalanceMilli: -1_000_000}, ""); err != nil || ok {
			t.Fatalf("overdrawing adjustment: %v %v", ok, err)
		}
		if _, total, _ := e.Ledger(ctx, a.ID, 0, 0); total != len(want) {
			t.Fatalf("%d ledger lines after a refused adjustment, want %d", total, len(want))
		}
	})
}

// TestChargeEach: charges written together in one transaction pay as ChargeOnce would one after the
// other (per account, the earlier charge takes the coupon first; what is not covered is owed), each
// has its ledger line, and a key charged before undoes the whole transaction.
func TestChargeEach(t *testing.T) {
	tests := []struct {
		name    string
		amounts []int64 // the first account's charges; the second account is charged 50 after each
		want    []engine.Payment
	}{
		{"coupon then balance", []int64{200, 300}, []engine.Payment{{CouponMilli: 200}, {CouponMilli: 100, BalanceMilli: 200}}},
		{"left owing", []int64{1000, 500}, []engine.Payment{{CouponMilli: 300, BalanceMilli: 700}, {BalanceMilli: 300, UnpaidMilli: 200}}},
		{"nothing", nil, nil},
	}
	drivers.Each(t, func(t *testing.T, open func(testing.TB) store.Store) {
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				ctx := context.Background()
				st := open(t)
				e, a := meteredEngine(t, st, store.FundsDelta{CouponMilli: 300, BalanceMilli: 1000})
				b, err := st.CreateAccount(ctx, store.Account{Name: "other", Role: store.RoleUser})
				if err != nil {
					t.Fatal(err)
				}
				if _, _, err := st.AdjustFunds(ctx, b.ID, store.FundsDelta{BalanceMilli: 1000}, false, time.Now()); err != nil {
					t.Fatal(err)
				}
				var cs []engine.Charge
				for i, amount := range tc.amounts {
					cs = append(cs, engine.Charge{AccountID: b.ID, Key: fmt.Sprint("b", i), AmountMilli: 50},
						engine.Charge{AccountID: a.ID, Key: fmt.Sprint("a", i), AmountMilli: amount, Note: "n"})
				}
				var ps []engine.Payment
				if err := e.WithTx(ctx, func(tx engine.Tx) error {
					ps, err = tx.ChargeEach(ctx, cs)
					return err
				}); err != nil {
					t.Fatal(err)
				}
				var spentA int64
				for i := range tc.amounts {
					if ps[2*i+1] != tc.want[i] || ps[2*i] != (engine.Payment{BalanceMilli: 50}) {
						t.Fatalf("charge %d paid %+v and %+v, want %+v", i, ps[2*i+1], ps[2*i], tc.want[i])
					}
					spentA += tc.want[i].CouponMilli + tc.want[i].BalanceMilli
					l, err := st.LedgerByRef(ctx, fmt.Sprint("a", i))
					if err != nil || engine.Payment(l.Split) != tc.want[i] || l.Note != "n" || l.Kind != store.LedgerCharge {
						t.Fatalf("ledger line of charge %d: %+v %v", i, l, err)
					}
				}
				got, err := st.GetAccount(ctx, a.ID)
				if err != nil {
					t.Fatal(err)
				}
				if got.CouponMilli+got.BalanceMilli != 1300-spentA {
					t.Fatalf("account holds %d, want %d", got.CouponMilli+got.BalanceMilli, 1300-spentA)
				}

				// A key charged before: nothing of the transaction lands.
				err = e.WithTx(ctx, func(tx engine.Tx) error {
					_, err := tx.ChargeEach(ctx, []engine.Charge{{AccountID: b.ID, Key: "fresh", AmountMilli: 1}, {AccountID: b.ID, Key: "b0", AmountMilli: 1}})
					return err
				})
				if len(tc.amounts) > 0 && !errors.Is(err, store.ErrConflict) {
					t.Fatalf("charging a key again: %v, want a conflict", err)
				}
				if _, err := st.LedgerByRef(ctx, "fresh"); len(tc.amounts) > 0 && !errors.Is(err, store.ErrNotFound) {
					t.Fatalf("a charge of the undone transaction was kept: %v", err)
				}
			})
		}
	})
}
