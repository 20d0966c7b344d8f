package e2e

import (
	"context"
	"net/http"
	"strconv"
	"testing"

	"taskcenter/internal/engine"
	"taskcenter/internal/render"
	"taskcenter/internal/store/storetest/drivers"
)

// TestAdminEditsRenderCatalog reads and replaces the render catalog through the native API (what
// `taskcenter admin settings get|set render-catalog` calls) and sees the edit in the render dialect.
func TestAdminEditsRenderCatalog(t *testing.T) {
	for _, d := range drivers.All() {
		t.Run(d.Name, func(t *testing.T) {
			ctx := context.Background()
			s := startStackWithFacades(t, d.Open(t), engine.Config{})
			admin := newAdminClient(s.srv.URL, s.creds.AdminToken)
			const path = "/api/v1/settings/render-catalog"

			var cat render.Catalog
			admin.mustDo(t, "GET", path, nil, &cat)
			if len(cat.Software) < 10 {
				t.Fatalf("catalog has %d programs, want the 10 built in", len(cat.Software))
			}
			cat.Software = append(cat.Software, render.Software{CgID: 2099, CgName: "Studio Renderer", CgType: "sr",
				Capability: "studio-renderer", Versions: []render.SoftVersion{{ID: 99001, CgVersion: "1.0"}}})
			admin.mustDo(t, "PUT", path, cat, nil)

			var acct struct{ ID int64 }
			admin.mustDo(t, "POST", "/api/v1/accounts", map[string]any{"name": "studio"}, &acct)
			var key struct{ Key map[string]string }
			admin.mustDo(t, "POST", "/api/v1/accounts/"+strconv.FormatInt(acct.ID, 10)+"/keys", map[string]any{"kind": "render"}, &key)
			rc := &render.Client{BaseURL: s.srv.URL, AccessID: key.Key["accessId"], AccessKey: key.Key["accessKey"]}
			var soft struct {
				RenderInfoList []struct {
					CgID   int    `json:"cgId"`
					CgName string `json:"cgName"`
				} `json:"renderInfoList"`
			}
			if _, err := rc.Call(ctx, "/api/render/common/querySupportedSoftware", map[string]any{}, &soft); err != nil {
				t.Fatal(err)
			}
			last := soft.RenderInfoList[len(soft.RenderInfoList)-1]
			if len(soft.RenderInfoList) != len(cat.Software) || last.CgID != 2099 || last.CgName != "Studio Renderer" {
				t.Fatalf("querySupportedSoftware after the edit: %+v", soft.RenderInfoList)
			}

			dup := cat
			dup.Software = append([]render.Software{cat.Software[0]}, cat.Software...)
			stray := cat
			stray.Software = append([]render.Software(nil), cat.Software...)
			stray.Software[0].Plugins = []render.Plugin{{CvID: 99001, PluginName: "other program's version"}}
			var tok struct{ Token string }
			admin.mustDo(t, "POST", "/api/v1/accounts/"+strconv.FormatInt(acct.ID, 10)+"/tokens", map[string]any{"kind": "admin"}, &tok)
			user := newAdminClient(s.srv.URL, tok.Token)
			bad := []struct {
				name   string
				client *adminClient
				method string
				path   string
				body   any
				want   int
			}{
				{"unknown setting", admin, "GET", "/api/v1/settings/nothing", nil, http.StatusNotFound},
				{"not an admin reads", user, "GET", path, nil, http.StatusNotFound},
				{"not an admin writes", user, "PUT", path, cat, http.StatusNotFound},
				{"not an object", admin, "PUT", path, "software", http.StatusBadRequest},
				{"unknown field", admin, "PUT", path, map[string]any{"software": cat.Software, "price": 1}, http.StatusBadRequest},
				{"no software", admin, "PUT", path, map[string]any{"software": []any{}}, http.StatusBadRequest},
				{"duplicate cgId", admin, "PUT", path, dup, http.StatusBadRequest},
				{"plugin of another program's version", admin, "PUT", path, stray, http.StatusBadRequest},
			}
			for _, tc := range bad {
				if code, err := tc.client.do(tc.method, tc.path, tc.body, nil); err != nil || code != tc.want {
					t.Errorf("%s: HTTP %d (%v), want %d", tc.name, code, err, tc.want)
				}
			}
			var after render.Catalog
			admin.mustDo(t, "GET", path, nil, &after)
			if len(after.Software) != len(cat.Software) {
				t.Errorf("a refused edit changed the catalog: %d programs, want %d", len(after.Software), len(cat.Software))
			}
		})
	}
}
