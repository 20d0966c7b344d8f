// Package engine owns the life of work: jobs split into units, units leased to workers with a fencing
// epoch, retried with backoff, steered away from workers that failed them, blocklisted, timed out,
// paused, stopped and restarted; job status derived from unit status; schedules; billing of finished
// units; leader-elected maintenance services. Facades (the five dialects) and the agent protocol call
// it; it knows no dialect. Persistence is the store's.
package engine

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	lru "github.com/hashicorp/golang-lru/v2"

	"taskcenter/internal/store"
)

// Config tunes the engine. Zero fields take the defaults of DefaultConfig.
type Config struct {
	LeaseFor     time.Duration // how long a lease lives without a heartbeat or progress report
	Heartbeat    time.Duration // how often agents are asked to heartbeat
	RetryBase    time.Duration // first retry delay; doubles per attempt
	RetryMax     time.Duration // cap of the retry delay
	AvoidFor     time.Duration // how long a unit avoids the worker it failed on
	SweepEvery   time.Duration // leader sweep period
	OfflineAfter time.Duration // a worker with no heartbeat for this long is offline
	LeaderTTL    time.Duration // leadership term; renewed every sweep
	IdleRecheck  time.Duration // a waiting lease re-checks this often for units whose retry delay passed
	Holder       string        // this process's name for leadership
	// LeaseGrace is how long a freshly leased unit may go unlisted by its worker's heartbeats before it
	// is taken back (the lease answer may still be on its way); default Heartbeat.
	LeaseGrace time.Duration
	// Now, when set, is the engine's clock instead of the wall clock (tests move time on).
	Now func() time.Time
	// LeaseConcurrency caps this process's lease queries in flight at once. More leasers than that
	// only scan past each other's locked rows (PostgreSQL) or queue for the writer (SQLite); the rest
	// wait their turn in the process instead.
	LeaseConcurrency int
	// UnitsPerJob and JobsInFlight are the account limits of accounts whose settings set none
	// (DefaultUnitsPerJob, DefaultJobsInFlight when zero).
	UnitsPerJob, JobsInFlight int
}

// DefaultConfig is what a server runs with unless told otherwise.
func DefaultConfig() Config {
	return Config{
		LeaseFor:     30 * time.Second,
		Heartbeat:    10 * time.Second,
		RetryBase:    2 * time.Second,
		RetryMax:     5 * time.Minute,
		AvoidFor:     time.Minute,
		SweepEvery:   time.Second,
		OfflineAfter: 2 * time.Minute,
		LeaderTTL:    10 * time.Second,
		IdleRecheck:  5 * time.Second,

		LeaseConcurrency: 4,
	}
}

func (c Config) withDefaults() Config {
	d := DefaultConfig()
	set := func(v *time.Duration, def time.Duration) {
		if *v <= 0 {
			*v = def
		}
	}
	set(&c.LeaseFor, d.LeaseFor)
	set(&c.Heartbeat, d.Heartbeat)
	set(&c.RetryBase, d.RetryBase)
	set(&c.RetryMax, d.RetryMax)
	set(&c.AvoidFor, d.AvoidFor)
	set(&c.SweepEvery, d.SweepEvery)
	set(&c.OfflineAfter, d.OfflineAfter)
	set(&c.LeaderTTL, d.LeaderTTL)
	set(&c.IdleRecheck, d.IdleRecheck)
	set(&c.LeaseGrace, c.Heartbeat)
	if c.LeaseConcurrency <= 0 {
		c.LeaseConcurrency = d.LeaseConcurrency
	}
	if c.UnitsPerJob <= 0 {
		c.UnitsPerJob = DefaultUnitsPerJob
	}
	if c.JobsInFlight <= 0 {
		c.JobsInFlight = DefaultJobsInFlight
	}
	return c
}

// KindHooks let a dialect take part in the life of its kind of job without the engine knowing the
// dialect.
type KindHooks struct {
	// UnitCost prices a finished unit from its node time and names the account that pays. A cost of 0
	// charges nothing. How each charge was paid is on the job (store.Job.Paid) and in the ledger.
	UnitCost func(ctx context.Context, j store.Job, u store.Unit, seconds float64) (payer int64, costMilli int64)
	// JobFinished runs once, on the process that finished the job, after it reached a terminal status.
	JobFinished func(ctx context.Context, j store.Job)
	// Open jobs never finish on their own: a work queue takes new items at any time.
	Open bool
	// Internal jobs are work the server does for a job the account already holds (a scene analysis
	// run by an in-process worker): like open jobs, they count against no limit of jobs in flight.
	Internal bool
}

// Engine runs work. It is safe for concurrent use.
type Engine struct {
	store   store.Store
	cfg     Config
	log     *slog.Logger
	now     func() time.Time
	wake    *waker
	metrics *Metrics

	mu           sync.RWMutex
	kinds        map[string]KindHooks
	licenceKinds map[string]func(store.Worker) bool // worker kinds that lease only with a valid licence

	leader   atomic.Bool
	maint    services // the maintenance services the leader runs
	draining atomic.Bool
	// leaseSlots holds a token per lease query in flight (Config.LeaseConcurrency).
	leaseSlots chan struct{}
	// jobKinds remembers the kind of recently reported jobs. A job's kind never changes, so the
	// cache needs no invalidation; it spares a read per report for kinds that are neither priced nor
	// finished by their units (queues).
	jobKinds *lru.Cache[int64, string]
	// inproc lists this process's in-process workers (inprocess.go).
	inproc inProcessSet
}

// jobKindCacheSize bounds jobKinds: the jobs being reported on at one time.
const jobKindCacheSize = 4096

// Drain makes waiting and future leases return at once with nothing, so that a server shutting down
// hands out no unit it could not deliver. Reports are still taken.
func (e *Engine) Drain() {
	e.draining.Store(true)
	e.wake.wake()
}

// Topic is the notification topic that wakes waiting leases on every replica.
const Topic = "taskcenter_units"

// New builds an engine. metrics may be nil.
func New(s store.Store, cfg Config, log *slog.Logger, metrics *Metrics) *Engine {
	if log == nil {
		log = slog.Default()
	}
	cfg = cfg.withDefaults()
	kinds, err := lru.New[int64, string](jobKindCacheSize)
	if err != nil {
		panic(err) // only for a size below 1
	}
	now := func() time.Time { return time.Now().UTC().Truncate(time.Millisecond) }
	if cfg.Now != nil {
		now = func() time.Time { return cfg.Now().UTC().Truncate(time.Millisecond) }
	}
	e := &Engine{
		store:      s,
		cfg:        cfg,
		log:        log,
		now:        now,
		wake:       newWaker(),
		metrics:    metrics,
		kinds:      map[string]KindHooks{},
		leaseSlots: make(chan struct{}, cfg.LeaseConcurrency),
		jobKinds:   kinds,

		licenceKinds: map[string]func(store.Worker) bool{},
	}
	e.maint.list = e.builtinServices()
	return e
}

// jobKind returns the kind of job id, from memory when it was seen lately.
func (e *Engine) jobKind(ctx context.Context, id int64) (string, error) {
	if k, ok := e.jobKinds.Get(id); ok {
		return k, nil
	}
	j, err := e.store.GetJob(ctx, id)
	if err != nil {
		return "", fmt.Errorf("load job %d: %w", id, err)
	}
	e.jobKinds.Add(id, j.Kind)
	return j.Kind, nil
}

// Config returns the effective configuration.
func (e *Engine) Config() Config { return e.cfg }

// Now returns the engine's clock reading.
func (e *Engine) Now() time.Time { return e.now() }

// IsLeader reports whether this process currently runs the maintenance services.
func (e *Engine) IsLeader() bool { return e.leader.Load() }

// RegisterKind installs a dialect's hooks for jobs of kind.
func (e *Engine) RegisterKind(kind string, h KindHooks) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.kinds[kind] = h
}

func (e *Engine) hooks(kind string) KindHooks {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.kinds[kind]
}

func (e *Engine) hasCostHooks() bool {
	e.mu.RLock()
	defer e.mu.RUnlock()
	for _, h := range e.kinds {
		if h.UnitCost != nil {
			return true
		}
	}
	return false
}

// unpriced reports whether a completion is known to need no price: its job is named and its kind
// has no UnitCost hook.
func (e *Engine) unpriced(ctx context.Context, c Completion) bool {
	if c.JobID == 0 {
		return false
	}
	kind, err := e.jobKind(ctx, c.JobID)
	return err == nil && e.hooks(kind).UnitCost == nil
}

// ErrInvalid wraps a request the engine refuses because of what it asks for. It is the store's
// ErrInvalid, so that text the store refuses (NUL bytes, invalid UTF-8) answers as any other invalid
// parameter at every door.
var ErrInvalid = store.ErrInvalid

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// JobSpec describes a job to submit.
type JobSpec struct {
	AccountID      int64    `json:"account_id"`
	ParentID       int64    `json:"parent_id,omitempty"`
	WaitFor        int64    `json:"wait_for,omitempty"`
	Kind           string   `json:"kind"`
	Alias          string   `json:"alias,omitempty"`
	Name           string   `json:"name,omitempty"`
	Project        string   `json:"project,omitempty"`
	Priority       int      `json:"priority,omitempty"`
	MaxConcurrency int      `json:"max_concurrency,omitempty"`
	MaxAttempts    int      `json:"max_attempts,omitempty"`
	BlocklistAfter int      `json:"blocklist_after,omitempty"`
	UnitTimeout    Duration `json:"unit_timeout,omitempty"`
	JobTimeout     Duration `json:"job_timeout,omitempty"`
	// PendingTimeout ends the job (cancelled, reason ReasonPendingTimeout) when no unit has started
	// this long after it was queued.
	PendingTimeout Duration        `json:"pending_timeout,omitempty"`
	Paused         bool            `json:"paused,omitempty"`
	PauseReason    PauseReason     `json:"pause_reason,omitempty"`
	Spec           json.RawMessage `json:"spec,omitempty"`
	Units          []UnitSpec      `json:"units"`
}

// UnitSpec describes one unit of a job.
type UnitSpec struct {
	Name       string `json:"name,omitempty"`
	Capability string `json:"capability"`
	Tag        string `json:"tag,omitempty"`
	// AnyTags lets a worker carrying any one of these tags lease the unit (candidate workers); it
	// excludes Tag.
	AnyTags  []string        `json:"any_tags,omitempty"`
	Priority int             `json:"priority,omitempty"`
	Deadline *time.Time      `json:"deadline,omitempty"`
	RunAfter *time.Time      `json:"run_after,omitempty"`
	Spec     json.RawMessage `json:"spec,omitempty"`
}

// Duration is a time.Duration that reads and writes JSON as a Go duration string ("90s") or seconds.
type Duration time.Duration

// MarshalJSON implements json.Marshaler.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON implements json.Unmarshaler.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var secs float64
	if err := json.Unmarshal(b, &secs); err == nil {
		// Beyond about 292 years the nanoseconds overflow, and a huge limit would read as negative.
		ns := secs * float64(time.Second)
		if math.IsNaN(ns) || ns >= math.MaxInt64 || ns <= math.MinInt64 {
			return fmt.Errorf("duration %s s is out of range: at most %d seconds", b, int64(math.MaxInt64/int64(time.Second)))
		}
		*d = Duration(ns)
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return errors.New("duration must be a number of seconds or a string like \"90s\"")
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("duration: %w", err)
	}
	*d = Duration(v)
	return nil
}

func (s *JobSpec) validate(open bool) error {
	switch {
	case s.AccountID <= 0:
		return invalid("account is required")
	case s.Kind == "":
		return invalid("kind is required")
	case len(s.Units) == 0 && !open:
		return invalid("a job needs at least one unit")
	case s.MaxConcurrency < 0:
		return invalid("max_concurrency must not be negative")
	case s.MaxAttempts < 0 || s.MaxAttempts > 100:
		return invalid("max_attempts must be between 0 and 100")
	case s.BlocklistAfter < 0:
		return invalid("blocklist_after must not be negative")
	case s.UnitTimeout < 0 || s.JobTimeout < 0 || s.PendingTimeout < 0:
		return invalid("time limits must not be negative")
	case len(s.Name) > 1000 || len(s.Project) > 1000 || len(s.Alias) > 200:
		return invalid("name, project or alias too long")
	}
	return validateUnits(s.Units)
}

// maxAnyTags bounds the candidate tags of one unit.
const maxAnyTags = 1000

func validateUnits(units []UnitSpec) error {
	for i, u := range units {
		switch {
		case u.Capability == "":
			return invalid("units[%d]: capability is required", i)
		case u.Tag == store.AnyTagMarker:
			return invalid("units[%d]: tag %q is reserved", i, u.Tag)
		case u.Tag != "" && len(u.AnyTags) > 0:
			return invalid("units[%d]: tag and any_tags exclude each other", i)
		case len(u.AnyTags) > maxAnyTags:
			return invalid("units[%d]: at most %d any_tags", i, maxAnyTags)
		}
		for _, t := range u.AnyTags {
			if t == "" || t == store.AnyTagMarker {
				return invalid("units[%d]: any_tags holds an empty or reserved tag", i)
			}
		}
	}
	return nil
}

func (s *JobSpec) toStore() (store.Job, []store.Unit) {
	j := store.Job{
		AccountID: s.AccountID, ParentID: s.ParentID, WaitFor: s.WaitFor, Kind: s.Kind, Alias: s.Alias,
		Name: s.Name, Project: s.Project, Priority: s.Priority, MaxConcurrency: s.MaxConcurrency,
		MaxAttempts: s.MaxAttempts, BlocklistAfter: s.BlocklistAfter,
		UnitTimeout: time.Duration(s.UnitTimeout), JobTimeout: time.Duration(s.JobTimeout), Spec: s.Spec,
		PendingTimeout: time.Duration(s.PendingTimeout),
		Status:         store.JobQueued,
	}
	if j.MaxAttempts == 0 {
		j.MaxAttempts = 3
	}
	if s.Paused {
		j.Status = store.JobPaused
		j.PauseReason = string(cmp.Or(s.PauseReason, PauseUser))
	}
	return j, unitsFromSpecs(s.Units, 0)
}

func unitsFromSpecs(specs []UnitSpec, firstIndex int) []store.Unit {
	units := make([]store.Unit, len(specs))
	for i, u := range specs {
		units[i] = store.Unit{
			Index: firstIndex + i, Name: u.Name, Capability: u.Capability, Tag: u.Tag, AnyTags: u.AnyTags, Priority: u.Priority,
			Deadline: u.Deadline, Spec: u.Spec,
		}
		if u.RunAfter != nil {
			units[i].RunAfter = *u.RunAfter
		}
	}
	return units
}

// Submit creates a job and its units and wakes waiting workers.
func (e *Engine) Submit(ctx context.Context, s JobSpec) (store.Job, error) {
	return e.submit(ctx, e.store, s)
}

func (e *Engine) submit(ctx context.Context, st store.Store, s JobSpec) (store.Job, error) {
	open := e.hooks(s.Kind).Open
	if err := s.validate(open); err != nil {
		return store.Job{}, err
	}
	if err := e.checkSubmit(ctx, st, s, open); err != nil {
		return store.Job{}, err
	}
	j, units := s.toStore()
	now := e.now()
	j, err := st.CreateJob(ctx, j, units, now)
	if err != nil {
		return store.Job{}, fmt.Errorf("create job: %w", err)
	}
	// The event goes through st: inside a schedule's transaction, a write on another connection
	// would wait for that transaction (forever on SQLite, whose one writer the transaction holds).
	ev := store.Event{At: now, AccountID: j.AccountID, JobID: j.ID, Type: "job.created",
		Data: mustJSON(map[string]any{"kind": j.Kind, "units": len(units), "status": j.Status})}
	if err := st.AppendEvents(ctx, []store.Event{ev}); err != nil {
		return store.Job{}, fmt.Errorf("record job %d created: %w", j.ID, err)
	}
	e.notify(ctx)
	return j, nil
}

// AddUnits appends units to a job (work queue items) and wakes waiting workers.
func (e *Engine) AddUnits(ctx context.Context, jobID int64, specs []UnitSpec) ([]store.Unit, error) {
	if err := validateUnits(specs); err != nil {
		return nil, err
	}
	if err := e.checkAddUnits(ctx, jobID, len(specs)); err != nil {
		return nil, err
	}
	units, err := e.store.AddUnits(ctx, jobID, unitsFromSpecs(specs, 0), e.now())
	if err != nil {
		return nil, fmt.Errorf("add units to job %d: %w", jobID, err)
	}
	e.notify(ctx)
	return units, nil
}

// notify wakes this process's waiting leases and, through the store, every other replica's.
func (e *Engine) notify(ctx context.Context) {
	e.wake.wake()
	if err := e.store.Notify(ctx, Topic, ""); err != nil {
		e.log.Warn("notify replicas", "err", err)
	}
}

// Lease hands up to max ready units to worker w, waiting up to wait for one to become ready.
func (e *Engine) Lease(ctx context.Context, w store.Worker, max int, wait time.Duration) ([]store.Unit, error) {
	deadline := time.Now().Add(wait)
	for {
		if e.draining.Load() {
			return nil, nil
		}
		// Take the wake-up channel before looking, so that work arriving between the look and the wait
		// is not missed.
		woken := e.wake.wait()
		if e.needsLicence(w.Kind) {
			ok, err := e.licensed(ctx, w.ID)
			if err != nil {
				return nil, err
			}
			if !ok {
				// An unlicensed worker waits out its long poll with nothing rather than asking again at
				// once; a wake-up (a licence issued) makes it look again.
				if !e.idle(ctx, woken, deadline) {
					return nil, nil
				}
				continue
			}
		}
		start := time.Now()
		select {
		case e.leaseSlots <- struct{}{}:
		case <-ctx.Done():
			return nil, nil
		}
		// The lease runs to its end even when the caller goes: a commit cancelled half-way could take
		// units nobody hears of. Units leased for a caller that is gone are handed back below.
		units, err := e.store.Lease(context.WithoutCancel(ctx), store.LeaseRequest{
			WorkerID: w.ID, Capabilities: w.Capabilities, Tags: w.Tags, AccountID: w.AccountID,
			Max: max, LeaseFor: e.cfg.LeaseFor, Now: e.now(),
		})
		<-e.leaseSlots
		if err != nil {
			return nil, fmt.Errorf("lease units for worker %d: %w", w.ID, err)
		}
		e.metrics.observeLease(time.Since(start), len(units))
		if len(units) > 0 && ctx.Err() != nil {
			e.ReturnLeased(ctx, w.ID, units)
			return nil, nil
		}
		if len(units) > 0 {
			return units, nil
		}
		if !e.idle(ctx, woken, deadline) {
			return nil, nil
		}
	}
}

// idle waits for a wake-up, the next idle re-check or the deadline; it reports false when the lease
// should give up (deadline passed or ctx done).
func (e *Engine) idle(ctx context.Context, woken <-chan struct{}, deadline time.Time) bool {
	left := time.Until(deadline)
	if left <= 0 {
		return false
	}
	t := time.NewTimer(min(left, e.cfg.IdleRecheck))
	defer t.Stop()
	select {
	case <-woken:
	case <-t.C:
	case <-ctx.Done():
		return false
	}
	return true
}

// LeaseJob pops up to max ready units of one job for a caller that is not an agent (a process popping
// queue items) and holds them for leaseFor (0: the configured LeaseFor), since such a caller does not
// heartbeat. It never waits.
func (e *Engine) LeaseJob(ctx context.Context, workerID, jobID int64, capabilities []string, max int, leaseFor time.Duration) ([]store.Unit, error) {
	if leaseFor <= 0 {
		leaseFor = e.cfg.LeaseFor
	}
	units, err := e.store.Lease(ctx, store.LeaseRequest{
		WorkerID: workerID, Capabilities: capabilities, JobID: jobID, Max: max, LeaseFor: leaseFor, Now: e.now(),
	})
	if err != nil {
		return nil, fmt.Errorf("pop units of job %d: %w", jobID, err)
	}
	e.metrics.observeLease(0, len(units))
	return units, nil
}

// Completion is a unit reported done by its worker.
type Completion struct {
	UnitID   int64
	Epoch    int64
	WorkerID int64 // when non-zero, the unit must be leased to this worker
	// JobID, when the reporter has read the unit, is its job: it lets the engine skip loading the
	// unit to learn whether its kind is priced. Zero when unknown.
	JobID   int64
	Result  json.RawMessage
	Outputs json.RawMessage
	Seconds float64
}

// Complete records finished units. errs has one entry per completion: nil, or store.ErrStale when the
// lease was no longer the reporter's.
func (e *Engine) Complete(ctx context.Context, cs []Completion) ([]error, error) {
	if len(cs) == 0 {
		return nil, nil
	}
	now := e.now()
	priced, err := e.price(ctx, cs)
	if err != nil {
		return nil, err
	}
	scs := make([]store.Completion, len(cs))
	for i, c := range cs {
		scs[i] = store.Completion{UnitID: c.UnitID, Epoch: c.Epoch, WorkerID: c.WorkerID, Result: c.Result, Outputs: c.Outputs, CostMilli: priced[c.UnitID].cost}
	}
	var errs []error
	var jobIDs []int64
	var debts []debt
	if len(priced) == 0 {
		errs, jobIDs, err = e.store.CompleteUnits(ctx, scs, now)
	} else {
		// The completions and their charges commit together: a crash between them cannot lose a charge,
		// and a report repeated after one (the agent's outbox) finds its unit done and is not charged.
		err = e.store.InTx(ctx, func(tx store.Store) error {
			var err error
			if errs, jobIDs, err = tx.CompleteUnits(ctx, scs, now); err != nil {
				return err
			}
			debts, err = e.chargeCompleted(ctx, tx, cs, errs, priced, now)
			return err
		})
	}
	if err != nil {
		return nil, fmt.Errorf("complete units: %w", err)
	}
	done := 0
	for _, err := range errs {
		if err == nil {
			done++
		}
	}
	e.metrics.observeCompletions(done)
	e.stopInArrears(ctx, debts)
	// The check runs after the completions committed: whichever reporter commits last sees every unit
	// finished. The leader's sweep is the backstop for a check that failed.
	for _, id := range jobIDs {
		if err := e.finishIfDone(ctx, id); err != nil {
			e.log.Warn("finish job", "job", id, "err", err)
		}
	}
	return errs, nil
}

// finishIfDone moves a job to its terminal status once none of its units remains to run.
func (e *Engine) finishIfDone(ctx context.Context, jobID int64) error {
	if kind, err := e.jobKind(ctx, jobID); err != nil || e.hooks(kind).Open {
		return err // an open job (a queue) does not end when its units do
	}
	more, err := e.store.HasUnfinishedUnits(ctx, jobID)
	if err != nil || more {
		return err
	}
	return e.finish(ctx, jobID)
}

func (e *Engine) finish(ctx context.Context, jobID int64) error {
	j, err := e.store.GetJob(ctx, jobID)
	if err != nil {
		return err
	}
	if j.Status.Terminal() || j.Status == store.JobPaused || e.hooks(j.Kind).Open {
		return nil
	}
	counts, err := e.store.UnitCounts(ctx, []int64{jobID})
	if err != nil {
		return err
	}
	st := DeriveJobStatus(counts[jobID], false, false)
	if !st.Terminal() {
		return nil
	}
	now := e.now()
	j, err = e.store.PatchJob(ctx, jobID, store.JobPatch{
		Status: &st, FinishedAt: &now, IfStatus: []store.JobStatus{store.JobQueued, store.JobRunning, store.JobWaiting},
	}, now)
	if errors.Is(err, store.ErrStale) {
		return nil // another reporter or the sweep finished it first
	}
	if err != nil {
		return fmt.Errorf("finish job %d: %w", jobID, err)
	}
	e.record(ctx, store.Event{At: now, AccountID: j.AccountID, JobID: j.ID, Type: "job.finished",
		Data: mustJSON(map[string]any{"status": st, "units": counts[jobID]})})
	released, err := e.store.ReleaseWaiters(ctx, jobID, now)
	if err != nil {
		e.log.Warn("release jobs waiting for job", "job", jobID, "err", err)
	}
	if len(released) > 0 {
		e.notify(ctx)
	}
	if h := e.hooks(j.Kind); h.JobFinished != nil {
		h.JobFinished(ctx, j)
	}
	return nil
}

// Failure is a failed attempt reported by a worker.
type Failure struct {
	UnitID   int64
	Epoch    int64
	WorkerID int64
	Error    string
	// Result, when set, replaces the unit's result: what the reporter wants kept with the failure
	// (who failed it, a partial result).
	Result    json.RawMessage
	Permanent bool // do not retry: the input is bad
	TimedOut  bool // the unit ran past its limit
}

// Fail records a failed attempt: the unit is retried after a backoff, away from this worker, while
// attempts remain, and fails for good otherwise. A worker that fails too many units of one job is
// blocklisted for it.
func (e *Engine) Fail(ctx context.Context, f Failure) error {
	u, err := e.store.GetUnit(ctx, f.UnitID)
	if err != nil {
		return err
	}
	if u.Status != store.UnitRunning || u.Epoch != f.Epoch || (f.WorkerID != 0 && u.WorkerID != f.WorkerID) {
		return store.ErrStale
	}
	j, err := e.store.GetJob(ctx, u.JobID)
	if err != nil {
		return err
	}
	now := e.now()
	f.Error = LogText(f.Error) // a failure's message is the end of the unit's output
	uf := store.UnitFailure{UnitID: u.ID, Epoch: f.Epoch, Error: f.Error, Result: f.Result, AvoidUntil: now.Add(e.cfg.AvoidFor)}
	switch {
	case f.TimedOut:
		uf.Final = store.UnitTimedOut
	case !f.Permanent && u.Attempts < u.MaxAttempts:
		uf.Retry = true
		uf.RetryAt = now.Add(e.backoff(u.Attempts))
	default:
		uf.Final = store.UnitFailed
	}
	if _, err := e.store.FailUnit(ctx, uf, now); err != nil {
		return fmt.Errorf("fail unit %d: %w", u.ID, err)
	}
	e.metrics.observeFailure()
	e.record(ctx, store.Event{At: now, AccountID: u.AccountID, JobID: u.JobID, UnitID: u.ID, WorkerID: u.WorkerID,
		Type: "unit.failed", Data: mustJSON(map[string]any{"error": f.Error, "attempt": u.Attempts, "retry": uf.Retry, "final": uf.Final})})
	if u.WorkerID != 0 {
		blocked, err := e.store.RecordWorkerFailure(ctx, u.JobID, u.WorkerID, j.BlocklistAfter, now)
		if err != nil {
			e.log.Warn("record worker failure", "job", u.JobID, "worker", u.WorkerID, "err", err)
		} else if blocked {
			e.record(ctx, store.Event{At: now, AccountID: u.AccountID, JobID: u.JobID, WorkerID: u.WorkerID, Type: "worker.blocklisted"})
		}
	}
	if !uf.Retry {
		return e.finishIfDone(ctx, u.JobID)
	}
	return nil
}

// backoff is the delay before attempt n+1: RetryBase doubling per attempt, capped at RetryMax.
func (e *Engine) backoff(attempts int) time.Duration {
	d := e.cfg.RetryBase
	for i := 1; i < attempts && d < e.cfg.RetryMax; i++ {
		d *= 2
	}
	return min(d, e.cfg.RetryMax)
}

// Progress records a running unit's progress and log, and extends its lease. A non-zero workerID must
// hold the unit: a worker cannot report on another's lease even if it guesses the epoch.
func (e *Engine) Progress(ctx context.Context, workerID, unitID, epoch int64, progress float64, log string) error {
	now := e.now()
	return e.store.ReportProgress(ctx, unitID, epoch, workerID, progress, LogText(log), now.Add(e.cfg.LeaseFor), now)
}

// LogText is a program's output as the store keeps text: without NUL bytes and invalid UTF-8,
// which the store refuses (store.ErrInvalid). A unit that prints them keeps its progress and the
// rest of its log.
func LogText(s string) string {
	if strings.IndexByte(s, 0) < 0 && utf8.ValidString(s) {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, ""), "\x00", "")
}

// SetOutputs records a running unit's uploaded outputs; a non-zero workerID must hold the unit.
func (e *Engine) SetOutputs(ctx context.Context, workerID, unitID, epoch int64, outputs json.RawMessage) error {
	return e.store.SetUnitOutputs(ctx, unitID, epoch, workerID, outputs, e.now())
}

// Heartbeat records that a worker is alive, extends the leases of the units it lists (running or
// holding unsent reports), takes back its units it does not list once they are older than LeaseGrace,
// and returns the listed units that are no longer its own (to stop).
func (e *Engine) Heartbeat(ctx context.Context, w store.Worker, running []store.HeldUnit) ([]store.HeldUnit, error) {
	now := e.now()
	status := store.WorkerIdle
	if len(running) > 0 {
		status = store.WorkerBusy
	}
	if err := e.store.TouchWorker(ctx, w.ID, status, now); err != nil {
		return nil, fmt.Errorf("heartbeat of worker %d: %w", w.ID, err)
	}
	held, err := e.syncLeases(ctx, store.LeaseSync{
		WorkerID: w.ID, Held: running, Until: now.Add(e.cfg.LeaseFor), LeasedBefore: now.Add(-e.cfg.LeaseGrace),
		Capabilities: w.Capabilities, Error: "lease lost: its worker does not run it", Now: now,
	})
	if err != nil {
		return nil, err
	}
	valid := make(map[store.HeldUnit]bool, len(held))
	for _, h := range held {
		valid[store.HeldUnit{UnitID: h.UnitID, Epoch: h.Epoch}] = true
	}
	var cancel []store.HeldUnit
	for _, r := range running {
		if !valid[store.HeldUnit{UnitID: r.UnitID, Epoch: r.Epoch}] {
			cancel = append(cancel, r)
		}
	}
	return cancel, nil
}

// syncLeases applies r and deals with the units it took back: history, waiting leases, jobs that
// ended because a unit ran out of attempts.
func (e *Engine) syncLeases(ctx context.Context, r store.LeaseSync) ([]store.HeldUnit, error) {
	kept, reclaimed, err := e.store.SyncLeases(ctx, r)
	if err != nil {
		return nil, fmt.Errorf("sync leases of worker %d: %w", r.WorkerID, err)
	}
	if len(reclaimed) == 0 {
		return kept, nil
	}
	e.metrics.observeExpired(len(reclaimed))
	evs := make([]store.Event, len(reclaimed))
	var jobs []int64
	for i, u := range reclaimed {
		evs[i] = store.Event{At: r.Now, AccountID: u.AccountID, JobID: u.JobID, UnitID: u.ID, WorkerID: u.WorkerID,
			Type: "unit.lease_lost", Data: mustJSON(map[string]any{"epoch": u.Epoch, "attempt": u.Attempts})}
		if !slices.Contains(jobs, u.JobID) {
			jobs = append(jobs, u.JobID)
		}
	}
	if err := e.store.AppendEvents(ctx, evs); err != nil {
		e.log.Warn("append events", "type", "unit.lease_lost", "err", err)
	}
	e.log.Info("took back units their worker does not hold", "worker", r.WorkerID, "units", len(reclaimed))
	e.notify(ctx)
	for _, id := range jobs { // a unit out of attempts failed: its job may be over
		if err := e.finishIfDone(ctx, id); err != nil {
			e.log.Warn("finish job", "job", id, "err", err)
		}
	}
	return kept, nil
}

// ReturnLeased hands back units just leased to worker workerID whose lease answer could not be
// delivered (the caller hung up), as a release does: the attempt is not counted. It runs even when
// ctx is done.
func (e *Engine) ReturnLeased(ctx context.Context, workerID int64, units []store.Unit) {
	held := make([]store.HeldUnit, len(units))
	for i, u := range units {
		held[i] = store.HeldUnit{UnitID: u.ID, JobID: u.JobID, Epoch: u.Epoch}
	}
	if _, err := e.Release(context.WithoutCancel(ctx), workerID, held); err != nil {
		// The worker's next heartbeat, which does not list them, takes them back.
		e.log.Warn("hand back undelivered units", "worker", workerID, "units", len(units), "err", err)
	}
}

// Release hands a shutting-down worker's units back to the queue without counting the attempt.
func (e *Engine) Release(ctx context.Context, workerID int64, held []store.HeldUnit) (int, error) {
	n, err := e.store.ReleaseUnits(ctx, workerID, held, e.now())
	if err != nil {
		return 0, fmt.Errorf("release units of worker %d: %w", workerID, err)
	}
	if n > 0 {
		e.notify(ctx)
	}
	return n, nil
}

// RegisterWorker records an agent and its capabilities as a new incarnation of the worker of its
// account and name. The previous incarnation's units are taken back at once, except those in held:
// the ones the registering agent still runs or holds unsent reports for.
func (e *Engine) RegisterWorker(ctx context.Context, w store.Worker, held ...store.HeldUnit) (store.Worker, error) {
	if err := checkWorker(w); err != nil {
		return store.Worker{}, err
	}
	return e.registerWorker(ctx, w, held...)
}

func (e *Engine) registerWorker(ctx context.Context, w store.Worker, held ...store.HeldUnit) (store.Worker, error) {
	now := e.now()
	reg, err := e.store.RegisterWorker(ctx, w, now)
	if err != nil {
		return store.Worker{}, fmt.Errorf("register worker %q: %w", w.Name, err)
	}
	w = reg
	e.record(ctx, store.Event{At: now, WorkerID: w.ID, Type: "worker.registered",
		Data: mustJSON(map[string]any{"name": w.Name, "kind": w.Kind, "capabilities": w.Capabilities, "incarnation": w.Incarnation})})
	if _, err := e.syncLeases(ctx, store.LeaseSync{
		WorkerID: w.ID, Held: held, Until: now.Add(e.cfg.LeaseFor), AnyCapability: true,
		Error: "lease lost: its worker restarted", Now: now,
	}); err != nil {
		return store.Worker{}, fmt.Errorf("register worker %q: %w", w.Name, err)
	}
	return w, nil
}

// record appends ev to the history. History is best effort here: a failure is logged, not returned,
// so that it never undoes the change it describes.
func (e *Engine) record(ctx context.Context, ev store.Event) {
	if err := e.store.AppendEvents(ctx, []store.Event{ev}); err != nil {
		e.log.Warn("append event", "type", ev.Type, "err", err)
	}
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("marshal event data: %v", err)) // only engine-built values reach here
	}
	return b
}

// waker broadcasts "work may be ready" to every waiting lease in this process.
type waker struct {
	mu sync.Mutex
	ch chan struct{}
}

func newWaker() *waker { return &waker{ch: make(chan struct{})} }

func (w *waker) wait() <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.ch
}

func (w *waker) wake() {
	w.mu.Lock()
	defer w.mu.Unlock()
	close(w.ch)
	w.ch = make(chan struct{})
}
