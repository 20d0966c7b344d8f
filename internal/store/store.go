// Package store owns taskcenter's persistent state: accounts, credentials, jobs, units, workers,
// schedules, events and small dialect records. It defines the one interface both drivers (sqlite,
// postgres) implement, and the errors they return. It holds no business rules: what a status means and
// when it changes is the engine's; the store makes each change atomic and fenced.
//
// Times are passed in by the caller (the engine's clock) and kept with millisecond precision.
package store

import (
	"context"
	"encoding/json"
	"errors"
	"time"
)

var (
	// ErrNotFound: no such row, or it belongs to another account.
	ErrNotFound = errors.New("not found")
	// ErrStale: a unit report carried an epoch that is no longer the unit's lease.
	ErrStale = errors.New("stale lease epoch")
	// ErrConflict: a unique key is already taken.
	ErrConflict = errors.New("already exists")
	// ErrInvalid: a parameter the store cannot keep as given. Text with a NUL byte or invalid UTF-8
	// is refused by both drivers (PostgreSQL cannot store it, SQLite would), before any write.
	ErrInvalid = errors.New("invalid request")
)

// QueueDepthCap is where QueueDepth stops counting one capability's ready units.
const QueueDepthCap = 100_000

// Store is everything the engine and the facades persist. Both drivers pass storetest.
type Store interface {
	// InTx runs fn in one transaction: every write fn makes lands, or none does.
	InTx(ctx context.Context, fn func(tx Store) error) error
	// Driver names the driver ("sqlite" or "postgres").
	Driver() string
	Close() error

	Accounts
	Credentials
	Jobs
	Units
	Workers
	Schedules
	Records
	Events
	Coordination
	BlobRefs
	BlobRefDrops
	BlobSweep
	Ledger
	UnitSpecs
	Tallies
	AITasks
	WorkerDrains
}

// Accounts persists tenants and their money.
type Accounts interface {
	CreateAccount(ctx context.Context, a Account) (Account, error) // ErrConflict on a taken name
	GetAccount(ctx context.Context, id int64) (Account, error)
	GetAccountByName(ctx context.Context, name string) (Account, error)
	// ListAccounts lists sub-accounts of parentID, or every account when parentID is -1.
	ListAccounts(ctx context.Context, parentID int64) ([]Account, error)
	// UpdateAccount writes Name, Role, Settings.
	UpdateAccount(ctx context.Context, a Account) error
	// AdjustFunds adds the deltas atomically and returns the account after the change. When
	// requireNonNegative is true and any resulting balance would be below zero, nothing changes and
	// ok is false.
	AdjustFunds(ctx context.Context, id int64, d FundsDelta, requireNonNegative bool, now time.Time) (a Account, ok bool, err error)
}

// FundsDelta is a change to an account's money and quota.
type FundsDelta struct {
	BalanceMilli, CouponMilli, CreditMilli, Quota int64
}

// Credentials persists what callers authenticate with.
type Credentials interface {
	CreateCredential(ctx context.Context, c Credential) (Credential, error) // ErrConflict on a taken (Kind, KeyID)
	GetCredential(ctx context.Context, kind CredentialKind, keyID string) (Credential, error)
	ListCredentials(ctx context.Context, accountID int64) ([]Credential, error)
	RevokeCredential(ctx context.Context, id int64, now time.Time) error
	// UseNonce records nonce in scope until expires. fresh is false when it was already recorded and
	// has not expired (a replay).
	UseNonce(ctx context.Context, scope, nonce string, expires, now time.Time) (fresh bool, err error)
	// UseAccountNonce is UseNonce for a request signed by an account, which also reads that account
	// when the nonce is fresh: a signed request needs both, and concurrent requests share the read
	// as they share the nonces' write. An account that does not exist is ErrNotFound.
	UseAccountNonce(ctx context.Context, accountID int64, scope, nonce string, expires, now time.Time) (fresh bool, acct Account, err error)
	// PurgeNonces deletes expired nonces, and expired counters with them.
	PurgeNonces(ctx context.Context, now time.Time) (int64, error)
	// AddCounter adds delta to the counter name of scope and returns its value and expiry after the
	// change. A counter that is absent or expired starts again from zero and expires at expires; a
	// live one keeps its expiry. Concurrent adds are all counted, on every replica.
	AddCounter(ctx context.Context, scope, name string, delta int64, expires, now time.Time) (value int64, until time.Time, err error)
	// GetCounter reads a live counter; an absent or expired one is 0 with a zero time.
	GetCounter(ctx context.Context, scope, name string, now time.Time) (value int64, until time.Time, err error)
	// DeleteCounter removes a counter; an absent one is no error.
	DeleteCounter(ctx context.Context, scope, name string) error
}

// JobFilter selects jobs for a list. Zero values do not filter.
type JobFilter struct {
	AccountIDs   []int64 // the caller's account and, where allowed, its sub-accounts
	Kind         string
	ParentID     int64   // -1: top level only; 0: any
	ParentIDs    []int64 // when set, only children of these jobs
	Statuses     []JobStatus
	PauseReasons []string
	Search       string // substring of Name, Alias or Project
	Project      string
	CreatedFrom  *time.Time
	CreatedTo    *time.Time
	WithDeleted  bool
	Limit        int // 0 = no limit
	Offset       int
	// Keyset paging, for ListJobs: with BeforeID the page holds the newest jobs older than it (the
	// page after one ending there); with AfterID the oldest jobs newer than it, still newest first
	// (the page before one starting there). Offset then counts from the key. The total counts the
	// whole list, as without them.
	BeforeID int64
	AfterID  int64
	// CountUpTo, when above zero, bounds ListJobs' count: it stops at CountUpTo+1 matches, so a total
	// above CountUpTo means "more than CountUpTo". A broad text search then costs a page, not a
	// count of every job.
	CountUpTo int
}

// JobTrees is a page of parent jobs with their children.
type JobTrees struct {
	Jobs  []Job // the page, newest first
	Total int   // parents matching the filter, all pages
	// Children lists each parent's children in id order; UnitCounts counts each child's units by
	// status (an entry, possibly empty, per child).
	Children   map[int64][]Job
	UnitCounts map[int64]map[UnitStatus]int
}

// JobPatch changes the listed fields of a job; nil fields stay as they are.
type JobPatch struct {
	Status         *JobStatus
	PauseReason    *string
	Priority       *int // also re-prioritises the job's queued units
	MaxConcurrency *int
	MaxAttempts    *int
	UnitTimeout    *time.Duration
	JobTimeout     *time.Duration
	Name           *string
	Project        *string
	Spec           json.RawMessage
	Result         json.RawMessage
	AddCostMilli   int64
	Deleted        *bool
	StartedAt      *time.Time
	FinishedAt     *time.Time
	ClearFinished  bool
	// PendingDeadline sets when a queued job ends for waiting too long; ClearPendingDeadline removes it.
	PendingDeadline      *time.Time
	ClearPendingDeadline bool
	// IfStatus guards the update: when set, the job is changed only if its status is one of these, and
	// ErrStale is returned otherwise.
	IfStatus []JobStatus

	// AddPaid is added to the job's Paid totals (in the transaction that writes its ledger lines).
	AddPaid Split
}

// Jobs persists jobs.
type Jobs interface {
	// CreateJob inserts the job and its units in one transaction. Index, Name, Capability, Tag, Spec and
	// Deadline come from each unit; AccountID and MaxAttempts from the job; Priority from the job unless
	// the unit sets a non-zero one. Units start queued at RunAfter (now when zero), or blocked when the
	// job waits for another (WaitFor set and that job not yet terminal); the job starts queued or waiting.
	CreateJob(ctx context.Context, j Job, units []Unit, now time.Time) (Job, error)
	GetJob(ctx context.Context, id int64) (Job, error)
	GetJobByAlias(ctx context.Context, alias string) (Job, error)
	ListJobs(ctx context.Context, f JobFilter) (jobs []Job, total int, err error)
	// ListJobTrees is ListJobs for a page of parents (f.ParentID -1) that also reads their children
	// of kind childKind (deleted ones included) and those children's unit counts: a task list's page
	// in three reads (the total, the rows, the counts), the page reached from the nearer end.
	ListJobTrees(ctx context.Context, f JobFilter, childKind string) (JobTrees, error)
	PatchJob(ctx context.Context, id int64, p JobPatch, now time.Time) (Job, error)
	DeleteJob(ctx context.Context, id int64) error // hard delete with units; soft delete is PatchJob
	// FoldJobTallies is the sweep's upkeep of the counts that plain list totals read, where the
	// driver keeps them as a journal of changes (PostgreSQL); elsewhere it does nothing.
	FoldJobTallies(ctx context.Context) error
	// UnitCounts counts each job's units by status, for many jobs at once.
	UnitCounts(ctx context.Context, jobIDs []int64) (map[int64]map[UnitStatus]int, error)
	// RemainingUnits reports whether the job has any unit that is not terminal.
	HasUnfinishedUnits(ctx context.Context, jobID int64) (bool, error)
	// CountUnfinishedUnits counts the job's units that are not finished, stopping at limit.
	CountUnfinishedUnits(ctx context.Context, jobID int64, limit int) (int, error)
	// CountUnfinishedJobs counts the account's jobs that are not finished (waiting, queued, running,
	// paused) and not deleted, leaving out jobs of exceptKinds, stopping at limit.
	CountUnfinishedJobs(ctx context.Context, accountID int64, exceptKinds []string, limit int) (int, error)
	// JobsToFinalize lists non-terminal, non-paused jobs that have units and none unfinished: the sweep's
	// backstop for a completion whose post-commit check raced.
	JobsToFinalize(ctx context.Context, limit int) ([]int64, error)
	// JobsPastPendingTimeout lists queued jobs whose PendingDeadline has passed.
	JobsPastPendingTimeout(ctx context.Context, now time.Time, limit int) ([]Job, error)
	// JobsPastTimeout lists running or queued jobs whose JobTimeout has passed since StartedAt.
	JobsPastTimeout(ctx context.Context, now time.Time, limit int) ([]Job, error)
	// ReleaseWaiters queues the blocked units of jobs that wait for jobID and moves those jobs from
	// waiting to queued. It returns their ids.
	ReleaseWaiters(ctx context.Context, jobID int64, now time.Time) ([]int64, error)
}

// UnitFilter selects units for a list.
type UnitFilter struct {
	JobID    int64
	JobIDs   []int64
	Statuses []UnitStatus
	UnitIDs  []int64
	Search   string // substring of Name
	WorkerID int64
	// MinPriority and MaxPriority bound Priority, both ends included, when set.
	MinPriority, MaxPriority *int
	// CreatedFrom and CreatedTo bound CreatedAt, both ends included, when set.
	CreatedFrom, CreatedTo *time.Time
	// Attempted, when set, selects units tried at least once (true) or never tried (false).
	Attempted *bool
	Limit     int
	Offset    int
}

// LeaseRequest asks for up to Max ready units a worker may run.
type LeaseRequest struct {
	WorkerID     int64
	Capabilities []string // a unit matches when its Capability is one of these
	Tags         []string // a unit with a Tag matches only when the tag is one of these
	AccountID    int64    // when non-zero, only this account's units (a tenant's own worker)
	JobID        int64    // when non-zero, only this job's units (queue pop)
	// Undrained leases nothing when the worker is drained (Worker.DrainedAt), read in the lease's own
	// query: an agent's lease, not a running process popping its queue's items.
	Undrained bool
	Max       int
	LeaseFor  time.Duration
	Now       time.Time
}

// Completion reports a unit done.
type Completion struct {
	UnitID int64
	Epoch  int64
	// WorkerID, when non-zero, must be the unit's lease holder too: a worker cannot report another's unit.
	WorkerID  int64
	Result    json.RawMessage
	Outputs   json.RawMessage
	CostMilli int64
}

// ReportRef names the unit a report (progress, outputs) is about and the lease that fences it: the
// report is refused (ErrStale) unless the unit carries Epoch and, when WorkerID is non-zero, WorkerID
// holds it. A struct, so that three ids in a row cannot be passed in the wrong order.
type ReportRef struct {
	UnitID   int64
	Epoch    int64
	WorkerID int64 // 0: fenced by the epoch alone (an in-process caller)
}

// UnitFailure moves a running unit out of running after a failed attempt.
type UnitFailure struct {
	UnitID int64
	Epoch  int64
	Error  string
	Result json.RawMessage // replaces the unit's result when set
	// Retry queues the unit again at RetryAt; otherwise it ends with Final (failed or timed_out).
	Retry      bool
	RetryAt    time.Time
	Final      UnitStatus
	AvoidUntil time.Time // keep it from the failed worker until then
}

// UnitTransition moves the units of a job that are in one of From to To. Units leaving running get a new
// epoch and lose their worker, so that a late report from the old holder is refused.
type UnitTransition struct {
	JobID         int64
	UnitIDs       []int64 // empty: every unit of the job in From
	From          []UnitStatus
	To            UnitStatus
	ResetAttempts bool
	Error         string // recorded on the units when set
}

// LeaseSync is what a worker reports holding (a heartbeat, or a new incarnation's registration).
type LeaseSync struct {
	WorkerID int64
	Held     []HeldUnit // units the worker runs or holds unsent reports for; JobID is ignored
	Until    time.Time  // the held units' leases extend to this
	// LeasedBefore spares unlisted units leased at or after it: the lease answer may still be on its
	// way to the worker. Zero spares none (a new incarnation holds only what it lists).
	LeasedBefore time.Time
	// Capabilities, unless AnyCapability, limits what is taken back to units of these capabilities:
	// the ones the worker leases for itself. Units held for it by other means (queue items its
	// processes popped) keep their own lease.
	Capabilities  []string
	AnyCapability bool
	Error         string // recorded on the units taken back
	Now           time.Time
}

// HeldUnit is a unit a worker holds, as the store sees it.
type HeldUnit struct {
	UnitID int64
	JobID  int64
	Epoch  int64
}

// Units persists units and their leases.
type Units interface {
	// AddUnits appends units to an existing job (queue items). They take the job's priority unless
	// the unit carries its own non-zero Priority.
	AddUnits(ctx context.Context, jobID int64, units []Unit, now time.Time) ([]Unit, error)
	GetUnit(ctx context.Context, id int64) (Unit, error)
	ListUnits(ctx context.Context, f UnitFilter) (units []Unit, total int, err error)
	// Lease picks ready units (queued, RunAfter passed) of non-deleted jobs in priority order (highest
	// first, then earliest Deadline, then lowest id), never a unit whose job blocklists the worker, never
	// a unit avoiding this worker while AvoidUntil is ahead, never more running units of a job than its
	// MaxConcurrency. Each leased unit gets status running, the worker, Epoch+1, Attempts+1,
	// LeaseExpires = Now+LeaseFor, StartedAt = Now. Jobs of leased units that were queued become running.
	// Safe to call from many processes at once (PostgreSQL: FOR UPDATE SKIP LOCKED).
	Lease(ctx context.Context, r LeaseRequest) ([]Unit, error)
	// CompleteUnits marks running units done when the epoch matches. The result slice has one entry per
	// completion, nil or ErrStale. JobIDs lists the distinct jobs touched.
	CompleteUnits(ctx context.Context, cs []Completion, now time.Time) (errs []error, jobIDs []int64, err error)
	// FailUnit applies f when the unit is running with f.Epoch, else ErrStale.
	FailUnit(ctx context.Context, f UnitFailure, now time.Time) (Unit, error)
	// ReportProgress sets progress and appends to the log when ref matches (see ReportRef); else
	// ErrStale. It also extends the lease to leaseUntil.
	ReportProgress(ctx context.Context, ref ReportRef, progress float64, logAppend string, leaseUntil, now time.Time) error
	// SetUnitOutputs merges outputs into the unit's Outputs when ref matches (see ReportRef).
	SetUnitOutputs(ctx context.Context, ref ReportRef, outputs json.RawMessage, now time.Time) error
	// SyncLeases makes the worker's leases what the worker says it holds: it extends the listed units
	// the worker holds (epoch matching) and returns them as kept, and takes back the worker's other
	// running units that r.Reclaims selects, returning them as they were before. A unit taken back is
	// queued at once (failed when out of attempts, like an expired lease) with its attempt counted,
	// without avoiding the worker or counting against it: it is lost, not known to have failed.
	SyncLeases(ctx context.Context, r LeaseSync) (kept []HeldUnit, reclaimed []Unit, err error)
	// ReleaseUnits puts running units held by the worker back in the queue without counting the
	// attempt (graceful shutdown). Units given with a stale epoch are skipped.
	ReleaseUnits(ctx context.Context, workerID int64, held []HeldUnit, now time.Time) (int, error)
	// ExpireLeases requeues running units whose lease has expired (failed when out of attempts), avoiding
	// the old holder until avoidUntil, and returns them as they were before.
	ExpireLeases(ctx context.Context, now, avoidUntil time.Time, limit int) ([]Unit, error)
	// UnitsPastTimeout lists running units whose job has a UnitTimeout that has passed since StartedAt.
	UnitsPastTimeout(ctx context.Context, now time.Time, limit int) ([]Unit, error)
	TransitionUnits(ctx context.Context, t UnitTransition, now time.Time) (int, error)
	// DeleteUnits removes units of a job (queue item delete, queue clear); empty ids removes all.
	DeleteUnits(ctx context.Context, jobID int64, ids []int64) (int, error)
	// RecordWorkerFailure counts a failure of worker in job and blocklists it when the count reaches
	// threshold (threshold 0 never blocklists). It returns whether the worker is now blocklisted.
	RecordWorkerFailure(ctx context.Context, jobID, workerID int64, threshold int, now time.Time) (bool, error)
	Blocklist(ctx context.Context, jobID int64) ([]BlockEntry, error)
	// ClearBlocklist removes workerID (0: every worker) from the job's blocklist and failure counts.
	ClearBlocklist(ctx context.Context, jobID, workerID int64) error
	// QueueDepth counts ready units by capability, each up to QueueDepthCap: a count at the cap
	// means at least that many.
	QueueDepth(ctx context.Context, now time.Time) (map[string]int, error)
}

// BlockEntry is a worker's failure record in a job.
type BlockEntry struct {
	JobID       int64
	WorkerID    int64
	Failures    int
	Blocked     bool
	LastFailure time.Time
}

// Workers persists agents.
type Workers interface {
	// RegisterWorker creates the worker or, when one of that name exists, updates its kind,
	// capabilities, tags and info; either way it is marked idle with a fresh heartbeat.
	RegisterWorker(ctx context.Context, w Worker, now time.Time) (Worker, error)
	GetWorker(ctx context.Context, id int64) (Worker, error)
	ListWorkers(ctx context.Context, kind string) ([]Worker, error)
	// TouchWorker records a heartbeat and status.
	TouchWorker(ctx context.Context, id int64, status WorkerStatus, now time.Time) error
	UpdateWorkerInfo(ctx context.Context, id int64, info json.RawMessage, tags []string) error
	// SetWorkerLicence sets (licence not empty) or removes the worker's licence; registering again
	// keeps it.
	SetWorkerLicence(ctx context.Context, id int64, licence string, expires *time.Time) error
	// MarkOffline marks workers whose last heartbeat is before cutoff offline and returns their ids.
	MarkOffline(ctx context.Context, cutoff time.Time) ([]int64, error)
	DeleteWorker(ctx context.Context, id int64) error
	// DeleteGoneWorkers deletes the workers of kind that are offline, last heartbeat before cutoff and
	// hold no unit, returning how many went.
	DeleteGoneWorkers(ctx context.Context, kind string, cutoff time.Time) (int, error)
}

// Schedules persists cron schedules.
type Schedules interface {
	CreateSchedule(ctx context.Context, s Schedule, now time.Time) (Schedule, error)
	GetSchedule(ctx context.Context, id int64) (Schedule, error)
	ListSchedules(ctx context.Context, accountID int64) ([]Schedule, error) // 0: every account
	UpdateSchedule(ctx context.Context, s Schedule, now time.Time) error
	DeleteSchedule(ctx context.Context, id int64) error
	// DueSchedules lists enabled schedules whose NextRun is at or before now.
	DueSchedules(ctx context.Context, now time.Time, limit int) ([]Schedule, error)
	// AdvanceSchedule sets LastRun and NextRun only if NextRun still equals expected; ok is false when
	// another process advanced it first.
	AdvanceSchedule(ctx context.Context, id int64, expected time.Time, lastRun time.Time, next *time.Time) (ok bool, err error)
}

// RecordFilter selects records.
type RecordFilter struct {
	AccountIDs []int64 // empty: any account
	Kind       string
	ParentID   int64 // -1: any
	KeyPrefix  string
	// ScopePrefix, when set, keeps the records whose Scope starts with it (literally and case
	// sensitively: a subtree of a path), and with OrUnscoped also those whose Scope is empty.
	ScopePrefix string
	OrUnscoped  bool
	// NameContains, when set, keeps the records whose Name contains it, literally and case
	// sensitively (a writer wanting case-insensitive matching stores Name folded and folds this).
	NameContains string
	// Fields keeps the records whose document has every field matching (string and integer fields of
	// the JSON object at the top level; an integer compares as its decimal text).
	Fields []FieldMatch
	// AnyField, when set, keeps the records matching at least one of these.
	AnyField []FieldMatch
	// CreatedFrom and CreatedTo, when set, bound the creation time (inclusive).
	CreatedFrom, CreatedTo time.Time
	Desc                   bool // highest id first
	Limit                  int
	Offset                 int
}

// FieldMatch matches a top-level field of a record's JSON document against a set of texts: the field
// is one of Values (or, with Not, none of them; a missing field is the empty text).
type FieldMatch struct {
	Field  string
	Values []string
	Not    bool
}

// Records persists small dialect documents.
type Records interface {
	// PutRecord inserts r (ID 0) or replaces the one with r.ID. A non-empty Key must be unique within
	// (AccountID, Kind): ErrConflict otherwise.
	PutRecord(ctx context.Context, r Record, now time.Time) (Record, error)
	GetRecord(ctx context.Context, id int64) (Record, error)
	GetRecordByKey(ctx context.Context, accountID int64, kind, key string) (Record, error)
	ListRecords(ctx context.Context, f RecordFilter) (rs []Record, total int, err error)
	DeleteRecord(ctx context.Context, id int64) error
}

// EventFilter selects events, oldest first.
type EventFilter struct {
	AccountID int64
	JobID     int64
	AfterID   int64
	Limit     int
}

// Events persists the append-only history.
type Events interface {
	AppendEvents(ctx context.Context, es []Event) error
	ListEvents(ctx context.Context, f EventFilter) ([]Event, error)
}

// BlobRefs records which accounts may read which blobs. Blobs are content-addressed and shared, so a
// hash alone grants nothing: an account reads a blob when it uploaded it, or a blob was stored for it
// (a unit's output, a published frame), or an administrator handed it a job that names it.
type BlobRefs interface {
	// AddBlobRefs records that the account may read each of hashes; hashes already recorded for it
	// are left as they are.
	AddBlobRefs(ctx context.Context, accountID int64, hashes []string, now time.Time) error
	// HasBlobRef reports whether the account may read hash.
	HasBlobRef(ctx context.Context, accountID int64, hash string) (bool, error)
	// HeldUnitsReferenceBlob reports whether a unit the worker holds (running, leased to it) names hash
	// as a string anywhere in its spec, and that unit's account may read hash: what a worker may
	// download. The spec is looked at when asked rather than indexed at submission, so a job of a
	// million units writes no extra rows; a worker holds a handful of units at a time.
	HeldUnitsReferenceBlob(ctx context.Context, workerID int64, hash string) (bool, error)
}

// Coordination lets several server processes on one database cooperate.
type Coordination interface {
	// TryLead takes or keeps the named leadership for holder until now+ttl; it fails (false) while
	// another holder's term has not expired.
	TryLead(ctx context.Context, name, holder string, ttl time.Duration, now time.Time) (bool, error)
	Resign(ctx context.Context, name, holder string) error
	// Notify tells every process listening on topic (PostgreSQL NOTIFY; a no-op on SQLite, where one
	// process owns the file and wakes its own waiters).
	Notify(ctx context.Context, topic, payload string) error
	// Listen calls fn for each notification on topic until ctx ends. On SQLite it just waits for ctx.
	Listen(ctx context.Context, topic string, fn func(payload string)) error
}

// Ledger is the append-only record of accounts' money. Lines are never changed or removed.
type Ledger interface {
	// AppendLedger writes lines, all or none: when a line's Ref is already taken it writes none and
	// returns ErrConflict. Inside InTx the caller must then give the transaction up (return the error).
	AppendLedger(ctx context.Context, lines []LedgerLine) error
	// LedgerByRef returns the line of ref; ErrNotFound when there is none.
	LedgerByRef(ctx context.Context, ref string) (LedgerLine, error)
	// ListLedger lists lines newest first, with the number of lines the filter matches on all pages.
	ListLedger(ctx context.Context, f LedgerFilter) ([]LedgerLine, int, error)
}

// LedgerFilter selects ledger lines; AccountID or JobID is required.
type LedgerFilter struct {
	AccountID int64
	JobID     int64
	Limit     int // 0 = no limit
	Offset    int
}
