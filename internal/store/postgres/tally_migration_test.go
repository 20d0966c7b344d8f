package postgres

import (
	"context"
	"testing"

	"taskcenter/internal/store/storetest"
)

// TestTallyMigrationSeedsTotals upgrades a database that has jobs but no job tally: the migration
// must seed each account's totals from the jobs already there.
func TestTallyMigrationSeedsTotals(t *testing.T) {
	ctx := context.Background()
	pool, schema := schemaAt(t, 3)
	if _, err := pool.Exec(ctx, storetest.TallySeedJobs); err != nil {
		t.Fatal(err)
	}
	if err := migrate(ctx, pool, schema); err != nil {
		t.Fatal(err)
	}
	s := New(pool)
	storetest.CheckSeededTallies(t, s)
}
