package storetest

import (
	"context"
	"slices"
	"testing"

	"taskcenter/internal/store"
)

// testTallyUnits checks the overview's counts and where the history ends: units by job kind and status, per account or for
// all, deleted jobs left out.
func testTallyUnits(t *testing.T, s store.Store) {
	ctx := context.Background()
	if id, err := s.LastEventID(ctx); err != nil || id != 0 {
		t.Fatalf("last event id of an empty history: %d, %v", id, err)
	}
	must(t, s.AppendEvents(ctx, []store.Event{{At: t0, Type: "x"}, {At: t0, Type: "y"}}))
	evs, err := s.ListEvents(ctx, store.EventFilter{})
	must(t, err)
	if id, err := s.LastEventID(ctx); err != nil || len(evs) != 2 || id != evs[1].ID {
		t.Fatalf("last event id %d, %v; events %v", id, err, evs)
	}
	a, b := account(t, s, "tally-a"), account(t, s, "tally-b")
	job(t, s, store.Job{AccountID: a.ID, Kind: "render"}, mkUnits(3, "blender"))
	job(t, s, store.Job{AccountID: a.ID, Kind: "rpa"}, mkUnits(1, "rpa"))
	job(t, s, store.Job{AccountID: b.ID, Kind: "render"}, mkUnits(2, "blender"))
	gone := job(t, s, store.Job{AccountID: b.ID, Kind: "render"}, mkUnits(5, "blender"))
	_, err = s.PatchJob(ctx, gone.ID, store.JobPatch{Deleted: ptr(true)}, t0)
	must(t, err)
	lease(t, s, store.LeaseRequest{WorkerID: 1, Capabilities: []string{"blender"}, AccountID: a.ID, Max: 1})
	for _, tc := range []struct {
		name    string
		account int64
		want    []store.UnitTally
	}{
		{"every account", 0, []store.UnitTally{{Kind: "render", Status: store.UnitQueued, Count: 4}, {Kind: "render", Status: store.UnitRunning, Count: 1}, {Kind: "rpa", Status: store.UnitQueued, Count: 1}}},
		{"one account", a.ID, []store.UnitTally{{Kind: "render", Status: store.UnitQueued, Count: 2}, {Kind: "render", Status: store.UnitRunning, Count: 1}, {Kind: "rpa", Status: store.UnitQueued, Count: 1}}},
		{"another account", b.ID, []store.UnitTally{{Kind: "render", Status: store.UnitQueued, Count: 2}}},
		{"no such account", 1 << 40, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.TallyUnits(ctx, tc.account)
			must(t, err)
			if !slices.Equal(got, tc.want) {
				t.Fatalf("tally %v, want %v", got, tc.want)
			}
		})
	}
}
