package sqlstore

import (
	"context"
	"fmt"
	"strings"
	"time"

	"taskcenter/internal/store"
)

func (b *Base) PutRecord(ctx context.Context, r store.Record, now time.Time) (store.Record, error) {
	var out store.Record
	var err error
	if r.ID == 0 {
		out, err = scanRecord(b.w.QueryRow(ctx, `INSERT INTO records (account_id, kind, key, parent_id, data,
			scope, name, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) RETURNING `+recordCols,
			r.AccountID, r.Kind, r.Key, r.ParentID, JSON(r.Data), r.Scope, r.Name, MS(now)))
	} else {
		out, err = scanRecord(b.w.QueryRow(ctx, `UPDATE records SET account_id = $2, kind = $3, key = $4,
			parent_id = $5, data = $6, scope = $7, name = $8, updated_at = $9 WHERE id = $1 RETURNING `+recordCols,
			r.ID, r.AccountID, r.Kind, r.Key, r.ParentID, JSON(r.Data), r.Scope, r.Name, MS(now)))
	}
	return out, wrap(b.conflict(err), "put %s record %q", r.Kind, r.Key)
}

func (b *Base) GetRecord(ctx context.Context, id int64) (store.Record, error) {
	r, err := scanRecord(b.r.QueryRow(ctx, `SELECT `+recordCols+` FROM records WHERE id = $1`, id))
	return r, wrap(err, "get record %d", id)
}

func (b *Base) GetRecordByKey(ctx context.Context, accountID int64, kind, key string) (store.Record, error) {
	r, err := scanRecord(b.r.QueryRow(ctx, `SELECT `+recordCols+` FROM records
		WHERE account_id = $1 AND kind = $2 AND key = $3 ORDER BY id LIMIT 1`, accountID, kind, key))
	return r, wrap(err, "get %s record %q", kind, key)
}

// ListRecords orders by id (descending with Desc). ParentID filters unless -1 (0 selects top-level records).
func (b *Base) ListRecords(ctx context.Context, f store.RecordFilter) ([]store.Record, int, error) {
	var a Args
	var w []string
	if len(f.AccountIDs) > 0 {
		w = append(w, b.D.InInt64s(&a, "account_id", f.AccountIDs, false))
	}
	if f.Kind != "" {
		w = append(w, "kind = "+a.Add(f.Kind))
	}
	if f.ParentID != -1 {
		w = append(w, "parent_id = "+a.Add(f.ParentID))
	}
	if f.KeyPrefix != "" {
		w = append(w, fmt.Sprintf("SUBSTR(key, 1, %d) = %s", len([]rune(f.KeyPrefix)), a.Add(f.KeyPrefix)))
	}
	// SUBSTR and REPLACE compare exactly in both drivers, where LIKE folds ASCII case in SQLite only;
	// neither takes wildcards, so nothing in the text needs escaping.
	if f.ScopePrefix != "" {
		c := fmt.Sprintf("SUBSTR(scope, 1, %d) = %s", len([]rune(f.ScopePrefix)), a.Add(f.ScopePrefix))
		if f.OrUnscoped {
			c = "(scope = '' OR " + c + ")"
		}
		w = append(w, c)
	}
	if f.NameContains != "" { // the name changes when the text is cut out of it iff it holds the text
		w = append(w, fmt.Sprintf("REPLACE(name, %s, '') <> name", a.Add(f.NameContains)))
	}
	for _, m := range f.Fields {
		w = append(w, b.fieldMatch(&a, m))
	}
	if len(f.AnyField) > 0 {
		ors := make([]string, len(f.AnyField))
		for i, m := range f.AnyField {
			ors[i] = b.fieldMatch(&a, m)
		}
		w = append(w, "("+strings.Join(ors, " OR ")+")")
	}
	if !f.CreatedFrom.IsZero() {
		w = append(w, "created_at >= "+a.Add(f.CreatedFrom.UnixMilli()))
	}
	if !f.CreatedTo.IsZero() {
		w = append(w, "created_at <= "+a.Add(f.CreatedTo.UnixMilli()))
	}
	where := ""
	if len(w) > 0 {
		where = " WHERE " + strings.Join(w, " AND ")
	}
	var total int
	if err := b.r.QueryRow(ctx, `SELECT COUNT(*) FROM records`+where, a.Vals...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count records: %w", err)
	}
	order := " ORDER BY id"
	if f.Desc {
		order += " DESC"
	}
	page := limitOffset(&a, f.Limit, f.Offset)
	rs, err := all(scanRecord)(b.r.Query(ctx, `SELECT `+recordCols+` FROM records`+where+order+page, a.Vals...))
	if err != nil {
		return nil, 0, fmt.Errorf("list records: %w", err)
	}
	return rs, total, nil
}

// fieldMatch renders m as a condition on the document's field; an empty Values matches nothing (or,
// with Not, everything).
func (b *Base) fieldMatch(a *Args, m store.FieldMatch) string {
	if len(m.Values) == 0 {
		if m.Not {
			return "1 = 1"
		}
		return "1 = 0"
	}
	c := b.D.InStrings(a, b.D.JSONText("data", a.Add(m.Field)), m.Values)
	if m.Not {
		c = "NOT (" + c + ")"
	}
	return c
}

func (b *Base) DeleteRecord(ctx context.Context, id int64) error {
	n, err := b.w.Exec(ctx, `DELETE FROM records WHERE id = $1`, id)
	if err == nil && n == 0 {
		err = store.ErrNotFound
	}
	return wrap(err, "delete record %d", id)
}
