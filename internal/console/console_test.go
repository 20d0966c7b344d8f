package console_test

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"taskcenter/internal/auth"
	"taskcenter/internal/engine"
	"taskcenter/internal/store"
	"taskcenter/internal/store/sqlite"
	"taskcenter/internal/store/storetest/drivers"
)

func send(t *testing.T, c *http.Client, method, url string, header map[string]string, body string) (int, string, http.Header) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	for k, v := range header {
		req.Header.Set(k, v)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b), res.Header
}

// TestAppIsServedToBrowsersOnly: a page a browser asks for is the app (with its configuration),
// anything else unknown is a JSON 404; the assets are served compressed.
func TestAppIsServedToBrowsersOnly(t *testing.T) {
	s := startStack(t, sqlite.OpenTest(t))
	c := http.DefaultClient
	for _, tc := range []struct {
		name, method, path, accept string
		code                       int
		has                        string
	}{
		{"the root", "GET", "/", "text/html,application/xhtml+xml", 200, `<div id="app">`},
		{"a deep link", "GET", "/jobs/12345", "text/html", 200, `"dialects":["render","rpa","recording","kms","aitasks"]`},
		{"an API client's typo", "GET", "/jobs/12345", "application/json", 404, `"error"`},
		{"the root without Accept", "GET", "/", "", 200, `<div id="app">`},
		{"no Accept", "GET", "/whatever", "", 404, `"error"`},
		{"an unknown API path", "GET", "/api/v1/nothing", "text/html", 404, `"error"`},
		{"a change to a page path", "POST", "/jobs", "text/html", 404, `"error"`},
		{"a change to the root", "POST", "/", "", 404, `"error"`},
		{"another method of a route", "PUT", "/api/v1/jobs", "", 405, `"method not allowed"`},
		{"the API needs a session or token", "GET", "/api/v1/jobs", "text/html", 401, `"error"`},
		{"the live stream needs a session", "GET", "/console/live", "", 401, `"error"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body, _ := send(t, c, tc.method, s.srv.URL+tc.path, map[string]string{"Accept": tc.accept}, "")
			if code != tc.code || !strings.Contains(body, tc.has) {
				t.Fatalf("%d %.300s, want %d with %q", code, body, tc.code, tc.has)
			}
		})
	}
	_, index, hdr := send(t, c, "GET", s.srv.URL+"/", map[string]string{"Accept": "text/html"}, "")
	if !strings.Contains(hdr.Get("Content-Security-Policy"), "default-src 'self'") {
		t.Errorf("CSP %q", hdr.Get("Content-Security-Policy"))
	}
	m := regexp.MustCompile(`/console/assets/([0-9a-f]+)/app\.js`).FindStringSubmatch(index)
	if m == nil {
		t.Fatalf("no app.js in %s", index)
	}
	code, _, hdr := send(t, c, "GET", s.srv.URL+"/console/assets/"+m[1]+"/pages/jobs.js", map[string]string{"Accept-Encoding": "gzip"}, "")
	if code != 200 || hdr.Get("Content-Encoding") != "gzip" || !strings.Contains(hdr.Get("Cache-Control"), "immutable") {
		t.Fatalf("asset: %d %v", code, hdr)
	}
	if code, _, _ := send(t, c, "GET", s.srv.URL+"/console/assets/"+m[1]+"/../console.go", nil, ""); code == 200 {
		t.Fatal("a path outside the assets was served")
	}
}

// TestAssetsAreSmall: the app's JavaScript and CSS, compressed, stay under 200 KB.
func TestAssetsAreSmall(t *testing.T) {
	s := startStack(t, sqlite.OpenTest(t))
	_, index, _ := send(t, http.DefaultClient, "GET", s.srv.URL+"/", map[string]string{"Accept": "text/html"}, "")
	version := regexp.MustCompile(`/console/assets/([0-9a-f]+)/`).FindStringSubmatch(index)[1]
	total := 0
	for _, f := range assetFiles(t) {
		code, body, hdr := send(t, http.DefaultClient, "GET", s.srv.URL+"/console/assets/"+version+"/"+f, map[string]string{"Accept-Encoding": "gzip"}, "")
		if code != 200 || hdr.Get("Content-Encoding") != "gzip" {
			t.Fatalf("%s: %d", f, code)
		}
		zr, err := gzip.NewReader(strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, zr); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		total += len(body)
	}
	t.Logf("%d files, %d bytes compressed", len(assetFiles(t)), total)
	if total > 200<<10 || total == 0 {
		t.Fatalf("JS and CSS are %d bytes compressed, want under 200 KB", total)
	}
}

// TestSessionGuardsChanges: a session reads with its cookie alone, changes only with its CSRF
// proof from the same origin, ends at sign-out; a tenant's session sees only its account.
func TestSessionGuardsChanges(t *testing.T) {
	drivers.Each(t, func(t *testing.T, open func(testing.TB) store.Store) {
		ctx := context.Background()
		s := startStack(t, open(t))
		u := s.srv.URL
		job := `{"kind":"batch","units":[{"capability":"shell"}]}`
		if code, _, _ := send(t, http.DefaultClient, "POST", u+"/console/session", nil, `{"token":"admin_x.y"}`); code != http.StatusUnauthorized {
			t.Fatalf("a wrong token signs in: %d", code)
		}
		if code, _, _ := send(t, http.DefaultClient, "POST", u+"/console/session", map[string]string{"Origin": "http://evil.example"}, `{"token":"`+s.creds.AdminToken+`"}`); code != http.StatusForbidden {
			t.Fatalf("a cross-origin sign-in: %d", code)
		}
		c, csrf := s.signIn(t, s.creds.AdminToken)
		for _, ck := range c.Jar.Cookies(mustURL(t, u)) {
			if ck.Name == "taskcenter_session" && strings.HasPrefix(ck.Value, "admin_") && ck.Value == s.creds.AdminToken {
				t.Fatal("the cookie carries the admin token itself")
			}
		}
		for _, tc := range []struct {
			name   string
			header map[string]string
			code   int
		}{
			{"no proof", nil, http.StatusUnauthorized},
			{"a wrong proof", map[string]string{"X-CSRF-Token": strings.Repeat("0", 64)}, http.StatusUnauthorized},
			{"the proof from another site", map[string]string{"X-CSRF-Token": csrf, "Origin": "http://evil.example"}, http.StatusUnauthorized},
			{"the proof", map[string]string{"X-CSRF-Token": csrf}, http.StatusCreated},
			{"the proof from this origin", map[string]string{"X-CSRF-Token": csrf, "Origin": u}, http.StatusCreated},
		} {
			t.Run(tc.name, func(t *testing.T) {
				if code, body, _ := send(t, c, "POST", u+"/api/v1/jobs", tc.header, job); code != tc.code {
					t.Fatalf("%d %s, want %d", code, body, tc.code)
				}
			})
		}
		if code, body, _ := send(t, c, "GET", u+"/api/v1/jobs", nil, ""); code != 200 || !strings.Contains(body, `"total":2`) {
			t.Fatalf("a read with the cookie: %d %s", code, body)
		}

		// An upload is served as a sandboxed document: an HTML blob opened from the console runs no
		// script with the session.
		code, body, _ := send(t, c, "POST", u+"/api/v1/blobs", map[string]string{"X-CSRF-Token": csrf, "Content-Type": "application/octet-stream"},
			`<html><script>fetch('/console/session')</script></html>`)
		var ref struct {
			Hash string `json:"hash"`
		}
		if err := json.Unmarshal([]byte(body), &ref); code != http.StatusCreated || err != nil {
			t.Fatalf("upload: %d %s", code, body)
		}
		if code, _, hdr := send(t, c, "GET", u+"/api/v1/blobs/"+ref.Hash, nil, ""); code != 200 ||
			!strings.HasPrefix(hdr.Get("Content-Security-Policy"), "sandbox") || hdr.Get("X-Content-Type-Options") != "nosniff" {
			t.Fatalf("a blob is served with %d %v", code, hdr)
		}

		// A tenant's admin: its own jobs only, another account's job is not found.
		other, err := s.st.CreateAccount(ctx, store.Account{Name: "tenant", Role: store.RoleUser, CreatedAt: s.eng.Now(), UpdatedAt: s.eng.Now()})
		if err != nil {
			t.Fatal(err)
		}
		tok, _, err := auth.IssueToken(ctx, s.st, other.ID, store.CredAdmin, "", s.eng.Now())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.eng.Submit(ctx, engine.JobSpec{AccountID: other.ID, Kind: "batch", Units: []engine.UnitSpec{{Capability: "shell"}}}); err != nil {
			t.Fatal(err)
		}
		tc, tcsrf := s.signIn(t, tok)
		for _, p := range []string{"/api/v1/jobs/1", "/api/v1/jobs/1/units", "/console/live?job=1"} {
			if code, _, _ := send(t, tc, "GET", u+p, nil, ""); code != http.StatusNotFound {
				t.Errorf("tenant GET %s: %d, want 404", p, code)
			}
		}
		if code, _, _ := send(t, tc, "POST", u+"/api/v1/jobs/1/pause", map[string]string{"X-CSRF-Token": tcsrf}, ""); code != http.StatusNotFound {
			t.Errorf("tenant pauses another's job: %d", code)
		}
		if code, body, _ := send(t, tc, "GET", u+"/api/v1/jobs", nil, ""); code != 200 || !strings.Contains(body, `"total":1`) {
			t.Errorf("tenant's jobs: %d %s", code, body)
		}

		// Signing out needs the proof, revokes the session and clears the cookie.
		if code, _, _ := send(t, c, "DELETE", u+"/console/session", nil, ""); code != http.StatusUnauthorized {
			t.Fatalf("sign-out without the proof: %d", code)
		}
		jar := c.Jar.Cookies(mustURL(t, u))
		if code, _, _ := send(t, c, "DELETE", u+"/console/session", map[string]string{"X-CSRF-Token": csrf}, ""); code != http.StatusNoContent {
			t.Fatalf("sign-out: %d", code)
		}
		if len(c.Jar.Cookies(mustURL(t, u))) != 0 {
			t.Fatal("the cookie outlived sign-out")
		}
		// The old cookie, replayed, is dead.
		replay := &http.Client{}
		req, _ := http.NewRequest("GET", u+"/api/v1/jobs", nil)
		for _, ck := range jar {
			req.AddCookie(ck)
		}
		res, err := replay.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusUnauthorized {
			t.Fatalf("a signed-out cookie reads: %d", res.StatusCode)
		}
	})
}

// assetFiles lists the app's JavaScript and CSS as they are embedded.
func assetFiles(t *testing.T) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir("assets", func(p string, d fs.DirEntry, err error) error {
		if err == nil && (strings.HasSuffix(p, ".js") || strings.HasSuffix(p, ".css")) {
			out = append(out, strings.TrimPrefix(filepath.ToSlash(p), "assets/"))
		}
		return err
	})
	if err != nil || len(out) < 3 {
		t.Fatalf("assets: %v %v", out, err)
	}
	return out
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
