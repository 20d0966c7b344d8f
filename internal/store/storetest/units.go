package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"taskcenter/internal/store"
)

func testCompleteUnits(t *testing.T, s store.Store) {
	ctx := context.Background()
	j1 := job(t, s, store.Job{}, mkUnits(3, "c"))
	j2 := job(t, s, store.Job{}, mkUnits(1, "c"))
	us := lease(t, s, store.LeaseRequest{WorkerID: 1, Capabilities: []string{"c"}})
	eq(t, "leased", len(us), 4)
	must(t, s.SetUnitOutputs(ctx, store.ReportRef{UnitID: us[0].ID, Epoch: us[0].Epoch, WorkerID: 1}, json.RawMessage(`{"a.png":{"size":1},"b.png":{"size":2}}`), t0))
	cs := []store.Completion{
		{UnitID: us[0].ID, Epoch: us[0].Epoch, WorkerID: 1, Result: json.RawMessage(`{"ok":true}`),
			Outputs: json.RawMessage(`{"b.png":{"size":3},"c.png":{"size":4}}`), CostMilli: 12},
		{UnitID: us[1].ID, Epoch: us[1].Epoch - 1},          // stale
		{UnitID: us[2].ID, Epoch: us[2].Epoch, WorkerID: 2}, // right epoch, another worker's lease
		{UnitID: us[3].ID, Epoch: us[3].Epoch},
		{UnitID: us[3].ID, Epoch: us[3].Epoch}, // duplicate in the batch
		{UnitID: 9999, Epoch: 1},               // no such unit
	}
	errs, jobIDs, err := s.CompleteUnits(ctx, cs, at(time.Minute))
	must(t, err)
	want := []error{nil, store.ErrStale, store.ErrStale, nil, store.ErrStale, store.ErrStale}
	for i := range want {
		if errs[i] != want[i] {
			t.Fatalf("completion %d: %v, want %v", i, errs[i], want[i])
		}
	}
	slices.Sort(jobIDs)
	if !slices.Equal(jobIDs, []int64{j1.ID, j2.ID}) {
		t.Fatalf("jobs %v", jobIDs)
	}
	u, err := s.GetUnit(ctx, us[0].ID)
	must(t, err)
	if u.Status != store.UnitDone || u.Progress != 100 || u.CostMilli != 12 || u.Epoch != us[0].Epoch {
		t.Fatalf("completed %+v", u)
	}
	timeEq(t, "finished", u.FinishedAt, ptr(at(time.Minute)))
	jsonEq(t, "result", u.Result, `{"ok":true}`)
	jsonEq(t, "outputs", u.Outputs, `{"a.png":{"size":1},"b.png":{"size":3},"c.png":{"size":4}}`)
	u, err = s.GetUnit(ctx, us[1].ID)
	must(t, err)
	eq(t, "stale completion left it", u.Status, store.UnitRunning)
	u, err = s.GetUnit(ctx, us[2].ID)
	must(t, err)
	eq(t, "another worker's completion left it", u.Status, store.UnitRunning)
	// A done unit cannot be completed again, nor a queued one.
	errs, _, err = s.CompleteUnits(ctx, []store.Completion{{UnitID: us[0].ID, Epoch: us[0].Epoch}}, t0)
	must(t, err)
	eq(t, "again", errs[0], store.ErrStale)
	errs, jobIDs, err = s.CompleteUnits(ctx, nil, t0)
	must(t, err)
	if len(errs) != 0 || len(jobIDs) != 0 {
		t.Fatal("empty batch")
	}
}

func testFailUnit(t *testing.T, s store.Store) {
	ctx := context.Background()
	job(t, s, store.Job{MaxAttempts: 3}, mkUnits(2, "c"))
	us := lease(t, s, store.LeaseRequest{WorkerID: 4, Capabilities: []string{"c"}})

	_, err := s.FailUnit(ctx, store.UnitFailure{UnitID: us[0].ID, Epoch: us[0].Epoch + 1, Retry: true}, t0)
	mustIs(t, err, store.ErrStale)
	u, err := s.FailUnit(ctx, store.UnitFailure{UnitID: us[0].ID, Epoch: us[0].Epoch, Error: "crashed", Retry: true,
		RetryAt: at(time.Minute), AvoidUntil: at(time.Hour)}, at(time.Second))
	must(t, err)
	if u.Status != store.UnitQueued || u.Error != "crashed" || u.WorkerID != 0 || u.AvoidWorker != 4 ||
		!u.RunAfter.Equal(at(time.Minute)) || u.LeaseExpires != nil || u.FinishedAt != nil || u.Attempts != 1 {
		t.Fatalf("retried %+v", u)
	}
	timeEq(t, "avoid until", u.AvoidUntil, ptr(at(time.Hour)))
	// A second report of the same failure is stale.
	_, err = s.FailUnit(ctx, store.UnitFailure{UnitID: us[0].ID, Epoch: us[0].Epoch, Retry: true}, t0)
	mustIs(t, err, store.ErrStale)

	u, err = s.FailUnit(ctx, store.UnitFailure{UnitID: us[1].ID, Epoch: us[1].Epoch, Error: "too slow",
		Final: store.UnitTimedOut, Result: json.RawMessage(`{"by":"bot1"}`)}, at(time.Second))
	must(t, err)
	if u.Status != store.UnitTimedOut || u.Error != "too slow" || u.WorkerID != 0 || string(u.Result) != `{"by":"bot1"}` {
		t.Fatalf("failed %+v (result %s)", u, u.Result)
	}
	timeEq(t, "finished", u.FinishedAt, ptr(at(time.Second)))
	_, err = s.FailUnit(ctx, store.UnitFailure{UnitID: 9999, Epoch: 1}, t0)
	mustIs(t, err, store.ErrStale)
}

func testProgressAndOutputs(t *testing.T, s store.Store) {
	ctx := context.Background()
	job(t, s, store.Job{}, mkUnits(1, "c"))
	u := lease(t, s, store.LeaseRequest{WorkerID: 1, Capabilities: []string{"c"}})[0]
	must(t, s.ReportProgress(ctx, store.ReportRef{UnitID: u.ID, Epoch: u.Epoch, WorkerID: 1}, 25, "line1\n", at(5*time.Minute), at(time.Second)))
	must(t, s.ReportProgress(ctx, store.ReportRef{UnitID: u.ID, Epoch: u.Epoch, WorkerID: 0}, 50.5, "line2\n", time.Time{}, at(2*time.Second)))
	mustIs(t, s.ReportProgress(ctx, store.ReportRef{UnitID: u.ID, Epoch: u.Epoch - 1, WorkerID: 1}, 60, "old\n", at(time.Hour), t0), store.ErrStale)
	mustIs(t, s.ReportProgress(ctx, store.ReportRef{UnitID: u.ID, Epoch: u.Epoch, WorkerID: 2}, 70, "not mine\n", at(time.Hour), t0), store.ErrStale)
	got, err := s.GetUnit(ctx, u.ID)
	must(t, err)
	eq(t, "progress", got.Progress, 50.5)
	eq(t, "log", got.Log, "line1\nline2\n")
	timeEq(t, "lease extended", got.LeaseExpires, ptr(at(5*time.Minute)))

	must(t, s.SetUnitOutputs(ctx, store.ReportRef{UnitID: u.ID, Epoch: u.Epoch, WorkerID: 1}, json.RawMessage(`{"x":{"size":1}}`), t0))
	must(t, s.SetUnitOutputs(ctx, store.ReportRef{UnitID: u.ID, Epoch: u.Epoch, WorkerID: 0}, json.RawMessage(`{"y":{"size":2}}`), t0))
	mustIs(t, s.SetUnitOutputs(ctx, store.ReportRef{UnitID: u.ID, Epoch: u.Epoch + 1, WorkerID: 1}, json.RawMessage(`{"z":{}}`), t0), store.ErrStale)
	mustIs(t, s.SetUnitOutputs(ctx, store.ReportRef{UnitID: u.ID, Epoch: u.Epoch, WorkerID: 2}, json.RawMessage(`{"z":{}}`), t0), store.ErrStale)
	got, err = s.GetUnit(ctx, u.ID)
	must(t, err)
	jsonEq(t, "outputs", got.Outputs, `{"x":{"size":1},"y":{"size":2}}`)
	complete(t, s, u)
	// Outputs may still land from the holder that completed it; progress may not.
	must(t, s.SetUnitOutputs(ctx, store.ReportRef{UnitID: u.ID, Epoch: u.Epoch, WorkerID: 1}, json.RawMessage(`{"late":{"size":3}}`), t0))
	mustIs(t, s.ReportProgress(ctx, store.ReportRef{UnitID: u.ID, Epoch: u.Epoch, WorkerID: 1}, 10, "", time.Time{}, t0), store.ErrStale)
}

func testExtendAndRelease(t *testing.T, s store.Store) {
	ctx := context.Background()
	job(t, s, store.Job{}, mkUnits(4, "c"))
	mine := lease(t, s, store.LeaseRequest{WorkerID: 1, Capabilities: []string{"c"}, Max: 3})
	theirs := lease(t, s, store.LeaseRequest{WorkerID: 2, Capabilities: []string{"c"}, Max: 1})
	list := make([]store.HeldUnit, len(mine))
	for i, u := range mine {
		list[i] = store.HeldUnit{UnitID: u.ID, Epoch: u.Epoch}
	}
	held, back, err := s.SyncLeases(ctx, store.LeaseSync{WorkerID: 1, Held: list, Until: at(time.Hour),
		AnyCapability: true, Now: at(time.Second)})
	must(t, err)
	eq(t, "taken back", len(back), 0)
	slices.SortFunc(held, func(a, b store.HeldUnit) int { return int(a.UnitID - b.UnitID) })
	eq(t, "held", len(held), 3)
	for i, h := range held {
		if h.UnitID != mine[i].ID || h.Epoch != mine[i].Epoch || h.JobID != mine[i].JobID {
			t.Fatalf("held %+v, leased %+v", h, mine[i])
		}
		u, err := s.GetUnit(ctx, h.UnitID)
		must(t, err)
		timeEq(t, "extended", u.LeaseExpires, ptr(at(time.Hour)))
	}
	u, err := s.GetUnit(ctx, theirs[0].ID)
	must(t, err)
	timeEq(t, "other worker's lease", u.LeaseExpires, ptr(at(time.Minute)))

	held[2].Epoch-- // stale: skipped
	toRelease := append(held, store.HeldUnit{UnitID: theirs[0].ID, JobID: theirs[0].JobID, Epoch: theirs[0].Epoch})
	n, err := s.ReleaseUnits(ctx, 1, toRelease, at(time.Second))
	must(t, err)
	eq(t, "released", n, 2) // not the stale one, not worker 2's
	for i, want := range []store.UnitStatus{store.UnitQueued, store.UnitQueued, store.UnitRunning} {
		u, err := s.GetUnit(ctx, mine[i].ID)
		must(t, err)
		eq(t, "status", u.Status, want)
		if want == store.UnitQueued && (u.Attempts != 0 || u.Epoch != mine[i].Epoch+1 || u.WorkerID != 0 || u.LeaseExpires != nil) {
			t.Fatalf("released %+v", u)
		}
	}
	// The old holder's reports are refused after the release.
	errs, _, err := s.CompleteUnits(ctx, []store.Completion{{UnitID: mine[0].ID, Epoch: mine[0].Epoch}}, t0)
	must(t, err)
	eq(t, "complete after release", errs[0], store.ErrStale)
	n, err = s.ReleaseUnits(ctx, 1, nil, t0)
	must(t, err)
	eq(t, "nothing given", n, 0)
}

func testExpireLeases(t *testing.T, s store.Store) {
	ctx := context.Background()
	j := job(t, s, store.Job{MaxAttempts: 2}, mkUnits(3, "c"))
	short := lease(t, s, store.LeaseRequest{WorkerID: 1, Capabilities: []string{"c"}, Max: 2, LeaseFor: time.Minute})
	long := lease(t, s, store.LeaseRequest{WorkerID: 2, Capabilities: []string{"c"}, Max: 1, LeaseFor: time.Hour})
	none, err := s.ExpireLeases(ctx, at(time.Minute), at(2*time.Minute), 10)
	must(t, err)
	eq(t, "expired at the deadline", len(none), 0)

	exp, err := s.ExpireLeases(ctx, at(2*time.Minute), at(3*time.Minute), 1)
	must(t, err)
	eq(t, "limited", len(exp), 1)
	exp2, err := s.ExpireLeases(ctx, at(2*time.Minute), at(3*time.Minute), 0)
	must(t, err)
	eq(t, "rest", len(exp2), 1)
	exp = append(exp, exp2...)
	slices.SortFunc(exp, func(a, b store.Unit) int { return int(a.ID - b.ID) })
	for i, u := range exp {
		// Returned as they were: still running, with their worker.
		if u.ID != short[i].ID || u.Status != store.UnitRunning || u.WorkerID != 1 || u.Epoch != short[i].Epoch {
			t.Fatalf("expired %+v", u)
		}
		now, err := s.GetUnit(ctx, u.ID)
		must(t, err)
		if now.Status != store.UnitQueued || now.WorkerID != 0 || now.AvoidWorker != 1 || now.Epoch != u.Epoch+1 ||
			now.LeaseExpires != nil {
			t.Fatalf("after expiry %+v", now)
		}
		timeEq(t, "avoid until", now.AvoidUntil, ptr(at(3*time.Minute)))
	}
	// The second lease is the last attempt; when it expires the unit fails.
	again := lease(t, s, store.LeaseRequest{WorkerID: 3, Capabilities: []string{"c"}, Max: 1, Now: at(3 * time.Minute)})
	eq(t, "attempt", again[0].Attempts, 2)
	exp, err = s.ExpireLeases(ctx, at(time.Hour), at(time.Hour), 10)
	must(t, err)
	eq(t, "expired", len(exp), 1)
	now, err := s.GetUnit(ctx, again[0].ID)
	must(t, err)
	eq(t, "out of attempts", now.Status, store.UnitFailed)
	if now.FinishedAt == nil {
		t.Fatal("failed without finish time")
	}
	u, err := s.GetUnit(ctx, long[0].ID)
	must(t, err)
	eq(t, "long lease", u.Status, store.UnitRunning)
	_ = j
}

func testUnitsPastTimeout(t *testing.T, s store.Store) {
	ctx := context.Background()
	job(t, s, store.Job{UnitTimeout: time.Minute}, mkUnits(2, "t"))
	job(t, s, store.Job{}, mkUnits(1, "u"))
	a := lease(t, s, store.LeaseRequest{WorkerID: 1, Capabilities: []string{"t"}, Max: 1, Now: t0})
	lease(t, s, store.LeaseRequest{WorkerID: 1, Capabilities: []string{"t"}, Max: 1, Now: at(time.Minute)})
	lease(t, s, store.LeaseRequest{WorkerID: 1, Capabilities: []string{"u"}, Now: t0})
	got, err := s.UnitsPastTimeout(ctx, at(90*time.Second), 10)
	must(t, err)
	if len(got) != 1 || got[0].ID != a[0].ID {
		t.Fatalf("past timeout %v", ids(got))
	}
	got, err = s.UnitsPastTimeout(ctx, at(time.Hour), 1)
	must(t, err)
	eq(t, "limit", len(got), 1)
	got, err = s.UnitsPastTimeout(ctx, at(time.Hour), 0)
	must(t, err)
	eq(t, "no limit", len(got), 2)
}

func testTransitionUnits(t *testing.T, s store.Store) {
	ctx := context.Background()
	j := job(t, s, store.Job{}, mkUnits(4, "c"))
	us := lease(t, s, store.LeaseRequest{WorkerID: 3, Capabilities: []string{"c"}, Max: 2})
	complete(t, s, us[0]) // unit 0 done, 1 running, 2 and 3 queued
	running := us[1]
	move := func(tr store.UnitTransition, want int) {
		t.Helper()
		tr.JobID = j.ID
		n, err := s.TransitionUnits(ctx, tr, at(time.Minute))
		must(t, err)
		eq(t, "moved", n, want)
	}
	statuses := func() string {
		var out []string
		for _, u := range unitsOf(t, s, j.ID) {
			out = append(out, string(u.Status))
		}
		return names(unitsNamed(out))
	}
	steps := []struct {
		name string
		tr   store.UnitTransition
		n    int
		want string
	}{
		{"pause", store.UnitTransition{From: []store.UnitStatus{store.UnitQueued, store.UnitRunning}, To: store.UnitPaused},
			3, "[done paused paused paused]"},
		{"resume one", store.UnitTransition{UnitIDs: []int64{running.ID}, From: []store.UnitStatus{store.UnitPaused},
			To: store.UnitQueued}, 1, "[done queued paused paused]"},
		{"abort", store.UnitTransition{From: []store.UnitStatus{store.UnitQueued, store.UnitPaused},
			To: store.UnitCancelled, Error: "aborted"}, 3, "[done cancelled cancelled cancelled]"},
		{"restart all", store.UnitTransition{To: store.UnitQueued, ResetAttempts: true}, 4, "[queued queued queued queued]"},
	}
	for i, st := range steps {
		move(st.tr, st.n)
		if got := statuses(); got != st.want {
			t.Fatalf("after %s: %s, want %s", st.name, got, st.want)
		}
		if i == 0 {
			// Leaving running fenced the old lease.
			u, err := s.GetUnit(ctx, running.ID)
			must(t, err)
			if u.Epoch != running.Epoch+1 || u.WorkerID != 0 || u.LeaseExpires != nil {
				t.Fatalf("paused running unit %+v", u)
			}
			mustIs(t, s.ReportProgress(ctx, store.ReportRef{UnitID: running.ID, Epoch: running.Epoch, WorkerID: 0}, 1, "", time.Time{}, t0), store.ErrStale)
		}
		if i == 2 {
			u, err := s.GetUnit(ctx, running.ID)
			must(t, err)
			eq(t, "error", u.Error, "aborted")
			timeEq(t, "finished", u.FinishedAt, ptr(at(time.Minute)))
		}
	}
	for _, u := range unitsOf(t, s, j.ID) {
		if u.Attempts != 0 || u.FinishedAt != nil || u.Error != "" || u.Progress != 0 || !u.RunAfter.Equal(at(time.Minute)) {
			t.Fatalf("restarted %+v", u)
		}
	}
	// Restart with a recorded reason keeps it.
	move(store.UnitTransition{From: []store.UnitStatus{store.UnitQueued}, To: store.UnitQueued, Error: "requeued by admin"}, 4)
	eq(t, "error kept", unitsOf(t, s, j.ID)[0].Error, "requeued by admin")
}

func testDeleteUnits(t *testing.T, s store.Store) {
	ctx := context.Background()
	j := job(t, s, store.Job{}, mkUnits(4, "c"))
	other := job(t, s, store.Job{}, mkUnits(1, "c"))
	us := unitsOf(t, s, j.ID)
	n, err := s.DeleteUnits(ctx, j.ID, []int64{us[0].ID, us[1].ID, unitsOf(t, s, other.ID)[0].ID})
	must(t, err)
	eq(t, "deleted", n, 2)
	n, err = s.DeleteUnits(ctx, j.ID, nil)
	must(t, err)
	eq(t, "cleared", n, 2)
	eq(t, "other job", len(unitsOf(t, s, other.ID)), 1)
}

func testBlocklist(t *testing.T, s store.Store) {
	ctx := context.Background()
	j := job(t, s, store.Job{}, mkUnits(1, "c"))
	steps := []struct {
		worker    int64
		threshold int
		blocked   bool
	}{{1, 3, false}, {1, 3, false}, {2, 0, false}, {2, 0, false}, {1, 3, true}, {1, 3, true}, {3, 1, true}}
	for i, st := range steps {
		blocked, err := s.RecordWorkerFailure(ctx, j.ID, st.worker, st.threshold, at(time.Duration(i)*time.Second))
		must(t, err)
		if blocked != st.blocked {
			t.Fatalf("step %d: blocked = %v", i, blocked)
		}
	}
	bl, err := s.Blocklist(ctx, j.ID)
	must(t, err)
	eq(t, "entries", len(bl), 3)
	if bl[0].WorkerID != 1 || bl[0].Failures != 4 || !bl[0].Blocked || !bl[0].LastFailure.Equal(at(5*time.Second)) ||
		bl[1].WorkerID != 2 || bl[1].Failures != 2 || bl[1].Blocked || bl[2].WorkerID != 3 || !bl[2].Blocked {
		t.Fatalf("blocklist %+v", bl)
	}
	eq(t, "blocked worker leases", len(lease(t, s, store.LeaseRequest{WorkerID: 1, Capabilities: []string{"c"}})), 0)
	must(t, s.ClearBlocklist(ctx, j.ID, 1))
	bl, err = s.Blocklist(ctx, j.ID)
	must(t, err)
	eq(t, "after clearing one", len(bl), 2)
	u := lease(t, s, store.LeaseRequest{WorkerID: 1, Capabilities: []string{"c"}})
	eq(t, "unblocked worker leases", len(u), 1)
	must(t, s.ClearBlocklist(ctx, j.ID, 0))
	bl, err = s.Blocklist(ctx, j.ID)
	must(t, err)
	eq(t, "after clearing all", len(bl), 0)
}

func testQueueDepth(t *testing.T, s store.Store) {
	ctx := context.Background()
	job(t, s, store.Job{}, append(mkUnits(3, "a"), store.Unit{Capability: "b"},
		store.Unit{Capability: "b", RunAfter: at(time.Hour)}))
	d := job(t, s, store.Job{}, mkUnits(2, "a"))
	_, err := s.PatchJob(ctx, d.ID, store.JobPatch{Deleted: ptr(true)}, t0)
	must(t, err)
	lease(t, s, store.LeaseRequest{WorkerID: 1, Capabilities: []string{"a"}, Max: 1})
	depth, err := s.QueueDepth(ctx, t0)
	must(t, err)
	if len(depth) != 2 || depth["a"] != 2 || depth["b"] != 1 {
		t.Fatalf("depth %v", depth)
	}
}

// testSyncLeases checks what a heartbeat or a registration does to a worker's leases: listed units are
// extended, unlisted ones of its capabilities leased before the grace are taken back (attempt kept,
// failed when out of attempts, worker not avoided), the rest are left alone.
func testSyncLeases(t *testing.T, s store.Store) {
	ctx := context.Background()
	type unit struct {
		capability string
		leasedAt   time.Duration // after t0
		listed     bool
		staleEpoch bool // listed with an epoch the worker no longer holds
		lastTry    bool // leased on its last attempt
	}
	for _, tc := range []struct {
		name     string
		units    []unit
		grace    time.Time // LeasedBefore
		caps     []string
		any      bool
		wantKept []bool // per unit
		wantBack []store.UnitStatus
	}{
		{name: "listed units are extended, old unlisted ones taken back",
			units: []unit{{capability: "c", listed: true}, {capability: "c"}, {capability: "c", leasedAt: time.Minute}},
			grace: at(30 * time.Second), caps: []string{"c"},
			wantKept: []bool{true, false, false}, wantBack: []store.UnitStatus{"", store.UnitQueued, ""}},
		{name: "a stale epoch is not held",
			units: []unit{{capability: "c", listed: true, staleEpoch: true}}, grace: at(time.Hour), caps: []string{"c"},
			wantKept: []bool{false}, wantBack: []store.UnitStatus{store.UnitQueued}},
		{name: "units of other capabilities keep their lease",
			units: []unit{{capability: "queue"}, {capability: "c"}}, grace: at(time.Hour), caps: []string{"c"},
			wantKept: []bool{false, false}, wantBack: []store.UnitStatus{"", store.UnitQueued}},
		{name: "no grace and any capability: a new incarnation",
			units:    []unit{{capability: "queue"}, {capability: "c", leasedAt: time.Hour}, {capability: "c", listed: true}},
			any:      true,
			wantKept: []bool{false, false, true}, wantBack: []store.UnitStatus{store.UnitQueued, store.UnitQueued, ""}},
		{name: "out of attempts fails",
			units: []unit{{capability: "c", lastTry: true}}, grace: at(time.Hour), caps: []string{"c"},
			wantKept: []bool{false}, wantBack: []store.UnitStatus{store.UnitFailed}},
		{name: "a worker without capabilities takes back nothing",
			units: []unit{{capability: "c"}}, grace: at(time.Hour),
			wantKept: []bool{false}, wantBack: []store.UnitStatus{""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var leased []store.Unit
			var list []store.HeldUnit
			for _, u := range tc.units {
				maxAttempts := 3
				if u.lastTry {
					maxAttempts = 1
				}
				job(t, s, store.Job{MaxAttempts: maxAttempts}, mkUnits(1, u.capability))
				got := lease(t, s, store.LeaseRequest{WorkerID: 7, Capabilities: []string{u.capability}, Max: 1,
					Now: at(u.leasedAt), LeaseFor: 2 * time.Hour})
				eq(t, "leased", len(got), 1)
				leased = append(leased, got[0])
				if u.listed {
					h := store.HeldUnit{UnitID: got[0].ID, Epoch: got[0].Epoch}
					if u.staleEpoch {
						h.Epoch--
					}
					list = append(list, h)
				}
			}
			job(t, s, store.Job{}, mkUnits(1, "c"))
			other := lease(t, s, store.LeaseRequest{WorkerID: 8, Capabilities: []string{"c"}, Max: 1})
			eq(t, "leased by another worker", len(other), 1)
			kept, back, err := s.SyncLeases(ctx, store.LeaseSync{WorkerID: 7, Held: list, Until: at(3 * time.Hour),
				LeasedBefore: tc.grace, Capabilities: tc.caps, AnyCapability: tc.any, Error: "lost", Now: at(2 * time.Hour)})
			must(t, err)
			keptIDs := map[int64]bool{}
			for _, h := range kept {
				keptIDs[h.UnitID] = true
			}
			backIDs := map[int64]store.Unit{}
			for _, u := range back {
				backIDs[u.ID] = u
			}
			eq(t, "kept", len(kept), len(keptIDs))
			for i, l := range leased {
				eq(t, fmt.Sprintf("unit %d kept", i), keptIDs[l.ID], tc.wantKept[i])
				before, wasBack := backIDs[l.ID]
				eq(t, fmt.Sprintf("unit %d taken back", i), wasBack, tc.wantBack[i] != "")
				u, err := s.GetUnit(ctx, l.ID)
				must(t, err)
				switch {
				case tc.wantKept[i]:
					eq(t, "status", u.Status, store.UnitRunning)
					timeEq(t, "extended", u.LeaseExpires, ptr(at(3*time.Hour)))
				case wasBack:
					if before.WorkerID != 7 || before.Epoch != l.Epoch || before.Status != store.UnitRunning {
						t.Fatalf("returned as %+v", before)
					}
					if u.Status != tc.wantBack[i] || u.Epoch != l.Epoch+1 || u.WorkerID != 0 || u.LeaseExpires != nil ||
						u.Attempts != 1 || u.AvoidWorker != 0 || u.Error != "lost" {
						t.Fatalf("taken back as %+v", u)
					}
				default:
					eq(t, "status", u.Status, store.UnitRunning)
					timeEq(t, "lease left alone", u.LeaseExpires, ptr(u.StartedAt.Add(2*time.Hour)))
				}
			}
			u, err := s.GetUnit(ctx, other[0].ID)
			must(t, err)
			if u.Status != store.UnitRunning || u.Epoch != other[0].Epoch || u.WorkerID != 8 {
				t.Fatalf("another worker's unit became %+v", u)
			}
			// End every unit of the case, so that the next starts with a worker holding nothing.
			for _, l := range append(leased, other[0]) {
				_, err := s.TransitionUnits(ctx, store.UnitTransition{JobID: l.JobID,
					From: []store.UnitStatus{store.UnitQueued, store.UnitRunning}, To: store.UnitCancelled}, t0)
				must(t, err)
			}
		})
	}
}
