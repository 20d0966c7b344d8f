package sqlite

import (
	"context"
	"testing"

	"taskcenter/internal/store/storetest"
)

// TestRecordIndexMigrationBackfills upgrades a database holding RPA documents from before the
// records' scope and name columns: the migration must fill them from the documents.
func TestRecordIndexMigrationBackfills(t *testing.T) {
	ctx := context.Background()
	db, _, path := migratedTo(t, 11)
	if _, err := db.ExecContext(ctx, storetest.RecordIndexSeed()); err != nil {
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
	storetest.CheckSeededRecordIndex(t, s)
}
