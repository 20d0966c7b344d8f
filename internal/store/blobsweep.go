package store

import "context"

// BlobSweep answers the sweep of unreferenced blobs: which stored blobs no account may read any
// more, so that their bytes can be reclaimed.
type BlobSweep interface {
	// UnreferencedBlobs returns those of hashes that no account holds a read right on (store.BlobRefs),
	// in the order given, without repeats and without empty strings. Any number of hashes may be
	// asked at once; they are looked up in batches.
	UnreferencedBlobs(ctx context.Context, hashes []string) ([]string, error)
}
