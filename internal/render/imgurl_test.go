package render

import (
	"strings"
	"sync"
	"testing"
	"time"

	"taskcenter/internal/store"
)

// fakeClock is a clock a test moves by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// TestImageURLsAreSignedCapabilities: a progress image or thumbnail URL is good for its image only and
// until it expires; a URL named by the content hash alone, or altered in any part, answers 404 like a
// missing image, and listing the image again hands out a fresh URL.
func TestImageURLsAreSignedCapabilities(t *testing.T) {
	forEachDriver(t, func(t *testing.T, open func(testing.TB) store.Store) {
		clock := &fakeClock{t: time.Now()}
		e := newEnv(t, open, Config{Now: clock.Now, ImageURLTTL: time.Hour})
		id := e.newTask(e.cl, []byte("BLENDER-v304 fake scene"), nil, map[string]string{"frames": "1-2", "width": "64", "height": "48"})
		e.waitStatus(e.cl, id, 10*time.Second, StatusWaiting)
		e.worker("blender").drain(1)
		e.waitStatus(e.cl, id, 5*time.Second, StatusFinished)
		grab := func() []string {
			var proc struct {
				Grab [][]map[string]string `json:"grabInfo"`
			}
			e.call(e.cl, "/api/render/task/loadTaskProcessImg", map[string]any{"taskId": id}, &proc)
			if len(proc.Grab) != 2 {
				t.Fatalf("progress rows: %d", len(proc.Grab))
			}
			return []string{proc.Grab[0][0]["grabUrl"], proc.Grab[1][0]["grabUrl"]}
		}
		urls := grab()
		prefix := e.srv.URL + "/api/render/img/"
		name := strings.TrimPrefix(urls[0], prefix)
		other := strings.TrimPrefix(urls[1], prefix)
		hash, _, _ := strings.Cut(strings.TrimSuffix(name, ".png"), "-")
		// Checked first: a URL anyone can compute from known content.
		if code, _ := e.get(prefix+hash+".png", nil); code != 404 {
			t.Errorf("the content hash alone: HTTP %d, want 404", code)
		}
		otherHash, _, _ := strings.Cut(strings.TrimSuffix(other, ".png"), "-")
		parts := strings.Split(strings.TrimSuffix(name, ".png"), "-")
		if !strings.HasPrefix(urls[0], prefix) || !strings.HasSuffix(name, ".png") || len(parts) != 3 || len(hash) != 64 || hash == otherHash {
			t.Fatalf("image URL %q: want %s<sha256>-<expires>-<signature>.png", urls[0], prefix)
		}
		flip := func(s string) string {
			if s[0] == '0' {
				return "1" + s[1:]
			}
			return "0" + s[1:]
		}
		for _, tc := range []struct {
			name string
			url  string
			want int
		}{
			{"as listed", urls[0], 200},
			{"another image's hash", prefix + otherHash + "-" + parts[1] + "-" + parts[2] + ".png", 404},
			{"a later expiry", prefix + hash + "-" + parts[1] + "0-" + parts[2] + ".png", 404},
			{"an altered signature", prefix + hash + "-" + parts[1] + "-" + flip(parts[2]) + ".png", 404},
			{"no extension", strings.TrimSuffix(urls[0], ".png"), 404},
		} {
			if code, _ := e.get(tc.url, nil); code != tc.want {
				t.Errorf("%s: HTTP %d, want %d", tc.name, code, tc.want)
			}
		}
		// Within its lifetime (rounded up to a 24th of it) the URL holds; past it, it does not.
		clock.add(59 * time.Minute)
		if code, _ := e.get(urls[0], nil); code != 200 {
			t.Fatalf("before expiry: HTTP %d", code)
		}
		clock.add(time.Hour/24 + time.Minute)
		if code, _ := e.get(urls[0], nil); code != 404 {
			t.Fatalf("after expiry: HTTP %d, want 404", code)
		}
		fresh := grab()
		if fresh[0] == urls[0] {
			t.Fatal("listing the image again gave the expired URL")
		}
		if code, body := e.get(fresh[0], nil); code != 200 || len(body) == 0 {
			t.Fatalf("renewed URL: HTTP %d", code)
		}
	})
}
