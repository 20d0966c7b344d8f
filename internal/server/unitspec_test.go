package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
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

// TestUnitSpecCall: only the holder of a unit, with its current epoch, reads the unit's current spec
// and its outputs; a spec changed by the engine shows at the next call.
func TestUnitSpecCall(t *testing.T) {
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
		hs := httptest.NewServer(server.New(server.Config{Engine: eng, Store: st, Blobs: blobs, Keyring: keyring, Log: log, Registry: prometheus.NewRegistry()}))
		defer hs.Close()
		call := func(method, path, token, body string) (int, []byte) {
			req, _ := http.NewRequest(method, hs.URL+path, strings.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+token)
			resp, err := hs.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, b
		}
		register := func(name string) string {
			code, b := call("POST", agentapi.PathRegister, creds.AgentToken, `{"name":"`+name+`","kind":"recorder","capabilities":["recorder"]}`)
			var reg agentapi.RegisterResponse
			if code != 200 || json.Unmarshal(b, &reg) != nil {
				t.Fatalf("register: %d %s", code, b)
			}
			return reg.WorkerToken
		}
		holder, other := register("a"), register("b")
		a, _ := st.GetAccountByName(ctx, "admin")
		_, err = eng.Submit(ctx, engine.JobSpec{AccountID: a.ID, Kind: "recording", Units: []engine.UnitSpec{{Capability: "recorder", Spec: json.RawMessage(`{"version":1}`)}}})
		if err != nil {
			t.Fatal(err)
		}
		code, b := call("POST", agentapi.PathLease, holder, `{"max":1,"wait_seconds":0}`)
		var lease agentapi.LeaseResponse
		if code != 200 || json.Unmarshal(b, &lease) != nil || len(lease.Units) != 1 {
			t.Fatalf("lease: %d %s", code, b)
		}
		u := lease.Units[0]
		if code, b := call("PUT", fmt.Sprintf("%s/%d/segment.000000?epoch=%d", agentapi.PathOutput, u.UnitID, u.Epoch), holder, "segment bytes"); code != 200 {
			t.Fatalf("output: %d %s", code, b)
		}
		if _, err := eng.UpdateUnitSpec(ctx, engine.UnitSpecChange{UnitID: u.UnitID, Spec: json.RawMessage(`{"version":2}`)}); err != nil {
			t.Fatal(err)
		}
		tests := []struct {
			name, path, token string
			want              int
		}{
			{"holder", fmt.Sprintf("%s/%d?epoch=%d", agentapi.PathUnitSpec, u.UnitID, u.Epoch), holder, 200},
			{"other epoch", fmt.Sprintf("%s/%d?epoch=%d", agentapi.PathUnitSpec, u.UnitID, u.Epoch+1), holder, 409},
			{"another worker", fmt.Sprintf("%s/%d?epoch=%d", agentapi.PathUnitSpec, u.UnitID, u.Epoch), other, 409},
			{"no epoch", fmt.Sprintf("%s/%d", agentapi.PathUnitSpec, u.UnitID), holder, 400},
			{"bad id", agentapi.PathUnitSpec + "/x?epoch=1", holder, 400},
			{"no such unit", agentapi.PathUnitSpec + "/999999?epoch=1", holder, 404},
			{"no token", fmt.Sprintf("%s/%d?epoch=%d", agentapi.PathUnitSpec, u.UnitID, u.Epoch), "", 401},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				code, b := call("GET", tc.path, tc.token, "")
				if code != tc.want {
					t.Fatalf("%d %s, want %d", code, b, tc.want)
				}
				if code != 200 {
					return
				}
				var resp agentapi.UnitSpecResponse
				if err := json.Unmarshal(b, &resp); err != nil {
					t.Fatal(err)
				}
				if string(resp.Spec) != `{"version":2}` || resp.Outputs["segment.000000"].Size != int64(len("segment bytes")) {
					t.Fatalf("answer %s", b)
				}
			})
		}
	})
}
