package blob

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
)

// Reclaiming unreferenced blobs. Both drivers list their content-addressed blobs with a
// modification time and delete one only while it stays old and unreferenced:
//
//   - Put refreshes the modification time of content that is already stored (Local writes a new
//     file and renames it into place; S3 copies the object onto itself), so a blob that someone
//     has just stored again, and whose reference may not be written yet, is young and left alone.
//   - DeleteIfUnused checks the time and asks its caller to check the references again right
//     before the delete.
//
// Local closes the race whole: the blob is first renamed to <dir>/quarantine/<hash>, after which a
// Put of the same content writes a new file in the blob's place rather than touching the one about
// to go; the quarantined file's time and the references are then checked again, and the file is
// put back (hard link, so a newer copy is never overwritten) if either says the blob is wanted. A
// reader meanwhile finds the quarantined file (Open looks there too). S3 has no rename and no
// delete conditioned on a time, so one window remains there: a Put that finds the blob stored
// and refreshes it between DeleteIfUnused's last check (one HEAD request) and its DELETE loses the
// bytes it meant to keep. The window is one round trip to the bucket and needs that content to be
// uploaded again, after the grace period, at that very moment.

// Info describes one stored blob.
type Info struct {
	Hash    string
	Size    int64
	ModTime time.Time // when the blob was last written or refreshed by Put
}

const quarantineDir = "quarantine"

func (l *Local) quarantinePath(hash string) string { return filepath.Join(l.dir, quarantineDir, hash) }

// List calls fn with every content-addressed blob (not keyed objects, nor temporary files). It first
// puts back any blob a sweep that stopped half-way left in quarantine.
func (l *Local) List(ctx context.Context, fn func(Info) error) error {
	if err := l.restoreQuarantined(); err != nil {
		return err
	}
	shards, err := os.ReadDir(l.dir)
	if err != nil {
		return fmt.Errorf("list blob directory: %w", err)
	}
	for _, shard := range shards {
		name := shard.Name()
		if !shard.IsDir() || len(name) != 2 || !ValidHash(name+strings.Repeat("0", 62)) {
			continue
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		files, err := os.ReadDir(filepath.Join(l.dir, name))
		if err != nil {
			return fmt.Errorf("list blob shard %s: %w", name, err)
		}
		for _, f := range files {
			h := f.Name()
			if !f.Type().IsRegular() || !ValidHash(h) || h[:2] != name {
				continue
			}
			st, err := f.Info()
			if errors.Is(err, fs.ErrNotExist) {
				continue // deleted since the directory was read
			}
			if err != nil {
				return fmt.Errorf("stat blob %s: %w", h, err)
			}
			if err := fn(Info{Hash: h, Size: st.Size(), ModTime: st.ModTime()}); err != nil {
				return err
			}
		}
	}
	return nil
}

// restoreQuarantined puts back every quarantined blob.
func (l *Local) restoreQuarantined() error {
	files, err := os.ReadDir(filepath.Join(l.dir, quarantineDir))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("list blob quarantine: %w", err)
	}
	for _, f := range files {
		if ValidHash(f.Name()) {
			if err := l.restore(f.Name()); err != nil {
				return err
			}
		}
	}
	return nil
}

// restore moves a quarantined blob back. A hard link never replaces a file a Put wrote meanwhile
// (the same content, younger).
func (l *Local) restore(hash string) error {
	q := l.quarantinePath(hash)
	if err := os.MkdirAll(filepath.Dir(l.path(hash)), 0o755); err != nil {
		return fmt.Errorf("create blob shard: %w", err)
	}
	if err := os.Link(q, l.path(hash)); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("put blob %s back: %w", hash, err)
	}
	if err := os.Remove(q); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("put blob %s back: %w", hash, err)
	}
	return nil
}

// DeleteIfUnused deletes the blob when it was last written at or before cutoff and unused, called
// once the blob is out of reach of Put, still reports true. It returns whether it deleted the blob
// and the size freed; a blob that is absent is not an error (another sweep took it).
func (l *Local) DeleteIfUnused(ctx context.Context, hash string, cutoff time.Time, unused func(context.Context) (bool, error)) (bool, int64, error) {
	if !ValidHash(hash) {
		return false, 0, nil
	}
	if st, err := os.Stat(l.path(hash)); err != nil || st.ModTime().After(cutoff) {
		if errors.Is(err, fs.ErrNotExist) {
			err = nil
		}
		return false, 0, err
	}
	if err := os.MkdirAll(filepath.Join(l.dir, quarantineDir), 0o755); err != nil {
		return false, 0, fmt.Errorf("create blob quarantine: %w", err)
	}
	q := l.quarantinePath(hash)
	if err := os.Rename(l.path(hash), q); errors.Is(err, fs.ErrNotExist) {
		return false, 0, nil
	} else if err != nil {
		return false, 0, fmt.Errorf("quarantine blob %s: %w", hash, err)
	}
	// A Put of this content from here on writes a new file at the blob's path. One that came
	// between the Stat above and the rename refreshed the file now in quarantine: its time says so.
	st, err := os.Stat(q)
	if err != nil {
		return false, 0, errors.Join(fmt.Errorf("stat quarantined blob %s: %w", hash, err), l.restore(hash))
	}
	if st.ModTime().After(cutoff) {
		return false, 0, l.restore(hash)
	}
	ok, err := unused(ctx)
	if err != nil || !ok {
		return false, 0, errors.Join(err, l.restore(hash))
	}
	if err := os.Remove(q); err != nil {
		return false, 0, errors.Join(fmt.Errorf("delete blob %s: %w", hash, err), l.restore(hash))
	}
	if _, err := os.Stat(l.path(hash)); err == nil {
		return false, 0, nil // stored again meanwhile: the content is kept, in its new file
	}
	return true, st.Size(), nil
}

// List calls fn with every content-addressed blob under the prefix (not keyed objects), with the
// object's LastModified as its time.
func (s *S3) List(ctx context.Context, fn func(Info) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // stops the listing's goroutine when fn fails
	for obj := range s.client.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: s.prefix, Recursive: true}) {
		if obj.Err != nil {
			return fmt.Errorf("list bucket %s: %w", s.bucket, obj.Err)
		}
		rest := strings.TrimPrefix(obj.Key, s.prefix)
		shard, h, ok := strings.Cut(rest, "/")
		if !ok || !ValidHash(h) || shard != h[:2] {
			continue
		}
		if err := fn(Info{Hash: h, Size: obj.Size, ModTime: obj.LastModified}); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// DeleteIfUnused deletes the object when unused still reports true and the object was last written
// at or before cutoff; the time is read last, right before the delete (see the window described
// at the top of this file). It returns whether it deleted the blob and the size freed.
func (s *S3) DeleteIfUnused(ctx context.Context, hash string, cutoff time.Time, unused func(context.Context) (bool, error)) (bool, int64, error) {
	if !ValidHash(hash) {
		return false, 0, nil
	}
	ok, err := unused(ctx)
	if err != nil || !ok {
		return false, 0, err
	}
	info, err := s.client.StatObject(ctx, s.bucket, s.key(hash), minio.StatObjectOptions{})
	if err != nil {
		if err = s.err(err, "stat blob "+hash); errors.Is(err, ErrNotFound) {
			return false, 0, nil
		}
		return false, 0, err
	}
	if info.LastModified.After(cutoff) {
		return false, 0, nil
	}
	if err := s.client.RemoveObject(ctx, s.bucket, s.key(hash), minio.RemoveObjectOptions{}); err != nil {
		return false, 0, s.err(err, "delete blob "+hash)
	}
	return true, info.Size, nil
}

// touch refreshes an object's LastModified by copying it onto itself (S3 refuses a self-copy that
// changes nothing, so the metadata is replaced with the same content type and a mark).
func (s *S3) touch(ctx context.Context, hash string) error {
	_, err := s.client.CopyObject(ctx,
		minio.CopyDestOptions{Bucket: s.bucket, Object: s.key(hash), ReplaceMetadata: true,
			UserMetadata: map[string]string{"Content-Type": "application/octet-stream", "Taskcenter-Refreshed": "1"}},
		minio.CopySrcOptions{Bucket: s.bucket, Object: s.key(hash)})
	if err != nil {
		return s.err(err, "refresh blob "+hash)
	}
	return nil
}
