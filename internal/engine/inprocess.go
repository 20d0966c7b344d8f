package engine

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"taskcenter/internal/store"
)

// In-process workers run units inside the server process (a scene analysis, a poller, a template
// render) through the same lease path as agents: a worker row of this process leases the units of
// one capability, holds them with a fencing epoch and a lease it extends by heartbeats, and reports
// completion or failure through the engine. Deadlines (the job's unit timeout), retries with backoff,
// max attempts, controls (pause and abort take the unit back) and takeover (the leader's sweep
// requeues the units of a process that died, for another replica to lease) are therefore the
// engine's, as for any other unit.

// WorkerKindInProcess is the Kind of the worker rows in-process workers register.
const WorkerKindInProcess = "inprocess"

// InProcessPrefix begins every capability served inside the server. Agents may not advertise such a
// capability (RegisterWorker refuses it), so that no outside worker takes the server's own work.
const InProcessPrefix = "inprocess:"

// ErrPermanent, wrapped in an in-process handler's error, fails the unit for good: retrying cannot
// help (the input is bad).
var ErrPermanent = errors.New("permanent failure")

// InProcessHandler runs one leased unit. Its result is recorded when it returns nil; an error fails
// the attempt (retried while attempts remain, unless it wraps ErrPermanent).
//
// ctx ends when the engine takes the unit back (its job was paused or aborted, its lease was lost:
// nothing is reported then) or when the worker stops (the unit is handed back for another process,
// without counting the attempt, unless the handler returns nil). A unit may run more than once (a
// process dies after the work but before its report): handlers must be idempotent.
type InProcessHandler func(ctx context.Context, u store.Unit) (result json.RawMessage, err error)

// errLeaseLost is the cause of a handler's cancellation when the engine took its unit back.
var errLeaseLost = errors.New("the engine took the unit back")

// errStopping is the cause of a handler's cancellation when its worker stops.
var errStopping = errors.New("in-process worker stopping")

// inProcessPoll is how long one lease of an idle in-process worker waits for work.
const inProcessPoll = 30 * time.Second

// reportTimeout bounds a report made after the worker's context ended.
const reportTimeout = 10 * time.Second

// InProcessWorker leases and runs the units of one capability in this process. Stop it on shutdown.
type InProcessWorker struct {
	e      *Engine
	w      store.Worker
	handle InProcessHandler
	slots  chan struct{} // a token per unit running

	// leaseCtx ends when leasing stops; runCtx, a moment later, when running handlers are told to
	// stop (cause errStopping); beatCtx last, once every handler has reported.
	leaseCtx, runCtx, beatCtx context.Context
	stopLease                 context.CancelFunc
	stopRuns                  context.CancelCauseFunc
	stopBeats                 context.CancelFunc

	mu   sync.Mutex
	held map[int64]*inProcessRun // by unit id

	syncNow   chan struct{}  // asks the heartbeat loop for a heartbeat now
	runs      sync.WaitGroup // handlers running; only the lease loop adds to it
	loops     sync.WaitGroup
	leaseDone chan struct{}
	stopOnce  sync.Once
	stopped   chan struct{}
}

type inProcessRun struct {
	unit   store.Unit
	cancel context.CancelCauseFunc
}

// inProcessSet is the engine's list of running in-process workers, so that a control that takes
// units back can tell the workers holding them at once rather than at their next heartbeat.
type inProcessSet struct {
	mu      sync.Mutex
	workers []*InProcessWorker
}

// StartInProcess registers a worker row for this process that leases units of capability (which must
// begin with InProcessPrefix) and runs up to concurrency of them at once with h. It keeps going until
// ctx ends or Stop is called; Stop waits for the handlers and hands back what they held.
func (e *Engine) StartInProcess(ctx context.Context, capability string, concurrency int, h InProcessHandler) (*InProcessWorker, error) {
	switch {
	case !strings.HasPrefix(capability, InProcessPrefix) || len(capability) == len(InProcessPrefix):
		return nil, invalid("in-process capability %q must begin with %q", capability, InProcessPrefix)
	case concurrency < 1:
		return nil, invalid("in-process concurrency must be at least 1")
	case h == nil:
		return nil, invalid("in-process handler is required")
	}
	// One row per worker started: two workers of one capability in one process (tests, a facade
	// built twice) must not take each other's units back through their heartbeats.
	holder := e.cfg.Holder
	if holder == "" {
		holder = "server"
	}
	name := capability + "@" + holder + "/" + randomSuffix()
	w, err := e.registerWorker(ctx, store.Worker{Name: name, Kind: WorkerKindInProcess, Capabilities: []string{capability}})
	if err != nil {
		return nil, fmt.Errorf("start in-process worker for %s: %w", capability, err)
	}
	p := &InProcessWorker{e: e, w: w, handle: h, slots: make(chan struct{}, concurrency),
		held: map[int64]*inProcessRun{}, syncNow: make(chan struct{}, 1), leaseDone: make(chan struct{}), stopped: make(chan struct{})}
	base := context.WithoutCancel(ctx)
	p.leaseCtx, p.stopLease = context.WithCancel(base)
	p.runCtx, p.stopRuns = context.WithCancelCause(base)
	p.beatCtx, p.stopBeats = context.WithCancel(base)
	e.inproc.mu.Lock()
	e.inproc.workers = append(e.inproc.workers, p)
	e.inproc.mu.Unlock()
	p.loops.Add(2)
	go p.leaseLoop()
	go p.heartbeatLoop()
	go func() {
		select {
		case <-ctx.Done():
			p.shutdown()
		case <-p.stopped:
		}
	}()
	e.log.Info("in-process worker started", "capability", capability, "worker", w.ID, "concurrency", concurrency)
	return p, nil
}

func randomSuffix() string {
	b := make([]byte, 3)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return hex.EncodeToString(b)
}

// Worker returns the worker row the units are leased to.
func (p *InProcessWorker) Worker() store.Worker { return p.w }

// Stop stops leasing, tells running handlers to stop, waits for them (until ctx ends) and hands their
// units back without counting the attempt, so that another process takes them at once. A handler
// still running when ctx ends keeps its unit until its lease expires.
func (p *InProcessWorker) Stop(ctx context.Context) error {
	p.shutdown()
	done := make(chan struct{})
	go func() { p.loops.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("stop in-process worker %s: %w", p.w.Name, ctx.Err())
	}
}

// shutdown starts stopping; the last loop to end marks the worker offline.
func (p *InProcessWorker) shutdown() {
	p.stopOnce.Do(func() {
		close(p.stopped)
		p.stopLease()
		p.stopRuns(errStopping)
		go func() {
			<-p.leaseDone // no handler starts after this
			p.runs.Wait()
			p.stopBeats()
		}()
	})
}

// leaseLoop leases units while slots are free, as an agent's long poll does.
func (p *InProcessWorker) leaseLoop() {
	defer p.loops.Done()
	defer close(p.leaseDone)
	ctx := p.leaseCtx
	for {
		select {
		case p.slots <- struct{}{}:
		case <-ctx.Done():
			return
		}
		free := 1
	more:
		for free < cap(p.slots) {
			select {
			case p.slots <- struct{}{}:
				free++
			default:
				break more
			}
		}
		if p.e.draining.Load() {
			// A server shutting down hands out nothing; its facades stop their workers next.
			p.freeSlots(free)
			<-ctx.Done()
			return
		}
		units, err := p.e.Lease(ctx, p.w, free, inProcessPoll)
		p.freeSlots(free - len(units))
		if err != nil {
			p.e.log.Warn("in-process lease", "worker", p.w.Name, "err", err)
			t := time.NewTimer(p.e.cfg.IdleRecheck)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return
			}
			continue
		}
		for _, u := range units {
			p.runs.Add(1)
			go p.run(p.track(u), u)
		}
	}
}

func (p *InProcessWorker) freeSlots(n int) {
	for range n {
		<-p.slots
	}
}

// track records u as held, with the context its handler runs in.
func (p *InProcessWorker) track(u store.Unit) context.Context {
	ctx, cancel := context.WithCancelCause(p.runCtx)
	p.mu.Lock()
	p.held[u.ID] = &inProcessRun{unit: u, cancel: cancel}
	p.mu.Unlock()
	return ctx
}

// run handles one unit and reports the outcome; the unit stays held (listed by heartbeats) until the
// report is made.
func (p *InProcessWorker) run(ctx context.Context, u store.Unit) {
	defer p.runs.Done()
	defer func() { <-p.slots }()
	defer func() {
		p.mu.Lock()
		if r := p.held[u.ID]; r != nil {
			r.cancel(nil)
			delete(p.held, u.ID)
		}
		p.mu.Unlock()
	}()
	start := time.Now()
	result, err := p.call(ctx, u)
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), reportTimeout)
	defer cancel()
	e, log := p.e, p.e.log.With("worker", p.w.Name, "unit", u.ID, "job", u.JobID)
	switch cause := context.Cause(ctx); {
	case errors.Is(cause, errLeaseLost):
		// Paused, aborted or expired: the unit is no longer ours and a report would be refused.
		log.Info("in-process unit taken back while running")
	case err == nil:
		errs, cerr := e.Complete(rctx, []Completion{{UnitID: u.ID, Epoch: u.Epoch, WorkerID: p.w.ID, JobID: u.JobID,
			Result: result, Seconds: time.Since(start).Seconds()}})
		switch {
		case cerr != nil:
			log.Warn("complete in-process unit", "err", cerr)
		case errs[0] != nil:
			log.Info("in-process unit's completion refused: no longer its worker's", "err", errs[0])
		}
	case ctx.Err() != nil:
		// The worker is stopping: another process takes the unit over, this attempt not counted.
		if _, rerr := e.Release(rctx, p.w.ID, []store.HeldUnit{{UnitID: u.ID, JobID: u.JobID, Epoch: u.Epoch}}); rerr != nil {
			log.Warn("hand back in-process unit", "err", rerr)
		}
	default:
		ferr := e.Fail(rctx, Failure{UnitID: u.ID, Epoch: u.Epoch, WorkerID: p.w.ID, Error: err.Error(),
			Permanent: errors.Is(err, ErrPermanent)})
		if ferr != nil && !errors.Is(ferr, store.ErrStale) {
			log.Warn("fail in-process unit", "err", ferr)
		}
	}
}

// call runs the handler; a panic fails the attempt instead of the server.
func (p *InProcessWorker) call(ctx context.Context, u store.Unit) (result json.RawMessage, err error) {
	defer func() {
		if r := recover(); r != nil {
			p.e.log.Error("in-process handler panicked", "worker", p.w.Name, "unit", u.ID, "panic", r, "stack", string(debug.Stack()))
			err = fmt.Errorf("handler panicked: %v", r)
		}
	}()
	return p.handle(ctx, u)
}

// heartbeatLoop keeps the worker online and its leases alive, and stops the handlers of units the
// engine took back.
func (p *InProcessWorker) heartbeatLoop() {
	defer p.loops.Done()
	ctx := p.beatCtx
	t := time.NewTicker(p.e.cfg.Heartbeat)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			p.e.inproc.remove(p)
			// Shown offline at once rather than after OfflineAfter.
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), reportTimeout)
			if err := p.e.store.TouchWorker(rctx, p.w.ID, store.WorkerOffline, p.e.now()); err != nil {
				p.e.log.Warn("mark in-process worker offline", "worker", p.w.Name, "err", err)
			}
			cancel()
			return
		case <-t.C:
		case <-p.syncNow:
		}
		p.heartbeat(ctx)
	}
}

func (p *InProcessWorker) heartbeat(ctx context.Context) {
	p.mu.Lock()
	held := make([]store.HeldUnit, 0, len(p.held))
	for _, r := range p.held {
		held = append(held, store.HeldUnit{UnitID: r.unit.ID, JobID: r.unit.JobID, Epoch: r.unit.Epoch})
	}
	p.mu.Unlock()
	lost, err := p.e.Heartbeat(ctx, p.w, held)
	if err != nil {
		if ctx.Err() == nil {
			p.e.log.Warn("in-process heartbeat", "worker", p.w.Name, "err", err)
		}
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, l := range lost {
		if r := p.held[l.UnitID]; r != nil && r.unit.Epoch == l.Epoch {
			r.cancel(errLeaseLost)
		}
	}
}

// holds reports whether the worker runs a unit of job jobID.
func (p *InProcessWorker) holds(jobID int64) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, r := range p.held {
		if r.unit.JobID == jobID {
			return true
		}
	}
	return false
}

func (s *inProcessSet) remove(p *InProcessWorker) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, w := range s.workers {
		if w == p {
			s.workers = append(s.workers[:i], s.workers[i+1:]...)
			return
		}
	}
}

// unitsMoved tells this process's in-process workers that units of job jobID may have been taken
// back (a pause, an abort): a worker running one heartbeats now and so stops its handler at once.
func (e *Engine) unitsMoved(jobID int64) {
	e.inproc.mu.Lock()
	defer e.inproc.mu.Unlock()
	for _, p := range e.inproc.workers {
		if p.holds(jobID) {
			select {
			case p.syncNow <- struct{}{}:
			default:
			}
		}
	}
}

// checkWorker refuses a worker from outside the process that claims in-process work.
func checkWorker(w store.Worker) error {
	if w.Kind == WorkerKindInProcess {
		return invalid("worker kind %q is reserved for the server's own workers", w.Kind)
	}
	for _, c := range w.Capabilities {
		if strings.HasPrefix(c, InProcessPrefix) {
			return invalid("capability %q is reserved for the server's own workers", c)
		}
	}
	return nil
}
