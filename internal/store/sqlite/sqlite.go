// Package sqlite is the single-process store.Store driver on an SQLite file (modernc.org/sqlite, no
// cgo). It owns the SQLite schema (migrations/, applied with goose at Open) and the SQLite side of
// the SQL dialect; the queries themselves are shared with the PostgreSQL driver in sqlstore.
//
// One process owns the file: writes go through a single connection (SQLite has one writer anyway,
// and a Go-side queue beats busy-waiting on the file lock), transactions start with BEGIN IMMEDIATE so
// they never fail to upgrade a read lock, and reads use a separate pool that WAL lets run beside the
// writer.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"runtime"
	"strings"

	"github.com/pressly/goose/v3"
	sqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"taskcenter/internal/store"
	"taskcenter/internal/store/sqlstore"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store is the SQLite store. A Store from InTx is bound to that transaction.
type Store struct {
	*sqlstore.Base
	writer, reader *sql.DB // nil on a transaction-bound Store
	// Prepared statements: the pure-Go driver would parse each statement's text on every call.
	readStmts, writeStmts *sqlstore.StmtCache
}

var _ store.Store = (*Store)(nil)

// stmtCacheSize bounds the prepared statements per pool; the store's fixed texts are a few hundred.
const stmtCacheSize = 1000

// Open opens (creating if needed) the database file at path and brings its schema up to date.
func Open(ctx context.Context, path string) (*Store, error) {
	params := "_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=foreign_keys(1)" +
		"&_pragma=busy_timeout(10000)&_txlock=immediate"
	writer, err := sql.Open("sqlite", path+"?"+params)
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	writer.SetMaxOpenConns(1)
	writer.SetMaxIdleConns(1)
	writer.SetConnMaxLifetime(0)
	writer.SetConnMaxIdleTime(0)
	if err := migrate(ctx, writer); err != nil {
		_ = writer.Close()
		return nil, fmt.Errorf("migrate sqlite %s: %w", path, err)
	}
	reader, err := sql.Open("sqlite", path+"?"+params+"&_pragma=query_only(1)")
	if err != nil {
		_ = writer.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	readers := max(4, runtime.GOMAXPROCS(0))
	reader.SetMaxOpenConns(readers)
	reader.SetMaxIdleConns(readers)
	s := &Store{writer: writer, reader: reader,
		readStmts: sqlstore.NewStmtCache(reader, stmtCacheSize), writeStmts: sqlstore.NewStmtCache(writer, stmtCacheSize)}
	s.Base = sqlstore.NewBase(dialect{}, sqlstore.StdQuerier{C: reader, Cache: s.readStmts}, sqlstore.StdQuerier{C: writer, Cache: s.writeStmts},
		func(ctx context.Context) (sqlstore.Tx, error) {
			tx, err := writer.BeginTx(ctx, nil)
			if err != nil {
				return nil, err
			}
			return s.writeStmts.Tx(tx), nil
		})
	return s, nil
}

func migrate(ctx context.Context, db *sql.DB) error {
	fsys, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return err
	}
	p, err := goose.NewProvider(goose.DialectSQLite3, db, fsys)
	if err != nil {
		return err
	}
	_, err = p.Up(ctx)
	return err
}

// Close closes the database; on a transaction-bound Store it does nothing.
func (s *Store) Close() error {
	if s.writer == nil {
		return nil
	}
	return errors.Join(s.readStmts.Close(), s.writeStmts.Close(), s.reader.Close(), s.writer.Close())
}

// InTx runs fn in one BEGIN IMMEDIATE transaction on the writer; everything the Store handed to fn
// does, reads included, goes through it. Inside a transaction it joins that one.
func (s *Store) InTx(ctx context.Context, fn func(tx store.Store) error) error {
	return s.Base.RunTx(ctx, func(b *sqlstore.Base) error {
		if b == s.Base {
			return fn(s)
		}
		return fn(&Store{Base: b})
	})
}

// Notify does nothing: one process owns the file and wakes its own waiters.
func (s *Store) Notify(context.Context, string, string) error { return nil }

// Listen waits for ctx to end: no other process can notify.
func (s *Store) Listen(ctx context.Context, _ string, _ func(payload string)) error {
	<-ctx.Done()
	return nil
}

// dialect is SQLite's side of sqlstore.Dialect. Lists and batches travel as one JSON text parameter,
// unpacked with json_each, so a statement's text does not depend on how many values it carries.
type dialect struct{}

func (dialect) Name() string { return "sqlite" }

func in(a *sqlstore.Args, col string, vals any, not bool) string {
	b, _ := json.Marshal(vals) // int64s and strings always marshal
	op := " IN "
	if not {
		op = " NOT IN "
	}
	return col + op + "(SELECT value FROM json_each(" + a.Add(string(b)) + "))"
}

func (dialect) InInt64s(a *sqlstore.Args, col string, vals []int64, not bool) string {
	return in(a, col, vals, not)
}

func (dialect) InStrings(a *sqlstore.Args, col string, vals []string) string {
	return in(a, col, vals, false)
}

func (dialect) Batch(a *sqlstore.Args, alias string, cols []sqlstore.BatchCol, n int, val func(r, c int) any) string {
	rows := make([][]any, n)
	for r := range rows {
		row := make([]any, len(cols))
		for c := range cols {
			row[c] = val(r, c)
		}
		rows[r] = row
	}
	b, _ := json.Marshal(rows) // ints, floats, strings, bools and nils always marshal
	var sb strings.Builder
	sb.WriteString("(SELECT key + 1 AS ord")
	for i, c := range cols {
		fmt.Fprintf(&sb, ", value ->> %d AS %s", i, c.Name)
	}
	sb.WriteString(" FROM json_each(" + a.Add(string(b)) + ")) AS " + alias)
	return sb.String()
}

// JobTally reads the counter rows, which triggers keep: with one writer at a time they cost no
// waiting (migration 00004).
func (d dialect) JobTally(a *sqlstore.Args, accounts []int64, kind string) string {
	return `SELECT COALESCE(SUM(n), 0) FROM job_tallies WHERE ` + d.InInt64s(a, "account_id", accounts, false) +
		` AND kind = ` + a.Add(kind)
}

// JobSearch looks text up in jobs_search, the FTS5 trigram index of the jobs' name, alias and
// project (migration 00059): a phrase of text's trigrams matches the jobs holding it as a substring
// in one column, case folded (the store asks only for texts of a trigram or longer).
func (dialect) JobSearch(a *sqlstore.Args, text string) string {
	return `id IN (SELECT rowid FROM jobs_search WHERE jobs_search MATCH ` +
		a.Add(`"`+strings.ReplaceAll(text, `"`, `""`)+`"`) + `)`
}

// FoldJobTallies is "": the triggers update the totals themselves.
func (dialect) FoldJobTallies() string { return "" }

// UnflushedCommit is "": in WAL mode with synchronous=NORMAL no commit waits for the disk.
func (dialect) UnflushedCommit() string { return "" }

// LockSkipLocked is empty: the writer holds the database lock for the whole transaction.
func (dialect) LockSkipLocked() string { return "" }

func (dialect) LockShared() string { return "" }

// MergeJSON uses json_patch (RFC 7396): top-level keys of patch replace old's, nested objects merge
// and a null value removes the key.
func (dialect) MergeJSON(old, patch string) string {
	return "json_patch(COALESCE(" + old + ", '{}'), " + patch + ")"
}

func (dialect) JSONText(col, field string) string {
	return "COALESCE(CAST(json_extract(" + col + ", '$.' || " + field + ") AS TEXT), '')"
}

func (dialect) IsUnique(err error) bool {
	var e *sqlite.Error
	if !errors.As(err, &e) {
		return false
	}
	return e.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || e.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
}
