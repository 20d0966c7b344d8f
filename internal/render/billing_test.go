package render

import (
	"math"
	"testing"

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
