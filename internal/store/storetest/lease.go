package storetest

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"taskcenter/internal/store"
)

func testAddAndListUnits(t *testing.T, s store.Store) {
	ctx := context.Background()
	j := job(t, s, store.Job{Priority: 2, MaxAttempts: 3}, mkUnits(2, "c"))
	deadline := at(time.Hour)
	added, err := s.AddUnits(ctx, j.ID, []store.Unit{
		{Index: 2, Name: "item-a", Capability: "c", Deadline: &deadline},
		{Index: 3, Name: "Item-B", Capability: "c", Priority: 7, RunAfter: at(time.Minute)},
	}, at(time.Second))
	must(t, err)
	eq(t, "added", len(added), 2)
	for i, u := range added {
		got, err := s.GetUnit(ctx, u.ID)
		must(t, err)
		if got.Name != u.Name || got.Status != store.UnitQueued || got.Priority != u.Priority ||
			got.MaxAttempts != 3 || got.JobID != j.ID || got.AccountID != j.AccountID || !got.RunAfter.Equal(u.RunAfter) ||
			!got.CreatedAt.Equal(u.CreatedAt) {
			t.Fatalf("added unit %d: returned %+v, stored %+v", i, u, got)
		}
		timeEq(t, "deadline", got.Deadline, u.Deadline)
	}
	eq(t, "inherited priority", added[0].Priority, 2)
	eq(t, "own priority", added[1].Priority, 7)
	_, err = s.AddUnits(ctx, 9999, mkUnits(1, "c"), t0)
	mustIs(t, err, store.ErrNotFound)
	_, err = s.GetUnit(ctx, 9999)
	mustIs(t, err, store.ErrNotFound)

	other := job(t, s, store.Job{}, mkUnits(1, "c"))
	leased := lease(t, s, store.LeaseRequest{WorkerID: 5, Capabilities: []string{"c"}, Max: 1, Now: at(time.Minute)})
	cases := []struct {
		name  string
		f     store.UnitFilter
		want  []string
		total int
	}{
		{"job, by index", store.UnitFilter{JobID: j.ID}, []string{"0", "1", "item-a", "Item-B"}, 4},
		{"jobs", store.UnitFilter{JobIDs: []int64{j.ID, other.ID}}, []string{"0", "0", "1", "item-a", "Item-B"}, 5},
		{"statuses", store.UnitFilter{JobID: j.ID, Statuses: []store.UnitStatus{store.UnitRunning}}, []string{"Item-B"}, 1},
		{"ids", store.UnitFilter{UnitIDs: ids(added)}, []string{"item-a", "Item-B"}, 2},
		{"search", store.UnitFilter{Search: "ITEM"}, []string{"item-a", "Item-B"}, 2},
		{"worker", store.UnitFilter{WorkerID: 5}, []string{"Item-B"}, 1},
		{"page", store.UnitFilter{JobID: j.ID, Limit: 2, Offset: 1}, []string{"1", "item-a"}, 4},
		{"priority at least", store.UnitFilter{JobID: j.ID, MinPriority: ptr(3)}, []string{"Item-B"}, 1},
		{"priority at most", store.UnitFilter{JobID: j.ID, MaxPriority: ptr(2)}, []string{"0", "1", "item-a"}, 3},
		{"priority between", store.UnitFilter{JobID: j.ID, MinPriority: ptr(2), MaxPriority: ptr(2)}, []string{"0", "1", "item-a"}, 3},
		{"priority none", store.UnitFilter{JobID: j.ID, MaxPriority: ptr(1)}, nil, 0},
		{"created from, included", store.UnitFilter{JobID: j.ID, CreatedFrom: ptr(at(time.Second))}, []string{"item-a", "Item-B"}, 2},
		{"created to, included", store.UnitFilter{JobID: j.ID, CreatedTo: ptr(t0)}, []string{"0", "1"}, 2},
		{"created between", store.UnitFilter{JobID: j.ID, CreatedFrom: ptr(at(time.Millisecond)), CreatedTo: ptr(at(time.Second - time.Millisecond))}, nil, 0},
		{"attempted", store.UnitFilter{JobID: j.ID, Attempted: ptr(true)}, []string{"Item-B"}, 1},
		{"never attempted, paged", store.UnitFilter{JobID: j.ID, Attempted: ptr(false), Limit: 1, Offset: 2}, []string{"item-a"}, 3},
	}
	eq(t, "leased the high-priority item", leased[0].Name, "Item-B")
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			us, total, err := s.ListUnits(ctx, tc.f)
			must(t, err)
			if names(us) != names(unitsNamed(tc.want)) || total != tc.total {
				t.Fatalf("got %s total %d, want %v total %d", names(us), total, tc.want, tc.total)
			}
		})
	}
}

func unitsNamed(ns []string) []store.Unit {
	us := make([]store.Unit, len(ns))
	for i, n := range ns {
		us[i].Name = n
	}
	return us
}

func testLeaseOrder(t *testing.T, s store.Store) {
	ctx := context.Background()
	d1, d2 := at(time.Hour), at(2*time.Hour)
	low := job(t, s, store.Job{Priority: 1}, []store.Unit{{Name: "low", Capability: "c"}})
	_ = low
	job(t, s, store.Job{Priority: 5}, []store.Unit{
		{Name: "p5-nodeadline-a", Capability: "c"},
		{Name: "p5-d2", Capability: "c", Deadline: &d2},
		{Name: "p5-d1", Capability: "c", Deadline: &d1},
		{Name: "p5-nodeadline-b", Capability: "c"},
		{Name: "p9", Capability: "c", Priority: 9},
	})
	job(t, s, store.Job{Priority: 5}, []store.Unit{{Name: "p5-other-job", Capability: "c"}})
	want := "[p9 p5-d1 p5-d2 p5-nodeadline-a p5-nodeadline-b p5-other-job low]"
	// One lease returns them in order; leases of one unit take them in order.
	got := lease(t, s, store.LeaseRequest{WorkerID: 1, Capabilities: []string{"c"}, Max: 3})
	eq(t, "first three", names(got), "[p9 p5-d1 p5-d2]")
	var rest []store.Unit
	for {
		us := lease(t, s, store.LeaseRequest{WorkerID: 1, Capabilities: []string{"c"}, Max: 1})
		if len(us) == 0 {
			break
		}
		rest = append(rest, us...)
	}
	eq(t, "whole order", names(append(got, rest...)), want)

	// Across capabilities the order is the same.
	job(t, s, store.Job{Priority: 1}, []store.Unit{{Name: "a1", Capability: "a"}, {Name: "b3", Capability: "b", Priority: 3}})
	job(t, s, store.Job{Priority: 2}, []store.Unit{{Name: "a2", Capability: "a"}, {Name: "b2", Capability: "b"}})
	got = lease(t, s, store.LeaseRequest{WorkerID: 1, Capabilities: []string{"b", "a", "zz"}, Max: 3})
	eq(t, "mixed capabilities", names(got), "[b3 a2 b2]")
	got = lease(t, s, store.LeaseRequest{WorkerID: 1, Capabilities: []string{"a", "b"}, Max: 3})
	eq(t, "the rest", names(got), "[a1]")

	// What a lease sets.
	j := job(t, s, store.Job{MaxAttempts: 3}, mkUnits(1, "set"))
	now := at(time.Minute)
	u := lease(t, s, store.LeaseRequest{WorkerID: 42, Capabilities: []string{"set"}, Now: now, LeaseFor: 30 * time.Second})[0]
	if u.Status != store.UnitRunning || u.WorkerID != 42 || u.Epoch != 1 || u.Attempts != 1 ||
		!u.UpdatedAt.Equal(now) || u.JobID != j.ID {
		t.Fatalf("leased %+v", u)
	}
	timeEq(t, "lease expires", u.LeaseExpires, ptr(now.Add(30*time.Second)))
	timeEq(t, "started", u.StartedAt, &now)
	stored, err := s.GetUnit(ctx, u.ID)
	must(t, err)
	eq(t, "stored epoch", stored.Epoch, int64(1))
	eq(t, "stored worker", stored.WorkerID, int64(42))

	eq(t, "no capabilities", len(lease(t, s, store.LeaseRequest{WorkerID: 1})), 0)
}

func testLeaseMatching(t *testing.T, s store.Store) {
	ctx := context.Background()
	acct2 := job(t, s, store.Job{AccountID: 2}, []store.Unit{{Name: "acct2", Capability: "m"}})
	j := job(t, s, store.Job{AccountID: 1}, []store.Unit{
		{Name: "plain", Capability: "m"},
		{Name: "gpu", Capability: "m", Tag: "gpu"},
		{Name: "later", Capability: "m", RunAfter: at(time.Hour)},
		{Name: "other-cap", Capability: "n"},
	})
	blockedJob := job(t, s, store.Job{AccountID: 1}, []store.Unit{{Name: "blocked", Capability: "m"}})
	blocked, err := s.RecordWorkerFailure(ctx, blockedJob.ID, 7, 1, t0)
	must(t, err)
	eq(t, "blocklisted", blocked, true)
	// A unit that just failed on worker 7 avoids it for a minute.
	avoidJob := job(t, s, store.Job{AccountID: 1}, []store.Unit{{Name: "avoid", Capability: "m"}})
	first := lease(t, s, store.LeaseRequest{WorkerID: 7, Capabilities: []string{"m"}, JobID: avoidJob.ID})[0]
	_, err = s.FailUnit(ctx, store.UnitFailure{UnitID: first.ID, Epoch: first.Epoch, Error: "boom", Retry: true,
		RetryAt: t0, AvoidUntil: at(time.Minute)}, t0)
	must(t, err)

	cases := []struct {
		name string
		r    store.LeaseRequest
		want string
	}{
		{"untagged only", store.LeaseRequest{WorkerID: 1, Capabilities: []string{"m"}}, "[acct2 plain blocked avoid]"},
		{"tags", store.LeaseRequest{WorkerID: 1, Capabilities: []string{"m"}, Tags: []string{"gpu", "x"}},
			"[acct2 plain gpu blocked avoid]"},
		{"other tag", store.LeaseRequest{WorkerID: 1, Capabilities: []string{"m"}, Tags: []string{"cpu"}},
			"[acct2 plain blocked avoid]"},
		{"capabilities", store.LeaseRequest{WorkerID: 1, Capabilities: []string{"n"}}, "[other-cap]"},
		{"run after", store.LeaseRequest{WorkerID: 1, Capabilities: []string{"m"}, Now: at(time.Hour)},
			"[acct2 plain later blocked avoid]"},
		{"account", store.LeaseRequest{WorkerID: 1, Capabilities: []string{"m"}, AccountID: 2}, "[acct2]"},
		{"job", store.LeaseRequest{WorkerID: 1, Capabilities: []string{"m", "n"}, JobID: j.ID}, "[plain other-cap]"},
		{"blocklisted and avoided worker", store.LeaseRequest{WorkerID: 7, Capabilities: []string{"m"}},
			"[acct2 plain]"},
		{"avoidance over", store.LeaseRequest{WorkerID: 7, Capabilities: []string{"m"}, Now: at(time.Minute)},
			"[acct2 plain avoid]"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// Lease, check, and give everything back so that each case sees the same queue.
			us := lease(t, s, tc.r)
			var held []store.HeldUnit
			for _, u := range us {
				held = append(held, store.HeldUnit{UnitID: u.ID, JobID: u.JobID, Epoch: u.Epoch})
			}
			n, err := s.ReleaseUnits(ctx, tc.r.WorkerID, held, t0)
			must(t, err)
			eq(t, "released", n, len(us))
			slices.SortFunc(us, func(a, b store.Unit) int { return int(a.ID - b.ID) })
			eq(t, "leased", names(us), tc.want)
		})
	}
	_ = acct2
}

func testLeaseMarksJobRunning(t *testing.T, s store.Store) {
	ctx := context.Background()
	j := job(t, s, store.Job{}, mkUnits(2, "c"))
	lease(t, s, store.LeaseRequest{WorkerID: 1, Capabilities: []string{"c"}, Max: 1, Now: at(time.Minute)})
	got, err := s.GetJob(ctx, j.ID)
	must(t, err)
	eq(t, "status", got.Status, store.JobRunning)
	timeEq(t, "started", got.StartedAt, ptr(at(time.Minute)))
	// A second lease does not move StartedAt, nor does it revive a job the engine moved on.
	lease(t, s, store.LeaseRequest{WorkerID: 1, Capabilities: []string{"c"}, Max: 1, Now: at(time.Hour)})
	got, err = s.GetJob(ctx, j.ID)
	must(t, err)
	timeEq(t, "started kept", got.StartedAt, ptr(at(time.Minute)))
}

func testMaxConcurrency(t *testing.T, s store.Store) {
	ctx := context.Background()
	limited := job(t, s, store.Job{Priority: 5, MaxConcurrency: 2}, mkUnits(5, "c"))
	free := job(t, s, store.Job{Priority: 1}, mkUnits(3, "c"))
	got := lease(t, s, store.LeaseRequest{WorkerID: 1, Capabilities: []string{"c"}, Max: 4})
	// Two of the limited job, then the lease looks past it to the unlimited one.
	var fromLimited, fromFree []store.Unit
	for _, u := range got {
		if u.JobID == limited.ID {
			fromLimited = append(fromLimited, u)
		} else if u.JobID == free.ID {
			fromFree = append(fromFree, u)
		}
	}
	eq(t, "from limited", len(fromLimited), 2)
	eq(t, "from free", len(fromFree), 2)
	eq(t, "no more room", len(lease(t, s, store.LeaseRequest{WorkerID: 2, Capabilities: []string{"c"}, JobID: limited.ID})), 0)
	complete(t, s, fromLimited[0])
	again := lease(t, s, store.LeaseRequest{WorkerID: 2, Capabilities: []string{"c"}, JobID: limited.ID})
	eq(t, "a slot freed", len(again), 1)
	eq(t, "still full", len(lease(t, s, store.LeaseRequest{WorkerID: 2, Capabilities: []string{"c"}, JobID: limited.ID})), 0)
	// Raising the limit frees slots.
	_, err := s.PatchJob(ctx, limited.ID, store.JobPatch{MaxConcurrency: ptr(0)}, t0)
	must(t, err)
	eq(t, "unlimited now", len(lease(t, s, store.LeaseRequest{WorkerID: 2, Capabilities: []string{"c"}, JobID: limited.ID})), 2)

	// Concurrent leasers never exceed the limit.
	lim := job(t, s, store.Job{MaxConcurrency: 3}, mkUnits(50, "conc"))
	var wg sync.WaitGroup
	var mu sync.Mutex
	total := 0
	for w := range 8 {
		wg.Go(func() {
			us, err := s.Lease(ctx, store.LeaseRequest{WorkerID: int64(100 + w), Capabilities: []string{"conc"}, Max: 2,
				LeaseFor: time.Minute, Now: t0})
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			total += len(us)
			mu.Unlock()
		})
	}
	wg.Wait()
	counts, err := s.UnitCounts(ctx, []int64{lim.ID})
	must(t, err)
	if counts[lim.ID][store.UnitRunning] > 3 || total != counts[lim.ID][store.UnitRunning] {
		t.Fatalf("running %d (leased %d) over limit 3", counts[lim.ID][store.UnitRunning], total)
	}
}

func testConcurrentLease(t *testing.T, s store.Store) {
	ctx := context.Background()
	const n, workers = 2000, 8
	j := job(t, s, store.Job{}, mkUnits(n/2, "c"))
	_, err := s.AddUnits(ctx, j.ID, mkUnits(n/2, "c"), t0)
	must(t, err)
	var mu sync.Mutex
	owner := map[int64]int64{} // unit -> worker
	var wg sync.WaitGroup
	for w := int64(1); w <= workers; w++ {
		wg.Go(func() {
			for {
				us, err := s.Lease(ctx, store.LeaseRequest{WorkerID: w, Capabilities: []string{"c"}, Max: 25,
					LeaseFor: time.Minute, Now: t0})
				if err != nil {
					t.Error(err)
					return
				}
				if len(us) == 0 {
					return
				}
				mu.Lock()
				for _, u := range us {
					if prev, ok := owner[u.ID]; ok {
						t.Errorf("unit %d leased to %d and %d", u.ID, prev, w)
					}
					if u.WorkerID != w || u.Epoch != 1 || u.Attempts != 1 {
						t.Errorf("unit %d leased as %+v", u.ID, u)
					}
					owner[u.ID] = w
				}
				mu.Unlock()
				// Complete half of each batch, so leases and completions interleave.
				var cs []store.Completion
				for _, u := range us[:len(us)/2] {
					cs = append(cs, store.Completion{UnitID: u.ID, Epoch: u.Epoch})
				}
				errs, _, err := s.CompleteUnits(ctx, cs, t0)
				if err != nil {
					t.Error(err)
					return
				}
				for _, e := range errs {
					if e != nil {
						t.Error(e)
					}
				}
			}
		})
	}
	wg.Wait()
	eq(t, "units leased", len(owner), n)
	for _, u := range unitsOf(t, s, j.ID) {
		if u.WorkerID != owner[u.ID] || u.Epoch != 1 {
			t.Fatalf("unit %d stored as worker %d epoch %d, leased to %d", u.ID, u.WorkerID, u.Epoch, owner[u.ID])
		}
	}
}
