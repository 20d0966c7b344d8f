package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"os/exec"
	"strconv"
	"testing"

	"taskcenter/internal/engine"
	"taskcenter/internal/render"
	"taskcenter/internal/store/storetest/drivers"
)

// TestAdminSetsRenderPrices sets an account's render prices with the taskcenter binary's
// `admin accounts prices` (native PATCH /api/v1/accounts/{id}/settings/render) and reads them back
// through the render dialect; refused edits change nothing.
func TestAdminSetsRenderPrices(t *testing.T) {
	bin := binary(t)
	for _, d := range drivers.All() {
		t.Run(d.Name, func(t *testing.T) {
			ctx := context.Background()
			s := startStackWithFacades(t, d.Open(t), engine.Config{})
			admin := newAdminClient(s.srv.URL, s.creds.AdminToken)
			var acct struct{ ID int64 }
			admin.mustDo(t, "POST", "/api/v1/accounts", map[string]any{"name": "studio"}, &acct)
			id := strconv.FormatInt(acct.ID, 10)
			cli := func(args ...string) ([]byte, error) {
				base := []string{"admin", "--server", s.srv.URL, "--token", s.creds.AdminToken, "-o", "json", "accounts"}
				return exec.Command(bin, append(base, args...)...).CombinedOutput()
			}

			out, err := cli("prices", id, "--cpu", "3.6", "--gpu", "7.25")
			if err != nil {
				t.Fatalf("accounts prices: %v: %s", err, out)
			}
			var set render.Settings
			if err := json.Unmarshal(out, &set); err != nil || set.CPUPrice != 3.6 || set.GPUPrice != 7.25 {
				t.Fatalf("accounts prices answered %s (%v)", out, err)
			}
			// One price alone keeps the other; no flag shows them.
			if out, err := cli("prices", id, "--gpu", "0"); err != nil {
				t.Fatalf("accounts prices --gpu 0: %v: %s", err, out)
			}
			if out, err = cli("prices", id); err != nil {
				t.Fatalf("accounts prices (show): %v: %s", err, out)
			}
			if err := json.Unmarshal(out, &set); err != nil || set.CPUPrice != 3.6 || set.GPUPrice != 0 {
				t.Fatalf("accounts prices (show) answered %s (%v)", out, err)
			}

			var key struct{ Key map[string]string }
			admin.mustDo(t, "POST", "/api/v1/accounts/"+id+"/keys", map[string]any{"kind": "render"}, &key)
			rc := &render.Client{BaseURL: s.srv.URL, AccessID: key.Key["accessId"], AccessKey: key.Key["accessKey"]}
			var profile struct {
				CPUPrice float64 `json:"cpuPrice"`
				GPUPrice float64 `json:"gpuPrice"`
			}
			if _, err := rc.Call(ctx, "/api/render/user/queryUserProfile", map[string]any{}, &profile); err != nil {
				t.Fatal(err)
			}
			if profile.CPUPrice != 3.6 || profile.GPUPrice != 0 {
				t.Fatalf("queryUserProfile after the admin set the prices: %+v", profile)
			}

			if out, err := cli("prices", id, "--cpu", "-1"); err == nil {
				t.Fatalf("a negative price was accepted: %s", out)
			}
			var tok struct{ Token string }
			admin.mustDo(t, "POST", "/api/v1/accounts/"+id+"/tokens", map[string]any{"kind": "admin"}, &tok)
			user := newAdminClient(s.srv.URL, tok.Token)
			path := "/api/v1/accounts/" + id + "/settings/render"
			for _, tc := range []struct {
				name   string
				client *adminClient
				method string
				path   string
				body   any
				want   int
			}{
				{"not an admin reads", user, "GET", path, nil, http.StatusNotFound},
				{"not an admin sets its own price", user, "PATCH", path, map[string]any{"cpuPrice": 0}, http.StatusNotFound},
				{"unknown account", admin, "PATCH", "/api/v1/accounts/999999/settings/render", map[string]any{"cpuPrice": 1}, http.StatusNotFound},
				{"unknown settings", admin, "GET", "/api/v1/accounts/" + id + "/settings/nothing", nil, http.StatusNotFound},
				{"unknown field", admin, "PATCH", path, map[string]any{"cpuPrice": 1, "price": 1}, http.StatusBadRequest},
				{"negative price", admin, "PATCH", path, map[string]any{"gpuPrice": -2}, http.StatusBadRequest},
				{"price as text", admin, "PATCH", path, map[string]any{"cpuPrice": "1"}, http.StatusBadRequest},
			} {
				if code, err := tc.client.do(tc.method, tc.path, tc.body, nil); err != nil || code != tc.want {
					t.Errorf("%s: HTTP %d (%v), want %d", tc.name, code, err, tc.want)
				}
			}
			admin.mustDo(t, "GET", path, nil, &set)
			if set.CPUPrice != 3.6 || set.GPUPrice != 0 {
				t.Fatalf("a refused edit changed the prices: %+v", set)
			}
		})
	}
}
