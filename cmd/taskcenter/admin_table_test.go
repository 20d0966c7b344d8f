package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestPrintAnswer(t *testing.T) {
	workers := `{"total":2,"workers":[{"id":1,"name":"node-1","kind":"render","status":"idle","capabilities":["blender","shell"],"last_heartbeat":"2026-12-03T14:00:00.123Z","info":{"os":"linux"}},
		{"id":2,"name":"robot","kind":"robot","status":"offline","capabilities":[],"last_heartbeat":"2026-12-03T13:00:00Z"}]}`
	for _, tc := range []struct {
		name, in, format string
		want, not        []string
	}{
		{"a list is a table", workers, "table",
			[]string{"ID  NAME    KIND    STATUS   ACCOUNT_ID  CAPABILITIES   LAST_HEARTBEAT", "1   node-1  render  idle     -           blender,shell  2026-12-03 14:00:00", "(2 shown of 2)"},
			[]string{"AccountID", "{"}},
		{"an object is field and value lines", `{"id":3,"name":"studio","balance_milli":5000}`, "table",
			[]string{"balance_milli  5000", "id             3", "name           studio"}, nil},
		{"an object's text is whole", `{"x-kms-token":"676f9ed411a051f7.bd636811de657fa18c99c387a4c2b336461c84fe0123456789abcdef"}`, "table",
			[]string{"676f9ed411a051f7.bd636811de657fa18c99c387a4c2b336461c84fe0123456789abcdef"}, []string{"..."}},
		{"a nested object's text is whole: a new key's secret", `{"account_id":2,"kind":"recording","key":{"app_id":"acd61cd2b303d3182165c9074114227a","secret":"5091d456c1e2f3a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9012345"}}`, "table",
			[]string{"app_id=acd61cd2b303d3182165c9074114227a secret=5091d456c1e2f3a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9012345"}, []string{"..."}},
		{"json is the answer indented", workers, "json", []string{`"workers": [`, `"name": "node-1"`}, []string{"(2 shown"}},
		{"an empty list", `{"total":0,"jobs":[]}`, "table", []string{"ID  ACCOUNT_ID  KIND", "(0 shown of 0)"}, nil},
		{"not JSON is printed as it is", `plain text`, "table", []string{"plain text"}, nil},
		{"an object with an empty list field is still an object", `{"id":3,"name":"fake","models":[],"enabled":true}`, "table",
			[]string{"enabled  true", "id       3", "name     fake"}, nil},
		{"an empty bare array says so", `[]`, "table", []string{"(none)"}, nil},
		{"a bare array of objects is a table", `[{"id":1,"platform":"suno","base_url":"http://127.0.0.1:18090","models":[]},{"id":2,"platform":"video","base_url":"http://u"}]`, "table",
			[]string{"BASE_URL                ID  PLATFORM", "http://127.0.0.1:18090  1   suno"}, []string{"base_url="}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			if err := printAnswer(&out, []byte(tc.in), tc.format); err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, out.String())
				}
			}
			for _, n := range tc.not {
				if strings.Contains(out.String(), n) {
					t.Errorf("output has %q:\n%s", n, out.String())
				}
			}
		})
	}
}
