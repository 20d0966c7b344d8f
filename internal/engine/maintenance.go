package engine

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"slices"
	"sync"
	"time"
)

// leaderName is the leadership row the maintenance services run under.
const leaderName = "sweeper"

// Service is one piece of maintenance that only the leading replica runs: the rescuer of expired
// leases, a sweep, the schedule firer, or a service a facade registers. The leader runs each service
// on its own period in its own goroutine, so that a slow or failing one holds up no other; a replica
// that does not lead runs none, and one that loses leadership stops them (their context ends).
//
// Run must tolerate running at the same time on two replicas for a moment (a leadership hand-over),
// and must not rely on running at any particular time: now is the engine's clock at the start of
// the run.
type Service interface {
	Name() string         // unique among the engine's services; labels its metrics and logs
	Every() time.Duration // period between the starts of two runs; Config.SweepEvery when 0
	Run(ctx context.Context, now time.Time) error
}

// NewService makes a Service of a function.
func NewService(name string, every time.Duration, run func(ctx context.Context, now time.Time) error) Service {
	return funcService{name: name, every: every, run: run}
}

type funcService struct {
	name  string
	every time.Duration
	run   func(ctx context.Context, now time.Time) error
}

func (s funcService) Name() string                                 { return s.name }
func (s funcService) Every() time.Duration                         { return s.every }
func (s funcService) Run(ctx context.Context, now time.Time) error { return s.run(ctx, now) }

// services is the engine's registry of maintenance services, in registration order.
type services struct {
	mu   sync.Mutex
	list []Service
}

// builtinServices are the engine's own maintenance services, in the order Sweep runs them. Each has
// its own file (service_*.go).
func (e *Engine) builtinServices() []Service {
	every := e.cfg.SweepEvery
	return []Service{
		NewService("rescuer", every, e.rescueExpiredLeases),
		NewService("time-limits", every, e.stopPastTimeLimits),
		NewService("pending-timeouts", every, e.cancelPastPendingTimeout),
		NewService("offline-workers", every, e.markWorkersOffline),
		NewService("finish-jobs", every, e.finishDoneJobs),
		NewService("arrears", every, e.settleArrears),
		NewService("schedules", every, e.fireSchedules),
		NewService("nonces", max(every, nonceSweepEvery), e.purgeNonces),
		NewService("job-tallies", every, e.foldJobTallies),
	}
}

// RegisterService adds a maintenance service that the leader runs from its next election on (at once
// when this replica leads). A facade registers its loops that must run on one replica only here.
func (e *Engine) RegisterService(s Service) error {
	if s == nil || s.Name() == "" {
		return errors.New("engine: a maintenance service needs a name")
	}
	e.maint.mu.Lock()
	defer e.maint.mu.Unlock()
	if slices.ContainsFunc(e.maint.list, func(o Service) bool { return o.Name() == s.Name() }) {
		return fmt.Errorf("engine: maintenance service %q is already registered", s.Name())
	}
	e.maint.list = append(e.maint.list, s)
	return nil
}

// Services lists the registered maintenance services, in registration order.
func (e *Engine) Services() []Service {
	e.maint.mu.Lock()
	defer e.maint.mu.Unlock()
	return slices.Clone(e.maint.list)
}

// Sweep runs every maintenance service once, in registration order, whether or not this replica
// leads, and joins their errors: one failing service does not stop the others. Tests call it.
func (e *Engine) Sweep(ctx context.Context) error {
	var errs []error
	for _, s := range e.Services() {
		if err := e.runService(ctx, s); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// RunService runs the named maintenance service once, now, whether or not this replica leads.
func (e *Engine) RunService(ctx context.Context, name string) error {
	for _, s := range e.Services() {
		if s.Name() == name {
			return e.runService(ctx, s)
		}
	}
	return fmt.Errorf("engine: no maintenance service %q", name)
}

// runService runs s once, counting the run, its duration and its error. A panic is the service's
// error, so that one broken service leaves the leader and the other services running.
func (e *Engine) runService(ctx context.Context, s Service) (err error) {
	start := time.Now()
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v\n%s", p, debug.Stack())
		}
		if err != nil {
			err = fmt.Errorf("maintenance service %s: %w", s.Name(), err)
		}
		e.metrics.observeService(s.Name(), time.Since(start), err)
	}()
	return s.Run(ctx, e.now())
}

// serve runs s every period until ctx ends (leadership lost or the engine stopping).
func (e *Engine) serve(ctx context.Context, s Service) {
	every := s.Every()
	if every <= 0 {
		every = e.cfg.SweepEvery
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if err := e.runService(ctx, s); err != nil && ctx.Err() == nil {
			e.log.Warn("maintenance", "service", s.Name(), "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if ctx.Err() != nil { // both were ready: select picks either
				return
			}
		}
	}
}

// Run keeps this process's share of the engine going until ctx ends: it relays wake-ups from other
// replicas, and every SweepEvery it takes or renews leadership. While it leads it runs every
// maintenance service on its own period; exactly one process leads at a time.
func (e *Engine) Run(ctx context.Context) error {
	if e.cfg.Holder == "" {
		return errors.New("engine: Config.Holder must name this process")
	}
	go func() {
		err := e.store.Listen(ctx, Topic, func(string) { e.wake.wake() })
		if err != nil && ctx.Err() == nil {
			e.log.Warn("listen for wake-ups", "err", err)
		}
	}()
	t := time.NewTicker(e.cfg.SweepEvery)
	defer t.Stop()
	defer func() {
		if e.leader.Load() {
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
			defer cancel()
			if err := e.store.Resign(rctx, leaderName, e.cfg.Holder); err != nil {
				e.log.Warn("resign leadership", "err", err)
			}
			e.leader.Store(false)
		}
	}()
	running := map[string]func(){} // a running service's name -> stop and wait for it
	stopAll := func() {
		for name, stop := range running {
			stop()
			delete(running, name)
		}
	}
	defer stopAll() // before resigning: no service runs once another replica may lead
	for {
		if e.elect(ctx) {
			for _, s := range e.Services() {
				if _, ok := running[s.Name()]; !ok {
					running[s.Name()] = e.start(ctx, s)
				}
			}
		} else {
			stopAll()
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// start runs s in its own goroutine and returns what stops it and waits until it has.
func (e *Engine) start(ctx context.Context, s Service) func() {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		e.serve(ctx, s)
	}()
	return func() {
		cancel()
		<-done
	}
}

// elect takes or renews leadership and reports whether this process leads.
func (e *Engine) elect(ctx context.Context) bool {
	lead, err := e.store.TryLead(ctx, leaderName, e.cfg.Holder, e.cfg.LeaderTTL, e.now())
	if err != nil {
		if ctx.Err() == nil {
			e.log.Warn("take leadership", "err", err)
		}
		lead = false
	}
	if was := e.leader.Swap(lead); was != lead {
		e.log.Info("leadership changed", "leader", lead, "holder", e.cfg.Holder)
	}
	return lead
}
