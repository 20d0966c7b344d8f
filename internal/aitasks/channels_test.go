package aitasks_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"taskcenter/internal/aitasks"
	"taskcenter/internal/store"
	"taskcenter/internal/store/storetest/drivers"
	"taskcenter/internal/testutil"
)

// TestSubmitRetriesOtherChannels: a 429, a 5xx, garbage or no answer from the preferred channel is
// retried on the next one, charging once; a submit that fails everywhere is refunded at once.
func TestSubmitRetriesOtherChannels(t *testing.T) {
	forEachDriver(t, func(t *testing.T, e *env) {
		u := e.newUser("alice", "user", 100_000)
		bad := newFakeUpstream(t)
		e.addChannel(bad, aitasks.PlatformSuno, 10) // preferred
		for _, mode := range []string{mode429, mode500, modeGarbage} {
			bad.set(mode, "")
			id := e.submit(u, "music", map[string]any{"prompt": "retry " + mode})
			it := e.waitStatus(u, id, "SUCCESS")
			if got := linesOf(e.ledger(u), it.TaskID); got["charge"] != 1 || got["refund"] != 0 {
				t.Fatalf("%s: ledger %v", mode, got)
			}
		}
		if got := e.quota(u); got != 100_000-3*priceMusic {
			t.Fatalf("quota = %d", got)
		}

		// Every channel refuses: the answer carries the upstream's status, and the charge is back.
		e.up.set(mode500, "")
		bad.set(mode500, "")
		code, raw := e.do("POST", "/suno/submit/music", u.key, map[string]any{"prompt": "nowhere"})
		if code != 500 || !strings.Contains(string(raw), "fail_to_fetch_task") {
			t.Fatalf("all channels down: %d %s", code, raw)
		}
		if got := e.quota(u); got != 100_000-3*priceMusic {
			t.Fatalf("quota after a failed submit = %d", got)
		}
		_, a, _ := e.list("/api/task/self?status=FAILURE", u.token)
		if a.Data.Total != 1 || !strings.Contains(a.Data.Items[0].FailReason, "submit failed") {
			t.Fatalf("failed submit's task = %+v", a.Data)
		}
		if got := linesOf(e.ledger(u), a.Data.Items[0].TaskID); got["charge"] != 1 || got["refund"] != 1 {
			t.Fatalf("failed submit ledger %v", got)
		}
	})
}

// TestSubmitHangIsBounded: a channel that never answers is cut off by the client's timeout and the
// next channel takes the task.
func TestSubmitHangIsBounded(t *testing.T) {
	drivers.Each(t, func(t *testing.T, open func(testing.TB) store.Store) {
		e := newEnv(t, open(t), func(c *aitasks.Config) { c.HTTP.Timeout = 200 * time.Millisecond })
		u := e.newUser("alice", "user", 100_000)
		hang := newFakeUpstream(t)
		hang.set(modeHang, "")
		e.addChannel(hang, aitasks.PlatformSuno, 10)
		id := e.submit(u, "music", map[string]any{"prompt": "after a hang"})
		e.waitStatus(u, id, "SUCCESS")
	})
}

// TestAuthFailuresDisableChannel: a channel that keeps answering 401 is disabled with its reason;
// its submits go to the next channel meanwhile.
func TestAuthFailuresDisableChannel(t *testing.T) {
	forEachDriver(t, func(t *testing.T, e *env) {
		u := e.newUser("alice", "user", 100_000)
		bad := newFakeUpstream(t)
		bad.set(mode401, "")
		ch := e.addChannel(bad, aitasks.PlatformSuno, 10)
		for i := range 3 {
			e.submit(u, "lyrics", map[string]any{"prompt": "words " + string(rune('a'+i))})
		}
		got, err := e.st.GetAIChannel(context.Background(), ch.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Enabled || !strings.Contains(got.StatusReason, "authentication") {
			t.Fatalf("channel after 3 401s = enabled %v, reason %q", got.Enabled, got.StatusReason)
		}
		before, _, _, _ := bad.counts()
		e.submit(u, "lyrics", map[string]any{"prompt": "more words"})
		if after, _, _, _ := bad.counts(); after != before {
			t.Fatal("a disabled channel was tried")
		}
	})
}

// TestPollBacksOffAndRecovers: 429, 5xx, garbage and hanging fetches put a batch off; the poller
// keeps going and the task finishes once the upstream answers again.
func TestPollBacksOffAndRecovers(t *testing.T) {
	drivers.Each(t, func(t *testing.T, open func(testing.TB) store.Store) {
		e := newEnv(t, open(t), func(c *aitasks.Config) { c.HTTP.Timeout = 300 * time.Millisecond })
		u := e.newUser("alice", "user", 100_000)
		for _, mode := range []string{mode429, mode500, modeGarbage, modeHang} {
			e.up.set("", mode)
			id := e.submit(u, "music", map[string]any{"prompt": "backoff " + mode})
			e.waitFetches(3)
			if it := e.fetch(u, id); it.Status != "SUBMITTED" {
				t.Fatalf("%s: status %s while the upstream refuses", mode, it.Status)
			}
			var failures int
			tk, err := e.st.GetAITaskByPublicID(context.Background(), e.tenant, u.ID, id)
			if err != nil {
				t.Fatal(err)
			}
			failures = tk.PollFailures
			if failures == 0 {
				t.Fatalf("%s: no backoff recorded", mode)
			}
			e.up.set("", modeOK)
			e.clock.Advance(time.Hour) // past any backoff
			e.waitStatus(u, id, "SUCCESS")
		}
	})
}

// waitFetches waits for n more fetches at the fake upstream.
func (e *env) waitFetches(n int) {
	e.t.Helper()
	_, start, _, _ := e.up.counts()
	testutil.Eventually(e.t, 10*time.Second, func() error {
		if _, f, _, _ := e.up.counts(); f < start+n {
			return errorf("%d of %d fetches", f-start, n)
		}
		return nil
	})
}
