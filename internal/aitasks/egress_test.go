package aitasks_test

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"taskcenter/internal/aitasks"
	"taskcenter/internal/blob"
	"taskcenter/internal/store"
	"taskcenter/internal/testutil"
)

// TestEgressGuard: by default a notify_hook naming a loopback, private or link-local address is
// refused at submit (nothing charged, nothing sent upstream), and one whose name resolves to
// loopback is never delivered: its callback job fails with the attempt recorded.
func TestEgressGuard(t *testing.T) {
	forEachDriver(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		u := e.newUser("alice", "user", 100_000)
		var hits atomic.Int32
		hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
		t.Cleanup(hook.Close)
		_, port, _ := net.SplitHostPort(strings.TrimPrefix(hook.URL, "http://"))
		for _, tc := range []struct {
			name, path string
			body       map[string]any
			want       string
		}{
			{"music to 127.0.0.1", "/suno/submit/music", map[string]any{"prompt": "x", "notify_hook": hook.URL + "/done"}, "loopback address (127.0.0.1)"},
			{"video to ::1", "/v1/videos", map[string]any{"model": "sora-2", "prompt": "x", "notify_hook": "http://[::1]:" + port + "/done"}, "loopback"},
			{"lyrics to metadata", "/suno/submit/lyrics", map[string]any{"prompt": "x", "notify_hook": "http://169.254.169.254/latest/meta-data/"}, "link-local"},
			{"music to 10/8", "/suno/submit/music", map[string]any{"prompt": "x", "notify_hook": "http://10.0.0.1/hook"}, "private"},
			{"not http", "/suno/submit/music", map[string]any{"prompt": "x", "notify_hook": "file:///etc/passwd"}, "http(s) URL"},
		} {
			code, raw := e.do("POST", tc.path, u.key, tc.body)
			var a relayAnswer
			if err := json.Unmarshal(raw, &a); err != nil || code != 400 || a.Code != "invalid_request" || !strings.Contains(a.Message, tc.want) {
				t.Fatalf("%s: %d %s, want 400 invalid_request with %q", tc.name, code, raw, tc.want)
			}
		}
		if submits, _, _, _ := e.up.counts(); submits != 0 || e.quota(u) != 100_000 {
			t.Fatalf("refused submits reached the upstream %d times, quota %d", submits, e.quota(u))
		}

		id := e.submit(u, "music", map[string]any{"prompt": "notify me", "notify_hook": "http://localhost:" + port + "/done"})
		e.waitStatus(u, id, "SUCCESS")
		var job store.Job
		testutil.Eventually(t, 20*time.Second, func() error {
			jobs, _, err := e.st.ListJobs(ctx, store.JobFilter{AccountIDs: []int64{e.tenant}, Kind: aitasks.KindNotify})
			if err != nil || len(jobs) != 1 || jobs[0].Status != store.JobFailed {
				return errorf("notify jobs %+v: %v", jobs, err)
			}
			job = jobs[0]
			return nil
		})
		units, _, err := e.st.ListUnits(ctx, store.UnitFilter{JobID: job.ID})
		if err != nil || len(units) != 1 || units[0].Attempts < 1 || !strings.Contains(units[0].Error, "not allowed") {
			t.Fatalf("the failed delivery's unit: %+v %v", units, err)
		}
		if n := hits.Load(); n != 0 {
			t.Fatalf("the hook behind localhost was reached %d times", n)
		}
	})
}

// TestEgressGuardMirror: by default result files on a private address are not downloaded; the
// task keeps the provider's links and its mirror job fails.
func TestEgressGuardMirror(t *testing.T) {
	blobs, err := blob.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	forEachDriverWith(t, func(c *aitasks.Config) { c.Blobs, c.MirrorResults = blobs, true }, func(t *testing.T, e *env) {
		ctx := context.Background()
		u := e.newUser("alice", "user", 10_000)
		id := e.submit(u, "music", map[string]any{"prompt": "keep my song"})
		e.waitStatus(u, id, "SUCCESS")
		testutil.Eventually(t, 20*time.Second, func() error {
			jobs, _, err := e.st.ListJobs(ctx, store.JobFilter{AccountIDs: []int64{e.tenant}, Kind: aitasks.KindMirror})
			if err != nil || len(jobs) != 1 || jobs[0].Status != store.JobFailed {
				return errorf("mirror jobs %+v: %v", jobs, err)
			}
			return nil
		})
		var clips []map[string]string
		if err := json.Unmarshal(e.fetch(u, id).Data, &clips); err != nil || len(clips) != 2 {
			t.Fatalf("clips %v: %v", clips, err)
		}
		if l, err := url.Parse(clips[0]["audio_url"]); err != nil || l.Host != strings.TrimPrefix(e.up.srv.URL, "http://") {
			t.Fatalf("audio_url %s is not the provider's", clips[0]["audio_url"])
		}
		e.up.mu.Lock()
		defer e.up.mu.Unlock()
		if e.up.cdnHits != 0 {
			t.Fatalf("the provider's files were downloaded %d times", e.up.cdnHits)
		}
	})
}
