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

// TestBlobRefMigrationSeedsOwners upgrades a database that holds files, packages and unit outputs but
// no blob references: the migration must give each account what it already holds.
func TestBlobRefMigrationSeedsOwners(t *testing.T) {
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
	if _, err := p.UpTo(ctx, 4); err != nil {
		t.Fatal(err)
	}
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
