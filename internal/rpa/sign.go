package rpa

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/url"
	"sort"
	"strings"
)

// SortedParams renders parameters the way the document signs GET requests: names in ascending byte
// order, "name=value" joined with "&". Values are the decoded values; a name given several times
// contributes one pair per value, in the order sent. Nothing is escaped here: the whole source string
// is escaped once, later, by JavaURLEncode.
func SortedParams(v url.Values) string {
	keys := make([]string, 0, len(v))
	for k := range v {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		for _, val := range v[k] {
			if b.Len() > 0 {
				b.WriteByte('&')
			}
			b.WriteString(k)
			b.WriteByte('=')
			b.WriteString(val)
		}
	}
	return b.String()
}

// SignatureSource appends the token and the timestamp to the request's parameter source (sorted
// query parameters, or the raw body), as section 1.2 of the document prescribes.
func SignatureSource(params, token, timestamp string) string {
	return params + "&token=" + token + "&timestamp=" + timestamp
}

// JavaURLEncode escapes s as Java's URLEncoder.encode(s, "UTF-8") followed by the document's
// replacements of "+" by "%20", "*" by "%2A" and "~" by "%7E": only ASCII letters, digits, "-", "_"
// and "." stay literal; every other byte of the UTF-8 text becomes %XX with upper-case hex.
func JavaURLEncode(s string) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(s) * 3)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&0xf])
	}
	return b.String()
}

// Sign computes the signature header value for a source built by SignatureSource: the source is
// URL-encoded, HMAC-SHA256 keyed with the access token, rendered as lower-case hex, and that hex text
// is base64-encoded (the document's "Base64 加密" applies to the hex string, not to the digest bytes,
// as its own example shows).
func Sign(token, source string) string {
	m := hmac.New(sha256.New, []byte(token))
	m.Write([]byte(JavaURLEncode(source)))
	return base64.StdEncoding.EncodeToString([]byte(hex.EncodeToString(m.Sum(nil))))
}

// SignRequest signs a request whose parameter source is params (see SortedParams or the raw body).
func SignRequest(token, params, timestamp string) string {
	return Sign(token, SignatureSource(params, token, timestamp))
}

// normalizeSignature drops the line breaks some Base64 encoders insert (the document strips them
// too) before the signature is compared.
func normalizeSignature(sig string) string {
	return strings.NewReplacer("\r", "", "\n", "").Replace(sig)
}

// signatureEqual compares two signatures in constant time, ignoring line breaks in got.
func signatureEqual(got, want string) bool {
	return hmac.Equal([]byte(normalizeSignature(got)), []byte(want))
}
