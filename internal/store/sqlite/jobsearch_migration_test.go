package sqlite

import (
	"context"
	"testing"

	"taskcenter/internal/store/storetest"
)

// TestJobSearchMigrationIndexesJobs upgrades a database file that has jobs but no search index: the
// migration must index the jobs already there.
func TestJobSearchMigrationIndexesJobs(t *testing.T) {
	ctx := context.Background()
	db, _, path := migratedTo(t, 58)
	if _, err := db.ExecContext(ctx, storetest.JobSearchSeed); err != nil {
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
	storetest.CheckSeededJobSearch(t, s)
}
