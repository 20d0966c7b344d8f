package storetest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"taskcenter/internal/store"
)

// testJobSearch checks that a job list's search, served by each driver's search index, finds what a
// case-insensitive substring scan of name, alias and project finds, and follows renames and deletes.
func testJobSearch(t *testing.T, s store.Store) {
	ctx := context.Background()
	words := []string{"Scene", "shot", "LIGHT", "rig_a", "rig%b", "Straße", "intro", "x"}
	type row struct {
		id                   int64
		name, alias, project string
		deleted              bool
	}
	var rows []row
	for i := range 40 {
		j := job(t, s, store.Job{
			Name:    fmt.Sprintf("%s-%03d.blend", words[i%len(words)], i),
			Alias:   fmt.Sprintf("A%02d%s", i%7, words[(i+3)%len(words)]),
			Project: words[(i+5)%len(words)],
		}, mkUnits(1, "c"))
		rows = append(rows, row{id: j.ID, name: j.Name, alias: j.Alias, project: j.Project})
	}
	// A rename, a new project, a soft and a hard delete: the index follows each.
	r := &rows[3]
	r.name, r.project = "Renamed Finale", "Epilogue"
	_, err := s.PatchJob(ctx, r.id, store.JobPatch{Name: &r.name, Project: &r.project}, t0)
	must(t, err)
	_, err = s.PatchJob(ctx, rows[5].id, store.JobPatch{Deleted: ptr(true)}, t0)
	must(t, err)
	rows[5].deleted = true
	must(t, s.DeleteJob(ctx, rows[6].id))
	rows = slices.Delete(rows, 6, 7)

	for _, q := range []string{
		"scene", "SCENE-00", "ene-0", "-01", "rig_", "g_a", "g%b", "rig", "straße", "STRASSE", "blend",
		"a03", "a0", "1", "x", "finale", "renamed fin", "fin", "epilog", "rig_a-003", // a renamed job's old name
		"light-002", "nothing", ".blend", "d-0", "scene-000.blendA", // name and alias run together
		"SHOT-001", "A01shot",
	} {
		t.Run(q, func(t *testing.T) {
			var want []int64
			for _, r := range slices.Backward(rows) {
				if r.deleted {
					continue
				}
				for _, v := range []string{r.name, r.alias, r.project} {
					if strings.Contains(strings.ToLower(v), strings.ToLower(q)) {
						want = append(want, r.id)
						break
					}
				}
			}
			for _, limit := range []int{0, 2} {
				jobs, total, err := s.ListJobs(ctx, store.JobFilter{Search: q, Limit: limit})
				must(t, err)
				var got []int64
				for _, j := range jobs {
					got = append(got, j.ID)
				}
				page := want
				if limit > 0 {
					page = want[:min(limit, len(want))]
				}
				if !slices.Equal(got, page) || total != len(want) {
					t.Fatalf("limit %d: got %v total %d, want %v total %d", limit, got, total, page, len(want))
				}
			}
			// A bounded count stops one past its bound: more than 3 matches answer 4.
			jobs, total, err := s.ListJobs(ctx, store.JobFilter{Search: q, Limit: 2, CountUpTo: 3})
			must(t, err)
			if wantTotal := min(len(want), 4); len(jobs) != min(2, len(want)) || total != wantTotal {
				t.Fatalf("count up to 3: %d jobs, total %d; want %d jobs, total %d", len(jobs), total, min(2, len(want)), wantTotal)
			}
		})
	}
}

// testListJobsByKey pages a job list by key both ways and checks the pages join up into the list,
// with the whole list's total on each.
func testListJobsByKey(t *testing.T, s store.Store) {
	ctx := context.Background()
	var all []int64
	for i := range 11 {
		status := store.JobQueued
		if i%3 == 0 {
			status = store.JobPaused
		}
		j := job(t, s, store.Job{Name: fmt.Sprintf("job %d", i), Status: status}, mkUnits(1, "c"))
		if status == store.JobQueued {
			all = append(all, j.ID)
		}
	}
	slices.Reverse(all) // newest first
	f := store.JobFilter{Statuses: []store.JobStatus{store.JobQueued}, Limit: 3}
	list := func(f store.JobFilter) []int64 {
		t.Helper()
		jobs, total, err := s.ListJobs(ctx, f)
		must(t, err)
		eq(t, "total", total, len(all))
		var ids []int64
		for _, j := range jobs {
			ids = append(ids, j.ID)
		}
		return ids
	}
	// Older pages, each after the last job of the one before.
	var pages [][]int64
	for key := int64(0); ; {
		f.BeforeID = key
		p := list(f)
		if len(p) == 0 {
			break
		}
		pages = append(pages, p)
		key = p[len(p)-1]
	}
	if got := slices.Concat(pages...); !slices.Equal(got, all) {
		t.Fatalf("pages by before_id %v, want %v", pages, all)
	}
	// Back to newer pages, each before the first job of the one after.
	f.BeforeID = 0
	for i := len(pages) - 2; i >= 0; i-- {
		f.AfterID = pages[i+1][0]
		if got := list(f); !slices.Equal(got, pages[i]) {
			t.Fatalf("page %d by after_id %d: %v, want %v", i, f.AfterID, got, pages[i])
		}
	}
	for _, tc := range []struct {
		name string
		f    store.JobFilter
		want []int64
	}{
		{"after the newest", store.JobFilter{AfterID: all[0], Limit: 3}, nil},
		{"before the oldest", store.JobFilter{BeforeID: all[len(all)-1], Limit: 3}, nil},
		{"offset from the key", store.JobFilter{BeforeID: all[0], Offset: 2, Limit: 2}, all[3:5]},
		{"between two keys", store.JobFilter{BeforeID: all[0], AfterID: all[4]}, all[1:4]},
		{"no limit", store.JobFilter{BeforeID: all[5]}, all[6:]},
		{"short page after a key", store.JobFilter{AfterID: all[1], Limit: 3}, all[:1]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.f.Statuses = []store.JobStatus{store.JobQueued}
			if got := list(tc.f); !slices.Equal(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}
