// Package sqlutil is the SQL both store drivers share: the queries that read the same in SQLite and
// PostgreSQL, row scanning, and value conversion. A driver supplies a Dialect for the few places where
// the SQL differs (list parameters, batch row sources, row locks, JSON merge, unique-violation errors)
// and a Querier over its connection; Base then implements almost all of store.Store on top of them.
//
// Queries use $N placeholders, which both pgx and modernc.org/sqlite bind by number. Times travel as
// int64 unix milliseconds, JSON as text.
package sqlutil

import (
	"context"
	"database/sql"
	"strconv"
)

// Row is one result row (*sql.Row, pgx.Row).
type Row interface {
	Scan(dest ...any) error
}

// Rows is a result set (pgx.Rows, or *sql.Rows through StdQuerier).
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close()
}

// Querier runs statements on a connection pool or inside a transaction.
type Querier interface {
	// Exec returns the number of rows affected.
	Exec(ctx context.Context, query string, args ...any) (int64, error)
	Query(ctx context.Context, query string, args ...any) (Rows, error)
	QueryRow(ctx context.Context, query string, args ...any) Row
}

// Tx is a Querier inside a transaction.
type Tx interface {
	Querier
	Commit(ctx context.Context) error
	Rollback(ctx context.Context) error
}

// Dialect is what differs between the drivers' SQL.
type Dialect interface {
	// Name is the driver name ("sqlite", "postgres").
	Name() string
	// InInt64s renders "col IN vals" (or NOT IN when not is set), adding vals to a.
	InInt64s(a *Args, col string, vals []int64, not bool) string
	// InStrings renders "col IN vals", adding vals to a.
	InStrings(a *Args, col string, vals []string) string
	// Batch renders a row source usable after FROM, named alias, with the given columns plus "ord"
	// (1-based row number); val(r, c) is row r's value for column c (nil for NULL).
	Batch(a *Args, alias string, cols []BatchCol, n int, val func(r, c int) any) string
	// LockSkipLocked is appended to a single-table SELECT to lock its rows, skipping rows other
	// transactions hold ("" where the whole database is locked by the writer anyway).
	LockSkipLocked() string
	// MergeJSON renders old merged with patch (both JSON object text; top-level keys of patch win).
	MergeJSON(old, patch string) string
	// IsUnique reports whether err is a unique-constraint violation.
	IsUnique(err error) bool
}

// BatchCol is one column of a Batch row source.
type BatchCol struct {
	Name string
	Type ColType
}

// ColType is the SQL type of a batch column.
type ColType int

const (
	Int ColType = iota
	Text
	Float
	Bool
)

// Args collects positional parameters and hands out their $N placeholders.
type Args struct {
	Vals []any
}

// Add appends v and returns its placeholder.
func (a *Args) Add(v any) string {
	a.Vals = append(a.Vals, v)
	return "$" + strconv.Itoa(len(a.Vals))
}

// stdConn is what *sql.DB, *sql.Conn and *sql.Tx have in common.
type stdConn interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// StdQuerier adapts database/sql to Querier.
type StdQuerier struct{ C stdConn }

func (q StdQuerier) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	res, err := q.C.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (q StdQuerier) Query(ctx context.Context, query string, args ...any) (Rows, error) {
	rows, err := q.C.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return stdRows{rows}, nil
}

func (q StdQuerier) QueryRow(ctx context.Context, query string, args ...any) Row {
	return q.C.QueryRowContext(ctx, query, args...)
}

type stdRows struct{ *sql.Rows }

func (r stdRows) Close() { _ = r.Rows.Close() }

// StdTx adapts a *sql.Tx to Tx.
type StdTx struct {
	StdQuerier
	T *sql.Tx
}

// NewStdTx wraps t.
func NewStdTx(t *sql.Tx) StdTx { return StdTx{StdQuerier{t}, t} }

func (t StdTx) Commit(context.Context) error   { return t.T.Commit() }
func (t StdTx) Rollback(context.Context) error { return t.T.Rollback() }
