package drivers_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"

	"taskcenter/internal/store/postgres"
	"taskcenter/internal/store/sqlite"
)

// driverOnly names the tables one driver has by design, with why; no other difference is allowed.
var driverOnly = map[string]string{
	// PostgreSQL's tally triggers append changes to a journal that the sweep folds, so that concurrent
	// writers never lock one tally row; SQLite has one writer and updates job_tallies in place.
	"job_tally_changes": "postgres",
	// SQLite's job search index is an FTS5 table (and the tables FTS5 keeps it in); PostgreSQL's is a
	// pg_trgm index on jobs itself (migration 00059).
	"jobs_search": "sqlite", "jobs_search_config": "sqlite", "jobs_search_data": "sqlite",
	"jobs_search_docsize": "sqlite", "jobs_search_idx": "sqlite",
}

// TestSchemasHaveTheSameColumns keeps the two drivers' migrations in step: every table and column one
// driver creates, the other creates too. Types are each dialect's own and are not compared.
func TestSchemasHaveTheSameColumns(t *testing.T) {
	ctx := context.Background()

	path := filepath.Join(t.TempDir(), "taskcenter.db")
	lite, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatalf("open sqlite store: %v", err)
	}
	t.Cleanup(func() { _ = lite.Close() })
	db, err := sql.Open("sqlite", path+"?_pragma=query_only(1)")
	if err != nil {
		t.Fatalf("open sqlite file: %v", err)
	}
	t.Cleanup(func() { _ = db.Close() })
	liteCols := columns(t, db, `SELECT m.name || '.' || p.name FROM sqlite_master m, pragma_table_info(m.name) p
		WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name <> 'goose_db_version'`)

	pg := postgres.OpenTest(t)
	pgDB := stdlib.OpenDBFromPool(pg.Pool())
	t.Cleanup(func() { _ = pgDB.Close() })
	pgCols := columns(t, pgDB, `SELECT table_name || '.' || column_name FROM information_schema.columns
		WHERE table_schema = current_schema() AND table_name <> 'goose_db_version'`)

	if len(liteCols) == 0 {
		t.Fatal("read no columns from the SQLite schema")
	}
	for _, c := range liteCols {
		if _, ok := slices.BinarySearch(pgCols, c); !ok && driverOnly[table(c)] != "sqlite" {
			t.Errorf("column %s is in the SQLite schema but not in PostgreSQL's", c)
		}
	}
	for _, c := range pgCols {
		if _, ok := slices.BinarySearch(liteCols, c); !ok && driverOnly[table(c)] != "postgres" {
			t.Errorf("column %s is in the PostgreSQL schema but not in SQLite's", c)
		}
	}
}

// columns lists the "table.column" names query returns, sorted.
func columns(t *testing.T, db *sql.DB, query string) []string {
	t.Helper()
	rows, err := db.QueryContext(context.Background(), query)
	if err != nil {
		t.Fatalf("list columns: %v", err)
	}
	defer rows.Close()
	var cols []string
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			t.Fatalf("list columns: %v", err)
		}
		cols = append(cols, c)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("list columns: %v", err)
	}
	slices.Sort(cols)
	return cols
}

// table is the table part of "table.column".
func table(col string) string {
	t, _, _ := strings.Cut(col, ".")
	return t
}
