package postgres

import (
	"context"
	"strings"
	"testing"

	"taskcenter/internal/store/storetest"
)

// TestJobSearchMigrationIndexesJobs upgrades a database holding jobs from before the search index:
// the migration must build it over them, and the search must use it.
func TestJobSearchMigrationIndexesJobs(t *testing.T) {
	ctx := context.Background()
	pool, schema := schemaAt(t, 58)
	if _, err := pool.Exec(ctx, storetest.JobSearchSeed); err != nil {
		t.Fatal(err)
	}
	// The seed names its ids; the jobs created after it take the next ones.
	if _, err := pool.Exec(ctx, `SELECT setval(pg_get_serial_sequence('jobs', 'id'), 5)`); err != nil {
		t.Fatal(err)
	}
	if err := migrate(ctx, pool, schema); err != nil {
		t.Fatal(err)
	}
	s := New(pool)
	storetest.CheckSeededJobSearch(t, s)
	if indexed, err := s.JobSearchIndexed(ctx); err != nil || !indexed {
		t.Errorf("JobSearchIndexed: %v, %v", indexed, err)
	}
	var plan string
	// With scans ruled out, a plan that does not name the index means the index cannot serve the
	// search's conditions as ListJobs writes them.
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if _, err := tx.Exec(ctx, "SET LOCAL enable_seqscan = off"); err != nil {
		t.Fatal(err)
	}
	rows, err := tx.Query(ctx, `EXPLAIN SELECT id FROM jobs WHERE (LOWER(name) LIKE $1 ESCAPE '\'
		OR LOWER(alias) LIKE $1 ESCAPE '\' OR LOWER(project) LIKE $1 ESCAPE '\')`, "%shot%")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			t.Fatal(err)
		}
		plan += line + "\n"
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(plan, "jobs_search") {
		t.Errorf("search plan does not use jobs_search:\n%s", plan)
	}
}
