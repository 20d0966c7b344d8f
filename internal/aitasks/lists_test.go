package aitasks_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

type listAnswer struct {
	Success bool   `json:"success"`
	Message string `json:"message"`
	Data    *struct {
		Items    []item `json:"items"`
		Total    int    `json:"total"`
		Page     int    `json:"page"`
		PageSize int    `json:"page_size"`
	} `json:"data"`
}

func (e *env) list(path, token string) (int, listAnswer, string) {
	e.t.Helper()
	code, raw := e.do("GET", path, token, nil)
	var a listAnswer
	if err := json.Unmarshal(raw, &a); err != nil {
		e.t.Fatalf("list %s: %d %s", path, code, raw)
	}
	return code, a, string(raw)
}

// TestLists: the user's and the admin's lists, their filters, paging, envelope and doors.
func TestLists(t *testing.T) {
	forEachDriver(t, func(t *testing.T, e *env) {
		alice := e.newUser("alice", "user", 100_000)
		bob := e.newUser("bob", "user", 100_000)
		admin := e.newUser("root", "admin", 0)
		var aliceIDs []string
		for i := range 5 {
			aliceIDs = append(aliceIDs, e.submit(alice, "music", map[string]any{"prompt": fmt.Sprint("stall ", i)}))
		}
		e.submit(alice, "lyrics", map[string]any{"prompt": "stall words"})
		bobID := e.submit(bob, "music", map[string]any{"prompt": "stall bob"})

		code, empty, raw := e.list("/api/task/self", admin.token)
		if code != 200 || !empty.Success || empty.Data == nil || empty.Data.Items == nil || len(empty.Data.Items) != 0 {
			t.Fatalf("empty list = %d %s", code, raw)
		}
		if want := `"items":[]`; !strings.Contains(raw, want) {
			t.Fatalf("empty items not []: %s", raw)
		}

		tests := []struct {
			name, path, token string
			wantCode, total   int
			wantItems         int
			page, size        int
		}{
			{"own tasks", "/api/task/self", alice.token, 200, 6, 6, 1, 20},
			{"page 2 of 2", "/api/task/self?p=2&page_size=4", alice.token, 200, 6, 2, 2, 4},
			{"ps alias", "/api/task/self?ps=3", alice.token, 200, 6, 3, 1, 3},
			{"size alias", "/api/task/self?size=5", alice.token, 200, 6, 5, 1, 5},
			{"page size capped", "/api/task/self?page_size=1000", alice.token, 200, 6, 6, 1, 100},
			{"action filter", "/api/task/self?action=LYRICS", alice.token, 200, 1, 1, 1, 20},
			{"platform filter", "/api/task/self?platform=suno&status=SUBMITTED", alice.token, 200, 6, 6, 1, 20},
			{"status filter no match", "/api/task/self?status=SUCCESS", alice.token, 200, 0, 0, 1, 20},
			{"task id filter", "/api/task/self?task_id=" + aliceIDs[2], alice.token, 200, 1, 1, 1, 20},
			{"another's task id", "/api/task/self?task_id=" + bobID, alice.token, 200, 0, 0, 1, 20},
			{"time window before", "/api/task/self?end_timestamp=1000", alice.token, 200, 0, 0, 1, 20},
			{"time window now", "/api/task/self?start_timestamp=1000", alice.token, 200, 6, 6, 1, 20},
			{"admin sees all", "/api/task/?page_size=50", admin.token, 200, 7, 7, 1, 50},
			{"admin by channel", fmt.Sprintf("/api/task/?channel_id=%d", e.ch.ID), admin.token, 200, 7, 7, 1, 20},
			{"admin by other channel", "/api/task/?channel_id=999999", admin.token, 200, 0, 0, 1, 20},
			{"admin by user", fmt.Sprintf("/api/task/?user_id=%d", bob.ID), admin.token, 200, 1, 1, 1, 20},
		}
		for _, tc := range tests {
			code, a, raw := e.list(tc.path, tc.token)
			if code != tc.wantCode || !a.Success || a.Data.Total != tc.total || len(a.Data.Items) != tc.wantItems ||
				a.Data.Page != tc.page || a.Data.PageSize != tc.size {
				t.Errorf("%s: %d %s", tc.name, code, raw)
			}
		}

		_, a, _ := e.list("/api/task/self", alice.token)
		for i, it := range a.Data.Items {
			if it.UserID != alice.ID || it.ChannelID != 0 || it.Username != nil || it.Platform != "suno" || it.Quota == 0 {
				t.Fatalf("user item = %+v", it)
			}
			if i > 0 && it.ID > a.Data.Items[i-1].ID {
				t.Fatal("not newest first")
			}
		}
		_, a, _ = e.list("/api/task/", admin.token)
		for _, it := range a.Data.Items {
			if it.ChannelID != e.ch.ID || it.Username == nil || *it.Username == "" {
				t.Fatalf("admin item = %+v", it)
			}
		}

		doors := []struct {
			name, path, token string
			want              int
		}{
			{"no token", "/api/task/self", "", 401},
			{"bad token", "/api/task/self", "aitoken_0000.ffff", 401},
			{"api key is not a token", "/api/task/self", alice.key, 401},
			{"user on admin list", "/api/task/", alice.token, 403},
			{"admin list without token", "/api/task/", "", 401},
		}
		for _, d := range doors {
			code, a, raw := e.list(d.path, d.token)
			if code != d.want || a.Success || a.Message == "" {
				t.Errorf("%s: %d %s", d.name, code, raw)
			}
		}
	})
}
