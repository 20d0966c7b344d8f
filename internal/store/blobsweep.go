package store

import (
	"context"
	"time"
)

// BlobSweep answers the sweep of unreferenced blobs: which stored blobs no account may read any
// more, so that their bytes can be reclaimed.
type BlobSweep interface {
	// UnreferencedBlobs returns those of hashes that no account holds a read right on (store.BlobRefs),
	// in the order given, without repeats and without empty strings. Any number of hashes may be
	// asked at once; they are looked up in batches.
	UnreferencedBlobs(ctx context.Context, hashes []string) ([]string, error)
	// BlobSweepSince returns the time before which no blob is swept, and false when every blob
	// may be: a database upgraded with data keeps the blobs written before its upgrade, some of
	// which no reference names (migration 00057).
	BlobSweepSince(ctx context.Context) (time.Time, bool, error)
}
