package render

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"math/bits"
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

// settleClaimTTL is how long a settlement's claim is kept. It commits with the settlement, which moves
// the job's settlement count on, so no later settlement asks for the same claim.
const settleClaimTTL = 24 * time.Hour

// errBalancesChanged: another charge changed the payer's funds between the read and the write.
var errBalancesChanged = errors.New("the payer's funds changed meanwhile")

// settleArrears charges payerID what the child job left unpaid when it was stopped for arrears, and
// records it on the job's split: taskArrears goes down by what was paid, userAccountConsume and
// couponConsume up. The claim (a nonce of the job and its settlement count), the charge and the
// record are one transaction: a replica settling the same debt at once finds it claimed, and a
// failure leaves nothing charged. It reports whether the job owes nothing now.
func (a *API) settleArrears(ctx context.Context, jobID, payerID int64) (bool, error) {
	a.splitMu.Lock()
	defer a.splitMu.Unlock()
	now := a.eng.Now()
	owes, claimed, paid := false, true, int64(0)
	err := a.st.InTx(ctx, func(tx store.Store) error {
		j, err := tx.GetJob(ctx, jobID)
		if err != nil {
			return fmt.Errorf("load task %d: %w", jobID, err)
		}
		s := splitOf(j)
		if s.UnpaidMilli <= 0 {
			return nil
		}
		claimed, err = tx.UseNonce(ctx, "render:settle", fmt.Sprintf("%d@%d", jobID, s.Settlements), now.Add(settleClaimTTL), now)
		if err != nil || !claimed {
			return err // not claimed: another replica settled this debt (or settles it now)
		}
		payer, err := tx.GetAccount(ctx, payerID)
		if err != nil {
			return fmt.Errorf("load payer %d: %w", payerID, err)
		}
		p := engine.SplitCharge(payer, s.UnpaidMilli)
		if _, ok, err := tx.AdjustFunds(ctx, payerID, p.Delta(), true, now); err != nil || !ok {
			return cmp.Or(err, errBalancesChanged)
		}
		s.CouponMilli += p.CouponMilli
		s.BalanceMilli += p.BalanceMilli + p.CreditMilli
		s.UnpaidMilli = p.UnpaidMilli
		s.Settlements++
		if _, err := tx.PatchJob(ctx, jobID, store.JobPatch{Result: mustJSON(s)}, now); err != nil {
			return fmt.Errorf("record the settlement: %w", err)
		}
		owes, paid = s.UnpaidMilli > 0, p.CouponMilli+p.BalanceMilli+p.CreditMilli
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("settle arrears of task %d: %w", jobID, err)
	}
	if paid > 0 {
		a.log.Info("settled arrears", "task", jobID, "paid_milli", paid, "still_owes", owes)
	}
	return claimed && !owes, nil
}

// frameFee is what one frame (unit) paid, in milli units: from the balance (credit included), from
// the coupon, and what it left unpaid.
type frameFee struct{ balance, coupon, arrears int64 }

// frameFees divides the cost of a child job's units between balance, coupon and arrears in the
// proportion the job paid them, so that the units' figures add up exactly to the job's
// (userAccountConsume, couponConsume, taskArrears). Rounding each unit on its own lost up to a milli
// unit per frame; here each share is the difference of the rounded running total before and after
// the unit, in the units' order (index, then id), so every remainder lands on one unit and the sums
// telescope to the job's figures. units must be all the job's units in that order.
func frameFees(units []store.Unit, s chargeSplit) map[int64]frameFee {
	out := make(map[int64]frameFee, len(units))
	total := s.CouponMilli + s.BalanceMilli + s.UnpaidMilli
	if total <= 0 || s.CouponMilli < 0 || s.UnpaidMilli < 0 || s.BalanceMilli < 0 {
		for _, u := range units {
			out[u.ID] = frameFee{balance: u.CostMilli}
		}
		return out
	}
	// The coupon's share of every unit first, then the arrears' share of what the coupon left, so
	// that no share is negative and the balance takes the rest.
	var spent, rest int64 // running totals of cost, and of cost less the coupon's share
	for _, u := range units {
		cost := max(u.CostMilli, 0)
		coupon := mulDiv(spent+cost, s.CouponMilli, total) - mulDiv(spent, s.CouponMilli, total)
		spent += cost
		left := cost - coupon
		var arrears int64
		if remaining := total - s.CouponMilli; remaining > 0 {
			arrears = mulDiv(rest+left, s.UnpaidMilli, remaining) - mulDiv(rest, s.UnpaidMilli, remaining)
		}
		rest += left
		out[u.ID] = frameFee{balance: left - arrears, coupon: coupon, arrears: arrears}
	}
	return out
}

// mulDiv is floor(a*b/c) for 0 <= a, 0 <= b <= c, 0 < c, without overflowing on the product.
func mulDiv(a, b, c int64) int64 {
	hi, lo := bits.Mul64(uint64(a), uint64(b))
	q, _ := bits.Div64(hi, lo, uint64(c)) // hi < c because b <= c
	return int64(q)
}
