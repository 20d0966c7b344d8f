package aitasks_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"taskcenter/internal/aitasks"
	"taskcenter/internal/testutil"
)

type video struct {
	ID       string `json:"id"`
	Object   string `json:"object"`
	Model    string `json:"model"`
	Status   string `json:"status"`
	Progress int    `json:"progress"`
	Error    *struct {
		Message string `json:"message"`
	} `json:"error"`
}

// TestVideo: the OpenAI-style routes create, show and serve a video; a failed one is refunded.
func TestVideo(t *testing.T) {
	forEachDriver(t, func(t *testing.T, e *env) {
		u := e.newUser("alice", "user", 100_000)
		code, raw := e.do("POST", "/v1/videos", u.key, map[string]any{"model": "sora-2", "prompt": "a cat", "seconds": "4", "size": "720x1280"})
		var v video
		if err := json.Unmarshal(raw, &v); err != nil || code != 200 || v.Object != "video" || v.Status != "queued" || !strings.HasPrefix(v.ID, "task_") {
			t.Fatalf("create video: %d %s", code, raw)
		}
		testutil.Eventually(t, 20*time.Second, func() error {
			code, raw = e.do("GET", "/v1/videos/"+v.ID, u.key, nil)
			if err := json.Unmarshal(raw, &v); err != nil || code != 200 {
				return errorf("get video: %d %s", code, raw)
			}
			if v.Status != "completed" || v.Progress != 100 {
				return errorf("video %s at %d%%", v.Status, v.Progress)
			}
			return nil
		})
		code, raw = e.do("GET", "/v1/videos/"+v.ID+"/content", u.key, nil)
		if code != 200 || !strings.HasPrefix(string(raw), "MP4DATA:up-") {
			t.Fatalf("content: %d %q", code, raw)
		}
		if got := e.quota(u); got != 100_000-priceVideo {
			t.Fatalf("quota = %d", got)
		}

		code, raw = e.do("POST", "/v1/videos", u.key, map[string]any{"model": "sora-2", "prompt": "please fail"})
		if err := json.Unmarshal(raw, &v); err != nil || code != 200 {
			t.Fatalf("create failing video: %d %s", code, raw)
		}
		testutil.Eventually(t, 20*time.Second, func() error {
			_, raw = e.do("GET", "/v1/videos/"+v.ID, u.key, nil)
			_ = json.Unmarshal(raw, &v)
			if v.Status != "failed" || v.Error == nil || v.Error.Message == "" {
				return errorf("video %s", raw)
			}
			return nil
		})
		if got := e.quota(u); got != 100_000-priceVideo {
			t.Fatalf("quota after the failed video = %d", got)
		}
		if code, raw := e.do("GET", "/v1/videos/"+v.ID+"/content", u.key, nil); code != 400 {
			t.Fatalf("content of a failed video: %d %s", code, raw)
		}
	})
}

// TestNotifyHook: a finished task is POSTed to its notify_hook with a signature the receiver can
// check; a refused delivery is retried. The receiver is on loopback, which the server is told to
// allow (TestEgressGuard: refused by default).
func TestNotifyHook(t *testing.T) {
	forEachDriverWith(t, allowPrivate, func(t *testing.T, e *env) { // the receiver is on 127.0.0.1
		u := e.newUser("alice", "user", 100_000)
		secret := e.api.NotifySecret(u.ID)
		var mu sync.Mutex
		var attempts int
		var got []byte
		var sigOK bool
		hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			ts, _ := strconv.ParseInt(r.Header.Get("X-Taskcenter-Timestamp"), 10, 64)
			mu.Lock()
			defer mu.Unlock()
			attempts++
			if attempts == 1 {
				http.Error(w, "not yet", http.StatusInternalServerError)
				return
			}
			got, sigOK = body, r.Header.Get("X-Taskcenter-Signature") == aitasks.Sign(secret, ts, body)
		}))
		t.Cleanup(hook.Close)
		id := e.submit(u, "music", map[string]any{"prompt": "notify me", "notify_hook": hook.URL + "/done"})
		e.waitStatus(u, id, "SUCCESS")
		testutil.Eventually(t, 20*time.Second, func() error {
			mu.Lock()
			defer mu.Unlock()
			if got == nil {
				return errorf("%d deliveries tried", attempts)
			}
			return nil
		})
		mu.Lock()
		defer mu.Unlock()
		var it item
		if err := json.Unmarshal(got, &it); err != nil || it.TaskID != id || it.Status != "SUCCESS" {
			t.Fatalf("callback body %s", got)
		}
		if !sigOK {
			t.Fatal("the callback's signature does not check")
		}
		if aitasks.Sign(secret+"x", 1, got) == aitasks.Sign(secret, 1, got) {
			t.Fatal("signature ignores the secret")
		}
	})
}
