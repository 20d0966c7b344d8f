package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"taskcenter/internal/store"
)

const ledgerCols = "id, account_id, job_id, unit_id, kind, coupon_milli, balance_milli, credit_milli, unpaid_milli, ref, note, created_at"

var ledgerBatchCols = []BatchCol{{"account_id", Int}, {"job_id", Int}, {"unit_id", Int}, {"kind", Text},
	{"coupon", Int}, {"balance", Int}, {"credit", Int}, {"unpaid", Int}, {"ref", Text}, {"note", Text}, {"at", Int}}

// AppendLedger inserts the lines in chunks of one statement each; a taken ref is skipped by the
// insert and counted, so that the whole call is undone (ErrConflict) rather than half written.
func (b *Base) AppendLedger(ctx context.Context, lines []store.LedgerLine) error {
	if len(lines) == 0 {
		return nil
	}
	return b.tx(ctx, func(q Querier) error {
		for start := 0; start < len(lines); start += insertChunk {
			chunk := lines[start:min(start+insertChunk, len(lines))]
			var a Args
			src := b.D.Batch(&a, "l", ledgerBatchCols, len(chunk), func(r, c int) any {
				l := chunk[r]
				return [...]any{l.AccountID, l.JobID, l.UnitID, string(l.Kind), l.CouponMilli, l.BalanceMilli,
					l.CreditMilli, l.UnpaidMilli, l.Ref, l.Note, MS(l.CreatedAt)}[c]
			})
			// "WHERE true" keeps SQLite from reading ON CONFLICT as part of a join.
			n, err := q.Exec(ctx, `INSERT INTO ledger (account_id, job_id, unit_id, kind, coupon_milli, balance_milli,
				credit_milli, unpaid_milli, ref, note, created_at)
				SELECT l.account_id, l.job_id, l.unit_id, l.kind, l.coupon, l.balance, l.credit, l.unpaid,
					NULLIF(l.ref, ''), l.note, l.at FROM `+src+` WHERE true ON CONFLICT (ref) DO NOTHING`, a.Vals...)
			if err != nil {
				return wrap(err, "append %d ledger lines", len(chunk))
			}
			if n != int64(len(chunk)) {
				return fmt.Errorf("append ledger lines: a reference is taken: %w", store.ErrConflict)
			}
		}
		return nil
	})
}

// LedgerByRef reads the line of ref.
func (b *Base) LedgerByRef(ctx context.Context, ref string) (store.LedgerLine, error) {
	l, err := scanLedger(b.r.QueryRow(ctx, `SELECT `+ledgerCols+` FROM ledger WHERE ref = $1`, ref))
	return l, wrap(err, "get ledger line %q", ref)
}

// ListLedger pages an account's or a job's lines, newest first.
func (b *Base) ListLedger(ctx context.Context, f store.LedgerFilter) ([]store.LedgerLine, int, error) {
	if f.AccountID == 0 && f.JobID == 0 {
		return nil, 0, fmt.Errorf("list ledger: %w: an account or a job is required", store.ErrInvalid)
	}
	var a Args
	var w []string
	if f.AccountID != 0 {
		w = append(w, "account_id = "+a.Add(f.AccountID))
	}
	if f.JobID != 0 {
		w = append(w, "job_id = "+a.Add(f.JobID))
	}
	where := " WHERE " + strings.Join(w, " AND ")
	var total int
	if err := b.r.QueryRow(ctx, `SELECT COUNT(*) FROM ledger`+where, a.Vals...).Scan(&total); err != nil {
		return nil, 0, wrap(err, "count ledger lines")
	}
	lines, err := all(scanLedger)(b.r.Query(ctx, `SELECT `+ledgerCols+` FROM ledger`+where+` ORDER BY id DESC`+
		limitOffset(&a, f.Limit, f.Offset), a.Vals...))
	return lines, total, wrap(err, "list ledger lines")
}

func scanLedger(r Row) (store.LedgerLine, error) {
	var l store.LedgerLine
	var kind string
	var ref sql.NullString
	var at int64
	if err := r.Scan(&l.ID, &l.AccountID, &l.JobID, &l.UnitID, &kind, &l.CouponMilli, &l.BalanceMilli, &l.CreditMilli,
		&l.UnpaidMilli, &ref, &l.Note, &at); err != nil {
		return l, notFound(err)
	}
	l.Kind, l.Ref, l.CreatedAt = store.LedgerKind(kind), ref.String, Time(at)
	return l, nil
}
