package rpa

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"taskcenter/internal/httplimit"
)

// params are a request's business parameters, from whichever place the request carried them: a JSON
// object body, a form body, multipart text fields or the query string. The document mixes them up
// ("Query 参数" shown with JSON bodies), so every route accepts every form.
type params struct {
	json  map[string]any
	form  url.Values
	files *multipart.Form
}

// readParams reads the request's parameters and returns the signature sources a client may have
// signed them over: the raw body when the request has one, the sorted parameters otherwise (see
// docs/compat/rpa.md, "Signing"). When a non-multipart body is present the query string is ignored,
// so that every parameter the handler reads is covered by the signature.
//
// A POST, PUT or DELETE with an empty body and its parameters in the query string (the document's
// own "POST /oapi/v1/asset/list?page=1&size=10") has two sources, because the document's rule reads
// both ways: the sorted query, and the raw body it says such methods sign, which is empty. Both are
// accepted (README ruling); the one-use nonce is the signature itself, so either form is accepted once.
func readParams(w http.ResponseWriter, r *http.Request, multipartOK bool, maxUpload int64) (params, []string, error) {
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct == "multipart/form-data" {
		if !multipartOK {
			return params{}, nil, fail(CodeParamInvalid, "multipart body not accepted here")
		}
		if r.ContentLength > maxUpload+maxBodyBytes {
			return params{}, nil, fail(CodeFileTooLarge, "upload larger than %d bytes", maxUpload)
		}
		httplimit.Upload(w, r, httplimit.UploadIdle)
		r.Body = http.MaxBytesReader(w, r.Body, maxUpload+maxBodyBytes)
		if err := r.ParseMultipartForm(8 << 20); err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return params{}, nil, fail(CodeFileTooLarge, "upload larger than %d bytes", maxUpload)
			}
			return params{}, nil, fail(CodeParamInvalid, "malformed multipart body")
		}
		vals := url.Values{}
		for k, v := range r.URL.Query() {
			vals[k] = append(vals[k], v...)
		}
		for k, v := range r.MultipartForm.Value {
			vals[k] = append(vals[k], v...)
		}
		return params{form: vals, files: r.MultipartForm}, []string{SortedParams(vals)}, nil
	}
	if r.ContentLength > maxBodyBytes {
		return params{}, nil, fail(CodeParamInvalid, "body larger than %d bytes", maxBodyBytes)
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
	if err != nil {
		return params{}, nil, fail(CodeParamInvalid, "read body: %v", err)
	}
	if len(body) > maxBodyBytes {
		return params{}, nil, fail(CodeParamInvalid, "body larger than %d bytes", maxBodyBytes)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		q := r.URL.Query()
		sources := []string{SortedParams(q)}
		if r.Method != http.MethodGet && r.Method != http.MethodHead && sources[0] != string(body) {
			sources = append(sources, string(body))
		}
		return params{form: q}, sources, nil
	}
	trimmed := bytes.TrimSpace(body)
	if ct == "application/x-www-form-urlencoded" || (ct != "application/json" && trimmed[0] != '{') {
		vals, err := url.ParseQuery(string(body))
		if err != nil {
			return params{}, nil, fail(CodeParamInvalid, "malformed form body")
		}
		return params{form: vals}, []string{string(body)}, nil
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil || m == nil {
		return params{}, nil, fail(CodeParamInvalid, "malformed JSON: the body must be one JSON object")
	}
	if dec.More() {
		return params{}, nil, fail(CodeParamInvalid, "malformed JSON: trailing data")
	}
	return params{json: m}, []string{string(body)}, nil
}

func (p params) has(name string) bool {
	if p.json != nil {
		v, ok := p.json[name]
		return ok && v != nil
	}
	_, ok := p.form[name]
	return ok
}

// raw returns the value as the request carried it.
func (p params) raw(name string) (any, bool) {
	if p.json != nil {
		v, ok := p.json[name]
		return v, ok && v != nil
	}
	v, ok := p.form[name]
	if !ok || len(v) == 0 {
		return nil, false
	}
	return v[0], true
}

// str reads a text parameter. JSON numbers and booleans are accepted as their text (the document
// shows "roleId":"123456" and ids both quoted and not); objects and arrays are a type error.
func (p params) str(name string) (string, bool, error) {
	v, ok := p.raw(name)
	if !ok {
		return "", false, nil
	}
	switch t := v.(type) {
	case string:
		return strings.TrimSpace(t), true, nil
	case json.Number:
		return t.String(), true, nil
	case bool:
		return strconv.FormatBool(t), true, nil
	}
	return "", true, fail(CodeParamInvalid, "%s must be text", name)
}

// text reads a text parameter, refusing it when required and empty, or longer than max characters
// (max 0: no limit beyond the body's).
func (p params) text(name string, required bool, max int) (string, error) {
	s, _, err := p.str(name)
	if err != nil {
		return "", err
	}
	if required && s == "" {
		return "", fail(CodeParamMissing, "%s is required", name)
	}
	if max > 0 && utf8.RuneCountInString(s) > max {
		return "", fail(CodeParamTooLong, "%s is longer than %d characters", name, max)
	}
	if !validText(s) {
		return "", fail(CodeParamInvalid, "%s is not valid text", name)
	}
	return s, nil
}

// validText reports whether s is text the store keeps alike on both drivers: valid UTF-8 without
// NUL bytes.
func validText(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsRune(s, 0)
}

// firstText returns the first of several alias names that is present.
func (p params) firstText(required bool, max int, names ...string) (string, error) {
	for _, n := range names {
		if p.has(n) {
			s, err := p.text(n, false, max)
			if err != nil || s != "" {
				return s, err
			}
		}
	}
	if required {
		return "", fail(CodeParamMissing, "%s is required", names[0])
	}
	return "", nil
}

// integer reads a whole number within [min, max]; def when absent.
func (p params) integer(name string, required bool, min, max, def int64) (int64, error) {
	v, ok := p.raw(name)
	if !ok {
		if required {
			return 0, fail(CodeParamMissing, "%s is required", name)
		}
		return def, nil
	}
	var s string
	switch t := v.(type) {
	case string:
		s = strings.TrimSpace(t)
		if s == "" {
			if required {
				return 0, fail(CodeParamMissing, "%s is required", name)
			}
			return def, nil
		}
	case json.Number:
		s = t.String()
	default:
		return 0, fail(CodeParamInvalid, "%s must be a number", name)
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fail(CodeParamInvalid, "%s must be a whole number", name)
	}
	if n < min || n > max {
		return 0, fail(CodeParamInvalid, "%s must be between %d and %d", name, min, max)
	}
	return n, nil
}

// ids reads one id or several: a number, a numeric string, a comma-separated list or a JSON array.
func (p params) ids(name string, required bool) ([]int64, error) {
	v, ok := p.raw(name)
	if !ok {
		if required {
			return nil, fail(CodeParamMissing, "%s is required", name)
		}
		return nil, nil
	}
	var parts []string
	switch t := v.(type) {
	case string:
		parts = strings.Split(t, ",")
	case json.Number:
		parts = []string{t.String()}
	case []any:
		for _, e := range t {
			switch x := e.(type) {
			case json.Number:
				parts = append(parts, x.String())
			case string:
				parts = append(parts, x)
			default:
				return nil, fail(CodeParamInvalid, "%s must list ids", name)
			}
		}
	default:
		return nil, fail(CodeParamInvalid, "%s must be an id or a list of ids", name)
	}
	var out []int64
	for _, s := range parts {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n <= 0 {
			return nil, fail(CodeParamInvalid, "%s: %q is not an id", name, s)
		}
		out = append(out, n)
	}
	if required && len(out) == 0 {
		return nil, fail(CodeParamMissing, "%s is required", name)
	}
	return out, nil
}

// yesNo reads a yes/no switch (also true/false, 1/0).
func (p params) yesNo(name string, def bool) (bool, error) {
	s, ok, err := p.str(name)
	if err != nil || !ok || s == "" {
		return def, err
	}
	switch strings.ToLower(s) {
	case "yes", "true", "1", "y":
		return true, nil
	case "no", "false", "0", "n":
		return false, nil
	}
	return false, fail(CodeParamInvalid, "%s must be yes or no", name)
}

// page reads page and size: page from 1, size 1..1000; the document marks them required but every
// client sends them, so absent ones default to 1 and 10.
func (p params) page() (offset, limit int, err error) {
	pg, err := p.integer("page", false, 1, 1<<31-1, 1)
	if err != nil {
		return 0, 0, err
	}
	size, err := p.integer("size", false, 1, 1000, 10)
	if err != nil {
		return 0, 0, err
	}
	return int((pg - 1) * size), int(size), nil
}

// paginate cuts one page out of a filtered slice.
func paginate[T any](items []T, offset, limit int) Page[T] {
	out := Page[T]{Total: len(items), Items: []T{}}
	if offset < len(items) {
		out.Items = items[offset:min(len(items), offset+limit)]
	}
	return out
}

func mustID(s string) (int64, error) {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%q is not an id", s)
	}
	return n, nil
}
