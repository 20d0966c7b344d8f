package rpa

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestTokenLifecycle(t *testing.T) {
	forEachDriver(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		// The access token works, and the answer has the document's shape.
		var page Page[map[string]any]
		must(t, e.admin.Get(ctx, "/oapi/v1/user", url.Values{"page": {"1"}, "size": {"10"}}, &page))
		if page.Total != 1 || page.Items[0]["userName"] != "admin" {
			t.Fatalf("users: %+v", page)
		}
		// Bad credentials.
		wantCode(t, e.client().Login(ctx, "admin", "wrong-password"), CodeLoginFailed)
		wantCode(t, e.client().Login(ctx, "nobody", adminPassword), CodeLoginFailed)

		// Expiry: 31 minutes later the access token is refused with its own code...
		e.clock.offset = 31 * time.Minute
		stale := &Client{BaseURL: e.srv.URL, HTTP: e.srv.Client(), Now: e.clock.now}
		at, _ := e.admin.Tokens()
		stale.SetToken(at)
		wantCode(t, stale.Get(ctx, "/oapi/v1/role/list", nil, nil), CodeTokenExpired)
		// ...and the client renews it with the refresh token transparently.
		must(t, e.admin.Get(ctx, "/oapi/v1/role/list", nil, nil))
		at2, rt2 := e.admin.Tokens()
		if at2 == at {
			t.Fatal("refresh kept the old access token")
		}
		// A refresh token works once.
		c := e.client()
		c.refreshToken = rt2
		must(t, c.Refresh(ctx))
		c.refreshToken = rt2
		wantCode(t, c.Refresh(ctx), CodeRefreshInvalid)
		// The old pair's access token died with the refresh.
		old := e.client()
		old.SetToken(at2)
		wantCode(t, old.Get(ctx, "/oapi/v1/role/list", nil, nil), CodeTokenInvalid)
	})
}

// rawCall sends a hand-made request and returns its code.
func rawCall(t *testing.T, e *env, method, path, body string, hdr map[string]string) int {
	t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, strings.NewReader(body))
	must(t, err)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := e.srv.Client().Do(req)
	must(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var env Envelope
	if err := json.Unmarshal(b, &env); err != nil {
		t.Fatalf("%s %s: %s", method, path, b)
	}
	return env.Code
}

func TestSignatureChecks(t *testing.T) {
	forEachDriver(t, func(t *testing.T, e *env) {
		tok, _ := e.admin.Tokens()
		ts := strconv.FormatInt(e.clock.now().UnixMilli(), 10)
		oldTS := strconv.FormatInt(e.clock.now().Add(-6*time.Minute).UnixMilli(), 10)
		good := SignRequest(tok, "page=1&size=10", ts)
		for _, tc := range []struct {
			name string
			hdr  map[string]string
			path string
			want int
		}{
			{"no headers", nil, "/oapi/v1/user?page=1&size=10", CodeAuthMissing},
			{"no signature", map[string]string{"accesstoken": tok, "timestamp": ts}, "/oapi/v1/user?page=1&size=10", CodeAuthMissing},
			{"timestamp not a number", map[string]string{"accesstoken": tok, "timestamp": "yesterday", "signature": good}, "/oapi/v1/user?page=1&size=10", CodeTimestampInvalid},
			{"timestamp too old", map[string]string{"accesstoken": tok, "timestamp": oldTS, "signature": SignRequest(tok, "page=1&size=10", oldTS)}, "/oapi/v1/user?page=1&size=10", CodeTimestampInvalid},
			{"unknown token", map[string]string{"accesstoken": "d0f462f8-73d3-4cec-8d7d-11367c264fa6", "timestamp": ts, "signature": good}, "/oapi/v1/user?page=1&size=10", CodeTokenInvalid},
			{"bad signature", map[string]string{"accesstoken": tok, "timestamp": ts, "signature": SignRequest(tok, "page=2&size=10", ts)}, "/oapi/v1/user?page=1&size=10", CodeSignatureInvalid},
			{"good", map[string]string{"accesstoken": tok, "timestamp": ts, "signature": good}, "/oapi/v1/user?size=10&page=1", CodeOK},
			{"replay", map[string]string{"accesstoken": tok, "timestamp": ts, "signature": good}, "/oapi/v1/user?size=10&page=1", CodeReplay},
		} {
			if got := rawCall(t, e, "GET", tc.path, "", tc.hdr); got != tc.want {
				t.Errorf("%s: code %d, want %d", tc.name, got, tc.want)
			}
		}
		// A body is signed as its raw text, whatever its key order or spacing.
		body := `{ "roleName" : "管理者", "page":1 }`
		ts2 := strconv.FormatInt(e.clock.now().UnixMilli()+1, 10)
		hdr := map[string]string{"accesstoken": tok, "timestamp": ts2, "signature": SignRequest(tok, body, ts2), "Content-Type": "application/json"}
		if got := rawCall(t, e, "GET", "/oapi/v1/role/list", body, hdr); got != CodeOK {
			t.Fatalf("raw body: code %d", got)
		}
	})
}
