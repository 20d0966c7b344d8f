package rpa

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"taskcenter/internal/auth"
	"taskcenter/internal/blob"
	"taskcenter/internal/engine"
	"taskcenter/internal/store"
	"taskcenter/internal/store/storetest/drivers"
)

// env is one running server with a bootstrapped tenant and a logged-in administrator.
type env struct {
	t       testing.TB
	st      store.Store
	eng     *engine.Engine
	api     *API
	srv     *httptest.Server
	account int64
	admin   *Client
	adminID int64 // the administrator's user id
	clock   *testClock
}

// testClock is a settable clock shared by the engine-facing facade and the client. When at is set
// the clock stands still there (plus offset), for tests that measure intervals exactly.
type testClock struct {
	offset time.Duration
	at     time.Time
}

func (c *testClock) now() time.Time {
	if !c.at.IsZero() {
		return c.at.Add(c.offset)
	}
	return time.Now().Add(c.offset).UTC().Truncate(time.Millisecond)
}

const adminPassword = "s3cret-admin"

func forEachDriver(t *testing.T, fn func(t *testing.T, e *env)) {
	for _, d := range drivers.All() {
		t.Run(d.Name, func(t *testing.T) {
			fn(t, newEnv(t, d.Open(t)))
		})
	}
}

func newEnv(t testing.TB, st store.Store) *env {
	t.Helper()
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	eng := engine.New(st, engine.Config{}, log, nil)
	blobs, err := blob.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	keys, err := auth.NewKeyring([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	clock := &testClock{}
	api, err := New(Config{Engine: eng, Store: st, Blobs: blobs, Keyring: keys, Log: log, MaxUploadBytes: 1 << 20, Now: clock.now})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	api.Mount(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	acct, err := st.CreateAccount(ctx, store.Account{Name: "acme", Role: store.RoleUser})
	if err != nil {
		t.Fatal(err)
	}
	boot, err := api.Bootstrap(ctx, acct.ID, "admin", adminPassword)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, st: st, eng: eng, api: api, srv: srv, account: acct.ID, adminID: boot.AdminUserID, clock: clock}
	e.admin = e.client()
	if err := e.admin.Login(ctx, "admin", adminPassword); err != nil {
		t.Fatalf("admin login: %v", err)
	}
	return e
}

func (e *env) client() *Client {
	return &Client{BaseURL: e.srv.URL, HTTP: e.srv.Client(), Now: e.clock.now}
}

// login makes a client for a user created through the API.
func (e *env) login(name, pw string) *Client {
	e.t.Helper()
	c := e.client()
	if err := c.Login(context.Background(), name, pw); err != nil {
		e.t.Fatalf("login %s: %v", name, err)
	}
	return c
}

// must fails the test on an error.
func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// wantCode checks an error's response code.
func wantCode(t *testing.T, err error, code int) {
	t.Helper()
	if got := CodeOf(err); got != code {
		t.Fatalf("code %d (%v), want %d", got, err, code)
	}
}
