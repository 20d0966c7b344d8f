// Package server owns taskcenter's HTTP surface: the middleware every request passes (request ids,
// structured logs, recovered panics, body limits, latency metrics), the health and metrics endpoints, the
// agent protocol (api/agent.yaml) and the native JSON API (api/native.yaml). Dialect facades mount their
// own routes on the same mux; the server knows none of them.
package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"taskcenter/internal/auth"
	"taskcenter/internal/blob"
	"taskcenter/internal/engine"
	"taskcenter/internal/httplimit"
	"taskcenter/internal/store"
)

// Facade is a dialect that serves routes of its own.
type Facade interface {
	Mount(mux *http.ServeMux)
}

// KeyIssuer is a facade that makes its dialect's credentials for an account: the native API's
// POST /api/v1/accounts/{id}/keys, behind the admin command's "keys create".
type KeyIssuer interface {
	// KeyKind names the dialect, as the request's kind ("render", "rpa").
	KeyKind() string
	// IssueKey makes a credential for the account and returns its fields as the dialect names them,
	// secrets included: they are shown this once. name is a hint the dialect may use (a user name).
	IssueKey(ctx context.Context, accountID int64, name string) (map[string]string, error)
}

// Setting is a facade's document that an admin reads and replaces whole: the native API's
// GET and PUT /api/v1/settings/{name}, behind the admin command's "settings get|set".
type Setting interface {
	// SettingName names it in the path, e.g. "render-catalog".
	SettingName() string
	GetSetting(ctx context.Context) (json.RawMessage, error)
	// PutSetting validates and stores a new document; a document it refuses is an error wrapping
	// engine.ErrInvalid.
	PutSetting(ctx context.Context, doc json.RawMessage) error
}

// AccountSetting is a facade's document of one account that an admin reads and changes field by
// field: the native API's GET and PATCH /api/v1/accounts/{id}/settings/{name}, behind the admin
// command's "accounts settings" (render prices among them).
type AccountSetting interface {
	// AccountSettingName names it in the path, e.g. "render".
	AccountSettingName() string
	GetAccountSetting(ctx context.Context, accountID int64) (json.RawMessage, error)
	// PatchAccountSetting changes the fields doc names and answers the whole document; a change it
	// refuses is an error wrapping engine.ErrInvalid, an unknown account store.ErrNotFound.
	PatchAccountSetting(ctx context.Context, accountID int64, doc json.RawMessage) (json.RawMessage, error)
}

// Config is what a Server needs.
type Config struct {
	Engine   *engine.Engine
	Store    store.Store
	Blobs    blob.Store
	Keyring  *auth.Keyring
	Log      *slog.Logger
	Registry *prometheus.Registry
	// MaxUploadBytes bounds an agent's output upload and a native blob upload.
	MaxUploadBytes int64
	// BodyTimeout bounds how long a request body may take to arrive (DefaultBodyTimeout when zero);
	// uploads instead must keep data coming (httplimit.Upload).
	BodyTimeout time.Duration
}

// DefaultBodyTimeout is how long a request body may take to arrive: 64 MiB at about 1 MB/s.
const DefaultBodyTimeout = time.Minute

// Server is taskcenter's HTTP handler.
type Server struct {
	cfg      Config
	mux      *http.ServeMux
	log      *slog.Logger
	latency  *prometheus.HistogramVec
	workers  *workerCache
	issuers  map[string]KeyIssuer      // by KeyKind
	settings map[string]Setting        // by SettingName
	acctSets map[string]AccountSetting // by AccountSettingName
}

// New builds the server and mounts the built-in routes and the given facades.
func New(cfg Config, facades ...Facade) *Server {
	if cfg.MaxUploadBytes <= 0 {
		cfg.MaxUploadBytes = 8 << 30
	}
	if cfg.BodyTimeout <= 0 {
		cfg.BodyTimeout = DefaultBodyTimeout
	}
	s := &Server{
		cfg: cfg,
		mux: http.NewServeMux(),
		log: cfg.Log,
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "taskcenter_http_request_duration_seconds", Help: "HTTP request latency by route.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}, []string{"route", "code"}),
		workers:  newWorkerCache(),
		issuers:  map[string]KeyIssuer{},
		settings: map[string]Setting{},
		acctSets: map[string]AccountSetting{},
	}
	cfg.Registry.MustRegister(s.latency)
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, map[string]string{"status": "ok"}) })
	s.mux.HandleFunc("GET /readyz", s.handleReady)
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(cfg.Registry, promhttp.HandlerOpts{}))
	s.mountAgentProtocol()
	s.mountNative()
	for _, f := range facades {
		f.Mount(s.mux)
		if ki, ok := f.(KeyIssuer); ok {
			s.issuers[ki.KeyKind()] = ki
		}
		if st, ok := f.(Setting); ok {
			s.settings[st.SettingName()] = st
		}
		if as, ok := f.(AccountSetting); ok {
			s.acctSets[as.AccountSettingName()] = as
		}
	}
	return s
}

// ServeHTTP implements http.Handler with the common middleware around the mux.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	httplimit.Body(w, r, s.cfg.BodyTimeout)
	id := r.Header.Get("X-Request-Id")
	if id == "" || len(id) > 64 {
		id = auth.RandomHex(8)
	}
	w.Header().Set("X-Request-Id", id)
	rw := &statusWriter{ResponseWriter: w, code: 200}
	log := s.log.With("request_id", id)
	r = r.WithContext(withLogger(r.Context(), log))
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			log.Error("panic serving request", "panic", p, "path", r.URL.Path, "stack", string(debug.Stack()))
			if !rw.wrote {
				writeError(rw, http.StatusInternalServerError, "internal error")
			}
		}
		_, route := s.mux.Handler(r)
		if route == "" {
			route = "unmatched"
		}
		d := time.Since(start)
		s.latency.WithLabelValues(route, strconv.Itoa(rw.code)).Observe(d.Seconds())
		if d > time.Second && rw.code != 200 || rw.code >= 500 {
			log.Warn("request", "method", r.Method, "path", r.URL.Path, "status", rw.code, "duration", d)
		} else {
			log.Debug("request", "method", r.Method, "path", r.URL.Path, "status", rw.code, "duration", d)
		}
	}()
	s.mux.ServeHTTP(rw, r)
}

func (s *Server) handleReady(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	// A lookup of an id that cannot exist proves the database answers.
	if _, err := s.cfg.Store.GetAccount(ctx, -1); err != nil && !errors.Is(err, store.ErrNotFound) {
		writeError(w, http.StatusServiceUnavailable, "database unavailable: "+err.Error())
		return
	}
	writeJSON(w, 200, map[string]any{"status": "ready", "leader": s.cfg.Engine.IsLeader()})
}

type statusWriter struct {
	http.ResponseWriter
	code  int
	wrote bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.code, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

type logKey struct{}

func withLogger(ctx context.Context, l *slog.Logger) context.Context {
	return context.WithValue(ctx, logKey{}, l)
}

// Logger returns the request-scoped logger (with its request id), for facades too.
func Logger(ctx context.Context, fallback *slog.Logger) *slog.Logger {
	if l, ok := ctx.Value(logKey{}).(*slog.Logger); ok {
		return l
	}
	return fallback
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	if err := json.NewEncoder(w).Encode(v); err != nil {
		slog.Debug("write response", "err", err) // the client went away
	}
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}

// statusFor maps engine and store errors to HTTP statuses.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	var mbe *http.MaxBytesError
	switch {
	case errors.Is(err, store.ErrNotFound):
		writeError(w, http.StatusNotFound, "not found")
	case errors.Is(err, store.ErrStale):
		writeError(w, http.StatusConflict, "stale lease: the unit is no longer held with this epoch")
	case errors.Is(err, store.ErrConflict):
		writeError(w, http.StatusConflict, err.Error())
	case errors.Is(err, engine.ErrInvalid):
		writeError(w, http.StatusBadRequest, err.Error())
	case errors.As(err, &mbe):
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body larger than %d bytes", mbe.Limit))
	case errors.Is(err, blob.ErrTooLarge):
		writeError(w, http.StatusRequestEntityTooLarge, "upload larger than allowed")
	case errors.Is(err, auth.ErrUnauthorized):
		writeError(w, http.StatusUnauthorized, "invalid or missing token")
	default:
		Logger(r.Context(), s.log).Error("request failed", "path", r.URL.Path, "err", err)
		writeError(w, http.StatusInternalServerError, "internal error")
	}
}
