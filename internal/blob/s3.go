package blob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// S3 keeps blobs in a bucket of an S3-compatible service (AWS S3, MinIO, Ceph, ...) as
// <prefix><hash[0:2]>/<hash>, so that several server replicas on different hosts share them. An object
// is written only once its content is complete and hashed, and S3 makes a PUT visible whole or not at
// all, so a reader never sees a partial blob.
type S3 struct {
	client *minio.Client
	bucket string
	prefix string
	tmpDir string
}

// S3Config names a bucket and how to reach it.
type S3Config struct {
	Endpoint  string // host[:port]
	Bucket    string
	Prefix    string // key prefix, e.g. "taskcenter/"
	Region    string
	AccessKey string
	SecretKey string
	Insecure  bool   // plain HTTP (a local MinIO)
	TempDir   string // where uploads are spooled while hashed; os.TempDir() when empty
	// Transport, when set, replaces the HTTP transport (tests).
	Transport http.RoundTripper
}

// ParseS3URL reads s3://[ACCESS:SECRET@]host[:port]/bucket[/prefix][?region=R&insecure=true]. Keys
// missing from the URL come from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.
func ParseS3URL(raw string) (S3Config, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "s3" || u.Host == "" {
		return S3Config{}, fmt.Errorf("blob url %q: want s3://host[:port]/bucket[/prefix]", redact(raw))
	}
	bucket, prefix, _ := strings.Cut(strings.TrimPrefix(u.Path, "/"), "/")
	if bucket == "" {
		return S3Config{}, fmt.Errorf("blob url %q names no bucket", redact(raw))
	}
	if prefix != "" && !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	c := S3Config{Endpoint: u.Host, Bucket: bucket, Prefix: prefix, Region: u.Query().Get("region"),
		AccessKey: os.Getenv("AWS_ACCESS_KEY_ID"), SecretKey: os.Getenv("AWS_SECRET_ACCESS_KEY")}
	if u.User != nil {
		c.AccessKey = u.User.Username()
		c.SecretKey, _ = u.User.Password()
	}
	switch u.Query().Get("insecure") {
	case "", "false", "0":
	case "true", "1":
		c.Insecure = true
	default:
		return S3Config{}, fmt.Errorf("blob url: insecure must be true or false")
	}
	return c, nil
}

// redact hides a secret in a URL for error messages.
func redact(raw string) string {
	if u, err := url.Parse(raw); err == nil && u.User != nil {
		return u.Redacted()
	}
	return raw
}

// NewS3 connects to the bucket, creating it when it does not exist.
func NewS3(ctx context.Context, c S3Config) (*S3, error) {
	client, err := minio.New(c.Endpoint, &minio.Options{
		Creds:        credentials.NewStaticV4(c.AccessKey, c.SecretKey, ""),
		Secure:       !c.Insecure,
		Region:       c.Region,
		BucketLookup: minio.BucketLookupPath,
		Transport:    c.Transport,
	})
	if err != nil {
		return nil, fmt.Errorf("s3 client for %s: %w", c.Endpoint, err)
	}
	ok, err := client.BucketExists(ctx, c.Bucket)
	if err != nil {
		return nil, fmt.Errorf("look up bucket %s: %w", c.Bucket, err)
	}
	if !ok {
		if err := client.MakeBucket(ctx, c.Bucket, minio.MakeBucketOptions{Region: c.Region}); err != nil {
			return nil, fmt.Errorf("create bucket %s: %w", c.Bucket, err)
		}
	}
	return &S3{client: client, bucket: c.Bucket, prefix: c.Prefix, tmpDir: c.TempDir}, nil
}

func (s *S3) key(hash string) string { return s.prefix + hash[:2] + "/" + hash }

// Put implements Store. The content is spooled to a temporary file while it is hashed, because the
// object's key is its hash; content already in the bucket is not sent again, but its time is refreshed.
func (s *S3) Put(ctx context.Context, r io.Reader, maxBytes int64) (Ref, error) {
	tmp, err := os.CreateTemp(s.tmpDir, "taskcenter-blob-*")
	if err != nil {
		return Ref{}, fmt.Errorf("create temporary blob: %w", err)
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	ref, err := hashCopy(ctx, tmp, r, maxBytes)
	if err != nil {
		return Ref{}, err
	}
	if ok, err := s.Exists(ctx, ref.Hash); err != nil {
		return Ref{}, err
	} else if ok {
		// Stored already: refresh its time, so that a sweep of unreferenced blobs leaves it to the
		// caller, who is about to record its reference (reclaim.go). Should the copy fail (a sweep
		// deleted the object meanwhile, or it is too large to copy in one request), upload it again.
		if err := s.touch(ctx, ref.Hash); err == nil {
			return ref, nil
		}
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return Ref{}, fmt.Errorf("rewind blob: %w", err)
	}
	_, err = s.client.PutObject(ctx, s.bucket, s.key(ref.Hash), tmp, ref.Size, minio.PutObjectOptions{ContentType: "application/octet-stream"})
	if err != nil {
		return Ref{}, fmt.Errorf("upload blob %s: %w", ref.Hash, err)
	}
	return ref, nil
}

// Open implements Store. Reads and seeks turn into ranged GETs.
func (s *S3) Open(ctx context.Context, hash string) (io.ReadSeekCloser, int64, error) {
	if !ValidHash(hash) {
		return nil, 0, ErrNotFound
	}
	info, err := s.client.StatObject(ctx, s.bucket, s.key(hash), minio.StatObjectOptions{})
	if err != nil {
		return nil, 0, s.err(err, "stat blob "+hash)
	}
	obj, err := s.client.GetObject(ctx, s.bucket, s.key(hash), minio.GetObjectOptions{})
	if err != nil {
		return nil, 0, s.err(err, "open blob "+hash)
	}
	return obj, info.Size, nil
}

// Exists implements Store.
func (s *S3) Exists(ctx context.Context, hash string) (bool, error) {
	if !ValidHash(hash) {
		return false, nil
	}
	_, err := s.client.StatObject(ctx, s.bucket, s.key(hash), minio.StatObjectOptions{})
	if err == nil {
		return true, nil
	}
	if err = s.err(err, "stat blob "+hash); errors.Is(err, ErrNotFound) {
		return false, nil
	}
	return false, err
}

// Delete implements Store.
func (s *S3) Delete(ctx context.Context, hash string) error {
	// S3 deletes a missing key without complaint; the Store contract reports it.
	if ok, err := s.Exists(ctx, hash); err != nil || !ok {
		if err == nil {
			err = ErrNotFound
		}
		return err
	}
	if err := s.client.RemoveObject(ctx, s.bucket, s.key(hash), minio.RemoveObjectOptions{}); err != nil {
		return s.err(err, "delete blob "+hash)
	}
	return nil
}

// err maps a missing object to ErrNotFound and wraps anything else with what was being done.
func (s *S3) err(err error, doing string) error {
	if r := minio.ToErrorResponse(err); r.Code == "NoSuchKey" || r.StatusCode == http.StatusNotFound {
		return ErrNotFound
	}
	return fmt.Errorf("%s: %w", doing, err)
}
