package render

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"

	"taskcenter/internal/engine"
	"taskcenter/internal/store"
)

// recoverLoop restarts tasks stopped for arrears whose payer has been topped up, and adopts the
// analyses older servers left marked, at start and then every RecoverEvery.
func (a *API) recoverLoop() {
	defer a.bg.Done()
	t := time.NewTicker(a.cfg.RecoverEvery)
	defer t.Stop()
	for {
		if err := a.adoptLegacyAnalyses(a.ctx); err != nil && a.ctx.Err() == nil {
			a.log.Warn("adopt analyses left by an older server", "err", err)
		}
		if err := a.resumePaidArrears(a.ctx); err != nil && a.ctx.Err() == nil {
			a.log.Warn("restart tasks after a top-up", "err", err)
		}
		select {
		case <-a.ctx.Done():
			return
		case <-t.C:
		}
	}
}

// resumePaidArrears settles the debt of the children stopped for arrears (ARREARAGE_STOP) whose payer
// has funds again, and restarts those that then owe nothing while funds remain: a task restarts by
// itself once its account is topped up enough.
func (a *API) resumePaidArrears(ctx context.Context) error {
	jobs, _, err := a.st.ListJobs(ctx, store.JobFilter{Kind: KindRender, Statuses: []store.JobStatus{store.JobPaused},
		PauseReasons: []string{"arrears"}, Limit: 1000})
	if err != nil {
		return fmt.Errorf("list tasks stopped for arrears: %w", err)
	}
	broke := map[int64]bool{} // accounts whose payer could not pay for one of their tasks in this sweep
	for _, j := range jobs {
		if broke[j.AccountID] {
			continue
		}
		switch err := a.settleAndResume(ctx, j); {
		case errors.Is(err, errStillOwes):
			broke[j.AccountID] = true
		case err != nil:
			return err
		default:
			a.log.Info("restarted a task stopped for arrears: its account was topped up", "task", j.ID)
		}
	}
	return nil
}

// errStillOwes: the payer has nothing to pay with, or not enough to settle the task's debt.
var errStillOwes = errors.New("still in arrears")

// settleAndResume restarts a child stopped for arrears once its payer has funds and its debt is
// settled; otherwise it returns errStillOwes and the child stays stopped.
func (a *API) settleAndResume(ctx context.Context, j store.Job) error {
	funded := func() (store.Account, bool, error) {
		acct, err := a.st.GetAccount(ctx, j.AccountID)
		if err != nil {
			return store.Account{}, false, fmt.Errorf("load account %d: %w", j.AccountID, err)
		}
		payer, err := a.payer(ctx, acct)
		return payer, payer.BalanceMilli+payer.CouponMilli+payer.CreditMilli > 0, err
	}
	payer, ok, err := funded()
	if err != nil || !ok {
		return cmp.Or(err, errStillOwes)
	}
	settled, err := a.settleArrears(ctx, j.ID, payer.ID)
	if err != nil || !settled {
		return cmp.Or(err, errStillOwes)
	}
	if _, ok, err = funded(); err != nil || !ok { // settling may have used the last of it
		return cmp.Or(err, errStillOwes)
	}
	// Another server may have restarted it first: the engine then refuses, which is fine.
	if err := a.eng.Resume(ctx, j.ID); err != nil && !errors.Is(err, engine.ErrInvalid) {
		return fmt.Errorf("restart task %d after a top-up: %w", j.ID, err)
	}
	return nil
}
