package e2e

import (
	"context"
	"net/http"
	"strconv"
	"testing"

	"taskcenter/internal/engine"
	"taskcenter/internal/render"
	"taskcenter/internal/rpa"
	"taskcenter/internal/store/storetest/drivers"
)

// TestAdminIssuesDialectKeys makes a render access key and an RPA administrator through the native API
// (what `taskcenter admin keys create` calls) and uses each with its dialect's own client over HTTP.
func TestAdminIssuesDialectKeys(t *testing.T) {
	for _, d := range drivers.All() {
		t.Run(d.Name, func(t *testing.T) {
			ctx := context.Background()
			st := d.Open(t)
			s := startStackWithFacades(t, st, engine.Config{})
			srv := s.srv
			admin := newAdminClient(srv.URL, s.creds.AdminToken)

			var acct struct{ ID int64 }
			admin.mustDo(t, "POST", "/api/v1/accounts", map[string]any{"name": "studio"}, &acct)
			keysPath := "/api/v1/accounts/" + strconv.FormatInt(acct.ID, 10) + "/keys"

			var rk struct{ Key map[string]string }
			admin.mustDo(t, "POST", keysPath, map[string]any{"kind": "render"}, &rk)
			rc := &render.Client{BaseURL: srv.URL, AccessID: rk.Key["accessId"], AccessKey: rk.Key["accessKey"]}
			var profile map[string]any
			if _, err := rc.Call(ctx, "/api/render/user/queryUserProfile", map[string]any{}, &profile); err != nil {
				t.Fatalf("render call with the issued key: %v", err)
			}
			if profile == nil {
				t.Fatal("queryUserProfile answered no profile")
			}

			var pk struct{ Key map[string]string }
			admin.mustDo(t, "POST", keysPath, map[string]any{"kind": "rpa", "name": "ops"}, &pk)
			oc := &rpa.Client{BaseURL: srv.URL}
			if err := oc.Login(ctx, pk.Key["accessKey"], pk.Key["secretKey"]); err != nil {
				t.Fatalf("rpa login with the issued key: %v", err)
			}
			var roles map[string]any
			if err := oc.Get(ctx, "/oapi/v1/role/list", nil, &roles); err != nil {
				t.Fatalf("rpa call with the issued token: %v", err)
			}

			bad := []struct {
				name string
				path string
				body any
				want int
			}{
				{"unknown kind", keysPath, map[string]any{"kind": "ftp"}, http.StatusBadRequest},
				{"no such account", "/api/v1/accounts/999999/keys", map[string]any{"kind": "render"}, http.StatusNotFound},
				{"rpa user taken", keysPath, map[string]any{"kind": "rpa", "name": "ops"}, http.StatusConflict},
				{"bad rpa user name", keysPath, map[string]any{"kind": "rpa", "name": "no spaces please"}, http.StatusBadRequest},
				{"unknown field", keysPath, map[string]any{"kind": "render", "secret": "x"}, http.StatusBadRequest},
			}
			for _, tc := range bad {
				code, err := admin.do("POST", tc.path, tc.body, nil)
				if err != nil || code != tc.want {
					t.Errorf("%s: HTTP %d (%v), want %d", tc.name, code, err, tc.want)
				}
			}
			// A user account's token cannot make keys for another account.
			var tok struct{ Token string }
			admin.mustDo(t, "POST", "/api/v1/accounts/"+strconv.FormatInt(acct.ID, 10)+"/tokens", map[string]any{"kind": "admin"}, &tok)
			user := newAdminClient(srv.URL, tok.Token)
			if code, _ := user.do("POST", "/api/v1/accounts/1/keys", map[string]any{"kind": "render"}, nil); code != http.StatusNotFound {
				t.Errorf("another account's keys: HTTP %d, want 404", code)
			}
		})
	}
}
