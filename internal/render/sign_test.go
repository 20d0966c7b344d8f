package render

import (
	"fmt"
	"strings"
	"testing"
)

func TestGoldenSignatures(t *testing.T) {
	h := map[string]string{"accessId": "AK", "channel": "4", "platform": "4", "UTCTimestamp": "1700000000", "nonce": "123456", "version": "1.0.0"}
	tests := []struct {
		name, host, path, key, body string
		headers                     map[string]string
		msg, sig                    string
	}{
		{
			name: "document example", host: "task.renderbus.com", path: "/api/render/common/queryPlatforms",
			key:     "Gu5t9xGARNpq86cd98joQYCN3EXAMPLE",
			headers: map[string]string{"accessId": "AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE", "channel": "7", "platform": "1", "UTCTimestamp": "1535957371", "nonce": "11886", "version": "1.0.0"},
			body:    `{"zone":2}`,
			msg:     "[POST]task.renderbus.com:/api/render/common/queryPlatforms&UTCTimestamp=1535957371&accessId=AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE&channel=7&nonce=11886&platform=1&version=1.0.0&zone=2",
			sig:     "6tvuz8bgDCz5vtS3amuMWVbOqzhaeWaOhNcWMqx9zcg=",
		},
		{
			name: "list flattened with index", host: "127.0.0.1:8080", path: "/api/render/task/queryTaskInfo", key: "secretkey",
			headers: h, body: `{"taskIds":[1658434,1658435]}`,
			msg: "[POST]127.0.0.1:8080:/api/render/task/queryTaskInfo&UTCTimestamp=1700000000&accessId=AK&channel=4&nonce=123456&platform=4&taskIds0=1658434&taskIds1=1658435&version=1.0.0",
			sig: "obAazCFM758y8pfeCBGSNnIywBa1+WOrzgjfxOUDsGs=",
		},
		{
			name: "empty list contributes nothing", host: "127.0.0.1:8080", path: "/api/render/task/restartFrame", key: "secretkey",
			headers: h, body: `{"taskIds":1,"selectAll":0,"ids":[]}`,
			msg: "[POST]127.0.0.1:8080:/api/render/task/restartFrame&UTCTimestamp=1700000000&accessId=AK&channel=4&nonce=123456&platform=4&selectAll=0&taskIds=1&version=1.0.0",
			sig: "BDHzbsveBCa5kDZ1pMcEe1SstelBr9iyPFPKsi+SlRo=",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg, err := Canonical(tt.host, tt.path, tt.headers, []byte(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if msg != tt.msg {
				t.Fatalf("canonical\n got %s\nwant %s", msg, tt.msg)
			}
			if got := Sign([]byte(tt.key), msg); got != tt.sig {
				t.Fatalf("signature %s, want %s", got, tt.sig)
			}
		})
	}
}

func TestCanonicalShapes(t *testing.T) {
	tests := []struct{ body, want string }{
		{`{"taksId":2,"renderEnvs":[{"envId":1,"pluginIds":[2,3]},{"envId":3,"pluginIds":[]}]}`,
			"&renderEnvs0.envId=1&renderEnvs0.pluginIds0=2&renderEnvs0.pluginIds1=3&renderEnvs1.envId=3&taksId=2&version=1.0.0"},
		{`{"a":{},"b":[],"c":"x y","d":1.50,"e":true,"f":null}`, "&c=x y&d=1.50&e=true&f=null&version=1.0.0"},
		{`{"version":"9"}`, "&version=9"}, // a body key overrides the header
		{``, "&version=1.0.0"},
	}
	for _, tt := range tests {
		got, err := Canonical("h", "/p", map[string]string{"version": "1.0.0"}, []byte(tt.body))
		if err != nil {
			t.Fatalf("%s: %v", tt.body, err)
		}
		if got != "[POST]h:/p"+tt.want {
			t.Errorf("%s: got %s want %s", tt.body, got, "[POST]h:/p"+tt.want)
		}
	}
	for _, bad := range []string{`[1]`, `{"a":`, `{} {}`, `"x"`} {
		if _, err := Canonical("h", "/p", nil, []byte(bad)); err == nil {
			t.Errorf("%s: want an error", bad)
		}
	}
}

func FuzzCanonical(f *testing.F) {
	for _, s := range []string{`{"zone":2}`, `{"taskIds":[1,2]}`, `{"a":{"b":[{"c":1}]}}`, `{}`, ``, `{"x":"\u00e9"}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		msg, err := Canonical("host:1", "/api/x", map[string]string{"accessId": "AK"}, []byte(body))
		if err != nil {
			return
		}
		if !strings.HasPrefix(msg, "[POST]host:1:/api/x") {
			t.Fatalf("prefix lost: %q", msg)
		}
		again, err := Canonical("host:1", "/api/x", map[string]string{"accessId": "AK"}, []byte(body))
		if err != nil || again != msg {
			t.Fatalf("not deterministic: %q vs %q (%v)", msg, again, err)
		}
	})
}

func TestParseFrames(t *testing.T) {
	tests := []struct {
		in   string
		want string
		err  bool
	}{
		{"1-10[1]", "1-10[1]", false},
		{"1-100[2],150", "1-99[2],150", false},
		{"1,3-4[1]", "1-3[2],4", false},
		{"5", "5", false},
		{"1-10x3", "1-10[3]", false},
		{"", "", true},
		{"a-b", "", true},
		{"10-1", "", true},
		{"1-5[0]", "", true},
		{"0-1000000", "", true},
	}
	for _, tt := range tests {
		got, err := ParseFrames(tt.in)
		if (err != nil) != tt.err {
			t.Errorf("%q: err %v", tt.in, err)
			continue
		}
		if err == nil && FormatFrames(got) != tt.want {
			t.Errorf("%q: got %s want %s", tt.in, FormatFrames(got), tt.want)
		}
	}
	pre, err := priorityFrames("101:4", []int{1, 2, 3, 4, 5})
	if err != nil || fmt.Sprint(pre) != "[1 4 5]" {
		t.Errorf("priorityFrames: %v %v", pre, err)
	}
}
