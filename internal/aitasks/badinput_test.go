package aitasks_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestBadInput: each refusal answers new-api's error shape and status, sends nothing upstream and
// writes nothing (no task, no ledger line).
func TestBadInput(t *testing.T) {
	forEachDriver(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		alice := e.newUser("alice", "user", 10_000)
		bob := e.newUser("bob", "user", 10_000)
		poor := e.newUser("poor", "user", priceMusic-1)
		bobTask := e.submit(bob, "music", map[string]any{"prompt": "stall"})

		disabledKey, k, err := e.api.IssueKey(ctx, alice.ID, "off", -1, nil)
		if err != nil {
			t.Fatal(err)
		}
		k.Enabled = false
		if err := e.st.UpdateAIKey(ctx, k); err != nil {
			t.Fatal(err)
		}
		past := e.clock.Now().Add(-time.Hour)
		expiredKey, _, err := e.api.IssueKey(ctx, alice.ID, "old", -1, &past)
		if err != nil {
			t.Fatal(err)
		}
		limitedKey, _, err := e.api.IssueKey(ctx, alice.ID, "small", priceMusic+priceLyrics, nil)
		if err != nil {
			t.Fatal(err)
		}
		okMusic := map[string]any{"prompt": "x"}
		tests := []struct {
			name, method, path, key string
			body                    any
			status                  int
			code                    string
		}{
			{"unknown action", "POST", "/suno/submit/dance", alice.key, okMusic, 400, "invalid_action"},
			{"empty lyrics prompt", "POST", "/suno/submit/lyrics", alice.key, map[string]any{"prompt": "  "}, 400, "invalid_request"},
			{"empty music prompt", "POST", "/suno/submit/music", alice.key, map[string]any{"tags": "pop"}, 400, "invalid_request"},
			{"malformed JSON", "POST", "/suno/submit/music", alice.key, `{"prompt":`, 400, "invalid_request"},
			{"wrong type", "POST", "/suno/submit/music", alice.key, `{"prompt":5}`, 400, "invalid_request"},
			{"NUL byte", "POST", "/suno/submit/music", alice.key, map[string]any{"prompt": "a\x00b"}, 400, "invalid_request"},
			{"huge body", "POST", "/suno/submit/music", alice.key, `{"prompt":"` + strings.Repeat("a", 2<<20) + `"}`, 413, "request_body_too_large"},
			{"bad hook", "POST", "/suno/submit/music", alice.key, map[string]any{"prompt": "x", "notify_hook": "ftp://x"}, 400, "invalid_request"},
			{"no key", "POST", "/suno/submit/music", "", okMusic, 401, "invalid_api_key"},
			{"unknown key", "POST", "/suno/submit/music", "sk-nope", okMusic, 401, "invalid_api_key"},
			{"token is not a key", "POST", "/suno/submit/music", alice.token, okMusic, 401, "invalid_api_key"},
			{"disabled key", "POST", "/suno/submit/music", disabledKey, okMusic, 401, "token_disabled"},
			{"expired key", "POST", "/suno/submit/music", expiredKey, okMusic, 401, "token_expired"},
			{"exhausted quota", "POST", "/suno/submit/music", poor.key, okMusic, 403, "insufficient_user_quota"},
			{"another's task", "GET", "/suno/fetch/" + bobTask, alice.key, nil, 400, "task_not_exist"},
			{"unknown task", "GET", "/suno/fetch/task_nope", alice.key, nil, 400, "task_not_exist"},
			{"another's video", "GET", "/v1/videos/" + bobTask, alice.key, nil, 400, "task_not_exist"},
			{"video without prompt", "POST", "/v1/videos", alice.key, map[string]any{"model": "sora-2"}, 400, "invalid_request"},
			{"fetch malformed", "POST", "/suno/fetch", alice.key, `[1,2]`, 400, "invalid_request"},
		}
		submitsBefore, _, _, _ := e.up.counts()
		for _, tc := range tests {
			code, raw := e.do(tc.method, tc.path, tc.key, tc.body)
			var a relayAnswer
			if err := json.Unmarshal(raw, &a); err != nil || code != tc.status || a.Code != tc.code || a.Message == "" {
				t.Errorf("%s: %d %.300s", tc.name, code, raw)
			}
		}
		if s, _, _, _ := e.up.counts(); s != submitsBefore {
			t.Fatalf("refused submits reached the upstream: %d", s-submitsBefore)
		}
		if _, a, _ := e.list("/api/task/self", alice.token); a.Data.Total != 0 {
			t.Fatalf("refusals left %d tasks", a.Data.Total)
		}
		if got := len(e.ledger(alice)); got != 1 { // the top-up only
			t.Fatalf("refusals left %d ledger lines", got)
		}

		// The key's own limit: two tasks fit, the third is refused before the upstream.
		small := user{AIUser: alice.AIUser, token: alice.token, key: limitedKey}
		e.submit(small, "music", okMusic)
		e.submit(small, "lyrics", map[string]any{"prompt": "y"})
		code, raw := e.do("POST", "/suno/submit/lyrics", limitedKey, map[string]any{"prompt": "z"})
		if code != 403 || !strings.Contains(string(raw), "insufficient_token_quota") {
			t.Fatalf("past the key's limit: %d %s", code, raw)
		}

		// POST /suno/fetch shows only the caller's own tasks among the ids asked for.
		mine := e.submit(alice, "music", map[string]any{"prompt": "stall mine"})
		code, raw = e.do("POST", "/suno/fetch", alice.key, map[string]any{"ids": []string{mine, bobTask, "task_nope"}, "action": "MUSIC"})
		var a struct {
			Code string `json:"code"`
			Data []item `json:"data"`
		}
		if err := json.Unmarshal(raw, &a); err != nil || code != 200 || a.Code != "success" || len(a.Data) != 1 || a.Data[0].TaskID != mine {
			t.Fatalf("batch fetch: %d %s", code, raw)
		}
		code, raw = e.do("POST", "/suno/fetch", alice.key, map[string]any{"ids": []string{}})
		if code != 200 || !strings.Contains(string(raw), `"data":[]`) {
			t.Fatalf("empty batch fetch: %d %s", code, raw)
		}
	})
}
