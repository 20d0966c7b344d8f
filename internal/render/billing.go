package render

import (
	"context"
	"math"
	"math/bits"

	"taskcenter/internal/store"
)

// unitCost is the engine's price hook for render units: node seconds times the account's price of a
// node-hour (gpuPrice for GPU tasks), rounded up to the milli unit, paid by the account or by its
// main account when that one shares its capital or balance. The engine charges coupon first, then
// balance, then credit, with the completion, and stops the job for arrears (engine.PauseArrears) when
// that does not cover it; it records how each charge was paid (splitOf reads it) and settles the
// debt after a top-up.
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

// chargeSplit is how a child job's cost was paid, in the render dialect's three figures: coupon
// (couponConsume), balance with credit (userAccountConsume) and unpaid (taskArrears).
type chargeSplit struct {
	CouponMilli, BalanceMilli, UnpaidMilli int64
}

// splitOf maps the engine's record of how the job's charges were paid (its ledger totals) to the
// dialect's figures.
func splitOf(j store.Job) chargeSplit {
	return chargeSplit{CouponMilli: j.Paid.CouponMilli, BalanceMilli: j.Paid.BalanceMilli + j.Paid.CreditMilli,
		UnpaidMilli: j.Paid.UnpaidMilli}
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
