package server_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"taskcenter/internal/app"
	"taskcenter/internal/auth"
	"taskcenter/internal/blob"
	"taskcenter/internal/engine"
	"taskcenter/internal/server"
	"taskcenter/internal/store"
	"taskcenter/internal/store/storetest/drivers"
)

// limitsEnv is a server with the dialect facades, short body deadline and small limits, an admin
// token and a tenant's token.
type limitsEnv struct {
	st          store.Store
	srv         *server.Server
	http        *httptest.Server
	admin, user string
	userID      int64
}

func newLimitsEnv(t *testing.T, st store.Store) *limitsEnv {
	t.Helper()
	ctx := context.Background()
	blobs, err := blob.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	keyring, _ := auth.NewKeyring(bytes.Repeat([]byte{7}, 32))
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	eng := engine.New(st, engine.Config{Holder: "limits", UnitsPerJob: 3, JobsInFlight: 1}, log, nil)
	creds, err := app.Bootstrap(ctx, st, t.TempDir(), "", eng.Now())
	if err != nil {
		t.Fatal(err)
	}
	e := &limitsEnv{st: st, admin: creds.AdminToken}
	facades, err := app.Facades(app.FacadeDeps{Engine: eng, Store: st, Blobs: blobs, Keyring: keyring, Log: log, PublicURL: "http://127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range facades {
		if c, ok := f.(io.Closer); ok {
			t.Cleanup(func() { _ = c.Close() })
		}
	}
	e.srv = server.New(server.Config{Engine: eng, Store: st, Blobs: blobs, Keyring: keyring, Log: log,
		Registry: prometheus.NewRegistry(), MaxUploadBytes: 1 << 20, BodyTimeout: 200 * time.Millisecond}, facades...)
	e.http = httptest.NewServer(e.srv)
	t.Cleanup(e.http.Close)
	a, err := st.CreateAccount(ctx, store.Account{Name: "tenant", Role: store.RoleUser})
	if err != nil {
		t.Fatal(err)
	}
	e.userID = a.ID
	if e.user, _, err = auth.IssueToken(ctx, st, a.ID, store.CredAdmin, "tenant", eng.Now()); err != nil {
		t.Fatal(err)
	}
	return e
}

// do calls the native API in process and returns the status and body.
func (e *limitsEnv) do(t *testing.T, token, method, path string, body any) (int, string) {
	t.Helper()
	b, _ := json.Marshal(body)
	req := httptest.NewRequest(method, path, bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+token)
	rec := httptest.NewRecorder()
	e.srv.ServeHTTP(rec, req)
	return rec.Code, rec.Body.String()
}

func jobSpec(units int) map[string]any {
	us := make([]map[string]any, units)
	for i := range us {
		us[i] = map[string]any{"capability": "shell"}
	}
	return map[string]any{"kind": "test", "units": us}
}

// TestNativeAccountLimits: through the native API, a job over the tenant's unit limit and a job past
// its jobs in flight are refused with 400 and nothing written; an admin raises the limits and the
// same submits pass. A unit_timeout out of range says so.
func TestNativeAccountLimits(t *testing.T) {
	drivers.Each(t, func(t *testing.T, open func(testing.TB) store.Store) {
		e := newLimitsEnv(t, open(t))
		jobs := func() int {
			_, total, err := e.st.ListJobs(context.Background(), store.JobFilter{AccountIDs: []int64{e.userID}})
			if err != nil {
				t.Fatal(err)
			}
			return total
		}
		steps := []struct {
			name     string
			token    string
			method   string
			path     string
			body     any
			want     int
			contains string
			jobs     int
		}{
			{"over the unit limit", e.user, "POST", "/api/v1/jobs", jobSpec(4), 400, "at most 3 units", 0},
			{"within the limits", e.user, "POST", "/api/v1/jobs", jobSpec(3), 201, "", 1},
			{"past the jobs in flight", e.user, "POST", "/api/v1/jobs", jobSpec(1), 400, "unfinished jobs", 1},
			{"a tenant cannot raise its limits", e.user, "PATCH", fmt.Sprintf("/api/v1/accounts/%d/limits", e.userID), map[string]int{"units_per_job": 10}, 404, "", 1},
			{"an admin raises them", e.admin, "PATCH", fmt.Sprintf("/api/v1/accounts/%d/limits", e.userID), map[string]int{"units_per_job": 10, "jobs_in_flight": 5}, 200, `"units_per_job":10`, 1},
			{"the tenant reads them", e.user, "GET", fmt.Sprintf("/api/v1/accounts/%d/limits", e.userID), nil, 200, `"jobs_in_flight":5`, 1},
			{"the same job now passes", e.user, "POST", "/api/v1/jobs", jobSpec(4), 201, "", 2},
			{"unit_timeout 1e300", e.user, "POST", "/api/v1/jobs", map[string]any{"kind": "test", "unit_timeout": 1e300, "units": []map[string]string{{"capability": "shell"}}}, 400, "out of range", 2},
		}
		for _, s := range steps {
			code, body := e.do(t, s.token, s.method, s.path, s.body)
			if code != s.want || !strings.Contains(body, s.contains) {
				t.Fatalf("%s: HTTP %d %s, want %d with %q", s.name, code, body, s.want, s.contains)
			}
			if n := jobs(); n != s.jobs {
				t.Fatalf("%s: %d jobs, want %d", s.name, n, s.jobs)
			}
		}
	})
}

// countingBody counts what the server read of a body.
type countingBody struct {
	r io.Reader
	n int64
}

func (c *countingBody) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// TestDeclaredLengthRefusedBeforeReading: a body whose Content-Length is over the route's limit is
// refused without a byte of it read.
func TestDeclaredLengthRefusedBeforeReading(t *testing.T) {
	drivers.Each(t, func(t *testing.T, open func(testing.TB) store.Store) {
		e := newLimitsEnv(t, open(t))
		tests := []struct {
			method, path string
			length       int64
		}{
			{"POST", "/api/v1/jobs", 70 << 20},
			{"POST", "/api/v1/blobs", 2 << 20},
			{"POST", fmt.Sprintf("/api/v1/accounts/%d/limits", e.userID), 70 << 20},
		}
		for _, tt := range tests {
			body := &countingBody{r: strings.NewReader(strings.Repeat(" ", 64<<10))}
			req := httptest.NewRequest(tt.method, tt.path, io.NopCloser(body))
			req.ContentLength = tt.length
			req.Header.Set("Authorization", "Bearer "+e.admin)
			rec := httptest.NewRecorder()
			e.srv.ServeHTTP(rec, req)
			if tt.path == fmt.Sprintf("/api/v1/accounts/%d/limits", e.userID) {
				continue // POST is no route there: only that nothing was read matters
			}
			if rec.Code != http.StatusRequestEntityTooLarge {
				t.Errorf("%s %s with Content-Length %d: HTTP %d %s", tt.method, tt.path, tt.length, rec.Code, rec.Body)
			}
			if body.n != 0 {
				t.Errorf("%s %s: read %d bytes before refusing", tt.method, tt.path, body.n)
			}
		}
	})
}

// TestSlowBodyNotHeld: a client that sends headers and part of a body, then nothing, is answered and
// its connection closed once the body deadline passes; it is not held. Unauthenticated render calls
// are answered before their body is read at all.
func TestSlowBodyNotHeld(t *testing.T) {
	drivers.Each(t, func(t *testing.T, open func(testing.TB) store.Store) {
		e := newLimitsEnv(t, open(t))
		now := fmt.Sprint(time.Now().Unix())
		tests := []struct {
			name    string
			request string
			want    string // in the answer
		}{
			{"render, unknown accessId", "POST /api/render/task/queryTaskInfo HTTP/1.1\r\nHost: x\r\naccessId: AKNOBODY\r\nUTCTimestamp: " + now +
				"\r\nnonce: 1\r\nsignature: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"taskIds\":[", `"code":611`},
			{"native submit, authenticated", "POST /api/v1/jobs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + e.user +
				"\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"kind\":", "HTTP/1.1 400"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				conn, err := net.Dial("tcp", e.http.Listener.Addr().String())
				if err != nil {
					t.Fatal(err)
				}
				defer conn.Close()
				// A bound for the test only, far above the server's 200 ms: reaching it means the
				// server held the connection.
				_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
				if _, err := io.WriteString(conn, tt.request); err != nil {
					t.Fatal(err)
				}
				rd := bufio.NewReader(conn)
				resp, err := http.ReadResponse(rd, nil)
				if err != nil {
					t.Fatalf("no answer: %v", err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if !strings.Contains(resp.Proto+" "+resp.Status+" "+string(b), strings.TrimPrefix(tt.want, "HTTP/1.1 ")) {
					t.Fatalf("answer %s %s, want %s", resp.Status, b, tt.want)
				}
				// Then the server lets the connection go rather than wait for the rest of the body.
				if _, err := rd.ReadByte(); err != io.EOF {
					if ne, ok := err.(net.Error); ok && ne.Timeout() {
						t.Fatal("the server still holds the connection")
					}
				}
			})
		}
	})
}
