package sqlite

import (
	"context"
	"database/sql"
	"io/fs"
	"path/filepath"
	"testing"

	"github.com/pressly/goose/v3"

	"taskcenter/internal/store/storetest"
)

// TestTallyMigrationSeedsTotals upgrades a database file that has jobs but no job tally: the
// migration must seed each account's totals from the jobs already there.
func TestTallyMigrationSeedsTotals(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "old.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	fsys, err := fs.Sub(migrations, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	p, err := goose.NewProvider(goose.DialectSQLite3, db, fsys)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.UpTo(ctx, 3); err != nil {
		t.Fatal(err)
	}
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
