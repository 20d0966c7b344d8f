package postgres

import (
	"context"
	"testing"

	"taskcenter/internal/store/storetest"
)

// TestRecordIndexMigrationBackfills upgrades a database holding RPA documents from before the
// records' scope and name columns: the migration must fill them from the documents.
func TestRecordIndexMigrationBackfills(t *testing.T) {
	ctx := context.Background()
	pool, schema := schemaAt(t, 11)
	if _, err := pool.Exec(ctx, storetest.RecordIndexSeed()); err != nil {
		t.Fatal(err)
	}
	if err := migrate(ctx, pool, schema); err != nil {
		t.Fatal(err)
	}
	storetest.CheckSeededRecordIndex(t, New(pool))
}
