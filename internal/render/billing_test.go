package render

import (
	"math"
	"sync"
	"testing"
	"time"

	"taskcenter/internal/engine"
	"taskcenter/internal/store"
)

// TestFrameFeesSplit: the split of a job's payment over its units adds up exactly, whatever the
// proportions, and no share is negative.
func TestFrameFeesSplit(t *testing.T) {
	for _, tc := range []struct {
		name  string
		costs []int64
		split chargeSplit
	}{
		{"thirds", []int64{3, 3, 3}, chargeSplit{CouponMilli: 5, BalanceMilli: 4}},
		{"arrears", []int64{7, 1, 5, 2}, chargeSplit{CouponMilli: 3, BalanceMilli: 5, UnpaidMilli: 7}},
		{"all coupon", []int64{1, 1, 1}, chargeSplit{CouponMilli: 3}},
		{"all unpaid", []int64{2, 9}, chargeSplit{UnpaidMilli: 11}},
		{"balance only", []int64{4, 5}, chargeSplit{BalanceMilli: 9}},
		{"free", []int64{0, 0}, chargeSplit{}},
		{"big", []int64{math.MaxInt64 / 4, math.MaxInt64 / 4}, chargeSplit{CouponMilli: math.MaxInt64 / 4, BalanceMilli: math.MaxInt64/4 - 3, UnpaidMilli: 3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			units := make([]store.Unit, len(tc.costs))
			for i, c := range tc.costs {
				units[i] = store.Unit{ID: int64(i + 1), CostMilli: c}
			}
			fees := frameFees(units, tc.split)
			var b, c, a int64
			for _, u := range units {
				f := fees[u.ID]
				if f.balance < 0 || f.coupon < 0 || f.arrears < 0 || f.balance+f.coupon+f.arrears != u.CostMilli {
					t.Fatalf("unit %d of cost %d: %+v", u.ID, u.CostMilli, f)
				}
				b, c, a = b+f.balance, c+f.coupon, a+f.arrears
			}
			if b != tc.split.BalanceMilli || c != tc.split.CouponMilli || a != tc.split.UnpaidMilli {
				t.Fatalf("sums %d/%d/%d, want %+v", b, c, a, tc.split)
			}
		})
	}
}

// arrearsTask makes a task of e's account that is stopped for arrears (20) owing 2.000: its first
// frame cost 3.000 and the account held 1.000. It returns the task and the worker that rendered it.
func arrearsTask(t *testing.T, e *testEnv) (int64, *worker) {
	t.Helper()
	if err := UpdateSettings(e.ctx, e.st, e.acct.ID, func(s *Settings) { s.CPUPrice = 3600 }); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.st.AdjustFunds(e.ctx, e.acct.ID, store.FundsDelta{BalanceMilli: 1_000}, false, time.Now()); err != nil {
		t.Fatal(err)
	}
	id := e.newTask(e.cl, []byte("BLENDER-v304 fake scene"), nil, map[string]string{"frames": "1-3", "width": "64", "height": "48"})
	e.waitStatus(e.cl, id, 5*time.Second, StatusWaiting)
	w := e.worker("blender")
	if err := w.complete(w.lease(1)[0], 3); err != nil {
		t.Fatal(err)
	}
	ti := e.waitStatus(e.cl, id, 5*time.Second, StatusArrears)
	if ti.TaskArrears != 2 || ti.UserAccountConsume != 1 {
		t.Fatalf("arrears: %+v", ti)
	}
	return id, w
}

func (e *testEnv) topUp(milli int64) {
	e.t.Helper()
	if _, _, err := e.st.AdjustFunds(e.ctx, e.acct.ID, store.FundsDelta{BalanceMilli: milli}, false, time.Now()); err != nil {
		e.t.Fatal(err)
	}
}

func (e *testEnv) balance() int64 {
	e.t.Helper()
	a, err := e.st.GetAccount(e.ctx, e.acct.ID)
	if err != nil {
		e.t.Fatal(err)
	}
	return a.BalanceMilli
}

// TestArrearsRestartAfterTopUp: a task stopped for arrears (20) has its debt settled from a top-up
// by the engine's leader sweep and restarts by itself once it owes nothing, without a startTask; a
// top-up smaller than the debt pays part of it and the task stays stopped.
func TestArrearsRestartAfterTopUp(t *testing.T) {
	forEachDriver(t, func(t *testing.T, open func(testing.TB) store.Store) {
		e := newEnv(t, open, Config{})
		id, w := arrearsTask(t, e)
		e.topUp(500)
		if err := e.eng.Sweep(e.ctx); err != nil {
			t.Fatal(err)
		}
		if b := e.balance(); b != 0 {
			t.Fatalf("balance after a top-up short of the debt: %d milli, want 0", b)
		}
		if ti := e.info(e.cl, id); ti.TaskStatus != StatusArrears || ti.TaskArrears != 1.5 || ti.UserAccountConsume != 1.5 {
			t.Fatalf("after a top-up short of the debt: %+v", ti)
		}
		e.topUp(10_000)
		if err := e.eng.Sweep(e.ctx); err != nil {
			t.Fatal(err)
		}
		ti := e.waitStatus(e.cl, id, 5*time.Second, StatusWaiting, StatusRendering)
		if ti.TaskArrears != 0 || ti.UserAccountConsume != 3 || ti.RenderConsume != 3 {
			t.Fatalf("after the top-up: %+v", ti)
		}
		if b := e.balance(); b != 8_500 {
			t.Fatalf("balance after settling: %d milli, want 8500", b)
		}
		if n := w.drain(1); n != 2 {
			t.Fatalf("after the top-up %d frames rendered, want 2", n)
		}
		e.waitStatus(e.cl, id, 5*time.Second, StatusFinished)
	})
}

// TestArrearsSettledOnce: replicas settling one task's debt at the same time charge it once.
func TestArrearsSettledOnce(t *testing.T) {
	forEachDriver(t, func(t *testing.T, open func(testing.TB) store.Store) {
		e := newEnv(t, open, Config{})
		id, _ := arrearsTask(t, e)
		kids, err := e.api.children(e.ctx, []int64{e.acct.ID}, []int64{id}, true)
		if err != nil || len(kids[id]) != 1 {
			t.Fatalf("children of %d: %v, %v", id, kids, err)
		}
		child := kids[id][0].ID
		replicas := []*engine.Engine{e.eng}
		for range 3 {
			replicas = append(replicas, engine.New(e.st, engine.Config{}, testLog(), nil))
		}
		e.topUp(10_000)
		var wg sync.WaitGroup
		for _, r := range replicas {
			wg.Go(func() {
				if _, err := r.Settle(e.ctx, child); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		if b := e.balance(); b != 8_000 {
			t.Fatalf("balance after settling: %d milli, want 8000 (the 2000 owed, charged once)", b)
		}
		if ti := e.info(e.cl, id); ti.TaskArrears != 0 || ti.UserAccountConsume != 3 {
			t.Fatalf("after settling: %+v", ti)
		}
	})
}
