package render

import (
	"encoding/json"
	"math"
	"strconv"
	"strings"
)

// params is a request body decoded with UseNumber. The accessors accept what real clients send (a
// number as a JSON string, a single id where a list is documented) and answer 600 for a wrong type and
// 601 for a missing required value.
type params map[string]any

// has reports whether name is present and not null.
func (p params) has(name string) bool {
	v, ok := p[name]
	return ok && v != nil
}

// first returns the first of the names that is present, so aliases (taskParam = taskIds) share code.
func (p params) first(names ...string) string {
	for _, n := range names {
		if p.has(n) {
			return n
		}
	}
	return names[0]
}

func toInt(v any) (int64, bool) {
	switch t := v.(type) {
	case json.Number:
		if i, err := t.Int64(); err == nil {
			return i, true
		}
		if f, err := t.Float64(); err == nil && f == math.Trunc(f) && math.Abs(f) < 1<<53 {
			return int64(f), true
		}
	case string:
		if i, err := strconv.ParseInt(strings.TrimSpace(t), 10, 64); err == nil {
			return i, true
		}
	}
	return 0, false
}

// int returns an integer parameter; def when absent and not required.
func (p params) int(name string, required bool, def int64) (int64, error) {
	if !p.has(name) {
		if required {
			return 0, missing(name)
		}
		return def, nil
	}
	i, ok := toInt(p[name])
	if !ok {
		return 0, invalid("%s must be an integer", name)
	}
	return i, nil
}

// str returns a string parameter; numbers are accepted as their text (queryErrorDetail.code).
func (p params) str(name string, required bool) (string, error) {
	if !p.has(name) {
		if required {
			return "", missing(name)
		}
		return "", nil
	}
	switch t := p[name].(type) {
	case string:
		if required && strings.TrimSpace(t) == "" {
			return "", missing(name)
		}
		return t, nil
	case json.Number:
		return t.String(), nil
	}
	return "", invalid("%s must be a string", name)
}

// ints returns a list of integers; a single integer counts as a list of one (restartFrame.taskIds).
func (p params) ints(name string, required bool) ([]int64, error) {
	if !p.has(name) {
		if required {
			return nil, missing(name)
		}
		return nil, nil
	}
	var out []int64
	switch t := p[name].(type) {
	case []any:
		if len(t) > maxListLen {
			return nil, invalid("%s has more than %d entries", name, maxListLen)
		}
		for i, v := range t {
			n, ok := toInt(v)
			if !ok {
				return nil, invalid("%s[%d] must be an integer", name, i)
			}
			out = append(out, n)
		}
	default:
		n, ok := toInt(t)
		if !ok {
			return nil, invalid("%s must be a list of integers", name)
		}
		out = []int64{n}
	}
	if required && len(out) == 0 {
		return nil, missing(name)
	}
	return out, nil
}

// strs returns a list of strings; a single string counts as a list of one.
func (p params) strs(name string) ([]string, error) {
	if !p.has(name) {
		return nil, nil
	}
	switch t := p[name].(type) {
	case string:
		return []string{t}, nil
	case []any:
		out := make([]string, 0, len(t))
		for i, v := range t {
			switch s := v.(type) {
			case string:
				out = append(out, s)
			case json.Number:
				out = append(out, s.String())
			default:
				return nil, invalid("%s[%d] must be a string", name, i)
			}
		}
		return out, nil
	}
	return nil, invalid("%s must be a list of strings", name)
}

// taskIDs reads the task id list under its documented name or the alias taskParam.
func (p params) taskIDs(required bool) ([]int64, error) {
	return p.ints(p.first("taskIds", "taskParam", "taskId"), required)
}

const maxListLen = 10000
