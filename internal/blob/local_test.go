package blob

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

func TestLocal(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := NewLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("taskcenter"), 10000)
	sum := sha256.Sum256(data)

	tests := []struct {
		name    string
		data    []byte
		max     int64
		wantErr error
	}{
		{"fits", data, 0, nil},
		{"exactly the limit", data, int64(len(data)), nil},
		{"over the limit", data, int64(len(data)) - 1, ErrTooLarge},
		{"empty", nil, 0, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ref, err := s.Put(ctx, bytes.NewReader(tc.data), tc.max)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Put error = %v, want %v", err, tc.wantErr)
			}
			if err != nil {
				return
			}
			want := sha256.Sum256(tc.data)
			if ref.Hash != hex.EncodeToString(want[:]) || ref.Size != int64(len(tc.data)) {
				t.Fatalf("ref = %+v", ref)
			}
			rc, size, err := s.Open(ctx, ref.Hash)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(rc)
			rc.Close()
			if !bytes.Equal(got, tc.data) || size != int64(len(tc.data)) {
				t.Fatalf("content differs")
			}
		})
	}
	// A refused Put leaves nothing behind in the temporary directory.
	left, _ := os.ReadDir(filepath.Join(dir, "tmp"))
	if len(left) != 0 {
		t.Fatalf("temporary files left: %d", len(left))
	}
	if ok, _ := s.Exists(ctx, hex.EncodeToString(sum[:])); !ok {
		t.Fatal("Exists = false after Put")
	}
	for _, bad := range []string{"../../etc/passwd", "", "ABC", hex.EncodeToString(make([]byte, 32))} {
		if _, _, err := s.Open(ctx, bad); !errors.Is(err, ErrNotFound) {
			t.Errorf("Open(%q) error = %v, want ErrNotFound", bad, err)
		}
	}
	if err := s.Delete(ctx, hex.EncodeToString(sum[:])); err != nil {
		t.Fatal(err)
	}
	if ok, _ := s.Exists(ctx, hex.EncodeToString(sum[:])); ok {
		t.Fatal("Exists = true after Delete")
	}
}
