package storetest

import (
	"context"
	"encoding/json"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"taskcenter/internal/store"
)

func testCreateJob(t *testing.T, s store.Store) {
	ctx := context.Background()
	deadline := at(time.Hour)
	units := []store.Unit{
		{Index: 0, Name: "f1", Capability: "blender", Spec: json.RawMessage(`{"frame":1}`)},
		{Index: 1, Name: "f2", Capability: "blender", Priority: 9, Tag: "gpu", Deadline: &deadline},
		{Index: 2, Name: "f3", Capability: "maya", RunAfter: at(time.Minute)},
	}
	j, err := s.CreateJob(ctx, store.Job{AccountID: 7, Kind: "render", Name: "Scene", Alias: "R-1", Project: "p",
		Status: store.JobSucceeded, Priority: 3, MaxAttempts: 4, MaxConcurrency: 2, BlocklistAfter: 3,
		UnitTimeout: time.Minute, JobTimeout: time.Hour, Spec: json.RawMessage(`{"scene":"a"}`)}, units, t0)
	must(t, err)
	if j.ID == 0 || j.Status != store.JobQueued || j.Priority != 3 || j.MaxAttempts != 4 || j.MaxConcurrency != 2 ||
		j.BlocklistAfter != 3 || j.UnitTimeout != time.Minute || j.JobTimeout != time.Hour || j.Alias != "R-1" ||
		!j.CreatedAt.Equal(t0) || j.StartedAt != nil || j.FinishedAt != nil || j.Deleted {
		t.Fatalf("created %+v", j)
	}
	jsonEq(t, "spec", j.Spec, `{"scene":"a"}`)
	got, err := s.GetJob(ctx, j.ID)
	must(t, err)
	eq(t, "name", got.Name, "Scene")
	got, err = s.GetJobByAlias(ctx, "R-1")
	must(t, err)
	eq(t, "by alias", got.ID, j.ID)
	_, err = s.GetJob(ctx, 9999)
	mustIs(t, err, store.ErrNotFound)
	_, err = s.GetJobByAlias(ctx, "nope")
	mustIs(t, err, store.ErrNotFound)

	us := unitsOf(t, s, j.ID)
	eq(t, "units", len(us), 3)
	for i, u := range us {
		if u.JobID != j.ID || u.AccountID != 7 || u.Status != store.UnitQueued || u.MaxAttempts != 4 ||
			u.Index != i || u.Epoch != 0 || u.Attempts != 0 || u.WorkerID != 0 || !u.CreatedAt.Equal(t0) {
			t.Fatalf("unit %d: %+v", i, u)
		}
	}
	eq(t, "inherited priority", us[0].Priority, 3)
	eq(t, "own priority", us[1].Priority, 9)
	eq(t, "tag", us[1].Tag, "gpu")
	timeEq(t, "deadline", us[1].Deadline, &deadline)
	eq(t, "default run after", us[0].RunAfter, t0)
	eq(t, "run after", us[2].RunAfter, at(time.Minute))
	jsonEq(t, "unit spec", us[0].Spec, `{"frame":1}`)
	jsonEq(t, "no spec", us[1].Spec, "")

	// A job may be created paused; its units wait paused too.
	p := job(t, s, store.Job{Status: store.JobPaused, PauseReason: "test"}, mkUnits(2, "x"))
	eq(t, "paused job", p.Status, store.JobPaused)
	for _, u := range unitsOf(t, s, p.ID) {
		eq(t, "paused unit", u.Status, store.UnitPaused)
	}
	// A job without units is fine.
	e := job(t, s, store.Job{}, nil)
	eq(t, "empty job", e.Status, store.JobQueued)
}

func testWaitingJobs(t *testing.T, s store.Store) {
	ctx := context.Background()
	first := job(t, s, store.Job{}, mkUnits(1, "c"))
	second := job(t, s, store.Job{WaitFor: first.ID}, mkUnits(2, "c"))
	third := job(t, s, store.Job{WaitFor: first.ID}, mkUnits(1, "c"))
	eq(t, "waiting", second.Status, store.JobWaiting)
	for _, u := range unitsOf(t, s, second.ID) {
		eq(t, "blocked", u.Status, store.UnitBlocked)
	}
	// Units added to a waiting job wait too.
	added, err := s.AddUnits(ctx, second.ID, mkUnits(1, "c"), t0)
	must(t, err)
	eq(t, "added to waiting", added[0].Status, store.UnitBlocked)
	// Blocked units are not leased.
	got := lease(t, s, store.LeaseRequest{WorkerID: 1, Capabilities: []string{"c"}})
	eq(t, "leased only the first job", len(got), 1)
	eq(t, "leased unit's job", got[0].JobID, first.ID)

	released, err := s.ReleaseWaiters(ctx, first.ID, at(time.Second))
	must(t, err)
	if !slices.Equal(released, []int64{second.ID, third.ID}) {
		t.Fatalf("released %v", released)
	}
	j, err := s.GetJob(ctx, second.ID)
	must(t, err)
	eq(t, "released job", j.Status, store.JobQueued)
	for _, u := range unitsOf(t, s, second.ID) {
		eq(t, "released unit", u.Status, store.UnitQueued)
	}
	released, err = s.ReleaseWaiters(ctx, first.ID, at(time.Second))
	must(t, err)
	eq(t, "released twice", len(released), 0)

	// Waiting for a finished job does not wait.
	st := store.JobSucceeded
	_, err = s.PatchJob(ctx, first.ID, store.JobPatch{Status: &st}, t0)
	must(t, err)
	fourth := job(t, s, store.Job{WaitFor: first.ID}, mkUnits(1, "c"))
	eq(t, "not waiting", fourth.Status, store.JobQueued)
	eq(t, "unit", unitsOf(t, s, fourth.ID)[0].Status, store.UnitQueued)
	_, err = s.CreateJob(ctx, store.Job{AccountID: 1, WaitFor: 9999}, nil, t0)
	mustIs(t, err, store.ErrNotFound)
}

func testListJobs(t *testing.T, s store.Store) {
	ctx := context.Background()
	mk := func(j store.Job, created time.Time) store.Job {
		out, err := s.CreateJob(ctx, j, mkUnits(1, "c"), created)
		must(t, err)
		return out
	}
	a := mk(store.Job{AccountID: 1, Kind: "render", Name: "Big_Scene", Alias: "R-0001", Project: "film"}, at(0))
	b := mk(store.Job{AccountID: 1, Kind: "rpa", Name: "invoice bot", Alias: "P-0002", Project: "ops"}, at(time.Hour))
	c := mk(store.Job{AccountID: 2, Kind: "render", Name: "small", Alias: "R-0003", ParentID: a.ID}, at(2*time.Hour))
	d := mk(store.Job{AccountID: 2, Kind: "render", Name: "gone", Alias: "R-0004", Status: store.JobPaused,
		PauseReason: "arrears"}, at(3*time.Hour))
	_, err := s.PatchJob(ctx, b.ID, store.JobPatch{Deleted: ptr(true)}, t0)
	must(t, err)

	cases := []struct {
		name  string
		f     store.JobFilter
		want  []int64
		total int
	}{
		{"all live, newest first", store.JobFilter{}, []int64{d.ID, c.ID, a.ID}, 3},
		{"with deleted", store.JobFilter{WithDeleted: true}, []int64{d.ID, c.ID, b.ID, a.ID}, 4},
		{"accounts", store.JobFilter{AccountIDs: []int64{2}}, []int64{d.ID, c.ID}, 2},
		{"kind", store.JobFilter{Kind: "rpa", WithDeleted: true}, []int64{b.ID}, 1},
		{"top level", store.JobFilter{ParentID: -1}, []int64{d.ID, a.ID}, 2},
		{"children", store.JobFilter{ParentID: a.ID}, []int64{c.ID}, 1},
		{"statuses", store.JobFilter{Statuses: []store.JobStatus{store.JobPaused}}, []int64{d.ID}, 1},
		{"pause reasons", store.JobFilter{PauseReasons: []string{"arrears", "user"}}, []int64{d.ID}, 1},
		{"search name, any case", store.JobFilter{Search: "big_s"}, []int64{a.ID}, 1},
		{"search literal underscore", store.JobFilter{Search: "g_s"}, []int64{a.ID}, 1},
		{"search alias", store.JobFilter{Search: "r-000"}, []int64{d.ID, c.ID, a.ID}, 3},
		{"search project", store.JobFilter{Search: "FIL"}, []int64{a.ID}, 1},
		{"search wildcard is literal", store.JobFilter{Search: "%"}, nil, 0},
		{"project", store.JobFilter{Project: "film"}, []int64{a.ID}, 1},
		{"created range", store.JobFilter{CreatedFrom: ptr(at(time.Hour)), CreatedTo: ptr(at(2 * time.Hour)),
			WithDeleted: true}, []int64{c.ID, b.ID}, 2},
		{"limit", store.JobFilter{Limit: 2}, []int64{d.ID, c.ID}, 3},
		{"offset", store.JobFilter{Limit: 2, Offset: 2}, []int64{a.ID}, 3},
		{"offset without limit", store.JobFilter{Offset: 1}, []int64{c.ID, a.ID}, 3},
		{"page past the end", store.JobFilter{Limit: 2, Offset: 4}, nil, 3},
		{"offset past the end without limit", store.JobFilter{Offset: 5}, nil, 3},
		{"page exactly full", store.JobFilter{Limit: 3}, []int64{d.ID, c.ID, a.ID}, 3},
		{"last page short", store.JobFilter{Limit: 2, Offset: 1}, []int64{c.ID, a.ID}, 3},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			jobs, total, err := s.ListJobs(ctx, tc.f)
			must(t, err)
			var got []int64
			for _, j := range jobs {
				got = append(got, j.ID)
			}
			if !slices.Equal(got, tc.want) || total != tc.total {
				t.Fatalf("got %v total %d, want %v total %d", got, total, tc.want, tc.total)
			}
		})
	}
}

func testListJobTrees(t *testing.T, s store.Store) {
	ctx := context.Background()
	// Two parents with children, one without, one of another account; children of another kind are
	// not read, deleted ones are.
	p1 := job(t, s, store.Job{Kind: "task", Name: "one"}, nil)
	k1 := job(t, s, store.Job{Kind: "frames", ParentID: p1.ID}, mkUnits(3, "t1"))
	k2 := job(t, s, store.Job{Kind: "frames", ParentID: p1.ID, Status: store.JobPaused, PauseReason: "user"}, mkUnits(2, "t1"))
	job(t, s, store.Job{Kind: "other", ParentID: p1.ID}, mkUnits(1, "t1"))
	p2 := job(t, s, store.Job{Kind: "task", Name: "two", Project: "film"}, nil)
	p3 := job(t, s, store.Job{Kind: "task", Name: "three"}, nil)
	k3 := job(t, s, store.Job{Kind: "frames", ParentID: p3.ID}, mkUnits(1, "t3"))
	job(t, s, store.Job{AccountID: 2, Kind: "task"}, nil)
	_, err := s.PatchJob(ctx, k3.ID, store.JobPatch{Deleted: ptr(true)}, t0)
	must(t, err)
	us := lease(t, s, store.LeaseRequest{WorkerID: 1, Capabilities: []string{"t1"}, Max: 2})
	complete(t, s, us[0]) // k1: one done, one running, one queued

	cases := []struct {
		name   string
		f      store.JobFilter
		want   []int64
		total  int
		kids   map[int64][]int64
		counts map[int64]map[store.UnitStatus]int
	}{
		{"first page", store.JobFilter{AccountIDs: []int64{1}, Kind: "task", Limit: 2}, []int64{p3.ID, p2.ID}, 3,
			map[int64][]int64{p3.ID: {k3.ID}}, map[int64]map[store.UnitStatus]int{k3.ID: {store.UnitQueued: 1}}},
		{"second page", store.JobFilter{AccountIDs: []int64{1}, Kind: "task", Limit: 2, Offset: 2}, []int64{p1.ID}, 3,
			map[int64][]int64{p1.ID: {k1.ID, k2.ID}}, map[int64]map[store.UnitStatus]int{
				k1.ID: {store.UnitDone: 1, store.UnitRunning: 1, store.UnitQueued: 1}, k2.ID: {store.UnitPaused: 2}}},
		{"page past the end", store.JobFilter{AccountIDs: []int64{1}, Kind: "task", Limit: 2, Offset: 4}, nil, 3,
			map[int64][]int64{}, map[int64]map[store.UnitStatus]int{}},
		{"filtered", store.JobFilter{AccountIDs: []int64{1}, Kind: "task", Project: "film", Limit: 10}, []int64{p2.ID}, 1,
			map[int64][]int64{}, map[int64]map[store.UnitStatus]int{}},
		{"nothing matches", store.JobFilter{AccountIDs: []int64{3}, Kind: "task", Limit: 10}, nil, 0,
			map[int64][]int64{}, map[int64]map[store.UnitStatus]int{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tr, err := s.ListJobTrees(ctx, tc.f, "frames")
			must(t, err)
			var got []int64
			for _, j := range tr.Jobs {
				got = append(got, j.ID)
			}
			if !slices.Equal(got, tc.want) || tr.Total != tc.total {
				t.Fatalf("got %v total %d, want %v total %d", got, tr.Total, tc.want, tc.total)
			}
			kids := map[int64][]int64{}
			for parent, list := range tr.Children {
				for _, k := range list {
					if k.ParentID != parent || k.Kind != "frames" {
						t.Fatalf("child %+v under %d", k, parent)
					}
					kids[parent] = append(kids[parent], k.ID)
				}
			}
			if !maps.EqualFunc(kids, tc.kids, slices.Equal) {
				t.Fatalf("children %v, want %v", kids, tc.kids)
			}
			if !maps.EqualFunc(tr.UnitCounts, tc.counts, maps.Equal) {
				t.Fatalf("unit counts %v, want %v", tr.UnitCounts, tc.counts)
			}
		})
	}
	// Every page of every size, from either end of the list, is ListJobs' page: of a list whose
	// total is kept, and of one whose total is counted.
	for range 4 {
		job(t, s, store.Job{Kind: "task"}, nil)
	}
	for _, from := range []*time.Time{nil, ptr(at(-time.Hour))} {
		for size := 1; size <= 3; size++ {
			for off := 0; off <= 8; off++ {
				f := store.JobFilter{AccountIDs: []int64{1}, Kind: "task", CreatedFrom: from, Limit: size, Offset: off}
				want, total, err := s.ListJobs(ctx, f)
				must(t, err)
				tr, err := s.ListJobTrees(ctx, f, "frames")
				must(t, err)
				if !slices.EqualFunc(tr.Jobs, want, func(x, y store.Job) bool { return x.ID == y.ID }) || tr.Total != total || total != 7 {
					t.Fatalf("from %v size %d offset %d: trees %v total %d, list %v total %d", from, size, off, tr.Jobs, tr.Total, want, total)
				}
			}
		}
	}
	// Pages past the newest thousand rows read the total first and walk from the nearer end: each is
	// still ListJobs' page, with the children of its parents.
	const deep = 1210
	var deepKids []int64
	must(t, s.InTx(ctx, func(tx store.Store) error {
		for i := range deep {
			p, err := tx.CreateJob(ctx, store.Job{AccountID: 5, Kind: "task"}, nil, t0)
			if err != nil {
				return err
			}
			if i%50 == 0 {
				k, err := tx.CreateJob(ctx, store.Job{AccountID: 5, Kind: "frames", ParentID: p.ID}, mkUnits(2, "t5"), t0)
				if err != nil {
					return err
				}
				deepKids = append(deepKids, k.ID)
			}
		}
		return nil
	}))
	for _, size := range []int{1, 7, 10} {
		for _, off := range []int{995, 999, 1000, 1001, 1100, 1199, 1203, 1209, 1210, 1300} {
			f := store.JobFilter{AccountIDs: []int64{5}, Kind: "task", Limit: size, Offset: off}
			want, total, err := s.ListJobs(ctx, f)
			must(t, err)
			tr, err := s.ListJobTrees(ctx, f, "frames")
			must(t, err)
			if !slices.EqualFunc(tr.Jobs, want, func(x, y store.Job) bool { return x.ID == y.ID }) || tr.Total != total || total != deep {
				t.Fatalf("size %d offset %d: trees %d jobs total %d, list %d jobs total %d", size, off, len(tr.Jobs), tr.Total, len(want), total)
			}
			for _, p := range tr.Jobs {
				for _, k := range tr.Children[p.ID] {
					if !slices.Contains(deepKids, k.ID) || !maps.Equal(tr.UnitCounts[k.ID], map[store.UnitStatus]int{store.UnitQueued: 2}) {
						t.Fatalf("offset %d: child %d of %d with units %v", off, k.ID, p.ID, tr.UnitCounts[k.ID])
					}
				}
			}
		}
	}
	// The children of a whole deep page: every 50th parent (from the oldest) has one.
	tr, err := s.ListJobTrees(ctx, store.JobFilter{AccountIDs: []int64{5}, Kind: "task", Limit: 200, Offset: 1010}, "frames")
	must(t, err)
	var kids int
	for _, list := range tr.Children {
		kids += len(list)
	}
	eq(t, "children of the oldest 200", kids, 4)

	// Rows are read whole: a parent's fields and a child's.
	tr, err = s.ListJobTrees(ctx, store.JobFilter{AccountIDs: []int64{1}, Kind: "task", Limit: 1, Offset: 6}, "frames")
	must(t, err)
	eq(t, "parent name", tr.Jobs[0].Name, "one")
	eq(t, "child pause reason", tr.Children[p1.ID][1].PauseReason, "user")
}

// testJobTallies checks the kept count of an account's live top-level jobs, which a plain list's total
// comes from, against a count of the rows through every change that moves it.
func testJobTallies(t *testing.T, s store.Store) {
	ctx := context.Background()
	checkKept := func(step string) {
		t.Helper()
		for _, accts := range [][]int64{{1}, {2}, {1, 2}} {
			for _, kind := range []string{"task", "other"} {
				// A page of one: an unlimited list would be its own count, and a tree page always
				// reads the total.
				plain := store.JobFilter{AccountIDs: accts, Kind: kind, ParentID: -1, Limit: 1}
				tr, err := s.ListJobTrees(ctx, plain, "")
				must(t, err)
				_, listed, err := s.ListJobs(ctx, plain)
				must(t, err)
				counted := plain
				counted.Limit = 0
				counted.CreatedFrom = ptr(at(-time.Hour)) // a filter the kept count does not serve
				_, n, err := s.ListJobs(ctx, counted)
				must(t, err)
				if kept := tr.Total; kept != n || listed != n {
					t.Fatalf("%s: accounts %v kind %s: tree total %d, list total %d, counted %d", step, accts, kind, kept, listed, n)
				}
			}
		}
	}
	// Each step is checked with the changes still in the tally's journal (where the driver keeps
	// one), then again once the sweep has folded them.
	check := func(step string) {
		t.Helper()
		checkKept(step)
		must(t, s.FoldJobTallies(ctx))
		checkKept(step + ", folded")
	}
	a := job(t, s, store.Job{Kind: "task"}, nil)
	b := job(t, s, store.Job{Kind: "task"}, nil)
	job(t, s, store.Job{Kind: "task", ParentID: a.ID}, nil) // a child is not counted
	job(t, s, store.Job{Kind: "other"}, nil)
	c := job(t, s, store.Job{AccountID: 2, Kind: "task"}, nil)
	check("created")
	_, total, err := s.ListJobs(ctx, store.JobFilter{AccountIDs: []int64{1, 2}, Kind: "task", ParentID: -1})
	must(t, err)
	eq(t, "two accounts' tasks", total, 3)
	_, err = s.PatchJob(ctx, a.ID, store.JobPatch{Deleted: ptr(true)}, t0)
	must(t, err)
	check("soft-deleted")
	_, err = s.PatchJob(ctx, a.ID, store.JobPatch{Deleted: ptr(true), Name: ptr("again")}, t0)
	must(t, err)
	check("deleted twice")
	_, err = s.PatchJob(ctx, a.ID, store.JobPatch{Deleted: ptr(false)}, t0)
	must(t, err)
	check("restored")
	must(t, s.DeleteJob(ctx, b.ID))
	must(t, s.DeleteJob(ctx, c.ID))
	check("removed")
	_, err = s.PatchJob(ctx, a.ID, store.JobPatch{Deleted: ptr(true)}, t0)
	must(t, err)
	must(t, s.DeleteJob(ctx, a.ID))
	check("removed after a soft delete")
}

// testJobTalliesConcurrent creates and soft-deletes jobs of two accounts from several goroutines,
// each creating for both accounts in its own order, while two folds run over and over (a leadership
// hand-over): nothing waits forever, nothing is lost or counted twice.
func testJobTalliesConcurrent(t *testing.T, s store.Store) {
	ctx := context.Background()
	const writers, perWriter = 4, 15
	var wg sync.WaitGroup
	errs := make(chan error, writers+2)
	stop := make(chan struct{})
	for range 2 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if err := s.FoldJobTallies(ctx); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	var creators sync.WaitGroup
	for w := range writers {
		creators.Go(func() {
			for i := range perWriter {
				// One transaction creating for both accounts, in an order that differs between writers.
				err := s.InTx(ctx, func(tx store.Store) error {
					for k := range 2 {
						acct := int64(1 + (w+k)%2)
						j, err := tx.CreateJob(ctx, store.Job{AccountID: acct, Kind: "task"}, nil, t0)
						if err != nil {
							return err
						}
						if i%3 == 0 {
							if _, err := tx.PatchJob(ctx, j.ID, store.JobPatch{Deleted: ptr(true)}, t0); err != nil {
								return err
							}
						}
					}
					return nil
				})
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	creators.Wait()
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	live := writers * (perWriter - (perWriter+2)/3) // every third of each writer's pairs is deleted
	for _, acct := range []int64{1, 2} {
		tr, err := s.ListJobTrees(ctx, store.JobFilter{AccountIDs: []int64{acct}, Kind: "task", ParentID: -1, Limit: 1}, "")
		must(t, err)
		eq(t, "live tasks of the account", tr.Total, live)
	}
	must(t, s.FoldJobTallies(ctx))
	tr, err := s.ListJobTrees(ctx, store.JobFilter{AccountIDs: []int64{1, 2}, Kind: "task", ParentID: -1, Limit: 1}, "")
	must(t, err)
	eq(t, "live tasks of both accounts, folded", tr.Total, 2*live)
}

func testPatchJob(t *testing.T, s store.Store) {
	ctx := context.Background()
	j := job(t, s, store.Job{Priority: 1, MaxAttempts: 2}, mkUnits(4, "c"))
	leased := lease(t, s, store.LeaseRequest{WorkerID: 1, Capabilities: []string{"c"}, Max: 1})
	complete(t, s, lease(t, s, store.LeaseRequest{WorkerID: 1, Capabilities: []string{"c"}, Max: 1})...)
	_, err := s.TransitionUnits(ctx, store.UnitTransition{JobID: j.ID, UnitIDs: []int64{unitsOf(t, s, j.ID)[3].ID},
		From: []store.UnitStatus{store.UnitQueued}, To: store.UnitPaused}, t0)
	must(t, err)

	started, finished := at(time.Minute), at(time.Hour)
	p, err := s.PatchJob(ctx, j.ID, store.JobPatch{
		Status: ptr(store.JobPaused), PauseReason: ptr("user"), Priority: ptr(8), MaxConcurrency: ptr(3),
		MaxAttempts: ptr(5), UnitTimeout: ptr(time.Second), JobTimeout: ptr(time.Minute), Name: ptr("renamed"),
		Project: ptr("proj"), Spec: json.RawMessage(`{"s":1}`), Result: json.RawMessage(`{"r":2}`),
		AddCostMilli: 15, StartedAt: &started, FinishedAt: &finished,
	}, at(time.Second))
	must(t, err)
	if p.Status != store.JobPaused || p.PauseReason != "user" || p.Priority != 8 || p.MaxConcurrency != 3 ||
		p.MaxAttempts != 5 || p.UnitTimeout != time.Second || p.JobTimeout != time.Minute || p.Name != "renamed" ||
		p.Project != "proj" || p.CostMilli != 15 || !p.UpdatedAt.Equal(at(time.Second)) {
		t.Fatalf("patched %+v", p)
	}
	jsonEq(t, "spec", p.Spec, `{"s":1}`)
	jsonEq(t, "result", p.Result, `{"r":2}`)
	timeEq(t, "started", p.StartedAt, &started)
	timeEq(t, "finished", p.FinishedAt, &finished)
	p, err = s.PatchJob(ctx, j.ID, store.JobPatch{AddCostMilli: 5, ClearFinished: true}, t0)
	must(t, err)
	eq(t, "cost adds up", p.CostMilli, int64(20))
	timeEq(t, "finished cleared", p.FinishedAt, nil)
	eq(t, "untouched name", p.Name, "renamed")

	// Priority reaches the units not yet leased or finished.
	for _, u := range unitsOf(t, s, j.ID) {
		want := 8
		if u.Status == store.UnitRunning || u.Status == store.UnitDone {
			want = 1
		}
		eq(t, "priority of "+string(u.Status)+" unit", u.Priority, want)
		eq(t, "max attempts", u.MaxAttempts, 5)
	}
	_ = leased

	// The status guard.
	_, err = s.PatchJob(ctx, j.ID, store.JobPatch{Status: ptr(store.JobQueued),
		IfStatus: []store.JobStatus{store.JobRunning, store.JobQueued}}, t0)
	mustIs(t, err, store.ErrStale)
	p, err = s.PatchJob(ctx, j.ID, store.JobPatch{Status: ptr(store.JobQueued),
		IfStatus: []store.JobStatus{store.JobPaused}}, t0)
	must(t, err)
	eq(t, "guarded patch", p.Status, store.JobQueued)
	_, err = s.PatchJob(ctx, 9999, store.JobPatch{Name: ptr("x")}, t0)
	mustIs(t, err, store.ErrNotFound)
	_, err = s.PatchJob(ctx, 9999, store.JobPatch{Name: ptr("x"), IfStatus: []store.JobStatus{store.JobQueued}}, t0)
	mustIs(t, err, store.ErrNotFound)
	_, err = s.PatchJob(ctx, 9999, store.JobPatch{Priority: ptr(1)}, t0)
	mustIs(t, err, store.ErrNotFound)

	// Deleted jobs' units are not leased.
	d := job(t, s, store.Job{}, mkUnits(1, "del"))
	_, err = s.PatchJob(ctx, d.ID, store.JobPatch{Deleted: ptr(true)}, t0)
	must(t, err)
	eq(t, "leased from deleted job", len(lease(t, s, store.LeaseRequest{WorkerID: 1, Capabilities: []string{"del"}})), 0)
	_, err = s.PatchJob(ctx, d.ID, store.JobPatch{Deleted: ptr(false)}, t0)
	must(t, err)
	eq(t, "leased from undeleted job", len(lease(t, s, store.LeaseRequest{WorkerID: 1, Capabilities: []string{"del"}})), 1)
}

func testDeleteJob(t *testing.T, s store.Store) {
	ctx := context.Background()
	j := job(t, s, store.Job{}, mkUnits(3, "c"))
	keep := job(t, s, store.Job{}, mkUnits(1, "c"))
	_, err := s.RecordWorkerFailure(ctx, j.ID, 1, 1, t0)
	must(t, err)
	must(t, s.DeleteJob(ctx, j.ID))
	_, err = s.GetJob(ctx, j.ID)
	mustIs(t, err, store.ErrNotFound)
	us, total, err := s.ListUnits(ctx, store.UnitFilter{JobID: j.ID})
	must(t, err)
	if len(us) != 0 || total != 0 {
		t.Fatalf("units left: %d", total)
	}
	bl, err := s.Blocklist(ctx, j.ID)
	must(t, err)
	eq(t, "blocklist left", len(bl), 0)
	eq(t, "other job's units", len(unitsOf(t, s, keep.ID)), 1)
	mustIs(t, s.DeleteJob(ctx, j.ID), store.ErrNotFound)
}

func testJobSweeps(t *testing.T, s store.Store) {
	ctx := context.Background()
	done := job(t, s, store.Job{JobTimeout: time.Hour}, mkUnits(2, "sweep"))
	open := job(t, s, store.Job{JobTimeout: 2 * time.Hour}, mkUnits(2, "sweep"))
	empty := job(t, s, store.Job{}, nil)
	paused := job(t, s, store.Job{Status: store.JobPaused}, mkUnits(1, "other"))
	complete(t, s, lease(t, s, store.LeaseRequest{WorkerID: 1, Capabilities: []string{"sweep"}, Max: 3})...)

	counts, err := s.UnitCounts(ctx, []int64{done.ID, open.ID, empty.ID, paused.ID})
	must(t, err)
	eq(t, "done's done", counts[done.ID][store.UnitDone], 2)
	eq(t, "open's done", counts[open.ID][store.UnitDone], 1)
	eq(t, "open's queued", counts[open.ID][store.UnitQueued], 1)
	eq(t, "paused's paused", counts[paused.ID][store.UnitPaused], 1)
	if c, ok := counts[empty.ID]; !ok || len(c) != 0 {
		t.Fatalf("empty job counts %v", c)
	}
	counts, err = s.UnitCounts(ctx, nil)
	must(t, err)
	eq(t, "no jobs", len(counts), 0)

	for _, tc := range []struct {
		id   int64
		want bool
	}{{done.ID, false}, {open.ID, true}, {empty.ID, false}, {paused.ID, true}} {
		got, err := s.HasUnfinishedUnits(ctx, tc.id)
		must(t, err)
		eq(t, "unfinished", got, tc.want)
	}

	// Only the job whose units all finished needs finalizing (not the empty, not the paused one).
	fin, err := s.JobsToFinalize(ctx, 10)
	must(t, err)
	if !slices.Equal(fin, []int64{done.ID}) {
		t.Fatalf("to finalize %v", fin)
	}

	// Leasing started both jobs at t0.
	for _, tc := range []struct {
		now  time.Time
		want []int64
	}{
		{at(time.Hour), nil},
		{at(time.Hour + time.Millisecond), []int64{done.ID}},
		{at(3 * time.Hour), []int64{done.ID, open.ID}},
	} {
		jobs, err := s.JobsPastTimeout(ctx, tc.now, 10)
		must(t, err)
		var got []int64
		for _, j := range jobs {
			got = append(got, j.ID)
		}
		if !slices.Equal(got, tc.want) {
			t.Fatalf("past timeout at %v: %v, want %v", tc.now, got, tc.want)
		}
	}
	jobs, err := s.JobsPastTimeout(ctx, at(3*time.Hour), 1)
	must(t, err)
	eq(t, "limited", len(jobs), 1)
	// A finished job is not timed out.
	_, err = s.PatchJob(ctx, done.ID, store.JobPatch{Status: ptr(store.JobSucceeded)}, t0)
	must(t, err)
	jobs, err = s.JobsPastTimeout(ctx, at(3*time.Hour), 10)
	must(t, err)
	eq(t, "after finishing", len(jobs), 1)
}
