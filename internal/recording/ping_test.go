package recording

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"taskcenter/internal/auth"
	"taskcenter/internal/blob"
	"taskcenter/internal/engine"
	"taskcenter/internal/store/sqlite"
	"taskcenter/internal/testutil"
)

// TestSilentPeerIsClosed: a connection whose peer stops answering pings (it vanished without
// closing) is closed by the server; one that answers stays.
func TestSilentPeerIsClosed(t *testing.T) {
	st := sqlite.OpenTest(t)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	blobs, err := blob.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	keys, _ := auth.NewKeyring(bytes.Repeat([]byte{1}, 32))
	a, err := New(Config{Engine: engine.New(st, engine.Config{}, log, nil), Store: st, Blobs: blobs, Keyring: keys, Log: log,
		PingEvery: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	srv := httptest.NewServer(nil)
	srv.Config.Handler = httpHandler(a)
	defer srv.Close()
	url := "ws" + strings.TrimPrefix(srv.URL, "http") + PathWS
	silent, _, err := websocket.Dial(context.Background(), url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.CloseNow()
	live, _, err := websocket.Dial(context.Background(), url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer live.CloseNow()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _, _, _ = live.Read(ctx) }() // reading answers the server's pings
	testutil.Eventually(t, 10*time.Second, func() error {
		if n := len(a.conns.snapshot()); n != 1 {
			return fmt.Errorf("%d connections open, want the live one", n)
		}
		return nil
	})
}

func httpHandler(a *API) *http.ServeMux {
	mux := http.NewServeMux()
	a.Mount(mux)
	return mux
}
