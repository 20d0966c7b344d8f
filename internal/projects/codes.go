package projects

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"

	"taskcenter/internal/facade"
	"taskcenter/internal/store"
)

// The document's err codes. Unlike the other dialects, an answer's HTTP status is the code's too
// (the tables pair them): 400 with 1001 and 1002, 401, 404 and 500 with themselves.
const (
	codeOK           = 0
	codeUnauthorized = 401
	codeNotFound     = 404
	codeInternal     = 500
	codeMissing      = 1001
	codeBadParam     = 1002
)

// codes is the document's table for the kit: parameter checks answer 1001 and 1002; a project
// that exists already, or one that is not found, is a 500 whose desc says so (the tables of the
// calls that read or change a project list no other code); trigger alone answers 404 (route.notFound).
var codes = &facade.Codes{
	OK: codeOK, Internal: codeInternal,
	Invalid: codeBadParam, NotFound: codeNotFound, Exists: codeInternal,
	Missing: codeMissing, BadParam: codeBadParam, TooLong: codeBadParam,
	Text: map[int]string{
		codeOK:           "",
		codeUnauthorized: "service token missing, wrong, expired or without permission",
		codeNotFound:     "template not found, or its project has no template center",
		codeInternal:     "internal error",
		codeMissing:      "required parameter missing",
		codeBadParam:     "malformed parameter",
	},
}

// httpStatus pairs a code with its HTTP status as the tables do.
func httpStatus(code int) int {
	switch code {
	case codeOK:
		return http.StatusOK
	case codeMissing, codeBadParam:
		return http.StatusBadRequest
	case codeUnauthorized:
		return http.StatusUnauthorized
	case codeNotFound:
		return http.StatusNotFound
	}
	return http.StatusInternalServerError
}

// answer is the document's envelope. Data is left out when nil (addExtendedProjectUsers and
// trigger answer without it); an empty string is kept (updateExtendedProject's "data": "").
type answer struct {
	Err  int    `json:"err"`
	Data any    `json:"data,omitempty"`
	Desc string `json:"desc"`
}

// write answers data or err for a route: parameter codes become 500 on calls whose table lists
// no 1001/1002, and not-found becomes 500 (with the reason in desc) where the table has no 404.
func write(w http.ResponseWriter, r *http.Request, log *slog.Logger, rt route, data any, desc string, err error) {
	a := answer{Err: codeOK, Data: data, Desc: desc}
	if err != nil {
		fe := codes.Of(err)
		code, msg := fe.Code, fe.Msg
		switch {
		case code == codeInternal && fe.Err != nil && errors.Is(err, store.ErrConflict):
			msg = err.Error()
		case code == codeInternal && fe.Err != nil:
			log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		case code == codeNotFound && !rt.notFound:
			code = codeInternal
			msg = notFoundDesc(err, fe)
		case (code == codeMissing || code == codeBadParam) && !rt.paramCodes:
			code = codeInternal
		}
		if msg == "" {
			msg = codes.Text[code]
		}
		a = answer{Err: code, Desc: msg}
	}
	b, encErr := json.Marshal(a)
	if encErr != nil {
		log.Error("encode answer", "path", r.URL.Path, "err", encErr)
		b, _ = json.Marshal(answer{Err: codeInternal, Desc: codes.Text[codeInternal]})
		a.Err = codeInternal
	}
	b = append(b, '\n')
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(httpStatus(a.Err))
	_, _ = w.Write(b)
}

// notFoundDesc is the desc of a not-found answered as 500: the facade's own message when it made
// one (codes.New), else the store's words.
func notFoundDesc(err error, fe *facade.Error) string {
	var own *facade.Error
	if errors.As(err, &own) && own.Msg != "" && own.Msg != codes.Text[codeNotFound] {
		return own.Msg
	}
	if fe.Err != nil {
		return fe.Err.Error()
	}
	return "not found"
}

// notFound is a not-found error with a message of its own.
func notFound(format string, args ...any) *facade.Error {
	return codes.New(codeNotFound, format, args...)
}

// failure is a 500 whose reason is shown in desc, as the tables ask ("desc 中会给出具体的原因").
func failure(format string, args ...any) *facade.Error {
	return codes.New(codeInternal, format, args...)
}
