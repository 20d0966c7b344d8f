package sqlstore

import (
	"database/sql"
	"fmt"
	"strings"
	"unicode/utf8"

	"taskcenter/internal/store"
)

// CheckText refuses statement parameters holding text PostgreSQL refuses and SQLite would keep (a
// NUL byte, invalid UTF-8), so that both drivers answer store.ErrInvalid alike, and before anything
// is written. Both drivers' queriers call it on every statement.
func CheckText(args []any) error {
	for _, a := range args {
		var s string
		switch v := a.(type) {
		case badText:
			return v.err
		case string:
			s = v
		case *string:
			if v == nil {
				continue
			}
			s = *v
		case sql.NullString:
			s = v.String
		default:
			continue
		}
		if err := checkString(s); err != nil {
			return err
		}
	}
	return nil
}

func checkString(s string) error {
	if strings.IndexByte(s, 0) >= 0 {
		return fmt.Errorf("%w: text must not contain NUL bytes", store.ErrInvalid)
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("%w: text must be valid UTF-8", store.ErrInvalid)
	}
	return nil
}

// badText poisons a statement's parameters: CheckText refuses the statement with its error before
// it is sent. Batch row sources carry their text inside one encoded parameter (SQLite's JSON,
// where a NUL travels escaped) or an array (PostgreSQL) that CheckText does not look into.
type badText struct{ err error }

// textChecked is a Dialect whose batch row sources refuse the text CheckText refuses.
type textChecked struct{ Dialect }

func (d textChecked) Batch(a *Args, alias string, cols []BatchCol, n int, val func(r, c int) any) string {
	for c, col := range cols {
		if col.Type != Text {
			continue
		}
		for r := range n {
			if s, ok := val(r, c).(string); ok {
				if err := checkString(s); err != nil {
					a.Add(badText{err}) // the statement never runs, so the shifted placeholders do not matter
					return d.Dialect.Batch(a, alias, cols, n, val)
				}
			}
		}
	}
	return d.Dialect.Batch(a, alias, cols, n, val)
}

// ErrRow is a Row whose Scan returns err: a statement refused before it ran.
type ErrRow struct{ Err error }

func (r ErrRow) Scan(...any) error { return r.Err }
