package server_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"taskcenter/internal/agentapi"
	"taskcenter/internal/app"
	"taskcenter/internal/auth"
	"taskcenter/internal/blob"
	"taskcenter/internal/engine"
	"taskcenter/internal/server"
	"taskcenter/internal/store"
	"taskcenter/internal/store/sqlite"
)

// FuzzAgentProtocol feeds arbitrary bodies to every JSON entry point of the agent protocol with a valid
// worker token: the server answers each with a 2xx or a 4xx (never a 5xx or a panic) and keeps serving.
func FuzzAgentProtocol(f *testing.F) {
	seeds := []string{
		`{"max":1,"wait_seconds":0}`, `{"running":[{"unit_id":1,"epoch":1}]}`, `{"unit_id":1,"epoch":1,"progress":50}`,
		`{"units":[{"unit_id":1,"epoch":1,"seconds":1.5}]}`, `{"unit_id":1,"epoch":2,"error":"x"}`, `{"units":[]}`,
		`{"max":-1}`, `{"max":"1"}`, `[]`, `null`, ``, `{`, `{"progress":1e400}`, `{"unit_id":9223372036854775807,"epoch":1}`,
		`{"name":"n","kind":"k","capabilities":["shell"]}`, `{"unknown":1}`, `{"max":1}{"max":2}`,
	}
	for _, s := range seeds {
		for i := range agentPaths {
			f.Add(i, []byte(s))
		}
	}
	srv, workerToken, agentToken := fuzzServer(f)
	f.Fuzz(func(t *testing.T, which int, body []byte) {
		if which < 0 {
			which = -which
		}
		path := agentPaths[which%len(agentPaths)]
		token := workerToken
		if path == agentapi.PathRegister {
			token = agentToken
		}
		req := httptest.NewRequest("POST", path, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("POST %s %q: HTTP %d %s", path, body, rec.Code, rec.Body)
		}
		// Still serving.
		rec = httptest.NewRecorder()
		srv.ServeHTTP(rec, httptest.NewRequest("GET", "/healthz", nil))
		if rec.Code != http.StatusOK {
			t.Fatalf("healthz after %s: HTTP %d", path, rec.Code)
		}
	})
}

var agentPaths = []string{agentapi.PathRegister, agentapi.PathHeartbeat, agentapi.PathLease, agentapi.PathProgress,
	agentapi.PathComplete, agentapi.PathFail, agentapi.PathRelease}

func fuzzServer(tb testing.TB) (http.Handler, string, string) {
	ctx := context.Background()
	st := sqlite.OpenTest(tb)
	blobs, err := blob.NewLocal(tb.TempDir())
	if err != nil {
		tb.Fatal(err)
	}
	keyring, _ := auth.NewKeyring(bytes.Repeat([]byte{7}, 32))
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	eng := engine.New(st, engine.Config{Holder: "fuzz"}, log, nil)
	creds, err := app.Bootstrap(ctx, st, tb.TempDir(), "", eng.Now())
	if err != nil {
		tb.Fatal(err)
	}
	srv := server.New(server.Config{Engine: eng, Store: st, Blobs: blobs, Keyring: keyring, Log: log, Registry: prometheus.NewRegistry()})
	a, _ := st.GetAccountByName(ctx, "admin")
	w, err := eng.RegisterWorker(ctx, store.Worker{Name: "fuzz", Kind: "test", Capabilities: []string{"shell"}})
	if err != nil {
		tb.Fatal(err)
	}
	token, _, err := auth.IssueToken(ctx, st, a.ID, store.CredWorker, strconv.FormatInt(w.ID, 10)+":"+strconv.FormatInt(w.Incarnation, 10), eng.Now())
	if err != nil {
		tb.Fatal(err)
	}
	// A unit to report against, so that decoding reaches the engine and the store.
	if _, err := eng.Submit(ctx, engine.JobSpec{AccountID: a.ID, Kind: "test", Units: []engine.UnitSpec{{Capability: "shell"}}}); err != nil {
		tb.Fatal(err)
	}
	return srv, token, creds.AgentToken
}
