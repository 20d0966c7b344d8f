package storetest

import (
	"context"
	"testing"

	"taskcenter/internal/store"
)

// TallySeedJobs is the jobs a database holds before its driver's job tally migration, in SQL that
// either schema takes: for account 1 two live tasks, a deleted one, a child and a job of another
// kind; for account 2 one task.
const TallySeedJobs = `INSERT INTO jobs (id, account_id, parent_id, kind, status, deleted, created_at, updated_at) VALUES
	(1, 1, 0, 'task', 'queued', false, 0, 0), (2, 1, 0, 'task', 'queued', false, 0, 0),
	(3, 1, 0, 'task', 'queued', true, 0, 0), (4, 1, 1, 'task', 'queued', false, 0, 0),
	(5, 1, 0, 'other', 'queued', false, 0, 0), (6, 2, 0, 'task', 'queued', false, 0, 0)`

// CheckSeededTallies checks the totals s reads after migrating a database that held TallySeedJobs.
func CheckSeededTallies(t *testing.T, s store.Store) {
	t.Helper()
	for _, tc := range []struct {
		accounts []int64
		kind     string
		want     int
	}{
		{[]int64{1}, "task", 2},
		{[]int64{1}, "other", 1},
		{[]int64{2}, "task", 1},
		{[]int64{1, 2}, "task", 3},
	} {
		tr, err := s.ListJobTrees(context.Background(), store.JobFilter{AccountIDs: tc.accounts, Kind: tc.kind, ParentID: -1, Limit: 1}, "")
		if err != nil {
			t.Fatal(err)
		}
		if tr.Total != tc.want {
			t.Errorf("accounts %v kind %s: total %d, want %d", tc.accounts, tc.kind, tr.Total, tc.want)
		}
	}
}
