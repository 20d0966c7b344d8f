// Package storetest is the conformance suite every store.Store driver must pass: Run checks each
// method's documented behaviour, refusals included (stale epochs, guards, unique keys), and Bench
// measures the lease/complete hot path. A driver's tests call them with a function that opens a fresh,
// empty store.
package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"taskcenter/internal/store"
)

// t0 is the suite's clock: every test passes times explicitly, as the engine does.
var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// Run runs the suite; open must return a fresh, empty store for each test.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"Accounts", testAccounts},
		{"AdjustFunds", testAdjustFunds},
		{"Credentials", testCredentials},
		{"Nonces", testNonces},
		{"AccountNonces", testAccountNonces},
		{"Counters", testCounters},
		{"CreateJob", testCreateJob},
		{"WaitingJobs", testWaitingJobs},
		{"ListJobs", testListJobs},
		{"ListJobTrees", testListJobTrees},
		{"JobTallies", testJobTallies},
		{"JobTalliesConcurrent", testJobTalliesConcurrent},
		{"PatchJob", testPatchJob},
		{"DeleteJob", testDeleteJob},
		{"JobSweeps", testJobSweeps},
		{"AddAndListUnits", testAddAndListUnits},
		{"LeaseOrder", testLeaseOrder},
		{"LeaseMatching", testLeaseMatching},
		{"LeaseMarksJobRunning", testLeaseMarksJobRunning},
		{"MaxConcurrency", testMaxConcurrency},
		{"ConcurrentLease", testConcurrentLease},
		{"CompleteUnits", testCompleteUnits},
		{"FailUnit", testFailUnit},
		{"ProgressAndOutputs", testProgressAndOutputs},
		{"ExtendAndRelease", testExtendAndRelease},
		{"SyncLeases", testSyncLeases},
		{"ExpireLeases", testExpireLeases},
		{"UnitsPastTimeout", testUnitsPastTimeout},
		{"TransitionUnits", testTransitionUnits},
		{"DeleteUnits", testDeleteUnits},
		{"Blocklist", testBlocklist},
		{"QueueDepth", testQueueDepth},
		{"QueueDepthBounded", testQueueDepthBounded},
		{"CountUnfinished", testCountUnfinished},
		{"Workers", testWorkers},
		{"Schedules", testSchedules},
		{"Records", testRecords},
		{"RecordScopeName", testRecordScopeName},
		{"RecordFields", testRecordFields},
		{"Events", testEvents},
		{"Leadership", testLeadership},
		{"InTx", testInTx},
		{"AnyTags", testAnyTags},
		{"WorkerLicence", testWorkerLicence},
		{"PendingTimeout", testPendingTimeout},
		{"BlobRefs", testBlobRefs},
		{"DropBlobRefs", testDropBlobRefs},
		{"UnreferencedBlobs", testUnreferencedBlobs},
		{"Text", testText},
		{"Ledger", testLedger},
		{"LedgerRefOnce", testLedgerRefOnce},
		{"SetUnitSpec", testSetUnitSpec},
		{"TallyUnits", testTallyUnits},
		{"AITasks", testAITasks},
		{"WorkerDrain", testWorkerDrain},
		{"AITasksBatch", testAITasksBatch},
		{"AITenants", testAITenants},
		{"JobSearch", testJobSearch},
		{"ListJobsByKey", testListJobsByKey},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, open(t))
		})
	}
}

// at is t0 plus d.
func at(d time.Duration) time.Time { return t0.Add(d) }

func ptr[T any](v T) *T { return &v }

// must fails the test on err.
func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// mustIs fails the test unless err is target.
func mustIs(t *testing.T, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("got error %v, want %v", err, target)
	}
}

func eq[T comparable](t *testing.T, what string, got, want T) {
	t.Helper()
	if got != want {
		t.Fatalf("%s = %v, want %v", what, got, want)
	}
}

// jsonEq compares JSON documents by value.
func jsonEq(t *testing.T, what string, got json.RawMessage, want string) {
	t.Helper()
	if want == "" {
		if len(got) != 0 {
			t.Fatalf("%s = %s, want empty", what, got)
		}
		return
	}
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("%s = %q: %v", what, got, err)
	}
	must(t, json.Unmarshal([]byte(want), &w))
	if fmt.Sprint(g) != fmt.Sprint(w) {
		t.Fatalf("%s = %s, want %s", what, got, want)
	}
}

// timeEq compares an optional time with want (nil for "not set").
func timeEq(t *testing.T, what string, got *time.Time, want *time.Time) {
	t.Helper()
	switch {
	case got == nil && want == nil:
	case got == nil || want == nil:
		t.Fatalf("%s = %v, want %v", what, got, want)
	case !got.Equal(*want):
		t.Fatalf("%s = %v, want %v", what, *got, *want)
	}
}

// account creates an account with a unique name.
func account(t *testing.T, s store.Store, name string) store.Account {
	t.Helper()
	a, err := s.CreateAccount(context.Background(), store.Account{Name: name, Role: store.RoleUser,
		CreatedAt: t0, UpdatedAt: t0})
	must(t, err)
	return a
}

// mkUnits makes n units with capability c.
func mkUnits(n int, c string) []store.Unit {
	us := make([]store.Unit, n)
	for i := range us {
		us[i] = store.Unit{Index: i, Name: fmt.Sprint(i), Capability: c}
	}
	return us
}

// job creates a job of account 1 with the given units.
func job(t *testing.T, s store.Store, j store.Job, units []store.Unit) store.Job {
	t.Helper()
	if j.AccountID == 0 {
		j.AccountID = 1
	}
	if j.Kind == "" {
		j.Kind = "render"
	}
	out, err := s.CreateJob(context.Background(), j, units, t0)
	must(t, err)
	return out
}

// unitsOf lists a job's units in index order.
func unitsOf(t *testing.T, s store.Store, jobID int64) []store.Unit {
	t.Helper()
	us, _, err := s.ListUnits(context.Background(), store.UnitFilter{JobID: jobID})
	must(t, err)
	return us
}

// lease leases for worker w with capability c at t0.
func lease(t *testing.T, s store.Store, r store.LeaseRequest) []store.Unit {
	t.Helper()
	if r.Now.IsZero() {
		r.Now = t0
	}
	if r.LeaseFor == 0 {
		r.LeaseFor = time.Minute
	}
	if r.Max == 0 {
		r.Max = 100
	}
	us, err := s.Lease(context.Background(), r)
	must(t, err)
	return us
}

func ids(us []store.Unit) []int64 {
	out := make([]int64, len(us))
	for i, u := range us {
		out[i] = u.ID
	}
	return out
}

func names(us []store.Unit) string {
	out := make([]string, len(us))
	for i, u := range us {
		out[i] = u.Name
	}
	return fmt.Sprint(out)
}

func complete(t *testing.T, s store.Store, us ...store.Unit) {
	t.Helper()
	cs := make([]store.Completion, len(us))
	for i, u := range us {
		cs[i] = store.Completion{UnitID: u.ID, Epoch: u.Epoch}
	}
	errs, _, err := s.CompleteUnits(context.Background(), cs, t0)
	must(t, err)
	for i, e := range errs {
		if e != nil {
			t.Fatalf("complete unit %d: %v", cs[i].UnitID, e)
		}
	}
}
