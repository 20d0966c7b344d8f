package storetest

import (
	"context"
	"slices"
	"testing"
	"time"

	"taskcenter/internal/store"
)

// testAnyTags checks units that name several tags: a worker carrying any one of them may lease such
// a unit, no other worker may, and the marker tag itself matches nothing. Deleting the units takes
// their tags along.
func testAnyTags(t *testing.T, s store.Store) {
	ctx := context.Background()
	j := job(t, s, store.Job{}, []store.Unit{
		{Name: "ab", Capability: "r", AnyTags: []string{"bot:a", "bot:b", "bot:a"}},
		{Name: "c", Capability: "r", AnyTags: []string{"bot:c"}},
		{Name: "free", Capability: "r"},
	})
	added, err := s.AddUnits(ctx, j.ID, []store.Unit{{Name: "bc", Capability: "r", AnyTags: []string{"bot:b", "bot:c"}}}, t0)
	must(t, err)
	eq(t, "added tag", added[0].Tag, store.AnyTagMarker)
	us, _, err := s.ListUnits(ctx, store.UnitFilter{JobID: j.ID})
	must(t, err)
	eq(t, "single AnyTag becomes the Tag", us[1].Tag, "bot:c")
	eq(t, "several AnyTags give the marker", us[0].Tag, store.AnyTagMarker)

	cases := []struct {
		name string
		tags []string
		want string
	}{
		{"no tags", nil, "[free]"},
		{"a", []string{"bot:a"}, "[ab free]"},
		{"b", []string{"x", "bot:b"}, "[ab free bc]"},
		{"c", []string{"bot:c"}, "[c free bc]"},
		{"marker is no tag", []string{store.AnyTagMarker}, "[free]"},
		{"other", []string{"bot:z"}, "[free]"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := lease(t, s, store.LeaseRequest{WorkerID: 1, Capabilities: []string{"r"}, Tags: tc.tags})
			var held []store.HeldUnit
			for _, u := range got {
				held = append(held, store.HeldUnit{UnitID: u.ID, JobID: u.JobID, Epoch: u.Epoch})
			}
			_, err := s.ReleaseUnits(ctx, 1, held, t0)
			must(t, err)
			slices.SortFunc(got, func(a, b store.Unit) int { return int(a.ID - b.ID) })
			eq(t, "leased", names(got), tc.want)
		})
	}
	// Units go with their tags; a job deleted whole too.
	_, err = s.DeleteUnits(ctx, j.ID, []int64{us[0].ID})
	must(t, err)
	eq(t, "after delete", names(lease(t, s, store.LeaseRequest{WorkerID: 1, Capabilities: []string{"r"}, Tags: []string{"bot:a"}})), "[free]")
	must(t, s.DeleteJob(ctx, j.ID))
}

// testWorkerLicence checks that a licence is stored, survives registering again, and is removed.
func testWorkerLicence(t *testing.T, s store.Store) {
	ctx := context.Background()
	w, err := s.RegisterWorker(ctx, store.Worker{Name: "bot", Kind: "robot", Capabilities: []string{"rpa"}}, t0)
	must(t, err)
	eq(t, "no licence", w.Licence, "")
	timeEq(t, "no expiry", w.LicenceExpires, nil)
	must(t, s.SetWorkerLicence(ctx, w.ID, "LIC-1", ptr(at(time.Hour))))
	w, err = s.RegisterWorker(ctx, store.Worker{Name: "bot", Kind: "robot", Capabilities: []string{"rpa"}}, at(time.Minute))
	must(t, err)
	eq(t, "licence kept", w.Licence, "LIC-1")
	timeEq(t, "expiry kept", w.LicenceExpires, ptr(at(time.Hour)))
	must(t, s.SetWorkerLicence(ctx, w.ID, "", ptr(at(time.Hour))))
	w, err = s.GetWorker(ctx, w.ID)
	must(t, err)
	eq(t, "revoked", w.Licence, "")
	timeEq(t, "revoked expiry", w.LicenceExpires, nil)
	if err := s.SetWorkerLicence(ctx, w.ID+1000, "x", nil); err == nil {
		t.Fatal("licence for an unknown worker accepted")
	}
}

// testPendingTimeout checks the pending deadline: set from PendingTimeout at creation, listed once
// passed while the job is queued, not once a unit started, and movable by PatchJob.
func testPendingTimeout(t *testing.T, s store.Store) {
	ctx := context.Background()
	waits := job(t, s, store.Job{PendingTimeout: time.Minute}, mkUnits(1, "p"))
	starts := job(t, s, store.Job{PendingTimeout: time.Minute}, mkUnits(1, "q"))
	never := job(t, s, store.Job{}, mkUnits(1, "p2"))
	eq(t, "timeout", waits.PendingTimeout, time.Minute)
	timeEq(t, "deadline", waits.PendingDeadline, ptr(at(time.Minute)))
	timeEq(t, "no deadline", never.PendingDeadline, nil)
	lease(t, s, store.LeaseRequest{WorkerID: 1, Capabilities: []string{"q"}})

	ids := func(now time.Time) []int64 {
		js, err := s.JobsPastPendingTimeout(ctx, now, 10)
		must(t, err)
		var out []int64
		for _, j := range js {
			out = append(out, j.ID)
		}
		return out
	}
	eq(t, "before", len(ids(at(59*time.Second))), 0)
	if got := ids(at(time.Minute)); !slices.Equal(got, []int64{waits.ID}) {
		t.Fatalf("past pending timeout %v, want [%d] (job %d started, job %d has none)", got, waits.ID, starts.ID, never.ID)
	}
	j, err := s.PatchJob(ctx, waits.ID, store.JobPatch{PendingDeadline: ptr(at(time.Hour))}, t0)
	must(t, err)
	timeEq(t, "moved", j.PendingDeadline, ptr(at(time.Hour)))
	eq(t, "after move", len(ids(at(time.Minute))), 0)
	j, err = s.PatchJob(ctx, waits.ID, store.JobPatch{ClearPendingDeadline: true}, t0)
	must(t, err)
	timeEq(t, "cleared", j.PendingDeadline, nil)
	eq(t, "after clear", len(ids(at(2*time.Hour))), 0)
}
