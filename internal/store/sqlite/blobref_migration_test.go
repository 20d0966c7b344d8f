package sqlite

import (
	"context"
	"testing"

	"taskcenter/internal/store/storetest"
)

// TestBlobRefMigrationSeedsOwners upgrades a database that holds files, packages and unit outputs but
// no blob references: the migration must give each account what it already holds.
func TestBlobRefMigrationSeedsOwners(t *testing.T) {
	ctx := context.Background()
	db, _, path := migratedTo(t, 4)
	if _, err := db.ExecContext(ctx, storetest.BlobRefSeed()); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	s, err := Open(ctx, path) // brings the schema up to date
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	storetest.CheckSeededBlobRefs(t, s)
}

// TestBlobSweepHorizon: a database upgraded with data keeps the blobs from before the upgrade out of
// the sweep's reach; an empty one does not need to.
func TestBlobSweepHorizon(t *testing.T) {
	for _, upgraded := range []bool{true, false} {
		ctx := context.Background()
		db, _, path := migratedTo(t, 56)
		if upgraded {
			if _, err := db.ExecContext(ctx, `INSERT INTO blob_refs (account_id, hash, created_at) VALUES (1, 'h', 0)`); err != nil {
				t.Fatal(err)
			}
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		s, err := Open(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		storetest.CheckBlobSweepSince(t, s, upgraded)
		s.Close()
	}
}

// releasedVersion is the schema version of the last release: a migration added since must be
// numbered above it, or goose refuses to apply it to a database at that version.
const releasedVersion = 55

// TestUpgradeFromReleasedSchema opens a database at the last release's schema version.
func TestUpgradeFromReleasedSchema(t *testing.T) {
	db, _, path := migratedTo(t, releasedVersion)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	s, err := Open(context.Background(), path)
	if err != nil {
		t.Fatalf("open a database of the released schema: %v", err)
	}
	s.Close()
}
