package render

import (
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestReadAnswer covers both ways an answer arrives: with its length announced (the server's
// answers) and without (a proxy that chunks it), and a body shorter than announced, each read into
// a fresh buffer and into a reused one that held a longer answer before.
func TestReadAnswer(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		length  int64
		want    string
		wantErr bool
	}{
		{"announced", `{"code":200}`, 12, `{"code":200}`, false},
		{"empty", ``, 0, ``, false},
		{"not announced", `{"code":200}`, -1, `{"code":200}`, false},
		{"past the bound", `{"code":200}`, maxAnswerBytes + 1, `{"code":200}`, false},
		{"cut short", `{"code"`, 12, ``, true},
	}
	for _, tc := range tests {
		for _, reused := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/reused=%v", tc.name, reused), func(t *testing.T) {
				var buf []byte
				if reused {
					buf = []byte(`{"code":200,"data":{"items":[1,2,3]},"message":"an earlier answer"}`)
				}
				resp := &http.Response{ContentLength: tc.length, Body: io.NopCloser(strings.NewReader(tc.body))}
				got, err := readAnswer(resp, &buf)
				if (err != nil) != tc.wantErr {
					t.Fatalf("err %v, want error %v", err, tc.wantErr)
				}
				if !tc.wantErr && string(got) != tc.want {
					t.Fatalf("read %q, want %q", got, tc.want)
				}
			})
		}
	}
}

// TestCloneKeepsSettings fails when a setting is added to Client and not to Clone.
func TestCloneKeepsSettings(t *testing.T) {
	c := &Client{BaseURL: "http://x", AccessID: "id", AccessKey: "key", Platform: "6", Channel: "1",
		HTTP: &http.Client{}, Now: time.Now, Nonce: func() string { return "1" }}
	v := reflect.ValueOf(c).Elem()
	for i := range v.NumField() {
		if f := v.Type().Field(i); f.IsExported() && v.Field(i).IsZero() {
			t.Fatalf("the test leaves setting %s unset", f.Name)
		}
	}
	got := reflect.ValueOf(c.Clone()).Elem()
	for i := range v.NumField() {
		f := v.Type().Field(i)
		if !f.IsExported() {
			continue
		}
		var same bool
		if f.Type.Kind() == reflect.Func {
			same = v.Field(i).Pointer() == got.Field(i).Pointer()
		} else {
			same = v.Field(i).Interface() == got.Field(i).Interface()
		}
		if !same {
			t.Errorf("Clone changed %s", f.Name)
		}
	}
}
