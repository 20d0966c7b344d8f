package rpa

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"taskcenter/internal/auth"
	"taskcenter/internal/facade"
	"taskcenter/internal/native"
	"taskcenter/internal/store"
)

// TestCollections: the console's RPA tabs list the tenant's processes, versions, assets and shared
// files through the native API; a password asset's value is not in the answer, and another
// account's things are not listed.
func TestCollections(t *testing.T) {
	forEachDriver(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		const secret = "pa55-w0rd-never-listed"
		must(t, e.admin.Upload(ctx, "/oapi/v1/process/publish", url.Values{"verExplain": {"first"}}, "file", "invoice.ipkg",
			ipkg(t, Manifest{ProcCode: "invoice", ProcName: "Invoices", Version: "1.0.0", Entry: "python3 main.py"}), nil))
		must(t, e.admin.Send(ctx, "POST", "/oapi/v1/asset", map[string]any{"assetName": "erp_url", "assetType": "text", "assetValue": "https://erp.example"}, nil))
		must(t, e.admin.Send(ctx, "POST", "/oapi/v1/asset", map[string]any{"assetName": "erp_pw", "assetType": "passwd", "assetValue": secret}, nil))
		must(t, e.admin.Upload(ctx, "/oapi/v1/share/file", url.Values{"fileTag": {"a"}, "userId": {idString(e.adminID)}}, "uploadFile", "report.bin", []byte("hello"), nil))
		other, err := e.st.CreateAccount(ctx, store.Account{Name: "other", Role: store.RoleUser})
		must(t, err)
		_, err = facade.PutDoc(ctx, e.st, store.Record{AccountID: other.ID, Kind: recAsset, Key: assetKey("foreign", robotAll)},
			assetDoc{AssetName: "foreign", AssetType: "text", RobotNo: robotAll, Value: "theirs"}, e.clock.now())
		must(t, err)

		tok, _, err := auth.IssueToken(ctx, e.st, e.account, store.CredAdmin, "", e.clock.now())
		must(t, err)
		mux := http.NewServeMux()
		native.New(native.Config{Engine: e.eng, Store: e.st, Log: e.api.log}, e.api).Mount(mux)
		srv := httptest.NewServer(mux)
		defer srv.Close()

		for _, tc := range []struct {
			path  string
			total int
			has   []string
			lacks []string
		}{
			{"/api/v1/collections", 4, []string{`"rpa.assets"`, `"rpa.files"`, `"rpa.processes"`, `"rpa.versions"`}, nil},
			{"/api/v1/collections/rpa.processes", 1, []string{`"code":"invoice"`, `"name":"Invoices"`}, nil},
			{"/api/v1/collections/rpa.versions", 1, []string{`"version":"1.0.0"`, `"entry":"python3 main.py"`}, nil},
			{"/api/v1/collections/rpa.assets", 2, []string{`"name":"erp_pw"`, `"value":"******"`, `"value":"https://erp.example"`}, []string{secret, "sealed", "foreign"}},
			{"/api/v1/collections/rpa.assets?search=pw", 1, []string{`"name":"erp_pw"`}, []string{secret}},
			{"/api/v1/collections/rpa.files", 1, []string{`"name":"report.bin"`, `"size":5`, `"tags":"a"`}, nil},
		} {
			t.Run(tc.path, func(t *testing.T) {
				req, _ := http.NewRequest("GET", srv.URL+tc.path, nil)
				req.Header.Set("Authorization", "Bearer "+tok)
				res, err := http.DefaultClient.Do(req)
				must(t, err)
				b, _ := io.ReadAll(res.Body)
				res.Body.Close()
				if res.StatusCode != 200 {
					t.Fatalf("%d %s", res.StatusCode, b)
				}
				var page struct {
					Total int `json:"total"`
				}
				must(t, json.Unmarshal(b, &page))
				if page.Total != tc.total {
					t.Errorf("total %d, want %d: %s", page.Total, tc.total, b)
				}
				for _, s := range tc.has {
					if !strings.Contains(string(b), s) {
						t.Errorf("lacks %s: %s", s, b)
					}
				}
				for _, s := range tc.lacks {
					if strings.Contains(string(b), s) {
						t.Errorf("shows %s: %s", s, b)
					}
				}
			})
		}
	})
}
