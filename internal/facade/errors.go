package facade

import (
	"errors"
	"fmt"

	"taskcenter/internal/blob"
	"taskcenter/internal/engine"
	"taskcenter/internal/store"
)

// Error is a failure with the dialect's answer code. Handlers return it; the envelope writer renders
// Code and Msg. Err is the cause, logged, never sent.
type Error struct {
	Code int
	Msg  string
	Err  error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%d %s: %v", e.Code, e.Msg, e.Err)
	}
	return fmt.Sprintf("%d %s", e.Code, e.Msg)
}

func (e *Error) Unwrap() error { return e.Err }

// Codes is a dialect's table of answer codes: which code means what, and each code's text.
type Codes struct {
	// OK is the code of a successful answer; Internal of an unexpected failure (whose cause is
	// logged, not shown).
	OK, Internal int
	// The codes the engine's, the store's and the blob store's errors map to (Of). Zero leaves the
	// class unmapped: such an error is answered as Internal.
	Invalid  int // engine.ErrInvalid (and store text it cannot keep): the cause is shown
	NotFound int // store.ErrNotFound, blob.ErrNotFound
	Exists   int // store.ErrConflict
	Stale    int // store.ErrStale
	TooLarge int // blob.ErrTooLarge
	// Parameter checks (Params): absent or empty, malformed or out of range, too long.
	Missing, BadParam, TooLong int
	// Text is each code's text, the message of an answer that has no detail.
	Text map[int]string
	// Prefixed puts the code's text before every detail ("参数错误: size must be ..."); otherwise the
	// detail alone is the message.
	Prefixed bool
}

// New builds an Error whose message is detail (formatted with args), after the code's text when the
// dialect prefixes, or the code's text alone when detail is empty.
func (c *Codes) New(code int, detail string, args ...any) *Error {
	if detail == "" {
		return &Error{Code: code, Msg: c.Text[code]}
	}
	if len(args) > 0 {
		detail = fmt.Sprintf(detail, args...)
	}
	return &Error{Code: code, Msg: c.message(code, detail)}
}

func (c *Codes) message(code int, detail string) string {
	if c.Prefixed {
		return c.Text[code] + ": " + detail
	}
	return detail
}

// Of maps any error to an Error of the table: an Error as it is, the engine's and the store's
// sentinels by their meaning, anything else to Internal. It is the one place where store and engine
// errors become answer codes.
func (c *Codes) Of(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	code := 0
	switch {
	case errors.Is(err, store.ErrNotFound), errors.Is(err, blob.ErrNotFound):
		code = c.NotFound
	case errors.Is(err, store.ErrConflict):
		code = c.Exists
	case errors.Is(err, store.ErrStale):
		code = c.Stale
	case errors.Is(err, blob.ErrTooLarge):
		code = c.TooLarge
	case errors.Is(err, engine.ErrInvalid):
		if c.Invalid != 0 {
			return &Error{Code: c.Invalid, Msg: c.message(c.Invalid, err.Error()), Err: err}
		}
	}
	if code == 0 {
		code = c.Internal
	}
	return &Error{Code: code, Msg: c.Text[code], Err: err}
}
