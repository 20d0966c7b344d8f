package aitasks_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"taskcenter/internal/aitasks"
	"taskcenter/internal/blob"
	"taskcenter/internal/store"
	"taskcenter/internal/store/storetest/drivers"
	"taskcenter/internal/testutil"
)

// TestMirrorResults: a succeeded task's result files are copied into the blob store and its data
// points at the copies (signed links), the provider's links kept beside them.
func TestMirrorResults(t *testing.T) {
	drivers.Each(t, func(t *testing.T, open func(testing.TB) store.Store) {
		blobs, err := blob.NewLocal(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		e := newEnv(t, open(t), func(c *aitasks.Config) {
			c.Blobs, c.MirrorResults, c.AllowPrivateEgress = blobs, true, true // the provider's files are on 127.0.0.1
		})
		u := e.newUser("alice", "user", 10_000)
		id := e.submit(u, "music", map[string]any{"prompt": "keep my song"})
		e.waitStatus(u, id, "SUCCESS")
		var clips []map[string]string
		testutil.Eventually(t, 20*time.Second, func() error {
			clips = nil
			if err := json.Unmarshal(e.fetch(u, id).Data, &clips); err != nil || len(clips) != 2 {
				return errorf("clips %v: %v", clips, err)
			}
			if !strings.HasPrefix(clips[0]["audio_url"], "/aitasks/files/") {
				return errorf("audio_url still %s", clips[0]["audio_url"])
			}
			return nil
		})
		for _, c := range clips {
			if !strings.Contains(c["audio_url_origin"], "/cdn/") {
				t.Fatalf("origin link lost: %v", c)
			}
			code, raw := e.do("GET", c["audio_url"], "", nil)
			if code != 200 || !strings.HasPrefix(string(raw), "FILE:") || !strings.HasSuffix(c["audio_url_origin"], strings.TrimPrefix(string(raw), "FILE:")) {
				t.Fatalf("mirrored file: %d %q for %v", code, raw, c)
			}
		}
		bad := clips[0]["audio_url"][:len(clips[0]["audio_url"])-4] + "0000"
		if code, _ := e.do("GET", bad, "", nil); code != 404 {
			t.Fatalf("a wrong signature answered %d", code)
		}
	})
}
