package blob

import (
	"context"
	"errors"
	"io"
	"net/http/httptest"
	"testing"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// withEmpty includes an empty object (the S3 stand-in refuses minio-go's empty upload; see TestS3).
func testKeyed(t *testing.T, k Keyed, withEmpty bool) {
	ctx := context.Background()
	read := func(key string) (string, error) {
		rc, _, err := k.OpenKey(ctx, key)
		if err != nil {
			return "", err
		}
		defer rc.Close()
		b, err := io.ReadAll(rc)
		return string(b), err
	}
	if err := k.PutKey(ctx, "site/a/index.html", []byte("one"), "text/html"); err != nil {
		t.Fatal(err)
	}
	if err := k.PutKey(ctx, "site/a/index.html", []byte("two"), "text/html"); err != nil {
		t.Fatal(err)
	}
	if got, err := read("site/a/index.html"); err != nil || got != "two" {
		t.Fatalf("read %q, %v", got, err)
	}
	for _, bad := range []string{"", "/abs", "a//b", "a/../b", "..", "a\\b", "a\x00b", "a/"} {
		if err := k.PutKey(ctx, bad, []byte("x"), ""); err == nil {
			t.Errorf("PutKey(%q) accepted", bad)
		}
		if _, err := read(bad); !errors.Is(err, ErrNotFound) {
			t.Errorf("OpenKey(%q) = %v", bad, err)
		}
	}
	if withEmpty {
		if err := k.PutKey(ctx, "site/a/empty.txt", nil, "text/plain"); err != nil {
			t.Fatal(err)
		}
		if got, err := read("site/a/empty.txt"); err != nil || got != "" {
			t.Fatalf("read empty %q, %v", got, err)
		}
	}
	if err := k.DeleteKey(ctx, "site/a/index.html"); err != nil {
		t.Fatal(err)
	}
	if _, err := read("site/a/index.html"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("after delete: %v", err)
	}
	if err := k.DeleteKey(ctx, "site/a/index.html"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
	if _, err := read("site/a"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a directory opened: %v", err)
	}
}

func TestKeyedLocal(t *testing.T) {
	s, err := NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	testKeyed(t, s, true)
}

func TestKeyedS3(t *testing.T) {
	srv := httptest.NewServer(gofakes3.New(s3mem.New()).Server())
	defer srv.Close()
	cfg, err := ParseS3URL("s3://k:s@" + srv.Listener.Addr().String() + "/site/p?insecure=true&region=us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewS3(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	testKeyed(t, s, false)
}
