package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"taskcenter/internal/store"
)

var _ store.BlobSweep = (*Base)(nil)

// UnreferencedBlobs looks the hashes up in batches of insertChunk, each one statement over the
// blob_refs_hash index.
func (b *Base) UnreferencedBlobs(ctx context.Context, hashes []string) ([]string, error) {
	seen := make(map[string]bool, len(hashes))
	hs := make([]string, 0, len(hashes))
	for _, h := range hashes {
		if h != "" && !seen[h] {
			seen[h] = true
			hs = append(hs, h)
		}
	}
	free := map[string]bool{}
	for start := 0; start < len(hs); start += insertChunk {
		chunk := hs[start:min(start+insertChunk, len(hs))]
		var a Args
		src := b.D.Batch(&a, "h", []BatchCol{{Name: "hash", Type: Text}}, len(chunk), func(r, _ int) any { return chunk[r] })
		rows, err := b.r.Query(ctx, fmt.Sprintf(`SELECT h.hash FROM %s
			WHERE NOT EXISTS (SELECT 1 FROM blob_refs r WHERE r.hash = h.hash)`, src), a.Vals...)
		if err != nil {
			return nil, wrap(err, "look up references of %d blobs", len(chunk))
		}
		for rows.Next() {
			var h string
			if err := rows.Scan(&h); err != nil {
				rows.Close()
				return nil, wrap(err, "look up references of %d blobs", len(chunk))
			}
			free[h] = true
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, wrap(err, "look up references of %d blobs", len(chunk))
		}
	}
	out := make([]string, 0, len(free))
	for _, h := range hs {
		if free[h] {
			out = append(out, h)
		}
	}
	return out, nil
}

// BlobSweepSince reads the horizon migration 00057 wrote on a database upgraded with data.
func (b *Base) BlobSweepSince(ctx context.Context) (time.Time, bool, error) {
	var ms int64
	err := notFound(b.r.QueryRow(ctx, `SELECT since FROM blob_sweep WHERE id = 1`).Scan(&ms))
	if errors.Is(err, store.ErrNotFound) {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, fmt.Errorf("read the blob sweep's horizon: %w", err)
	}
	return time.UnixMilli(ms), true, nil
}
