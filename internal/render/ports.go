package render

import (
	"context"
	"time"

	"taskcenter/internal/facade"
	"taskcenter/internal/store"
)

// Store is what the render facade needs of the store, declared here by its consumer so that what the
// facade touches is read in one place. It reads jobs, units, workers and accounts; it writes only what
// is not a job, a unit or a schedule (those go through the engine, which records their events and
// wakes workers): its records, accounts' settings, credentials and blob refs.
type Store interface {
	facade.Records
	DeleteRecord(ctx context.Context, id int64) error

	store.Credentials
	SettingsStore
	ListAccounts(ctx context.Context, parentID int64) ([]store.Account, error)

	GetJob(ctx context.Context, id int64) (store.Job, error)
	ListJobs(ctx context.Context, f store.JobFilter) ([]store.Job, int, error)
	ListJobTrees(ctx context.Context, f store.JobFilter, childKind string) (store.JobTrees, error)
	UnitCounts(ctx context.Context, jobIDs []int64) (map[int64]map[store.UnitStatus]int, error)
	GetUnit(ctx context.Context, id int64) (store.Unit, error)
	ListUnits(ctx context.Context, f store.UnitFilter) ([]store.Unit, int, error)
	ListWorkers(ctx context.Context, kind string) ([]store.Worker, error)

	AddBlobRefs(ctx context.Context, accountID int64, hashes []string, now time.Time) error
}

// SettingsStore is what UpdateSettings needs: an account read and written back whole.
type SettingsStore interface {
	GetAccount(ctx context.Context, id int64) (store.Account, error)
	UpdateAccount(ctx context.Context, a store.Account) error
}

// KeyStore is what CreateAccessKey needs: the account checked, the sealed key kept.
type KeyStore interface {
	store.Credentials
	GetAccount(ctx context.Context, id int64) (store.Account, error)
}
