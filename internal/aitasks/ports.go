package aitasks

import (
	"context"
	"time"

	"taskcenter/internal/store"
)

// Store is what the AI task center reads and writes of the store outside the engine: its own
// tables, the accounts its users pay from, and the credentials of their personal access tokens.
// Jobs (poll and notify work) are written through the engine only.
type Store interface {
	store.AITasks
	GetAccount(ctx context.Context, id int64) (store.Account, error)
	CreateAccount(ctx context.Context, a store.Account) (store.Account, error)
	store.Credentials
	ListLedger(ctx context.Context, f store.LedgerFilter) ([]store.LedgerLine, int, error)
	GetJob(ctx context.Context, id int64) (store.Job, error)
	InTx(ctx context.Context, fn func(tx store.Store) error) error
	// AddBlobRefs records mirrored result files as the tenant's (store.BlobRefs).
	AddBlobRefs(ctx context.Context, accountID int64, hashes []string, now time.Time) error
}
