package engine

import (
	"context"
	"errors"
	"fmt"

	"taskcenter/internal/store"
)

// Billing inside a facade's transaction. A facade that keeps state of its own beside a charge (an
// AI task and the quota it took) writes both in one transaction, so that a crash between them
// cannot leave a task without its charge or a charge without its task, and a guarded status change
// and its refund land together or not at all.

// WithTx runs fn in one store transaction: everything fn writes through tx lands, or nothing does.
// Workers are woken after the commit when fn submitted a job (only then: a wake-up makes every
// waiting worker look for work).
func (e *Engine) WithTx(ctx context.Context, fn func(tx Tx) error) error {
	var submitted bool
	err := e.store.InTx(ctx, func(st store.Store) error { return fn(Tx{e: e, tx: st, submitted: &submitted}) })
	if err == nil && submitted {
		e.notify(ctx)
	}
	return err
}

// ChargeOnce is Engine.ChargeOnce inside the transaction. A key charged before is an error
// (store.ErrConflict): inside a transaction the caller keys each charge to a row it creates in the
// same transaction, so a repeat is a bug, not a retry. A charge the account cannot cover in full is
// recorded as owed, as Engine.ChargeOnce does; the caller may refuse it by failing the transaction.
func (t Tx) ChargeOnce(ctx context.Context, c Charge) (Payment, error) {
	switch {
	case c.Key == "":
		return Payment{}, invalid("a charge needs a key")
	case c.AccountID <= 0:
		return Payment{}, invalid("a charge needs an account")
	case c.AmountMilli < 0:
		return Payment{}, invalid("a charge must not be negative")
	}
	p, err := chargeIn(ctx, t.tx, c, t.e.now())
	if err != nil {
		return Payment{}, fmt.Errorf("charge account %d: %w", c.AccountID, err)
	}
	return p, nil
}

// ChargeEach is ChargeOnce for several charges in the transaction, written together: each account's
// funds are read and written once for all its charges and every ledger line goes in one insert, so
// a facade that gathers concurrent submits into one transaction (group commit) locks each account
// once. Payments come in the charges' order; within one account an earlier charge is paid first, and
// what the funds do not cover is recorded as owed, as ChargeOnce does.
func (t Tx) ChargeEach(ctx context.Context, cs []Charge) ([]Payment, error) {
	for _, c := range cs {
		switch {
		case c.Key == "":
			return nil, invalid("a charge needs a key")
		case c.AccountID <= 0:
			return nil, invalid("a charge needs an account")
		case c.AmountMilli < 0:
			return nil, invalid("a charge must not be negative")
		}
	}
	ps, err := chargeEachIn(ctx, t.tx, cs, t.e.now())
	if err != nil {
		return nil, fmt.Errorf("charge %d charges: %w", len(cs), err)
	}
	return ps, nil
}

// Refund is Engine.Refund inside the transaction: refunded is false when the charge was refunded
// before (nothing is written then).
func (t Tx) Refund(ctx context.Context, key string) (back Payment, refunded bool, err error) {
	if key == "" {
		return Payment{}, false, invalid("a refund needs the charge's key")
	}
	if _, err := t.tx.LedgerByRef(ctx, refundRef(key)); err == nil {
		return Payment{}, false, nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return Payment{}, false, fmt.Errorf("look up refund of %q: %w", key, err)
	}
	back, err = t.e.refundIn(ctx, t.tx, key, t.e.now())
	if err != nil {
		return Payment{}, false, fmt.Errorf("refund %q: %w", key, err)
	}
	return back, true, nil
}

// Submit is Engine.Submit inside the transaction.
func (t Tx) Submit(ctx context.Context, s JobSpec) (store.Job, error) {
	j, err := t.e.submit(ctx, t.tx, s)
	if err == nil && t.submitted != nil {
		*t.submitted = true
	}
	return j, err
}

// AITasks writes the AI task center's rows in the transaction.
func (t Tx) AITasks() store.AITasks { return t.tx }
