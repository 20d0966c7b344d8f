// Package console is taskcenter's web console: a single-page app embedded in the binary and served
// at / by `taskcenter serve` and `dev`, its sign-in (a native token exchanged for an HttpOnly
// session cookie, with a CSRF proof on every change) and its live stream (one server-sent event
// stream per page, fed by one shared follower of the engine's history however many consoles are
// open). The app calls the native API (api/native.yaml) and nothing else; this package owns only
// the door to it, not what is behind.
package console

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"path"
	"strings"
	"time"

	"taskcenter/internal/engine"
	"taskcenter/internal/facade"
	"taskcenter/internal/store"
)

//go:embed assets
var assets embed.FS

// Store is what the console reads and writes: session credentials, the caller's account, and what
// the live stream follows.
type Store interface {
	store.Credentials
	GetAccount(ctx context.Context, id int64) (store.Account, error)
	GetJob(ctx context.Context, id int64) (store.Job, error)
	ListJobs(ctx context.Context, f store.JobFilter) ([]store.Job, int, error)
	UnitCounts(ctx context.Context, jobIDs []int64) (map[int64]map[store.UnitStatus]int, error)
	ListUnits(ctx context.Context, f store.UnitFilter) ([]store.Unit, int, error)
	ListEvents(ctx context.Context, f store.EventFilter) ([]store.Event, error)
	ListWorkers(ctx context.Context, kind string) ([]store.Worker, error)
	TallyUnits(ctx context.Context, accountID int64) ([]store.UnitTally, error)
	QueueDepth(ctx context.Context, now time.Time) (map[string]int, error)
	LastEventID(ctx context.Context) (int64, error)
}

// Config is what the console needs.
type Config struct {
	Engine *engine.Engine
	Store  Store
	Log    *slog.Logger
	// SessionTTL is how long a sign-in lasts; 12 h when zero.
	SessionTTL time.Duration
	// Tick is how often the live stream looks for changes while a console is open; 500 ms when zero.
	Tick time.Duration
	// Dialects are the dialects this server speaks (render, rpa, ...): the app shows their pages.
	Dialects []string
}

// Console serves the app, its session and its live stream.
type Console struct {
	cfg   Config
	log   *slog.Logger
	index []byte // index.html with this build's version and the app's configuration
	files http.Handler
	live  *hub
	// gz holds each text asset compressed once at start (they are served to every console), and
	// version names this build's assets in index.html so that a browser fetches new ones.
	gz      map[string][]byte
	version string
	// mux is what Mount registered on: the fallback asks it which methods a path has.
	mux *http.ServeMux
}

// New builds the console. Close stops its live stream's follower.
func New(cfg Config) (*Console, error) {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = 12 * time.Hour
	}
	if cfg.Tick <= 0 {
		cfg.Tick = 500 * time.Millisecond
	}
	sub, err := fs.Sub(assets, "assets")
	if err != nil {
		return nil, err
	}
	c := &Console{cfg: cfg, log: cfg.Log, files: http.FileServerFS(sub)}
	if c.gz, c.version, err = compressAssets(sub); err != nil {
		return nil, err
	}
	page, err := fs.ReadFile(sub, "index.html")
	if err != nil {
		return nil, err
	}
	// json.Marshal escapes <, > and &, so the configuration cannot end its script element.
	conf, err := json.Marshal(map[string]any{"dialects": cfg.Dialects, "live_tick_ms": cfg.Tick.Milliseconds()})
	if err != nil {
		return nil, err
	}
	c.index = []byte(strings.NewReplacer("{{.Config}}", string(conf), "{{.Version}}", c.version).Replace(string(page)))
	c.live = newHub(cfg.Store, cfg.Engine.Now, cfg.Tick, cfg.Log)
	return c, nil
}

// Close stops the live stream's follower; open streams end.
func (c *Console) Close() error {
	c.live.close()
	return nil
}

// EndStreams ends the open live streams (and takes no new ones), so that a server shutting down does
// not wait for them: `taskcenter serve` calls it when shutdown begins.
func (c *Console) EndStreams() { c.live.close() }

// Mount registers the console's routes: the app at / (every path a browser asks for as a page), its
// files under /console/assets/, the session and the live stream under /console/.
func (c *Console) Mount(mux *http.ServeMux) {
	mux.HandleFunc("GET /console/assets/", c.handleAsset)
	mux.HandleFunc("GET /console/session", c.handleSession)
	mux.HandleFunc("POST /console/session", c.handleSignIn)
	mux.HandleFunc("DELETE /console/session", c.handleSignOut)
	mux.HandleFunc("GET /console/live", c.handleLive)
	mux.HandleFunc("/", c.handleApp)
	c.mux = mux
}

// handleAsset serves the app's files under /console/assets/<version>/: a new build's files have new
// URLs (relative imports included), so that a browser may keep them for good. A version that is
// not this build's (a page left open across an upgrade) is served this build's files uncached.
func (c *Console) handleAsset(w http.ResponseWriter, r *http.Request) {
	version, name, ok := strings.Cut(strings.TrimPrefix(r.URL.Path, "/console/assets/"), "/")
	if !ok || name == "" || strings.HasSuffix(name, "/") {
		http.NotFound(w, r)
		return
	}
	r2 := r.Clone(r.Context())
	r2.URL.Path = "/" + name
	if version == c.version {
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		w.Header().Set("Cache-Control", "no-cache")
	}
	if strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
		if gz, ok := c.gz[r2.URL.Path]; ok {
			w.Header().Set("Content-Encoding", "gzip")
			w.Header().Set("Vary", "Accept-Encoding")
			w.Header().Set("Content-Type", contentType(r2.URL.Path))
			http.ServeContent(w, r2, "", time.Time{}, bytes.NewReader(gz))
			return
		}
	}
	c.files.ServeHTTP(w, r2)
}

// handleApp answers every path no other route takes: the app's page (index.html) to a browser
// asking for HTML, so that /jobs/12 opened from a bookmark works; 404 to anything else, so that an
// API client's mistyped path is not answered with a page. The root is the page whatever the Accept
// header says: it is the address the server prints, and `curl` of it should not answer 404.
func (c *Console) handleApp(w http.ResponseWriter, r *http.Request) {
	htmlWanted := strings.Contains(r.Header.Get("Accept"), "text/html") || r.URL.Path == "/"
	if (r.Method != http.MethodGet && r.Method != http.MethodHead) || !htmlWanted || strings.HasPrefix(r.URL.Path, "/api/") {
		// A route of another method keeps answering 405, as it did before this fallback took "/".
		if allow := c.methodsOf(r); len(allow) > 0 {
			w.Header().Set("Allow", strings.Join(allow, ", "))
			facade.JSONError(w, http.StatusMethodNotAllowed, "method not allowed")
			return
		}
		facade.JSONError(w, http.StatusNotFound, "not found")
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Frame-Options", "DENY")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'")
	w.Header().Set("Referrer-Policy", "same-origin")
	_, _ = w.Write(c.index)
}

func contentType(p string) string {
	switch path.Ext(p) {
	case ".js":
		return "text/javascript; charset=utf-8"
	case ".css":
		return "text/css; charset=utf-8"
	case ".svg":
		return "image/svg+xml"
	}
	return "application/octet-stream"
}

// compressAssets gzips the text assets and hashes them all into a version.
func compressAssets(files fs.FS) (map[string][]byte, string, error) {
	out := map[string][]byte{}
	h := sha256.New()
	err := fs.WalkDir(files, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(files, p)
		if err != nil {
			return err
		}
		h.Write([]byte(p))
		h.Write(b)
		switch path.Ext(p) {
		case ".js", ".css", ".svg":
			var buf bytes.Buffer
			zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
			zw.Write(b)
			if err := zw.Close(); err != nil {
				return err
			}
			out["/"+p] = buf.Bytes()
		}
		return nil
	})
	if err != nil {
		return nil, "", fmt.Errorf("read console assets: %w", err)
	}
	return out, hex.EncodeToString(h.Sum(nil))[:12], nil
}

// methodsOf lists the methods other routes serve r's path with.
func (c *Console) methodsOf(r *http.Request) []string {
	if c.mux == nil {
		return nil
	}
	var out []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := c.mux.Handler(probe); pattern != "" && pattern != "/" {
			out = append(out, m)
		}
	}
	return out
}
