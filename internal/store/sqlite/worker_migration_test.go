package sqlite

import (
	"context"
	"testing"
)

// TestWorkerIdentityMigrationKeepsWorkers upgrades a database whose workers table has a global unique
// name: the rebuilt table keeps every worker (id, licence and all) at incarnation 0, so that tokens
// issued before the upgrade keep working until the agent registers again; the migration also goes down.
func TestWorkerIdentityMigrationKeepsWorkers(t *testing.T) {
	ctx := context.Background()
	db, p, _ := migratedTo(t, 4)
	if _, err := db.ExecContext(ctx, `INSERT INTO workers (id, account_id, name, kind, status, last_heartbeat, created_at, licence)
		VALUES (7, 3, 'node', 'render', 'idle', 1, 1, 'L-1'), (9, 0, 'shared', 'render', 'idle', 1, 1, '')`); err != nil {
		t.Fatal(err)
	}
	if _, err := p.UpTo(ctx, 5); err != nil {
		t.Fatal(err)
	}
	var n int
	var lic string
	var inc int64
	if err := db.QueryRowContext(ctx, `SELECT licence, incarnation FROM workers WHERE id = 7 AND account_id = 3 AND name = 'node'`).Scan(&lic, &inc); err != nil || lic != "L-1" || inc != 0 {
		t.Fatalf("worker 7 after the upgrade: licence %q incarnation %d, %v", lic, inc, err)
	}
	// The name is now unique per account only.
	if _, err := db.ExecContext(ctx, `INSERT INTO workers (account_id, name, status, last_heartbeat, created_at) VALUES (4, 'node', 'idle', 1, 1)`); err != nil {
		t.Fatalf("another account's worker of the same name: %v", err)
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO workers (account_id, name, status, last_heartbeat, created_at) VALUES (3, 'node', 'idle', 1, 1)`); err == nil {
		t.Fatal("two workers of one account and name")
	}
	if _, err := db.ExecContext(ctx, `DELETE FROM workers WHERE account_id = 4`); err != nil {
		t.Fatal(err)
	}
	if _, err := p.DownTo(ctx, 4); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM workers`).Scan(&n); err != nil || n != 2 {
		t.Fatalf("workers after going down: %d, %v", n, err)
	}
}
