package console_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"taskcenter/internal/engine"
	"taskcenter/internal/store"
	"taskcenter/internal/store/storetest/drivers"
)

// sse reads a server-sent event stream.
type sse struct {
	res   *http.Response
	lines *bufio.Scanner
}

func openStream(t *testing.T, c *http.Client, url string) *sse {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("stream: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	t.Cleanup(func() { res.Body.Close() })
	return &sse{res: res, lines: bufio.NewScanner(res.Body)}
}

// next returns the next event of one of the names, skipping others.
func (s *sse) next(t *testing.T, names ...string) (string, json.RawMessage) {
	t.Helper()
	var event string
	for s.lines.Scan() {
		line := s.lines.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			event = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			for _, n := range names {
				if n == event {
					return event, json.RawMessage(strings.TrimPrefix(line, "data: "))
				}
			}
		}
	}
	t.Fatalf("stream ended before %v: %v", names, s.lines.Err())
	return "", nil
}

// TestLiveStreamFollowsAJob: a page following a job hears its units start, its pause and its end,
// and the engine's history, without asking again; a page of the overview hears the counts change.
func TestLiveStreamFollowsAJob(t *testing.T) {
	drivers.Each(t, func(t *testing.T, open func(testing.TB) store.Store) {
		ctx := context.Background()
		s := startStack(t, open(t))
		release := gatedWorker(t, s.eng, "inprocess:live-test")
		c, _ := s.signIn(t, s.creds.AdminToken)
		c.Timeout = time.Minute
		j, err := s.eng.Submit(ctx, engine.JobSpec{AccountID: 1, Kind: "batch", Units: []engine.UnitSpec{{Capability: "inprocess:live-test"}}})
		if err != nil {
			t.Fatal(err)
		}
		st := openStream(t, c, fmt.Sprintf("%s/console/live?job=%d", s.srv.URL, j.ID))
		ov := openStream(t, c, s.srv.URL+"/console/live?overview=1")
		// A stream first says where things stand, then what changes.
		seen := map[string]bool{}
		expect := func(st *sse, marks ...string) {
			t.Helper()
			for {
				ev, data := st.next(t, "job", "event", "overview", "ready")
				for _, m := range marks {
					if strings.Contains(ev+" "+string(data), m) {
						seen[m] = true
					}
				}
				all := true
				for _, m := range marks {
					all = all && seen[m]
				}
				if all {
					return
				}
			}
		}
		expect(st, `job {"id":`, "ready")
		if _, data := ov.next(t, "overview"); !strings.Contains(string(data), `"batch":{`) || strings.Contains(string(data), "0001-01-01") {
			t.Fatalf("the first overview: %s", data)
		}
		expect(ov, "ready")
		if err := s.eng.Pause(ctx, j.ID, engine.PauseUser); err != nil {
			t.Fatal(err)
		}
		expect(st, `"status":"paused"`, `"type":"job.pause"`)
		if err := s.eng.Resume(ctx, j.ID); err != nil {
			t.Fatal(err)
		}
		release()
		expect(st, `"status":"succeeded"`, `"type":"job.finished"`)
		expect(ov, `"done":1`)
	})
}
