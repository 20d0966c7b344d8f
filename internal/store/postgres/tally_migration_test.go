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

	"taskcenter/internal/store"
)

// TestTallyMigrationSeedsTotals upgrades a database that has jobs but no job tally: the migration
// must seed each account's totals from the jobs already there.
func TestTallyMigrationSeedsTotals(t *testing.T) {
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
	defer pool.Close()
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
	if _, err := p.UpTo(ctx, 3); err != nil {
		t.Fatal(err)
	}
	// Account 1: two live tasks, one deleted, a child and a job of another kind; account 2: one task.
	if _, err := pool.Exec(ctx, `INSERT INTO jobs (id, account_id, parent_id, kind, status, deleted, created_at, updated_at) VALUES
		(1, 1, 0, 'task', 'queued', false, 0, 0), (2, 1, 0, 'task', 'queued', false, 0, 0),
		(3, 1, 0, 'task', 'queued', true, 0, 0), (4, 1, 1, 'task', 'queued', false, 0, 0),
		(5, 1, 0, 'other', 'queued', false, 0, 0), (6, 2, 0, 'task', 'queued', false, 0, 0)`); err != nil {
		t.Fatal(err)
	}
	if err := migrate(ctx, pool, schema); err != nil {
		t.Fatal(err)
	}
	s := New(pool)
	for _, tc := range []struct {
		accounts []int64
		kind     string
		want     int
	}{
		{[]int64{1}, "task", 2},
		{[]int64{1}, "other", 1},
		{[]int64{2}, "task", 1},
		{[]int64{1, 2}, "task", 3},
	} {
		tr, err := s.ListJobTrees(ctx, store.JobFilter{AccountIDs: tc.accounts, Kind: tc.kind, ParentID: -1, Limit: 1}, "")
		if err != nil {
			t.Fatal(err)
		}
		if tr.Total != tc.want {
			t.Errorf("accounts %v kind %s: total %d, want %d", tc.accounts, tc.kind, tr.Total, tc.want)
		}
	}
}
