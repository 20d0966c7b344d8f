package facade

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"reflect"
	"strconv"
	"sync"
	"time"

	"taskcenter/internal/auth"
)

// Part is what an envelope field carries.
type Part int

// Parts of an envelope.
const (
	PartCode       Part = iota + 1 // the answer code (int)
	PartMessage                    // the code's text or the error's message (string)
	PartOK                         // true on success (bool)
	PartData                       // the handler's result; null (or absent, OmitEmpty) on failure
	PartConst                      // Field.Const, always (string)
	PartServerTime                 // the server's clock in Unix milliseconds (int64)
	PartRequestID                  // the request's X-Request-Id, or a fresh id (string)
)

// Field is one field of an envelope: its name on the wire and what it carries.
type Field struct {
	Name      string
	Part      Part
	Const     string // PartConst's value
	OmitEmpty bool   // leave the field out when empty (PartData: on failure, or for a nil result)
}

// Layout is a dialect's envelope: its fields in the order they are written, and how.
type Layout struct {
	Fields      []Field
	ContentType string
	Codes       *Codes
	// Encode writes v as JSON followed by a newline; encoding/json's Encoder when nil.
	Encode func(w io.Writer, v any) error
	// Now is the clock of PartServerTime; time.Now when nil.
	Now func() time.Time
	Log *slog.Logger
}

// Envelope writes a dialect's answers: always HTTP 200, the dialect's code inside, with a
// Content-Length. The envelope is a struct type built once from the Layout, so one encoding pass
// writes it with its data, exactly as a hand-written struct with those json tags would be written.
type Envelope struct {
	l     Layout
	typ   reflect.Type
	bufs  sync.Pool // *bytes.Buffer between answers
	codes *Codes
}

// NewEnvelope builds the writer of a layout. It panics on a layout without fields or codes: that is a
// programming error, found by the dialect's first test.
func NewEnvelope(l Layout) *Envelope {
	if len(l.Fields) == 0 || l.Codes == nil {
		panic("facade: a Layout needs fields and codes")
	}
	if l.Encode == nil {
		l.Encode = func(w io.Writer, v any) error { return json.NewEncoder(w).Encode(v) }
	}
	if l.Now == nil {
		l.Now = time.Now
	}
	if l.Log == nil {
		l.Log = slog.Default()
	}
	fields := make([]reflect.StructField, len(l.Fields))
	for i, f := range l.Fields {
		var t reflect.Type
		switch f.Part {
		case PartCode:
			t = reflect.TypeFor[int]()
		case PartMessage, PartConst, PartRequestID:
			t = reflect.TypeFor[string]()
		case PartOK:
			t = reflect.TypeFor[bool]()
		case PartData:
			t = reflect.TypeFor[any]()
		case PartServerTime:
			t = reflect.TypeFor[int64]()
		default:
			panic(fmt.Sprintf("facade: field %q has no part", f.Name))
		}
		tag := f.Name
		if f.OmitEmpty {
			tag += ",omitempty"
		}
		fields[i] = reflect.StructField{Name: "F" + strconv.Itoa(i), Type: t, Tag: reflect.StructTag(`json:"` + tag + `"`)}
	}
	return &Envelope{l: l, typ: reflect.StructOf(fields), codes: l.Codes}
}

// maxPooledAnswer bounds the buffers kept for reuse, so that one huge answer is not held forever.
const maxPooledAnswer = 1 << 20

// Write answers data, or err when it is not nil (mapped by Codes.Of; an internal error is logged
// with its cause, another error's cause at debug level).
func (e *Envelope) Write(w http.ResponseWriter, r *http.Request, data any, err error) {
	code, msg, ok := e.codes.OK, e.codes.Text[e.codes.OK], true
	if err != nil {
		fe := e.codes.Of(err)
		if fe.Code == e.codes.Internal {
			e.l.Log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		} else if fe.Err != nil {
			e.l.Log.Debug("request refused", "method", r.Method, "path", r.URL.Path, "code", fe.Code, "err", fe.Err)
		}
		code, msg, ok, data = fe.Code, fe.Msg, false, nil
		if msg == "" {
			msg = e.codes.Text[code]
		}
	}
	buf, _ := e.bufs.Get().(*bytes.Buffer)
	if buf == nil {
		buf = new(bytes.Buffer)
	}
	defer e.put(buf)
	if encErr := e.l.Encode(buf, e.fill(r, code, msg, ok, data)); encErr != nil {
		e.l.Log.Error("encode answer", "path", r.URL.Path, "err", encErr)
		buf.Reset()
		_ = e.l.Encode(buf, e.fill(r, e.codes.Internal, e.codes.Text[e.codes.Internal], false, nil)) // plain fields: cannot fail
	}
	w.Header().Set("Content-Type", e.l.ContentType)
	// A length, rather than chunks, also lets a client read the answer into one buffer.
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(buf.Bytes()) // the client hung up: nothing to do
}

// fill makes one envelope value: a pointer to the layout's struct.
func (e *Envelope) fill(r *http.Request, code int, msg string, ok bool, data any) any {
	p := reflect.New(e.typ)
	v := p.Elem()
	for i, f := range e.l.Fields {
		fv := v.Field(i)
		switch f.Part {
		case PartCode:
			fv.SetInt(int64(code))
		case PartMessage:
			fv.SetString(msg)
		case PartOK:
			fv.SetBool(ok)
		case PartData:
			if data != nil {
				fv.Set(reflect.ValueOf(data))
			}
		case PartConst:
			fv.SetString(f.Const)
		case PartServerTime:
			fv.SetInt(e.l.Now().UnixMilli())
		case PartRequestID:
			fv.SetString(RequestID(r))
		}
	}
	return p.Interface()
}

func (e *Envelope) put(buf *bytes.Buffer) {
	if buf.Cap() > maxPooledAnswer {
		return
	}
	buf.Reset()
	e.bufs.Put(buf)
}

// RequestID is the request's X-Request-Id when it has a usable one, or a fresh random id.
func RequestID(r *http.Request) string {
	if id := r.Header.Get("X-Request-Id"); id != "" && len(id) <= 64 {
		return id
	}
	return auth.RandomHex(8)
}
