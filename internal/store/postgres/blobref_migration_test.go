package postgres

import (
	"context"
	"testing"

	"taskcenter/internal/store/storetest"
)

// TestBlobRefMigrationSeedsOwners upgrades a database that holds files, packages and unit outputs but
// no blob references: the migration must give each account what it already holds.
func TestBlobRefMigrationSeedsOwners(t *testing.T) {
	ctx := context.Background()
	pool, schema := schemaAt(t, 4)
	if _, err := pool.Exec(ctx, storetest.BlobRefSeed()); err != nil {
		t.Fatal(err)
	}
	if err := migrate(ctx, pool, schema); err != nil {
		t.Fatal(err)
	}
	s := New(pool)
	storetest.CheckSeededBlobRefs(t, s)
}
