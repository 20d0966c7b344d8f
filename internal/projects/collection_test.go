package projects

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"taskcenter/internal/auth"
	"taskcenter/internal/native"
	"taskcenter/internal/store"
)

// TestCollections: the console's projects page lists the account's template projects (with their
// templates, without the webhook secret or the templates' sources), extended projects and the render
// history with each render's status, through the native API; another account lists none.
func TestCollections(t *testing.T) {
	forEachStore(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		const secret, source = "hook-secret-never-listed", "source text never listed"
		e.native("PUT", "/api/v1/projects/template-projects/site-template", map[string]any{"display_name": "Sites", "template_center": true,
			"webhook_secret": secret, "templates": map[string]any{"pages": map[string]any{"files": map[string]string{"index.html": source}}}}, 200)
		e.kms.call(t, "POST", "/service/createExtendedProject", map[string]any{"from": "site-template", "id": "acme", "name": "Acme"}).ok(t)
		const id = "acme-site.pages"
		e.kms.call(t, "GET", "/service/trigger/template/"+id, nil).ok(t)
		e.settled(id, 1)

		other, err := e.st.CreateAccount(ctx, store.Account{Name: "other", Role: store.RoleUser})
		if err != nil {
			t.Fatal(err)
		}
		stranger, _, err := auth.IssueToken(ctx, e.st, other.ID, store.CredAdmin, "", e.clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		mux := http.NewServeMux()
		native.New(native.Config{Engine: e.eng, Store: e.st, Log: e.api.log}, e.api).Mount(mux)
		srv := httptest.NewServer(mux)
		defer srv.Close()

		for _, tc := range []struct {
			name, token, path string
			total             int
			has, lacks        []string
		}{
			{"the names", e.admin, "/api/v1/collections", 3, []string{`"projects.renders"`, `"projects.projects"`, `"projects.template-projects"`}, nil},
			{"template projects", e.admin, "/api/v1/collections/projects.template-projects", 1,
				[]string{`"name":"site-template"`, `"templates":"pages"`, `"template_center":true`}, []string{secret, source}},
			{"template projects by name", e.admin, "/api/v1/collections/projects.template-projects?search=site", 1, nil, nil},
			{"template projects, no match", e.admin, "/api/v1/collections/projects.template-projects?search=blog", 0, nil, nil},
			{"projects", e.admin, "/api/v1/collections/projects.projects", 1, []string{`"name":"acme-site"`, `"template_project":"site-template"`}, nil},
			{"renders", e.admin, "/api/v1/collections/projects.renders", 1, []string{`"template":"acme-site.pages"`, `"status":"completed"`, `"uploaded":1`}, nil},
			{"renders of a template", e.admin, "/api/v1/collections/projects.renders?search=acme-site.pages", 1, nil, nil},
			{"another account's projects", stranger, "/api/v1/collections/projects.projects", 0, nil, nil},
			{"another account's renders", stranger, "/api/v1/collections/projects.renders", 0, nil, nil},
		} {
			t.Run(tc.name, func(t *testing.T) {
				req, _ := http.NewRequest("GET", srv.URL+tc.path, nil)
				req.Header.Set("Authorization", "Bearer "+tc.token)
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(res.Body)
				res.Body.Close()
				var page struct {
					Total int `json:"total"`
				}
				if res.StatusCode != 200 || json.Unmarshal(b, &page) != nil || page.Total != tc.total {
					t.Fatalf("%d, want total %d: %s", res.StatusCode, tc.total, b)
				}
				for _, s := range tc.has {
					if !strings.Contains(string(b), s) {
						t.Errorf("lacks %s: %s", s, b)
					}
				}
				for _, s := range tc.lacks {
					if strings.Contains(string(b), s) {
						t.Errorf("shows %s: %s", s, b)
					}
				}
			})
		}
	})
}
