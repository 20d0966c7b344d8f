package aitasks

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"taskcenter/internal/auth"
	"taskcenter/internal/batch"
	"taskcenter/internal/blob"
	"taskcenter/internal/engine"
	"taskcenter/internal/facade"
	"taskcenter/internal/store"
)

// Engine kinds and capabilities this facade creates.
const (
	KindPoll         = "aitasks.poll"   // one fetch of a batch of tasks of one channel
	KindNotify       = "aitasks.notify" // one notify_hook callback, retried by the engine
	capabilityPoll   = engine.InProcessPrefix + "aitasks.poll"
	capabilityNotify = engine.InProcessPrefix + "aitasks.notify"
	// CredToken is the credential kind of a user's personal access token (the task lists).
	CredToken store.CredentialKind = "aitoken"
)

// Config wires the facade to the server and sets its rules. Zero values take the defaults.
type Config struct {
	Engine  *engine.Engine
	Store   Store
	Keyring *auth.Keyring
	Log     *slog.Logger
	// HTTP reaches the upstream providers and notify hooks; its Timeout bounds one call (default 30 s).
	HTTP *http.Client
	// PollInterval is how often an unfinished task is polled (default 15 s).
	PollInterval time.Duration
	// PlanEvery is how often the leader plans the due polls (default 1 s).
	PlanEvery time.Duration
	// TaskTimeout fails and refunds a task that has not finished this long after its submit (24 h).
	TaskTimeout time.Duration
	// SubmitGrace fails and refunds a task left NOT_START this long (a submit cut off by a crash) (2 min).
	SubmitGrace time.Duration
	// BatchSize is the most tasks one music fetch asks for (default 100).
	BatchSize int
	// PollWorkers is how many poll batches this process runs at once (default 4).
	PollWorkers int
	// Retries is how many other channels a submit tries after a 429, a 5xx or no answer (default 2).
	Retries int
	// DisableAfter is how many 401/403 answers in a row disable a channel (default 3).
	DisableAfter int
	// VideoRate is the most video status requests per second to one channel from this process (10).
	VideoRate float64
	// NotifyAttempts is how many times a notify_hook callback is tried (default 5).
	NotifyAttempts int
	// MaxBodyBytes bounds a request body (default 1 MiB).
	MaxBodyBytes int64
	// TotalsTTL is how long a list's total is reused for the same filter (default 2 s; longer for a
	// total that is slow to count, see totals.go): a list's pages are always read fresh.
	TotalsTTL time.Duration
	// CacheTTL is how long an API key, a price or a channel list read on the submit path is reused
	// (default 1 s). Another replica's change of a key, price or channel shows here after it; the
	// quota a key and a user have left is always checked in the database.
	CacheTTL time.Duration
	// Blobs, with MirrorResults, keeps copies of succeeded tasks' result files (mirror.go);
	// PublicURL is the server's address the copies' links begin with.
	Blobs         blob.Store
	PublicURL     string
	MirrorResults bool
	// MirrorMaxBytes bounds one mirrored file (default 1 GiB); MirrorTimeout one download (10 min).
	MirrorMaxBytes int64
	MirrorTimeout  time.Duration
	// AllowPrivateEgress lets notify_hook deliveries and result downloads reach loopback, private,
	// link-local, CGNAT, multicast and unspecified addresses (egress.go), which they are refused by
	// default: for a deployment whose receivers or file stores live on its own network.
	AllowPrivateEgress bool
	// MaxUploadBytes bounds a multipart request body (a video's input_reference; default 32 MiB).
	MaxUploadBytes int64
	// Workers, when false, starts no in-process workers (an API-only replica, or a test that drives
	// the workers itself); they start when true or when the field is left nil.
	Workers *bool
}

func (c *Config) defaults() {
	set := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	seti := func(d *int, v int) {
		if *d <= 0 {
			*d = v
		}
	}
	set(&c.PollInterval, 15*time.Second)
	set(&c.PlanEvery, time.Second)
	set(&c.TaskTimeout, 24*time.Hour)
	set(&c.SubmitGrace, 2*time.Minute)
	set(&c.TotalsTTL, 2*time.Second)
	set(&c.CacheTTL, time.Second)
	set(&c.MirrorTimeout, 10*time.Minute)
	if c.MirrorMaxBytes <= 0 {
		c.MirrorMaxBytes = 1 << 30
	}
	seti(&c.BatchSize, 100)
	seti(&c.PollWorkers, 4)
	if c.Retries < 0 {
		c.Retries = 0
	} else if c.Retries == 0 {
		c.Retries = 2
	}
	seti(&c.DisableAfter, 3)
	seti(&c.NotifyAttempts, 5)
	if c.VideoRate <= 0 {
		c.VideoRate = 10
	}
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = 1 << 20
	}
	if c.MaxUploadBytes <= 0 {
		c.MaxUploadBytes = 32 << 20
	}
	if c.HTTP == nil {
		c.HTTP = &http.Client{Timeout: 30 * time.Second}
	}
	if c.Log == nil {
		c.Log = slog.Default()
	}
}

// API serves the AI task center.
type API struct {
	cfg      Config
	eng      *engine.Engine
	st       Store
	keys     *auth.Keyring
	log      *slog.Logger
	adaptors map[string]adaptor
	limiters *channelLimiters
	// totals caches the total of a list's filter for TotalsTTL.
	totals *totals
	// callers (API key hash -> caller), prices and channels spare the hot submit path its reads for
	// CacheTTL; an admin write on this replica drops the tenant's entries at once.
	callers  *facade.Cache[string, caller]
	users    *facade.Cache[string, store.AIUser] // personal access token hash -> user
	prices   *facade.Cache[priceKey, store.AIPrice]
	channels *facade.Cache[channelKey, []store.AIChannel]

	// creates gathers concurrent submits into one transaction (create.go).
	creates *batch.Group[creation, created]
	// starts gathers concurrent submits' moves to SUBMITTED into one statement (create.go).
	starts *batch.Group[store.AITaskStart, bool]

	// hooks delivers notify_hook callbacks and files downloads result files: the guarded egress
	// clients (egress.go).
	hooks, files *http.Client

	mu      sync.Mutex
	workers []*engine.InProcessWorker
}

// New checks the configuration, registers the facade's job kinds and maintenance services with the
// engine and starts its in-process workers (stopped by Close).
func New(c Config) (*API, error) {
	if c.Engine == nil || c.Store == nil || c.Keyring == nil {
		return nil, errors.New("aitasks: Engine, Store and Keyring are required")
	}
	if c.MirrorResults && c.Blobs == nil {
		return nil, errors.New("aitasks: MirrorResults needs Blobs")
	}
	c.defaults()
	hooks, err := newEgressClient(c.HTTP, 0, c.AllowPrivateEgress)
	if err != nil {
		return nil, err
	}
	files, err := newEgressClient(c.HTTP, c.MirrorTimeout, c.AllowPrivateEgress)
	if err != nil {
		return nil, err
	}
	a := &API{hooks: hooks, files: files, cfg: c, eng: c.Engine, st: c.Store, keys: c.Keyring, log: c.Log.With("facade", "aitasks"),
		limiters: newChannelLimiters(c.VideoRate), totals: newTotals(c.TotalsTTL, 10_000),
		callers: facade.NewCache[string, caller](10_000, c.CacheTTL), users: facade.NewCache[string, store.AIUser](10_000, c.CacheTTL), prices: facade.NewCache[priceKey, store.AIPrice](1000, c.CacheTTL),
		channels: facade.NewCache[channelKey, []store.AIChannel](1000, c.CacheTTL)}
	a.creates, a.starts = newCreateGroup(a), newStartGroup(a)
	a.adaptors = map[string]adaptor{PlatformSuno: sunoAdaptor{}, PlatformVideo: videoAdaptor{limit: a.limiters}}
	a.eng.RegisterKind(KindPoll, engine.KindHooks{Internal: true, JobFinished: a.pollJobFinished})
	a.eng.RegisterKind(KindNotify, engine.KindHooks{Internal: true, JobFinished: a.notifyJobFinished})
	a.eng.RegisterKind(KindMirror, engine.KindHooks{Internal: true, JobFinished: a.mirrorJobFinished})
	for _, s := range []engine.Service{
		engine.NewService("aitasks-plan-polls", c.PlanEvery, a.planPolls),
		engine.NewService("aitasks-timeouts", c.PlanEvery, a.failOverdue),
	} {
		if err := a.eng.RegisterService(s); err != nil {
			return nil, fmt.Errorf("aitasks: %w", err)
		}
	}
	if c.Workers == nil || *c.Workers {
		if err := a.StartWorkers(context.Background()); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// StartWorkers starts this process's poll and notify workers.
func (a *API) StartWorkers(ctx context.Context) error {
	poll, err := a.eng.StartInProcess(ctx, capabilityPoll, a.cfg.PollWorkers, a.poll)
	if err != nil {
		return fmt.Errorf("aitasks: start poll workers: %w", err)
	}
	notify, err := a.eng.StartInProcess(ctx, capabilityNotify, 4, a.notify)
	if err != nil {
		_ = poll.Stop(ctx)
		return fmt.Errorf("aitasks: start notify workers: %w", err)
	}
	a.mu.Lock()
	a.workers = append(a.workers, poll, notify)
	a.mu.Unlock()
	if a.cfg.MirrorResults {
		mirror, err := a.eng.StartInProcess(ctx, capabilityMirror, 2, a.mirror)
		if err != nil {
			return fmt.Errorf("aitasks: start mirror workers: %w", err)
		}
		a.mu.Lock()
		a.workers = append(a.workers, mirror)
		a.mu.Unlock()
	}
	return nil
}

// Close stops the in-process workers, handing their units back for another replica.
func (a *API) Close() error {
	a.mu.Lock()
	ws := a.workers
	a.workers = nil
	a.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var errs []error
	for _, w := range ws {
		errs = append(errs, w.Stop(ctx))
	}
	return errors.Join(errs...)
}

// Mount adds the dialect's routes.
func (a *API) Mount(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/task/self", a.listSelf)
	mux.HandleFunc("GET /api/task/{$}", a.listAll)
	mux.HandleFunc("GET /api/task/self/ledger", a.ledgerSelf)
	mux.HandleFunc("GET /api/task/ledger", a.ledgerAll)

	mux.HandleFunc("POST /suno/submit/{action}", a.sunoSubmit)
	mux.HandleFunc("POST /suno/fetch", a.sunoFetch)
	mux.HandleFunc("GET /suno/fetch/{id}", a.sunoFetchOne)

	mux.HandleFunc("POST /v1/videos", a.videoSubmit)
	mux.HandleFunc("GET /v1/videos/{id}", a.videoGet)
	mux.HandleFunc("GET /v1/videos/{id}/content", a.videoContent)
	mux.HandleFunc("POST /v1/videos/{id}/remix", a.videoRemix)

	mux.HandleFunc("GET /aitasks/files/{hash}", a.serveFile)

	a.mountAdmin(mux)
}

func (a *API) now() time.Time { return a.eng.Now() }

type priceKey struct {
	tenant                  int64
	platform, action, model string
}

type channelKey struct {
	tenant   int64
	platform string
}

// dropCaches forgets what the caches hold of a tenant, after an admin write.
func (a *API) dropCaches(tenant int64) {
	a.callers.Drop(tenant)
	a.users.Drop(tenant)
	a.prices.Drop(tenant)
	a.channels.Drop(tenant)
}
