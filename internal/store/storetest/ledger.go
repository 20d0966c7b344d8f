package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"taskcenter/internal/store"
)

// testLedger: lines are appended all or none, listed newest first by account or job with a total,
// found by ref, and a job's Paid totals move by PatchJob.AddPaid.
func testLedger(t *testing.T, s store.Store) {
	ctx := context.Background()
	a, b := account(t, s, "payer"), account(t, s, "other")
	j := job(t, s, store.Job{AccountID: a.ID, Kind: "k"}, mkUnits(1, "c"))
	lines := []store.LedgerLine{
		{AccountID: a.ID, JobID: j.ID, UnitID: 7, Kind: store.LedgerCharge, Split: store.Split{CouponMilli: 3, BalanceMilli: 2, UnpaidMilli: 1}, Ref: "unit:7:1", CreatedAt: at(time.Second)},
		{AccountID: a.ID, JobID: j.ID, Kind: store.LedgerSettle, Split: store.Split{BalanceMilli: 1, UnpaidMilli: -1}, CreatedAt: at(2 * time.Second)},
		{AccountID: a.ID, Kind: store.LedgerTopUp, Split: store.Split{BalanceMilli: -100}, Note: "top-up", CreatedAt: at(3 * time.Second)},
		{AccountID: b.ID, Kind: store.LedgerCharge, Split: store.Split{BalanceMilli: 5}, Ref: "submit:1", CreatedAt: at(4 * time.Second)},
	}
	must(t, s.AppendLedger(ctx, lines))

	tests := []struct {
		name      string
		f         store.LedgerFilter
		wantKinds string
		wantTotal int
	}{
		{"account, newest first", store.LedgerFilter{AccountID: a.ID}, "topup settle charge", 3},
		{"a page", store.LedgerFilter{AccountID: a.ID, Limit: 1, Offset: 1}, "settle", 3},
		{"job", store.LedgerFilter{JobID: j.ID}, "settle charge", 2},
		{"other account", store.LedgerFilter{AccountID: b.ID}, "charge", 1},
		{"account and job", store.LedgerFilter{AccountID: b.ID, JobID: j.ID}, "", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, total, err := s.ListLedger(ctx, tc.f)
			must(t, err)
			kinds := ""
			for i, l := range got {
				if i > 0 {
					kinds += " "
				}
				kinds += string(l.Kind)
			}
			eq(t, "kinds", kinds, tc.wantKinds)
			eq(t, "total", total, tc.wantTotal)
		})
	}
	_, _, err := s.ListLedger(ctx, store.LedgerFilter{})
	mustIs(t, err, store.ErrInvalid)

	got, err := s.LedgerByRef(ctx, "unit:7:1")
	must(t, err)
	want := lines[0]
	want.ID = got.ID
	if !got.CreatedAt.Equal(want.CreatedAt) {
		t.Fatalf("created at %v, want %v", got.CreatedAt, want.CreatedAt)
	}
	got.CreatedAt = want.CreatedAt
	eq(t, "line by ref", got, want)
	_, err = s.LedgerByRef(ctx, "nope")
	mustIs(t, err, store.ErrNotFound)

	// A taken ref refuses the whole call: the fresh line beside it is not written either.
	err = s.AppendLedger(ctx, []store.LedgerLine{
		{AccountID: a.ID, Kind: store.LedgerCharge, Ref: "fresh", CreatedAt: at(5 * time.Second)},
		{AccountID: a.ID, Kind: store.LedgerRefund, Ref: "submit:1", CreatedAt: at(5 * time.Second)},
	})
	mustIs(t, err, store.ErrConflict)
	_, err = s.LedgerByRef(ctx, "fresh")
	mustIs(t, err, store.ErrNotFound)
	// Inside a transaction the caller gives it up, and nothing lands.
	err = s.InTx(ctx, func(tx store.Store) error {
		return tx.AppendLedger(ctx, []store.LedgerLine{
			{AccountID: a.ID, Kind: store.LedgerCharge, Ref: "fresh", CreatedAt: at(5 * time.Second)},
			{AccountID: a.ID, Kind: store.LedgerRefund, Ref: "unit:7:1", CreatedAt: at(5 * time.Second)},
		})
	})
	mustIs(t, err, store.ErrConflict)
	_, err = s.LedgerByRef(ctx, "fresh")
	mustIs(t, err, store.ErrNotFound)

	// A job's Paid totals.
	_, err = s.PatchJob(ctx, j.ID, store.JobPatch{AddPaid: store.Split{CouponMilli: 3, BalanceMilli: 2, CreditMilli: 4, UnpaidMilli: 1}}, at(time.Minute))
	must(t, err)
	j2, err := s.PatchJob(ctx, j.ID, store.JobPatch{AddPaid: store.Split{BalanceMilli: 1, UnpaidMilli: -1}}, at(time.Minute))
	must(t, err)
	want2 := store.Split{CouponMilli: 3, BalanceMilli: 3, CreditMilli: 4}
	eq(t, "paid after patch", j2.Paid, want2)
	j3, err := s.GetJob(ctx, j.ID)
	must(t, err)
	eq(t, "paid as read", j3.Paid, want2)
}

// testLedgerRefOnce: many writers append a line with one ref at once; exactly one lands.
func testLedgerRefOnce(t *testing.T, s store.Store) {
	ctx := context.Background()
	a := account(t, s, "refunded")
	const writers = 16
	var wg sync.WaitGroup
	var mu sync.Mutex
	won, lost := 0, 0
	for i := range writers {
		wg.Go(func() {
			err := s.InTx(ctx, func(tx store.Store) error {
				if _, _, err := tx.AdjustFunds(ctx, a.ID, store.FundsDelta{BalanceMilli: 10}, false, t0); err != nil {
					return err
				}
				return tx.AppendLedger(ctx, []store.LedgerLine{{AccountID: a.ID, Kind: store.LedgerRefund,
					Split: store.Split{BalanceMilli: -10}, Ref: "refund:order-1", Note: fmt.Sprint(i), CreatedAt: t0}})
			})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				won++
			case errors.Is(err, store.ErrConflict):
				lost++
			default:
				t.Error(err)
			}
		})
	}
	wg.Wait()
	eq(t, "winners", won, 1)
	eq(t, "losers", lost, writers-1)
	lines, total, err := s.ListLedger(ctx, store.LedgerFilter{AccountID: a.ID})
	must(t, err)
	eq(t, "lines", total, 1)
	eq(t, "line ref", lines[0].Ref, "refund:order-1")
	after, err := s.GetAccount(ctx, a.ID)
	must(t, err)
	eq(t, "balance refunded once", after.BalanceMilli, int64(10))
}
