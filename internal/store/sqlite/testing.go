package sqlite

import (
	"context"
	"path/filepath"
	"testing"
)

// OpenTest opens a fresh store in t's temporary directory and closes it when the test ends.
func OpenTest(t testing.TB) *Store {
	t.Helper()
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "taskcenter.db"))
	if err != nil {
		t.Fatalf("open sqlite store: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}
