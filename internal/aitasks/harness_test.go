package aitasks_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"taskcenter/internal/aitasks"
	"taskcenter/internal/auth"
	"taskcenter/internal/engine"
	"taskcenter/internal/store"
	"taskcenter/internal/store/storetest/drivers"
	"taskcenter/internal/testutil"
)

// env is one running server (store, engine with its leader services, the facade over HTTP) with a
// tenant, a fake upstream behind one channel, and prices set.
type env struct {
	t      testing.TB
	st     store.Store
	eng    *engine.Engine
	api    *aitasks.API
	srv    *httptest.Server
	clock  *testutil.Clock
	up     *fakeUpstream
	tenant int64
	ch     store.AIChannel
}

// user is a user of the tenant with a personal access token and an API key.
type user struct {
	store.AIUser
	token, key string
}

const (
	priceMusic  = 1000
	priceLyrics = 100
	priceVideo  = 5000
)

func forEachDriver(t *testing.T, fn func(t *testing.T, e *env)) {
	forEachDriverWith(t, nil, fn)
}

// forEachDriverWith is forEachDriver with tune changing the facade's configuration.
func forEachDriverWith(t *testing.T, tune func(*aitasks.Config), fn func(t *testing.T, e *env)) {
	drivers.Each(t, func(t *testing.T, open func(testing.TB) store.Store) {
		fn(t, newEnv(t, open(t), tune))
	})
}

// allowPrivate lets notify_hook deliveries and result downloads reach the tests' loopback receivers.
func allowPrivate(c *aitasks.Config) { c.AllowPrivateEgress = true }

func testLog() *slog.Logger {
	if os.Getenv("AITASKS_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

var testKey = bytes.Repeat([]byte{7}, 32)

// newEnv starts a server on st with a fresh tenant, channel and prices; tune changes the facade's
// configuration.
func newEnv(t testing.TB, st store.Store, tune func(*aitasks.Config)) *env {
	t.Helper()
	return newEnvTimed(t, st, testTimings(), tune)
}

// newEnvTimed is newEnv with the engine's periods of ec (its zero values are the server's defaults).
func newEnvTimed(t testing.TB, st store.Store, ec engine.Config, tune func(*aitasks.Config)) *env {
	t.Helper()
	ctx := context.Background()
	e := newReplicaTimed(t, st, ec, tune)
	tenant, err := st.CreateAccount(ctx, store.Account{Name: "tenant-" + auth.RandomHex(4), Role: store.RoleUser})
	if err != nil {
		t.Fatal(err)
	}
	e.tenant = tenant.ID
	e.up = newFakeUpstream(t)
	e.ch = e.addChannel(e.up, aitasks.PlatformSuno, 0)
	e.addChannel(e.up, aitasks.PlatformVideo, 0)
	for _, p := range []store.AIPrice{
		{TenantID: e.tenant, Platform: aitasks.PlatformSuno, Action: aitasks.ActionMusic, Quota: priceMusic},
		{TenantID: e.tenant, Platform: aitasks.PlatformSuno, Action: aitasks.ActionLyrics, Quota: priceLyrics},
		{TenantID: e.tenant, Platform: aitasks.PlatformVideo, Action: aitasks.ActionGenerate, Quota: priceVideo},
	} {
		if err := e.api.SetPrice(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

// newReplica starts one server process on st: an engine with its leader services, the facade with
// its workers, and its HTTP server.
func newReplica(t testing.TB, st store.Store, tune func(*aitasks.Config)) *env {
	t.Helper()
	return newReplicaTimed(t, st, testTimings(), tune)
}

// testTimings are the engine's periods in tests: short, so that sweeps, retries and a lost
// leadership act within the test's time.
func testTimings() engine.Config {
	return engine.Config{SweepEvery: 20 * time.Millisecond, Heartbeat: 200 * time.Millisecond,
		IdleRecheck: 20 * time.Millisecond, LeaseFor: 2 * time.Second, LeaderTTL: time.Second,
		RetryBase: 10 * time.Millisecond, RetryMax: 50 * time.Millisecond, AvoidFor: 10 * time.Millisecond}
}

// newReplicaTimed is newReplica with the engine's periods of ec.
func newReplicaTimed(t testing.TB, st store.Store, ec engine.Config, tune func(*aitasks.Config)) *env {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	clock := testutil.NewWallClock()
	log := testLog()
	ec.Holder, ec.Now = "replica-"+auth.RandomHex(3), clock.Now
	eng := engine.New(st, ec, log, nil)
	keys, err := auth.NewKeyring(testKey)
	if err != nil {
		t.Fatal(err)
	}
	cfg := aitasks.Config{Engine: eng, Store: st, Keyring: keys, Log: log, PollInterval: 30 * time.Millisecond,
		PlanEvery: 10 * time.Millisecond, TotalsTTL: 50 * time.Millisecond, HTTP: &http.Client{Timeout: 2 * time.Second}}
	if tune != nil {
		tune(&cfg)
	}
	api, err := aitasks.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	api.Mount(mux)
	srv := httptest.NewServer(mux)
	done := make(chan struct{})
	go func() { _ = eng.Run(ctx); close(done) }()
	t.Cleanup(func() {
		srv.Close()
		_ = api.Close()
		cancel()
		<-done
	})
	return &env{t: t, st: st, eng: eng, api: api, srv: srv, clock: clock}
}

func (e *env) addChannel(up *fakeUpstream, platform string, priority int) store.AIChannel {
	e.t.Helper()
	c, err := e.api.AddChannel(context.Background(), store.AIChannel{TenantID: e.tenant, Platform: platform, Name: platform,
		BaseURL: up.srv.URL, Weight: 1, Priority: priority, Enabled: true}, up.key)
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

// newUser makes a user with quota and an unlimited key.
func (e *env) newUser(name, role string, quota int64) user {
	e.t.Helper()
	ctx := context.Background()
	u, tok, err := e.api.CreateUser(ctx, e.tenant, name, role)
	if err != nil {
		e.t.Fatal(err)
	}
	if quota > 0 {
		if _, err := e.api.TopUp(ctx, u, quota, "test"); err != nil {
			e.t.Fatal(err)
		}
	}
	key, _, err := e.api.IssueKey(ctx, u.ID, "default", -1, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	return user{AIUser: u, token: tok, key: key}
}

func (e *env) quota(u user) int64 {
	e.t.Helper()
	q, err := e.api.Quota(context.Background(), u.AIUser)
	if err != nil {
		e.t.Fatal(err)
	}
	return q
}

// do calls the server with a bearer and a JSON body and returns the status and the body.
func (e *env) do(method, path, bearer string, body any) (int, []byte) {
	e.t.Helper()
	return e.doAs(method, path, bearer, "application/json", body)
}

// doAs is do with the body sent as contentType.
func (e *env) doAs(method, path, bearer, contentType string, body any) (int, []byte) {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = bytes.NewBufferString(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		raw, _ := json.Marshal(b)
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	req.Header.Set("Content-Type", contentType)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

// relayAnswer is the relay's envelope.
type relayAnswer struct {
	Code    string          `json:"code"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data"`
}

type item struct {
	ID         int64           `json:"id"`
	TaskID     string          `json:"task_id"`
	Platform   string          `json:"platform"`
	UserID     int64           `json:"user_id"`
	Username   *string         `json:"username"`
	ChannelID  int64           `json:"channel_id"`
	Quota      int64           `json:"quota"`
	Action     string          `json:"action"`
	Status     string          `json:"status"`
	FailReason string          `json:"fail_reason"`
	SubmitTime int64           `json:"submit_time"`
	FinishTime int64           `json:"finish_time"`
	Progress   string          `json:"progress"`
	Properties json.RawMessage `json:"properties"`
	Data       json.RawMessage `json:"data"`
}

// submit sends a music or lyrics task and returns its public id; it fails the test on refusal.
func (e *env) submit(u user, action string, body map[string]any) string {
	e.t.Helper()
	code, raw := e.do("POST", "/suno/submit/"+action, u.key, body)
	var a relayAnswer
	if err := json.Unmarshal(raw, &a); err != nil || code != 200 || a.Code != "success" {
		e.t.Fatalf("submit %s: %d %s", action, code, raw)
	}
	var id string
	if err := json.Unmarshal(a.Data, &id); err != nil {
		e.t.Fatalf("submit answer data: %s", raw)
	}
	return id
}

// fetch reads a task through GET /suno/fetch/{id}.
func (e *env) fetch(u user, id string) item {
	e.t.Helper()
	code, raw := e.do("GET", "/suno/fetch/"+id, u.key, nil)
	var a relayAnswer
	if err := json.Unmarshal(raw, &a); err != nil || code != 200 {
		e.t.Fatalf("fetch %s: %d %s", id, code, raw)
	}
	var it item
	if err := json.Unmarshal(a.Data, &it); err != nil {
		e.t.Fatalf("fetch data: %s", raw)
	}
	return it
}

// waitStatus waits until the task reaches status.
func (e *env) waitStatus(u user, id, status string) item {
	e.t.Helper()
	var it item
	testutil.Eventually(e.t, 20*time.Second, func() error {
		it = e.fetch(u, id)
		if it.Status != status {
			return errorf("task %s is %s (%s), want %s", id, it.Status, it.FailReason, status)
		}
		return nil
	})
	return it
}

// ledger returns the user's ledger lines through the API.
func (e *env) ledger(u user) []ledgerItem {
	e.t.Helper()
	code, raw := e.do("GET", "/api/task/self/ledger?page_size=100", u.token, nil)
	var a struct {
		Success bool `json:"success"`
		Data    struct {
			Items []ledgerItem `json:"items"`
			Total int          `json:"total"`
		} `json:"data"`
	}
	if err := json.Unmarshal(raw, &a); err != nil || code != 200 || !a.Success {
		e.t.Fatalf("ledger: %d %s", code, raw)
	}
	return a.Data.Items
}

type ledgerItem struct {
	Kind   string `json:"kind"`
	Quota  int64  `json:"quota"`
	TaskID string `json:"task_id"`
}

// linesOf counts a task's ledger lines by kind.
func linesOf(ls []ledgerItem, taskID string) map[string]int {
	out := map[string]int{}
	for _, l := range ls {
		if l.TaskID == taskID {
			out[l.Kind]++
		}
	}
	return out
}

// adminDeleteChannel removes a channel through the code path the admin route uses.
func (e *env) adminDeleteChannel(id int64) (int, []byte) {
	e.t.Helper()
	c, err := e.st.GetAIChannel(context.Background(), id)
	if err != nil {
		return 404, []byte(err.Error())
	}
	c.Deleted, c.Enabled = true, false
	if err := e.st.UpdateAIChannel(context.Background(), c, e.clock.Now()); err != nil {
		return 500, []byte(err.Error())
	}
	return 200, nil
}
