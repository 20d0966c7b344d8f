package projects

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func testValues(t *testing.T, config string) renderValues {
	t.Helper()
	var c any
	dec := json.NewDecoder(strings.NewReader(config))
	dec.UseNumber()
	if err := dec.Decode(&c); err != nil {
		t.Fatal(err)
	}
	return renderValues{
		Project:  projectValues{ID: "game1-kgm", Base: "game1", From: "kgm-template", Name: "Game One", AppID: "1003", TimeZone: "Etc/GMT+8", Admins: []string{"a@x.com", "b@x.com"}},
		Template: templateValues{ID: "game1-kgm.site", Name: "site"},
		Config:   c,
		Users:    map[string][]string{"b@x.com": {"admin"}, "a@x.com": {"admin", "运营"}},
	}
}

// TestFunctions renders each function of the fixed set.
func TestFunctions(t *testing.T) {
	config := `{"n": 41, "big": 12345678901234567890, "s": " Hi there ", "list": ["b", "a"], "m": {"z": 1, "a": 2}, "empty": ""}`
	tests := []struct{ src, want string }{
		{`{{upper .Project.Name}}`, "GAME ONE"},
		{`{{.Config.s | trim | lower}}`, "hi there"},
		{`{{title "hello world"}}`, "Hello World"},
		{`{{replace "o" "0" .Project.Name}}`, "Game One"},
		{`{{replace "e" "3" .Project.Name}}`, "Gam3 On3"},
		{`{{add .Config.n 1}} {{sub .Config.n 1}} {{mul .Config.n 2}} {{div .Config.n 2}} {{mod .Config.n 5}}`, "42 40 82 20.5 1"},
		{`{{.Config.big}}`, "12345678901234567890"},
		{`{{join "," .Config.list}} {{join "," (sortAlpha .Config.list)}}`, "b,a a,b"},
		{`{{range keys .Config.m}}{{.}}{{end}}`, "az"},
		{`{{toJSON .Config.m}}`, `{"a":2,"z":1}`},
		{`{{.Config.empty | default "none"}} {{.Config.s | default "none"}}`, "none  Hi there "},
		{`{{quote .Project.AppID}} {{squote .Project.AppID}}`, `"1003" '1003'`},
		{`{{sha256sum "abc"}}`, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
		{`{{b64enc "hi"}} {{b64dec "aGk="}}`, "aGk= hi"},
		{`{{range seq 3}}{{.}}{{end}}`, "012"},
		{`{{indent 2 "a\nb"}}`, "  a\n  b"},
		{`{{if has "a@x.com" .Project.Admins}}yes{{end}}`, "yes"},
		{`{{first .Config.list}}{{last .Config.list}}`, "ba"},
		{`{{$d := dict "k" "v"}}{{$d.k}}`, "v"},
		{`{{ternary "on" "off" true}}`, "on"},
		{`{{range $u, $r := .Users}}{{$u}}:{{join "+" $r}};{{end}}`, "a@x.com:admin+运营;b@x.com:admin;"},
	}
	for _, tc := range tests {
		t.Run(tc.src, func(t *testing.T) {
			out, err := renderFiles(map[string]string{"f.txt": tc.src}, testValues(t, config))
			if err != nil {
				t.Fatal(err)
			}
			if got := string(out["f.txt"]); got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// TestRenderDeterministic: the same inputs render the same bytes, every time.
func TestRenderDeterministic(t *testing.T) {
	files := map[string]string{
		"a.txt":      `{{range $k, $v := .Config}}{{$k}}={{$v}};{{end}}{{toJSON .Users}}`,
		"b.html":     `{{template "_p.html" .}}<p>{{.Config}}</p>`,
		"_p.html":    `<b>{{.Project.Name}}</b>`,
		"c/d/e.json": `{{toPrettyJSON .}}`,
	}
	v := testValues(t, `{"z": 1, "a": [1, 2, {"k": "<v>"}], "m": {"y": true, "b": null}}`)
	first, err := renderFiles(files, v)
	if err != nil {
		t.Fatal(err)
	}
	for range 20 {
		again, err := renderFiles(files, testValues(t, `{"z": 1, "a": [1, 2, {"k": "<v>"}], "m": {"y": true, "b": null}}`))
		if err != nil {
			t.Fatal(err)
		}
		for p := range first {
			if !bytes.Equal(first[p], again[p]) {
				t.Fatalf("%s differs between renders:\n%s\n%s", p, first[p], again[p])
			}
		}
	}
	if _, ok := first["_p.html"]; ok || len(first) != 3 {
		t.Fatalf("outputs %v", keysOf(first))
	}
	if !strings.Contains(string(first["b.html"]), "&lt;v&gt;") {
		t.Fatalf("HTML output not escaped: %s", first["b.html"])
	}
}

func keysOf(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestRenderErrors: a template that does not parse or fails to execute names its file and line.
func TestRenderErrors(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		file  string
		line  int
	}{
		{"parse error", map[string]string{"ok.txt": "fine", "bad.txt": "one\ntwo {{if}}\n"}, "bad.txt", 2},
		{"unknown function", map[string]string{"x.html": "a\nb\n{{nosuch 1}}"}, "x.html", 3},
		{"missing key", map[string]string{"x.txt": "{{.Config.k}}\n{{.Config.nokey}}"}, "x.txt", 2},
		{"error in a partial", map[string]string{"_p.txt": "\n\n{{end}}", "x.txt": "{{template \"_p.txt\"}}"}, "_p.txt", 3},
		{"function error", map[string]string{"x.txt": "{{div 1 0}}"}, "x.txt", 1},
		{"no such template", map[string]string{"x.txt": "\n{{template \"nope\"}}"}, "x.txt", 2},
		{"endless output", map[string]string{"x.txt": "{{range seq 100000}}{{repeat 1000 \"x\"}}{{end}}"}, "x.txt", 0}, // a write error names no line
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := renderFiles(tc.files, testValues(t, `{"k": 1}`))
			re, ok := err.(*renderError)
			if !ok || out != nil {
				t.Fatalf("err %v (%T), outputs %d", err, err, len(out))
			}
			if re.File != tc.file || re.Line != tc.line || !strings.HasPrefix(re.Msg, tc.file+":") {
				t.Fatalf("error %+v, want %s:%d", re, tc.file, tc.line)
			}
		})
	}
}
