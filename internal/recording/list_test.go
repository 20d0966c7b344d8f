package recording_test

import (
	"fmt"
	"slices"
	"strconv"
	"testing"

	"taskcenter/internal/recording"
)

// TestListsPage: query and the file list page in the store; the totals count every match past the
// first page, with filters SQL applies (the app, the creation time) and those applied to the
// recordings' documents (the exact group, the status, the file name).
func TestListsPage(t *testing.T) {
	forEachDriver(t, func(t *testing.T, e *env) {
		c := e.login()
		var ids []string // oldest first
		groups := []string{"a", "b", "a", "aa", "a", "b", "a"}
		for i, g := range groups {
			ids = append(ids, ok(t, c.do(map[string]any{"id": recording.CmdInit, "group_id": g, "file_name": "f" + strconv.Itoa(i)}))["record_id"].(string))
		}
		// Another app's recordings are never counted.
		other := e.otherApp()
		ok(t, other.do(map[string]any{"id": recording.CmdInit, "group_id": "a", "file_name": "f0"}))
		newest := func(keep func(i int) bool) []string {
			var out []string
			for i := len(ids) - 1; i >= 0; i-- {
				if keep(i) {
					out = append(out, ids[i])
				}
			}
			return out
		}
		all := newest(func(int) bool { return true })
		groupA := newest(func(i int) bool { return groups[i] == "a" })
		for _, tc := range []struct {
			name  string
			cmd   map[string]any
			total int
			want  []string
		}{
			{"page 2 of all", map[string]any{"page": 2, "page_size": 3}, 7, all[3:6]},
			{"last page of all", map[string]any{"page": 3, "page_size": 3}, 7, all[6:]},
			{"past the end", map[string]any{"page": 4, "page_size": 3}, 7, nil},
			{"group a page 2 (not aa)", map[string]any{"group_id": "a", "page": 2, "page_size": 3}, 4, groupA[3:]},
			{"status 1 page 2", map[string]any{"status": 1, "page": 2, "page_size": 5}, 7, all[5:]},
			{"status 6", map[string]any{"status": 6}, 0, nil},
			{"one record", map[string]any{"record_id": ids[2]}, 1, ids[2:3]},
			{"one record, page 2", map[string]any{"record_id": ids[2], "page": 2}, 1, nil},
			{"one record of another group", map[string]any{"record_id": ids[1], "group_id": "a"}, 0, nil},
		} {
			cmd := map[string]any{"id": recording.CmdQuery}
			for k, v := range tc.cmd {
				cmd[k] = v
			}
			r := ok(t, c.do(cmd))
			var got []string
			for _, it := range r["record_list"].([]any) {
				got = append(got, it.(map[string]any)["record_id"].(string))
			}
			if int(r["total_num"].(float64)) != tc.total || !slices.Equal(got, tc.want) {
				t.Errorf("query %s: total %v %v, want %d %v", tc.name, r["total_num"], got, tc.total, tc.want)
			}
		}
		for _, tc := range []struct {
			name   string
			fields map[string]string
			total  int
			want   []string
		}{
			{"page 2", map[string]string{"page": "2", "page_size": "4"}, 7, all[4:]},
			{"file name", map[string]string{"file_name": "f3"}, 1, ids[3:4]},
			{"state 1 page 3", map[string]string{"file_state": "1", "page": "3", "page_size": "3"}, 7, all[6:]},
			{"state 6", map[string]string{"file_state": "6"}, 0, nil},
			{"before they were made", map[string]string{"end_time": "2001-01-01"}, 0, nil},
		} {
			d := ok(t, e.form(recording.PathFileList, tc.fields))["data"].(map[string]any)
			var got []string
			for _, it := range d["list"].([]any) {
				got = append(got, fmt.Sprint(it.(map[string]any)["record_id"]))
			}
			if int(d["total"].(float64)) != tc.total || !slices.Equal(got, tc.want) {
				t.Errorf("file list %s: total %v %v, want %d %v", tc.name, d["total"], got, tc.total, tc.want)
			}
		}
	})
}
