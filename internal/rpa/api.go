package rpa

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"taskcenter/internal/auth"
	"taskcenter/internal/blob"
	"taskcenter/internal/engine"
	"taskcenter/internal/facade"
)

// Engine kinds and capabilities this facade creates.
const (
	KindJob         = "rpa.job"   // one run of a process: one unit a robot leases
	KindQueue       = "rpa.queue" // a work queue: an open job whose units are the items
	CapabilityRobot = "rpa"       // robots lease rpa.job units with this capability
	CapabilityQueue = "rpa.queue" // queue items; only popped through the API, never by agents
	// RobotTagPrefix + a robot's worker name is the tag of a job limited to candidate robots; robots
	// register with their own tag so that only the chosen robots lease the job.
	RobotTagPrefix = "rpa.robot:"
)

// Timing rules of the document.
const (
	accessTokenTTL  = 30 * time.Minute
	refreshTokenTTL = 7 * 24 * time.Hour
	jobTokenTTL     = 30 * time.Minute
	timestampWindow = 5 * time.Minute
	offlineAfter    = 2 * time.Minute
	maxBodyBytes    = 1 << 20
)

// Config wires the facade to the server's engine, store, blobs and key.
type Config struct {
	Engine *engine.Engine
	// Store is read through; jobs, units and schedules are written through Engine.
	Store   Store
	Blobs   blob.Store
	Keyring *auth.Keyring
	Log     *slog.Logger
	// MaxUploadBytes bounds a shared file or package upload; 0 means 100 MiB.
	MaxUploadBytes int64
	// Location renders the document's "2006-01-02 15:04:05" times; nil means time.Local.
	Location *time.Location
	// Now is the clock; nil means the engine's.
	Now func() time.Time
}

// API serves the RPA dialect.
type API struct {
	eng   *engine.Engine
	st    Store
	blobs blob.Store
	keys  *auth.Keyring
	log   *slog.Logger
	maxUp int64
	loc   *time.Location
	now   func() time.Time
	// callers caches resolved tokens by key id and queues caches queue records, sparing the
	// database their reads on every signed request.
	callers *facade.Cache[string, cachedCaller]
	queues  *facade.Cache[queueKey, rec[queueDoc]]
	// env writes every answer; signed checks every signed request.
	env    *facade.Envelope
	signed *facade.Signed[signingKey, signedMsg, struct{}]
	items  *itemBatches
}

// New checks the configuration and registers the facade's job kinds with the engine.
func New(c Config) (*API, error) {
	if c.Engine == nil || c.Store == nil || c.Blobs == nil || c.Keyring == nil {
		return nil, errors.New("rpa: Engine, Store, Blobs and Keyring are required")
	}
	if c.Log == nil {
		c.Log = slog.Default()
	}
	if c.MaxUploadBytes <= 0 {
		c.MaxUploadBytes = 100 << 20
	}
	if c.Location == nil {
		c.Location = time.Local
	}
	if c.Now == nil {
		c.Now = c.Engine.Now
	}
	// A work queue never finishes on its own: items keep arriving.
	c.Engine.RegisterKind(KindQueue, engine.KindHooks{Open: true})
	c.Engine.RegisterKind(KindJob, engine.KindHooks{})
	// Robots and studios are sold per machine: the engine keeps unlicensed ones from leasing jobs.
	c.Engine.RequireLicence("robot", licenceOnItsMachine)
	c.Engine.RequireLicence("studio", licenceOnItsMachine)
	a := &API{
		eng: c.Engine, st: c.Store, blobs: c.Blobs, keys: c.Keyring, log: c.Log.With("facade", "rpa"),
		maxUp: c.MaxUploadBytes, loc: c.Location, now: c.Now,
		callers: facade.NewCache[string, cachedCaller](cacheSize, cacheTTL),
		queues:  facade.NewCache[queueKey, rec[queueDoc]](cacheSize, cacheTTL),
		items:   newItemBatches(c.Engine),
	}
	a.env = facade.NewEnvelope(facade.Layout{
		Codes: codes, ContentType: "application/json; charset=utf-8", Log: a.log,
		Fields: []facade.Field{
			{Name: "code", Part: facade.PartCode},
			{Name: "msg", Part: facade.PartMessage},
			{Name: "result", Part: facade.PartData, OmitEmpty: true},
		},
	})
	a.signed = a.newSigned()
	return a, nil
}

// Mount registers every route on mux.
func (a *API) Mount(mux *http.ServeMux) {
	mux.HandleFunc("GET /oapi/v1/token", a.handleToken)

	r := func(pattern string, h handler, opts ...routeOpt) {
		mux.Handle(pattern, a.wrap(h, opts...))
	}
	// Users, roles, departments.
	r("GET /oapi/v1/user", a.userList)
	r("POST /oapi/v1/user", a.userCreate)
	r("PUT /oapi/v1/user", a.userUpdate)
	r("DELETE /oapi/v1/user", a.userDelete)
	r("GET /oapi/v1/role/list", a.roleList)
	r("GET /oapi/v1/orgDef/list", a.orgList)
	r("POST /oapi/v1/orgDef/addOrg", a.orgAdd)
	r("PUT /oapi/v1/orgDef/editOrgDef", a.orgEdit)
	r("DELETE /oapi/v1/orgDef/delOrgDef", a.orgDelete)
	// Robots and studios.
	r("GET /oapi/v1/robot", a.robotList("robot"))
	r("PUT /oapi/v1/robot", a.robotUpdate("robot", "robotAlias"))
	r("GET /oapi/v1/robot/detail", a.robotDetail)
	r("GET /oapi/v1/robot/dttail", a.robotDetail) // the document's slip, kept for clients copied from it
	r("POST /oapi/v1/robot/licence", a.licenceIssue)
	r("DELETE /oapi/v1/robot/licence", a.licenceRevoke)
	r("GET /oapi/v1/studio", a.robotList("studio"))
	r("PUT /oapi/v1/studio", a.robotUpdate("studio", "studioAlias"))
	// Processes, versions, publishing.
	r("GET /oapi/v1/process", a.processList)
	r("DELETE /oapi/v1/process", a.processDelete)
	r("GET /oapi/v1/process/version", a.versionList)
	r("PUT /oapi/v1/process/version", a.versionStatus)
	r("POST /oapi/v1/process/publish", a.processPublish, multipartBody())
	// Schedules and jobs.
	r("GET /oapi/v1/schedule/list", a.scheduleList)
	r("POST /oapi/v1/schedule", a.scheduleCreate)
	r("PUT /oapi/v1/schedule", a.scheduleEdit)
	r("PUT /oapi/v1/schedule/enable", a.scheduleEnable(true))
	r("PUT /oapi/v1/schedule/disable", a.scheduleEnable(false))
	r("DELETE /oapi/v1/schedule", a.scheduleDelete)
	r("GET /oapi/v1/job", a.jobList)
	r("POST /oapi/v1/job/create", a.jobCreate)
	r("POST /oapi/v1/job/retry", a.jobRetry)
	r("POST /oapi/v1/job/stop", a.jobStop)
	r("DELETE /oapi/v1/job", a.jobDelete)
	// Assets.
	r("GET /oapi/v1/asset/vlog", a.assetVlog)
	r("POST /oapi/v1/asset/list", a.assetList, allowJob())
	r("GET /oapi/v1/asset/list", a.assetList, allowJob())
	r("POST /oapi/v1/asset", a.assetCreate)
	r("PUT /oapi/v1/asset", a.assetUpdate)
	r("DELETE /oapi/v1/asset", a.assetDelete)
	// Work queues.
	r("GET /oapi/v1/queue/item", a.itemList, allowJob())
	r("POST /oapi/v1/queue/item", a.itemAdd, allowJob())
	r("PUT /oapi/v1/queue/item", a.itemUpdate, allowJob())
	r("DELETE /oapi/v1/queue/item", a.itemDelete, allowJob())
	r("GET /oapi/v1/queue/item/pop", a.itemPop, allowJob())
	r("GET /oapi/v1/queue", a.queueList, allowJob())
	r("POST /oapi/v1/queue", a.queueCreate)
	r("DELETE /oapi/v1/queue", a.queueDelete)
	r("PUT /oapi/v1/queue/clear", a.queueClear)
	// Shared files.
	r("GET /oapi/v1/share/file", a.fileList, allowJob())
	r("POST /oapi/v1/share/file", a.fileUpload, allowJob(), multipartBody())
	r("GET /oapi/v1/share/file/download", a.fileDownload, allowJob())
	r("DELETE /oapi/v1/share/file", a.fileDelete)
}

// handler serves one signed route. It returns the result to wrap in the envelope, or an error.
type handler func(ctx context.Context, c *call) (any, error)

type routeOpts struct {
	job       bool // a job-scoped token (a robot running a job) may call it
	multipart bool // the body may be multipart/form-data up to MaxUploadBytes
}

type routeOpt func(*routeOpts)

func allowJob() routeOpt      { return func(o *routeOpts) { o.job = true } }
func multipartBody() routeOpt { return func(o *routeOpts) { o.multipart = true } }

// wrap authenticates the request, reads its parameters and renders the envelope.
func (a *API) wrap(h handler, opts ...routeOpt) http.Handler {
	var o routeOpts
	for _, f := range opts {
		f(&o)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		c, err := a.authenticate(ctx, w, r, o)
		if err == nil && c.caller.job != nil && !o.job {
			err = fail(CodeForbidden, "a job token may not call %s", r.URL.Path)
		}
		var res any
		if err == nil {
			res, err = h(ctx, c)
		}
		if c != nil && c.cleanup != nil {
			c.cleanup()
		}
		if err == nil && c.wrote {
			return
		}
		a.env.Write(w, r, res, err)
	})
}

// ms renders a time as Unix milliseconds, the document's "Number" times.
func ms(t time.Time) int64 { return t.UnixMilli() }

// msPtr renders an optional time, null when absent.
func msPtr(t *time.Time) any {
	if t == nil || t.IsZero() {
		return nil
	}
	return t.UnixMilli()
}

const dateLayout = "2006-01-02 15:04:05"

func (a *API) date(t time.Time) string { return t.In(a.loc).Format(dateLayout) }

func (a *API) datePtr(t *time.Time) any {
	if t == nil || t.IsZero() {
		return nil
	}
	return a.date(*t)
}

// parseTime reads the document's date parameters: "2006-01-02 15:04:05", "2006-01-02", RFC 3339 or
// Unix milliseconds.
func (a *API) parseTime(s string) (time.Time, error) {
	for _, layout := range []string{dateLayout, "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, a.loc); err == nil {
			return t, nil
		}
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	var n int64
	if _, err := fmt.Sscanf(s, "%d", &n); err == nil && fmt.Sprint(n) == s {
		return time.UnixMilli(n), nil
	}
	return time.Time{}, fmt.Errorf("time %q: want \"yyyy-MM-dd HH:mm:ss\" or milliseconds", s)
}

// msTime reads Unix milliseconds.
func msTime(n int64) time.Time { return time.UnixMilli(n) }
