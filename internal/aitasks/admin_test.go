package aitasks_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"taskcenter/internal/auth"
	"taskcenter/internal/store"
)

// TestAdminRoutes: the routes behind `taskcenter admin aitasks` make a working user, key, quota,
// channel and price, and never reach another tenant's.
func TestAdminRoutes(t *testing.T) {
	forEachDriver(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		adminTok, _, err := auth.IssueToken(ctx, e.st, e.tenant, store.CredAdmin, "test", e.clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		other, err := e.st.CreateAccount(ctx, store.Account{Name: "other-tenant", Role: store.RoleUser})
		if err != nil {
			t.Fatal(err)
		}
		otherTok, _, err := auth.IssueToken(ctx, e.st, other.ID, store.CredAdmin, "test", e.clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		call := func(method, path, tok string, body any, out any) int {
			code, raw := e.do(method, "/api/aitasks/admin"+path, tok, body)
			if out != nil && code == 200 {
				if err := json.Unmarshal(raw, out); err != nil {
					t.Fatalf("%s %s: %s", method, path, raw)
				}
			}
			return code
		}
		var u struct {
			ID           int64  `json:"id"`
			Token        string `json:"token"`
			NotifySecret string `json:"notify_secret"`
		}
		if code := call("POST", "/users", adminTok, map[string]any{"username": "carol", "role": "admin"}, &u); code != 200 || u.Token == "" || u.NotifySecret == "" {
			t.Fatalf("create user: %d %+v", code, u)
		}
		if code := call("POST", "/users", adminTok, map[string]any{"username": "carol"}, nil); code != 409 {
			t.Fatalf("duplicate user: %d", code)
		}
		var k struct {
			ID  int64  `json:"id"`
			Key string `json:"key"`
		}
		if code := call("POST", fmt.Sprintf("/users/%d/keys", u.ID), adminTok, map[string]any{"name": "k", "quota_limit": 5000}, &k); code != 200 || k.Key == "" {
			t.Fatalf("create key: %d", code)
		}
		var q struct {
			Quota int64 `json:"quota"`
		}
		if code := call("POST", fmt.Sprintf("/users/%d/topup", u.ID), adminTok, map[string]any{"quota": 3000}, &q); code != 200 || q.Quota != 3000 {
			t.Fatalf("top up: %d %+v", code, q)
		}
		if code := call("PUT", "/prices", adminTok, map[string]any{"platform": "suno", "action": "LYRICS", "model": "suno_lyrics", "quota": 7}, nil); code != 200 {
			t.Fatalf("set price: %d", code)
		}
		carol := user{AIUser: store.AIUser{ID: u.ID}, token: u.Token, key: k.Key}
		id := e.submit(carol, "lyrics", map[string]any{"prompt": "priced by model"})
		if it := e.fetch(carol, id); it.Quota != 7 {
			t.Fatalf("the model's price was not used: %+v", it)
		}
		var ch struct {
			ID int64 `json:"id"`
		}
		if code := call("POST", "/channels", adminTok, map[string]any{"platform": "suno", "base_url": e.up.srv.URL, "key": e.up.key, "priority": 5}, &ch); code != 200 {
			t.Fatalf("add channel: %d", code)
		}
		if code := call("POST", "/channels", adminTok, map[string]any{"platform": "midjourney", "base_url": e.up.srv.URL}, nil); code != 400 {
			t.Fatalf("unknown platform: %d", code)
		}
		if code := call("PATCH", fmt.Sprintf("/channels/%d", ch.ID), adminTok, map[string]any{"enabled": false}, nil); code != 200 {
			t.Fatalf("disable channel: %d", code)
		}
		var chans []struct {
			ID           int64  `json:"id"`
			Enabled      bool   `json:"enabled"`
			StatusReason string `json:"status_reason"`
		}
		if code := call("GET", "/channels", adminTok, nil, &chans); code != 200 || len(chans) != 3 {
			t.Fatalf("list channels: %d %+v", code, chans)
		}
		for _, c := range chans {
			if c.ID == ch.ID && (c.Enabled || c.StatusReason == "") {
				t.Fatalf("disabled channel shows %+v", c)
			}
		}
		if code := call("PATCH", fmt.Sprintf("/keys/%d", k.ID), adminTok, map[string]any{"enabled": false}, nil); code != 200 {
			t.Fatalf("disable key: %d", code)
		}
		if code, _ := e.do("POST", "/suno/submit/lyrics", k.Key, map[string]any{"prompt": "x"}); code != 401 {
			t.Fatalf("disabled key answered %d", code)
		}

		// Another tenant's administrator reaches none of it; no token reaches nothing.
		for _, c := range []struct{ method, path string }{
			{"POST", fmt.Sprintf("/users/%d/keys", u.ID)}, {"POST", fmt.Sprintf("/users/%d/topup", u.ID)},
			{"PATCH", fmt.Sprintf("/keys/%d", k.ID)}, {"PATCH", fmt.Sprintf("/channels/%d", ch.ID)},
			{"DELETE", fmt.Sprintf("/channels/%d", ch.ID)},
		} {
			if code := call(c.method, c.path, otherTok, map[string]any{"quota": 1}, nil); code != 404 {
				t.Errorf("other tenant %s %s: %d", c.method, c.path, code)
			}
			if code := call(c.method, c.path, "", map[string]any{}, nil); code != 401 {
				t.Errorf("no token %s %s: %d", c.method, c.path, code)
			}
		}
		var users []any
		if code := call("GET", "/users", otherTok, nil, &users); code != 200 || len(users) != 0 {
			t.Fatalf("other tenant lists %d users", len(users))
		}
		// The tenant's admin user audits carol's ledger through the list API's extension.
		code, raw := e.do("GET", fmt.Sprintf("/api/task/ledger?user_id=%d", u.ID), u.Token, nil)
		if code != 200 {
			t.Fatalf("audit ledger: %d %s", code, raw)
		}
	})
}
