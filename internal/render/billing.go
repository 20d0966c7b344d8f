package render

import (
	"context"
	"math"

	"taskcenter/internal/store"
)

// unitCost is the engine's price hook for render units: node seconds times the account's price of a
// node-hour (gpuPrice for GPU tasks), rounded up to the milli unit, paid by the account or by its
// main account when that one shares its capital or balance. The engine charges coupon first, then
// balance, then credit, and stops the job with reason "arrears" when that does not cover it.
//
// It also records, on the child job's Result, how the charge is expected to be split between coupon,
// balance and arrears, because the engine's charge reports only paid/unpaid: the split is predicted
// from the payer's funds at pricing time (exact unless two charges of one payer race).
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
	cost := int64(math.Ceil(seconds * price * 1000 / 3600))
	a.recordSplit(ctx, j.ID, payer, cost)
	return payer.ID, cost
}

func (a *API) recordSplit(ctx context.Context, jobID int64, payer store.Account, cost int64) {
	a.splitMu.Lock()
	defer a.splitMu.Unlock()
	j, err := a.st.GetJob(ctx, jobID)
	if err != nil {
		a.log.Warn("record charge split", "job", jobID, "err", err)
		return
	}
	s := splitOf(j)
	left := cost
	take := func(have int64) int64 {
		t := min(max(have, 0), left)
		left -= t
		return t
	}
	s.CouponMilli += take(payer.CouponMilli)
	s.BalanceMilli += take(payer.BalanceMilli) + take(payer.CreditMilli)
	s.UnpaidMilli += left
	if _, err := a.st.PatchJob(ctx, jobID, store.JobPatch{Result: mustJSON(s)}, a.eng.Now()); err != nil {
		a.log.Warn("record charge split", "job", jobID, "err", err)
	}
}
