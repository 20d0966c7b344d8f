package projects

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"unicode"
)

// funcMap is the fixed function set of templates. Every function is a pure function of its
// arguments: no clock, no randomness, no environment, no network, so that an unchanged template and
// configuration render the same bytes. (sprig's "hermetic" map was considered and left out: it still
// holds functions with random output, bcrypt, htpasswd, shuffle, encryptAES, and would bring eight
// modules for what is below.) Argument order follows sprig's, value last, so pipelines read
// naturally: {{ .Config.title | default "none" | upper }}.
func funcMap() map[string]any {
	return map[string]any{
		"upper":        strings.ToUpper,
		"lower":        strings.ToLower,
		"title":        title,
		"trim":         strings.TrimSpace,
		"trimPrefix":   func(prefix, s string) string { return strings.TrimPrefix(s, prefix) },
		"trimSuffix":   func(suffix, s string) string { return strings.TrimSuffix(s, suffix) },
		"replace":      func(old, new, s string) string { return strings.ReplaceAll(s, old, new) },
		"contains":     func(sub, s string) bool { return strings.Contains(s, sub) },
		"hasPrefix":    func(prefix, s string) bool { return strings.HasPrefix(s, prefix) },
		"hasSuffix":    func(suffix, s string) bool { return strings.HasSuffix(s, suffix) },
		"split":        func(sep, s string) []string { return strings.Split(s, sep) },
		"join":         join,
		"repeat":       repeat,
		"quote":        func(v any) string { return strconv.Quote(toString(v)) },
		"squote":       func(v any) string { return "'" + toString(v) + "'" },
		"indent":       func(n int, s string) string { return indent(n, s) },
		"nindent":      func(n int, s string) string { return "\n" + indent(n, s) },
		"toString":     toString,
		"toJSON":       toJSON,
		"toPrettyJSON": toPrettyJSON,
		"sha256sum":    func(s string) string { h := sha256.Sum256([]byte(s)); return hex.EncodeToString(h[:]) },
		"b64enc":       func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) },
		"b64dec":       b64dec,
		"default":      defaultValue,
		"empty":        empty,
		"coalesce":     coalesce,
		"ternary":      func(yes, no any, cond bool) any { return map[bool]any{true: yes, false: no}[cond] },
		"add":          arith(func(a, b float64) float64 { return a + b }),
		"sub":          arith(func(a, b float64) float64 { return a - b }),
		"mul":          arith(func(a, b float64) float64 { return a * b }),
		"div":          div,
		"mod":          mod,
		"max":          arith(math.Max),
		"min":          arith(math.Min),
		"seq":          seq,
		"list":         func(v ...any) []any { return v },
		"dict":         dict,
		"keys":         keys,
		"sortAlpha":    sortAlpha,
		"first":        func(v any) any { return at(v, 0) },
		"last":         func(v any) any { return at(v, -1) },
		"has":          has,
	}
}

// maxSeq bounds seq and repeat, so that a template cannot ask for unbounded memory in one call.
const maxSeq = 100000

func title(s string) string {
	prev := ' '
	return strings.Map(func(r rune) rune {
		defer func() { prev = r }()
		if unicode.IsSpace(prev) {
			return unicode.ToTitle(r)
		}
		return r
	}, s)
}

func toString(v any) string {
	switch t := v.(type) {
	case nil:
		return ""
	case string:
		return t
	case json.Number:
		return t.String()
	case []byte:
		return string(t)
	case fmt.Stringer:
		return t.String()
	}
	return fmt.Sprint(v)
}

func join(sep string, v any) string {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Slice && rv.Kind() != reflect.Array {
		return toString(v)
	}
	parts := make([]string, rv.Len())
	for i := range parts {
		parts[i] = toString(rv.Index(i).Interface())
	}
	return strings.Join(parts, sep)
}

func repeat(n int, s string) (string, error) {
	if n < 0 || n*len(s) > maxOutputBytes {
		return "", fmt.Errorf("repeat: %d copies are too many", n)
	}
	return strings.Repeat(s, n), nil
}

func indent(n int, s string) string {
	pad := strings.Repeat(" ", max(n, 0))
	return pad + strings.ReplaceAll(s, "\n", "\n"+pad)
}

func toJSON(v any) (string, error) {
	b, err := json.Marshal(v) // maps are written with sorted keys
	return string(b), err
}

func toPrettyJSON(v any) (string, error) {
	b, err := json.MarshalIndent(v, "", "  ")
	return string(b), err
}

func b64dec(s string) (string, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	return string(b), err
}

func empty(v any) bool {
	if v == nil {
		return true
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.String, reflect.Slice, reflect.Map, reflect.Array:
		return rv.Len() == 0
	case reflect.Bool:
		return !rv.Bool()
	case reflect.Int, reflect.Int64, reflect.Int32:
		return rv.Int() == 0
	case reflect.Float64, reflect.Float32:
		return rv.Float() == 0
	case reflect.Pointer, reflect.Interface:
		return rv.IsNil()
	}
	if n, ok := v.(json.Number); ok {
		f, err := n.Float64()
		return err == nil && f == 0
	}
	return false
}

func defaultValue(def, v any) any {
	if empty(v) {
		return def
	}
	return v
}

func coalesce(v ...any) any {
	for _, x := range v {
		if !empty(x) {
			return x
		}
	}
	return nil
}

func toFloat(v any) (float64, error) {
	switch t := v.(type) {
	case int:
		return float64(t), nil
	case int64:
		return float64(t), nil
	case float64:
		return t, nil
	case json.Number:
		return t.Float64()
	case string:
		return strconv.ParseFloat(strings.TrimSpace(t), 64)
	}
	return 0, fmt.Errorf("%v is not a number", v)
}

// number gives whole results as int64 so that they print without an exponent or ".0".
func number(f float64) any {
	if f == math.Trunc(f) && math.Abs(f) < 1<<53 {
		return int64(f)
	}
	return f
}

func arith(op func(a, b float64) float64) func(a, b any) (any, error) {
	return func(a, b any) (any, error) {
		x, err := toFloat(a)
		if err != nil {
			return nil, err
		}
		y, err := toFloat(b)
		if err != nil {
			return nil, err
		}
		return number(op(x, y)), nil
	}
}

func div(a, b any) (any, error) {
	y, err := toFloat(b)
	if err != nil {
		return nil, err
	}
	if y == 0 {
		return nil, errors.New("division by zero")
	}
	return arith(func(a, b float64) float64 { return a / b })(a, b)
}

func mod(a, b any) (any, error) {
	x, err := toFloat(a)
	if err != nil {
		return nil, err
	}
	y, err := toFloat(b)
	if err != nil {
		return nil, err
	}
	if int64(y) == 0 {
		return nil, errors.New("modulo by zero")
	}
	return int64(x) % int64(y), nil
}

func seq(n any) ([]int, error) {
	f, err := toFloat(n)
	if err != nil {
		return nil, err
	}
	if f < 0 || f > maxSeq {
		return nil, fmt.Errorf("seq: %v is outside 0..%d", n, maxSeq)
	}
	out := make([]int, int(f))
	for i := range out {
		out[i] = i
	}
	return out, nil
}

func dict(kv ...any) (map[string]any, error) {
	if len(kv)%2 != 0 {
		return nil, errors.New("dict needs key and value pairs")
	}
	m := make(map[string]any, len(kv)/2)
	for i := 0; i < len(kv); i += 2 {
		m[toString(kv[i])] = kv[i+1]
	}
	return m, nil
}

func keys(v any) ([]string, error) {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Map {
		return nil, fmt.Errorf("keys of %T: not a map", v)
	}
	out := make([]string, 0, rv.Len())
	for _, k := range rv.MapKeys() {
		out = append(out, toString(k.Interface()))
	}
	sort.Strings(out)
	return out, nil
}

func sortAlpha(v any) []string {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Slice && rv.Kind() != reflect.Array {
		return []string{toString(v)}
	}
	out := make([]string, rv.Len())
	for i := range out {
		out[i] = toString(rv.Index(i).Interface())
	}
	sort.Strings(out)
	return out
}

func at(v any, i int) any {
	rv := reflect.ValueOf(v)
	if (rv.Kind() != reflect.Slice && rv.Kind() != reflect.Array) || rv.Len() == 0 {
		return nil
	}
	if i < 0 {
		i = rv.Len() - 1
	}
	return rv.Index(i).Interface()
}

func has(v any, list any) bool {
	rv := reflect.ValueOf(list)
	if rv.Kind() != reflect.Slice && rv.Kind() != reflect.Array {
		return false
	}
	want := toString(v)
	for i := 0; i < rv.Len(); i++ {
		if toString(rv.Index(i).Interface()) == want {
			return true
		}
	}
	return false
}
