package projects

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"taskcenter/internal/auth"
	"taskcenter/internal/blob"
	"taskcenter/internal/engine"
	"taskcenter/internal/facade"
)

// Config wires the facade to the server.
type Config struct {
	Engine *engine.Engine
	// Store is read through; render jobs are written through Engine.
	Store Store
	// Target is where renders publish: the server's blob store (a local directory or an S3 bucket),
	// which keeps published outputs under their paths (blob.Keyed).
	Target blob.Keyed
	Log    *slog.Logger
	// PublicURL is the server's address as clients reach it; published outputs are at
	// PublicURL/published/<account>/<project>/<template>/<path>.
	PublicURL string
	// DefaultTimeZone is a project's zone when createExtendedProject names none; UTC when empty.
	DefaultTimeZone string
	// RenderWorkers is how many renders this process runs at once (4 when 0).
	RenderWorkers int
	// UploadConcurrency is how many outputs one publish uploads at once (8 when 0).
	UploadConcurrency int
	// HTTPClient delivers webhooks (10 s time-out when nil).
	HTTPClient *http.Client
	// Now is the clock; the engine's when nil.
	Now func() time.Time
}

// API serves the project service dialect and its extensions.
type API struct {
	cfg    Config
	eng    *engine.Engine
	st     Store
	target blob.Keyed
	log    *slog.Logger
	now    func() time.Time
	hooks  *http.Client
	worker *engine.InProcessWorker
	cancel context.CancelFunc
	// triggerLocks serialise triggers of one template in this process; submitSlots bounds the
	// render submissions under way at once (Trigger).
	triggerLocks [triggerLockCount]sync.Mutex
	submitSlots  chan struct{}
	// tokens caches verified service tokens (verify).
	tokens *facade.Cache[string, heldToken]
	// renderTurns serialise renders of one template in this process (render): a buffer of one.
	renderTurns [triggerLockCount]chan struct{}
}

const (
	triggerLockCount  = 64
	concurrentSubmits = 4
)

// New registers the render kind and starts the in-process render worker; Close stops it.
func New(c Config) (*API, error) {
	if c.Engine == nil || c.Store == nil || c.Target == nil {
		return nil, errors.New("projects: Engine, Store and Target are required")
	}
	if c.Log == nil {
		c.Log = slog.Default()
	}
	if c.Now == nil {
		c.Now = c.Engine.Now
	}
	if c.DefaultTimeZone == "" {
		c.DefaultTimeZone = "UTC"
	}
	if err := loadZone(c.DefaultTimeZone); err != nil {
		return nil, fmt.Errorf("projects: default %w", err)
	}
	if c.RenderWorkers <= 0 {
		c.RenderWorkers = 4
	}
	if c.UploadConcurrency <= 0 {
		c.UploadConcurrency = 8
	}
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	c.PublicURL = strings.TrimRight(c.PublicURL, "/")
	a := &API{cfg: c, eng: c.Engine, st: c.Store, target: c.Target, log: c.Log.With("facade", "projects"), now: c.Now, hooks: c.HTTPClient,
		submitSlots: make(chan struct{}, concurrentSubmits), tokens: facade.NewCache[string, heldToken](tokenCacheSize, tokenCacheTTL)}
	// A render is work done for a template the account already holds: it counts against no limit
	// of jobs in flight.
	for i := range a.renderTurns {
		a.renderTurns[i] = make(chan struct{}, 1)
	}
	a.eng.RegisterKind(KindRender, engine.KindHooks{Internal: true})
	ctx, cancel := context.WithCancel(context.Background())
	w, err := a.eng.StartInProcess(ctx, capabilityRender, c.RenderWorkers, a.render)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("projects: start the render worker: %w", err)
	}
	a.worker, a.cancel = w, cancel
	return a, nil
}

// Close stops the renders running here; the engine hands them to another replica or the next
// start.
func (a *API) Close() error {
	a.cancel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return a.worker.Stop(ctx)
}

// route is how one call of the document answers its failures.
type route struct {
	write      bool // needs a token of scope write
	paramCodes bool // the call's table has 1001 and 1002; otherwise a bad parameter is a 500
	notFound   bool // the call's table has 404
	noParams   bool // the call takes no parameters: its body is not read
}

// call is one authenticated call of the document.
type call struct {
	r      *http.Request
	caller serviceCaller
	p      facade.Params
}

type handler func(ctx context.Context, c *call) (data any, desc string, err error)

// Mount registers the document's calls, the native extensions and the published files.
func (a *API) Mount(mux *http.ServeMux) {
	s := func(pattern string, rt route, h handler) { mux.HandleFunc(pattern, a.serve(rt, h)) }
	s("POST /service/createExtendedProject", route{write: true, paramCodes: true}, a.createProject)
	s("POST /service/updateExtendedProject", route{write: true, paramCodes: true}, a.updateProject)
	s("GET /service/readExtendedProjectRoles/{project}", route{}, a.readRoles)
	s("GET /service/readExtendedProjectUsers/{project}", route{}, a.readUsers)
	s("POST /service/addExtendedProjectUsers", route{write: true}, a.addUsers)
	s("GET /service/trigger/template/{id}", route{write: true, notFound: true, noParams: true}, a.trigger)
	s("POST /service/trigger/template/{id}", route{write: true, notFound: true, noParams: true}, a.trigger)
	a.mountNative(mux)
	mux.HandleFunc("GET /published/{account}/{project}/{template}/{path...}", a.servePublished)
}

func (a *API) serve(rt route, h handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		log := facade.Logger(r.Context(), a.log)
		caller, err := a.verify(r.Context(), r.Header.Get("x-kms-user"), r.Header.Get("x-kms-token"))
		if err == nil && rt.write && caller.scope != scopeWrite {
			err = auth.ErrUnauthorized
		}
		if err != nil {
			if errors.Is(err, auth.ErrUnauthorized) {
				err = codes.New(codeUnauthorized, "")
			}
			write(w, r, log, rt, nil, "", err)
			return
		}
		p := facade.Params{JSON: map[string]any{}, Codes: codes}
		if !rt.noParams {
			p, err = readParams(w, r)
		}
		if err != nil {
			write(w, r, log, rt, nil, "", err)
			return
		}
		c := &call{r: r, caller: caller, p: p}
		data, desc, err := h(r.Context(), c)
		write(w, r, log, rt, data, desc, err)
	}
}

// readParams gathers a call's parameters from the query string, then a JSON object or a form body
// on top (a body's value wins over the query's), as the rulings ask of addExtendedProjectUsers and
// as every call may.
func readParams(w http.ResponseWriter, r *http.Request) (facade.Params, error) {
	m := map[string]any{}
	for k, v := range r.URL.Query() {
		if len(v) > 0 {
			m[k] = v[0]
		}
	}
	p := facade.Params{JSON: m, Codes: codes}
	if r.Method != http.MethodPost {
		return p, nil
	}
	if r.ContentLength > maxBodyBytes {
		return p, codes.New(codeBadParam, "body larger than %d bytes", maxBodyBytes)
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return p, codes.New(codeBadParam, "body larger than %d bytes", maxBodyBytes)
		}
		return p, codes.New(codeBadParam, "body could not be read")
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch {
	case ct == "application/x-www-form-urlencoded":
		form, err := url.ParseQuery(string(body))
		if err != nil {
			return p, codes.New(codeBadParam, "form body is malformed")
		}
		for k, v := range form {
			if len(v) > 0 {
				m[k] = v[0]
			}
		}
	case ct == "multipart/form-data":
		return p, codes.New(codeBadParam, "multipart bodies are not taken; send JSON or a form")
	default: // application/json, or no type: a client of the document sends JSON
		obj, err := facade.DecodeObject(body)
		if err != nil || obj == nil {
			return p, codes.New(codeBadParam, "body must be a JSON object")
		}
		for k, v := range obj {
			m[k] = v
		}
	}
	return p, nil
}

// servePublished answers a published output. Published files are public, as on a CDN.
func (a *API) servePublished(w http.ResponseWriter, r *http.Request) {
	key, ok := publishedKey(r.PathValue("account"), r.PathValue("project"), r.PathValue("template"), r.PathValue("path"))
	if !ok {
		http.NotFound(w, r)
		return
	}
	rc, _, err := a.target.OpenKey(r.Context(), key)
	if errors.Is(err, blob.ErrNotFound) {
		http.NotFound(w, r)
		return
	}
	if err != nil {
		facade.Fail(w, r, facade.Logger(r.Context(), a.log), err)
		return
	}
	defer rc.Close()
	if ct := mime.TypeByExtension(pathExt(key)); ct != "" {
		w.Header().Set("Content-Type", ct)
	}
	w.Header().Set("Cache-Control", "no-cache") // a publish replaces files in place
	http.ServeContent(w, r, "", time.Time{}, rc)
}

func pathExt(p string) string {
	if i := strings.LastIndexByte(p, '.'); i > strings.LastIndexByte(p, '/') {
		return p[i:]
	}
	return ""
}

// publishedKey is where an output lives at the target: projects/<account>/<project>/<template>/<path>.
func publishedKey(account, project, tpl, path string) (string, bool) {
	key := "projects/" + account + "/" + project + "/" + tpl + "/" + path
	return key, blob.ValidKey(key) && !strings.ContainsAny(account+project+tpl, "/")
}

// publishedURL is the documented address of an output.
func (a *API) publishedURL(account int64, project, tpl, path string) string {
	return fmt.Sprintf("%s/published/%d/%s/%s/%s", a.cfg.PublicURL, account, project, tpl, escapePath(path))
}

func escapePath(p string) string {
	segs := strings.Split(p, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return strings.Join(segs, "/")
}
