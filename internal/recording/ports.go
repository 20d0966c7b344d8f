package recording

import (
	"context"
	"time"

	"taskcenter/internal/facade"
	"taskcenter/internal/store"
)

// Store is what the recording facade reads of the store, and its writes that are not jobs or units
// (those go through the engine): its records (group registries, settings) and app credentials.
type Store interface {
	facade.Records
	store.Credentials
	GetAccount(ctx context.Context, id int64) (store.Account, error)

	GetJob(ctx context.Context, id int64) (store.Job, error)
	ListJobs(ctx context.Context, f store.JobFilter) ([]store.Job, int, error)
	ListUnits(ctx context.Context, f store.UnitFilter) ([]store.Unit, int, error)
	HasBlobRef(ctx context.Context, accountID int64, hash string) (bool, error)
	AddBlobRefs(ctx context.Context, accountID int64, hashes []string, now time.Time) error
	DropBlobRefs(ctx context.Context, accountID int64, hashes []string) (int, error)
}
