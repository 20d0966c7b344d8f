package recording_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus"

	"taskcenter/internal/auth"
	"taskcenter/internal/blob"
	"taskcenter/internal/engine"
	"taskcenter/internal/recording"
	"taskcenter/internal/server"
)

// replica starts a second server on the env's database, as another replica would be.
func (e *env) replica() *client {
	e.t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	eng := engine.New(e.st, engine.Config{Holder: "t2", Now: e.clk.Now}, log, nil)
	blobs, err := blob.NewLocal(e.t.TempDir())
	must(e.t, err)
	keys, err := auth.NewKeyring(bytes.Repeat([]byte{9}, 32))
	must(e.t, err)
	api, err := recording.New(recording.Config{Engine: eng, Store: e.st, Blobs: blobs, Keyring: keys, Log: log})
	must(e.t, err)
	srv := httptest.NewServer(server.New(server.Config{Engine: eng, Store: e.st, Blobs: blobs, Keyring: keys, Log: log,
		Registry: prometheus.NewRegistry()}, api))
	e.t.Cleanup(srv.Close)
	e.t.Cleanup(func() { _ = api.Close() })
	conn, _, err := websocket.Dial(context.Background(), "ws"+strings.TrimPrefix(srv.URL, "http")+recording.PathWS, nil)
	must(e.t, err)
	e.t.Cleanup(func() { _ = conn.CloseNow() })
	c := &client{t: e.t, conn: conn}
	ok(e.t, c.do(map[string]any{"id": recording.CmdLogin, "app_id": e.appID, "token": e.token()}))
	return c
}

// TestReplicasDoNotLoseChanges: two replicas changing one recording at the same time (subtitles on
// one, layouts on the other) both land: each change of the document holds the recording's lock
// across replicas.
func TestReplicasDoNotLoseChanges(t *testing.T) {
	forEachDriver(t, func(t *testing.T, e *env) {
		a, b := e.login(), e.replica()
		id := ok(t, a.do(map[string]any{"id": recording.CmdInit, "group_id": "g"}))["record_id"].(string)
		const rounds = 15
		var wg sync.WaitGroup
		wg.Add(2)
		go func() {
			defer wg.Done()
			for i := 1; i <= rounds; i++ {
				ok(t, a.do(map[string]any{"id": recording.CmdSubtitles, "record_id": id,
					"subtitle_list": []any{map[string]any{"content": fmt.Sprint("s", i)}}}))
			}
		}()
		go func() {
			defer wg.Done()
			for i := 1; i <= rounds; i++ {
				ok(t, b.do(map[string]any{"id": recording.CmdLayout, "record_id": id,
					"video_list": []any{map[string]any{"user_id": "u", "x": i}}}))
			}
		}()
		wg.Wait()
		j, err := e.st.GetJob(context.Background(), mustInt(id))
		must(t, err)
		var doc struct {
			Subtitles []struct{ Content string } `json:"subtitles"`
			Video     []struct{ X int }          `json:"video"`
		}
		must(t, json.Unmarshal(j.Spec, &doc))
		if len(doc.Subtitles) != 1 || doc.Subtitles[0].Content != fmt.Sprint("s", rounds) || len(doc.Video) != 1 || doc.Video[0].X != rounds {
			t.Fatalf("a change was lost: %s", j.Spec)
		}
	})
}
