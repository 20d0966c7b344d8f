package store

import "context"

// BlobRefDrops takes read rights on blobs away from an account, for a facade whose files the
// account deleted. The blobs themselves stay in the blob store until no account refers to them;
// then the sweep of unreferenced blobs (internal/blobsweep, BlobSweep) deletes them.
type BlobRefDrops interface {
	// DropBlobRefs removes the account's read right on each of hashes (absent ones are skipped) and
	// returns how many it removed. Other accounts' rights on the same blobs are untouched.
	DropBlobRefs(ctx context.Context, accountID int64, hashes []string) (int, error)
}
