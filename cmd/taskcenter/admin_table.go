package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// listColumns are the columns a table of each list shows first, in order; other scalar fields
// follow in name order. A list not named here shows its scalar fields in name order.
var listColumns = map[string][]string{
	"jobs":      {"id", "account_id", "kind", "name", "status", "pause_reason", "priority", "units", "cost_milli", "created_at"},
	"units":     {"id", "index", "name", "status", "capability", "worker_id", "attempts", "progress", "error"},
	"workers":   {"id", "name", "kind", "status", "account_id", "capabilities", "last_heartbeat", "licence"},
	"accounts":  {"id", "name", "role", "parent_id", "balance_milli", "coupon_milli", "credit_milli", "quota"},
	"schedules": {"id", "account_id", "name", "cron", "timezone", "enabled", "next_run", "last_run"},
	"events":    {"id", "at", "type", "job_id", "unit_id", "worker_id", "data"},
	"blocklist": {"worker_id", "failures", "blocked", "last_failure"},
	"tokens":    {"id", "kind", "key_id", "label", "created_at", "revoked_at"},
	"lines":     {"id", "kind", "job_id", "unit_id", "coupon_milli", "balance_milli", "credit_milli", "unpaid_milli", "note", "created_at"},
	"results":   {"id", "status", "error"},
}

// printAnswer writes a native API answer: indented JSON when format is "json", else a table for a
// list ({"total": N, "<items>": [...]}) and "field  value" lines for an object.
func printAnswer(out io.Writer, res []byte, format string) error {
	var v any
	dec := json.NewDecoder(bytes.NewReader(res))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		_, err := fmt.Fprintln(out, strings.TrimSpace(string(res)))
		return err
	}
	if format == "json" {
		b, _ := json.MarshalIndent(v, "", "  ")
		_, err := fmt.Fprintln(out, string(b))
		return err
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	if items, ok := objects(v); ok { // a bare array of objects (the dialects' admin lists)
		if len(items) == 0 {
			_, err := fmt.Fprintln(out, "(none)")
			return err
		}
		writeTable(tw, "", items)
		return tw.Flush()
	}
	obj, ok := v.(map[string]any)
	if !ok {
		_, err := fmt.Fprintln(out, cell(v))
		return err
	}
	if name, items, ok := listOf(obj); ok {
		writeTable(tw, name, items)
		if err := tw.Flush(); err != nil {
			return err
		}
		if total, ok := obj["total"]; ok {
			_, err := fmt.Fprintf(out, "(%d shown of %v)\n", len(items), total)
			return err
		}
		return nil
	}
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(tw, "%s\t%s\n", k, field(obj[k]))
	}
	return tw.Flush()
}

// listOf finds the one array of objects a list answer carries. An empty array is a list only beside
// a total: in an object (a channel's "models": []) it is a field like any other.
func listOf(obj map[string]any) (string, []map[string]any, bool) {
	_, counted := obj["total"]
	for k, v := range obj {
		items, ok := objects(v)
		if !ok {
			continue
		}
		if len(items) == 0 && !counted {
			return "", nil, false
		}
		return k, items, true
	}
	return "", nil, false
}

// objects reports whether v is an array of objects only, and returns them.
func objects(v any) ([]map[string]any, bool) {
	arr, ok := v.([]any)
	if !ok {
		return nil, false
	}
	items := make([]map[string]any, 0, len(arr))
	for _, it := range arr {
		m, ok := it.(map[string]any)
		if !ok {
			return nil, false
		}
		items = append(items, m)
	}
	return items, true
}

func writeTable(tw io.Writer, name string, items []map[string]any) {
	cols := slices.Clone(listColumns[name])
	seen := map[string]bool{}
	for _, c := range cols {
		seen[c] = true
	}
	var extra []string
	for _, it := range items {
		for k, v := range it {
			if !seen[k] && scalar(v) {
				seen[k] = true
				extra = append(extra, k)
			}
		}
	}
	sort.Strings(extra)
	if listColumns[name] == nil {
		cols = extra
	}
	fmt.Fprintln(tw, strings.ToUpper(strings.Join(cols, "\t")))
	for _, it := range items {
		row := make([]string, len(cols))
		for i, c := range cols {
			row[i] = cell(it[c])
		}
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
}

func scalar(v any) bool {
	switch v.(type) {
	case map[string]any, []any:
		return false
	}
	return true
}

// field renders one value of an object: text whole, also inside a nested object, since it may be a
// secret shown only once (a new key's app_id and secret, a token); anything else as a table cell.
func field(v any) string {
	switch x := v.(type) {
	case string:
		if _, err := time.Parse(time.RFC3339Nano, x); err != nil {
			return strings.NewReplacer("\n", " ", "\t", " ").Replace(x)
		}
	case map[string]any:
		return pairs(x, field)
	}
	return cell(v)
}

// pairs renders an object as "k=v" pairs in key order, each value by render.
func pairs(m map[string]any, render func(any) string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + render(m[k])
	}
	return strings.Join(parts, " ")
}

// cell renders one value in a table: times shortened, maps as k=v, lists comma-joined, long text cut.
func cell(v any) string {
	switch x := v.(type) {
	case nil:
		return "-"
	case string:
		if t, err := time.Parse(time.RFC3339Nano, x); err == nil {
			return t.UTC().Format("2006-01-02 15:04:05")
		}
		if len(x) > 60 {
			return x[:57] + "..."
		}
		return strings.NewReplacer("\n", " ", "\t", " ").Replace(x)
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = cell(e)
		}
		return strings.Join(parts, ",")
	case map[string]any:
		s := pairs(x, cell)
		if len(s) > 60 {
			s = s[:57] + "..."
		}
		return s
	default:
		return fmt.Sprint(x)
	}
}
