package console_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
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
