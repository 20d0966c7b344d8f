package render

import (
	"context"
	"fmt"
	"math"
	"time"

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

// settleClaimTTL is how long a replica's claim on settling one arrears debt holds. A replica that died
// between claiming and recording the settlement leaves the debt unsettled until the claim expires.
const settleClaimTTL = time.Hour

// settleArrears charges payerID what the child job left unpaid when it was stopped for arrears, and
// records it on the job's split: taskArrears goes down by what was paid, userAccountConsume and
// couponConsume up. Each settlement is claimed with a nonce first (one insert that only one replica
// wins), so that a debt is never charged twice. It reports whether the job owes nothing now.
func (a *API) settleArrears(ctx context.Context, jobID, payerID int64) (bool, error) {
	a.splitMu.Lock()
	defer a.splitMu.Unlock()
	j, err := a.st.GetJob(ctx, jobID)
	if err != nil {
		return false, fmt.Errorf("load task %d to settle its arrears: %w", jobID, err)
	}
	s := splitOf(j)
	if s.UnpaidMilli <= 0 {
		return true, nil
	}
	now := a.eng.Now()
	claim := fmt.Sprintf("%d@%d", jobID, s.Settlements)
	fresh, err := a.st.UseNonce(ctx, "render:settle", claim, now.Add(settleClaimTTL), now)
	if err != nil {
		return false, fmt.Errorf("claim settling task %d: %w", jobID, err)
	}
	if !fresh {
		return false, nil // another replica settles this debt
	}
	p, err := a.eng.Charge(ctx, payerID, s.UnpaidMilli)
	if err != nil {
		return false, fmt.Errorf("settle arrears of task %d: %w", jobID, err)
	}
	s.CouponMilli += p.CouponMilli
	s.BalanceMilli += p.BalanceMilli + p.CreditMilli
	s.UnpaidMilli = p.UnpaidMilli
	s.Settlements++
	if _, err := a.st.PatchJob(ctx, jobID, store.JobPatch{Result: mustJSON(s)}, now); err != nil {
		return false, fmt.Errorf("record the settlement of task %d: %w", jobID, err)
	}
	a.log.Info("settled arrears", "task", jobID, "paid_milli", p.CouponMilli+p.BalanceMilli+p.CreditMilli, "unpaid_milli", s.UnpaidMilli)
	return s.UnpaidMilli == 0, nil
}
