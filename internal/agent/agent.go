// Package agent owns the worker side of the agent protocol (api/agent.yaml): a Client for the
// server's /agent/v1 endpoints and Run, the loop of a render (or other) node that registers,
// heartbeats, leases units while it has free slots, runs them with the Executor registered for their
// capability, reports progress and logs, uploads outputs, and keeps finished-unit reports in an
// on-disk outbox until the server acknowledges them. The executors themselves live in
// internal/agent/executor.
package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"sync"
	"time"

	"taskcenter/internal/agentapi"
)

// Config configures Run.
type Config struct {
	// ServerURL is the server's base URL, e.g. https://tasks.example.com.
	ServerURL string
	// Token is the enrollment token for registration.
	Token string
	// Name identifies the agent to people; default the host name.
	Name string
	// Kind is the worker kind; default "render".
	Kind string
	// Tags restrict which units the server hands out (units with a tag go to workers carrying it).
	Tags []string
	// Info adds fields to the registration's host description (a robot's machineCode, user and
	// version); the detected host, os, ip, cpus, slots and software are not overridden.
	Info map[string]string
	// WorkDir holds the outbox, the input cache and the units' scratch directories; default
	// <user cache dir>/taskcenter-agent.
	WorkDir string
	// Slots is how many units run at once; default 1.
	Slots int
	// Executors maps a capability to the executor running its units (see package executor:
	// executor.Defaults). The advertised capabilities are these keys, less the ones naming software
	// that was not found (blender, ffmpeg).
	Executors map[string]Executor
	// HTTPClient is used for every call; default a client without overall timeout.
	HTTPClient *http.Client
	// BackoffMin and BackoffMax bound the retry delay when the server is unreachable or failing;
	// defaults 1s and 1m.
	BackoffMin, BackoffMax time.Duration
	// ProgressInterval is how often progress and log chunks are sent per unit; default 2s.
	ProgressInterval time.Duration
	// LeaseWaitSeconds is the lease long-poll; default 30 (the protocol allows at most 60).
	LeaseWaitSeconds int
	// Cost, when set, admits units by cost rather than by count, the way LiveKit admits egress by
	// CPU budget: a leased unit runs only if the costs of the running units plus its own fit in
	// Capacity (a unit that fits nowhere still runs on an idle agent); one that does not fit is
	// handed back, and the agent asks for work again only when a unit ends. Slots still caps the
	// count, and the agent asks for one unit at a time while it has MinCost free.
	Cost func(agentapi.Unit) float64
	// Capacity is the budget of Cost; default the number of CPUs.
	Capacity float64
	// MinCost is the least a unit costs; default 0.1.
	MinCost float64
}

func (c *Config) defaults() error {
	if c.ServerURL == "" {
		return errors.New("agent: ServerURL is required")
	}
	if c.Token == "" {
		return errors.New("agent: Token (the enrollment token) is required")
	}
	if len(c.Executors) == 0 {
		return errors.New("agent: no Executors")
	}
	if c.Name == "" {
		c.Name, _ = os.Hostname()
	}
	if c.Kind == "" {
		c.Kind = "render"
	}
	if c.WorkDir == "" {
		base, err := os.UserCacheDir()
		if err != nil {
			base = os.TempDir()
		}
		c.WorkDir = filepath.Join(base, "taskcenter-agent")
	}
	// Executors hand the paths under it to tools that resolve a relative path from elsewhere (ffmpeg's
	// concat list resolves its entries from the list's own directory), so it is made absolute once.
	abs, err := filepath.Abs(c.WorkDir)
	if err != nil {
		return fmt.Errorf("agent: work directory %q: %w", c.WorkDir, err)
	}
	c.WorkDir = abs
	if c.Slots <= 0 {
		c.Slots = 1
	}
	if c.BackoffMin <= 0 {
		c.BackoffMin = time.Second
	}
	if c.BackoffMax < c.BackoffMin {
		c.BackoffMax = max(time.Minute, c.BackoffMin)
	}
	if c.ProgressInterval <= 0 {
		c.ProgressInterval = 2 * time.Second
	}
	if c.LeaseWaitSeconds <= 0 || c.LeaseWaitSeconds > 60 {
		c.LeaseWaitSeconds = 30
	}
	if c.Capacity <= 0 {
		c.Capacity = float64(runtime.NumCPU())
	}
	if c.MinCost <= 0 {
		c.MinCost = 0.1
	}
	return nil
}

// Causes of a unit's context cancellation; they decide what is reported.
var (
	errStale     = errors.New("the unit's lease is no longer ours")
	errCancelled = errors.New("the server cancelled the unit")
	errShutdown  = errors.New("the agent is shutting down")
	errTimeout   = errors.New("the unit ran past its time limit")
)

// agent is the state of one Run.
type agent struct {
	cfg    Config
	log    *slog.Logger
	client *Client
	outbox *Outbox
	procs  *procTable
	cache  *blobCache
	caps   []string
	info   json.RawMessage

	// unitsBase parents every unit's context: it is not cancelled with Run's ctx, because on
	// shutdown each unit is cancelled with errShutdown so that it is released, not failed.
	unitsBase context.Context
	units     sync.WaitGroup

	slotFree   chan struct{} // a unit finished
	outboxKick chan struct{} // a report was stored

	mu           sync.Mutex
	running      map[int64]*unitRun // by unit id
	pending      map[agentapi.UnitRef]bool
	released     []agentapi.UnitRef
	heartbeat    time.Duration
	registeredAt time.Time
	authFails    int
	// full is set when a leased unit did not fit in the cost budget: no lease until a unit ends.
	full bool
}

type unitRun struct {
	unit   agentapi.Unit
	cancel context.CancelCauseFunc
	cost   float64
}

// Run runs the agent until ctx is cancelled, then stops the running executors, releases their units
// and returns nil. It returns an error only when it cannot start (bad configuration, unusable
// WorkDir). A server that is down is waited for, with capped exponential backoff.
func Run(ctx context.Context, cfg Config, log *slog.Logger) error {
	if log == nil {
		log = slog.Default()
	}
	if err := cfg.defaults(); err != nil {
		return err
	}
	// A crash may have left processes running (see procRecord) and scratch directories; their units
	// are lost (the leases expire). The processes go first: they may still be writing there.
	procs := &procTable{dir: filepath.Join(cfg.WorkDir, "procs"), log: log}
	if err := procs.killLeftovers(); err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	if err := os.RemoveAll(filepath.Join(cfg.WorkDir, "units")); err != nil {
		return fmt.Errorf("agent: clean work dir: %w", err)
	}
	for _, d := range []string{"units", "cache"} {
		if err := os.MkdirAll(filepath.Join(cfg.WorkDir, d), 0o700); err != nil {
			return fmt.Errorf("agent: work dir: %w", err)
		}
	}
	outbox, err := OpenOutbox(filepath.Join(cfg.WorkDir, "outbox"))
	if err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	a := &agent{
		cfg:        cfg,
		log:        log,
		client:     NewClient(cfg.ServerURL, cfg.HTTPClient),
		outbox:     outbox,
		procs:      procs,
		unitsBase:  context.WithoutCancel(ctx),
		slotFree:   make(chan struct{}, 1),
		outboxKick: make(chan struct{}, 1),
		running:    map[int64]*unitRun{},
		pending:    map[agentapi.UnitRef]bool{},
		heartbeat:  10 * time.Second,
	}
	a.cache = &blobCache{dir: filepath.Join(cfg.WorkDir, "cache"), agent: a, locks: map[string]chan struct{}{}}
	a.cache.prune(30 * 24 * time.Hour)
	reports, err := outbox.List()
	if err != nil {
		log.Error("outbox has unreadable reports", "err", err)
	}
	for _, r := range reports {
		a.pending[r.Ref()] = true
	}

	software := detectSoftware(ctx)
	a.caps = capabilities(cfg.Executors, software, log)
	a.info = buildInfo(ctx, cfg.ServerURL, software, cfg.Slots, cfg.Info)
	if cfg.Cost != nil {
		a.info = withCapacity(a.info, cfg.Capacity)
	}
	log.Info("agent starting", "server", cfg.ServerURL, "name", cfg.Name, "capabilities", a.caps,
		"software", software, "slots", cfg.Slots, "pending_reports", len(reports))

	if err := a.register(ctx); err != nil {
		return nil // ctx done before the server answered: nothing leased, nothing to release
	}
	var bg sync.WaitGroup
	bg.Go(func() { a.heartbeatLoop(ctx) })
	bg.Go(func() { a.outboxLoop(ctx) })
	a.leaseLoop(ctx)
	a.shutdown()
	bg.Wait()
	return nil
}

// capabilities advertises one capability per executor, except for software that is not installed.
func capabilities(executors map[string]Executor, software map[string]string, log *slog.Logger) []string {
	probed := probedSoftware()
	var caps []string
	for name := range executors {
		if _, isSoftware := probed[name]; isSoftware && software[name] == "" {
			log.Warn("not advertising capability: software not found", "capability", name)
			continue
		}
		if need := requiredSoftware()[name]; need != "" && software[need] == "" {
			log.Warn("not advertising capability: software not found", "capability", name, "software", need)
			continue
		}
		caps = append(caps, name)
	}
	sort.Strings(caps)
	return caps
}

// register enrolls until the server accepts or ctx is done.
func (a *agent) register(ctx context.Context) error {
	bo := backoff{min: a.cfg.BackoffMin, max: a.cfg.BackoffMax}
	for {
		resp, err := a.client.Register(ctx, a.cfg.Token, agentapi.RegisterRequest{
			Name: a.cfg.Name, Kind: a.cfg.Kind, Capabilities: a.caps, Tags: a.cfg.Tags, Info: a.info, Held: a.held(),
		})
		if err == nil {
			a.mu.Lock()
			if resp.HeartbeatSeconds > 0 {
				a.heartbeat = time.Duration(resp.HeartbeatSeconds) * time.Second
			}
			a.registeredAt = time.Now()
			a.mu.Unlock()
			a.log.Info("registered", "worker_id", resp.WorkerID, "heartbeat_seconds", resp.HeartbeatSeconds)
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		level := slog.LevelWarn
		if IsUnauthorized(err) || IsPermanent(err) {
			level = slog.LevelError // needs a person: wrong enrollment token or server refusing us
		}
		d := bo.next()
		a.log.Log(ctx, level, "registration failed, retrying", "err", err, "in", d.Round(time.Millisecond))
		if !sleep(ctx, d) {
			return ctx.Err()
		}
	}
}

// held lists the units this agent runs or holds unsent reports for: a registration requeues every
// other unit its worker held.
func (a *agent) held() []agentapi.UnitRef {
	a.mu.Lock()
	defer a.mu.Unlock()
	refs := make([]agentapi.UnitRef, 0, len(a.running)+len(a.pending))
	for _, run := range a.running {
		refs = append(refs, agentapi.UnitRef{UnitID: run.unit.UnitID, Epoch: run.unit.Epoch})
	}
	for ref := range a.pending {
		refs = append(refs, ref)
	}
	return refs
}

// reauth handles a 401 on a call that started at since: the worker token was revoked or the server
// forgot us, so register again — at once the first time, then with backoff, and not at all when
// another goroutine already re-registered after the call started. It reports false if ctx ended.
func (a *agent) reauth(ctx context.Context, since time.Time) bool {
	a.mu.Lock()
	if a.registeredAt.After(since) {
		a.mu.Unlock()
		return true
	}
	fails := a.authFails
	a.authFails++
	a.mu.Unlock()
	if fails > 0 {
		bo := backoff{min: a.cfg.BackoffMin, max: a.cfg.BackoffMax, n: fails - 1}
		if !sleep(ctx, bo.next()) {
			return false
		}
	}
	a.log.Warn("worker token refused, registering again")
	return a.register(ctx) == nil
}

// authOK resets the re-registration backoff after an authenticated call succeeded.
func (a *agent) authOK() {
	a.mu.Lock()
	a.authFails = 0
	a.mu.Unlock()
}

func (a *agent) heartbeatInterval() time.Duration {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.heartbeat
}

func (a *agent) freeSlots() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	free := a.cfg.Slots - len(a.running)
	if a.cfg.Cost == nil || free <= 0 {
		return free
	}
	if a.full || a.cfg.Capacity-a.usedCost() < a.cfg.MinCost {
		return 0
	}
	return 1 // a unit's cost is known only once it is leased
}

// usedCost is the cost of the running units; a.mu is held.
func (a *agent) usedCost() float64 {
	var used float64
	for _, run := range a.running {
		used += run.cost
	}
	return used
}

// leaseLoop asks for work whenever a slot is free, until ctx is done.
func (a *agent) leaseLoop(ctx context.Context) {
	bo := backoff{min: a.cfg.BackoffMin, max: a.cfg.BackoffMax}
	for ctx.Err() == nil {
		free := a.freeSlots()
		if free <= 0 {
			select {
			case <-ctx.Done():
				return
			case <-a.slotFree:
				continue
			}
		}
		start := time.Now()
		resp, err := a.client.Lease(ctx, agentapi.LeaseRequest{Max: free, WaitSeconds: a.cfg.LeaseWaitSeconds})
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if IsUnauthorized(err) {
				a.reauth(ctx, start)
				continue
			}
			d := bo.next()
			a.log.Warn("lease failed, retrying", "err", err, "in", d.Round(time.Millisecond))
			sleep(ctx, d)
			continue
		}
		bo.reset()
		a.authOK()
		for _, u := range resp.Units {
			a.start(u)
		}
	}
}

// start runs a leased unit in a free slot, or hands it back when the server sent more than asked.
func (a *agent) start(u agentapi.Unit) {
	ref := agentapi.UnitRef{UnitID: u.UnitID, Epoch: u.Epoch}
	a.mu.Lock()
	if len(a.running) >= a.cfg.Slots || a.running[u.UnitID] != nil {
		a.mu.Unlock()
		a.log.Warn("leased more units than free slots, releasing", "unit_id", u.UnitID)
		go a.releaseRefs(a.unitsBase, []agentapi.UnitRef{ref})
		return
	}
	var cost float64
	if a.cfg.Cost != nil {
		cost = a.cfg.Cost(u)
		if used := a.usedCost(); len(a.running) > 0 && used+cost > a.cfg.Capacity {
			a.full = true
			a.mu.Unlock()
			a.log.Info("leased unit does not fit in the cost budget, releasing", "unit_id", u.UnitID,
				"cost", cost, "used", used, "capacity", a.cfg.Capacity)
			go a.releaseRefs(a.unitsBase, []agentapi.UnitRef{ref})
			return
		}
	}
	ctx, cancel := context.WithCancelCause(a.unitsBase)
	a.running[u.UnitID] = &unitRun{unit: u, cancel: cancel, cost: cost}
	a.mu.Unlock()
	a.units.Go(func() { a.runUnit(ctx, cancel, u) })
}

// cancelUnit stops a running unit if it still runs under the given epoch.
func (a *agent) cancelUnit(ref agentapi.UnitRef, cause error) {
	a.mu.Lock()
	run := a.running[ref.UnitID]
	a.mu.Unlock()
	if run != nil && run.unit.Epoch == ref.Epoch {
		a.log.Info("stopping unit", "unit_id", ref.UnitID, "epoch", ref.Epoch, "cause", cause)
		run.cancel(cause)
	}
}

// runUnit runs one unit and stores its report; ctx is the unit's own context.
func (a *agent) runUnit(ctx context.Context, cancel context.CancelCauseFunc, u agentapi.Unit) {
	ref := agentapi.UnitRef{UnitID: u.UnitID, Epoch: u.Epoch}
	log := a.log.With("unit_id", u.UnitID, "epoch", u.Epoch, "job_id", u.JobID, "capability", u.Capability)
	defer a.finish(u.UnitID)
	defer cancel(nil)
	if u.TimeoutSeconds > 0 {
		var stop context.CancelFunc
		ctx, stop = context.WithTimeoutCause(ctx, time.Duration(u.TimeoutSeconds)*time.Second, errTimeout)
		defer stop()
	}
	dir := filepath.Join(a.cfg.WorkDir, "units", fmt.Sprintf("%d-%d", u.UnitID, u.Epoch))
	defer os.RemoveAll(dir)
	env := newUnitEnv(a, u, dir, cancel)
	log.Info("unit started", "name", u.Name, "attempt", u.Attempt)

	begin := time.Now()
	res, err := a.execute(ctx, u, env, dir)
	seconds := time.Since(begin).Seconds()
	cause := context.Cause(ctx)
	if err == nil {
		// A result marshalled now cannot fail later in the outbox.
		var data json.RawMessage
		if data, err = marshalResult(res); err == nil {
			env.close(cause)
			log.Info("unit done", "seconds", seconds)
			a.store(Report{Complete: &agentapi.Completion{UnitRef: ref, Result: data, Seconds: seconds}})
			return
		}
	}
	env.close(cause)
	switch {
	case errors.Is(cause, errStale), errors.Is(cause, errCancelled):
		log.Info("unit stopped, not reporting it", "cause", cause)
		return
	case errors.Is(cause, errShutdown):
		a.mu.Lock()
		a.released = append(a.released, ref)
		a.mu.Unlock()
		return
	case errors.Is(cause, errTimeout):
		err = fmt.Errorf("timed out after %ds: %w", u.TimeoutSeconds, err)
	}
	code, permanent := failureOf(err)
	log.Warn("unit failed", "err", err, "exit_code", code, "permanent", permanent, "seconds", seconds)
	a.store(Report{Fail: &agentapi.FailRequest{
		UnitRef: ref, Error: err.Error(), ExitCode: code, Seconds: seconds, Permanent: permanent,
	}})
}

// execute runs the unit's executor, turning a panic into a failure so one bad executor cannot take
// the agent (and the other slots) down.
func (a *agent) execute(ctx context.Context, u agentapi.Unit, env Env, dir string) (res Result, err error) {
	exe := a.cfg.Executors[u.Capability]
	if exe == nil {
		return Result{}, fmt.Errorf("this agent has no executor for capability %q", u.Capability)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return Result{}, fmt.Errorf("unit dir: %w", err)
	}
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("executor %s panicked: %v", u.Capability, p)
		}
	}()
	return exe.Run(ctx, u, env)
}

func marshalResult(r Result) (json.RawMessage, error) {
	if r.Data == nil {
		return nil, nil
	}
	data, err := json.Marshal(r.Data)
	if err != nil {
		return nil, fmt.Errorf("encode result: %w", err)
	}
	return data, nil
}

// finish frees the unit's slot.
func (a *agent) finish(unitID int64) {
	a.mu.Lock()
	delete(a.running, unitID)
	a.full = false
	a.mu.Unlock()
	select {
	case a.slotFree <- struct{}{}:
	default:
	}
}

// store puts a report in the outbox and wakes the sender. Until the server takes it, the unit stays
// in the heartbeat's running list so that its lease does not expire under a finished result.
func (a *agent) store(r Report) {
	if r.Created.IsZero() {
		r.Created = time.Now()
	}
	if err := a.outbox.Put(r); err != nil {
		// Without disk the report can only live in memory: send it right away, once.
		a.log.Error("cannot store report, sending it directly", "unit_id", r.Ref().UnitID, "err", err)
		ctx, cancel := context.WithTimeout(a.unitsBase, callTimeout)
		defer cancel()
		a.sendReports(ctx, []Report{r})
		return
	}
	a.mu.Lock()
	a.pending[r.Ref()] = true
	a.mu.Unlock()
	select {
	case a.outboxKick <- struct{}{}:
	default:
	}
}

// heartbeatLoop reports the running units every heartbeat interval and stops the ones the server
// cancels.
func (a *agent) heartbeatLoop(ctx context.Context) {
	for sleep(ctx, a.heartbeatInterval()) {
		a.mu.Lock()
		req := agentapi.HeartbeatRequest{Running: []agentapi.UnitRef{}, Status: "idle"}
		for _, run := range a.running {
			req.Running = append(req.Running, agentapi.UnitRef{UnitID: run.unit.UnitID, Epoch: run.unit.Epoch})
		}
		if len(a.running) > 0 {
			req.Status = "busy"
		}
		for ref := range a.pending {
			req.Running = append(req.Running, ref)
		}
		a.mu.Unlock()
		start := time.Now()
		resp, err := a.client.Heartbeat(ctx, req)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if IsUnauthorized(err) {
				a.reauth(ctx, start)
				continue
			}
			a.log.Warn("heartbeat failed", "err", err)
			continue
		}
		a.authOK()
		for _, ref := range resp.Cancel {
			a.cancelUnit(ref, errCancelled)
		}
	}
}

// outboxLoop sends stored reports when one is added, and retries with backoff while the server does
// not take them.
func (a *agent) outboxLoop(ctx context.Context) {
	bo := backoff{min: a.cfg.BackoffMin, max: a.cfg.BackoffMax}
	for {
		var retry <-chan time.Time
		if a.flushOutbox(ctx) {
			bo.reset()
		} else {
			retry = time.After(bo.next())
		}
		select {
		case <-ctx.Done():
			return
		case <-a.outboxKick:
		case <-retry:
		}
	}
}

// flushOutbox sends every stored report; it reports whether none is left waiting for a retry.
func (a *agent) flushOutbox(ctx context.Context) bool {
	reports, err := a.outbox.List()
	if err != nil {
		a.log.Error("outbox", "err", err)
	}
	if len(reports) == 0 {
		return true
	}
	return a.sendReports(ctx, reports)
}

// sendReports sends completions in batches and failures one by one, dropping from the outbox what
// the server answered for (taken, stale, or refused as malformed); it reports whether all were.
func (a *agent) sendReports(ctx context.Context, reports []Report) bool {
	var completions []agentapi.Completion
	var fails []agentapi.FailRequest
	for _, r := range reports {
		if r.Complete != nil {
			completions = append(completions, *r.Complete)
		} else if r.Fail != nil {
			fails = append(fails, *r.Fail)
		}
	}
	for batch := range slices.Chunk(completions, 1000) {
		if !a.sendCompletions(ctx, batch) {
			return false
		}
	}
	for _, f := range fails {
		start := time.Now()
		err := a.client.Fail(ctx, f)
		if !a.settle(ctx, f.UnitRef, err, start) {
			return false
		}
	}
	return true
}

func (a *agent) sendCompletions(ctx context.Context, batch []agentapi.Completion) bool {
	start := time.Now()
	resp, err := a.client.Complete(ctx, agentapi.CompleteRequest{Units: batch})
	if err != nil {
		if IsStale(err) && len(batch) > 1 {
			// 409 is meant for a single unit; find out which one by sending them alone.
			for _, c := range batch {
				if !a.sendCompletions(ctx, []agentapi.Completion{c}) {
					return false
				}
			}
			return true
		}
		if len(batch) == 1 {
			return a.settle(ctx, batch[0].UnitRef, err, start)
		}
		if IsPermanent(err) { // a malformed batch: settle each alone so one bad report cannot block all
			ok := true
			for _, c := range batch {
				ok = a.sendCompletions(ctx, []agentapi.Completion{c}) && ok
			}
			return ok
		}
		return a.settle(ctx, agentapi.UnitRef{}, err, start)
	}
	a.authOK()
	status := map[int64]string{}
	for _, r := range resp.Results {
		status[r.UnitID] = r.Status
	}
	all := true
	for _, c := range batch {
		switch s := status[c.UnitID]; s {
		case "ok":
			a.acked(c.UnitRef)
		case "stale":
			a.log.Warn("completion refused as stale: the unit was leased again", "unit_id", c.UnitID, "epoch", c.Epoch)
			a.acked(c.UnitRef)
		default:
			a.log.Warn("server did not answer for a completion, will resend", "unit_id", c.UnitID, "status", s)
			all = false
		}
	}
	return all
}

// settle acts on the answer to a single report: drop it when the server decided (nil, 409, a 4xx
// that cannot change), re-register on 401; it reports whether the report is settled.
func (a *agent) settle(ctx context.Context, ref agentapi.UnitRef, err error, start time.Time) bool {
	switch {
	case err == nil:
		a.authOK()
		a.acked(ref)
		return true
	case ref.UnitID != 0 && IsStale(err):
		a.log.Warn("report refused as stale: the unit was leased again", "unit_id", ref.UnitID, "epoch", ref.Epoch)
		a.acked(ref)
		return true
	case ref.UnitID != 0 && IsPermanent(err):
		a.log.Error("report refused, dropping it", "unit_id", ref.UnitID, "err", err)
		a.acked(ref)
		return true
	case IsUnauthorized(err):
		a.reauth(ctx, start)
	case ctx.Err() == nil:
		a.log.Warn("sending reports failed, will retry", "err", err)
	}
	return false
}

// acked drops a report the server answered for.
func (a *agent) acked(ref agentapi.UnitRef) {
	if err := a.outbox.Remove(ref); err != nil {
		a.log.Error("outbox", "err", err)
	}
	a.mu.Lock()
	delete(a.pending, ref)
	a.mu.Unlock()
}

// shutdown stops the running units, hands them back, and gives the outbox a last chance.
func (a *agent) shutdown() {
	a.mu.Lock()
	for _, run := range a.running {
		run.cancel(errShutdown)
	}
	a.mu.Unlock()
	a.units.Wait()
	ctx, cancel := context.WithTimeout(a.unitsBase, 10*time.Second)
	defer cancel()
	a.mu.Lock()
	refs := a.released
	a.released = nil
	a.mu.Unlock()
	if len(refs) > 0 {
		a.releaseRefs(ctx, refs)
	}
	if !a.flushOutbox(ctx) {
		a.log.Warn("reports left in the outbox; they are sent on the next start")
	}
	a.log.Info("agent stopped", "released", len(refs))
}

func (a *agent) releaseRefs(ctx context.Context, refs []agentapi.UnitRef) {
	if err := a.client.Release(ctx, agentapi.ReleaseRequest{Units: refs}); err != nil {
		a.log.Warn("release failed; the leases will expire instead", "units", len(refs), "err", err)
		return
	}
	a.log.Info("released units", "units", len(refs))
}
