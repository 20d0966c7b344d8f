package projects

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"taskcenter/internal/auth"
	"taskcenter/internal/store"
)

// badInputWorld is an env with two template projects (one without a template center), a project of
// each, and another account with a project of its own.
func badInputWorld(t *testing.T, e *env) {
	ctx := context.Background()
	files := map[string]string{"a.txt": "{{.Project.ID}}"}
	e.native("PUT", "/api/v1/projects/template-projects/kgm-template", templateProjectDoc("", map[string]any{}, files), 200)
	plain := templateProjectDoc("", map[string]any{}, files)
	plain["template_center"] = false
	e.native("PUT", "/api/v1/projects/template-projects/plain-template", plain, 200)
	e.kms.call(t, "POST", "/service/createExtendedProject", map[string]any{"from": "kgm-template", "id": "game1", "name": "Game"}).ok(t)
	e.kms.call(t, "POST", "/service/createExtendedProject", map[string]any{"from": "plain-template", "id": "p1", "name": "Plain"}).ok(t)

	// Another tenant: its template project othr-template and project other-othr.
	acct, err := e.st.CreateAccount(ctx, store.Account{Name: "rival", Role: store.RoleUser})
	if err != nil {
		t.Fatal(err)
	}
	key, err := e.api.IssueKey(ctx, acct.ID, "rivalbot")
	if err != nil {
		t.Fatal(err)
	}
	rival := &client{base: e.srv.URL, user: key["x-kms-user"], token: key["x-kms-token"]}
	admin, _, err := auth.IssueToken(ctx, e.st, acct.ID, store.CredAdmin, "rival", e.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	saved := e.admin
	e.admin = admin
	e.native("PUT", "/api/v1/projects/template-projects/othr-template", templateProjectDoc("", map[string]any{}, files), 200)
	e.admin = saved
	rival.call(t, "POST", "/service/createExtendedProject", map[string]any{"from": "othr-template", "id": "other", "name": "Other"}).ok(t)
}

// TestBadInputs sends every bad input of the document's tables to every call and checks the HTTP
// status and err the tables give, and that nothing was created or changed.
func TestBadInputs(t *testing.T) {
	forEachStore(t, func(t *testing.T, e *env) {
		badInputWorld(t, e)
		long := strings.Repeat("长", 33)
		type tc struct {
			name         string
			method, path string
			body         any
			status, err  int
			desc         string // a part of desc, when it must say why
		}
		create := func(name string, body map[string]any, status, err int, desc string) tc {
			full := map[string]any{"from": "kgm-template", "id": "newone", "name": "New one"}
			for k, v := range body {
				if v == nil {
					delete(full, k)
				} else {
					full[k] = v
				}
			}
			return tc{"create/" + name, "POST", "/service/createExtendedProject", full, status, err, desc}
		}
		update := func(name string, body map[string]any, status, err int, desc string) tc {
			full := map[string]any{"id": "game1-kgm"}
			for k, v := range body {
				if v == nil {
					delete(full, k)
				} else {
					full[k] = v
				}
			}
			return tc{"update/" + name, "POST", "/service/updateExtendedProject", full, status, err, desc}
		}
		add := func(name string, q url.Values, status, err int, desc string) tc {
			full := url.Values{"project": {"game1-kgm"}, "users": {"u@kingsoft.com"}, "roles": {"运营"}}
			for k, v := range q {
				if v[0] == "<absent>" {
					full.Del(k)
				} else {
					full[k] = v
				}
			}
			return tc{"add/" + name, "POST", "/service/addExtendedProjectUsers?" + full.Encode(), nil, status, err, desc}
		}
		cases := []tc{
			create("from missing", map[string]any{"from": nil}, 400, 1001, "from"),
			create("from empty", map[string]any{"from": ""}, 400, 1001, "from"),
			create("id missing", map[string]any{"id": nil}, 400, 1001, "id"),
			create("name missing", map[string]any{"name": nil}, 400, 1001, "name"),
			create("from without -template", map[string]any{"from": "kgm"}, 400, 1002, "from"),
			create("from in capitals", map[string]any{"from": "KGM-template"}, 400, 1002, "from"),
			create("from an object", map[string]any{"from": map[string]any{}}, 400, 1002, "from"),
			create("id in capitals", map[string]any{"id": "Game2"}, 400, 1002, "id"),
			create("id starts with a digit", map[string]any{"id": "2game"}, 400, 1002, "id"),
			create("id a number", map[string]any{"id": 12}, 400, 1002, "id"),
			create("id one character", map[string]any{"id": "g"}, 400, 1002, "id"),
			create("id 33 characters", map[string]any{"id": "g" + strings.Repeat("a", 32)}, 400, 1002, "id"),
			create("id with underscore", map[string]any{"id": "game_2"}, 400, 1002, "id"),
			create("id with a dot", map[string]any{"id": "game.2"}, 400, 1002, "id"),
			create("name one character", map[string]any{"name": "长"}, 400, 1002, "name"),
			create("name 33 characters", map[string]any{"name": long}, 400, 1002, "name"),
			create("name a list", map[string]any{"name": []any{"a", "b"}}, 400, 1002, "name"),
			create("admins not an identity", map[string]any{"admins": "mc"}, 400, 1002, "admins"),
			create("admins one bad of two", map[string]any{"admins": "mc@kingsoft.com,bad@"}, 400, 1002, "admins"),
			create("admins with a space", map[string]any{"admins": "m c@kingsoft.com"}, 400, 1002, "admins"),
			create("timeZone unknown", map[string]any{"timeZone": "Mars/Olympus"}, 400, 1002, "timeZone"),
			create("timeZone Local", map[string]any{"timeZone": "Local"}, 400, 1002, "timeZone"),
			create("desc with NUL", map[string]any{"desc": "a\x00b"}, 400, 1002, "desc"),
			create("appid with NUL", map[string]any{"appid": "a\x00b"}, 400, 1002, "appid"),
			{"create/body not JSON", "POST", "/service/createExtendedProject", `{"from":`, 400, 1002, "JSON"},
			{"create/body an array", "POST", "/service/createExtendedProject", `[]`, 400, 1002, "JSON"},
			{"create/body too large", "POST", "/service/createExtendedProject", `{"desc":"` + strings.Repeat("x", maxBodyBytes) + `"}`, 400, 1002, "larger"},
			create("unknown template project", map[string]any{"from": "nope-template"}, 500, 500, "nope-template does not exist"),
			create("another tenant's template project", map[string]any{"from": "othr-template"}, 500, 500, "othr-template does not exist"),
			create("duplicate id", map[string]any{"id": "game1"}, 500, 500, "game1-kgm already exists"),

			update("id missing", map[string]any{"id": nil, "name": "Renamed"}, 400, 1001, "id"),
			update("id malformed", map[string]any{"id": "Game 1"}, 400, 1002, "id"),
			update("id without its template", map[string]any{"id": "game1"}, 400, 1002, "id"),
			update("unknown project", map[string]any{"id": "zzz-kgm"}, 500, 500, "zzz-kgm does not exist"),
			update("another tenant's project", map[string]any{"id": "other-othr", "name": "Mine now"}, 500, 500, "other-othr does not exist"),
			update("name one character", map[string]any{"name": "x"}, 400, 1002, "name"),
			update("name 33 characters", map[string]any{"name": long}, 400, 1002, "name"),
			update("append 2", map[string]any{"admins": "a@kingsoft.com", "append": 2}, 400, 1002, "append"),
			update("append yes", map[string]any{"admins": "a@kingsoft.com", "append": "yes"}, 400, 1002, "append"),
			update("append a list", map[string]any{"admins": "a@kingsoft.com", "append": []any{1}}, 400, 1002, "append"),
			update("admins not an identity", map[string]any{"admins": "root"}, 400, 1002, "admins"),
			update("timeZone unknown", map[string]any{"timeZone": "Etc/GMT+99"}, 400, 1002, "timeZone"),
			update("desc with NUL", map[string]any{"desc": "\x00"}, 400, 1002, "desc"),
			{"update/body not JSON", "POST", "/service/updateExtendedProject", `nope`, 400, 1002, "JSON"},

			{"roles/unknown project", "GET", "/service/readExtendedProjectRoles/zzz-kgm", nil, 500, 500, "zzz-kgm does not exist"},
			{"roles/another tenant's project", "GET", "/service/readExtendedProjectRoles/other-othr", nil, 500, 500, "does not exist"},
			{"roles/malformed name", "GET", "/service/readExtendedProjectRoles/BAD", nil, 500, 500, "not a project name"},
			{"users/unknown project", "GET", "/service/readExtendedProjectUsers/zzz-kgm", nil, 500, 500, "zzz-kgm does not exist"},
			{"users/another tenant's project", "GET", "/service/readExtendedProjectUsers/other-othr", nil, 500, 500, "does not exist"},
			{"users/malformed name", "GET", "/service/readExtendedProjectUsers/a%00b-kgm", nil, 500, 500, "not a project name"},

			add("project missing", url.Values{"project": {"<absent>"}}, 500, 500, "project"),
			add("users missing", url.Values{"users": {"<absent>"}}, 500, 500, "users"),
			add("roles missing", url.Values{"roles": {"<absent>"}}, 500, 500, "roles"),
			add("roles only commas", url.Values{"roles": {",,"}}, 500, 500, "roles"),
			add("user not an identity", url.Values{"users": {"u@kingsoft.com,nobody"}}, 500, 500, "users"),
			add("role not offered", url.Values{"roles": {"运营,hacker"}}, 500, 500, "role hacker is not offered"),
			add("unknown project", url.Values{"project": {"zzz-kgm"}}, 500, 500, "zzz-kgm does not exist"),
			add("another tenant's project", url.Values{"project": {"other-othr"}}, 500, 500, "does not exist"),
			add("project malformed", url.Values{"project": {"game1"}}, 500, 500, "project"),
			{"add/body not JSON", "POST", "/service/addExtendedProjectUsers", `{{`, 500, 500, "JSON"},

			{"trigger/unknown template", "GET", "/service/trigger/template/game1-kgm.nope", nil, 404, 404, ""},
			{"trigger/unknown project", "GET", "/service/trigger/template/zzz-kgm.site", nil, 404, 404, ""},
			{"trigger/a template no project has", "POST", "/service/trigger/template/nosuch", nil, 404, 404, ""},
			{"trigger/no template center", "GET", "/service/trigger/template/p1-plain.site", nil, 404, 404, "template center"},
			{"trigger/another tenant's template", "POST", "/service/trigger/template/other-othr.site", nil, 404, 404, ""},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				r := e.kms.call(t, c.method, c.path, c.body)
				if r.Status != c.status || r.Err != c.err || !strings.Contains(r.Desc, c.desc) {
					t.Fatalf("answer %d %s, want %d/%d with %q", r.Status, r.Raw, c.status, c.err, c.desc)
				}
				if r.Data != nil {
					t.Fatalf("a failure carries data: %s", r.Raw)
				}
			})
		}
		// Nothing was created or changed by the refused calls.
		r := e.kms.call(t, "GET", "/service/readExtendedProjectUsers/game1-kgm", nil).ok(t)
		if string(r.Data) != "{}" {
			t.Fatalf("members after refused calls: %s", r.Raw)
		}
		if r := e.kms.call(t, "GET", "/service/readExtendedProjectRoles/newone-kgm", nil); r.Err != 500 {
			t.Fatalf("a refused create left a project: %s", r.Raw)
		}
		if got := e.history("game1-kgm.site"); len(got) != 0 {
			t.Fatalf("refused triggers queued %d renders", len(got))
		}
	})
}

// TestServiceTokens: 401/401 for a token that is missing, wrong, another user's, expired, revoked
// or without the permission the call needs, on every call.
func TestServiceTokens(t *testing.T) {
	forEachStore(t, func(t *testing.T, e *env) {
		badInputWorld(t, e)
		ctx := context.Background()
		calls := []struct{ method, path string }{
			{"POST", "/service/createExtendedProject"},
			{"POST", "/service/updateExtendedProject"},
			{"GET", "/service/readExtendedProjectRoles/game1-kgm"},
			{"GET", "/service/readExtendedProjectUsers/game1-kgm"},
			{"POST", "/service/addExtendedProjectUsers"},
			{"GET", "/service/trigger/template/game1-kgm.site"},
			{"POST", "/service/trigger/template/game1-kgm.site"},
		}
		good := *e.kms
		short, err := e.api.issueToken(ctx, e.account, "shortlived", scopeWrite, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		revoked, err := e.api.issueToken(ctx, e.account, "gone", scopeWrite, 0)
		if err != nil {
			t.Fatal(err)
		}
		// Used once (and so cached) before it is revoked: the revocation must still show at once.
		(&client{base: good.base, user: revoked.User, token: revoked.Token}).call(t, "GET", "/service/readExtendedProjectRoles/game1-kgm", nil).ok(t)
		e.native("DELETE", fmt.Sprintf("/api/v1/projects/tokens/%d", revoked.ID), nil, 204)
		reader, err := e.api.issueToken(ctx, e.account, "reader", scopeRead, 0)
		if err != nil {
			t.Fatal(err)
		}
		tokenID, _, _ := strings.Cut(good.token, ".")
		e.clock.Advance(2 * time.Hour) // past the short token's life
		clients := []struct {
			name    string
			c       client
			readsOK bool // the read calls accept it
		}{
			{"no headers", client{base: good.base}, false},
			{"user only", client{base: good.base, user: good.user}, false},
			{"token only", client{base: good.base, token: good.token}, false},
			{"wrong secret", client{base: good.base, user: good.user, token: tokenID + ".0000"}, false},
			{"token of another user", client{base: good.base, user: "rivalbot", token: good.token}, false},
			{"user in capitals", client{base: good.base, user: strings.ToUpper(good.user), token: good.token}, false},
			{"token without id", client{base: good.base, user: good.user, token: "nodot"}, false},
			{"expired", client{base: good.base, user: short.User, token: short.Token}, false},
			{"revoked", client{base: good.base, user: revoked.User, token: revoked.Token}, false},
			{"read scope", client{base: good.base, user: reader.User, token: reader.Token}, true},
		}
		for _, cl := range clients {
			for _, call := range calls {
				t.Run(cl.name+"/"+call.method+call.path, func(t *testing.T) {
					r := cl.c.call(t, call.method, call.path, nil)
					if cl.readsOK && call.method == "GET" && strings.HasPrefix(call.path, "/service/read") {
						r.ok(t)
						return
					}
					if r.Status != 401 || r.Err != 401 || r.Data != nil {
						t.Fatalf("answer %d %s, want 401/401", r.Status, r.Raw)
					}
				})
			}
		}
		// The good token still works, and the tokens are listed without their secrets.
		good.call(t, "GET", "/service/readExtendedProjectRoles/game1-kgm", nil).ok(t)
		list := string(e.native("GET", "/api/v1/projects/tokens", nil, 200))
		if !strings.Contains(list, `"x-kms-user":"reader"`) || strings.Contains(list, reader.Token) || !strings.Contains(list, "revoked_at") {
			t.Fatalf("token list %s", list)
		}
		// Another account's token cannot be revoked from here.
		e.native("DELETE", "/api/v1/projects/tokens/999999", nil, 404)
	})
}
