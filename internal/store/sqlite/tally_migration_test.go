package sqlite

import (
	"context"
	"testing"

	"taskcenter/internal/store/storetest"
)

// TestTallyMigrationSeedsTotals upgrades a database file that has jobs but no job tally: the
// migration must seed each account's totals from the jobs already there.
func TestTallyMigrationSeedsTotals(t *testing.T) {
	ctx := context.Background()
	db, _, path := migratedTo(t, 3)
	if _, err := db.ExecContext(ctx, storetest.TallySeedJobs); err != nil {
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
	storetest.CheckSeededTallies(t, s)
}
