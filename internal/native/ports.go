package native

import (
	"context"
	"time"

	"taskcenter/internal/store"
)

// Store is what the native API needs of the store, declared here by its consumer so that what the API
// touches is read in one place. It reads jobs, units, events, schedules, workers and accounts; it
// writes only what is not a job, a unit or a schedule (those go through the engine, which records
// their events and wakes workers): accounts, credentials and blob refs.
type Store interface {
	store.Credentials
	Accounts
	ListAccounts(ctx context.Context, parentID int64) ([]store.Account, error)

	GetJob(ctx context.Context, id int64) (store.Job, error)
	ListJobs(ctx context.Context, f store.JobFilter) ([]store.Job, int, error)
	UnitCounts(ctx context.Context, jobIDs []int64) (map[int64]map[store.UnitStatus]int, error)
	ListUnits(ctx context.Context, f store.UnitFilter) ([]store.Unit, int, error)
	ListEvents(ctx context.Context, f store.EventFilter) ([]store.Event, error)
	GetSchedule(ctx context.Context, id int64) (store.Schedule, error)
	ListSchedules(ctx context.Context, accountID int64) ([]store.Schedule, error)
	GetWorker(ctx context.Context, id int64) (store.Worker, error)
	DeleteWorker(ctx context.Context, id int64) error
	OverviewStore

	AddBlobRefs(ctx context.Context, accountID int64, hashes []string, now time.Time) error
	HasBlobRef(ctx context.Context, accountID int64, hash string) (bool, error)
}

// Accounts is what CreateAccount needs: the parent read, the account created.
type Accounts interface {
	GetAccount(ctx context.Context, id int64) (store.Account, error)
	CreateAccount(ctx context.Context, a store.Account) (store.Account, error)
}

// OverviewStore is what ComputeOverview reads.
type OverviewStore interface {
	TallyUnits(ctx context.Context, accountID int64) ([]store.UnitTally, error)
	QueueDepth(ctx context.Context, now time.Time) (map[string]int, error)
	ListWorkers(ctx context.Context, kind string) ([]store.Worker, error)
}
