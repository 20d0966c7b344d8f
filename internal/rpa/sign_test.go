package rpa

import (
	"net/url"
	"strings"
	"testing"
)

// The document's example, with the value the README recomputed (the printed base64 has OCR slips).
func TestSignGoldenVector(t *testing.T) {
	const (
		token   = "d0f462f8-73d3-4cec-8d7d-11367c264fa6"
		ts      = "15748219023"
		source  = "robotNo=2d3d833bd2e711e997ae6c0b84d60408&top=30&token=d0f462f8-73d3-4cec-8d7d-11367c264fa6&timestamp=15748219023"
		encoded = "robotNo%3D2d3d833bd2e711e997ae6c0b84d60408%26top%3D30%26token%3Dd0f462f8-73d3-4cec-8d7d-11367c264fa6%26timestamp%3D15748219023"
		sig     = "YzYzMDE3ZWU3OWJkNmI4OTQ3YzM1M2IyZTdmN2VjOWE0NjZlNGFlNzBiYzkwNmFhN2JjNDJlY2E0ZWFjYjEzMw=="
	)
	params := SortedParams(url.Values{"top": {"30"}, "robotNo": {"2d3d833bd2e711e997ae6c0b84d60408"}})
	if got := SignatureSource(params, token, ts); got != source {
		t.Fatalf("source:\n got %s\nwant %s", got, source)
	}
	if got := JavaURLEncode(source); got != encoded {
		t.Fatalf("encoded:\n got %s\nwant %s", got, encoded)
	}
	if got := SignRequest(token, params, ts); got != sig {
		t.Fatalf("signature:\n got %s\nwant %s", got, sig)
	}
	if !signatureEqual(sig[:40]+"\r\n"+sig[40:], sig) {
		t.Fatal("line breaks in a signature must be ignored")
	}
}

func TestJavaURLEncode(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"a b", "a%20b"},
		{"a+b", "a%2Bb"},
		{"*~", "%2A%7E"},
		{"-_.", "-_."},
		{`{"a":"a","b":1}`, "%7B%22a%22%3A%22a%22%2C%22b%22%3A1%7D"},
		{"机器人", "%E6%9C%BA%E5%99%A8%E4%BA%BA"},
		{"", ""},
	} {
		if got := JavaURLEncode(tc.in); got != tc.want {
			t.Errorf("JavaURLEncode(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestSortedParams(t *testing.T) {
	for _, tc := range []struct {
		in   url.Values
		want string
	}{
		{url.Values{"c": {"1"}, "a": {"a"}, "b": {"b"}}, "a=a&b=b&c=1"},
		{url.Values{"k": {"2", "1"}}, "k=2&k=1"},
		{url.Values{"B": {"x"}, "a": {"y"}}, "B=x&a=y"},
		{url.Values{}, ""},
	} {
		if got := SortedParams(tc.in); got != tc.want {
			t.Errorf("SortedParams(%v) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// FuzzJavaURLEncode checks the canonicaliser: only the unreserved set stays literal, and percent-
// decoding gives back the exact input.
func FuzzJavaURLEncode(f *testing.F) {
	for _, s := range []string{"", "a=b&c=d", "{\"x\":[1,2]}", "~*+ %", "机器人\x00\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		enc := JavaURLEncode(s)
		for i := 0; i < len(enc); i++ {
			c := enc[i]
			ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-_.%", c) >= 0
			if !ok {
				t.Fatalf("encoded %q holds %q", enc, c)
			}
		}
		dec, err := url.PathUnescape(enc)
		if err != nil || dec != s {
			t.Fatalf("decode(%q) = %q, %v; want %q", enc, dec, err, s)
		}
		if a, b := Sign("k", s), Sign("k", s); a != b {
			t.Fatal("signing is not deterministic")
		}
	})
}
