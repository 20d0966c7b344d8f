package engine

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"

	"taskcenter/internal/store"
)

// ErrStillOwes: a job's payer has nothing to pay its debt with, or not enough to settle all of it.
var ErrStillOwes = errors.New("still in arrears")

// settleArrears is the "arrears" service, the leader's pass over jobs paused for arrears (PauseArrears): it settles each one's
// debt from what its payer has now (a top-up) and resumes those that then owe nothing while funds
// remain. A payer that cannot settle one job is not asked again for its others in the same pass.
func (e *Engine) settleArrears(ctx context.Context, _ time.Time) error {
	jobs, _, err := e.store.ListJobs(ctx, store.JobFilter{Statuses: []store.JobStatus{store.JobPaused},
		PauseReasons: []string{string(PauseArrears)}, Limit: 1000})
	if err != nil {
		return fmt.Errorf("list jobs stopped for arrears: %w", err)
	}
	broke := map[int64]bool{} // accounts one of whose jobs could not be settled in this pass
	for _, j := range jobs {
		if broke[j.AccountID] {
			continue
		}
		switch err := e.settleAndResume(ctx, j); {
		case errors.Is(err, ErrStillOwes):
			broke[j.AccountID] = true
		case err != nil:
			return err
		default:
			e.log.Info("resumed a job stopped for arrears: its payer was topped up", "job", j.ID)
		}
	}
	return nil
}

// SettleAndResume settles the debt of a job stopped for arrears from its payer's funds and resumes
// it once it owes nothing and funds remain; otherwise it returns ErrStillOwes and the job stays
// stopped. A job resumed meanwhile (by another caller) is left as it is.
func (e *Engine) SettleAndResume(ctx context.Context, jobID int64) error {
	j, err := e.store.GetJob(ctx, jobID)
	if err != nil {
		return fmt.Errorf("load job %d: %w", jobID, err)
	}
	return e.settleAndResume(ctx, j)
}

func (e *Engine) settleAndResume(ctx context.Context, j store.Job) error {
	payer, err := e.payerOf(ctx, e.store, j)
	if err != nil {
		return err
	}
	funded := func() (bool, error) {
		a, err := e.store.GetAccount(ctx, payer)
		if err != nil {
			return false, fmt.Errorf("load payer %d of job %d: %w", payer, j.ID, err)
		}
		return a.CouponMilli+a.BalanceMilli+a.CreditMilli > 0, nil
	}
	if ok, err := funded(); err != nil || !ok {
		return cmp.Or(err, ErrStillOwes)
	}
	owes, err := e.Settle(ctx, j.ID)
	if err != nil || owes {
		return cmp.Or(err, ErrStillOwes)
	}
	if ok, err := funded(); err != nil || !ok { // settling may have used the last of it
		return cmp.Or(err, ErrStillOwes)
	}
	// Another caller may have resumed it first: the engine then refuses, which is fine.
	if err := e.Resume(ctx, j.ID); err != nil && !errors.Is(err, ErrInvalid) {
		return fmt.Errorf("resume job %d after a top-up: %w", j.ID, err)
	}
	return nil
}

// payerOf is who pays job j's debt: the account its last ledger line charged (a sub-account's
// charges may go to its main account), or the job's own account when it has none.
func (e *Engine) payerOf(ctx context.Context, st store.Store, j store.Job) (int64, error) {
	last, _, err := st.ListLedger(ctx, store.LedgerFilter{JobID: j.ID, Limit: 1})
	if err != nil {
		return 0, fmt.Errorf("read the ledger of job %d: %w", j.ID, err)
	}
	if len(last) == 0 {
		return j.AccountID, nil
	}
	return last[0].AccountID, nil
}

// Settle pays what job jobID owes (store.Job.Paid.UnpaidMilli) from its payer's funds, as far as they
// go, and records it in the ledger; it reports whether the job still owes. The settlement is keyed
// by the job's last ledger line, so that callers settling one debt at once (replicas, a client's
// start and the sweep) charge it once: all but one find the key taken and settle nothing.
func (e *Engine) Settle(ctx context.Context, jobID int64) (owes bool, err error) {
	now := e.now()
	var paid Payment
	err = e.store.InTx(ctx, func(tx store.Store) error {
		// The claim is read before the debt: a debt read after another settlement committed is then
		// that settlement's or newer, never an old debt under a new claim (PostgreSQL reads each
		// statement's own snapshot).
		last, _, err := tx.ListLedger(ctx, store.LedgerFilter{JobID: jobID, Limit: 1})
		if err != nil {
			return fmt.Errorf("read the ledger of job %d: %w", jobID, err)
		}
		j, err := tx.GetJob(ctx, jobID)
		if err != nil {
			return fmt.Errorf("load job %d: %w", jobID, err)
		}
		if owes = j.Paid.UnpaidMilli > 0; !owes {
			return nil
		}
		payer, claim := j.AccountID, int64(0)
		if len(last) > 0 {
			payer, claim = last[0].AccountID, last[0].ID
		}
		ps, err := debit(ctx, tx, payer, []int64{j.Paid.UnpaidMilli}, now)
		if err != nil {
			return err
		}
		if paid = ps[0]; paid.covered() == 0 {
			return nil // nothing to pay with
		}
		settled := paid.Split()
		settled.UnpaidMilli = -paid.covered()
		if _, err := tx.PatchJob(ctx, jobID, store.JobPatch{AddPaid: settled}, now); err != nil {
			return fmt.Errorf("record the settlement on job %d: %w", jobID, err)
		}
		owes = paid.UnpaidMilli > 0
		return tx.AppendLedger(ctx, []store.LedgerLine{{AccountID: payer, JobID: jobID, Kind: store.LedgerSettle,
			Split: settled, Ref: fmt.Sprintf("settle:%d:%d", jobID, claim), CreatedAt: now}})
	})
	if errors.Is(err, store.ErrConflict) {
		// Settled by another caller from the same state: read what it left.
		j, err := e.store.GetJob(ctx, jobID)
		if err != nil {
			return false, fmt.Errorf("load job %d: %w", jobID, err)
		}
		return j.Paid.UnpaidMilli > 0, nil
	}
	if err != nil {
		return false, fmt.Errorf("settle the arrears of job %d: %w", jobID, err)
	}
	if c := paid.covered(); c > 0 {
		e.log.Info("settled arrears", "job", jobID, "paid_milli", c, "still_owes", owes)
	}
	return owes, nil
}
