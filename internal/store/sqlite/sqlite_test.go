package sqlite_test

import (
	"testing"

	"taskcenter/internal/store"
	"taskcenter/internal/store/sqlite"
	"taskcenter/internal/store/storetest"
)

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return sqlite.OpenTest(t) })
}

func BenchmarkLeaseComplete(b *testing.B) {
	storetest.Bench(b, func(b *testing.B) store.Store { return sqlite.OpenTest(b) })
}

func BenchmarkCreateJobs(b *testing.B) {
	storetest.BenchCreateJobs(b, func(b *testing.B) store.Store { return sqlite.OpenTest(b) })
}

func BenchmarkUseAccountNonce(b *testing.B) {
	storetest.BenchUseAccountNonce(b, func(b *testing.B) store.Store { return sqlite.OpenTest(b) })
}

func BenchmarkListJobTrees(b *testing.B) {
	storetest.BenchListJobTrees(b, func(b *testing.B) store.Store { return sqlite.OpenTest(b) })
}
