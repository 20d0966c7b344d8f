package aitasks_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"taskcenter/internal/store"
	"taskcenter/internal/store/storetest/drivers"
)

// TestConcurrentSubmitsAtTheLimit: concurrent submits are written in shared transactions; when
// the user's quota or the key's limit covers only some of them, exactly those are charged and
// created, and every other caller gets the refusal a lone submit gets, with nothing half-written.
func TestConcurrentSubmitsAtTheLimit(t *testing.T) {
	const callers, fit = 16, 5
	tests := []struct {
		name     string
		quota    int64 // the user's
		keyLimit int64 // -1: none
		code     string
	}{
		{"user quota", fit * priceLyrics, -1, "insufficient_user_quota"},
		{"key limit", 1 << 30, fit * priceLyrics, "insufficient_token_quota"},
	}
	drivers.Each(t, func(t *testing.T, open func(testing.TB) store.Store) {
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				e := newEnv(t, open(t), nil)
				u := e.newUser("crowd", "user", tc.quota)
				key, _, err := e.api.IssueKey(context.Background(), u.ID, "limited", tc.keyLimit, nil)
				if err != nil {
					t.Fatal(err)
				}
				var mu sync.Mutex
				answers := map[int]int{}
				var wg sync.WaitGroup
				for range callers {
					wg.Go(func() {
						req, _ := http.NewRequest("POST", e.srv.URL+"/suno/submit/lyrics", strings.NewReader(`{"prompt":"words"}`))
						req.Header.Set("Authorization", "Bearer "+key)
						resp, err := http.DefaultClient.Do(req)
						if err != nil {
							t.Error(err)
							return
						}
						raw, _ := io.ReadAll(resp.Body)
						resp.Body.Close()
						var a relayAnswer
						_ = json.Unmarshal(raw, &a)
						if resp.StatusCode != http.StatusOK && (resp.StatusCode != http.StatusForbidden || a.Code != tc.code) {
							t.Errorf("submit: %d %s, want 200 or 403 %s", resp.StatusCode, raw, tc.code)
						}
						mu.Lock()
						answers[resp.StatusCode]++
						mu.Unlock()
					})
				}
				wg.Wait()
				if answers[http.StatusOK] != fit || answers[http.StatusForbidden] != callers-fit {
					t.Fatalf("answers %v, want %d accepted and %d refused", answers, fit, callers-fit)
				}
				charges := 0
				for _, l := range e.ledger(u) {
					if l.Kind == "charge" {
						charges++
					}
				}
				code, raw := e.do("GET", "/api/task/self?page_size=100", u.token, nil)
				var list struct {
					Data struct {
						Total int `json:"total"`
					} `json:"data"`
				}
				if err := json.Unmarshal(raw, &list); err != nil || code != http.StatusOK {
					t.Fatalf("list: %d %s", code, raw)
				}
				if charges != fit || list.Data.Total != fit {
					t.Fatalf("%d charge lines and %d tasks, want %d of each", charges, list.Data.Total, fit)
				}
				if tc.keyLimit < 0 && e.quota(u) != 0 {
					t.Fatalf("quota left %d, want 0", e.quota(u))
				}
			})
		}
	})
}
