package storetest

import (
	"context"
	"slices"
	"testing"
	"time"

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

// BlobRefSeed returns what a database holds before its driver's blob reference migration, in SQL either
// schema takes: account 1 has a render transfer file, an RPA file, an RPA package version and a
// stitched frame; account 2 a unit with two outputs, one not an object; account 3 a unit without
// outputs.
func BlobRefSeed() string {
	return `INSERT INTO records (account_id, kind, key, parent_id, data, created_at, updated_at) VALUES
	(1, 'render.file', '/D/scene.blend', 0, '{"hash":"` + hashOf("scene") + `","size":3}', 0, 0),
	(1, 'rpa.file', 'a.txt', 0, '{"fileName":"a.txt","hash":"` + hashOf("rpafile") + `"}', 0, 0),
	(1, 'rpa.version', 'p|1.0', 0, '{"hash":"` + hashOf("package") + `"}', 0, 0),
	(1, 'render.frame', '7/1', 0, '{"image":"` + hashOf("stitched") + `","thumb":"` + hashOf("thumb") + `"}', 0, 0),
	(1, 'render.label', 'x', 0, '{"hash":"` + hashOf("label") + `"}', 0, 0);
INSERT INTO units (id, job_id, account_id, status, run_after, created_at, updated_at, outputs) VALUES
	(1, 1, 2, 'done', 0, 0, 0, '{"image":{"hash":"` + hashOf("image") + `","size":5},"odd":"x"}'),
	(2, 1, 3, 'done', 0, 0, 0, NULL)`
}

// CheckSeededBlobRefs checks the read rights s reports after migrating a database that held BlobRefSeed.
func CheckSeededBlobRefs(t *testing.T, s store.Store) {
	t.Helper()
	for _, tc := range []struct {
		acct int64
		tag  string
		want bool
	}{
		{1, "scene", true}, {1, "rpafile", true}, {1, "package", true}, {1, "stitched", true}, {1, "thumb", true},
		{1, "label", false}, {2, "image", true}, {1, "image", false}, {2, "scene", false}, {3, "image", false},
	} {
		got, err := s.HasBlobRef(context.Background(), tc.acct, hashOf(tc.tag))
		if err != nil {
			t.Fatal(err)
		}
		if got != tc.want {
			t.Errorf("account %d, %s: %v, want %v", tc.acct, tc.tag, got, tc.want)
		}
	}
}

// RecordIndexSeed returns RPA records as they were before the records table had scope and name
// columns, in SQL either schema takes.
func RecordIndexSeed() string {
	return `INSERT INTO records (account_id, kind, key, parent_id, data, created_at, updated_at) VALUES
	(1, 'rpa.user', 'Ann', 0, '{"userName":"Ann","orgCode":"-010-025-"}', 0, 0),
	(1, 'rpa.queue', 'Inbox', 0, '{"queueName":"Inbox","orgCode":"-010-"}', 0, 0),
	(1, 'rpa.role', 'Dev', 0, '{"roleName":"Dev"}', 0, 0),
	(1, 'rpa.org', '-010-', 0, '{"orgCode":"-010-","curName":"HQ"}', 0, 0),
	(1, 'rpa.file', 'a.txt', 0, '{"fileName":"a.txt","orgCode":"-010-","userId":3}', 0, 0),
	(1, 'rpa.version', 'p|1.0', 0, '{"procName":"P","orgCode":"-020-"}', 0, 0),
	(1, 'rpa.process', 'p', 0, '{"procName":"Pay","orgCode":"-020-"}', 0, 0),
	(1, 'rpa.schedule', '9', 0, '{"schName":"Nightly","orgCode":"-010-"}', 0, 0),
	(1, 'rpa.asset', 'pw|all', 0, '{"assetName":"pw","orgCode":"-030-"}', 0, 0),
	(1, 'rpa.vlog', '', 3, '{"assetName":"pw","orgCode":"-030-","assetId":3}', 0, 0),
	(1, 'render.label', 'x', 0, NULL, 0, 0)`
}

// CheckSeededRecordIndex checks the scope and name the migration derived from RecordIndexSeed's
// documents: those the RPA lists filter by, and nothing for other kinds.
func CheckSeededRecordIndex(t *testing.T, s store.Store) {
	t.Helper()
	rs, _, err := s.ListRecords(context.Background(), store.RecordFilter{ParentID: -1})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][2]string{
		"rpa.user": {"-010-025-", "ann"}, "rpa.queue": {"-010-", "Inbox"}, "rpa.role": {"", "Dev"},
		"rpa.org": {"", ""}, "rpa.file": {"-010-", "a.txt"}, "rpa.version": {"-020-", ""}, "render.label": {"", ""},
		"rpa.process": {"-020-", "Pay"}, "rpa.schedule": {"-010-", "Nightly"}, "rpa.asset": {"-030-", "pw"},
		"rpa.vlog": {"-030-", "pw"},
	}
	if len(rs) != len(want) {
		t.Fatalf("%d records, want %d", len(rs), len(want))
	}
	for _, r := range rs {
		if got := [2]string{r.Scope, r.Name}; got != want[r.Kind] {
			t.Errorf("%s: scope and name %q, want %q", r.Kind, got, want[r.Kind])
		}
	}
}

// JobSearchSeed is the jobs a database holds before its driver's job search migration, in SQL either
// schema takes: three live top-level jobs, a deleted one and a child.
const JobSearchSeed = `INSERT INTO jobs (id, account_id, parent_id, kind, name, alias, project, status, deleted,
	created_at, updated_at) VALUES
	(1, 1, 0, 'render', 'Opening Shot', 'R-1', 'film', 'queued', false, 0, 0),
	(2, 1, 0, 'render', 'closing shot', 'R-2', 'FILM', 'paused', false, 0, 0),
	(3, 1, 0, 'rpa', 'invoices', 'P-3', 'ops', 'queued', false, 0, 0),
	(4, 1, 0, 'render', 'old shot', 'R-4', 'film', 'queued', true, 0, 0),
	(5, 1, 1, 'render', 'frames of shot', 'R-5', 'film', 'queued', false, 0, 0)`

// CheckSeededJobSearch checks what s finds after migrating a database that held JobSearchSeed: the
// jobs already there are searched and paged as new ones are.
func CheckSeededJobSearch(t *testing.T, s store.Store) {
	t.Helper()
	for _, tc := range []struct {
		f     store.JobFilter
		want  []int64
		total int
	}{
		{store.JobFilter{Search: "SHOT", ParentID: -1}, []int64{2, 1}, 2},
		{store.JobFilter{Search: "shot"}, []int64{5, 2, 1}, 3},
		{store.JobFilter{Search: "film", Limit: 1}, []int64{5}, 3},
		{store.JobFilter{Search: "voice"}, []int64{3}, 1},
		{store.JobFilter{Search: "old shot"}, nil, 0},
		{store.JobFilter{Statuses: []store.JobStatus{store.JobQueued}, ParentID: -1, Limit: 1, Offset: 1}, []int64{1}, 2},
		{store.JobFilter{ParentID: -1, BeforeID: 3, Limit: 1}, []int64{2}, 3},
	} {
		jobs, total, err := s.ListJobs(context.Background(), tc.f)
		if err != nil {
			t.Fatal(err)
		}
		var got []int64
		for _, j := range jobs {
			got = append(got, j.ID)
		}
		if !slices.Equal(got, tc.want) || total != tc.total {
			t.Errorf("%+v: got %v total %d, want %v total %d", tc.f, got, total, tc.want, tc.total)
		}
	}
	// A job created after the migration is found too.
	j, err := s.CreateJob(context.Background(), store.Job{AccountID: 1, Kind: "render", Name: "new shot"}, nil, time.Unix(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	if jobs, _, err := s.ListJobs(context.Background(), store.JobFilter{Search: "new sh"}); err != nil || len(jobs) != 1 || jobs[0].ID != j.ID {
		t.Errorf("search for a new job: %v, %v", jobs, err)
	}
}
