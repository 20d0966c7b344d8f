package rpa

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"taskcenter/internal/facade"
	"taskcenter/internal/httplimit"
)

// params are a request's business parameters, from whichever place the request carried them: a JSON
// object body, a form body, multipart text fields or the query string. The document mixes them up
// ("Query 参数" shown with JSON bodies), so every route accepts every form.
type params = facade.Params

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
		return params{Form: vals, Files: r.MultipartForm, Codes: codes}, []string{SortedParams(vals)}, nil
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
		return params{Form: q, Codes: codes}, sources, nil
	}
	trimmed := bytes.TrimSpace(body)
	if ct == "application/x-www-form-urlencoded" || (ct != "application/json" && trimmed[0] != '{') {
		vals, err := url.ParseQuery(string(body))
		if err != nil {
			return params{}, nil, fail(CodeParamInvalid, "malformed form body")
		}
		return params{Form: vals, Codes: codes}, []string{string(body)}, nil
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
	return params{JSON: m, Codes: codes}, []string{string(body)}, nil
}

func mustID(s string) (int64, error) {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%q is not an id", s)
	}
	return n, nil
}
