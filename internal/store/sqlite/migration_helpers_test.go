package sqlite

import (
	"context"
	"database/sql"
	"io/fs"
	"path/filepath"
	"testing"

	"github.com/pressly/goose/v3"
)

// migratedTo creates a database file in t's temporary directory with the schema as migration
// version left it, for tests of the migrations after it. The caller closes db before Open.
func migratedTo(t *testing.T, version int64) (db *sql.DB, p *goose.Provider, path string) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "old.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	fsys, err := fs.Sub(migrations, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	if p, err = goose.NewProvider(goose.DialectSQLite3, db, fsys); err != nil {
		t.Fatal(err)
	}
	if _, err := p.UpTo(context.Background(), version); err != nil {
		t.Fatalf("migrate up to %d: %v", version, err)
	}
	return db, p, path
}
