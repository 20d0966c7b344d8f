package storetest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"taskcenter/internal/store"
)

// hashOf makes a 64-hex-digit blob hash from a short tag.
func hashOf(tag string) string {
	return fmt.Sprintf("%064x", []byte(tag))[:64]
}

func testBlobRefs(t *testing.T, s store.Store) {
	ctx := context.Background()
	a, b := account(t, s, "blob-a"), account(t, s, "blob-b")
	scene, frame, other := hashOf("scene"), hashOf("frame"), hashOf("other")
	must(t, s.AddBlobRefs(ctx, a.ID, []string{scene, scene, frame, ""}, t0))
	must(t, s.AddBlobRefs(ctx, a.ID, []string{scene}, at(time.Second))) // again: no conflict
	must(t, s.AddBlobRefs(ctx, a.ID, nil, t0))
	many := make([]string, 6000) // more than one insert statement's rows
	for i := range many {
		many[i] = fmt.Sprintf("%064d", i)
	}
	must(t, s.AddBlobRefs(ctx, b.ID, many, t0))
	for _, tc := range []struct {
		acct int64
		hash string
		want bool
	}{
		{a.ID, scene, true}, {a.ID, frame, true}, {a.ID, other, false},
		{b.ID, scene, false}, {b.ID, many[0], true}, {b.ID, many[5999], true}, {a.ID, many[0], false},
		{a.ID, strings.ToUpper(scene), false},
	} {
		got, err := s.HasBlobRef(ctx, tc.acct, tc.hash)
		must(t, err)
		if got != tc.want {
			t.Errorf("HasBlobRef(%d, %s) = %v, want %v", tc.acct, tc.hash[:8], got, tc.want)
		}
	}

	// Units naming blobs: A's own scene, B naming A's scene, a spec where the hash is only part of a string.
	wa, err := s.RegisterWorker(ctx, store.Worker{Name: "wa", Capabilities: []string{"blob"}}, t0)
	must(t, err)
	wb, err := s.RegisterWorker(ctx, store.Worker{Name: "wb", Capabilities: []string{"blob"}}, t0)
	must(t, err)
	spec := func(s string) []store.Unit {
		return []store.Unit{{Name: "0", Capability: "blob", Spec: []byte(s)}}
	}
	ja := job(t, s, store.Job{AccountID: a.ID}, spec(`{"scene":"`+scene+`","n":[{"x":"`+frame+`"}]}`))
	jb := job(t, s, store.Job{AccountID: b.ID}, spec(`{"scene":"`+scene+`","part":"sha256:`+many[0]+`"}`))
	may := func(w store.Worker, hash string) bool {
		t.Helper()
		ok, err := s.HeldUnitsReferenceBlob(ctx, w.ID, hash)
		must(t, err)
		return ok
	}
	if may(wa, scene) {
		t.Fatal("a worker holding nothing may read a blob")
	}
	ua := lease(t, s, store.LeaseRequest{WorkerID: wa.ID, Capabilities: []string{"blob"}, AccountID: a.ID, Max: 1})
	ub := lease(t, s, store.LeaseRequest{WorkerID: wb.ID, Capabilities: []string{"blob"}, AccountID: b.ID, Max: 1})
	eq(t, "leased", len(ua)+len(ub), 2)
	eq(t, "a's unit", ua[0].JobID, ja.ID)
	eq(t, "b's unit", ub[0].JobID, jb.ID)
	for _, tc := range []struct {
		name string
		w    store.Worker
		hash string
		want bool
	}{
		{"holder, named in spec", wa, scene, true},
		{"holder, nested in spec", wa, frame, true},
		{"holder, not named", wa, other, false},
		{"other tenant naming a foreign blob", wb, scene, false},
		{"hash only inside a longer string", wb, many[0], false},
		{"worker not holding the unit", wb, frame, false},
	} {
		if got := may(tc.w, tc.hash); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
	// Once the unit is no longer held, the right goes with it.
	complete(t, s, ua[0])
	if may(wa, scene) {
		t.Error("a worker may read a blob of a unit it finished")
	}
}
