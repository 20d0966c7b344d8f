package blob

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// Local keeps blobs in a directory as <dir>/<hash[0:2]>/<hash>. Writes go to a temporary file that is
// synced and renamed into place, so a reader never sees a partial blob, even after a crash, and
// content stored again gets a fresh modification time (what a sweep of unreferenced blobs reads).
type Local struct {
	dir string
}

// NewLocal opens (creating if needed) a local blob directory.
func NewLocal(dir string) (*Local, error) {
	if err := os.MkdirAll(filepath.Join(dir, "tmp"), 0o755); err != nil {
		return nil, fmt.Errorf("create blob directory: %w", err)
	}
	return &Local{dir: dir}, nil
}

func (l *Local) path(hash string) string { return filepath.Join(l.dir, hash[:2], hash) }

// Put implements Store.
func (l *Local) Put(ctx context.Context, r io.Reader, maxBytes int64) (Ref, error) {
	tmp, err := os.CreateTemp(filepath.Join(l.dir, "tmp"), "put-*")
	if err != nil {
		return Ref{}, fmt.Errorf("create temporary blob: %w", err)
	}
	defer os.Remove(tmp.Name()) // no-op after a successful rename
	defer tmp.Close()

	ref, err := hashCopy(ctx, tmp, r, maxBytes)
	if err != nil {
		return Ref{}, err
	}
	if err := tmp.Sync(); err != nil {
		return Ref{}, fmt.Errorf("sync blob: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return Ref{}, fmt.Errorf("close blob: %w", err)
	}
	final := l.path(ref.Hash)
	if err := os.MkdirAll(filepath.Dir(final), 0o755); err != nil {
		return Ref{}, fmt.Errorf("create blob shard: %w", err)
	}
	if err := os.Rename(tmp.Name(), final); err != nil {
		return Ref{}, fmt.Errorf("move blob into place: %w", err)
	}
	return ref, nil
}

// Open implements Store.
func (l *Local) Open(ctx context.Context, hash string) (io.ReadSeekCloser, int64, error) {
	if !ValidHash(hash) {
		return nil, 0, ErrNotFound
	}
	// A sweep may hold the blob in quarantine for a moment while it checks it (reclaim.go); the
	// blob is at one of the two places, or back at the first.
	f, err := os.Open(l.path(hash))
	if errors.Is(err, fs.ErrNotExist) {
		f, err = os.Open(l.quarantinePath(hash))
	}
	if errors.Is(err, fs.ErrNotExist) {
		f, err = os.Open(l.path(hash))
	}
	if errors.Is(err, fs.ErrNotExist) {
		return nil, 0, ErrNotFound
	}
	if err != nil {
		return nil, 0, fmt.Errorf("open blob: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("stat blob: %w", err)
	}
	return f, st.Size(), nil
}

// Exists implements Store.
func (l *Local) Exists(ctx context.Context, hash string) (bool, error) {
	if !ValidHash(hash) {
		return false, nil
	}
	_, err := os.Stat(l.path(hash))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

// Delete implements Store.
func (l *Local) Delete(ctx context.Context, hash string) error {
	if !ValidHash(hash) {
		return ErrNotFound
	}
	err := os.Remove(l.path(hash))
	if errors.Is(err, fs.ErrNotExist) {
		return ErrNotFound
	}
	return err
}

// hashCopy copies r to w while hashing it, and refuses (ErrTooLarge) content longer than maxBytes when
// maxBytes > 0.
func hashCopy(ctx context.Context, w io.Writer, r io.Reader, maxBytes int64) (Ref, error) {
	h := sha256.New()
	src := r
	if maxBytes > 0 {
		src = io.LimitReader(r, maxBytes+1)
	}
	n, err := io.Copy(io.MultiWriter(w, h), &ctxReader{ctx: ctx, r: src})
	if err != nil {
		return Ref{}, fmt.Errorf("write blob: %w", err)
	}
	if maxBytes > 0 && n > maxBytes {
		return Ref{}, ErrTooLarge
	}
	return Ref{Hash: hex.EncodeToString(h.Sum(nil)), Size: n}, nil
}

// ctxReader stops a long copy when the caller's context ends (a client that went away mid-upload).
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
