package sqlstore

import (
	"context"
	"fmt"
	"slices"

	"taskcenter/internal/store"
)

var _ store.BlobRefDrops = (*Base)(nil)

// DropBlobRefs removes the account's read rights on hashes, in one transaction.
func (b *Base) DropBlobRefs(ctx context.Context, accountID int64, hashes []string) (int, error) {
	hs := slices.Compact(slices.Sorted(slices.Values(hashes)))
	hs = slices.DeleteFunc(hs, func(h string) bool { return h == "" })
	if len(hs) == 0 {
		return 0, nil
	}
	dropped := 0
	err := b.tx(ctx, func(q Querier) error {
		for start := 0; start < len(hs); start += insertChunk {
			chunk := hs[start:min(start+insertChunk, len(hs))]
			var a Args
			acct := a.Add(accountID)
			src := b.D.Batch(&a, "h", []BatchCol{{Name: "hash", Type: Text}}, len(chunk), func(r, _ int) any { return chunk[r] })
			n, err := q.Exec(ctx, fmt.Sprintf(`DELETE FROM blob_refs WHERE account_id = %s AND hash IN (SELECT h.hash FROM %s)`, acct, src), a.Vals...)
			if err != nil {
				return wrap(err, "drop blob references of account %d", accountID)
			}
			dropped += int(n)
		}
		return nil
	})
	return dropped, err
}
