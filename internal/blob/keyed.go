package blob

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/minio/minio-go/v7"
)

// Keyed keeps objects under names the caller chooses, beside the content-addressed blobs: the files
// of a published site, which a CDN or a browser asks for by path. Both drivers implement it: Local
// under <dir>/keyed/<key>, S3 under <prefix>keyed/<key>, so that a publish target is the server's
// blob store whatever driver it runs.
type Keyed interface {
	// PutKey writes data under key, replacing what was there; a reader sees the old or the new
	// content whole, never a part.
	PutKey(ctx context.Context, key string, data []byte, contentType string) error
	// OpenKey returns the content under key; ErrNotFound when absent.
	OpenKey(ctx context.Context, key string) (io.ReadSeekCloser, int64, error)
	// DeleteKey removes key; ErrNotFound when absent.
	DeleteKey(ctx context.Context, key string) error
}

// ValidKey reports whether key is a relative slash-separated path of plain segments (no empty,
// "." or ".." segment, no backslash or NUL), so that a key can never name a place outside the
// keyed area of either driver.
func ValidKey(key string) bool {
	if key == "" || len(key) > 1024 || strings.ContainsAny(key, "\\\x00") {
		return false
	}
	for _, seg := range strings.Split(key, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return false
		}
	}
	return true
}

func (l *Local) keyPath(key string) string {
	return filepath.Join(l.dir, "keyed", filepath.FromSlash(key))
}

// PutKey implements Keyed: a temporary file synced and renamed into place.
func (l *Local) PutKey(ctx context.Context, key string, data []byte, contentType string) error {
	if !ValidKey(key) {
		return fmt.Errorf("put %q: %w", key, errBadKey)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	final := l.keyPath(key)
	if err := os.MkdirAll(filepath.Dir(final), 0o755); err != nil {
		return fmt.Errorf("create directory of %s: %w", key, err)
	}
	tmp, err := os.CreateTemp(filepath.Join(l.dir, "tmp"), "key-*")
	if err != nil {
		return fmt.Errorf("create temporary file for %s: %w", key, err)
	}
	defer os.Remove(tmp.Name()) // no-op after a successful rename
	defer tmp.Close()
	if _, err := tmp.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", key, err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", key, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("close %s: %w", key, err)
	}
	if err := os.Rename(tmp.Name(), final); err != nil {
		return fmt.Errorf("move %s into place: %w", key, err)
	}
	return nil
}

// OpenKey implements Keyed.
func (l *Local) OpenKey(ctx context.Context, key string) (io.ReadSeekCloser, int64, error) {
	if !ValidKey(key) {
		return nil, 0, ErrNotFound
	}
	f, err := os.Open(l.keyPath(key))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, 0, ErrNotFound
	}
	if err != nil {
		return nil, 0, fmt.Errorf("open %s: %w", key, err)
	}
	st, err := f.Stat()
	if err != nil || st.IsDir() {
		f.Close()
		if err == nil {
			return nil, 0, ErrNotFound
		}
		return nil, 0, fmt.Errorf("stat %s: %w", key, err)
	}
	return f, st.Size(), nil
}

// DeleteKey implements Keyed. Directories left empty are kept: removing them could race a PutKey
// creating a file in them.
func (l *Local) DeleteKey(ctx context.Context, key string) error {
	if !ValidKey(key) {
		return ErrNotFound
	}
	err := os.Remove(l.keyPath(key))
	if errors.Is(err, fs.ErrNotExist) {
		return ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	return nil
}

func (s *S3) objectKey(key string) string { return s.prefix + "keyed/" + key }

// PutKey implements Keyed: one PUT, which S3 makes visible whole.
func (s *S3) PutKey(ctx context.Context, key string, data []byte, contentType string) error {
	if !ValidKey(key) {
		return fmt.Errorf("put %q: %w", key, errBadKey)
	}
	if contentType == "" {
		contentType = "application/octet-stream"
	}
	_, err := s.client.PutObject(ctx, s.bucket, s.objectKey(key), bytes.NewReader(data), int64(len(data)),
		minio.PutObjectOptions{ContentType: contentType})
	if err != nil {
		return fmt.Errorf("upload %s: %w", key, err)
	}
	return nil
}

// OpenKey implements Keyed.
func (s *S3) OpenKey(ctx context.Context, key string) (io.ReadSeekCloser, int64, error) {
	if !ValidKey(key) {
		return nil, 0, ErrNotFound
	}
	info, err := s.client.StatObject(ctx, s.bucket, s.objectKey(key), minio.StatObjectOptions{})
	if err != nil {
		return nil, 0, s.err(err, "stat "+key)
	}
	obj, err := s.client.GetObject(ctx, s.bucket, s.objectKey(key), minio.GetObjectOptions{})
	if err != nil {
		return nil, 0, s.err(err, "open "+key)
	}
	return obj, info.Size, nil
}

// DeleteKey implements Keyed.
func (s *S3) DeleteKey(ctx context.Context, key string) error {
	if !ValidKey(key) {
		return ErrNotFound
	}
	// S3 deletes a missing key without complaint; the contract reports it.
	if _, err := s.client.StatObject(ctx, s.bucket, s.objectKey(key), minio.StatObjectOptions{}); err != nil {
		return s.err(err, "stat "+key)
	}
	if err := s.client.RemoveObject(ctx, s.bucket, s.objectKey(key), minio.RemoveObjectOptions{}); err != nil {
		return s.err(err, "delete "+key)
	}
	return nil
}

var errBadKey = errors.New("invalid object key")
