package render

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
)

// SignedHeaders are the request headers that take part in the signature, in the document's spelling.
// Header names arrive in any case; http.Header.Get canonicalises them.
var signedHeaders = [...]string{"accessId", "channel", "platform", "UTCTimestamp", "nonce", "version"}

// Canonical builds the string to sign: the signed headers merged with the flattened body (a body key
// overrides a header of the same name), sorted by byte order, joined k=v with &, prefixed with
// "[POST]" + host + ":" + path + "&". body may be empty or an empty object.
func Canonical(host, path string, headers map[string]string, body []byte) (string, error) {
	params := make(map[string]string, len(headers)+8)
	for k, v := range headers {
		params[k] = v
	}
	if err := flattenBody(body, params); err != nil {
		return "", err
	}
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	sort.Strings(keys) // byte order, as Java's String.compareTo for ASCII names
	var b strings.Builder
	b.WriteString("[POST]")
	b.WriteString(host)
	b.WriteByte(':')
	b.WriteString(path)
	for _, k := range keys {
		b.WriteByte('&')
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(params[k])
	}
	return b.String(), nil
}

// errBadJSON marks a body that is not a JSON object; callers answer 600.
var errBadJSON = errors.New("request body is not a JSON object")

// flattenBody adds the body's leaves to params: objects as parent.child, list elements as name+index
// with no separator, empty lists and objects nothing, numbers exactly as sent.
func flattenBody(body []byte, params map[string]string) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	if err := checkShape(body); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return fmt.Errorf("%w: %v", errBadJSON, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: trailing data after the object", errBadJSON)
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return errBadJSON
	}
	for k, val := range obj {
		flatten(k, val, params)
	}
	return nil
}

// Bounds of a body's shape. Canonicalising allocates a map entry, a key and a value per leaf (some
// 150 bytes for a one-digit number), so a body's leaves, not its bytes, decide what it costs: 8 MiB of
// "1," is four million leaves. The largest documented lists hold maxListLen entries.
const (
	maxBodyValues = 4 * maxListLen
	maxBodyDepth  = 32
)

// checkShape bounds the values and the nesting of a JSON body in one pass that allocates nothing,
// before anything is decoded. Every value but the first of a container follows a comma, so commas
// plus containers bound the values from above. Malformed JSON is left to the decoder.
func checkShape(body []byte) error {
	values, depth, inString, escaped := 0, 0, false, false
	for _, c := range body {
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
			continue
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			depth++
			values++
			if depth > maxBodyDepth {
				return fmt.Errorf("%w: nested more than %d levels deep", errBadJSON, maxBodyDepth)
			}
		case c == '}' || c == ']':
			depth--
		case c == ',':
			values++
		}
		if values > maxBodyValues {
			return fmt.Errorf("%w: more than %d values", errBadJSON, maxBodyValues)
		}
	}
	return nil
}

func flatten(prefix string, v any, out map[string]string) {
	switch t := v.(type) {
	case map[string]any:
		for k, val := range t {
			flatten(prefix+"."+k, val, out)
		}
	case []any:
		for i, val := range t {
			flatten(prefix+strconv.Itoa(i), val, out)
		}
	default:
		out[prefix] = scalarText(t)
	}
}

// scalarText is a leaf's text in the string to sign: strings as their content (unquoted, like the
// header values), numbers exactly as sent, true/false, and null as "null".
func scalarText(v any) string {
	switch t := v.(type) {
	case string:
		return t
	case json.Number:
		return t.String()
	case bool:
		return strconv.FormatBool(t)
	case nil:
		return "null"
	}
	return fmt.Sprint(v)
}

// Sign returns base64(HMAC-SHA256(key, msg)).
func Sign(key []byte, msg string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msg))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// headerValues picks the signed headers out of h.
func headerValues(h http.Header) map[string]string {
	out := make(map[string]string, len(signedHeaders))
	for _, name := range signedHeaders {
		if v := h.Get(name); v != "" {
			out[name] = v
		}
	}
	return out
}
