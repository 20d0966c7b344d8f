package engine

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"taskcenter/internal/store"
)

// Billing. A unit's cost (KindHooks.UnitCost) is charged in the transaction that records its
// completion: the units, the payer's funds, the job's cost and Paid totals and one ledger line per
// unit commit together or not at all, so a crash between a completion and its charge cannot lose or
// repeat the charge. Charges not tied to a unit (ChargeOnce), refunds (Refund) and top-ups
// (AdjustFunds) write the ledger the same way. Arrears pause the job; the leader settles them from a
// later top-up and resumes the job (arrears.go).

// Payment is how one charge was paid, in milli units. UnpaidMilli is what the account could not cover.
type Payment struct {
	CouponMilli, BalanceMilli, CreditMilli, UnpaidMilli int64
}

// Paid reports whether the charge was covered in full.
func (p Payment) Paid() bool { return p.UnpaidMilli == 0 }

// Delta is the change of the account's funds that takes the payment.
func (p Payment) Delta() store.FundsDelta {
	return store.FundsDelta{CouponMilli: -p.CouponMilli, BalanceMilli: -p.BalanceMilli, CreditMilli: -p.CreditMilli}
}

// Split is the payment as the store keeps it on ledger lines and jobs.
func (p Payment) Split() store.Split { return store.Split(p) }

// covered is what the account paid of it: coupon, balance and credit together.
func (p Payment) covered() int64 { return p.CouponMilli + p.BalanceMilli + p.CreditMilli }

// SplitCharge says how account a pays amountMilli: coupon first, then balance, then credit, and what
// they leave unpaid.
func SplitCharge(a store.Account, amountMilli int64) Payment {
	left := amountMilli
	take := func(have int64) int64 {
		t := min(max(have, 0), left)
		left -= t
		return t
	}
	var p Payment
	p.CouponMilli = take(a.CouponMilli)
	p.BalanceMilli = take(a.BalanceMilli)
	p.CreditMilli = take(a.CreditMilli)
	p.UnpaidMilli = left
	return p
}

// errBalancesChanged: concurrent charges kept changing the account's funds between read and write.
var errBalancesChanged = errors.New("balances kept changing")

// debit takes the amounts from account id in tx, coupon first, then balance, then credit, one
// payment per amount in order (the first amount takes the coupon first). The funds are read and
// then written with a guard against going negative, again when a concurrent charge got there first.
func debit(ctx context.Context, tx store.Store, id int64, amounts []int64, now time.Time) ([]Payment, error) {
	for range 5 {
		a, err := tx.GetAccount(ctx, id)
		if err != nil {
			return nil, fmt.Errorf("load account %d to charge: %w", id, err)
		}
		ps := make([]Payment, len(amounts))
		var total Payment
		for i, amount := range amounts {
			ps[i] = SplitCharge(a, amount)
			a.CouponMilli -= ps[i].CouponMilli
			a.BalanceMilli -= ps[i].BalanceMilli
			a.CreditMilli -= ps[i].CreditMilli
			total = Payment(total.Split().Add(ps[i].Split()))
		}
		if total.covered() == 0 {
			return ps, nil
		}
		_, ok, err := tx.AdjustFunds(ctx, id, total.Delta(), true, now)
		if err != nil {
			return nil, fmt.Errorf("charge account %d: %w", id, err)
		}
		if ok {
			return ps, nil
		}
	}
	return nil, fmt.Errorf("charge account %d: %w", id, errBalancesChanged)
}

type pricedUnit struct {
	job, payer, cost int64
	kind             string
}

// price computes the cost of each completion whose job's kind has a UnitCost hook. Without such hooks it
// costs nothing: the hot path stays one statement.
func (e *Engine) price(ctx context.Context, cs []Completion) (map[int64]pricedUnit, error) {
	if !e.hasCostHooks() {
		return nil, nil
	}
	ids := make([]int64, 0, len(cs))
	secs := make(map[int64]float64, len(cs))
	for _, c := range cs {
		if !e.unpriced(ctx, c) {
			ids = append(ids, c.UnitID)
			secs[c.UnitID] = c.Seconds
		}
	}
	if len(ids) == 0 {
		return nil, nil
	}
	units, _, err := e.store.ListUnits(ctx, store.UnitFilter{UnitIDs: ids})
	if err != nil {
		return nil, fmt.Errorf("load units to price: %w", err)
	}
	priced := map[int64]pricedUnit{}
	jobs := map[int64]store.Job{}
	for _, u := range units {
		j, ok := jobs[u.JobID]
		if !ok {
			if j, err = e.store.GetJob(ctx, u.JobID); err != nil {
				return nil, fmt.Errorf("load job to price: %w", err)
			}
			jobs[u.JobID] = j
		}
		h := e.hooks(j.Kind)
		if h.UnitCost == nil || u.Status != store.UnitRunning {
			continue
		}
		if payer, cost := h.UnitCost(ctx, j, u, secs[u.ID]); cost > 0 {
			priced[u.ID] = pricedUnit{job: u.JobID, payer: payer, cost: cost, kind: j.Kind}
		}
	}
	return priced, nil
}

// debt is what a charge left a job's payer owing.
type debt struct{ job, payer, unpaid int64 }

// chargeCompleted charges, in the completion's transaction tx, the accepted completions that have a
// price: the payers' funds, the jobs' cost and Paid totals, one ledger line per unit (one statement
// for the batch). The lines need no ref: the completion they commit with is fenced by the unit's
// epoch, so a unit's lease is charged once. Accounts are locked before jobs, each in id order, as
// every transaction that charges does, so that two cannot deadlock. It returns the debts left.
func (e *Engine) chargeCompleted(ctx context.Context, tx store.Store, cs []Completion, errs []error,
	priced map[int64]pricedUnit, now time.Time) ([]debt, error) {
	byPayer := map[int64][]int{} // completion indexes per payer, in report order
	for i, c := range cs {
		if p, ok := priced[c.UnitID]; ok && errs[i] == nil {
			byPayer[p.payer] = append(byPayer[p.payer], i)
		}
	}
	var lines []store.LedgerLine
	type jobPayer struct{ job, payer int64 }
	perJob := map[jobPayer]store.Split{}
	costs := map[int64]int64{}
	for _, payer := range slices.Sorted(maps.Keys(byPayer)) {
		idx := byPayer[payer]
		amounts := make([]int64, len(idx))
		for k, i := range idx {
			amounts[k] = priced[cs[i].UnitID].cost
		}
		ps, err := debit(ctx, tx, payer, amounts, now)
		if err != nil {
			return nil, err
		}
		for k, i := range idx {
			p := priced[cs[i].UnitID]
			lines = append(lines, store.LedgerLine{AccountID: payer, JobID: p.job, UnitID: cs[i].UnitID,
				Kind: store.LedgerCharge, Split: ps[k].Split(), CreatedAt: now})
			jp := jobPayer{p.job, payer}
			perJob[jp] = perJob[jp].Add(ps[k].Split())
			costs[p.job] += p.cost
		}
	}
	for _, job := range slices.Sorted(maps.Keys(costs)) {
		var paid store.Split
		for jp, s := range perJob {
			if jp.job == job {
				paid = paid.Add(s)
			}
		}
		if _, err := tx.PatchJob(ctx, job, store.JobPatch{AddCostMilli: costs[job], AddPaid: paid}, now); err != nil {
			return nil, fmt.Errorf("add the cost of job %d: %w", job, err)
		}
	}
	if err := tx.AppendLedger(ctx, lines); err != nil {
		return nil, fmt.Errorf("record charges: %w", err)
	}
	var debts []debt
	for jp, s := range perJob {
		if s.UnpaidMilli > 0 {
			debts = append(debts, debt{job: jp.job, payer: jp.payer, unpaid: s.UnpaidMilli})
		}
	}
	slices.SortFunc(debts, func(a, b debt) int { return cmp.Or(cmp.Compare(a.job, b.job), cmp.Compare(a.payer, b.payer)) })
	return debts, nil
}

// stopInArrears records the debts and pauses their jobs (PauseArrears), after the charge committed.
func (e *Engine) stopInArrears(ctx context.Context, debts []debt) {
	for _, d := range debts {
		e.record(ctx, store.Event{At: e.now(), AccountID: d.payer, JobID: d.job, Type: "account.arrears",
			Data: mustJSON(map[string]int64{"unpaid_milli": d.unpaid})})
		if d.job == 0 {
			continue
		}
		e.log.Info("account in arrears: stopping job", "account", d.payer, "job", d.job)
		if err := e.Pause(ctx, d.job, PauseArrears); err != nil && !errors.Is(err, ErrInvalid) {
			e.log.Warn("stop job in arrears", "job", d.job, "err", err)
		}
	}
}

// Charge describes a charge not tied to a finished unit: an AI task charged on submit, a recording
// billed by its duration.
type Charge struct {
	AccountID   int64  // who pays
	JobID       int64  // the job it is for; 0 for none. A job left owing is paused for arrears.
	Key         string // makes the charge happen once: a second ChargeOnce with it charges nothing
	AmountMilli int64
	Note        string // kept on the ledger line
}

// ChargeOnce takes c.AmountMilli from the payer (coupon, balance, credit; the rest owed) and records
// it in the ledger under c.Key, once: when the key was charged before, it charges nothing and returns
// that charge's payment with charged false.
func (e *Engine) ChargeOnce(ctx context.Context, c Charge) (p Payment, charged bool, err error) {
	switch {
	case c.Key == "":
		return Payment{}, false, invalid("a charge needs a key")
	case c.AccountID <= 0:
		return Payment{}, false, invalid("a charge needs an account")
	case c.AmountMilli < 0:
		return Payment{}, false, invalid("a charge must not be negative")
	}
	return e.chargeOnce(ctx, c)
}

// Charge takes amountMilli from the account: coupon first, then balance, then credit. When they do not
// cover it, it takes what there is and reports the rest as unpaid (the account is in arrears). It is
// recorded in the ledger without a key.
func (e *Engine) Charge(ctx context.Context, accountID, amountMilli int64) (Payment, error) {
	if amountMilli < 0 {
		return Payment{}, invalid("a charge must not be negative")
	}
	p, _, err := e.chargeOnce(ctx, Charge{AccountID: accountID, AmountMilli: amountMilli})
	return p, err
}

func (e *Engine) chargeOnce(ctx context.Context, c Charge) (Payment, bool, error) {
	if c.Key != "" {
		if l, err := e.store.LedgerByRef(ctx, c.Key); err == nil {
			return Payment(l.Split), false, nil
		} else if !errors.Is(err, store.ErrNotFound) {
			return Payment{}, false, fmt.Errorf("look up charge %q: %w", c.Key, err)
		}
	}
	now := e.now()
	var p Payment
	err := e.store.InTx(ctx, func(tx store.Store) error {
		var err error
		p, err = chargeIn(ctx, tx, c, now)
		return err
	})
	if errors.Is(err, store.ErrConflict) { // charged by a concurrent call with the same key
		l, lerr := e.store.LedgerByRef(ctx, c.Key)
		if lerr != nil {
			return Payment{}, false, fmt.Errorf("look up charge %q: %w", c.Key, lerr)
		}
		return Payment(l.Split), false, nil
	}
	if err != nil {
		return Payment{}, false, fmt.Errorf("charge account %d: %w", c.AccountID, err)
	}
	if !p.Paid() {
		e.stopInArrears(ctx, []debt{{job: c.JobID, payer: c.AccountID, unpaid: p.UnpaidMilli}})
	}
	return p, true, nil
}

// chargeIn is ChargeOnce's work inside transaction tx: ErrConflict when the key was charged before.
func chargeIn(ctx context.Context, tx store.Store, c Charge, now time.Time) (Payment, error) {
	ps, err := chargeEachIn(ctx, tx, []Charge{c}, now)
	if err != nil {
		return Payment{}, err
	}
	return ps[0], nil
}

// chargeEachIn charges cs inside transaction tx, written together: each account's funds are read and
// written once for all its charges (accounts in id order, then jobs in id order, as every charging
// transaction locks them) and all the ledger lines are one insert. Payments are in the charges'
// order; within one account the earlier charge takes the coupon first. ErrConflict when a key was
// charged before (or twice in cs).
func chargeEachIn(ctx context.Context, tx store.Store, cs []Charge, now time.Time) ([]Payment, error) {
	byAccount := map[int64][]int{}
	for i, c := range cs {
		byAccount[c.AccountID] = append(byAccount[c.AccountID], i)
	}
	ps := make([]Payment, len(cs))
	for _, account := range slices.Sorted(maps.Keys(byAccount)) {
		idx := byAccount[account]
		amounts := make([]int64, len(idx))
		for k, i := range idx {
			amounts[k] = cs[i].AmountMilli
		}
		got, err := debit(ctx, tx, account, amounts, now)
		if err != nil {
			return nil, err
		}
		for k, i := range idx {
			ps[i] = got[k]
		}
	}
	type jobCost struct {
		cost int64
		paid store.Split
	}
	jobs := map[int64]jobCost{}
	lines := make([]store.LedgerLine, len(cs))
	for i, c := range cs {
		if c.JobID != 0 {
			jc := jobs[c.JobID]
			jobs[c.JobID] = jobCost{cost: jc.cost + c.AmountMilli, paid: jc.paid.Add(ps[i].Split())}
		}
		lines[i] = store.LedgerLine{AccountID: c.AccountID, JobID: c.JobID, Kind: store.LedgerCharge,
			Split: ps[i].Split(), Ref: c.Key, Note: c.Note, CreatedAt: now}
	}
	for _, job := range slices.Sorted(maps.Keys(jobs)) {
		if _, err := tx.PatchJob(ctx, job, store.JobPatch{AddCostMilli: jobs[job].cost, AddPaid: jobs[job].paid}, now); err != nil {
			return nil, fmt.Errorf("add the charge to job %d: %w", job, err)
		}
	}
	if err := tx.AppendLedger(ctx, lines); err != nil {
		return nil, err
	}
	return ps, nil
}

// refundRef is the ledger reference of the refund of the charge keyed key.
func refundRef(key string) string { return "refund:" + key }

// Refund gives back the charge made under key, once: what it took from the coupon, balance and
// credit goes back to them, and what it left owing is forgiven (what of that was settled since is
// given back to the balance). A second Refund of the key gives nothing and returns refunded false.
// The returned payment is what the refund gave back.
func (e *Engine) Refund(ctx context.Context, key string) (back Payment, refunded bool, err error) {
	if key == "" {
		return Payment{}, false, invalid("a refund needs the charge's key")
	}
	err = e.store.InTx(ctx, func(tx store.Store) error {
		var err error
		back, err = e.refundIn(ctx, tx, key, e.now())
		return err
	})
	if errors.Is(err, store.ErrConflict) {
		return Payment{}, false, nil // refunded before, or by a concurrent call
	}
	if err != nil {
		return Payment{}, false, fmt.Errorf("refund %q: %w", key, err)
	}
	return back, true, nil
}

// refundIn is Refund's work inside transaction tx: ErrConflict when the charge was refunded before.
func (e *Engine) refundIn(ctx context.Context, tx store.Store, key string, now time.Time) (Payment, error) {
	l, err := tx.LedgerByRef(ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		return Payment{}, invalid("no charge %q to refund", key)
	}
	if err != nil {
		return Payment{}, fmt.Errorf("look up charge %q: %w", key, err)
	}
	if l.Kind != store.LedgerCharge {
		return Payment{}, invalid("%q is not a charge", key)
	}
	undo := l.Split.Neg() // what the refund line takes: the charge's, negated
	if l.UnpaidMilli > 0 && l.JobID != 0 {
		j, err := tx.GetJob(ctx, l.JobID)
		if err != nil {
			return Payment{}, fmt.Errorf("load job %d of charge %q: %w", l.JobID, key, err)
		}
		// Only what the job still owes can be forgiven; the rest was settled, and goes back.
		forgive := min(l.UnpaidMilli, max(j.Paid.UnpaidMilli, 0))
		undo.UnpaidMilli = -forgive
		undo.BalanceMilli -= l.UnpaidMilli - forgive
	} else if l.UnpaidMilli > 0 {
		undo.UnpaidMilli = 0 // a debt of no job is not tracked anywhere but here: give nothing for it
	}
	back := Payment(undo.Neg())
	back.UnpaidMilli = 0
	if _, _, err := tx.AdjustFunds(ctx, l.AccountID, store.FundsDelta{CouponMilli: -undo.CouponMilli,
		BalanceMilli: -undo.BalanceMilli, CreditMilli: -undo.CreditMilli}, false, now); err != nil {
		return Payment{}, fmt.Errorf("refund account %d: %w", l.AccountID, err)
	}
	if l.JobID != 0 {
		amount := l.CouponMilli + l.BalanceMilli + l.CreditMilli + l.UnpaidMilli
		if _, err := tx.PatchJob(ctx, l.JobID, store.JobPatch{AddCostMilli: -amount, AddPaid: undo}, now); err != nil {
			return Payment{}, fmt.Errorf("take the refund off job %d: %w", l.JobID, err)
		}
	}
	if err := tx.AppendLedger(ctx, []store.LedgerLine{{AccountID: l.AccountID, JobID: l.JobID, UnitID: l.UnitID,
		Kind: store.LedgerRefund, Split: undo, Ref: refundRef(key), CreatedAt: now}}); err != nil {
		return Payment{}, err
	}
	return back, nil
}

// AdjustFunds changes an account's money and quota (a top-up, or an administrator's correction) and
// records the money in the ledger, together. When a balance would go below zero nothing changes and
// ok is false.
func (e *Engine) AdjustFunds(ctx context.Context, accountID int64, d store.FundsDelta, note string) (a store.Account, ok bool, err error) {
	now := e.now()
	err = e.store.InTx(ctx, func(tx store.Store) error {
		if a, ok, err = tx.AdjustFunds(ctx, accountID, d, true, now); err != nil || !ok {
			return err
		}
		if d.BalanceMilli == 0 && d.CouponMilli == 0 && d.CreditMilli == 0 {
			return nil // the quota alone is not money
		}
		given := store.Split{CouponMilli: -d.CouponMilli, BalanceMilli: -d.BalanceMilli, CreditMilli: -d.CreditMilli}
		return tx.AppendLedger(ctx, []store.LedgerLine{{AccountID: accountID, Kind: store.LedgerTopUp, Split: given,
			Note: note, CreatedAt: now}})
	})
	if err != nil {
		return store.Account{}, false, fmt.Errorf("adjust funds of account %d: %w", accountID, err)
	}
	return a, ok, nil
}

// Ledger lists an account's ledger lines, newest first, with the number of lines on all pages.
func (e *Engine) Ledger(ctx context.Context, accountID int64, limit, offset int) ([]store.LedgerLine, int, error) {
	lines, total, err := e.store.ListLedger(ctx, store.LedgerFilter{AccountID: accountID, Limit: limit, Offset: offset})
	if err != nil {
		return nil, 0, fmt.Errorf("read the ledger of account %d: %w", accountID, err)
	}
	return lines, total, nil
}
