// Package app assembles a running taskcenter from its parts: it opens the store named by a database URL
// (SQLite in the data directory by default), the blob directory and the server key, creates the admin
// account on first start, builds the engine, the HTTP server and the dialect facades, and runs them until
// asked to stop, shutting down without losing a lease. cmd/taskcenter and the process-level tests use it.
package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"taskcenter/internal/agent"
	"taskcenter/internal/agent/executor"
	"taskcenter/internal/auth"
	"taskcenter/internal/blob"
	"taskcenter/internal/blobsweep"
	"taskcenter/internal/engine"
	"taskcenter/internal/server"
	"taskcenter/internal/store"
	"taskcenter/internal/store/postgres"
	"taskcenter/internal/store/sqlite"
	"taskcenter/internal/unitspec"
)

// Options configure a server process.
type Options struct {
	DataDir     string // SQLite file, blobs, server key, first-start credentials
	DatabaseURL string // postgres://... ; empty: SQLite in DataDir
	BlobURL     string // s3://host/bucket[/prefix] ; empty: <DataDir>/blobs
	Listen      string // host:port
	PublicURL   string // how clients reach this server; default http://<listen>
	LocalAgent  bool   // also run an agent in this process (one-machine farm)
	AgentSlots  int
	Holder      string // replica name for leadership; default host:pid
	Engine      engine.Config
	// ImageURLTTL is how long a render progress image or thumbnail URL stays valid; 24 h when zero.
	ImageURLTTL time.Duration
	// BlobGrace is how long a blob no account refers to is kept before the sweep deletes it;
	// blobsweep.DefaultGrace (24 h) when zero.
	BlobGrace time.Duration
	// BlobSweepEvery is the period of the sweep of unreferenced blobs; blobsweep.DefaultEvery (1 h)
	// when zero, no sweep when negative.
	BlobSweepEvery time.Duration
	Log            *slog.Logger
	// Ready, when set, is called with the bound address once the server accepts connections.
	Ready func(addr string)
	// AITasksAllowPrivateEgress lets the AI task center's notify_hook deliveries and result
	// downloads reach private and loopback addresses (aitasks.Config.AllowPrivateEgress).
	AITasksAllowPrivateEgress bool
}

// Credentials are what the first start creates and keeps in the data directory.
type Credentials struct {
	ServerURL  string `json:"server_url"`
	AdminToken string `json:"admin_token"`
	AgentToken string `json:"agent_token"`
}

// CredentialsFile is where first-start credentials are kept, readable by the owner only.
func CredentialsFile(dataDir string) string { return filepath.Join(dataDir, "credentials.json") }

// OpenStore opens the database a URL names: postgres:// or postgresql:// for PostgreSQL, anything else
// (sqlite://path, a path, or empty for <dataDir>/taskcenter.db) for SQLite.
func OpenStore(ctx context.Context, databaseURL, dataDir string) (store.Store, error) {
	switch {
	case strings.HasPrefix(databaseURL, "postgres://"), strings.HasPrefix(databaseURL, "postgresql://"):
		return postgres.Open(ctx, databaseURL)
	case databaseURL == "":
		if err := os.MkdirAll(dataDir, 0o700); err != nil {
			return nil, fmt.Errorf("create data directory: %w", err)
		}
		return sqlite.Open(ctx, filepath.Join(dataDir, "taskcenter.db"))
	default:
		return sqlite.Open(ctx, strings.TrimPrefix(databaseURL, "sqlite://"))
	}
}

// OpenBlobs opens the blob store a URL names: s3://... for an S3-compatible bucket (see blob.ParseS3URL),
// a path (or file://path) for a directory, empty for <dataDir>/blobs.
func OpenBlobs(ctx context.Context, blobURL, dataDir string) (blob.Store, error) {
	switch {
	case strings.HasPrefix(blobURL, "s3://"):
		c, err := blob.ParseS3URL(blobURL)
		if err != nil {
			return nil, err
		}
		return blob.NewS3(ctx, c)
	case blobURL == "":
		return blob.NewLocal(filepath.Join(dataDir, "blobs"))
	default:
		return blob.NewLocal(strings.TrimPrefix(blobURL, "file://"))
	}
}

// Bootstrap creates the admin account with an admin token and an agent enrollment token when the
// database has none, and writes them to the data directory. It returns them when it created them.
func Bootstrap(ctx context.Context, st store.Store, dataDir, serverURL string, now time.Time) (*Credentials, error) {
	_, err := st.GetAccountByName(ctx, "admin")
	if err == nil {
		return nil, nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("look for the admin account: %w", err)
	}
	var creds Credentials
	err = st.InTx(ctx, func(tx store.Store) error {
		a, err := tx.CreateAccount(ctx, store.Account{Name: "admin", Role: store.RoleAdmin, CreatedAt: now, UpdatedAt: now})
		if err != nil {
			return err
		}
		if creds.AdminToken, _, err = auth.IssueToken(ctx, tx, a.ID, store.CredAdmin, "first start", now); err != nil {
			return err
		}
		creds.AgentToken, _, err = auth.IssueToken(ctx, tx, a.ID, store.CredAgent, "first start", now)
		return err
	})
	if errors.Is(err, store.ErrConflict) {
		return nil, nil // another replica bootstrapped at the same moment
	}
	if err != nil {
		return nil, fmt.Errorf("create the admin account: %w", err)
	}
	creds.ServerURL = serverURL
	b, _ := json.MarshalIndent(creds, "", "  ")
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	if err := os.WriteFile(CredentialsFile(dataDir), append(b, '\n'), 0o600); err != nil {
		return nil, fmt.Errorf("write credentials: %w", err)
	}
	return &creds, nil
}

// ReadCredentials reads what Bootstrap wrote.
func ReadCredentials(dataDir string) (Credentials, error) {
	var c Credentials
	b, err := os.ReadFile(CredentialsFile(dataDir))
	if err != nil {
		return c, fmt.Errorf("read credentials: %w", err)
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("read credentials: %w", err)
	}
	return c, nil
}

// Run serves until ctx ends, then shuts down gracefully: no new leases, in-flight reports finished,
// the local agent's units released.
func Run(ctx context.Context, o Options) error {
	log := o.Log
	if log == nil {
		log = slog.Default()
	}
	st, err := OpenStore(ctx, o.DatabaseURL, o.DataDir)
	if err != nil {
		return fmt.Errorf("open database: %w", err)
	}
	defer st.Close()
	if s, ok := st.(interface {
		JobSearchIndexed(context.Context) (bool, error)
	}); ok {
		if indexed, err := s.JobSearchIndexed(ctx); err == nil && !indexed {
			log.Warn("job search has no trigram index (pg_trgm could not be created): searches scan every job; see docs/console.md")
		}
	}
	blobs, err := OpenBlobs(ctx, o.BlobURL, o.DataDir)
	if err != nil {
		return fmt.Errorf("open blob store: %w", err)
	}
	keyring, err := auth.LoadOrCreateKey(filepath.Join(o.DataDir, "server.key"))
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", o.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	addr := ln.Addr().String()
	publicURL := o.PublicURL
	if publicURL == "" {
		publicURL = "http://" + addr
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	cfg := o.Engine
	cfg.Holder = o.Holder
	if cfg.Holder == "" {
		host, _ := os.Hostname()
		cfg.Holder = fmt.Sprintf("%s:%d:%s", host, os.Getpid(), auth.RandomHex(3))
	}
	eng := engine.New(st, cfg, log, engine.NewMetrics(reg, st))

	creds, err := Bootstrap(ctx, st, o.DataDir, publicURL, eng.Now())
	if err != nil {
		return err
	}
	facades, err := Facades(FacadeDeps{Engine: eng, Store: st, Blobs: blobs, Keyring: keyring, Log: log, PublicURL: publicURL, ImageURLTTL: o.ImageURLTTL,
		AITasksAllowPrivateEgress: o.AITasksAllowPrivateEgress})
	if err != nil {
		return err
	}
	if err := registerBlobSweep(eng, st, blobs, o, reg, log); err != nil {
		return err
	}
	srv := server.New(server.Config{Engine: eng, Store: st, Blobs: blobs, Keyring: keyring, Log: log, Registry: reg}, facades...)
	// No ReadTimeout or WriteTimeout: the first would cancel a long-poll's context (it stays on the
	// connection while the handler runs), the second would cut long-polls and large downloads. Bodies
	// are bounded per request instead (server.Config.BodyTimeout; uploads must keep data coming).
	httpSrv := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	for _, f := range facades { // long-lived streams (the console's) end when shutdown begins, not at its timeout
		if s, ok := f.(interface{ EndStreams() }); ok {
			httpSrv.RegisterOnShutdown(s.EndStreams)
		}
	}

	engCtx, stopEngine := context.WithCancel(context.WithoutCancel(ctx))
	engDone := make(chan error, 1)
	go func() { engDone <- eng.Run(engCtx) }()
	srvDone := make(chan error, 1)
	go func() { srvDone <- httpSrv.Serve(ln) }()

	log.Info("taskcenter is serving", "url", publicURL, "database", st.Driver(), "data_dir", o.DataDir)
	if creds != nil {
		log.Info("first start: admin account created", "admin_token", creds.AdminToken, "agent_token", creds.AgentToken,
			"kept_in", CredentialsFile(o.DataDir))
	} else {
		log.Info("admin credentials", "kept_in", CredentialsFile(o.DataDir))
	}

	agentCtx, stopAgent := context.WithCancel(context.WithoutCancel(ctx))
	agentDone := make(chan error, 1)
	if o.LocalAgent {
		go func() { agentDone <- runLocalAgent(agentCtx, st, eng, o, publicURL, log) }()
	} else {
		agentDone <- nil
	}
	if o.Ready != nil {
		o.Ready(addr)
	}

	select {
	case <-ctx.Done():
	case err := <-srvDone:
		stopAgent()
		stopEngine()
		return fmt.Errorf("serve: %w", err)
	}
	log.Info("shutting down")
	stopAgent() // the local agent releases its units while the server still takes reports
	if err := <-agentDone; err != nil {
		log.Warn("local agent", "err", err)
	}
	eng.Drain()
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := httpSrv.Shutdown(sctx); err != nil {
		log.Warn("shutdown", "err", err)
	}
	// Facades stop their in-process workers, which hand their units back for another replica.
	for _, f := range facades {
		if c, ok := f.(io.Closer); ok {
			if err := c.Close(); err != nil {
				log.Warn("close facade", "err", err)
			}
		}
	}
	stopEngine()
	<-engDone
	return nil
}

// registerBlobSweep makes the sweep of unreferenced blobs one of the engine's maintenance services,
// run by the leader replica.
func registerBlobSweep(eng *engine.Engine, st store.Store, blobs blob.Store, o Options, reg prometheus.Registerer, log *slog.Logger) error {
	if o.BlobSweepEvery < 0 {
		log.Info("no sweep of unreferenced blobs: disabled")
		return nil
	}
	b, ok := blobs.(blobsweep.Blobs)
	if !ok {
		return fmt.Errorf("blob store %T cannot be swept", blobs)
	}
	sw, err := blobsweep.New(blobsweep.Config{Store: st, Blobs: b, Grace: o.BlobGrace, Log: log, Registry: reg})
	if err != nil {
		return err
	}
	return eng.RegisterService(sw.Service(o.BlobSweepEvery))
}

func runLocalAgent(ctx context.Context, st store.Store, eng *engine.Engine, o Options, serverURL string, log *slog.Logger) error {
	admin, err := st.GetAccountByName(ctx, "admin")
	if err != nil {
		return fmt.Errorf("local agent: %w", err)
	}
	// A fresh enrollment token each start: the local agent needs no stored secret.
	token, _, err := auth.IssueToken(ctx, st, admin.ID, store.CredAgent, "local agent", eng.Now())
	if err != nil {
		return fmt.Errorf("local agent: %w", err)
	}
	host, _ := os.Hostname()
	agents := []agent.Config{{
		ServerURL: serverURL, Token: token, Name: host + "-local", Slots: o.AgentSlots,
		WorkDir: filepath.Join(o.DataDir, "agent"), Executors: executor.Defaults(),
	}}
	// Where ffmpeg runs, a second local agent records: recordings are admitted by CPU cost, not by
	// the render slots, so they get an agent of their own (as `taskcenter agent --kind recorder`).
	if _, err := exec.LookPath("ffmpeg"); err == nil {
		agents = append(agents, agent.Config{
			ServerURL: serverURL, Token: token, Name: host + "-local-recorder", Kind: "recorder", Slots: 64,
			WorkDir:   filepath.Join(o.DataDir, "recorder"),
			Executors: map[string]agent.Executor{unitspec.CapRecorder: &executor.Recorder{}},
			Cost:      executor.RecorderCost,
		})
	}
	errs := make(chan error, len(agents))
	for _, c := range agents {
		go func() { errs <- agent.Run(ctx, c, log.With("component", "local-agent", "agent", c.Name)) }()
	}
	var all error
	for range agents {
		all = errors.Join(all, <-errs)
	}
	return all
}
