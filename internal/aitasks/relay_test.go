package aitasks_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"taskcenter/internal/testutil"
)

// TestMusicAndLyricsSucceed walks tasks through the fake upstream to SUCCESS with their clips; the
// user is charged once per task and never refunded.
func TestMusicAndLyricsSucceed(t *testing.T) {
	forEachDriver(t, func(t *testing.T, e *env) {
		u := e.newUser("alice", "user", 10_000)
		music := e.submit(u, "music", map[string]any{"prompt": "a song about the sea", "mv": "chirp-v3-5",
			"tags": "pop", "title": "Sea", "some_new_field": true})
		lyrics := e.submit(u, "lyrics", map[string]any{"prompt": "the sea"})
		if !strings.HasPrefix(music, "task_") {
			t.Fatalf("public id %q does not start with task_", music)
		}
		if got := e.quota(u); got != 10_000-priceMusic-priceLyrics {
			t.Fatalf("quota after submits = %d", got)
		}
		it := e.waitStatus(u, music, "SUCCESS")
		if it.Progress != "100%" || it.Quota != priceMusic || it.ChannelID != 0 || it.Action != "MUSIC" || it.FinishTime == 0 {
			t.Fatalf("finished music task = %+v", it)
		}
		var clips []map[string]any
		if err := json.Unmarshal(it.Data, &clips); err != nil || len(clips) != 2 || clips[0]["audio_url"] == nil {
			t.Fatalf("clips = %s", it.Data)
		}
		ly := e.waitStatus(u, lyrics, "SUCCESS")
		if !strings.Contains(string(ly.Data), "la la la") {
			t.Fatalf("lyrics data = %s", ly.Data)
		}
		if got := e.quota(u); got != 10_000-priceMusic-priceLyrics {
			t.Fatalf("quota after success = %d", got)
		}
		ls := e.ledger(u)
		for _, id := range []string{music, lyrics} {
			if got := linesOf(ls, id); got["charge"] != 1 || got["refund"] != 0 {
				t.Fatalf("ledger of %s = %v", id, got)
			}
		}
		_, _, maxBatch, overlaps := e.up.counts()
		if overlaps != 0 {
			t.Fatalf("%d fetches overlapped", overlaps)
		}
		if maxBatch < 1 {
			t.Fatal("no batch fetched")
		}
	})
}

// TestRefundsExactlyOnce: an upstream FAILURE, a time-out and a vanished channel each refund once.
func TestRefundsExactlyOnce(t *testing.T) {
	forEachDriver(t, func(t *testing.T, e *env) {
		u := e.newUser("bob", "user", 10_000)
		failed := e.submit(u, "music", map[string]any{"prompt": "please fail"})
		it := e.waitStatus(u, failed, "FAILURE")
		if it.FailReason != "upstream says no" {
			t.Fatalf("fail reason = %q", it.FailReason)
		}

		stalled := e.submit(u, "music", map[string]any{"prompt": "stall forever"})
		e.waitStatus(u, stalled, "SUBMITTED")
		e.clock.Advance(25 * time.Hour)
		it = e.waitStatus(u, stalled, "FAILURE")
		if !strings.Contains(it.FailReason, "timed out") {
			t.Fatalf("timeout reason = %q", it.FailReason)
		}

		// A channel removed while its task runs: the task fails and is refunded.
		other := newFakeUpstream(t)
		ch := e.addChannel(other, "suno", 10)
		gone := e.submit(u, "music", map[string]any{"prompt": "stall on the removed channel"})
		if s, _, _, _ := other.counts(); s != 1 {
			t.Fatalf("the priority channel took %d submits", s)
		}
		if code, raw := e.adminDeleteChannel(ch.ID); code != 200 {
			t.Fatalf("delete channel: %d %s", code, raw)
		}
		it = e.waitStatus(u, gone, "FAILURE")
		if !strings.Contains(it.FailReason, "channel") {
			t.Fatalf("vanished channel reason = %q", it.FailReason)
		}

		if got := e.quota(u); got != 10_000 {
			t.Fatalf("quota after three refunds = %d, want all of it back", got)
		}
		ls := e.ledger(u)
		for _, id := range []string{failed, stalled, gone} {
			if got := linesOf(ls, id); got["charge"] != 1 || got["refund"] != 1 {
				t.Fatalf("ledger of %s = %v", id, got)
			}
		}
		// Time passes and the poller and sweeper run on: no second refund.
		e.clock.Advance(25 * time.Hour)
		testutil.Eventually(t, 5*time.Second, func() error { return nil })
		if got := e.quota(u); got != 10_000 {
			t.Fatalf("quota later = %d", got)
		}
	})
}
