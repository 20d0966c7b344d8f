package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"testing"

	"taskcenter/internal/agentapi"
	"taskcenter/internal/engine"
	"taskcenter/internal/render"
	"taskcenter/internal/rpa"
	"taskcenter/internal/store/storetest/drivers"
)

// rawDo sends body as is with a bearer token and returns the status and the answer's body.
func rawDo(t testing.TB, method, u, token string, body []byte) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, u, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// tenant is an account with a native API token and an agent enrollment token.
type tenant struct {
	id           int64
	native       *adminClient
	token, agent string
}

func newTenant(t testing.TB, s *stack, admin *adminClient, name string) tenant {
	t.Helper()
	var a struct{ ID int64 }
	admin.mustDo(t, "POST", "/api/v1/accounts", map[string]any{"name": name}, &a)
	var tok, ag struct{ Token string }
	path := "/api/v1/accounts/" + strconv.FormatInt(a.ID, 10) + "/tokens"
	admin.mustDo(t, "POST", path, map[string]any{"kind": "admin"}, &tok)
	admin.mustDo(t, "POST", path, map[string]any{"kind": "agent"}, &ag)
	return tenant{id: a.ID, native: newAdminClient(s.srv.URL, tok.Token), token: tok.Token, agent: ag.Token}
}

// agentWorker registers a worker with an enrollment token and leases one unit of capability.
type agentWorker struct {
	base, token string
}

func registerAgentWorker(t testing.TB, base, enrollment, name string, caps ...string) agentWorker {
	t.Helper()
	body, _ := json.Marshal(agentapi.RegisterRequest{Name: name, Kind: "test", Capabilities: caps})
	code, b := rawDo(t, "POST", base+agentapi.PathRegister, enrollment, body)
	var resp agentapi.RegisterResponse
	if code != http.StatusOK || json.Unmarshal(b, &resp) != nil {
		t.Fatalf("register %s: HTTP %d %s", name, code, b)
	}
	return agentWorker{base: base, token: resp.WorkerToken}
}

func (w agentWorker) lease(t testing.TB) agentapi.Unit {
	t.Helper()
	code, b := rawDo(t, "POST", w.base+agentapi.PathLease, w.token, []byte(`{"max":1,"wait_seconds":0}`))
	var resp agentapi.LeaseResponse
	if code != http.StatusOK || json.Unmarshal(b, &resp) != nil || len(resp.Units) != 1 {
		t.Fatalf("lease: HTTP %d %s", code, b)
	}
	return resp.Units[0]
}

func (w agentWorker) blob(t testing.TB, hash string) int {
	t.Helper()
	code, _ := rawDo(t, "GET", w.base+agentapi.PathBlob+"/"+hash, w.token, nil)
	return code
}

// TestBlobAccessFollowsOwnership: a tenant reads through the native API only blobs of its own (its
// uploads, its units' outputs, its RPA files and render transfer files, blobs an admin handed its
// jobs), and a worker fetches only blobs that a unit it holds names and that unit's account may read.
// A foreign blob answers 404 like one that does not exist.
func TestBlobAccessFollowsOwnership(t *testing.T) {
	for _, d := range drivers.All() {
		t.Run(d.Name, func(t *testing.T) {
			ctx := context.Background()
			s := startStackWithFacades(t, d.Open(t), engine.Config{})
			base := s.srv.URL
			admin := newAdminClient(base, s.creds.AdminToken)
			a, b := newTenant(t, s, admin, "tenant-a"), newTenant(t, s, admin, "tenant-b")

			upload := func(token string, content []byte) string {
				t.Helper()
				code, body := rawDo(t, "POST", base+"/api/v1/blobs", token, content)
				if code != http.StatusCreated {
					t.Fatalf("upload: HTTP %d %s", code, body)
				}
				return sha(content)
			}
			read := func(token, hash string) int {
				t.Helper()
				code, _ := rawDo(t, "GET", base+"/api/v1/blobs/"+hash, token, nil)
				return code
			}
			scene := upload(a.token, []byte("tenant A's scene"))
			adminInput := upload(s.creds.AdminToken, []byte("an input the admin hands tenant B"))

			// A's job names its scene; B's job names A's scene too (B learnt the hash somehow).
			submit := func(c *adminClient, spec engine.JobSpec) {
				t.Helper()
				c.mustDo(t, "POST", "/api/v1/jobs", spec, nil)
			}
			unitSpec := func(hash string) json.RawMessage { return json.RawMessage(`{"scene":"` + hash + `"}`) }
			submit(a.native, engine.JobSpec{Kind: "test", Units: []engine.UnitSpec{{Capability: "probe", Spec: unitSpec(scene)}}})
			submit(b.native, engine.JobSpec{Kind: "test", Units: []engine.UnitSpec{{Capability: "probe", Spec: unitSpec(scene)}}})
			wa := registerAgentWorker(t, base, a.agent, "blob-worker-a", "probe")
			wb := registerAgentWorker(t, base, b.agent, "blob-worker-b", "probe", "probe-admin")
			ua := wa.lease(t)
			wb.lease(t)

			// A's worker stores an output of its unit.
			output := []byte("tenant A's rendered frame")
			code, body := rawDo(t, "PUT", fmt.Sprintf("%s%s/%d/image?epoch=%d", base, agentapi.PathOutput, ua.UnitID, ua.Epoch), wa.token, output)
			if code != http.StatusOK {
				t.Fatalf("output upload: HTTP %d %s", code, body)
			}
			frame := sha(output)

			// The admin submits a job for B naming a blob the admin uploaded: B's worker may fetch it.
			submit(admin, engine.JobSpec{AccountID: b.id, Kind: "test", Units: []engine.UnitSpec{{Capability: "probe-admin", Spec: unitSpec(adminInput)}}})
			wb.lease(t)

			// An RPA shared file and a render transfer file of A.
			var rk, pk struct{ Key map[string]string }
			keys := "/api/v1/accounts/" + strconv.FormatInt(a.id, 10) + "/keys"
			admin.mustDo(t, "POST", keys, map[string]any{"kind": "rpa", "name": "ops-a"}, &pk)
			admin.mustDo(t, "POST", keys, map[string]any{"kind": "render"}, &rk)
			oc := &rpa.Client{BaseURL: base}
			if err := oc.Login(ctx, pk.Key["accessKey"], pk.Key["secretKey"]); err != nil {
				t.Fatal(err)
			}
			// The document requires the uploading user's id.
			var users rpa.Page[struct{ ID int64 }]
			if err := oc.Get(ctx, "/oapi/v1/user", url.Values{"userName": {"ops-a"}}, &users); err != nil || len(users.Items) != 1 {
				t.Fatalf("find RPA user ops-a: %v (%d users)", err, len(users.Items))
			}
			rpaFile := []byte("tenant A's shared RPA file")
			fields := url.Values{"userId": {strconv.FormatInt(users.Items[0].ID, 10)}}
			if err := oc.Upload(ctx, "/oapi/v1/share/file", fields, "uploadFile", "a.txt", rpaFile, nil); err != nil {
				t.Fatal(err)
			}
			rc := &render.Client{BaseURL: base, AccessID: rk.Key["accessId"], AccessKey: rk.Key["accessKey"]}
			var sync struct{ UserKey string }
			if _, err := rc.Call(ctx, "/api/render/user/getRaySyncUserKey", map[string]any{}, &sync); err != nil {
				t.Fatal(err)
			}
			transferFile := []byte("tenant A's transferred scene")
			req, _ := http.NewRequest("PUT", base+"/api/render/transfer/files?path=/D/a/scene.blend", bytes.NewReader(transferFile))
			req.Header.Set("userKey", sync.UserKey)
			resp, err := http.DefaultClient.Do(req)
			if err != nil || resp.StatusCode != http.StatusOK {
				t.Fatalf("transfer upload: %v %v", err, resp)
			}
			resp.Body.Close()

			unknown := sha([]byte("content nobody uploaded"))
			for _, tc := range []struct {
				name  string
				token string
				hash  string
				want  int
			}{
				{"owner reads its upload", a.token, scene, 200},
				{"other tenant reads an upload", b.token, scene, 404},
				{"admin reads any blob", s.creds.AdminToken, scene, 200},
				{"owner reads its unit's output", a.token, frame, 200},
				{"other tenant reads a unit output", b.token, frame, 404},
				{"owner reads its RPA file", a.token, sha(rpaFile), 200},
				{"other tenant reads an RPA file", b.token, sha(rpaFile), 404},
				{"owner reads its transfer file", a.token, sha(transferFile), 200},
				{"other tenant reads a transfer file", b.token, sha(transferFile), 404},
				{"tenant an admin's job named a blob for", b.token, adminInput, 200},
				{"tenant reads the admin's blob", a.token, adminInput, 404},
				{"unknown hash", a.token, unknown, 404},
			} {
				if got := read(tc.token, tc.hash); got != tc.want {
					t.Errorf("native: %s: HTTP %d, want %d", tc.name, got, tc.want)
				}
			}
			for _, tc := range []struct {
				name string
				w    agentWorker
				hash string
				want int
			}{
				{"holder fetches its unit's input", wa, scene, 200},
				{"worker of B fetches A's input its own unit names", wb, scene, 404},
				{"worker fetches what a held unit does not name", wa, frame, 404},
				{"worker of B fetches A's output", wb, frame, 404},
				{"worker fetches an admin's input for its account", wb, adminInput, 200},
				{"worker fetches an unknown hash", wa, unknown, 404},
			} {
				if got := tc.w.blob(t, tc.hash); got != tc.want {
					t.Errorf("agent: %s: HTTP %d, want %d", tc.name, got, tc.want)
				}
			}
			// HEAD, which the agent asks before using a cached copy, answers alike.
			if code, _ := rawDo(t, "HEAD", base+agentapi.PathBlob+"/"+scene, wa.token, nil); code != 200 {
				t.Errorf("agent: HEAD by the holder: HTTP %d, want 200", code)
			}
			if code, _ := rawDo(t, "HEAD", base+agentapi.PathBlob+"/"+scene, wb.token, nil); code != 404 {
				t.Errorf("agent: HEAD by a worker of B: HTTP %d, want 404", code)
			}
			// The right ends with the lease.
			body, _ = json.Marshal(agentapi.CompleteRequest{Units: []agentapi.Completion{{UnitRef: agentapi.UnitRef{UnitID: ua.UnitID, Epoch: ua.Epoch}}}})
			if code, b := rawDo(t, "POST", base+agentapi.PathComplete, wa.token, body); code != http.StatusOK {
				t.Fatalf("complete: HTTP %d %s", code, b)
			}
			if got := wa.blob(t, scene); got != 404 {
				t.Errorf("agent: input of a finished unit: HTTP %d, want 404", got)
			}
		})
	}
}
