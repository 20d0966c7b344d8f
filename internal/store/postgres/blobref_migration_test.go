package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io/fs"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"

	"taskcenter/internal/store/storetest"
)

// TestBlobRefMigrationSeedsOwners upgrades a database that holds files, packages and unit outputs but
// no blob references: the migration must give each account what it already holds.
func TestBlobRefMigrationSeedsOwners(t *testing.T) {
	ctx := context.Background()
	OpenTest(t) // skips when the server is unreachable, or fails under CI=true
	cfg, err := pgxpool.ParseConfig(TestURL())
	if err != nil {
		t.Fatal(err)
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "t_" + hex.EncodeToString(b[:])
	cfg.ConnConfig.RuntimeParams["search_path"] = schema
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close) // after the schema is dropped: cleanups run last in, first out
	if _, err := pool.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{schema}.Sanitize()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = pool.Exec(ctx, "DROP SCHEMA "+pgx.Identifier{schema}.Sanitize()+" CASCADE") })

	fsys, err := fs.Sub(migrations, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	db := stdlib.OpenDBFromPool(pool)
	defer db.Close()
	p, err := goose.NewProvider(goose.DialectPostgres, db, fsys)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.UpTo(ctx, 4); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, storetest.BlobRefSeed()); err != nil {
		t.Fatal(err)
	}
	if err := migrate(ctx, pool, schema); err != nil {
		t.Fatal(err)
	}
	s := New(pool)
	storetest.CheckSeededBlobRefs(t, s)
}
