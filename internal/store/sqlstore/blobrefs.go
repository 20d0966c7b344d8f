package sqlstore

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"taskcenter/internal/store"
)

// AddBlobRefs records the account's read right on each hash, once.
func (b *Base) AddBlobRefs(ctx context.Context, accountID int64, hashes []string, now time.Time) error {
	hs := slices.Compact(slices.Sorted(slices.Values(hashes)))
	hs = slices.DeleteFunc(hs, func(h string) bool { return h == "" })
	if len(hs) == 0 {
		return nil
	}
	return b.tx(ctx, func(q Querier) error {
		for start := 0; start < len(hs); start += insertChunk {
			chunk := hs[start:min(start+insertChunk, len(hs))]
			var a Args
			cols := fmt.Sprintf("CAST(%s AS BIGINT), h.hash, CAST(%s AS BIGINT)", a.Add(accountID), a.Add(MS(now)))
			src := b.D.Batch(&a, "h", []BatchCol{{Name: "hash", Type: Text}}, len(chunk), func(r, _ int) any { return chunk[r] })
			// "WHERE true" keeps SQLite from reading ON CONFLICT as part of a join.
			if _, err := q.Exec(ctx, `INSERT INTO blob_refs (account_id, hash, created_at) SELECT `+cols+` FROM `+src+
				` WHERE true ON CONFLICT (account_id, hash) DO NOTHING`, a.Vals...); err != nil {
				return wrap(err, "record blob references of account %d", accountID)
			}
		}
		return nil
	})
}

// HasBlobRef reports whether the account holds a read right on hash.
func (b *Base) HasBlobRef(ctx context.Context, accountID int64, hash string) (bool, error) {
	var one int64
	err := b.r.QueryRow(ctx, `SELECT 1 FROM blob_refs WHERE account_id = $1 AND hash = $2`, accountID, hash).Scan(&one)
	if errors.Is(notFound(err), store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, wrap(err, "look up blob reference of account %d", accountID)
	}
	return true, nil
}

// HeldUnitsReferenceBlob reads the specs of the worker's running units whose account may read hash
// and looks for hash among their string values in Go, so that both drivers match alike (SQLite's LIKE
// ignores case, PostgreSQL's does not) and however the JSON is escaped.
func (b *Base) HeldUnitsReferenceBlob(ctx context.Context, workerID int64, hash string) (bool, error) {
	rows, err := b.r.Query(ctx, `SELECT u.spec FROM units u WHERE u.worker_id = $1 AND u.status = 'running'
		AND EXISTS (SELECT 1 FROM blob_refs r WHERE r.account_id = u.account_id AND r.hash = $2)`, workerID, hash)
	if err != nil {
		return false, wrap(err, "read units of worker %d", workerID)
	}
	defer rows.Close()
	found := false
	for rows.Next() {
		var spec sql.NullString
		if err := rows.Scan(&spec); err != nil {
			return false, wrap(err, "read units of worker %d", workerID)
		}
		if !found && spec.Valid && jsonHasString([]byte(spec.String), hash) {
			found = true
		}
	}
	return found, wrap(rows.Err(), "read units of worker %d", workerID)
}

// jsonHasString reports whether s is a string value (or key) anywhere in the JSON document doc.
func jsonHasString(doc []byte, s string) bool {
	dec := json.NewDecoder(bytes.NewReader(doc))
	for {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		if v, ok := tok.(string); ok && v == s {
			return true
		}
	}
}
