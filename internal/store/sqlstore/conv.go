package sqlstore

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"time"
)

// MS is t in unix milliseconds.
func MS(t time.Time) int64 { return t.UnixMilli() }

// MSPtr is t in unix milliseconds, or nil (NULL) for a nil or zero time.
func MSPtr(t *time.Time) any {
	if t == nil || t.IsZero() {
		return nil
	}
	return t.UnixMilli()
}

// MSOrNil is t in unix milliseconds, or nil (NULL) for the zero time.
func MSOrNil(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMilli()
}

// Time converts unix milliseconds back to a UTC time.
func Time(ms int64) time.Time { return time.UnixMilli(ms).UTC() }

// TimePtr converts a nullable unix-millisecond column back to a UTC time.
func TimePtr(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := Time(v.Int64)
	return &t
}

// Trunc drops what a round trip through the store loses (below a millisecond, the location).
func Trunc(t time.Time) time.Time { return Time(MS(t)) }

// Dur is d in milliseconds.
func Dur(d time.Duration) int64 { return d.Milliseconds() }

// Duration converts milliseconds back to a duration.
func Duration(ms int64) time.Duration { return time.Duration(ms) * time.Millisecond }

// JSON is raw JSON as a nullable text parameter: nil for empty.
func JSON(m json.RawMessage) any {
	if len(m) == 0 {
		return nil
	}
	return string(m)
}

// RawJSON converts a nullable text column back to raw JSON.
func RawJSON(v sql.NullString) json.RawMessage {
	if !v.Valid || v.String == "" {
		return nil
	}
	return json.RawMessage(v.String)
}

// rawJSONBytes is RawJSON for a text column scanned into bytes, which saves pgx a string's copy of it.
func rawJSONBytes(b []byte) json.RawMessage {
	if len(b) == 0 {
		return nil
	}
	return b
}

// List encodes a string list as JSON text; nil and empty both become "[]".
func List(l []string) string {
	if len(l) == 0 {
		return "[]"
	}
	b, _ := json.Marshal(l) // a []string always marshals
	return string(b)
}

// ParseList decodes List's text; an empty list comes back nil.
func ParseList(s sql.NullString) ([]string, error) {
	if !s.Valid || s.String == "" || s.String == "[]" {
		return nil, nil
	}
	var l []string
	if err := json.Unmarshal([]byte(s.String), &l); err != nil {
		return nil, fmt.Errorf("decode string list: %w", err)
	}
	if len(l) == 0 {
		return nil, nil
	}
	return l, nil
}

// strs converts a slice of string-kinded values to []string.
func strs[T ~string](in []T) []string {
	out := make([]string, len(in))
	for i, v := range in {
		out[i] = string(v)
	}
	return out
}
