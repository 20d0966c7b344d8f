package native

import (
	"net/http"
	"time"

	"taskcenter/internal/facade"
	"taskcenter/internal/store"
)

// LedgerLineView is one line of an account's ledger as the native API shows it. The amounts are what
// the line took from the account, in milli units: positive for a charge or a settlement of arrears,
// negative for a refund or a top-up; unpaid_milli is the debt the line left (negative: paid off).
type LedgerLineView struct {
	ID           int64     `json:"id"`
	AccountID    int64     `json:"account_id"`
	JobID        int64     `json:"job_id,omitempty"`
	UnitID       int64     `json:"unit_id,omitempty"`
	Kind         string    `json:"kind"`
	CouponMilli  int64     `json:"coupon_milli"`
	BalanceMilli int64     `json:"balance_milli"`
	CreditMilli  int64     `json:"credit_milli"`
	UnpaidMilli  int64     `json:"unpaid_milli"`
	Ref          string    `json:"ref,omitempty"`
	Note         string    `json:"note,omitempty"`
	CreatedAt    time.Time `json:"created_at"`
}

func ledgerLineView(l store.LedgerLine) LedgerLineView {
	return LedgerLineView{ID: l.ID, AccountID: l.AccountID, JobID: l.JobID, UnitID: l.UnitID, Kind: string(l.Kind),
		CouponMilli: l.CouponMilli, BalanceMilli: l.BalanceMilli, CreditMilli: l.CreditMilli, UnpaidMilli: l.UnpaidMilli,
		Ref: l.Ref, Note: l.Note, CreatedAt: l.CreatedAt}
}

// handleLedger pages an account's ledger, newest first: to an admin, to the account itself, or to
// the parent of a sub-account (whose accounts list shows it: an AI tenant reads the quota ledger of
// its users' accounts). Any other caller is answered not found, as for a missing account.
func (s *API) handleLedger(w http.ResponseWriter, r *http.Request, c caller) {
	id, ok := pathID(r)
	if !ok {
		facade.JSONError(w, http.StatusNotFound, "not found")
		return
	}
	limit, offset, ok := paging(w, r, 100, 1000)
	if !ok {
		return
	}
	acct, err := s.cfg.Store.GetAccount(r.Context(), id)
	if err == nil && !c.seesAccount(acct) {
		err = store.ErrNotFound
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	lines, total, err := s.cfg.Engine.Ledger(r.Context(), id, limit, offset)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := make([]LedgerLineView, len(lines))
	for i, l := range lines {
		out[i] = ledgerLineView(l)
	}
	facade.JSON(w, http.StatusOK, map[string]any{"total": total, "lines": out})
}
