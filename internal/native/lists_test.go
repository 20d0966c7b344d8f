package native_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
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
	"taskcenter/internal/native"
	"taskcenter/internal/server"
	"taskcenter/internal/store"
	"taskcenter/internal/store/storetest/drivers"
)

// fixture is a native API on a real store, with an admin and a tenant.
type fixture struct {
	st          store.Store
	eng         *engine.Engine
	url         string
	admin       string // the admin account's token
	tenant      string // a user account's admin token
	tenantID    int64
	adminJob    int64
	tenantJob   int64
	tenantSched int64
}

func newFixture(t *testing.T, st store.Store) *fixture {
	t.Helper()
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	eng := engine.New(st, engine.Config{}, log, engine.NewMetrics(prometheus.NewRegistry(), st))
	blobs, err := blob.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	keyring, _ := auth.NewKeyring(bytes.Repeat([]byte{7}, 32))
	creds, err := app.Bootstrap(ctx, st, t.TempDir(), "", eng.Now())
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(server.New(server.Config{Engine: eng, Store: st, Blobs: blobs, Keyring: keyring, Log: log, Registry: prometheus.NewRegistry()}))
	t.Cleanup(srv.Close)
	f := &fixture{st: st, eng: eng, url: srv.URL, admin: creds.AdminToken}
	acct, err := st.CreateAccount(ctx, store.Account{Name: "tenant", Role: store.RoleUser, CreatedAt: eng.Now(), UpdatedAt: eng.Now()})
	if err != nil {
		t.Fatal(err)
	}
	f.tenantID = acct.ID
	if f.tenant, _, err = auth.IssueToken(ctx, st, acct.ID, store.CredAdmin, "tenant", eng.Now()); err != nil {
		t.Fatal(err)
	}
	spec := func(a int64) engine.JobSpec {
		return engine.JobSpec{AccountID: a, Kind: "batch", Units: []engine.UnitSpec{{Capability: "shell"}, {Capability: "shell"}}}
	}
	for _, p := range []struct {
		acct int64
		id   *int64
	}{{1, &f.adminJob}, {acct.ID, &f.tenantJob}} {
		j, err := eng.Submit(ctx, spec(p.acct))
		if err != nil {
			t.Fatal(err)
		}
		*p.id = j.ID
	}
	sc, err := eng.CreateSchedule(ctx, engine.ScheduleSpec{AccountID: acct.ID, Name: "hourly", Cron: "0 0 * * * ?", Enabled: true, Template: spec(acct.ID)})
	if err != nil {
		t.Fatal(err)
	}
	f.tenantSched = sc.ID
	return f
}

func (f *fixture) call(t *testing.T, token, method, path string, body any) (int, string) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, f.url+path, rd)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// TestConsoleEndpoints checks what the console added to the native API, for an admin and for a
// tenant: bulk actions that report each job (another account's is not found), filters by account,
// children, tokens listed without secrets and revoked, a schedule replaced within its account, a
// worker removed only when offline.
func TestConsoleEndpoints(t *testing.T) {
	drivers.Each(t, func(t *testing.T, open func(testing.TB) store.Store) {
		ctx := context.Background()
		f := newFixture(t, open(t))
		child, err := f.eng.Submit(ctx, engine.JobSpec{AccountID: f.tenantID, ParentID: f.tenantJob, Kind: "batch", Units: []engine.UnitSpec{{Capability: "shell"}}})
		if err != nil {
			t.Fatal(err)
		}
		wk, err := f.eng.RegisterWorker(ctx, store.Worker{Name: "node", Kind: "render", AccountID: f.tenantID, Capabilities: []string{"shell"}})
		if err != nil {
			t.Fatal(err)
		}
		shared, err := f.eng.RegisterWorker(ctx, store.Worker{Name: "farm", Kind: "render", Capabilities: []string{"blender"}})
		if err != nil {
			t.Fatal(err)
		}
		tokens := fmt.Sprintf("/api/v1/accounts/%d/tokens", f.tenantID)
		sched := fmt.Sprintf("/api/v1/schedules/%d", f.tenantSched)
		newSched := map[string]any{"name": "daily", "cron": "0 30 3 * * ?", "job": map[string]any{"kind": "batch", "units": []any{map[string]any{"capability": "shell"}}}}
		for _, tc := range []struct {
			name         string
			tenant       bool
			method, path string
			body         any
			code         int
			has, hasNot  []string
		}{
			{"bulk pause reports each job", true, "POST", "/api/v1/jobs/bulk", map[string]any{"ids": []int64{f.tenantJob, f.adminJob, 999999}, "action": "pause"}, 200,
				[]string{fmt.Sprintf(`{"id":%d,"status":"paused"}`, f.tenantJob), fmt.Sprintf(`{"id":%d,"error":"not found"}`, f.adminJob), `{"id":999999,"error":"not found"}`}, nil},
			{"bulk priority needs a priority", false, "POST", "/api/v1/jobs/bulk", map[string]any{"ids": []int64{f.adminJob}, "action": "priority"}, 200, []string{`"error":"invalid request: priority is required"`}, nil},
			{"bulk priority", false, "POST", "/api/v1/jobs/bulk", map[string]any{"ids": []int64{f.adminJob}, "action": "priority", "priority": 7}, 200, []string{`"status":"queued"`}, []string{"error"}},
			{"bulk unknown action", false, "POST", "/api/v1/jobs/bulk", map[string]any{"ids": []int64{f.adminJob}, "action": "explode"}, 400, nil, nil},
			{"bulk of nothing", false, "POST", "/api/v1/jobs/bulk", map[string]any{"ids": []int64{}, "action": "pause"}, 400, nil, nil},
			{"bulk of too many", false, "POST", "/api/v1/jobs/bulk", map[string]any{"ids": make([]int64, 1001), "action": "pause"}, 400, nil, nil},
			{"admin filters by account", false, "GET", fmt.Sprintf("/api/v1/jobs?account_id=%d", f.tenantID), nil, 200, []string{`"total":1`}, []string{`"account_id":1,`}},
			{"tenant asking for another account lists nothing", true, "GET", "/api/v1/jobs?account_id=1", nil, 200, []string{`"total":0`}, nil},
			{"children of a job", true, "GET", fmt.Sprintf("/api/v1/jobs?parent_id=%d", f.tenantJob), nil, 200, []string{`"total":1`, fmt.Sprintf(`"id":%d`, child.ID)}, nil},
			{"a bad account filter", false, "GET", "/api/v1/jobs?account_id=x", nil, 400, nil, nil},
			{"jobs before a key", true, "GET", fmt.Sprintf("/api/v1/jobs?before_id=%d", child.ID+1), nil, 200, []string{`"total":1`, fmt.Sprintf(`"id":%d`, f.tenantJob)}, nil},
			{"jobs after a key, the total whole", true, "GET", fmt.Sprintf("/api/v1/jobs?after_id=%d", f.tenantJob), nil, 200, []string{`"jobs":[],"total":1`}, nil},
			{"a bad key", false, "GET", "/api/v1/jobs?before_id=x", nil, 400, nil, nil},
			{"a key below 1", false, "GET", "/api/v1/jobs?after_id=0", nil, 400, nil, nil},
			{"a bad limit", false, "GET", "/api/v1/workers?limit=0", nil, 400, nil, nil},
			{"tenant sees its worker", true, "GET", "/api/v1/workers?status=idle", nil, 200, []string{`"total":1`, `"name":"node"`}, nil},
			{"workers by status", false, "GET", "/api/v1/workers?status=offline", nil, 200, []string{`"total":0`}, nil},
			{"another's worker's units", true, "GET", "/api/v1/workers/999999/units", nil, 404, nil, nil},
			{"a tenant licenses nothing", true, "PUT", fmt.Sprintf("/api/v1/workers/%d/licence", wk.ID), map[string]any{"licence": "L-1"}, 404, nil, nil},
			{"an admin licenses a worker", false, "PUT", fmt.Sprintf("/api/v1/workers/%d/licence", wk.ID), map[string]any{"licence": "L-1", "expires_at": "2030-01-01T00:00:00Z"}, 200,
				[]string{`"licence":"L-1"`, `"licence_expires":"2030-01-01T00:00:00Z"`}, nil},
			{"a licence of an unknown worker", false, "PUT", "/api/v1/workers/999999/licence", map[string]any{"licence": "L-1"}, 404, nil, nil},
			{"an online worker stays", true, "DELETE", fmt.Sprintf("/api/v1/workers/%d", wk.ID), nil, 409, nil, nil},
			{"a tenant drains its worker", true, "POST", fmt.Sprintf("/api/v1/workers/%d/drain", wk.ID), nil, 200, []string{`"drained_at":"`, `"name":"node"`}, nil},
			{"a drained worker is listed so", true, "GET", "/api/v1/workers", nil, 200, []string{`"drained_at":"`}, nil},
			{"a tenant undrains it", true, "POST", fmt.Sprintf("/api/v1/workers/%d/undrain", wk.ID), nil, 200, []string{`"name":"node"`}, []string{"drained_at"}},
			{"a tenant drains no shared worker", true, "POST", fmt.Sprintf("/api/v1/workers/%d/drain", shared.ID), nil, 404, nil, nil},
			{"an admin drains a shared worker", false, "POST", fmt.Sprintf("/api/v1/workers/%d/drain", shared.ID), nil, 200, []string{`"drained_at":"`, `"name":"farm"`}, nil},
			{"a drain of an unknown worker", false, "POST", "/api/v1/workers/999999/drain", nil, 404, nil, nil},
			{"tenant lists accounts: itself", true, "GET", "/api/v1/accounts", nil, 200, []string{`"total":1`, `"name":"tenant"`}, []string{`"name":"admin"`}},
			{"tokens without secrets", true, "GET", tokens, nil, 200, []string{`"kind":"admin"`, `"label":"tenant"`}, []string{"secret", "hash"}},
			{"another account's tokens", true, "GET", "/api/v1/accounts/1/tokens", nil, 404, nil, nil},
			{"another account's token is not revoked", true, "DELETE", fmt.Sprintf("%s/%d", tokens, 1), nil, 404, nil, nil},
			{"a schedule replaced", true, "PUT", sched, newSched, 200, []string{`"name":"daily"`, `"cron":"0 30 3 * * ?"`, `"next_run"`}, nil},
			{"a bad cron leaves it", true, "PUT", sched, map[string]any{"cron": "nonsense", "job": newSched["job"]}, 400, nil, nil},
			{"a schedule stays in its account", false, "PUT", sched, map[string]any{"cron": "0 0 * * * ?", "job": map[string]any{"account_id": 1, "kind": "batch", "units": []any{map[string]any{"capability": "shell"}}}}, 400, nil, nil},
			{"another account's schedule", false, "GET", sched, nil, 200, []string{`"name":"daily"`}, nil},
			{"tenant reads its schedule", true, "GET", sched, nil, 200, []string{`"cron":"0 30 3 * * ?"`}, nil},
			{"overview of a tenant", true, "GET", "/api/v1/overview", nil, 200, []string{`"batch":{"paused":2,"queued":1}`, `"idle":1`}, nil},
			{"events page by after_id", true, "GET", fmt.Sprintf("/api/v1/jobs/%d/events?after_id=0&limit=1", f.tenantJob), nil, 200, []string{`"more":true`, `"type":"job.created"`}, nil},
		} {
			t.Run(tc.name, func(t *testing.T) {
				token := f.admin
				if tc.tenant {
					token = f.tenant
				}
				code, body := f.call(t, token, tc.method, tc.path, tc.body)
				if code != tc.code {
					t.Fatalf("%d %s, want %d", code, body, tc.code)
				}
				for _, h := range tc.has {
					if !strings.Contains(body, h) {
						t.Errorf("answer lacks %s: %s", h, body)
					}
				}
				for _, h := range tc.hasNot {
					if strings.Contains(body, h) {
						t.Errorf("answer has %s: %s", h, body)
					}
				}
			})
		}
		// The units a worker runs.
		leased, err := f.eng.Lease(ctx, wk, 1, 0)
		if err != nil || len(leased) != 1 {
			t.Fatalf("lease: %v %v", leased, err)
		}
		if code, body := f.call(t, f.tenant, "GET", fmt.Sprintf("/api/v1/workers/%d/units", wk.ID), nil); code != 200 ||
			!strings.Contains(body, fmt.Sprintf(`"total":1,"units":[{"id":%d,`, leased[0].ID)) {
			t.Fatalf("the worker's units: %d %s", code, body)
		}
		// A worker gone offline is removed; a revoked token no longer works.
		if _, err := f.st.MarkOffline(ctx, time.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if code, body := f.call(t, f.tenant, "DELETE", fmt.Sprintf("/api/v1/workers/%d", wk.ID), nil); code != http.StatusNoContent {
			t.Fatalf("remove an offline worker: %d %s", code, body)
		}
		if _, err := f.st.GetWorker(ctx, wk.ID); err == nil {
			t.Fatal("the worker is still there")
		}
		creds, _ := f.st.ListCredentials(ctx, f.tenantID)
		if code, _ := f.call(t, f.tenant, "DELETE", fmt.Sprintf("%s/%d", tokens, creds[0].ID), nil); code != http.StatusNoContent {
			t.Fatalf("revoke: %d", code)
		}
		if code, _ := f.call(t, f.tenant, "GET", "/api/v1/whoami", nil); code != http.StatusUnauthorized {
			t.Fatalf("a revoked token answers %d", code)
		}
	})
}

// TestBroadSearchTotalIsBounded: a text search that matches more jobs than the list counts answers
// the bound with total_capped; a narrow one answers its exact total without it.
func TestBroadSearchTotalIsBounded(t *testing.T) {
	drivers.Each(t, func(t *testing.T, open func(testing.TB) store.Store) {
		ctx := context.Background()
		f := newFixture(t, open(t))
		now := f.eng.Now()
		err := f.st.InTx(ctx, func(tx store.Store) error {
			for i := range native.SearchCountBound + 1 {
				if _, err := tx.CreateJob(ctx, store.Job{AccountID: f.tenantID, Kind: "batch", Name: fmt.Sprintf("shot-%05d", i),
					MaxAttempts: 1}, []store.Unit{{Capability: "shell"}}, now); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			search string
			total  string
			capped bool
		}{
			{"shot", fmt.Sprintf(`"total":%d`, native.SearchCountBound), true},
			{"shot-0001", `"total":10`, false}, // shot-00010 .. shot-00019
		} {
			code, body := f.call(t, f.tenant, "GET", "/api/v1/jobs?limit=5&search="+tc.search, nil)
			if code != 200 || !strings.Contains(body, tc.total) || strings.Contains(body, `"total_capped":true`) != tc.capped {
				t.Fatalf("search %q: %d %.300s; want %s, capped %v", tc.search, code, body, tc.total, tc.capped)
			}
		}
	})
}
