// Package sqlstore is the SQL both store drivers share: the queries that read the same in SQLite and
// PostgreSQL, row scanning, and value conversion. A driver supplies a Dialect for the few places where
// the SQL differs (list parameters, batch row sources, row locks, JSON merge, unique-violation errors)
// and a Querier over its connection; Base then implements almost all of store.Store on top of them.
//
// Queries use $N placeholders, which both pgx and modernc.org/sqlite bind by number. Times travel as
// int64 unix milliseconds, JSON as text.
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"strconv"
	"sync"
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
	// LockShared is appended to a single-table SELECT to keep its rows from changing until the
	// transaction ends ("" where the whole database is locked by the writer anyway).
	LockShared() string
	// MergeJSON renders old merged with patch (both JSON object text; top-level keys of patch win).
	MergeJSON(old, patch string) string
	// JSONText renders the text of the top-level field named by the placeholder field of the JSON
	// object text col: a string as itself, an integer as its decimal digits, missing as ''.
	JSONText(col, field string) string
	// IsUnique reports whether err is a unique-constraint violation.
	IsUnique(err error) bool
	// JobTally renders a statement reading, as one BIGINT, the kept count of the live top-level jobs
	// of kind in the accounts (job_tallies): a plain list's total without counting the list.
	JobTally(a *Args, accounts []int64, kind string) string
	// UnflushedCommit renders a condition, always true, whose evaluation lets the statement's own
	// transaction commit without waiting for its log to reach the disk; "" where no commit waits.
	UnflushedCommit() string
	// FoldJobTallies is the statement folding the tally's journal (job_tally_changes) into its
	// totals, "" where triggers keep the totals themselves.
	FoldJobTallies() string
	// JobSearch renders a condition on jobs.id keeping the jobs whose name, alias or project may
	// contain text (already lowered) as a substring, looked up in the driver's search index: a
	// superset of the matches, which the LIKE conditions then narrow. "" where the LIKE conditions
	// are served by an index themselves. text has at least searchTrigram characters.
	JobSearch(a *Args, text string) string
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

// StdQuerier adapts database/sql to Querier. With a Cache, statements are prepared once per query
// text and reused.
type StdQuerier struct {
	C     stdConn
	Cache *StmtCache
	tx    *sql.Tx // when C is a transaction of Cache's database
}

// stmt returns the prepared statement for query, or nil to run it unprepared.
func (q StdQuerier) stmt(ctx context.Context, query string) *sql.Stmt {
	if q.Cache == nil {
		return nil
	}
	st := q.Cache.lookup(query)
	if q.tx != nil {
		if st == nil {
			// Preparing on the database now could wait for the connection this transaction holds
			// (SQLite has one writer): prepare it once the transaction has ended.
			q.Cache.want(query)
			return nil
		}
		return q.tx.StmtContext(ctx, st) // reuses the statement prepared on the transaction's connection
	}
	if st == nil {
		st = q.Cache.prepare(ctx, query)
	}
	return st
}

func (q StdQuerier) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	if err := CheckText(args); err != nil {
		return 0, err
	}
	var res sql.Result
	var err error
	if st := q.stmt(ctx, query); st != nil {
		res, err = st.ExecContext(ctx, args...)
	} else {
		res, err = q.C.ExecContext(ctx, query, args...)
	}
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (q StdQuerier) Query(ctx context.Context, query string, args ...any) (Rows, error) {
	if err := CheckText(args); err != nil {
		return nil, err
	}
	var rows *sql.Rows
	var err error
	if st := q.stmt(ctx, query); st != nil {
		rows, err = st.QueryContext(ctx, args...)
	} else {
		rows, err = q.C.QueryContext(ctx, query, args...)
	}
	if err != nil {
		return nil, err
	}
	return stdRows{rows}, nil
}

func (q StdQuerier) QueryRow(ctx context.Context, query string, args ...any) Row {
	if err := CheckText(args); err != nil {
		return ErrRow{err}
	}
	if st := q.stmt(ctx, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return q.C.QueryRowContext(ctx, query, args...)
}

// StmtCache keeps one prepared statement per query text for a database, for drivers that parse SQL
// on every unprepared call (the pure-Go SQLite driver spends about half of a short request's CPU
// there). database/sql prepares each statement on each connection once. Past max texts (queries
// whose text varies), statements run unprepared; entries are never evicted.
type StmtCache struct {
	db  *sql.DB
	max int

	mu     sync.Mutex
	m      map[string]*sql.Stmt
	wanted map[string]bool
}

// NewStmtCache makes a cache of at most max statements for db.
func NewStmtCache(db *sql.DB, max int) *StmtCache {
	return &StmtCache{db: db, max: max, m: map[string]*sql.Stmt{}, wanted: map[string]bool{}}
}

func (c *StmtCache) lookup(query string) *sql.Stmt {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[query]
}

func (c *StmtCache) want(query string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m)+len(c.wanted) < c.max {
		c.wanted[query] = true
	}
}

// prepare prepares query on the database (not under the lock: it may wait for a connection); nil
// when the cache is full or the text does not prepare (the unprepared call then reports why).
func (c *StmtCache) prepare(ctx context.Context, query string) *sql.Stmt {
	c.mu.Lock()
	st, full := c.m[query], len(c.m) >= c.max
	c.mu.Unlock()
	if st != nil || full {
		return st
	}
	st, err := c.db.PrepareContext(context.WithoutCancel(ctx), query)
	if err != nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old := c.m[query]; old != nil {
		_ = st.Close()
		return old
	}
	c.m[query] = st
	return st
}

// flush prepares the statements transactions asked for.
func (c *StmtCache) flush(ctx context.Context) {
	c.mu.Lock()
	var qs []string
	for q := range c.wanted {
		qs = append(qs, q)
	}
	clear(c.wanted)
	c.mu.Unlock()
	for _, q := range qs {
		c.prepare(ctx, q)
	}
}

// Close closes every statement.
func (c *StmtCache) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var errs []error
	for q, st := range c.m {
		errs = append(errs, st.Close())
		delete(c.m, q)
	}
	return errors.Join(errs...)
}

// Tx wraps a transaction begun on the cache's database so that it uses (and fills) the cache.
func (c *StmtCache) Tx(t *sql.Tx) StdTx {
	return StdTx{StdQuerier{C: t, Cache: c, tx: t}, t}
}

type stdRows struct{ *sql.Rows }

func (r stdRows) Close() { _ = r.Rows.Close() }

// StdTx adapts a *sql.Tx to Tx.
type StdTx struct {
	StdQuerier
	T *sql.Tx
}

// NewStdTx wraps t.
func NewStdTx(t *sql.Tx) StdTx { return StdTx{StdQuerier{C: t}, t} }

func (t StdTx) Commit(ctx context.Context) error {
	err := t.T.Commit()
	if t.Cache != nil {
		t.Cache.flush(ctx)
	}
	return err
}

func (t StdTx) Rollback(ctx context.Context) error {
	err := t.T.Rollback()
	if t.Cache != nil {
		t.Cache.flush(ctx)
	}
	return err
}
