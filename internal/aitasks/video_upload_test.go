package aitasks_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"mime/multipart"
	"net/textproto"
	"strings"
	"testing"
	"time"

	"taskcenter/internal/aitasks"
	"taskcenter/internal/auth"
	"taskcenter/internal/store"
	"taskcenter/internal/testutil"
)

// videoForm builds a multipart video submit as OpenAI's clients send it: text fields and, when
// ref is not nil, the file input_reference.
func videoForm(t *testing.T, fields map[string]string, ref []byte) (contentType string, body []byte) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for k, v := range fields {
		if err := mw.WriteField(k, v); err != nil {
			t.Fatal(err)
		}
	}
	if ref != nil {
		h := textproto.MIMEHeader{}
		h.Set("Content-Disposition", `form-data; name="input_reference"; filename="first-frame.png"`)
		h.Set("Content-Type", "image/png")
		p, err := mw.CreatePart(h)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = p.Write(ref)
	}
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	return mw.FormDataContentType(), buf.Bytes()
}

const testUploadLimit = 256 << 10

// TestVideoMultipart: POST /v1/videos takes a multipart form with the file input_reference and
// relays it to the channel byte for byte; a form over the upload limit is refused with 413 and a
// malformed one with 400, neither charged nor sent upstream.
func TestVideoMultipart(t *testing.T) {
	forEachDriverWith(t, func(c *aitasks.Config) { c.MaxUploadBytes = testUploadLimit }, func(t *testing.T, e *env) {
		ctx := context.Background()
		u := e.newUser("alice", "user", 100_000)
		ref := make([]byte, 100<<10)
		_, _ = rand.Read(ref)
		fields := map[string]string{"model": "sora-2", "prompt": "the cat in the picture walks", "seconds": "8", "size": "1280x720"}
		ct, body := videoForm(t, fields, ref)
		code, raw := e.doAs("POST", "/v1/videos", u.key, ct, body)
		var v struct {
			video
			Seconds string `json:"seconds"`
			Size    string `json:"size"`
		}
		if err := json.Unmarshal(raw, &v); err != nil || code != 200 || v.Status != "queued" || v.Seconds != "8" || v.Size != "1280x720" {
			t.Fatalf("multipart create: %d %s", code, raw)
		}
		task, err := e.st.GetAITaskByPublicID(ctx, e.tenant, u.ID, v.ID)
		if err != nil {
			t.Fatal(err)
		}
		e.up.mu.Lock()
		got, ok := e.up.references[task.UpstreamID]
		e.up.mu.Unlock()
		if !ok || !bytes.Equal(got.data, ref) || got.name != "first-frame.png" || got.contentType != "image/png" {
			t.Fatalf("the upstream got input_reference %q (%d bytes, %s), want the %d bytes sent", got.name, len(got.data), got.contentType, len(ref))
		}
		for k, want := range fields {
			if got.fields[k] != want {
				t.Fatalf("the upstream got %s = %q, want %q", k, got.fields[k], want)
			}
		}
		var props map[string]string
		if err := json.Unmarshal(task.Properties, &props); err != nil || props["input_reference"] != "first-frame.png" || props["input"] != fields["prompt"] {
			t.Fatalf("properties %s", task.Properties)
		}
		testutil.Eventually(t, 20*time.Second, func() error {
			_, raw = e.do("GET", "/v1/videos/"+v.ID, u.key, nil)
			if err := json.Unmarshal(raw, &v); err != nil || v.Status != "completed" {
				return errorf("video %s", raw)
			}
			return nil
		})
		if got := e.quota(u); got != 100_000-priceVideo {
			t.Fatalf("quota = %d", got)
		}

		submits, _, _, _ := e.up.counts()
		big := make([]byte, testUploadLimit)
		ctBig, bodyBig := videoForm(t, fields, big)
		ctNoPrompt, bodyNoPrompt := videoForm(t, map[string]string{"model": "sora-2"}, ref)
		ctEmpty, bodyEmpty := videoForm(t, fields, []byte{})
		ctText, bodyText := videoForm(t, map[string]string{"model": "sora-2", "prompt": "x", "input_reference": "not a file"}, nil)
		for _, tc := range []struct {
			name, ct string
			body     []byte
			status   int
			code     string
			msg      string
		}{
			{"over the limit", ctBig, bodyBig, 413, "request_body_too_large", "at most 262144 bytes"},
			{"no boundary", "multipart/form-data", body, 400, "invalid_request", "boundary"},
			{"truncated", ct, body[:len(body)-20], 400, "invalid_request", "malformed multipart body"},
			{"wrong boundary", "multipart/form-data; boundary=nope", body, 400, "invalid_request", "no part found"},
			{"no prompt", ctNoPrompt, bodyNoPrompt, 400, "invalid_request", "prompt is required"},
			{"empty file", ctEmpty, bodyEmpty, 400, "invalid_request", "empty file"},
			{"reference as text", ctText, bodyText, 400, "invalid_request", "must be a file"},
		} {
			code, raw := e.doAs("POST", "/v1/videos", u.key, tc.ct, tc.body)
			var a relayAnswer
			if err := json.Unmarshal(raw, &a); err != nil || code != tc.status || a.Code != tc.code || !strings.Contains(a.Message, tc.msg) {
				t.Fatalf("%s: %d %s, want %d %s with %q", tc.name, code, raw, tc.status, tc.code, tc.msg)
			}
		}
		if after, _, _, _ := e.up.counts(); after != submits || e.quota(u) != 100_000-priceVideo {
			t.Fatalf("refused forms reached the upstream %d times, quota %d", after-submits, e.quota(u))
		}
	})
}

// TestVideoRemix: POST /v1/videos/{id}/remix makes a new video of the caller's video on that
// video's channel (not a channel of higher priority added since), charged as a video; another
// user's video, an unknown id and a music task are not found; an empty prompt is refused.
func TestVideoRemix(t *testing.T) {
	forEachDriver(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		alice := e.newUser("alice", "user", 100_000)
		bob := e.newUser("bob", "user", 100_000)
		code, raw := e.do("POST", "/v1/videos", alice.key, map[string]any{"model": "sora-2", "prompt": "a cat", "seconds": "4", "size": "720x1280"})
		var orig video
		if err := json.Unmarshal(raw, &orig); err != nil || code != 200 {
			t.Fatalf("create: %d %s", code, raw)
		}
		testutil.Eventually(t, 20*time.Second, func() error {
			_, raw = e.do("GET", "/v1/videos/"+orig.ID, alice.key, nil)
			if err := json.Unmarshal(raw, &orig); err != nil || orig.Status != "completed" {
				return errorf("video %s", raw)
			}
			return nil
		})
		other := newFakeUpstream(t)
		e.addChannel(other, aitasks.PlatformVideo, 10)

		code, raw = e.do("POST", "/v1/videos/"+orig.ID+"/remix", alice.key, map[string]any{"prompt": "the same cat, in the rain"})
		var rm struct {
			video
			RemixedFrom string `json:"remixed_from_video_id"`
			Seconds     string `json:"seconds"`
		}
		if err := json.Unmarshal(raw, &rm); err != nil || code != 200 || rm.Status != "queued" || rm.ID == orig.ID ||
			!strings.HasPrefix(rm.ID, "task_") || rm.RemixedFrom != orig.ID || rm.Model != "sora-2" || rm.Seconds != "4" {
			t.Fatalf("remix: %d %s", code, raw)
		}
		origTask, err := e.st.GetAITaskByPublicID(ctx, e.tenant, alice.ID, orig.ID)
		if err != nil {
			t.Fatal(err)
		}
		rmTask, err := e.st.GetAITaskByPublicID(ctx, e.tenant, alice.ID, rm.ID)
		if err != nil {
			t.Fatal(err)
		}
		if rmTask.ChannelID != origTask.ChannelID || rmTask.Action != aitasks.ActionRemix {
			t.Fatalf("remix on channel %d action %s, want channel %d", rmTask.ChannelID, rmTask.Action, origTask.ChannelID)
		}
		e.up.mu.Lock()
		from := e.up.remixes[rmTask.UpstreamID]
		e.up.mu.Unlock()
		if from != origTask.UpstreamID {
			t.Fatalf("the upstream remixed %q, want %q", from, origTask.UpstreamID)
		}
		if n, _, _, _ := other.counts(); n != 0 {
			t.Fatalf("the other channel got %d submits", n)
		}
		testutil.Eventually(t, 20*time.Second, func() error {
			_, raw = e.do("GET", "/v1/videos/"+rm.ID, alice.key, nil)
			if err := json.Unmarshal(raw, &rm); err != nil || rm.Status != "completed" || rm.RemixedFrom != orig.ID {
				return errorf("remix %s", raw)
			}
			return nil
		})
		if got := e.quota(alice); got != 100_000-2*priceVideo {
			t.Fatalf("alice's quota = %d, want two videos' price taken", got)
		}
		if l := linesOf(e.ledger(alice), rm.ID); l["charge"] != 1 || l["refund"] != 0 {
			t.Fatalf("remix ledger lines %v", l)
		}

		music := e.submit(alice, "lyrics", map[string]any{"prompt": "the sea"})
		for _, tc := range []struct {
			name, key, id string
			body          any
			status        int
			code          string
		}{
			{"another user's video", bob.key, orig.ID, map[string]any{"prompt": "mine now"}, 400, "task_not_exist"},
			{"unknown id", alice.key, "task_00000000000000000000000000000000", map[string]any{"prompt": "x"}, 400, "task_not_exist"},
			{"a music task", alice.key, music, map[string]any{"prompt": "x"}, 400, "task_not_exist"},
			{"empty prompt", alice.key, orig.ID, map[string]any{"prompt": " "}, 400, "invalid_request"},
			{"malformed JSON", alice.key, orig.ID, "{", 400, "invalid_request"},
			{"no key", "", orig.ID, map[string]any{"prompt": "x"}, 401, "invalid_api_key"},
		} {
			code, raw := e.do("POST", "/v1/videos/"+tc.id+"/remix", tc.key, tc.body)
			var a relayAnswer
			if err := json.Unmarshal(raw, &a); err != nil || code != tc.status || a.Code != tc.code {
				t.Fatalf("%s: %d %s, want %d %s", tc.name, code, raw, tc.status, tc.code)
			}
		}
		if got := e.quota(bob); got != 100_000 {
			t.Fatalf("bob's quota = %d", got)
		}

		// The original's channel deleted (through the admin route, which drops this replica's
		// caches): the remix is not sent to another channel, nor charged.
		adminTok, _, err := auth.IssueToken(ctx, e.st, e.tenant, store.CredAdmin, "test", e.clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		if code, raw := e.do("DELETE", fmt.Sprintf("/api/aitasks/admin/channels/%d", origTask.ChannelID), adminTok, nil); code != 200 {
			t.Fatalf("delete channel: %d %s", code, raw)
		}
		before := e.quota(alice)
		code, raw = e.do("POST", "/v1/videos/"+orig.ID+"/remix", alice.key, map[string]any{"prompt": "again"})
		var a relayAnswer
		if err := json.Unmarshal(raw, &a); err != nil || code != 503 || a.Code != "no_available_channel" {
			t.Fatalf("remix on a deleted channel: %d %s", code, raw)
		}
		if n, _, _, _ := other.counts(); n != 0 || e.quota(alice) != before {
			t.Fatalf("the other channel got %d submits; quota %d, was %d", n, e.quota(alice), before)
		}
	})
}
