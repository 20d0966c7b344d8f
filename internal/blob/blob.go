// Package blob owns the bytes taskcenter keeps outside the database: scene files, rendered images,
// thumbnails, recordings, RPA packages and shared files. Blobs are addressed by the SHA-256 of their
// content, so the same bytes are stored once and a reference can never point at changed content.
// Two drivers implement Store: Local (a directory, the default) and S3 (a bucket of an S3-compatible
// service, for replicas on several hosts).
package blob

import (
	"context"
	"errors"
	"io"
)

// ErrNotFound: no blob with that hash.
var ErrNotFound = errors.New("blob not found")

// Ref names stored content.
type Ref struct {
	Hash string `json:"hash"` // lowercase hex SHA-256
	Size int64  `json:"size"`
}

// Store keeps content-addressed blobs.
type Store interface {
	// Put stores everything read from r and returns its address. When maxBytes > 0 and r holds more,
	// nothing is kept and ErrTooLarge is returned.
	Put(ctx context.Context, r io.Reader, maxBytes int64) (Ref, error)
	// Open returns the blob's content; ErrNotFound when absent.
	Open(ctx context.Context, hash string) (io.ReadSeekCloser, int64, error)
	Exists(ctx context.Context, hash string) (bool, error)
	// Delete removes the blob; ErrNotFound when absent.
	Delete(ctx context.Context, hash string) error
}

// ErrTooLarge: the content exceeded the caller's limit.
var ErrTooLarge = errors.New("blob larger than allowed")

// ValidHash reports whether h is a lowercase hex SHA-256, so that a hash from a request can never name a
// path outside the store.
func ValidHash(h string) bool {
	if len(h) != 64 {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}
