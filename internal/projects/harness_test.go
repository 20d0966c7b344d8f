package projects

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"taskcenter/internal/auth"
	"taskcenter/internal/blob"
	"taskcenter/internal/engine"
	"taskcenter/internal/store"
	"taskcenter/internal/store/storetest/drivers"
	"taskcenter/internal/testutil"
)

// countingTarget counts what reaches the publish target, so that tests measure the uploads and
// deletes that happened rather than what the render says it did.
type countingTarget struct {
	blob.Keyed
	puts, deletes atomic.Int64
}

func (c *countingTarget) PutKey(ctx context.Context, key string, data []byte, ct string) error {
	c.puts.Add(1)
	return c.Keyed.PutKey(ctx, key, data, ct)
}

func (c *countingTarget) DeleteKey(ctx context.Context, key string) error {
	c.deletes.Add(1)
	return c.Keyed.DeleteKey(ctx, key)
}

// env is one server with the facade mounted, an account with an admin token, and a service token.
type env struct {
	t       testing.TB
	st      store.Store
	eng     *engine.Engine
	api     *API
	srv     *httptest.Server
	target  *countingTarget
	clock   *testutil.Clock
	account int64
	admin   string // native admin bearer token of the account
	kms     *client
	hooks   *webhookSink
}

type blobDriver struct {
	name string
	open func(t testing.TB) blob.Keyed
}

func blobDrivers() []blobDriver {
	return []blobDriver{
		{"local", func(t testing.TB) blob.Keyed {
			l, err := blob.NewLocal(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			return l
		}},
		// An S3 server on loopback speaking the S3 protocol (in memory): no S3-compatible service is
		// reachable from this machine's tests.
		{"s3", func(t testing.TB) blob.Keyed {
			srv := httptest.NewServer(gofakes3.New(s3mem.New()).Server())
			t.Cleanup(srv.Close)
			cfg, err := blob.ParseS3URL("s3://k:s@" + srv.Listener.Addr().String() + "/cdn/site?insecure=true&region=us-east-1")
			if err != nil {
				t.Fatal(err)
			}
			cfg.TempDir = t.TempDir()
			s, err := blob.NewS3(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			return s
		}},
	}
}

// forEachStore runs fn on both store drivers with a local target.
func forEachStore(t *testing.T, fn func(t *testing.T, e *env)) {
	drivers.Each(t, func(t *testing.T, open func(testing.TB) store.Store) {
		fn(t, newEnv(t, open(t), blobDrivers()[0].open(t)))
	})
}

// forEachStoreAndBlob runs fn on both store drivers times both blob drivers.
func forEachStoreAndBlob(t *testing.T, fn func(t *testing.T, e *env)) {
	drivers.Each(t, func(t *testing.T, open func(testing.TB) store.Store) {
		for _, b := range blobDrivers() {
			t.Run(b.name, func(t *testing.T) { fn(t, newEnv(t, open(t), b.open(t))) })
		}
	})
}

func newEnv(t testing.TB, st store.Store, target blob.Keyed) *env {
	t.Helper()
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	clock := testutil.NewWallClock()
	eng := engine.New(st, engine.Config{Holder: "projects-test", Now: clock.Now}, log, nil)
	ct := &countingTarget{Keyed: target}
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	api, err := New(Config{Engine: eng, Store: st, Target: ct, Log: log, PublicURL: srv.URL, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = api.Close() })
	api.Mount(mux)
	acct, err := st.CreateAccount(ctx, store.Account{Name: "studio", Role: store.RoleUser})
	if err != nil {
		t.Fatal(err)
	}
	admin, _, err := auth.IssueToken(ctx, st, acct.ID, store.CredAdmin, "test", clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, st: st, eng: eng, api: api, srv: srv, target: ct, clock: clock, account: acct.ID, admin: admin}
	key, err := api.IssueKey(ctx, acct.ID, "opsbot")
	if err != nil {
		t.Fatal(err)
	}
	e.kms = &client{base: srv.URL, user: key["x-kms-user"], token: key["x-kms-token"]}
	e.hooks = newWebhookSink(t)
	return e
}

// client speaks the document: JSON bodies and the x-kms-user / x-kms-token headers.
type client struct {
	base, user, token string
}

// reply is a parsed answer: the HTTP status and the envelope.
type reply struct {
	Status int
	Err    int             `json:"err"`
	Data   json.RawMessage `json:"data"`
	Desc   string          `json:"desc"`
	Raw    string
}

// call sends method path with body: a map (sent as JSON), url.Values (sent as a form), a string
// (sent as is, JSON type), or nil.
func (c *client) call(t testing.TB, method, path string, body any) reply {
	t.Helper()
	var rd io.Reader
	ct := ""
	switch b := body.(type) {
	case nil:
	case url.Values:
		rd, ct = strings.NewReader(b.Encode()), "application/x-www-form-urlencoded"
	case string:
		rd, ct = strings.NewReader(b), "application/json"
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd, ct = bytes.NewReader(raw), "application/json"
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	if c.user != "" {
		req.Header.Set("x-kms-user", c.user)
	}
	if c.token != "" {
		req.Header.Set("x-kms-token", c.token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	r := reply{Status: resp.StatusCode, Raw: string(raw)}
	if err := json.Unmarshal(raw, &r); err != nil {
		t.Fatalf("%s %s: answer %q is not the envelope: %v", method, path, raw, err)
	}
	return r
}

// ok fails the test unless the answer is a success.
func (r reply) ok(t testing.TB) reply {
	t.Helper()
	if r.Status != 200 || r.Err != 0 {
		t.Fatalf("answer %d %s", r.Status, r.Raw)
	}
	return r
}

// native calls the native extensions with the account's admin token; want is the expected status.
func (e *env) native(method, path string, body any, want int) json.RawMessage {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+e.admin)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		e.t.Fatalf("%s %s: status %d, want %d: %s", method, path, resp.StatusCode, want, raw)
	}
	return raw
}

// get fetches a URL without credentials (a published file).
func get(t testing.TB, u string) (int, string) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// history reads a template instance's renders, newest first.
func (e *env) history(id string) []renderEntry {
	e.t.Helper()
	list, _, err := e.api.History(context.Background(), e.account, id, 100, 0)
	if err != nil {
		e.t.Fatal(err)
	}
	return list
}

// settled waits until the instance has n renders and none is open or processing, and returns them.
func (e *env) settled(id string, n int) []renderEntry {
	e.t.Helper()
	var list []renderEntry
	testutil.Eventually(e.t, 30*time.Second, func() error {
		list = e.history(id)
		if len(list) != n {
			return fmt.Errorf("%d renders, want %d", len(list), n)
		}
		for _, r := range list {
			if r.Status == "open" || r.Status == "processing" {
				return fmt.Errorf("render %d is %s: %+v", r.ID, r.Status, r)
			}
		}
		return nil
	})
	return list
}

// webhookSink records the events a webhook receives. While held, it answers no request, which
// keeps the render that calls it processing.
type webhookSink struct {
	srv    *httptest.Server
	mu     sync.Mutex
	events []webhookEvent
	sigs   []string // each event's X-Taskcenter-Signature
	bodies [][]byte
	gate   chan struct{}
	got    chan webhookEvent
}

func newWebhookSink(t testing.TB) *webhookSink {
	s := &webhookSink{gate: make(chan struct{}), got: make(chan webhookEvent, 1000)}
	close(s.gate)
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var ev webhookEvent
		if err := json.Unmarshal(body, &ev); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		s.mu.Lock()
		gate := s.gate
		s.events = append(s.events, ev)
		s.sigs = append(s.sigs, r.Header.Get("X-Taskcenter-Signature"))
		s.bodies = append(s.bodies, body)
		s.mu.Unlock()
		s.got <- ev
		<-gate
	}))
	t.Cleanup(s.srv.Close)
	return s
}

// hold makes the webhook wait until release.
func (s *webhookSink) hold() (release func()) {
	g := make(chan struct{})
	s.mu.Lock()
	s.gate = g
	s.mu.Unlock()
	var once sync.Once
	return func() { once.Do(func() { close(g) }) }
}

func (s *webhookSink) all() []webhookEvent {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]webhookEvent(nil), s.events...)
}
