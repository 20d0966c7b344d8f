package store

import (
	"context"
	"encoding/json"
	"time"
)

// AITasks persists the AI task center (internal/aitasks): its users, API keys, upstream channels,
// prices and relayed tasks. Status changes of a task are guarded by the status the writer read, so
// that of two writers only one moves a task into a final status.
type AITasks interface {
	CreateAIUser(ctx context.Context, u AIUser) (AIUser, error) // ErrConflict on a taken name in the tenant
	GetAIUser(ctx context.Context, id int64) (AIUser, error)
	GetAIUserByAccount(ctx context.Context, accountID int64) (AIUser, error)
	GetAIUserByName(ctx context.Context, tenantID int64, username string) (AIUser, error)
	ListAIUsers(ctx context.Context, tenantID int64) ([]AIUser, error)

	CreateAIKey(ctx context.Context, k AIKey) (AIKey, error)
	GetAIKeyByHash(ctx context.Context, hash string) (AIKey, error)
	ListAIKeys(ctx context.Context, userID int64) ([]AIKey, error)
	// UpdateAIKey writes Name, QuotaLimit, Enabled and ExpiresAt of key k.ID.
	UpdateAIKey(ctx context.Context, k AIKey) error
	// UseAIKeyQuota adds delta to the key's used quota; a positive delta that would pass a limit
	// changes nothing and returns false.
	UseAIKeyQuota(ctx context.Context, keyID, delta int64) (bool, error)

	CreateAIChannel(ctx context.Context, c AIChannel) (AIChannel, error)
	GetAIChannel(ctx context.Context, id int64) (AIChannel, error) // a deleted channel is ErrNotFound
	ListAIChannels(ctx context.Context, tenantID int64, platform string) ([]AIChannel, error)
	// UpdateAIChannel writes Name, BaseURL, KeySealed, Models, Weight, Priority, Enabled, AuthFailures,
	// StatusReason and Deleted.
	UpdateAIChannel(ctx context.Context, c AIChannel, now time.Time) error
	// NoteAIChannelAuth counts an authentication failure of the channel (ok false) or clears the count
	// (ok true); at disableAfter failures in a row the channel is disabled with reason. It returns
	// whether this call disabled it.
	NoteAIChannelAuth(ctx context.Context, id int64, ok bool, disableAfter int, reason string, now time.Time) (bool, error)

	SetAIPrice(ctx context.Context, p AIPrice) error
	// GetAIPrice finds the price of the model, or else of the action on any model (Model "").
	GetAIPrice(ctx context.Context, tenantID int64, platform, action, model string) (AIPrice, error)
	ListAIPrices(ctx context.Context, tenantID int64) ([]AIPrice, error)

	CreateAITask(ctx context.Context, t AITask) (AITask, error)
	// CreateAITasks creates the tasks in one statement and returns them as stored, in order; a
	// public id taken fails them all (ErrConflict).
	CreateAITasks(ctx context.Context, ts []AITask) ([]AITask, error)
	GetAITask(ctx context.Context, id int64) (AITask, error)
	// GetAITaskByPublicID finds a task by its public id; userID 0 means any user of the tenant.
	GetAITaskByPublicID(ctx context.Context, tenantID, userID int64, taskID string) (AITask, error)
	GetAITasksByPublicIDs(ctx context.Context, tenantID, userID int64, taskIDs []string) ([]AITask, error)
	GetAITasksByIDs(ctx context.Context, ids []int64) ([]AITask, error)
	ListAITasks(ctx context.Context, f AITaskFilter) ([]AITask, int, error)
	// UpdateAITask applies p to task id if its status is still from. It reports whether it did: the
	// writer that gets false lost the race and must not settle, refund or notify.
	UpdateAITask(ctx context.Context, id int64, from string, p AITaskPatch, now time.Time) (bool, error)
	// StartAITasks moves each task still in status from into status to with its upstream id,
	// channel, start time and next poll, in one statement, reporting for each whether it moved (the
	// guard of UpdateAITask, for many tasks at once).
	StartAITasks(ctx context.Context, from, to string, ss []AITaskStart, now time.Time) ([]bool, error)
	// DueAITasks lists unfinished tasks of a polling status, due at now, held by no poll job, by
	// channel then due time.
	DueAITasks(ctx context.Context, statuses []string, now time.Time, limit int) ([]AITask, error)
	// ClaimAITasks gives the tasks to poll job jobID; it fails with ErrConflict (changing nothing
	// when run in a transaction) unless every one was free.
	ClaimAITasks(ctx context.Context, ids []int64, jobID int64) error
	// ReleaseAITasks frees what poll job jobID still holds, due again at next.
	ReleaseAITasks(ctx context.Context, jobID int64, next time.Time) (int, error)
	// StaleAIPollJobs lists the poll jobs that hold unfinished tasks due before before: a planner
	// checks whether those jobs still exist.
	StaleAIPollJobs(ctx context.Context, before time.Time, limit int) ([]int64, error)
	// OverdueAITasks lists unfinished tasks whose deadline passed, or that stayed NOT_START since
	// before stuckBefore (a submit that never reached its upstream), by id.
	OverdueAITasks(ctx context.Context, now, stuckBefore time.Time, limit int) ([]AITask, error)
	// ListAITenants lists the tenants that have AI users or channels, by id: what a server admin's
	// view of every tenant goes over.
	ListAITenants(ctx context.Context) ([]int64, error)
}

// AI task center roles.
const (
	AIRoleUser  = "user"
	AIRoleAdmin = "admin"
)

// AIUser is a user of the AI task center. Its quota is the money of its own account (AccountID, a
// sub-account of the tenant), in the engine's billing.
type AIUser struct {
	ID        int64
	TenantID  int64
	AccountID int64
	Username  string
	Role      string
	CreatedAt time.Time
}

// AIKey is an API key (sk-...) of a user; only its hash is kept. QuotaLimit -1 is unlimited.
type AIKey struct {
	ID         int64
	UserID     int64
	Name       string
	Hash       string
	Tail       string
	QuotaLimit int64
	QuotaUsed  int64
	Enabled    bool
	ExpiresAt  *time.Time
	CreatedAt  time.Time
}

// AIChannel is an upstream provider of a platform; its key is sealed with the server key.
type AIChannel struct {
	ID           int64
	TenantID     int64
	Platform     string
	Name         string
	BaseURL      string
	KeySealed    string
	Models       []string
	Weight       int
	Priority     int
	Enabled      bool
	AuthFailures int
	StatusReason string
	Deleted      bool
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// AIPrice is what one task of a platform's action (and model, "" for any) costs, in quota units.
type AIPrice struct {
	TenantID int64
	Platform string
	Action   string
	Model    string
	Quota    int64
}

// AITask is one relayed generation task. Times are Unix seconds as the wire shows them, except the
// bookkeeping ones (NextPollAt, Deadline, CreatedAt, UpdatedAt).
type AITask struct {
	ID           int64
	TenantID     int64
	UserID       int64
	KeyID        int64
	ChannelID    int64
	TaskID       string
	UpstreamID   string
	Platform     string
	Action       string
	Model        string
	Status       string
	FailReason   string
	Progress     string
	Quota        int64
	Refunded     bool
	SubmitTime   int64
	StartTime    int64
	FinishTime   int64
	Properties   json.RawMessage
	Data         json.RawMessage
	NotifyHook   string
	Active       bool
	NextPollAt   time.Time
	PollJob      int64
	PollFailures int
	Deadline     time.Time
	CreatedAt    time.Time
	UpdatedAt    time.Time
	Username     string // filled by ListAITasks when AITaskFilter.WithUsername
}

// AITaskStart is a task's start on an upstream: what StartAITasks writes.
type AITaskStart struct {
	ID         int64
	UpstreamID string
	ChannelID  int64
	StartTime  int64 // seconds
	NextPollAt time.Time
}

// AITaskPatch changes a task; nil fields are left alone.
type AITaskPatch struct {
	Status       *string
	FailReason   *string
	Progress     *string
	UpstreamID   *string
	ChannelID    *int64
	SubmitTime   *int64
	StartTime    *int64
	FinishTime   *int64
	Data         json.RawMessage
	Refunded     *bool
	Active       *bool
	NextPollAt   *time.Time
	PollJob      *int64
	PollFailures *int
}

// AITaskFilter selects tasks for a list, newest first. TenantID is required.
type AITaskFilter struct {
	TenantID     int64
	UserID       int64 // 0: every user of the tenant
	ChannelID    int64 // 0: any
	Platform     string
	TaskID       string
	Status       string
	Action       string
	SubmitFrom   int64 // seconds; 0: no bound
	SubmitTo     int64
	Limit        int
	Offset       int
	WithUsername bool
	NoTotal      bool // skip counting (the caller knows the total): ListAITasks returns -1
	AllTenants   bool // a server admin's view: every tenant's tasks, TenantID ignored
}
