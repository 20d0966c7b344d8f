package native_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"go.yaml.in/yaml/v3"

	"taskcenter/internal/app"
	"taskcenter/internal/auth"
	"taskcenter/internal/blob"
	"taskcenter/internal/engine"
	"taskcenter/internal/native"
	"taskcenter/internal/server"
	"taskcenter/internal/store"
	"taskcenter/internal/store/storetest/drivers"
)

// spec is the part of api/native.yaml the checks read.
type spec struct {
	Paths      map[string]map[string]any `yaml:"paths"`
	Components struct {
		Schemas map[string]struct {
			Properties map[string]any `yaml:"properties"`
		} `yaml:"schemas"`
	} `yaml:"components"`
}

func readSpec(t *testing.T) spec {
	t.Helper()
	b, err := os.ReadFile("../../api/native.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var s spec
	if err := yaml.Unmarshal(b, &s); err != nil {
		t.Fatalf("api/native.yaml: %v", err)
	}
	return s
}

// serverRoutes are documented in api/native.yaml but served by internal/server, not this package.
var serverRoutes = map[string]bool{"GET /healthz": true, "GET /readyz": true, "GET /metrics": true}

// TestSpecNamesEveryRoute: every route Mount registers is in api/native.yaml with its method, and
// every operation there is a route.
func TestSpecNamesEveryRoute(t *testing.T) {
	s := readSpec(t)
	var documented []string
	for path, ops := range s.Paths {
		for method := range ops {
			if method == "parameters" {
				continue
			}
			if r := strings.ToUpper(method) + " " + path; !serverRoutes[r] {
				documented = append(documented, r)
			}
		}
	}
	src, err := os.ReadFile("native.go")
	if err != nil {
		t.Fatal(err)
	}
	var routed []string
	for _, m := range regexp.MustCompile(`h\("([A-Z]+ /[^"]+)"`).FindAllStringSubmatch(string(src), -1) {
		routed = append(routed, m[1])
	}
	sort.Strings(documented)
	sort.Strings(routed)
	if len(routed) < 20 || !slices.Equal(documented, routed) {
		t.Fatalf("routes and api/native.yaml differ:\n routed     %v\n documented %v", routed, documented)
	}
}

// TestSpecSchemasMatchViews: each schema's properties are exactly the JSON fields of the type the
// handlers answer with.
func TestSpecSchemasMatchViews(t *testing.T) {
	s := readSpec(t)
	for _, tc := range []struct {
		schema string
		view   any
	}{
		{"Job", native.JobView{}},
		{"Unit", native.UnitView{}},
		{"Account", native.AccountView{}},
		{"Worker", native.WorkerView{}},
		{"Schedule", native.ScheduleView{}},
		{"Event", native.EventView{}},
		{"BlockEntry", native.BlockEntryView{}},
		{"Token", native.TokenView{}},
		{"BulkResult", native.BulkResult{}},
		{"Overview", native.Overview{}},
		{"LedgerLine", native.LedgerLineView{}},
	} {
		t.Run(tc.schema, func(t *testing.T) {
			sc, ok := s.Components.Schemas[tc.schema]
			if !ok {
				t.Fatalf("no schema %s", tc.schema)
			}
			var want, got []string
			for p := range sc.Properties {
				want = append(want, p)
			}
			rt := reflect.TypeOf(tc.view)
			for i := range rt.NumField() {
				name, _, _ := strings.Cut(rt.Field(i).Tag.Get("json"), ",")
				got = append(got, name)
			}
			sort.Strings(want)
			sort.Strings(got)
			if !slices.Equal(want, got) {
				t.Fatalf("schema %s has %v, the view %v", tc.schema, want, got)
			}
		})
	}
}

var snake = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

// TestAnswersAreSnakeCaseAndDocumented asks every list and object of a populated server on each
// driver and checks that each field an answer carries is snake_case and named by its schema, and
// that the lists page.
func TestAnswersAreSnakeCaseAndDocumented(t *testing.T) {
	s := readSpec(t)
	drivers.Each(t, func(t *testing.T, open func(testing.TB) store.Store) {
		ctx := context.Background()
		st := open(t)
		log := slog.New(slog.NewTextHandler(io.Discard, nil))
		eng := engine.New(st, engine.Config{}, log, engine.NewMetrics(prometheus.NewRegistry(), st))
		blobs, err := blob.NewLocal(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		key := bytes.Repeat([]byte{7}, 32)
		keyring, _ := auth.NewKeyring(key)
		creds, err := app.Bootstrap(ctx, st, t.TempDir(), "", eng.Now())
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(server.New(server.Config{Engine: eng, Store: st, Blobs: blobs, Keyring: keyring, Log: log,
			Registry: prometheus.NewRegistry()}))
		t.Cleanup(srv.Close)
		call := func(method, path string, body any) (int, []byte) {
			t.Helper()
			var rd io.Reader
			if body != nil {
				b, _ := json.Marshal(body)
				rd = bytes.NewReader(b)
			}
			req, _ := http.NewRequest(method, srv.URL+path, rd)
			req.Header.Set("Authorization", "Bearer "+creds.AdminToken)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			b, _ := io.ReadAll(res.Body)
			return res.StatusCode, b
		}
		admin, err := st.GetAccountByName(ctx, "admin")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := eng.RegisterWorker(ctx, store.Worker{Name: "node-1", Kind: "render", Capabilities: []string{"shell"}}); err != nil {
			t.Fatal(err)
		}
		job := map[string]any{"kind": "batch", "name": "spec check", "units": []any{map[string]any{"capability": "shell", "spec": map[string]any{"cmd": "true"}}}}
		for range 3 {
			if code, b := call("POST", "/api/v1/jobs", job); code != http.StatusCreated {
				t.Fatalf("submit: %d %s", code, b)
			}
		}
		if code, b := call("POST", "/api/v1/schedules", map[string]any{"name": "nightly", "cron": "0 0 2 * * ?", "job": job}); code != http.StatusCreated {
			t.Fatalf("schedule: %d %s", code, b)
		}
		if code, b := call("POST", "/api/v1/accounts/1/tokens", map[string]any{"kind": "agent", "label": "x"}); code != http.StatusCreated {
			t.Fatalf("token: %d %s", code, b)
		}
		if code, b := call("POST", "/api/v1/accounts/1/funds", map[string]any{"balance_milli": 5000}); code != http.StatusOK {
			t.Fatalf("funds: %d %s", code, b)
		}
		_ = admin
		for _, tc := range []struct {
			path   string
			items  string // the list's field; "" for an object
			schema string
			least  int // items the page must hold
		}{
			{"/api/v1/jobs?limit=2", "jobs", "Job", 2},
			{"/api/v1/jobs?status=queued&kind=batch&search=spec&account_id=1", "jobs", "Job", 3},
			{"/api/v1/jobs/1", "", "Job", 0},
			{"/api/v1/jobs/1/units", "units", "Unit", 1},
			{"/api/v1/jobs/1/events", "events", "Event", 1},
			{"/api/v1/jobs/1/blocklist", "blocklist", "BlockEntry", 0},
			{"/api/v1/workers?kind=render&status=idle,busy&search=NODE", "workers", "Worker", 1},
			{"/api/v1/accounts?parent_id=0&search=adm", "accounts", "Account", 1},
			{"/api/v1/accounts/1/tokens?kind=agent", "tokens", "Token", 1},
			{"/api/v1/accounts/1/ledger", "lines", "LedgerLine", 1},
			{"/api/v1/schedules?kind=batch&search=night", "schedules", "Schedule", 1},
			{"/api/v1/schedules/1", "", "Schedule", 0},
			{"/api/v1/whoami", "", "Account", 0},
			{"/api/v1/overview", "", "Overview", 0},
		} {
			t.Run(tc.path, func(t *testing.T) {
				code, b := call("GET", tc.path, nil)
				if code != http.StatusOK {
					t.Fatalf("%d %s", code, b)
				}
				var objs []map[string]any
				if tc.items == "" {
					var o map[string]any
					if err := json.Unmarshal(b, &o); err != nil {
						t.Fatal(err)
					}
					objs = append(objs, o)
				} else {
					var page map[string]json.RawMessage
					if err := json.Unmarshal(b, &page); err != nil {
						t.Fatal(err)
					}
					if err := json.Unmarshal(page[tc.items], &objs); err != nil {
						t.Fatalf("%s: %v in %s", tc.items, err, b)
					}
					if len(objs) < tc.least {
						t.Fatalf("%d %s, want at least %d: %s", len(objs), tc.items, tc.least, b)
					}
					if _, ok := page["total"]; !ok && tc.items != "events" {
						t.Fatalf("no total in %s", b)
					}
				}
				props := s.Components.Schemas[tc.schema].Properties
				for _, o := range objs {
					for k := range o {
						if _, ok := props[k]; !ok || !snake.MatchString(k) {
							t.Errorf("field %q of %s is not in the %s schema (or not snake_case)", k, tc.path, tc.schema)
						}
					}
				}
			})
		}
		if code, b := call("GET", "/api/v1/jobs?limit=1&offset=1", nil); code != http.StatusOK || !bytes.Contains(b, []byte(`"total":3`)) {
			t.Fatalf("paged jobs: %d %s", code, b)
		}
	})
}
