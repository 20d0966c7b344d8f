package render

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	gojson "github.com/goccy/go-json"

	"taskcenter/internal/auth"
	"taskcenter/internal/engine"
)

// Codes of the document's error table.
const (
	CodeSuccess          = 200
	CodeFail             = 100
	CodeForbidden        = 403
	CodeNotFound         = 404
	CodeInternal         = 500
	CodeInvalid          = 600
	CodeMissing          = 601
	CodeIllegalProtocol  = 603
	CodeNoPermission     = 605
	CodeSignatureExpired = 610
	CodeSignatureInvalid = 611
)

// codeMessages are the document's message texts per code.
var codeMessages = map[int]string{
	CodeSuccess:          "success",
	CodeFail:             "fail",
	CodeForbidden:        "forbidden",
	CodeNotFound:         "resource_not_found",
	CodeInternal:         "internal_error",
	CodeInvalid:          "parameter_invalid",
	CodeMissing:          "parameter_cant_be_empty",
	CodeIllegalProtocol:  "illegal_protocol",
	CodeNoPermission:     "vinsufficient_permissions",
	CodeSignatureExpired: "signature_expired",
	CodeSignatureInvalid: "signature_invalid",
}

// Error is an answer with a code other than 200. Its message tells the caller what to fix.
type Error struct {
	Code    int
	Message string
}

func (e *Error) Error() string { return fmt.Sprintf("%d %s", e.Code, e.Message) }

func apiErr(code int, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

func invalid(format string, args ...any) *Error { return apiErr(CodeInvalid, format, args...) }
func missing(name string) *Error                { return apiErr(CodeMissing, "%s is required", name) }
func notFound(what string, id any) *Error       { return apiErr(CodeNotFound, "%s %v not found", what, id) }

// Envelope is every answer's body.
type Envelope struct {
	Version    string          `json:"version"`
	Result     bool            `json:"result"`
	Message    string          `json:"message"`
	Code       int             `json:"code"`
	Data       json.RawMessage `json:"data"`
	ServerTime int64           `json:"serverTime"`
	RequestID  string          `json:"requestId"`
}

// write answers HTTP 200 with the envelope: clients read the code, never the HTTP status.
func (a *API) write(w http.ResponseWriter, r *http.Request, data any, err error) {
	env := Envelope{Version: "1.0.0", Code: CodeSuccess, Message: "success", Result: true,
		ServerTime: time.Now().UnixMilli(), RequestID: requestID(r)}
	if err != nil {
		var e *Error
		switch {
		case errors.As(err, &e):
		case errors.Is(err, engine.ErrInvalid): // the engine's or the store's (text it cannot keep)
			e = &Error{Code: CodeInvalid, Message: err.Error()}
		default:
			a.log.Error("render api request failed", "path", r.URL.Path, "err", err)
			e = &Error{Code: CodeInternal, Message: codeMessages[CodeInternal]}
		}
		env.Result, env.Code, env.Message = false, e.Code, e.Message
		if env.Message == "" {
			env.Message = codeMessages[e.Code]
		}
		data = nil
	}
	// One encoding pass over the answer: data is encoded in place rather than as a RawMessage, which
	// would be scanned a second time. go-json writes what encoding/json would (sorted map keys, HTML
	// escaped) at about three times its speed, and a task list's page is some 25 KB.
	out := struct {
		Version    string `json:"version"`
		Result     bool   `json:"result"`
		Message    string `json:"message"`
		Code       int    `json:"code"`
		Data       any    `json:"data"`
		ServerTime int64  `json:"serverTime"`
		RequestID  string `json:"requestId"`
	}{env.Version, env.Result, env.Message, env.Code, data, env.ServerTime, env.RequestID}
	buf, _ := a.answers.Get().(*bytes.Buffer)
	if buf == nil {
		buf = new(bytes.Buffer)
	}
	defer a.putAnswer(buf)
	if mErr := gojson.NewEncoder(buf).Encode(out); mErr != nil {
		a.log.Error("encode render api answer", "path", r.URL.Path, "err", mErr)
		out.Result, out.Code, out.Message, out.Data = false, CodeInternal, codeMessages[CodeInternal], nil
		buf.Reset()
		_ = gojson.NewEncoder(buf).Encode(out) // plain fields: cannot fail
	}
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	// A length, rather than chunks, also lets a client read the answer into one buffer.
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(buf.Bytes()) // the client hung up: nothing to do
}

// maxPooledAnswer bounds the buffers kept for reuse, so that one huge answer is not held forever.
const maxPooledAnswer = 1 << 20

func (a *API) putAnswer(buf *bytes.Buffer) {
	if buf.Cap() > maxPooledAnswer {
		return
	}
	buf.Reset()
	a.answers.Put(buf)
}

func requestID(r *http.Request) string {
	if id := r.Header.Get("X-Request-Id"); id != "" && len(id) <= 64 {
		return id
	}
	return auth.RandomHex(8)
}
