package rpa

import (
	"context"
	"fmt"
	"net/url"
	"testing"
)

// TestListsFilterAndPageInSQL checks the lists that select their page in the store: the total counts
// every match, a page holds only its own rows, and each filter narrows alike on both drivers.
func TestListsFilterAndPageInSQL(t *testing.T) {
	forEachDriver(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		for i, name := range []string{"发票", "payroll", "payments"} {
			pkg := ipkg(t, Manifest{ProcCode: fmt.Sprintf("p%d", i), ProcName: name, Version: "1.0.0", Entry: "sh main.sh"})
			must(t, e.admin.Upload(ctx, "/oapi/v1/process/publish", nil, "file", "p.ipkg", pkg, nil))
		}
		for i := range 7 {
			must(t, e.admin.Send(ctx, "POST", "/oapi/v1/asset", map[string]any{"assetName": fmt.Sprintf("a%d", i), "assetType": "text", "assetValue": "v"}, nil))
		}
		type list = Page[map[string]any]
		cases := []struct {
			name      string
			path      string
			q         url.Values
			total     int
			items     int
			firstName string // of the first item, in its field
			field     string
		}{
			{"processes, newest first", "/oapi/v1/process", url.Values{"size": {"2"}}, 3, 2, "payments", "procName"},
			{"processes by name", "/oapi/v1/process", url.Values{"procName": {"pay"}}, 2, 2, "payments", "procName"},
			{"processes, second page", "/oapi/v1/process", url.Values{"procName": {"pay"}, "size": {"1"}, "page": {"2"}}, 2, 1, "payroll", "procName"},
			{"processes of another department", "/oapi/v1/process", url.Values{"orgCode": {"-999-"}}, 0, 0, "", ""},
			{"processes of another developer", "/oapi/v1/process", url.Values{"deveUserName": {"nobody"}}, 0, 0, "", ""},
			{"assets, last page", "/oapi/v1/asset/list", url.Values{"size": {"3"}, "page": {"3"}}, 7, 1, "a6", "assetName"},
			{"assets by name", "/oapi/v1/asset/list", url.Values{"assetName": {"a1"}}, 1, 1, "a1", "assetName"},
			{"asset log by name", "/oapi/v1/asset/vlog", url.Values{"assetId": {"a2"}}, 1, 1, "a2", "assetName"},
			{"asset log by action", "/oapi/v1/asset/vlog", url.Values{"assetId": {"a2"}, "action": {"read"}}, 0, 0, "", ""},
			{"asset log of another robot", "/oapi/v1/asset/vlog", url.Values{"assetId": {"a2"}, "robotNo": {"bot9"}}, 0, 0, "", ""},
		}
		for _, tc := range cases {
			var got list
			if tc.path == "/oapi/v1/asset/list" {
				body := map[string]any{}
				for k, v := range tc.q {
					body[k] = v[0]
				}
				must(t, e.admin.Send(ctx, "POST", tc.path, body, &got))
			} else {
				must(t, e.admin.Get(ctx, tc.path, tc.q, &got))
			}
			if got.Total != tc.total || len(got.Items) != tc.items {
				t.Errorf("%s: total %d, %d items; want %d, %d", tc.name, got.Total, len(got.Items), tc.total, tc.items)
				continue
			}
			if tc.items > 0 && got.Items[0][tc.field] != tc.firstName {
				t.Errorf("%s: first %s %v, want %s", tc.name, tc.field, got.Items[0][tc.field], tc.firstName)
			}
		}
	})
}
