// Package server owns taskcenter's HTTP surface: the middleware every request passes (request ids,
// structured logs, recovered panics, body limits, latency metrics), the health and metrics endpoints, the
// agent protocol (api/agent.yaml); it mounts the native JSON API (internal/native) and the dialect
// facades on the same mux, and knows none of them.
package server

import (
	"context"
	"errors"
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
	"taskcenter/internal/facade"
	"taskcenter/internal/httplimit"
	"taskcenter/internal/native"
	"taskcenter/internal/store"
)

// Facade is a dialect that serves routes of its own.
type Facade interface {
	Mount(mux *http.ServeMux)
}

// The interfaces a facade implements to serve the native API's keys and settings routes.
type (
	KeyIssuer      = native.KeyIssuer
	Setting        = native.Setting
	AccountSetting = native.AccountSetting
)

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
	cfg     Config
	mux     *http.ServeMux
	log     *slog.Logger
	latency *prometheus.HistogramVec
	workers *workerCache
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
		workers: newWorkerCache(),
	}
	cfg.Registry.MustRegister(s.latency)
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, map[string]string{"status": "ok"}) })
	s.mux.HandleFunc("GET /readyz", s.handleReady)
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(cfg.Registry, promhttp.HandlerOpts{}))
	s.mountAgentProtocol()
	others := make([]any, len(facades))
	for i, f := range facades {
		others[i] = f
	}
	native.New(native.Config{Engine: cfg.Engine, Store: cfg.Store, Blobs: cfg.Blobs, Log: cfg.Log, MaxUploadBytes: cfg.MaxUploadBytes}, others...).Mount(s.mux)
	for _, f := range facades {
		f.Mount(s.mux)
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
	r = r.WithContext(facade.WithLogger(r.Context(), log))
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

// Logger returns the request-scoped logger (with its request id), for facades too.
func Logger(ctx context.Context, fallback *slog.Logger) *slog.Logger {
	return facade.Logger(ctx, fallback)
}

func writeJSON(w http.ResponseWriter, code int, v any) { facade.JSON(w, code, v) }

func writeError(w http.ResponseWriter, code int, msg string) { facade.JSONError(w, code, msg) }

// fail answers err in the plain dialect (facade.Fail), logging with the request's logger.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	facade.Fail(w, r, Logger(r.Context(), s.log), err)
}
