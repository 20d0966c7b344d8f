package store

import (
	"encoding/json"
	"time"
)

// Role is what an account may do across the whole server.
type Role string

const (
	RoleAdmin Role = "admin"
	RoleUser  Role = "user"
)

// Account is a tenant. A sub-account has ParentID set to its main account.
type Account struct {
	ID       int64
	ParentID int64 // 0 for a main account
	Name     string
	Role     Role
	// Money is kept in thousandths of the currency unit (milli) so that sums are exact.
	BalanceMilli int64
	CouponMilli  int64
	CreditMilli  int64
	// Quota is a count of units of work (for example AI generations) the account may still consume.
	Quota int64
	// Settings holds dialect-specific switches (sub-account rules, prices, time-outs) as JSON.
	Settings  json.RawMessage
	CreatedAt time.Time
	UpdatedAt time.Time
}

// CredentialKind names the scheme a credential belongs to: one per dialect plus the server's own.
type CredentialKind string

const (
	CredAdmin     CredentialKind = "admin"     // bearer token for the native API and CLI
	CredAgent     CredentialKind = "agent"     // enrollment token agents register with
	CredWorker    CredentialKind = "worker"    // per-worker token handed out at registration
	CredRender    CredentialKind = "render"    // accessId / accessKey, HMAC: secret encrypted
	CredRPA       CredentialKind = "rpa"       // accessKey (user) / secretKey (password): hashed
	CredRecording CredentialKind = "recording" // app_id / app secret, HMAC: secret encrypted
	CredKMS       CredentialKind = "kms"       // x-kms-user / x-kms-token: hashed
	CredAPIKey    CredentialKind = "apikey"    // AI task center bearer key: hashed
)

// Credential identifies a caller. KeyID is the public half (accessId, user name, token prefix).
// Exactly one of SecretHash and SecretSealed is set: a hash where the scheme only needs to compare,
// the secret sealed with the server key where the scheme needs it back (HMAC signing).
type Credential struct {
	ID           int64
	AccountID    int64
	Kind         CredentialKind
	KeyID        string
	SecretHash   []byte
	SecretSealed []byte
	Label        string
	CreatedAt    time.Time
	ExpiresAt    *time.Time
	RevokedAt    *time.Time
}

// JobStatus is derived from the units by engine.DeriveJobStatus; the store only records it.
type JobStatus string

const (
	JobWaiting   JobStatus = "waiting"   // depends on another job that has not finished
	JobQueued    JobStatus = "queued"    // no unit has started yet
	JobRunning   JobStatus = "running"   // at least one unit leased or done, some still to do
	JobPaused    JobStatus = "paused"    // held by a control action (see Job.PauseReason)
	JobSucceeded JobStatus = "succeeded" // every unit done
	JobPartial   JobStatus = "partial"   // finished, some units done, some failed
	JobFailed    JobStatus = "failed"    // finished, no unit done
	JobCancelled JobStatus = "cancelled" // aborted
)

// Terminal reports whether no further work will happen without an explicit restart.
func (s JobStatus) Terminal() bool {
	switch s {
	case JobSucceeded, JobPartial, JobFailed, JobCancelled:
		return true
	}
	return false
}

// UnitStatus is the life of one unit of work.
type UnitStatus string

const (
	UnitBlocked   UnitStatus = "blocked"   // its job waits for another job
	UnitQueued    UnitStatus = "queued"    // ready once RunAfter has passed
	UnitRunning   UnitStatus = "running"   // leased to a worker
	UnitPaused    UnitStatus = "paused"    // held by a job control action
	UnitDone      UnitStatus = "done"      // finished successfully
	UnitFailed    UnitStatus = "failed"    // out of attempts
	UnitTimedOut  UnitStatus = "timed_out" // ran past its time limit
	UnitCancelled UnitStatus = "cancelled" // aborted with its job
)

// Terminal reports whether the unit will not run again without an explicit restart.
func (s UnitStatus) Terminal() bool {
	switch s {
	case UnitDone, UnitFailed, UnitTimedOut, UnitCancelled:
		return true
	}
	return false
}

// Job is one piece of submitted work: a render task, an RPA job, a record task, a template render,
// a relayed AI task. Its units are what workers lease.
type Job struct {
	ID          int64
	AccountID   int64
	ParentID    int64 // 0 when top level
	WaitFor     int64 // job that must finish before this one's units are queued; 0 for none
	Alias       string
	Kind        string // dialect-defined, e.g. "render", "rpa", "recording", "ai"
	Name        string // what users search by (scene name, process name, ...)
	Project     string // label or project the job belongs to
	Status      JobStatus
	PauseReason string // why a paused job is paused: "user", "arrears", "timeout", "test", ...
	Priority    int
	// MaxConcurrency caps how many units run at once; 0 means no cap.
	MaxConcurrency int
	MaxAttempts    int           // per unit, including the first run
	BlocklistAfter int           // failures of one worker in this job before it is blocklisted; 0 = never
	UnitTimeout    time.Duration // 0 = none
	JobTimeout     time.Duration // 0 = none
	// PendingTimeout is how long the job may stay queued without any unit starting (0 = forever);
	// PendingDeadline is when that wait ends, set at creation and when the job is queued again.
	PendingTimeout  time.Duration
	PendingDeadline *time.Time
	Spec            json.RawMessage
	Result          json.RawMessage
	CostMilli       int64
	Deleted         bool
	CreatedAt       time.Time
	UpdatedAt       time.Time
	StartedAt       *time.Time
	FinishedAt      *time.Time

	// Paid is how the job's charges were paid, summed over its ledger lines (Ledger).
	Paid Split
}

// Unit is one leasable piece of a job: a frame, a frame block, a queue item, a poll step.
type Unit struct {
	ID         int64
	JobID      int64
	AccountID  int64
	Index      int    // order within the job
	Name       string // e.g. frame number, block name
	Status     UnitStatus
	Priority   int // copied from the job so leasing needs no join
	Capability string
	Tag        string // when set, only workers carrying this tag may lease it
	// AnyTags, when it has two or more tags, lets a worker carrying any one of them lease the unit;
	// the unit's Tag is then AnyTagMarker. It is written at creation and not read back.
	AnyTags     []string
	Attempts    int
	MaxAttempts int
	// Lease state. Epoch is the fencing token: it grows with every lease, and a report carrying an
	// older epoch is refused.
	WorkerID     int64
	Epoch        int64
	LeaseExpires *time.Time
	// AvoidWorker is the worker the unit last failed on; it is not leased to it again before AvoidUntil
	// while another worker may take it.
	AvoidWorker int64
	AvoidUntil  *time.Time
	RunAfter    time.Time
	Deadline    *time.Time // optional ordering key after priority (queue items)
	Progress    float64    // 0..100
	Spec        json.RawMessage
	Result      json.RawMessage
	Outputs     json.RawMessage // {"name": {"hash": "...", "size": N}}
	Error       string
	Log         string
	CostMilli   int64
	CreatedAt   time.Time
	UpdatedAt   time.Time
	StartedAt   *time.Time
	FinishedAt  *time.Time
}

// AnyTagMarker is the Tag of a unit that carries several tags (Unit.AnyTags). It is not a tag a
// worker can carry: Lease ignores it among a worker's tags.
const AnyTagMarker = "*"

// WorkerStatus is how the server sees a worker.
type WorkerStatus string

const (
	WorkerIdle    WorkerStatus = "idle"
	WorkerBusy    WorkerStatus = "busy"
	WorkerOffline WorkerStatus = "offline"
)

// Worker is a registered agent (render node, robot, studio, recorder) or an in-process worker.
type Worker struct {
	ID           int64
	AccountID    int64 // 0 for a shared worker serving every account
	Name         string
	Kind         string // "render", "robot", "studio", "recorder", "inprocess", ...
	Capabilities []string
	Tags         []string
	Info         json.RawMessage // host name, IP, OS, software versions
	// Licence is the licence number an administrator issued (empty: none) and LicenceExpires its end
	// (nil: no end). Workers of the kinds the engine licenses lease nothing without a valid one.
	Licence        string
	LicenceExpires *time.Time
	// DrainedAt is when an administrator drained the worker (nil: not drained): it leases no new
	// units, and those it runs finish. It outlives the worker's registrations.
	DrainedAt     *time.Time
	Status        WorkerStatus
	LastHeartbeat time.Time
	CreatedAt     time.Time
	// Incarnation counts the worker's registrations: each starts a new one, and a worker token is good
	// only for the incarnation it was issued to.
	Incarnation int64
}

// Event is one line of the append-only history.
type Event struct {
	ID        int64
	At        time.Time
	AccountID int64
	JobID     int64
	UnitID    int64
	WorkerID  int64
	Type      string
	Data      json.RawMessage
}

// Schedule creates a job from Template each time Cron fires.
type Schedule struct {
	ID        int64
	AccountID int64
	Name      string
	Cron      string // Quartz-style with seconds
	Timezone  string
	Enabled   bool
	Template  json.RawMessage // engine.JobTemplate
	StartAt   *time.Time
	EndAt     *time.Time
	NextRun   *time.Time
	LastRun   *time.Time
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Record is a small dialect-owned document (a label, a render environment, a department, an asset, ...)
// kept in one generic table so that facades need no schema of their own for low-volume entities.
type Record struct {
	ID        int64
	AccountID int64
	Kind      string // e.g. "render.label", "rpa.department"
	Key       string // unique within (account, kind) when not empty
	ParentID  int64
	Data      json.RawMessage
	// Scope and Name are indexed copies of what the document's lists filter by (a department path,
	// a name in the form it is matched), set by the writer from the document: see RecordFilter.
	Scope     string
	Name      string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// BlobMeta records a blob the server holds, by content hash.
type BlobMeta struct {
	Hash        string
	Size        int64
	ContentType string
	CreatedAt   time.Time
}

// Split is how an amount was paid, in milli units: from the coupon, the balance and the credit, and
// what was left unpaid (owed: arrears). On a ledger line the fields are what the line took from the
// account: positive for a charge or a settlement (whose UnpaidMilli is negative: the debt it paid),
// negative for a refund or a top-up.
type Split struct {
	CouponMilli, BalanceMilli, CreditMilli, UnpaidMilli int64
}

// Add returns the field-wise sum of s and o.
func (s Split) Add(o Split) Split {
	return Split{s.CouponMilli + o.CouponMilli, s.BalanceMilli + o.BalanceMilli, s.CreditMilli + o.CreditMilli,
		s.UnpaidMilli + o.UnpaidMilli}
}

// Neg returns s with every field negated: the line that undoes s.
func (s Split) Neg() Split {
	return Split{-s.CouponMilli, -s.BalanceMilli, -s.CreditMilli, -s.UnpaidMilli}
}

// Zero reports whether s moves nothing.
func (s Split) Zero() bool { return s == Split{} }

// LedgerKind says what a ledger line records.
type LedgerKind string

// Ledger line kinds.
const (
	LedgerCharge LedgerKind = "charge" // work paid for: a completed unit, or a charge of its own (on submit)
	LedgerRefund LedgerKind = "refund" // a charge given back
	LedgerSettle LedgerKind = "settle" // arrears paid after a top-up
	LedgerTopUp  LedgerKind = "topup"  // funds added (or taken) by an administrator
)

// LedgerLine is one entry of an account's append-only ledger.
type LedgerLine struct {
	ID        int64
	AccountID int64 // who paid (or was paid)
	JobID     int64 // 0 when not tied to a job
	UnitID    int64 // 0 when not tied to a unit
	Kind      LedgerKind
	Split
	// Ref, when set, is unique across the ledger: what makes a charge, refund or settlement happen once.
	Ref       string
	Note      string
	CreatedAt time.Time
}
