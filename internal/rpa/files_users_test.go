package rpa

import (
	"bytes"
	"context"
	"crypto/rand"
	"net/url"
	"strconv"
	"testing"
)

func TestSharedFiles(t *testing.T) {
	forEachDriver(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		content := make([]byte, 300<<10)
		_, _ = rand.Read(content)
		content[0], content[1] = 0, '\r' // bytes a text path would mangle
		uid := strconv.FormatInt(e.adminID, 10)
		must(t, e.admin.Upload(ctx, "/oapi/v1/share/file", url.Values{"fileTag": {"a,b"}, "isOverwrite": {"no"}, "userId": {uid}}, "uploadFile", `D:\data\report.bin`, content, nil))
		got, err := e.admin.Download(ctx, "report.bin")
		must(t, err)
		if !bytes.Equal(got, content) {
			t.Fatalf("downloaded %d bytes differ from the %d uploaded", len(got), len(content))
		}
		wantCode(t, e.admin.Upload(ctx, "/oapi/v1/share/file", url.Values{"userId": {uid}}, "uploadFile", "report.bin", []byte("x"), nil), CodeExists)
		must(t, e.admin.Upload(ctx, "/oapi/v1/share/file", url.Values{"isOverwrite": {"yes"}, "userId": {uid}}, "uploadFile", "report.bin", []byte("second"), nil))
		got, err = e.admin.Download(ctx, "report.bin")
		must(t, err)
		if string(got) != "second" {
			t.Fatalf("after overwrite: %q", got)
		}
		wantCode(t, e.admin.Upload(ctx, "/oapi/v1/share/file", url.Values{"userId": {uid}}, "uploadFile", "big.bin", make([]byte, 2<<20), nil), CodeFileTooLarge)
		_, err = e.admin.Download(ctx, "missing.txt")
		wantCode(t, err, CodeFileNotFound)

		var list Page[map[string]any]
		must(t, e.admin.Get(ctx, "/oapi/v1/share/file", url.Values{"page": {"1"}, "size": {"10"}}, &list))
		if list.Total != 1 || list.Items[0]["fileName"] != "report.bin" || list.Items[0]["fileSize"] != "6B" {
			t.Fatalf("files %+v", list)
		}
		must(t, e.admin.Send(ctx, "DELETE", "/oapi/v1/share/file", map[string]any{"id": list.Items[0]["fileId"]}, nil))
		_, err = e.admin.Download(ctx, "report.bin")
		wantCode(t, err, CodeFileNotFound)
	})
}

func TestUsersAndDepartments(t *testing.T) {
	forEachDriver(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		var roles Page[map[string]any]
		must(t, e.admin.Get(ctx, "/oapi/v1/role/list", url.Values{"page": {"1"}, "size": {"2"}}, &roles))
		if roles.Total != 4 || len(roles.Items) != 2 || roles.Items[0]["roleName"] != "管理者" {
			t.Fatalf("roles %+v", roles)
		}
		devRole := roles.Items[1]["id"]
		// Departments: -001- (root) > -001-js- > -001-js-nj-, and a sibling -001-zj-.
		for _, o := range []map[string]any{
			{"curCode": "js", "curName": "江苏", "orgPos": 2},
			{"curCode": "zj", "curName": "浙江", "orgPos": 1},
			{"curCode": "nj", "curName": "南京", "parentOrgCode": "-001-js-"},
		} {
			must(t, e.admin.SendForm(ctx, "POST", "/oapi/v1/orgDef/addOrg", toForm(o), nil))
		}
		var orgs Page[map[string]any]
		must(t, e.admin.Get(ctx, "/oapi/v1/orgDef/list", nil, &orgs))
		var codes []any
		for _, o := range orgs.Items {
			codes = append(codes, o["orgCode"])
		}
		if len(codes) != 4 || codes[1] != "-001-zj-" || codes[2] != "-001-js-" || codes[3] != "-001-js-nj-" || orgs.Items[3]["orgName"] != "-acme-江苏-南京-" {
			t.Fatalf("department order %v / %+v", codes, orgs.Items)
		}
		// A developer of 江苏 sees 江苏 and 南京 only, and may not manage users.
		must(t, e.admin.SendForm(ctx, "POST", "/oapi/v1/user", url.Values{"userName": {"dev1"}, "roleId": {toString(devRole)},
			"orgCode": {"-001-js-"}, "userPassword": {"dev1-pass"}, "email": {"Dev1@example.com"}}, nil))
		wantCode(t, e.admin.SendForm(ctx, "POST", "/oapi/v1/user", url.Values{"userName": {"dev1"}, "roleId": {toString(devRole)},
			"orgCode": {"-001-js-"}, "userPassword": {"dev1-pass"}}, nil), CodeExists)
		dev := e.login("dev1@example.com", "dev1-pass") // e-mail logins, case-insensitive
		must(t, dev.Get(ctx, "/oapi/v1/orgDef/list", nil, &orgs))
		if orgs.Total != 2 {
			t.Fatalf("developer sees %d departments", orgs.Total)
		}
		var users Page[map[string]any]
		must(t, dev.Get(ctx, "/oapi/v1/user", nil, &users))
		if users.Total != 1 || users.Items[0]["userName"] != "dev1" || users.Items[0]["orgName"] != "-acme-江苏-" {
			t.Fatalf("developer sees users %+v", users)
		}
		wantCode(t, dev.SendForm(ctx, "POST", "/oapi/v1/user", url.Values{"userName": {"x1"}, "roleId": {toString(devRole)},
			"orgCode": {"-001-js-"}, "userPassword": {"xxxxxx"}}, nil), CodeForbidden)
		wantCode(t, dev.Send(ctx, "POST", "/oapi/v1/orgDef/addOrg", map[string]any{"curCode": "x", "curName": "x"}, nil), CodeForbidden)
		// Password change needs the old password.
		id := users.Items[0]["id"]
		wantCode(t, dev.Send(ctx, "PUT", "/oapi/v1/user", map[string]any{"id": id, "lodePass": "nope", "newPass": "dev1-new"}, nil), CodePasswordWrong)
		must(t, dev.Send(ctx, "PUT", "/oapi/v1/user", map[string]any{"id": id, "lodePass": "dev1-pass", "newPass": "dev1-new"}, nil))
		wantCode(t, e.client().Login(ctx, "dev1", "dev1-pass"), CodeLoginFailed)
		e.login("dev1", "dev1-new")
		// A department with users or children stays; an empty one goes.
		jsID := orgs.Items[0]["id"]
		wantCode(t, e.admin.Send(ctx, "DELETE", "/oapi/v1/orgDef/delOrgDef", map[string]any{"id": jsID}, nil), CodeStateConflict)
		must(t, e.admin.Send(ctx, "PUT", "/oapi/v1/orgDef/editOrgDef", map[string]any{"id": jsID, "curName": "苏"}, nil))
		must(t, e.admin.Get(ctx, "/oapi/v1/orgDef/list", nil, &orgs))
		if orgs.Items[3]["orgName"] != "-acme-苏-南京-" {
			t.Fatalf("rename did not reach the child: %+v", orgs.Items[3])
		}
		must(t, e.admin.Send(ctx, "DELETE", "/oapi/v1/user", map[string]any{"ids": id}, nil))
		wantCode(t, dev.Get(ctx, "/oapi/v1/user", nil, nil), CodeTokenInvalid)
		must(t, e.admin.Send(ctx, "DELETE", "/oapi/v1/orgDef/delOrgDef", map[string]any{"id": orgs.Items[3]["id"]}, nil))
	})
}

func toForm(m map[string]any) url.Values {
	v := url.Values{}
	for k, x := range m {
		v.Set(k, toString(x))
	}
	return v
}

func toString(x any) string {
	switch v := x.(type) {
	case string:
		return v
	case float64:
		return idString(int64(v))
	case int:
		return idString(int64(v))
	}
	return ""
}
