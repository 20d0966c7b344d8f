package rpa

import (
	"context"
	"time"

	"taskcenter/internal/facade"
	"taskcenter/internal/store"
)

// Store is what the RPA facade needs of the store, declared here by its consumer so that what the
// facade touches is read in one place. It reads jobs, units, schedules, workers and accounts; it
// writes only what is not a job, a unit or a schedule (those go through the engine, which records
// their events and wakes workers): its records, credentials, login counters and blob refs.
type Store interface {
	// InTx runs the first start's writes (roles, root department, administrator) as one.
	InTx(ctx context.Context, fn func(tx store.Store) error) error

	facade.Records
	DeleteRecord(ctx context.Context, id int64) error
	store.Credentials
	GetAccount(ctx context.Context, id int64) (store.Account, error)

	GetJob(ctx context.Context, id int64) (store.Job, error)
	ListJobs(ctx context.Context, f store.JobFilter) ([]store.Job, int, error)
	GetUnit(ctx context.Context, id int64) (store.Unit, error)
	ListUnits(ctx context.Context, f store.UnitFilter) ([]store.Unit, int, error)
	GetSchedule(ctx context.Context, id int64) (store.Schedule, error)
	GetWorker(ctx context.Context, id int64) (store.Worker, error)
	ListWorkers(ctx context.Context, kind string) ([]store.Worker, error)

	AddBlobRefs(ctx context.Context, accountID int64, hashes []string, now time.Time) error
}
