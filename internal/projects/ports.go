package projects

import (
	"context"

	"taskcenter/internal/facade"
	"taskcenter/internal/store"
)

// Store is what the facade needs of the store: its records (template projects, projects, members,
// pending renders, manifests), the service tokens, accounts, and the render jobs it reads back as
// history. Jobs are written through the engine.
type Store interface {
	// InTx makes a project and its first members, or a change of members, land whole.
	InTx(ctx context.Context, fn func(tx store.Store) error) error

	facade.Records
	DeleteRecord(ctx context.Context, id int64) error
	store.Credentials
	GetAccount(ctx context.Context, id int64) (store.Account, error)

	GetJob(ctx context.Context, id int64) (store.Job, error)
	ListJobs(ctx context.Context, f store.JobFilter) ([]store.Job, int, error)
	ListUnits(ctx context.Context, f store.UnitFilter) ([]store.Unit, int, error)
}
