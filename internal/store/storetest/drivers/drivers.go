// Package drivers lists the store drivers that tests outside the store run against, so that every
// suite covers SQLite and PostgreSQL the same way. PostgreSQL comes from TASKCENTER_TEST_DATABASE_URL
// (see postgres.OpenTest: unreachable skips, except under CI=true where it fails).
package drivers

import (
	"testing"

	"taskcenter/internal/store"
	"taskcenter/internal/store/postgres"
	"taskcenter/internal/store/sqlite"
)

// Driver opens a fresh, empty store for one test and closes it when the test ends.
type Driver struct {
	Name string
	Open func(testing.TB) store.Store
}

// All returns every driver: SQLite first, then PostgreSQL.
func All() []Driver {
	return []Driver{
		{"sqlite", func(t testing.TB) store.Store { return sqlite.OpenTest(t) }},
		{"postgres", func(t testing.TB) store.Store { return postgres.OpenTest(t) }},
	}
}

// Each runs fn as a subtest per driver.
func Each(t *testing.T, fn func(t *testing.T, open func(testing.TB) store.Store)) {
	for _, d := range All() {
		t.Run(d.Name, func(t *testing.T) { fn(t, d.Open) })
	}
}
