// Package engine owns the life of work: jobs split into units, units leased to workers with a fencing
// epoch, retried with backoff, steered away from workers that failed them, blocklisted, timed out,
// paused, stopped and restarted; job status derived from unit status; schedules; billing of finished
// units; leader-elected maintenance services. Facades (the five dialects) and the agent protocol call
// it; it knows no dialect. Persistence is the store's.
package engine

import (
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"

	"taskcenter/internal/store"
)

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

// Config returns the effective configuration.
func (e *Engine) Config() Config { return e.cfg }

// Now returns the engine's clock reading.
func (e *Engine) Now() time.Time { return e.now() }

// IsLeader reports whether this process currently runs the maintenance services.
func (e *Engine) IsLeader() bool { return e.leader.Load() }
