package storetest

import (
	"context"
	"fmt"
	"testing"

	"taskcenter/internal/store"
	"taskcenter/internal/store/sqlstore"
)

// testQueueDepthBounded: with more ready units than QueueDepthCap, the depth of that capability
// stops at the cap (a scrape must not count a million units) and other capabilities stay exact.
func testQueueDepthBounded(t *testing.T, s store.Store) {
	ctx := context.Background()
	big := job(t, s, store.Job{}, mkUnits(1, "big"))
	job(t, s, store.Job{}, mkUnits(3, "small"))
	w, ok := s.(interface{ Writer() sqlstore.Querier })
	if !ok {
		t.Fatalf("%T has no Writer to seed units through", s)
	}
	// Seeded in bulk: through CreateJob the seeding would take longer than the rest of the suite.
	n := store.QueueDepthCap + 1000
	_, err := w.Writer().Exec(ctx, fmt.Sprintf(`WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < %d)
		INSERT INTO units (job_id, account_id, idx, status, capability, run_after, created_at, updated_at)
		SELECT %d, 1, i, 'queued', 'big', 0, 0, 0 FROM seq`, n, big.ID))
	must(t, err)
	depth, err := s.QueueDepth(ctx, t0)
	must(t, err)
	if len(depth) != 2 || depth["big"] != store.QueueDepthCap || depth["small"] != 3 {
		t.Fatalf("depth %v, want big at the cap %d and small 3", depth, store.QueueDepthCap)
	}
}

// testCountUnfinished: the counts behind the account limits count only what is unfinished, leave out
// the named kinds and deleted jobs, and stop at their limit.
func testCountUnfinished(t *testing.T, s store.Store) {
	ctx := context.Background()
	a := job(t, s, store.Job{AccountID: 7}, mkUnits(4, "c"))
	job(t, s, store.Job{AccountID: 7, Kind: "queue"}, nil)
	job(t, s, store.Job{AccountID: 7}, mkUnits(1, "c"))
	gone := job(t, s, store.Job{AccountID: 7}, mkUnits(1, "c"))
	_, err := s.PatchJob(ctx, gone.ID, store.JobPatch{Deleted: ptr(true)}, t0)
	must(t, err)
	done := job(t, s, store.Job{AccountID: 7}, mkUnits(1, "c"))
	_, err = s.PatchJob(ctx, done.ID, store.JobPatch{Status: ptr(store.JobSucceeded)}, t0)
	must(t, err)
	job(t, s, store.Job{AccountID: 8}, mkUnits(1, "c"))
	us := lease(t, s, store.LeaseRequest{WorkerID: 1, Capabilities: []string{"c"}, Max: 100})
	var doneUnits []store.Completion
	for _, u := range us {
		if u.JobID == a.ID && len(doneUnits) < 2 {
			doneUnits = append(doneUnits, store.Completion{UnitID: u.ID, Epoch: u.Epoch, WorkerID: 1})
		}
	}
	_, _, err = s.CompleteUnits(ctx, doneUnits, t0)
	must(t, err)

	tests := []struct {
		name string
		got  func() (int, error)
		want int
	}{
		{"unfinished jobs", func() (int, error) { return s.CountUnfinishedJobs(ctx, 7, nil, 100) }, 3},
		{"except queues", func() (int, error) { return s.CountUnfinishedJobs(ctx, 7, []string{"queue"}, 100) }, 2},
		{"up to the limit", func() (int, error) { return s.CountUnfinishedJobs(ctx, 7, nil, 1) }, 1},
		{"unfinished units", func() (int, error) { return s.CountUnfinishedUnits(ctx, a.ID, 100) }, 2},
		{"units up to the limit", func() (int, error) { return s.CountUnfinishedUnits(ctx, a.ID, 1) }, 1},
	}
	for _, tt := range tests {
		n, err := tt.got()
		must(t, err)
		eq(t, tt.name, n, tt.want)
	}
}
