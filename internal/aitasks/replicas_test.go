package aitasks_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"taskcenter/internal/aitasks"
	"taskcenter/internal/store"
	"taskcenter/internal/store/postgres"
	"taskcenter/internal/testutil"
)

// TestTwoReplicasRefundEachFailureOnce: two servers on one PostgreSQL database, four pollers each,
// 1,000 tasks that all fail at once: exactly 1,000 refunds, and no task polled by two workers at
// once (the fake upstream counts overlapping fetches of one task).
func TestTwoReplicasRefundEachFailureOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("1,000 tasks")
	}
	ctx := context.Background()
	s1 := postgres.OpenTest(t)
	pool2, err := pgxpool.NewWithConfig(ctx, s1.Pool().Config())
	if err != nil {
		t.Fatal(err)
	}
	s2 := postgres.New(pool2)
	t.Cleanup(func() { _ = s2.Close() })

	tune := func(c *aitasks.Config) { c.PollWorkers, c.BatchSize, c.PollInterval = 4, 25, 50*time.Millisecond }
	r1 := newEnv(t, s1, tune)
	r2 := newEnvOn(t, s2, r1, tune)
	u := r1.newUser("alice", "user", 1_000*priceLyrics)

	const n = 1000
	ids := make([]string, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			r := r1
			if i%2 == 1 {
				r = r2
			}
			ids[i] = r.submit(u, "lyrics", map[string]any{"prompt": fmt.Sprint("stall ", i)})
		}()
	}
	wg.Wait()
	if got := r1.quota(u); got != 0 {
		t.Fatalf("quota after %d submits = %d", n, got)
	}
	r1.waitFetches(n / 25) // every batch polled at least once while they stall
	r1.up.failAll()

	testutil.Eventually(t, 60*time.Second, func() error {
		_, a, _ := r1.list("/api/task/self?status=FAILURE&page_size=1", u.token)
		if a.Data.Total != n {
			return errorf("%d of %d failed", a.Data.Total, n)
		}
		return nil
	})
	lines, total, err := s1.ListLedger(ctx, store.LedgerFilter{AccountID: u.AccountID})
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[store.LedgerKind]int{}
	for _, l := range lines {
		kinds[l.Kind]++
	}
	if kinds[store.LedgerRefund] != n || kinds[store.LedgerCharge] != n || total != 2*n+1 {
		t.Fatalf("ledger: %v of %d lines, want %d charges and %d refunds", kinds, total, n, n)
	}
	if got := r1.quota(u); got != n*priceLyrics {
		t.Fatalf("quota after the refunds = %d, want %d", got, n*priceLyrics)
	}
	_, fetches, maxBatch, overlaps := r1.up.counts()
	if overlaps != 0 {
		t.Fatalf("%d fetches of a task overlapped another's", overlaps)
	}
	if maxBatch < 2 || maxBatch > 25 {
		t.Fatalf("largest batch %d, want 2..25", maxBatch)
	}
	t.Logf("%d fetches, largest batch %d", fetches, maxBatch)
}

// newEnvOn starts a second replica on st beside first, sharing its tenant, upstream and channels.
func newEnvOn(t testing.TB, st store.Store, first *env, tune func(*aitasks.Config)) *env {
	t.Helper()
	e := newReplica(t, st, tune)
	e.tenant, e.up, e.ch = first.tenant, first.up, first.ch
	return e
}
