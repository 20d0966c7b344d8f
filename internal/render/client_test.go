package render

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestReadAnswer covers both ways an answer arrives: with its length announced (the server's
// answers) and without (a proxy that chunks it), and a body shorter than announced.
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
		t.Run(tc.name, func(t *testing.T) {
			resp := &http.Response{ContentLength: tc.length, Body: io.NopCloser(strings.NewReader(tc.body))}
			got, err := readAnswer(resp)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err %v, want error %v", err, tc.wantErr)
			}
			if !tc.wantErr && string(got) != tc.want {
				t.Fatalf("read %q, want %q", got, tc.want)
			}
		})
	}
}
