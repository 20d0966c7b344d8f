package facade

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime/multipart"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Params are a request's parameters from whichever place the request carried them: a JSON object
// (numbers kept as json.Number), a form or multipart body, or the query string. Checks answer with
// the dialect's codes: Missing for an absent required value, BadParam for a wrong type or a value
// out of range, TooLong for text over its length.
type Params struct {
	JSON  map[string]any
	Form  url.Values
	Files *multipart.Form
	Codes *Codes
}

// DecodeObject decodes one JSON object keeping numbers as json.Number, refusing trailing data. An
// empty or blank body is an empty object; null is nil.
func DecodeObject(body []byte) (map[string]any, error) {
	var m map[string]any
	if len(bytes.TrimSpace(body)) == 0 {
		return map[string]any{}, nil
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("trailing data after the value")
	}
	return m, nil
}

// Has reports whether name is present (and, in JSON, not null).
func (p Params) Has(name string) bool {
	_, ok := p.Raw(name)
	if !ok && p.JSON == nil {
		_, ok = p.Form[name] // a form field present without a value counts
	}
	return ok
}

// Raw returns the value as the request carried it: a JSON value, or a form field's first value.
func (p Params) Raw(name string) (any, bool) {
	if p.JSON != nil {
		v, ok := p.JSON[name]
		return v, ok && v != nil
	}
	v, ok := p.Form[name]
	if !ok || len(v) == 0 {
		return nil, false
	}
	return v[0], true
}

// First returns the first of the names that is present, or the first name, so that aliases of one
// parameter share code.
func (p Params) First(names ...string) string {
	for _, n := range names {
		if p.Has(n) {
			return n
		}
	}
	return names[0]
}

// Str reads a text parameter trimmed of spaces. JSON numbers and booleans are accepted as their text;
// objects and arrays are a type error.
func (p Params) Str(name string) (string, bool, error) {
	v, ok := p.Raw(name)
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
	return "", true, p.Codes.New(p.Codes.BadParam, "%s must be text", name)
}

// Text reads a text parameter, refusing it when required and empty, longer than max characters (max
// 0: no limit beyond the body's), or not text both store drivers keep alike (ValidText).
func (p Params) Text(name string, required bool, max int) (string, error) {
	s, _, err := p.Str(name)
	if err != nil {
		return "", err
	}
	if required && s == "" {
		return "", p.Codes.New(p.Codes.Missing, "%s is required", name)
	}
	if max > 0 && utf8.RuneCountInString(s) > max {
		return "", p.Codes.New(p.Codes.TooLong, "%s is longer than %d characters", name, max)
	}
	if !ValidText(s) {
		return "", p.Codes.New(p.Codes.BadParam, "%s is not valid text", name)
	}
	return s, nil
}

// ValidText reports whether s is text the store keeps alike on both drivers: valid UTF-8 without NUL
// bytes.
func ValidText(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsRune(s, 0)
}

// FirstText returns the first non-empty of several alias names.
func (p Params) FirstText(required bool, max int, names ...string) (string, error) {
	for _, n := range names {
		if p.Has(n) {
			s, err := p.Text(n, false, max)
			if err != nil || s != "" {
				return s, err
			}
		}
	}
	if required {
		return "", p.Codes.New(p.Codes.Missing, "%s is required", names[0])
	}
	return "", nil
}

// Int reads a whole number within [min, max]; def when absent (or an empty string) and not
// required.
func (p Params) Int(name string, required bool, min, max, def int64) (int64, error) {
	v, ok := p.Raw(name)
	if !ok {
		if required {
			return 0, p.Codes.New(p.Codes.Missing, "%s is required", name)
		}
		return def, nil
	}
	var s string
	switch t := v.(type) {
	case string:
		s = strings.TrimSpace(t)
		if s == "" {
			if required {
				return 0, p.Codes.New(p.Codes.Missing, "%s is required", name)
			}
			return def, nil
		}
	case json.Number:
		s = t.String()
	default:
		return 0, p.Codes.New(p.Codes.BadParam, "%s must be a number", name)
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, p.Codes.New(p.Codes.BadParam, "%s must be a whole number", name)
	}
	if n < min || n > max {
		return 0, p.Codes.New(p.Codes.BadParam, "%s must be between %d and %d", name, min, max)
	}
	return n, nil
}

// IDs reads one id or several: a number, a numeric string, a comma-separated list or a JSON array.
// Ids are above zero.
func (p Params) IDs(name string, required bool) ([]int64, error) {
	v, ok := p.Raw(name)
	if !ok {
		if required {
			return nil, p.Codes.New(p.Codes.Missing, "%s is required", name)
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
				return nil, p.Codes.New(p.Codes.BadParam, "%s must list ids", name)
			}
		}
	default:
		return nil, p.Codes.New(p.Codes.BadParam, "%s must be an id or a list of ids", name)
	}
	var out []int64
	for _, s := range parts {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n <= 0 {
			return nil, p.Codes.New(p.Codes.BadParam, "%s: %q is not an id", name, s)
		}
		out = append(out, n)
	}
	if required && len(out) == 0 {
		return nil, p.Codes.New(p.Codes.Missing, "%s is required", name)
	}
	return out, nil
}

// YesNo reads a yes/no switch (also true/false, 1/0, y/n); def when absent or empty.
func (p Params) YesNo(name string, def bool) (bool, error) {
	s, ok, err := p.Str(name)
	if err != nil || !ok || s == "" {
		return def, err
	}
	switch strings.ToLower(s) {
	case "yes", "true", "1", "y":
		return true, nil
	case "no", "false", "0", "n":
		return false, nil
	}
	return false, p.Codes.New(p.Codes.BadParam, "%s must be yes or no", name)
}
