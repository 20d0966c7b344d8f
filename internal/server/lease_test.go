package server_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"taskcenter/internal/agentapi"
	"taskcenter/internal/app"
	"taskcenter/internal/auth"
	"taskcenter/internal/blob"
	"taskcenter/internal/engine"
	"taskcenter/internal/server"
	"taskcenter/internal/store"
	"taskcenter/internal/store/storetest/drivers"
)

// brokenConn is a response writer whose connection is gone: every write fails, as it does when the
// long-polling agent hung up while its answer was being written.
type brokenConn struct{ h http.Header }

func (b *brokenConn) Header() http.Header       { return b.h }
func (b *brokenConn) WriteHeader(int)           {}
func (b *brokenConn) Write([]byte) (int, error) { return 0, errors.New("write: broken pipe") }

// TestLeaseAnswerNotWrittenIsHandedBack: units leased for an agent whose answer cannot be written, or
// that hung up before it was, go back to the queue at once with their attempt not counted; a delivered
// answer keeps them leased.
func TestLeaseAnswerNotWrittenIsHandedBack(t *testing.T) {
	drivers.Each(t, func(t *testing.T, open func(testing.TB) store.Store) {
		ctx := context.Background()
		st := open(t)
		blobs, err := blob.NewLocal(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		keyring, _ := auth.NewKeyring(bytes.Repeat([]byte{7}, 32))
		log := slog.New(slog.NewTextHandler(io.Discard, nil))
		eng := engine.New(st, engine.Config{Holder: "t"}, log, nil)
		creds, err := app.Bootstrap(ctx, st, t.TempDir(), "", eng.Now())
		if err != nil {
			t.Fatal(err)
		}
		srv := server.New(server.Config{Engine: eng, Store: st, Blobs: blobs, Keyring: keyring, Log: log, Registry: prometheus.NewRegistry()})
		post := func(w http.ResponseWriter, ctx context.Context, path, token, body string) {
			req := httptest.NewRequestWithContext(ctx, "POST", path, strings.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+token)
			srv.ServeHTTP(w, req)
		}
		rec := httptest.NewRecorder()
		post(rec, ctx, agentapi.PathRegister, creds.AgentToken, `{"name":"n","kind":"test","capabilities":["shell"]}`)
		var reg agentapi.RegisterResponse
		if err := agentapi.Decode(rec.Body, &reg); err != nil {
			t.Fatalf("register: %d %s", rec.Code, rec.Body)
		}
		a, _ := st.GetAccountByName(ctx, "admin")
		j, err := eng.Submit(ctx, engine.JobSpec{AccountID: a.ID, Kind: "test", Units: []engine.UnitSpec{{Capability: "shell"}}})
		if err != nil {
			t.Fatal(err)
		}
		gone, cancel := context.WithCancel(ctx)
		cancel()
		for _, tc := range []struct {
			name string
			w    http.ResponseWriter
			ctx  context.Context
			want store.UnitStatus
		}{
			{"write fails", &brokenConn{h: http.Header{}}, ctx, store.UnitQueued},
			{"agent gone before the write", httptest.NewRecorder(), gone, store.UnitQueued},
			{"delivered", httptest.NewRecorder(), ctx, store.UnitRunning},
		} {
			t.Run(tc.name, func(t *testing.T) {
				post(tc.w, tc.ctx, agentapi.PathLease, reg.WorkerToken, `{"max":1,"wait_seconds":0}`)
				units, _, err := st.ListUnits(ctx, store.UnitFilter{JobID: j.ID})
				if err != nil || len(units) != 1 {
					t.Fatalf("units: %v %v", units, err)
				}
				u := units[0]
				if u.Status != tc.want || (tc.want == store.UnitQueued && (u.Attempts != 0 || u.WorkerID != 0)) {
					t.Fatalf("unit after the lease: %+v", u)
				}
			})
		}
	})
}
