package recording

import (
	"context"
	"errors"
	"fmt"
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

// Paths of the dialect.
const (
	// PathWS is the long connection: a WebSocket whose text frames are the document's commands.
	PathWS = "/api/record/ws"
	// PathMedia and PathGroup are the registry's HTTP extension (a media server's webhook).
	PathMedia = "/api/record/group/media"
	PathGroup = "/api/record/group/get"
	// The storage calls of the document.
	PathFileList     = "/api/record/file/list"
	PathVolume       = "/api/store/volume/getUsedVolume"
	PathFileDownload = "/api/record/file/download"
	PathFileDelete   = "/api/record/file/delete"
	// PathFileGet serves a slice behind an expiring signed URL that download answers.
	PathFileGet = "/api/record/file/get"
)

// Config is what the facade needs.
type Config struct {
	Engine  *engine.Engine
	Store   Store
	Blobs   blob.Store
	Keyring *auth.Keyring
	Log     *slog.Logger
	// PublicURL is the base of the download URLs (http://host:port).
	PublicURL string
	// Now is the clock of tokens, timeouts and URLs; the engine's when nil.
	Now func() time.Time
	// Minute is how long a minute of file_duration lasts: a minute but in tests, so that slicing can
	// be tested in seconds. Clients never see it.
	Minute time.Duration
	// SegmentSeconds is the length of the segments a capture uploads (what a dying recorder may lose).
	SegmentSeconds int
	// StallMillis is how long a source may deliver nothing before its cell shows a placeholder.
	StallMillis int
	// TimeZone is the zone of system-time subtitles (an IANA name; UTC when empty).
	TimeZone string
	// URLTTL is how long a download URL stays good.
	URLTTL time.Duration
	// MaxFrameBytes bounds one command frame; CommandsPerSecond and CommandBurst rate a connection.
	MaxFrameBytes     int
	CommandsPerSecond float64
	CommandBurst      int
	// MaxAttempts is how many recorders a capture may be handed to before it fails.
	MaxAttempts int
	// PingEvery is how often idle long connections are pinged; one whose peer does not answer within
	// PingEvery is closed (a client that vanished without closing).
	PingEvery time.Duration
}

func (c Config) withDefaults() Config {
	if c.Log == nil {
		c.Log = slog.Default()
	}
	if c.Minute <= 0 {
		c.Minute = time.Minute
	}
	if c.SegmentSeconds <= 0 {
		c.SegmentSeconds = 10
	}
	if c.StallMillis <= 0 {
		c.StallMillis = 3500
	}
	if c.URLTTL <= 0 {
		c.URLTTL = time.Hour
	}
	if c.MaxFrameBytes <= 0 {
		c.MaxFrameBytes = 64 << 10
	}
	if c.CommandsPerSecond <= 0 {
		c.CommandsPerSecond = 20
	}
	if c.CommandBurst <= 0 {
		c.CommandBurst = 40
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = 20
	}
	if c.PingEvery <= 0 {
		c.PingEvery = 30 * time.Second
	}
	c.PublicURL = strings.TrimRight(c.PublicURL, "/")
	return c
}

// API is the recording facade.
type API struct {
	cfg   Config
	eng   *engine.Engine
	st    Store
	log   *slog.Logger
	apps  *facade.Cache[string, app]
	locks keyedLocks
	conns connSet
	done  chan struct{} // closed by Close: ends the pinger
	once  sync.Once
}

// New builds the facade and registers its job kind and its leader service with the engine.
func New(cfg Config) (*API, error) {
	if cfg.Engine == nil || cfg.Store == nil || cfg.Blobs == nil || cfg.Keyring == nil {
		return nil, errors.New("recording: Engine, Store, Blobs and Keyring are required")
	}
	cfg = cfg.withDefaults()
	a := &API{cfg: cfg, eng: cfg.Engine, st: cfg.Store, log: cfg.Log, apps: facade.NewCache[string, app](10_000, 5*time.Second)}
	a.locks.m = map[string]*keyedLock{}
	a.conns.m = map[*session]struct{}{}
	a.done = make(chan struct{})
	go a.pingIdle()
	a.eng.RegisterKind(Kind, engine.KindHooks{JobFinished: a.jobFinished})
	for _, svc := range []engine.Service{engine.NewService(ServiceAdvance, time.Second, a.Advance),
		engine.NewService(ServiceFold, time.Minute, a.Fold)} {
		if err := a.eng.RegisterService(svc); err != nil {
			return nil, fmt.Errorf("register %s: %w", svc.Name(), err)
		}
	}
	return a, nil
}

func (a *API) now() time.Time {
	if a.cfg.Now != nil {
		return a.cfg.Now().UTC().Truncate(time.Millisecond)
	}
	return a.eng.Now()
}

// Mount adds the dialect's routes.
func (a *API) Mount(mux *http.ServeMux) {
	mux.HandleFunc("GET "+PathWS, a.serveWS)
	mux.HandleFunc("POST "+PathMedia, a.storageCall(a.httpMedia))
	mux.HandleFunc("POST "+PathGroup, a.storageCall(a.httpGroup))
	mux.HandleFunc("POST "+PathFileList, a.storageCall(a.fileList))
	mux.HandleFunc("POST "+PathVolume, a.storageCall(a.volume))
	mux.HandleFunc("POST "+PathFileDownload, a.storageCall(a.fileDownload))
	mux.HandleFunc("POST "+PathFileDelete, a.storageCall(a.fileDelete))
	mux.HandleFunc("GET "+PathFileGet, a.fileGet)
}

// Close ends the open long connections (recordings go on).
func (a *API) Close() error {
	a.once.Do(func() { close(a.done) })
	a.conns.closeAll()
	return nil
}

// app is an app_id with its secret and account.
type app struct {
	ID        string
	AccountID int64
	Secret    string
}

// lookupApp returns a live app.
func (a *API) lookupApp(ctx context.Context, appID string) (app, *facade.Error) {
	now := a.now()
	if ap, ok := a.apps.Get(appID, now); ok {
		return ap, nil
	}
	if appID == "" || !facade.ValidText(appID) || len(appID) > 64 {
		return app{}, errf(CodeAuth, "unknown app_id")
	}
	seq := a.apps.Begin()
	cred, err := a.st.GetCredential(ctx, store.CredRecording, appID)
	if errors.Is(err, store.ErrNotFound) || err == nil && !auth.Live(cred, now) {
		return app{}, errf(CodeAuth, "unknown or revoked app_id")
	}
	if err != nil {
		return app{}, codes.Of(fmt.Errorf("look up app %s: %w", appID, err))
	}
	secret, err := auth.OpenSealedKey(a.cfg.Keyring, cred)
	if err != nil {
		return app{}, codes.Of(fmt.Errorf("open the secret of app %s: %w", appID, err))
	}
	ap := app{ID: appID, AccountID: cred.AccountID, Secret: string(secret)}
	a.apps.Add(appID, cred.AccountID, seq, ap, now)
	return ap, nil
}

// authenticate checks an app_id and token.
func (a *API) authenticate(ctx context.Context, appID, token string) (app, *facade.Error) {
	ap, ferr := a.lookupApp(ctx, appID)
	if ferr != nil {
		return app{}, ferr
	}
	if e := checkToken(ap.ID, ap.Secret, token, a.now()); e != nil {
		return app{}, errf(e.code, e.msg)
	}
	return ap, nil
}
