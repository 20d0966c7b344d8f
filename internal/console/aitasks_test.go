package console_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"taskcenter/internal/auth"
	"taskcenter/internal/store"
	"taskcenter/internal/store/storetest/drivers"
)

// upstreamKey is the fake provider's key: the console must never show it.
const upstreamKey = "upstream-secret-7f3a9c"

// sunoUpstream is a minimal provider speaking the Suno-API protocol the AI task center relays to:
// a submit answers an upstream id, a fetch says each task is in progress at 30%.
func sunoUpstream(t *testing.T) *httptest.Server {
	t.Helper()
	var mu sync.Mutex
	n := 0
	mux := http.NewServeMux()
	mux.HandleFunc("POST /suno/submit/{action}", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+upstreamKey {
			http.Error(w, `{"code":"unauthorized"}`, http.StatusUnauthorized)
			return
		}
		mu.Lock()
		n++
		id := fmt.Sprintf("up-%d", n)
		mu.Unlock()
		_ = json.NewEncoder(w).Encode(map[string]any{"code": "success", "message": "", "data": id})
	})
	mux.HandleFunc("POST /suno/fetch", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			IDs []string `json:"ids"`
		}
		_ = json.NewDecoder(r.Body).Decode(&req)
		data := []map[string]any{}
		for _, id := range req.IDs {
			data = append(data, map[string]any{"task_id": id, "status": "IN_PROGRESS", "progress": "30%"})
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"code": "success", "data": data})
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// aiTask sets the AI task center up as its administrator would (a user with quota and a key, a
// channel to the fake upstream and a disabled one, a price), over the server's admin routes, and submits a music task
// through the relay as a client would. It returns the task's public id and the channel's name.
func aiTask(t *testing.T, s *stack) (taskID, channel string) {
	t.Helper()
	up := sunoUpstream(t)
	admin := map[string]string{"Authorization": "Bearer " + s.creds.AdminToken}
	call := func(method, path string, hdr map[string]string, body any, out any) {
		t.Helper()
		raw, _ := json.Marshal(body)
		code, ans, _ := send(t, http.DefaultClient, method, s.srv.URL+path, hdr, string(raw))
		if code != http.StatusOK {
			t.Fatalf("%s %s: %d %s", method, path, code, ans)
		}
		if out != nil {
			if err := json.Unmarshal([]byte(ans), out); err != nil {
				t.Fatalf("%s %s: %v: %s", method, path, err, ans)
			}
		}
	}
	var u struct {
		ID int64 `json:"id"`
	}
	call("POST", "/api/aitasks/admin/users", admin, map[string]any{"username": "dana", "role": "user"}, &u)
	call("POST", fmt.Sprintf("/api/aitasks/admin/users/%d/topup", u.ID), admin, map[string]any{"quota": 50000, "note": "welcome"}, nil)
	var k struct {
		Key string `json:"key"`
	}
	call("POST", fmt.Sprintf("/api/aitasks/admin/users/%d/keys", u.ID), admin, map[string]any{"name": "studio"}, &k)
	channel = "suno-main"
	call("POST", "/api/aitasks/admin/channels", admin, map[string]any{"platform": "suno", "name": channel, "base_url": up.URL,
		"key": upstreamKey, "models": "chirp-v3-5", "priority": 1}, nil)
	var backup struct {
		ID int64 `json:"id"`
	}
	call("POST", "/api/aitasks/admin/channels", admin, map[string]any{"platform": "suno", "name": "suno-backup", "base_url": up.URL,
		"key": upstreamKey}, &backup)
	call("PATCH", fmt.Sprintf("/api/aitasks/admin/channels/%d", backup.ID), admin, map[string]any{"enabled": false}, nil)
	call("PUT", "/api/aitasks/admin/prices", admin, map[string]any{"platform": "suno", "action": "MUSIC", "quota": 1200}, nil)
	var ans struct {
		Code string `json:"code"`
		Data string `json:"data"`
	}
	call("POST", "/suno/submit/music", map[string]string{"Authorization": "Bearer " + k.Key},
		map[string]any{"prompt": "a song about the sea", "mv": "chirp-v3-5"}, &ans)
	if ans.Code != "success" || ans.Data == "" {
		t.Fatalf("submit: %+v", ans)
	}
	return ans.Data, channel
}

// TestAITasksPageTenancy: what the AI tasks page reads, through console sessions: the server admin
// sees the task, the channels (never a key) and the user with its ledger; another account sees none
// of it and the user's ledger is not found; the user's own account sees its task without a channel,
// no channels, itself and its ledger; a filter the collection lacks is a 400.
func TestAITasksPageTenancy(t *testing.T) {
	drivers.Each(t, func(t *testing.T, open func(testing.TB) store.Store) {
		ctx := context.Background()
		s := startStack(t, open(t))
		taskID, channel := aiTask(t, s)
		u, err := s.st.GetAIUserByName(ctx, 1, "dana")
		if err != nil {
			t.Fatal(err)
		}
		session := func(accountID int64) *http.Client {
			tok, _, err := auth.IssueToken(ctx, s.st, accountID, store.CredAdmin, "console test", s.eng.Now())
			if err != nil {
				t.Fatal(err)
			}
			c, _ := s.signIn(t, tok)
			return c
		}
		other, err := s.st.CreateAccount(ctx, store.Account{Name: "other", Role: store.RoleUser, CreatedAt: s.eng.Now(), UpdatedAt: s.eng.Now()})
		if err != nil {
			t.Fatal(err)
		}
		admin, _ := s.signIn(t, s.creds.AdminToken)
		stranger, dana := session(other.ID), session(u.AccountID)
		col := func(name string) string { return "/api/v1/collections/" + name }
		ledger := fmt.Sprintf("/api/v1/accounts/%d/ledger", u.AccountID)
		for _, tc := range []struct {
			name   string
			c      *http.Client
			path   string
			code   int
			has    []string
			hasNot []string
		}{
			{"the admin: the task", admin, col("aitasks.tasks"), 200, []string{`"total":1`, taskID, `"channel":"` + channel + `"`, `"username":"dana"`}, nil},
			{"the admin: the channels", admin, col("aitasks.channels"), 200, []string{`"total":2`, channel, `"status_reason":"disabled by an administrator"`}, []string{upstreamKey}},
			{"the admin: the user", admin, col("aitasks.users"), 200, []string{`"total":1`, `"used_quota":1200`, `"quota":48800`}, nil},
			{"the admin: the ledger", admin, ledger, 200, []string{`"ref":"aitask:` + taskID + `"`, `"balance_milli":1200`}, nil},
			{"the admin: by a status it lacks", admin, col("aitasks.tasks") + "?status=FAILURE", 200, []string{`"total":0`}, nil},
			{"the admin: by a status it has", admin, col("aitasks.tasks") + "?status=SUBMITTED", 200, []string{`"total":1`}, nil},
			{"a filter it lacks", admin, col("aitasks.tasks") + "?colour=red", 400, nil, nil},
			{"another account: no task", stranger, col("aitasks.tasks"), 200, []string{`"total":0`}, nil},
			{"nor the tenant's, named", stranger, col("aitasks.tasks") + "?account_id=1", 200, []string{`"total":0`}, nil},
			{"no channel", stranger, col("aitasks.channels"), 200, []string{`"total":0`}, nil},
			{"no user", stranger, col("aitasks.users"), 200, []string{`"total":0`}, nil},
			{"nor the user's ledger", stranger, ledger, 404, nil, nil},
			{"the user: its task", dana, col("aitasks.tasks"), 200, []string{`"total":1`, taskID, `"channel_id":0`}, []string{channel}},
			{"no channel to the user", dana, col("aitasks.channels"), 200, []string{`"total":0`}, nil},
			{"the user: itself", dana, col("aitasks.users"), 200, []string{`"total":1`, `"username":"dana"`}, nil},
			{"the user: its ledger", dana, ledger, 200, []string{`"ref":"aitask:` + taskID + `"`}, nil},
		} {
			t.Run(tc.name, func(t *testing.T) {
				code, body, _ := send(t, tc.c, "GET", s.srv.URL+tc.path, nil, "")
				if code != tc.code {
					t.Fatalf("%d %s, want %d", code, body, tc.code)
				}
				for _, h := range tc.has {
					if !strings.Contains(body, h) {
						t.Errorf("lacks %s: %s", h, body)
					}
				}
				for _, h := range tc.hasNot {
					if strings.Contains(body, h) {
						t.Errorf("shows %s: %s", h, body)
					}
				}
			})
		}
	})
}
