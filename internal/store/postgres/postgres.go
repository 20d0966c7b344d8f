// Package postgres is the multi-process store.Store driver on PostgreSQL (pgx/v5 pool). It owns the
// PostgreSQL schema (migrations/, applied with goose at Open under an advisory lock, so several server
// processes may start at once), the PostgreSQL side of the SQL dialect (arrays, unnest batches,
// SKIP LOCKED row locks), and NOTIFY/LISTEN; the queries themselves are shared with the SQLite driver
// in sqlstore.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"taskcenter/internal/store"
	"taskcenter/internal/store/sqlstore"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store is the PostgreSQL store. A Store from InTx is bound to that transaction.
type Store struct {
	*sqlstore.Base
	pool  *pgxpool.Pool
	owner bool // Close closes the pool (false on a transaction-bound Store)
}

var _ store.Store = (*Store)(nil)

// Open connects to the database at url (a postgres:// URL or key=value string; pool_max_conns and
// search_path may be given in it) and brings its schema up to date. A database on this machine is
// reached without TLS unless an sslmode is given (plainOnLoopback).
func Open(ctx context.Context, url string) (*Store, error) {
	return OpenSchema(ctx, url, "")
}

// poolConfig is the pool's configuration for url, with the environment read through getenv.
func poolConfig(url string, getenv func(string) string) (*pgxpool.Config, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("parse postgres url: %w", err)
	}
	plainOnLoopback(url, getenv, &cfg.ConnConfig.Config)
	if !strings.Contains(url, "pool_max_conns") {
		// Leasers, completers, listeners and the sweep all want connections at once.
		cfg.MaxConns = max(cfg.MaxConns, 16)
	}
	return cfg, nil
}

// OpenSchema is Open with every table in schema, which it creates when missing ("" leaves the
// connection's search_path alone). Tests use it to get a fresh database per test.
func OpenSchema(ctx context.Context, url, schema string) (*Store, error) {
	cfg, err := poolConfig(url, os.Getenv)
	if err != nil {
		return nil, err
	}
	if schema != "" {
		cfg.ConnConfig.RuntimeParams["search_path"] = schema
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect postgres: %w", err)
	}
	if schema != "" {
		if _, err := pool.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+pgx.Identifier{schema}.Sanitize()); err != nil {
			pool.Close()
			return nil, fmt.Errorf("create schema %s: %w", schema, err)
		}
	}
	if err := migrate(ctx, pool, schema); err != nil {
		pool.Close()
		return nil, fmt.Errorf("migrate postgres: %w", err)
	}
	return New(pool), nil
}

// New wraps a pool whose database is already migrated. Close closes the pool.
func New(pool *pgxpool.Pool) *Store {
	s := &Store{pool: pool, owner: true}
	q := querier{pool}
	s.Base = sqlstore.NewBase(dialect{}, q, q, func(ctx context.Context) (sqlstore.Tx, error) {
		tx, err := pool.Begin(ctx)
		if err != nil {
			return nil, err
		}
		return txQuerier{querier{tx}, tx}, nil
	})
	return s
}

func migrate(ctx context.Context, pool *pgxpool.Pool, schema string) error {
	fsys, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return err
	}
	// One advisory lock per schema: processes migrating the same schema take turns, different schemas
	// (tests) do not wait for each other.
	h := fnv.New64a()
	h.Write([]byte("taskcenter:" + schema))
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockID(int64(h.Sum64()>>1)), lock.WithLockTimeout(1, 300))
	if err != nil {
		return err
	}
	db := stdlib.OpenDBFromPool(pool)
	defer db.Close()
	p, err := goose.NewProvider(goose.DialectPostgres, db, fsys, goose.WithSessionLocker(locker))
	if err != nil {
		return err
	}
	_, err = p.Up(ctx)
	return err
}

// Close closes the pool; on a transaction-bound Store it does nothing.
func (s *Store) Close() error {
	if s.owner {
		s.pool.Close()
	}
	return nil
}

// Pool is the connection pool, for callers that need PostgreSQL directly.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// JobSearchIndexed reports whether the job list's search has its trigram index (migration 00059),
// which is missing where pg_trgm could not be created: searches then scan the jobs.
func (s *Store) JobSearchIndexed(ctx context.Context) (bool, error) {
	var ok bool
	if err := s.pool.QueryRow(ctx, `SELECT to_regclass('jobs_search') IS NOT NULL`).Scan(&ok); err != nil {
		return false, fmt.Errorf("look up the job search index: %w", err)
	}
	return ok, nil
}

// InTx runs fn in one transaction; inside a transaction it joins that one.
func (s *Store) InTx(ctx context.Context, fn func(tx store.Store) error) error {
	return s.Base.RunTx(ctx, func(b *sqlstore.Base) error {
		if b == s.Base {
			return fn(s)
		}
		return fn(&Store{Base: b, pool: s.pool})
	})
}

// Notify sends payload on topic with pg_notify; inside a transaction it is delivered at commit.
func (s *Store) Notify(ctx context.Context, topic, payload string) error {
	_, err := s.Base.Writer().Exec(ctx, `SELECT pg_notify($1, $2)`, topic, payload)
	return wrap(err, "notify %s", topic)
}

// listenRetry is the pause before Listen reconnects after losing its connection.
const listenRetry = time.Second

// Listen holds a connection of its own (taken out of the pool: a LISTEN must not leak to other
// users) and calls fn for each notification on topic. It reconnects after errors and returns nil when
// ctx ends.
func (s *Store) Listen(ctx context.Context, topic string, fn func(payload string)) error {
	for {
		_ = s.listenOnce(ctx, topic, fn)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(listenRetry):
		}
	}
}

func (s *Store) listenOnce(ctx context.Context, topic string, fn func(payload string)) error {
	c, err := s.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	conn := c.Hijack()
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{topic}.Sanitize()); err != nil {
		return err
	}
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		fn(n.Payload)
	}
}

func wrap(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf(format+": %w", append(args, err)...)
}

// pgxConn is what the pool, a connection and a transaction have in common.
type pgxConn interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

type querier struct{ c pgxConn }

func (q querier) Exec(ctx context.Context, sql string, args ...any) (int64, error) {
	if err := sqlstore.CheckText(args); err != nil {
		return 0, err
	}
	tag, err := q.c.Exec(ctx, sql, args...)
	return tag.RowsAffected(), err
}

func (q querier) Query(ctx context.Context, sql string, args ...any) (sqlstore.Rows, error) {
	if err := sqlstore.CheckText(args); err != nil {
		return nil, err
	}
	rows, err := q.c.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	return rows, nil
}

func (q querier) QueryRow(ctx context.Context, sql string, args ...any) sqlstore.Row {
	if err := sqlstore.CheckText(args); err != nil {
		return sqlstore.ErrRow{Err: err}
	}
	return q.c.QueryRow(ctx, sql, args...)
}

type txQuerier struct {
	querier
	tx pgx.Tx
}

func (t txQuerier) Commit(ctx context.Context) error   { return t.tx.Commit(ctx) }
func (t txQuerier) Rollback(ctx context.Context) error { return t.tx.Rollback(ctx) }

// dialect is PostgreSQL's side of sqlstore.Dialect: lists are array parameters, batches unnest arrays.
type dialect struct{}

func (dialect) Name() string { return "postgres" }

func (dialect) InInt64s(a *sqlstore.Args, col string, vals []int64, not bool) string {
	if not {
		return col + " <> ALL(" + a.Add(vals) + ")"
	}
	return col + " = ANY(" + a.Add(vals) + ")"
}

func (dialect) InStrings(a *sqlstore.Args, col string, vals []string) string {
	return col + " = ANY(" + a.Add(vals) + ")"
}

func (dialect) Batch(a *sqlstore.Args, alias string, cols []sqlstore.BatchCol, n int, val func(r, c int) any) string {
	arrays := make([]string, len(cols))
	names := make([]string, len(cols))
	for c, col := range cols {
		names[c] = col.Name
		switch col.Type {
		case sqlstore.Int:
			arrays[c] = "CAST(" + a.Add(column[int64](n, c, val)) + " AS BIGINT[])"
		case sqlstore.Float:
			arrays[c] = "CAST(" + a.Add(column[float64](n, c, val)) + " AS DOUBLE PRECISION[])"
		case sqlstore.Bool:
			arrays[c] = "CAST(" + a.Add(column[bool](n, c, val)) + " AS BOOLEAN[])"
		default:
			arrays[c] = "CAST(" + a.Add(column[string](n, c, val)) + " AS TEXT[])"
		}
	}
	return "unnest(" + strings.Join(arrays, ", ") + ") WITH ORDINALITY AS " + alias +
		"(" + strings.Join(names, ", ") + ", ord)"
}

// column gathers batch column c as a slice of nullable T.
func column[T any](n, c int, val func(r, c int) any) []*T {
	out := make([]*T, n)
	for r := range out {
		if v, ok := val(r, c).(T); ok {
			out[r] = &v
		}
	}
	return out
}

// JobTally adds the account's changes not yet folded to its totals. Triggers only append changes
// (migration 00004): a counter row would be locked by every transaction creating the account's jobs
// until it ends, serialising them, and deadlocking transactions that create jobs for several
// accounts in different orders.
func (d dialect) JobTally(a *sqlstore.Args, accounts []int64, kind string) string {
	where := d.InInt64s(a, "account_id", accounts, false) + ` AND kind = ` + a.Add(kind)
	return `SELECT (COALESCE((SELECT SUM(n) FROM job_tallies WHERE ` + where + `), 0) +
		COALESCE((SELECT SUM(n) FROM job_tally_changes WHERE ` + where + `), 0))::bigint`
}

// FoldJobTallies moves the journal into the totals in one statement: a reader sees the changes
// either in the journal or in the totals. Rows are upserted in key order, so two folds at once
// (a leadership hand-over) wait for each other instead of deadlocking.
// JobSearch is "": the LIKE conditions are served by jobs_search, a pg_trgm GIN index over the
// lowered columns (migration 00059), where pg_trgm could be installed.
func (dialect) JobSearch(*sqlstore.Args, string) string { return "" }

func (dialect) FoldJobTallies() string {
	return `WITH moved AS (DELETE FROM job_tally_changes RETURNING account_id, kind, n)
		INSERT INTO job_tallies (account_id, kind, n)
		SELECT account_id, kind, SUM(n) FROM moved GROUP BY account_id, kind ORDER BY account_id, kind
		ON CONFLICT (account_id, kind) DO UPDATE SET n = job_tallies.n + EXCLUDED.n`
}

// UnflushedCommit turns synchronous_commit off for the rest of the transaction: its commit is
// visible at once and reaches the disk within three wal_writer_delay, and a later commit's flush
// carries it along.
func (dialect) UnflushedCommit() string {
	return "(SELECT set_config('synchronous_commit', 'off', true)) = 'off'"
}

// LockSkipLocked takes the weaker NO KEY UPDATE lock: nothing updates keys.
func (dialect) LockSkipLocked() string { return " FOR NO KEY UPDATE SKIP LOCKED" }

func (dialect) LockShared() string { return " FOR SHARE" }

// MergeJSON is jsonb concatenation: top-level keys of patch replace old's.
func (dialect) MergeJSON(old, patch string) string {
	return "CAST(COALESCE(CAST(" + old + " AS JSONB), CAST('{}' AS JSONB)) || CAST(CAST(" + patch +
		" AS TEXT) AS JSONB) AS TEXT)"
}

func (dialect) JSONText(col, field string) string {
	return "COALESCE(CAST(" + col + " AS JSONB) ->> CAST(" + field + " AS TEXT), '')"
}

func (dialect) IsUnique(err error) bool {
	var e *pgconn.PgError
	return errors.As(err, &e) && e.Code == "23505"
}
