package rpa

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"taskcenter/internal/facade"
	"taskcenter/internal/store"
	"taskcenter/internal/store/storetest/drivers"
)

// recordLists records the record lists asked of the store.
type recordLists struct {
	store.Store
	mu    sync.Mutex
	calls []store.RecordFilter
}

func (s *recordLists) ListRecords(ctx context.Context, f store.RecordFilter) ([]store.Record, int, error) {
	s.mu.Lock()
	s.calls = append(s.calls, f)
	s.mu.Unlock()
	return s.Store.ListRecords(ctx, f)
}

func (s *recordLists) take() []store.RecordFilter {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.calls
	s.calls = nil
	return c
}

// TestRecordListsPageInSQL lists users, queues and roles by department and name: each answer is the
// page the Go filters of before would cut (subtree of the caller's department, the tenant's
// unscoped records at the top only, a user's name case-insensitively, a queue's and a role's as
// written, in id order), and the store is asked for that page, not for every record of the kind.
func TestRecordListsPageInSQL(t *testing.T) {
	for _, d := range drivers.All() {
		t.Run(d.Name, func(t *testing.T) {
			ctx := context.Background()
			st := &recordLists{Store: d.Open(t)}
			e := newEnv(t, st)
			var roles Page[map[string]any]
			must(t, e.admin.Get(ctx, "/oapi/v1/role/list", nil, &roles))
			devRole := toString(roles.Items[1]["id"])
			for _, o := range []map[string]any{
				{"curCode": "js", "curName": "江苏"},
				{"curCode": "zj", "curName": "浙江"},
				{"curCode": "nj", "curName": "南京", "parentOrgCode": "-001-js-"},
			} {
				must(t, e.admin.SendForm(ctx, "POST", "/oapi/v1/orgDef/addOrg", toForm(o), nil))
			}
			orgCodes := []string{"-001-js-", "-001-js-nj-", "-001-zj-", "-001-"}
			type row struct{ name, org, owner string }
			users := []row{{"admin", "-001-", ""}}
			for i := range 14 {
				n := fmt.Sprintf("User%02d", i)
				if i%2 == 1 {
					n = strings.ToLower(n)
				}
				org := orgCodes[i%len(orgCodes)]
				users = append(users, row{n, org, ""})
				must(t, e.admin.SendForm(ctx, "POST", "/oapi/v1/user", url.Values{"userName": {n}, "roleId": {devRole},
					"orgCode": {org}, "userPassword": {"pass-" + n}}, nil))
			}
			var queues []row
			for i := range 9 {
				n := fmt.Sprintf("Q-%d", i)
				if i%3 == 0 {
					n = fmt.Sprintf("q-%d", i)
				}
				org := orgCodes[i%len(orgCodes)]
				queues = append(queues, row{n, org, ""})
				must(t, e.admin.Send(ctx, "POST", "/oapi/v1/queue", map[string]any{
					"queueName": n, "queueMaxItems": 10, "failTryTimes": 1, "orgCode": org,
				}, nil))
			}
			var roleRows []row
			for _, r := range roles.Items {
				roleRows = append(roleRows, row{r["roleName"].(string), "", ""})
			}
			js := e.login("User00", "pass-User00") // of -001-js-: sees -001-js- and -001-js-nj-
			var found Page[map[string]any]
			must(t, e.admin.Get(ctx, "/oapi/v1/user", url.Values{"userName": {"User00"}}, &found))
			jsID, adminID := toString(found.Items[0]["id"]), idString(e.adminID)
			// Shared files take their uploader's department and list newest first.
			var files []row
			for i := range 7 {
				c, org, owner := e.admin, "-001-", adminID
				if i%3 == 1 {
					c, org, owner = js, "-001-js-", jsID
				}
				n := fmt.Sprintf("f%d-%s.txt", i, []string{"a", "B", "b"}[i%3])
				if i == 5 {
					owner = jsID // the admin shares one as the js user
				}
				must(t, c.Upload(ctx, "/oapi/v1/share/file", url.Values{"userId": {owner}}, "uploadFile", n, []byte(n), nil))
				files = append([]row{{n, org, owner}}, files...)
			}

			// Process versions take their process's department and list newest first.
			var versions []row
			for i, p := range []struct {
				c         *Client
				org, code string
				ver       string
			}{
				{e.admin, "-001-", "inv", "1.0.0"}, {js, "-001-js-", "jsp", "1.1.0"}, {e.admin, "-001-", "inv", "1.0.1"},
				{js, "-001-js-", "jsp", "1.1.1"}, {e.admin, "-001-", "pay", "2.0.0"},
			} {
				pkg := ipkg(t, Manifest{ProcCode: p.code, ProcName: p.code, Version: p.ver, Entry: "sh main.sh"})
				must(t, p.c.Upload(ctx, "/oapi/v1/process/publish", url.Values{"verExplain": {fmt.Sprint(i)}}, "file", p.code+".ipkg", pkg, nil))
				versions = append([]row{{p.ver, p.org, ""}}, versions...)
			}

			// want cuts the page the Go filters of before cut out of rows.
			want := func(rows []row, callerOrg, name string, fold bool, q url.Values) Page[string] {
				var kept []string
				for _, r := range rows {
					n, s := r.name, name
					if fold {
						n, s = strings.ToLower(n), strings.ToLower(s)
					}
					if (r.org == "" || inScope(callerOrg, r.org)) && strings.Contains(n, s) &&
						(q.Get("userId") == "" || q.Get("userId") == r.owner) {
						kept = append(kept, r.name)
					}
				}
				off, lim := paging(q)
				return facade.Paginate(kept, off, lim)
			}
			tests := []struct {
				name      string
				c         *Client
				path      string
				kind      string
				field     string // the name parameter and answer field
				rows      []row
				callerOrg string
				fold      bool
				q         url.Values
				unpaged   bool // a filter the store cannot apply: the page is cut in memory
			}{
				{"users", e.admin, "/oapi/v1/user", recUser, "userName", users, "-001-", true, url.Values{}, false},
				{"users, page 2", e.admin, "/oapi/v1/user", recUser, "userName", users, "-001-", true, url.Values{"page": {"2"}, "size": {"4"}}, false},
				{"users by name, any case", e.admin, "/oapi/v1/user", recUser, "userName", users, "-001-", true, url.Values{"userName": {"USER0"}, "page": {"2"}, "size": {"3"}}, false},
				{"users of a department", js, "/oapi/v1/user", recUser, "userName", users, "-001-js-", true, url.Values{"size": {"3"}}, false},
				{"users of a department by name", js, "/oapi/v1/user", recUser, "userName", users, "-001-js-", true, url.Values{"userName": {"r1"}}, false},
				{"users, past the end", e.admin, "/oapi/v1/user", recUser, "userName", users, "-001-", true, url.Values{"page": {"9"}}, false},
				{"queues", e.admin, "/oapi/v1/queue", recQueue, "queueName", queues, "-001-", false, url.Values{"size": {"4"}, "page": {"2"}}, false},
				{"queues by name, case sensitive", e.admin, "/oapi/v1/queue", recQueue, "queueName", queues, "-001-", false, url.Values{"queueName": {"Q-"}}, false},
				{"queues of a department", js, "/oapi/v1/queue", recQueue, "queueName", queues, "-001-js-", false, url.Values{}, false},
				{"files, newest first", e.admin, "/oapi/v1/share/file", recFile, "fileName", files, "-001-", false, url.Values{"size": {"3"}, "page": {"2"}}, false},
				{"files by name, case sensitive", e.admin, "/oapi/v1/share/file", recFile, "fileName", files, "-001-", false, url.Values{"fileName": {"b"}}, false},
				{"files of a department", js, "/oapi/v1/share/file", recFile, "fileName", files, "-001-js-", false, url.Values{}, false},
				{"files by uploader", e.admin, "/oapi/v1/share/file", recFile, "fileName", files, "-001-", false, url.Values{"userId": {jsID}, "size": {"1"}, "page": {"2"}}, true},
				{"versions, newest first", e.admin, "/oapi/v1/process/version", recVersion, "procVer", versions, "-001-", false, url.Values{"size": {"2"}, "page": {"2"}}, false},
				{"versions of a department", js, "/oapi/v1/process/version", recVersion, "procVer", versions, "-001-js-", false, url.Values{}, false},
				{"roles by name", e.admin, "/oapi/v1/role/list", recRole, "roleName", roleRows, "", false, url.Values{"roleName": {"员"}, "size": {"1"}, "page": {"2"}}, false},
			}
			st.take()
			for _, tc := range tests {
				t.Run(tc.name, func(t *testing.T) {
					var got Page[map[string]any]
					must(t, tc.c.Get(ctx, tc.path, tc.q, &got))
					var names []string
					for _, it := range got.Items {
						names = append(names, it[tc.field].(string))
					}
					w := want(tc.rows, tc.callerOrg, tc.q.Get(tc.field), tc.fold, tc.q)
					if got.Total != w.Total || !slices.Equal(names, w.Items) {
						t.Errorf("total %d items %v, want %d %v", got.Total, names, w.Total, w.Items)
					}
					_, lim := paging(tc.q)
					if tc.unpaged {
						lim = 0
					}
					n := 0
					for _, f := range st.take() {
						if f.Kind != tc.kind {
							continue
						}
						n++
						if f.Limit != lim {
							t.Errorf("the store was asked for %s with limit %d, want the page of %d", f.Kind, f.Limit, lim)
						}
					}
					if n != 1 {
						t.Errorf("%d lists of %s, want 1", n, tc.kind)
					}
				})
			}
		})
	}
}

// paging is the offset and limit of the page q asks for (page from 1, size 10 by default).
func paging(q url.Values) (offset, limit int) {
	page, size := 1, 10
	if v := q.Get("page"); v != "" {
		fmt.Sscan(v, &page)
	}
	if v := q.Get("size"); v != "" {
		fmt.Sscan(v, &size)
	}
	return (page - 1) * size, size
}
