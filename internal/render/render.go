// Package render is the render farm dialect of taskcenter: the HMAC-signed JSON API of render-farm-api.txt
// (tasks, frames, software catalog, plugins, render environments, labels, progress images, thumbnails,
// transfer addresses), an HTTP transfer service for scene files and outputs, and the mapping of render
// tasks onto engine jobs: a submitted task is a parent ("shell") job whose child jobs hold the frames as
// units that Blender agents render.
//
// It owns the wire dialect and the render-specific meaning of jobs (status codes, frames, tiles,
// stitching, prices). It must not hold rules other dialects need (leasing, retries, charging order,
// pause/resume semantics live in the engine) and never touches another account's data: every task and
// frame lookup is checked against the caller's account and answers 404 for anything else.
package render

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"taskcenter/internal/auth"
	"taskcenter/internal/blob"
	"taskcenter/internal/engine"
	"taskcenter/internal/facade"
	"taskcenter/internal/store"
)

// Kinds of the engine jobs this facade creates.
const (
	// KindTask is the parent ("shell") task a client sees under its task id. It has no units of its own
	// and is Open so that the engine never finishes it by itself: its status is derived from its children.
	KindTask = "render.task"
	// KindRender is a child job whose units are frames or frame blocks.
	KindRender = "render"
)

// Config is what the facade needs.
type Config struct {
	Engine *engine.Engine
	// Store is read through; jobs, units and schedules are written through Engine.
	Store   Store
	Blobs   blob.Store
	Keyring *auth.Keyring
	Log     *slog.Logger
	// PublicURL is how clients reach this server (scheme://host[:port]), for transfer addresses,
	// grabUrl and thumbnails.
	PublicURL string
	// Blender is the executable the server analyses .blend files with; "blender" when empty. When it
	// is not installed the analysis falls back to task.json's scene_info.
	Blender string
	// MaxUploadBytes bounds one transfer upload chunk; 8 GiB when zero.
	MaxUploadBytes int64
	// MaxFileBytes bounds the total size a chunked transfer upload may declare; 1 TiB when zero.
	MaxFileBytes int64
	// Window is the accepted clock skew of UTCTimestamp either way; 300 s when zero.
	Window time.Duration
	// AnalysisTimeout bounds one scene analysis; 5 minutes when zero. The engine stops an analysis
	// unit still running a minute after it; a server that died under one loses its lease, and another
	// server takes the analysis over.
	AnalysisTimeout time.Duration
	// AnalysisWorkers is how many scene analyses this server runs at once; 4 when zero. More wait
	// their turn (still ANALYSE, 50), or are taken by another server.
	AnalysisWorkers int
	// ImageURLTTL is how long a grabUrl or thumbnail URL an answer lists stays valid; 24 h when zero.
	ImageURLTTL time.Duration
	// Now is the clock image URLs are signed and checked against; the engine's when nil.
	Now func() time.Time
	// RecoverEvery is how often the leader looks for analyses an older server left marked; 30 s
	// when zero.
	RecoverEvery time.Duration
}

// API serves the render farm dialect.
type API struct {
	cfg   Config
	eng   *engine.Engine
	st    Store
	blobs blob.Store
	keys  *auth.Keyring
	log   *slog.Logger

	// analysis runs the scene analyses (analyse.go) in this process.
	analysis *engine.InProcessWorker
	// stitchMu serialises stitching, so two finishers do not stitch the same frame twice.
	stitchMu sync.Mutex
	// cat is the decoded catalog and missing the catalog's capabilities no online worker offers,
	// each as last read (readTTL).
	cat     recentValue[Catalog]
	missing recentValue[map[string]bool]
	// keyCache holds looked-up accessIds and their opened keys, and subCache main accounts'
	// sub-accounts, each for cacheTTL.
	keyCache *facade.Cache[string, openedKey]
	subCache *facade.Cache[int64, []store.Account]
	// env writes every answer; signed checks every signed request.
	env    *facade.Envelope
	signed *facade.Signed[openedKey, signedMsg, store.Account]
	ctx    context.Context
	cancel context.CancelFunc
}

// maxBodyBytes bounds a JSON request: task.json and asset.json arrive inline through taskJsonFile.
const maxBodyBytes = 8 << 20

// New builds the facade and registers its job kinds with the engine.
func New(cfg Config) (*API, error) {
	switch {
	case cfg.Engine == nil:
		return nil, errors.New("render: Config.Engine is required")
	case cfg.Store == nil:
		return nil, errors.New("render: Config.Store is required")
	case cfg.Blobs == nil:
		return nil, errors.New("render: Config.Blobs is required")
	case cfg.Keyring == nil:
		return nil, errors.New("render: Config.Keyring is required")
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Blender == "" {
		cfg.Blender = "blender"
	}
	if cfg.MaxUploadBytes <= 0 {
		cfg.MaxUploadBytes = 8 << 30
	}
	if cfg.MaxFileBytes <= 0 {
		cfg.MaxFileBytes = 1 << 40
	}
	if cfg.Window <= 0 {
		cfg.Window = 300 * time.Second
	}
	if cfg.AnalysisTimeout <= 0 {
		cfg.AnalysisTimeout = 5 * time.Minute
	}
	if cfg.AnalysisWorkers <= 0 {
		cfg.AnalysisWorkers = 4
	}
	if cfg.RecoverEvery <= 0 {
		cfg.RecoverEvery = 30 * time.Second
	}
	if cfg.ImageURLTTL <= 0 {
		cfg.ImageURLTTL = 24 * time.Hour
	}
	if cfg.Now == nil {
		cfg.Now = cfg.Engine.Now
	}
	cfg.PublicURL = strings.TrimRight(cfg.PublicURL, "/")
	ctx, cancel := context.WithCancel(context.Background())
	a := &API{cfg: cfg, eng: cfg.Engine, st: cfg.Store, blobs: cfg.Blobs, keys: cfg.Keyring,
		log: cfg.Log.With("facade", "render"), keyCache: facade.NewCache[string, openedKey](cacheSize, cacheTTL),
		subCache: facade.NewCache[int64, []store.Account](cacheSize, cacheTTL), ctx: ctx, cancel: cancel}
	a.env = newEnvelope(a.log)
	a.signed = a.newSigned()
	a.eng.RegisterKind(KindTask, engine.KindHooks{Open: true})
	a.eng.RegisterKind(KindRender, engine.KindHooks{UnitCost: a.unitCost, JobFinished: a.jobFinished})
	a.eng.RegisterKind(KindAnalysis, engine.KindHooks{Internal: true, JobFinished: a.analysisEnded})
	var err error
	if a.analysis, err = a.eng.StartInProcess(ctx, capAnalyse, cfg.AnalysisWorkers, a.analyse); err != nil {
		cancel()
		return nil, fmt.Errorf("render: start scene analysis: %w", err)
	}
	// One replica, the leader, adopts what older servers left; a second facade on one engine (tests)
	// finds the service registered already.
	if err := a.eng.RegisterService(engine.NewService(legacyAnalysesService, cfg.RecoverEvery,
		func(ctx context.Context, _ time.Time) error { return a.adoptLegacyAnalyses(ctx) })); err != nil {
		a.log.Debug("legacy analyses service", "err", err)
	}
	return a, nil
}

// closeTimeout bounds how long Close waits for the analyses running here to stop; one still running
// then keeps its unit until its lease runs out.
const closeTimeout = 30 * time.Second

// Close stops the analyses running here (the engine hands them to another server, or to the next
// one to start) and waits for them.
func (a *API) Close() error {
	a.cancel()
	ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
	defer cancel()
	return a.analysis.Stop(ctx)
}

// call is one authenticated request.
type call struct {
	r       *http.Request
	account store.Account
	p       params
	body    []byte
	rules   *rules // the account's rules, once read (rulesOf)
}

type handlerFunc func(ctx context.Context, c *call) (any, error)

// Mount registers the routes on mux.
func (a *API) Mount(mux *http.ServeMux) {
	routes := map[string]handlerFunc{
		// common
		"/api/render/common/queryPlatforms":         a.queryPlatforms,
		"/api/render/common/queryErrorDetail":       a.queryErrorDetail,
		"/api/render/common/addLabel":               a.addLabel,
		"/api/render/common/deleteLabel":            a.deleteLabel,
		"/api/render/common/getLabelList":           a.getLabelList,
		"/api/render/common/querySupportedSoftware": a.querySupportedSoftware,
		"/api/render/common/querySupportedPlugin":   a.querySupportedPlugin,
		"/api/render/common/addRenderEnv":           a.addRenderEnv,
		"/api/render/common/updateRenderEnv":        a.updateRenderEnv,
		"/api/render/common/deleteRenderEnv":        a.deleteRenderEnv,
		"/api/render/common/setDefaultRenderEnv":    a.setDefaultRenderEnv,
		"/api/render/common/getRenderEnv":           a.getRenderEnv,
		// user
		"/api/render/user/queryUserProfile":  a.queryUserProfile,
		"/api/render/user/queryUserSetting":  a.queryUserSetting,
		"/api/render/user/updateUserSetting": a.updateUserSetting,
		"/api/render/user/getRaySyncUserKey": a.getRaySyncUserKey,
		// task
		"/api/render/task/getTransferBid":        a.getTransferBid,
		"/api/render/task/createTask":            a.createTask,
		"/api/render/task/submitTask":            a.submitTask,
		"/api/render/task/getTaskList":           a.getTaskList,
		"/api/render/task/stopTask":              a.stopTask,
		"/api/render/task/startTask":             a.startTask,
		"/api/render/task/abortTask":             a.abortTask,
		"/api/render/task/deleteTask":            a.deleteTask,
		"/api/render/task/queryTaskFrames":       a.queryTaskFrames,
		"/api/render/task/queryAllFrameStats":    a.queryAllFrameStats,
		"/api/render/task/restartFailedFrames":   a.restartFailedFrames,
		"/api/render/task/restartFrame":          a.restartFrame,
		"/api/render/task/queryTaskInfo":         a.queryTaskInfo,
		"/api/render/task/loadTaskProcessImg":    a.loadTaskProcessImg,
		"/api/render/task/setOverTimeStop":       a.setOverTimeStop,
		"/api/render/task/loadingFrameThumbnail": a.loadingFrameThumbnail,
		"/api/render/task/getTransferServerMsg":  a.getTransferServerMsg,
		"/api/render/task/fullSpeed":             a.fullSpeed,
		// what real clients call beyond the document
		"/api/render/task/taskJsonFile":                         a.taskJSONFile,
		"/api/render/task/getTransferConfig":                    a.getTransferConfig,
		"/api/render/task/addTaskLabel":                         a.addTaskLabel,
		"/api/render/task/deleteTaskLabel":                      a.deleteTaskLabel,
		"/api/rendering/task/common/operateUserLabel":           a.operateUserLabel,
		"/api/rendering/task/renderingTask/updateTaskUserLevel": a.updateTaskUserLevel,
	}
	for path, h := range routes {
		mux.HandleFunc("POST "+path, a.serve(h))
	}
	// The document writes getTransferServerMsg without its leading slash; clients that copy it send
	// the same path, which the mux already serves.
	a.mountTransfer(mux)
	mux.HandleFunc("GET /api/render/img/{file}", a.serveImage)
}

// serve wraps a handler with body limits, signature checking and the envelope.
func (a *API) serve(h handlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		data, err := a.handle(w, r, h)
		a.env.Write(w, r, data, err)
	}
}

func (a *API) handle(w http.ResponseWriter, r *http.Request, h handlerFunc) (any, error) {
	ctx := r.Context()
	// Everything the headers can prove is checked before the body is read: a caller with no live
	// accessId makes the server read, hold and canonicalise nothing.
	hv, opened, err := a.authenticateHeaders(ctx, r)
	if err != nil {
		return nil, err
	}
	if r.ContentLength > maxBodyBytes {
		return nil, invalid("request body is larger than %d bytes", maxBodyBytes)
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, invalid("request body is larger than %d bytes", maxBodyBytes)
		}
		return nil, invalid("reading the request body: %v", err)
	}
	acct, p, err := a.authenticateBody(ctx, r, hv, opened, body)
	if err != nil {
		return nil, err
	}
	return h(ctx, &call{r: r, account: acct, p: p, body: body})
}

// signedMsg is what a request's signature is made over: the signed headers and the body.
type signedMsg struct {
	r    *http.Request
	hv   map[string]string
	body []byte
}

// newSigned is the document's signature rule on the kit's skeleton: UTCTimestamp in Unix seconds
// within Window, the accessId's opened key, Canonical signed with HMAC-SHA256, and the nonce header
// spent per accessId, which also reads the caller's account.
func (a *API) newSigned() *facade.Signed[openedKey, signedMsg, store.Account] {
	return &facade.Signed[openedKey, signedMsg, store.Account]{
		Window: a.cfg.Window, Unit: time.Second, Now: a.eng.Now,
		Lookup: a.accessKey,
		Canonical: func(_ openedKey, m signedMsg, i int) (string, bool, error) {
			if i > 0 {
				return "", false, nil
			}
			msg, err := Canonical(m.r.Host, m.r.URL.Path, m.hv, m.body)
			if err != nil {
				return "", false, invalid("%v", err)
			}
			return msg, true, nil
		},
		Sign: func(k openedKey, msg string) string { return Sign(k.key, msg) },
		Spend: func(ctx context.Context, k openedKey, m signedMsg, o facade.Opened[openedKey]) (store.Account, bool, error) {
			fresh, acct, err := a.st.UseAccountNonce(ctx, k.cred.AccountID, "render:"+k.cred.KeyID, m.hv["nonce"], o.Now.Add(2*a.cfg.Window), o.Now)
			if err != nil {
				return store.Account{}, false, fmt.Errorf("record nonce of account %d: %w", k.cred.AccountID, err)
			}
			return acct, fresh, nil
		},
		BadTime:      apiErr(CodeSignatureExpired, "UTCTimestamp must be Unix seconds"),
		Expired:      apiErr(CodeSignatureExpired, "UTCTimestamp is more than %d s away from the server's clock", int(a.cfg.Window/time.Second)),
		BadSignature: apiErr(CodeSignatureInvalid, "signature does not match"),
		Replay:       apiErr(CodeSignatureInvalid, "nonce already used (replay)"),
	}
}

// authenticateHeaders checks what the signed headers alone can prove: that they are present, that
// the timestamp is inside the window and that the accessId is live.
func (a *API) authenticateHeaders(ctx context.Context, r *http.Request) (map[string]string, facade.Opened[openedKey], error) {
	hv := headerValues(r.Header)
	for _, name := range []string{"accessId", "UTCTimestamp", "nonce"} {
		if hv[name] == "" {
			return nil, facade.Opened[openedKey]{}, apiErr(CodeMissing, "header %s is required", name)
		}
	}
	if r.Header.Get("signature") == "" {
		return nil, facade.Opened[openedKey]{}, apiErr(CodeMissing, "header signature is required")
	}
	o, err := a.signed.Open(ctx, hv["accessId"], hv["UTCTimestamp"])
	return hv, o, err
}

// authenticateBody checks the signature over the headers and body and spends the nonce, returning
// the caller's account and the decoded body.
func (a *API) authenticateBody(ctx context.Context, r *http.Request, hv map[string]string, o facade.Opened[openedKey], body []byte) (store.Account, params, error) {
	acct, err := a.signed.Verify(ctx, o, signedMsg{r: r, hv: hv, body: body}, r.Header.Get("signature"))
	if err != nil {
		return store.Account{}, nil, err
	}
	p, err := decodeParams(body)
	if err != nil {
		return store.Account{}, nil, err
	}
	return acct, p, nil
}

func decodeParams(body []byte) (params, error) {
	p := params{}
	if len(strings.TrimSpace(string(body))) == 0 {
		return p, nil
	}
	if err := decodeNumbers(body, &p); err != nil {
		return nil, invalid("request body is not a JSON object: %v", err)
	}
	if p == nil {
		p = params{}
	}
	return p, nil
}
