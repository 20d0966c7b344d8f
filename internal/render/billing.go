package render

import (
	"context"
	"math"

	"taskcenter/internal/engine"
	"taskcenter/internal/store"
)

// unitCost is the engine's price hook for render units: node seconds times the account's price of a
// node-hour (gpuPrice for GPU tasks), rounded up to the milli unit, paid by the account or by its
// main account when that one shares its capital or balance. The engine charges coupon first, then
// balance, then credit, and stops the job with reason "arrears" when that does not cover it.
//
// How a charge was split between coupon, balance and arrears is recorded by charged, from what the
// engine really took.
func (a *API) unitCost(ctx context.Context, j store.Job, u store.Unit, seconds float64) (int64, int64) {
	acct, err := a.st.GetAccount(ctx, j.AccountID)
	if err != nil {
		a.log.Warn("price render unit: load account", "job", j.ID, "err", err)
		return 0, 0
	}
	s, err := settingsOf(acct)
	if err != nil {
		a.log.Warn("price render unit: settings", "job", j.ID, "err", err)
		return 0, 0
	}
	payer, err := a.payer(ctx, acct)
	if err != nil {
		a.log.Warn("price render unit: payer", "job", j.ID, "err", err)
		return 0, 0
	}
	price := s.CPUPrice
	if childOf(j).GPU {
		price = s.GPUPrice
	}
	if price <= 0 || seconds <= 0 {
		return payer.ID, 0
	}
	return payer.ID, int64(math.Ceil(seconds * price * 1000 / 3600))
}

// charged is the engine's hook after it charged a child job's finished frames: it keeps, on the job's
// Result, what the coupon and the balance (credit included) paid and what was left unpaid, which
// couponConsume, userAccountConsume and taskArrears show.
func (a *API) charged(ctx context.Context, jobID int64, p engine.Payment) {
	a.splitMu.Lock()
	defer a.splitMu.Unlock()
	j, err := a.st.GetJob(ctx, jobID)
	if err != nil {
		a.log.Warn("record charge split", "job", jobID, "err", err)
		return
	}
	s := splitOf(j)
	s.CouponMilli += p.CouponMilli
	s.BalanceMilli += p.BalanceMilli + p.CreditMilli
	s.UnpaidMilli += p.UnpaidMilli
	if _, err := a.st.PatchJob(ctx, jobID, store.JobPatch{Result: mustJSON(s)}, a.eng.Now()); err != nil {
		a.log.Warn("record charge split", "job", jobID, "err", err)
	}
}
