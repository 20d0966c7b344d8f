package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// DefaultTestURL is the database tests use when TASKCENTER_TEST_DATABASE_URL is not set.
const DefaultTestURL = "postgres://postgres@127.0.0.1:5432/test"

// TestURL is the database tests run against: TASKCENTER_TEST_DATABASE_URL or DefaultTestURL.
func TestURL() string {
	if u := os.Getenv("TASKCENTER_TEST_DATABASE_URL"); u != "" {
		return u
	}
	return DefaultTestURL
}

// OpenTest opens a store in a fresh schema of the test database and drops the schema when the test
// ends. When the database is unreachable it skips the test, except under CI=true where it fails: CI
// must never pass by skipping.
func OpenTest(t testing.TB) *Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	url := TestURL()
	admin, err := pgx.Connect(ctx, url)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("postgres test database %s unreachable: %v", url, err)
		}
		t.Skipf("postgres test database %s unreachable: %v", url, err)
	}
	// pg_trgm (migration 00059) goes into public, which outlives the test: created by a test's
	// migration it would land in the test's schema, and dropping that would drop every other test's
	// search index with it. An error (a concurrent test creating it too, or no pg_trgm on the
	// server) leaves the migration to find it or go without.
	_, _ = admin.Exec(ctx, "CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public")
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "t_" + hex.EncodeToString(b[:])
	s, err := OpenSchema(ctx, url, schema)
	if err != nil {
		_ = admin.Close(ctx)
		t.Fatalf("open postgres store: %v", err)
	}
	t.Cleanup(func() {
		_ = s.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := admin.Exec(ctx, "DROP SCHEMA "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
			t.Errorf("drop test schema %s: %v", schema, err)
		}
		_ = admin.Close(ctx)
	})
	return s
}
