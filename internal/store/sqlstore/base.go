package sqlstore

import (
	"context"
	"errors"
	"fmt"

	"taskcenter/internal/batch"
)

// Base implements the part of store.Store that is the same SQL on every driver. A driver embeds it and
// adds InTx, Close, Notify and Listen (and overrides anything it can do better).
type Base struct {
	D Dialect
	// r serves reads and w writes; they differ only for SQLite outside a transaction (a reader pool
	// beside the single writer connection).
	r, w Querier
	// begin starts a transaction; nil when this Base is already bound to one.
	begin func(ctx context.Context) (Tx, error)
	// nonces writes concurrent UseNonce calls together; nil when bound to a transaction.
	nonces *batch.Group[nonceUse, nonceUsed]
}

// NewBase returns a Base reading through r, writing through w and opening transactions with begin.
func NewBase(d Dialect, r, w Querier, begin func(ctx context.Context) (Tx, error)) *Base {
	b := &Base{D: textChecked{d}, r: r, w: w, begin: begin}
	b.nonces = batch.New(nonceBatchSize, b.useNonces)
	return b
}

// Driver names the driver.
func (b *Base) Driver() string { return b.D.Name() }

// InTransaction reports whether b is bound to a transaction.
func (b *Base) InTransaction() bool { return b.begin == nil }

// Writer is the querier writes go through (the transaction, when bound to one).
func (b *Base) Writer() Querier { return b.w }

// RunTx runs fn with a Base bound to a new transaction, committing when fn returns nil. Bound to a
// transaction already, it runs fn with b itself: nested transactions join the outer one.
func (b *Base) RunTx(ctx context.Context, fn func(tb *Base) error) (err error) {
	if b.begin == nil {
		return fn(b)
	}
	tx, err := b.begin(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	done := false
	defer func() {
		if !done {
			// fn failed or panicked: nothing it wrote may land.
			if rerr := tx.Rollback(context.WithoutCancel(ctx)); rerr != nil && err != nil {
				err = errors.Join(err, fmt.Errorf("rollback: %w", rerr))
			}
		}
	}()
	if err = fn(&Base{D: b.D, r: tx, w: tx}); err != nil {
		return err
	}
	done = true
	if err = tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// tx runs fn on one transaction's querier.
func (b *Base) tx(ctx context.Context, fn func(q Querier) error) error {
	return b.RunTx(ctx, func(tb *Base) error { return fn(tb.w) })
}
