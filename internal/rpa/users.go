package rpa

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"taskcenter/internal/auth"
	"taskcenter/internal/facade"
	"taskcenter/internal/store"
)

// Limits the document does not print; docs/compat/rpa.md lists them.
const (
	maxUserName  = 50
	maxUserAlias = 50
	maxDesc      = 200
	minPassword  = 6
	maxPassword  = 64
	maxCurCode   = 5  // printed
	maxCurName   = 30 // printed
	maxEmail     = 100
	maxPhone     = 30
)

var (
	userNameRE = regexp.MustCompile(`^[\p{L}\p{N}_.@-]+$`)
	curCodeRE  = regexp.MustCompile(`^[A-Za-z0-9_]+$`)
)

// BootstrapResult names what Bootstrap created.
type BootstrapResult struct {
	AdminUserID int64
	RootOrgCode string
	RoleIDs     []int64
}

// Bootstrap prepares an account for the RPA API: the default roles, a root department "-001-" named
// after the account, and an administrator user. It returns store.ErrConflict (wrapped) when the
// account is already set up. The admin command and tests call it; so does the first login of an
// RPA credential made by the admin command.
func (a *API) Bootstrap(ctx context.Context, accountID int64, adminUser, adminPassword string) (BootstrapResult, error) {
	if err := validUserName(adminUser); err != nil {
		return BootstrapResult{}, err
	}
	if err := validPassword(adminPassword); err != nil {
		return BootstrapResult{}, err
	}
	// Hashed before the transaction: bcrypt's time should not hold the database's writer.
	hash, err := auth.HashPassword(adminPassword)
	if err != nil {
		return BootstrapResult{}, err
	}
	var res BootstrapResult
	// Roles, root department and administrator land together or not at all.
	err = a.st.InTx(ctx, func(tx store.Store) error {
		ta := *a
		ta.st = tx
		res, err = ta.bootstrap(ctx, accountID, adminUser, hash)
		return err
	})
	return res, err
}

func (a *API) bootstrap(ctx context.Context, accountID int64, adminUser string, hash []byte) (BootstrapResult, error) {
	acct, err := a.st.GetAccount(ctx, accountID)
	if err != nil {
		return BootstrapResult{}, fmt.Errorf("bootstrap rpa: %w", err)
	}
	if _, err := a.st.GetRecordByKey(ctx, accountID, recUser, adminUser); err == nil {
		return BootstrapResult{}, fmt.Errorf("bootstrap rpa: user %q: %w", adminUser, store.ErrConflict)
	}
	var res BootstrapResult
	roles, err := facade.ListDocs[roleDoc](ctx, a.st, accountID, recRole, -1)
	if err != nil {
		return res, err
	}
	if len(roles) == 0 {
		for _, d := range defaultRoles {
			r, err := a.put(ctx, store.Record{AccountID: accountID, Kind: recRole, Key: d.RoleName}, d)
			if err != nil {
				return res, err
			}
			res.RoleIDs = append(res.RoleIDs, r.ID)
		}
	} else {
		sort.Slice(roles, func(i, j int) bool { return roles[i].ID < roles[j].ID })
		for _, r := range roles {
			res.RoleIDs = append(res.RoleIDs, r.ID)
		}
	}
	res.RootOrgCode = "-001-"
	if _, err := a.st.GetRecordByKey(ctx, accountID, recOrg, res.RootOrgCode); errors.Is(err, store.ErrNotFound) {
		root := orgDoc{CurCode: "001", CurName: acct.Name, OrgCode: res.RootOrgCode, OrgName: "-" + acct.Name + "-", OrgSource: "system"}
		if _, err := a.put(ctx, store.Record{AccountID: accountID, Kind: recOrg, Key: root.OrgCode}, root); err != nil {
			return res, err
		}
	} else if err != nil {
		return res, fmt.Errorf("bootstrap rpa: %w", err)
	}
	u, err := a.createUser(ctx, accountID, userDoc{
		UserName: adminUser, UserAlias: adminUser, RoleID: res.RoleIDs[0], OrgCode: res.RootOrgCode, PwHash: hash,
		UserSource: "system",
	})
	if err != nil {
		return res, err
	}
	res.AdminUserID = u.ID
	return res, nil
}

func validUserName(s string) error {
	switch {
	case s == "":
		return fail(CodeParamMissing, "userName is required")
	case len([]rune(s)) > maxUserName:
		return fail(CodeParamTooLong, "userName is longer than %d characters", maxUserName)
	case !userNameRE.MatchString(s):
		return fail(CodeParamInvalid, "userName may hold letters, digits, _ . @ - only")
	}
	return nil
}

func validPassword(s string) error {
	switch {
	case s == "":
		return fail(CodeParamMissing, "password is required")
	case len([]rune(s)) < minPassword:
		return fail(CodeParamInvalid, "password is shorter than %d characters", minPassword)
	case len([]rune(s)) > maxPassword:
		return fail(CodeParamTooLong, "password is longer than %d characters", maxPassword)
	}
	return nil
}

// loginKeys are the login index keys of a user: its name, e-mail and phone.
func loginKeys(d userDoc) []string {
	keys := []string{"n:" + strings.ToLower(d.UserName)}
	if d.Email != "" {
		keys = append(keys, "e:"+strings.ToLower(d.Email))
	}
	if d.Phone != "" {
		keys = append(keys, "p:"+strings.ToLower(d.Phone))
	}
	return keys
}

// createUser writes the user and its login index entries; ErrConflict when a name is taken in the
// tenant.
func (a *API) createUser(ctx context.Context, account int64, d userDoc) (store.Record, error) {
	for _, k := range loginKeys(d) {
		if _, err := a.st.GetRecordByKey(ctx, account, recLogin, k); err == nil {
			return store.Record{}, fail(CodeExists, "%s is taken", k[2:])
		}
	}
	r, err := a.put(ctx, store.Record{AccountID: account, Kind: recUser, Key: d.UserName}, d)
	if err != nil {
		return store.Record{}, err
	}
	if err := a.syncLogins(ctx, account, r.ID, nil, d); err != nil {
		_ = a.st.DeleteRecord(ctx, r.ID)
		return store.Record{}, err
	}
	return r, nil
}

// syncLogins makes the login index match the user's new names.
func (a *API) syncLogins(ctx context.Context, account, userID int64, old *userDoc, d userDoc) error {
	want := map[string]bool{}
	for _, k := range loginKeys(d) {
		want[k] = true
	}
	if old != nil {
		for _, k := range loginKeys(*old) {
			if want[k] {
				delete(want, k)
				continue
			}
			if r, err := a.st.GetRecordByKey(ctx, account, recLogin, k); err == nil {
				if err := a.st.DeleteRecord(ctx, r.ID); err != nil {
					return fmt.Errorf("drop login %q: %w", k, err)
				}
			}
		}
	}
	for k := range want {
		if _, err := a.put(ctx, store.Record{AccountID: account, Kind: recLogin, Key: k}, loginDoc{UserID: userID}); err != nil {
			if errors.Is(err, store.ErrConflict) {
				return fail(CodeExists, "%s is taken", k[2:])
			}
			return err
		}
	}
	return nil
}

// orgNames maps department codes to their records, for names in lists.
func (a *API) orgs(ctx context.Context, account int64) (map[string]rec[orgDoc], error) {
	rs, err := facade.ListDocs[orgDoc](ctx, a.st, account, recOrg, -1)
	if err != nil {
		return nil, err
	}
	m := make(map[string]rec[orgDoc], len(rs))
	for _, r := range rs {
		m[r.Doc.OrgCode] = r
	}
	return m, nil
}

// resolveOrg reads a department parameter: a full code "-010-025-", or a department id. It must be
// in the caller's scope.
func (a *API) resolveOrg(ctx context.Context, c *caller, s string) (rec[orgDoc], error) {
	var o rec[orgDoc]
	var err error
	if strings.HasPrefix(s, "-") {
		o, err = facade.GetDocByKey[orgDoc](ctx, a.st, c.accountID, recOrg, s)
	} else if id, perr := strconv.ParseInt(s, 10, 64); perr == nil {
		o, err = facade.GetDoc[orgDoc](ctx, a.st, c.accountID, recOrg, id)
	} else {
		return o, fail(CodeParamInvalid, "orgCode %q is neither a department code nor an id", s)
	}
	if errors.Is(err, store.ErrNotFound) || (err == nil && !inScope(c.org(), o.Doc.OrgCode)) {
		return o, fail(CodeNotFound, "department %s", s)
	}
	return o, err
}

func (a *API) userItem(u rec[userDoc], roles map[int64]roleDoc, orgs map[string]rec[orgDoc]) map[string]any {
	d := u.Doc
	var lastLogin, pwdDate any
	if d.LastLoginTime != 0 {
		lastLogin = d.LastLoginTime
	}
	if d.PwdModifyDate != 0 {
		pwdDate = d.PwdModifyDate
	}
	return map[string]any{
		"id": u.ID, "createTime": ms(u.CreatedAt), "modifyTime": ms(u.UpdatedAt),
		"userName": d.UserName, "userAlias": d.UserAlias, "roleId": d.RoleID, "roleName": roles[d.RoleID].RoleName,
		"orgCode": d.OrgCode, "orgName": orgs[d.OrgCode].Doc.OrgName, "status": d.Status,
		"pwdModifyDate": pwdDate, "LastLoginTime": lastLogin, "description": d.Description,
		"userSource": d.UserSource, "loginSource": nil, "loginFailureTimes": nil, "handLock": false,
		"email": nilIfEmpty(d.Email), "phone": nilIfEmpty(d.Phone), "isReceMail": false,
		"isNeedModifyPwd": d.IsNeedModifyPwd, "administrators": roles[d.RoleID].Admin,
		"lodePass": nil, "newPass": nil,
	}
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func (a *API) roleMap(ctx context.Context, account int64) (map[int64]roleDoc, error) {
	rs, err := facade.ListDocs[roleDoc](ctx, a.st, account, recRole, -1)
	if err != nil {
		return nil, err
	}
	m := make(map[int64]roleDoc, len(rs))
	for _, r := range rs {
		m[r.ID] = r.Doc
	}
	return m, nil
}

// userList serves GET /oapi/v1/user: the users of the caller's department and below.
func (a *API) userList(ctx context.Context, c *call) (any, error) {
	name, err := c.p.Text("userName", false, maxUserName)
	if err != nil {
		return nil, err
	}
	off, lim, err := c.p.Paging("page", "size", 10, 1000)
	if err != nil {
		return nil, err
	}
	f := scopeFilter(c.caller.accountID, recUser, c.caller.org())
	f.NameContains, f.Offset, f.Limit = strings.ToLower(name), off, lim
	us, total, err := facade.ListDocsPage[userDoc](ctx, a.st, f)
	if err != nil {
		return nil, err
	}
	roles, err := a.roleMap(ctx, c.caller.accountID)
	if err != nil {
		return nil, err
	}
	orgs, err := a.orgs(ctx, c.caller.accountID)
	if err != nil {
		return nil, err
	}
	items := []map[string]any{}
	for _, u := range us {
		items = append(items, a.userItem(u, roles, orgs))
	}
	return facade.Page[map[string]any]{Total: total, Items: items}, nil
}

// userFields reads the fields shared by create and update.
func (a *API) userFields(ctx context.Context, c *call, d *userDoc, create bool) error {
	p := c.p
	var err error
	if create || p.Has("userName") {
		name, err := p.Text("userName", true, maxUserName)
		if err != nil {
			return err
		}
		if err := validUserName(name); err != nil {
			return err
		}
		d.UserName = name
	}
	if p.Has("userAlias") {
		if d.UserAlias, err = p.Text("userAlias", false, maxUserAlias); err != nil {
			return err
		}
	}
	if p.Has("description") {
		if d.Description, err = p.Text("description", false, maxDesc); err != nil {
			return err
		}
	}
	if p.Has("email") {
		if d.Email, err = p.Text("email", false, maxEmail); err != nil {
			return err
		}
		if d.Email != "" && !strings.Contains(d.Email, "@") {
			return fail(CodeParamInvalid, "email is not an address")
		}
	}
	if p.Has("phone") {
		if d.Phone, err = p.Text("phone", false, maxPhone); err != nil {
			return err
		}
	}
	if create || p.Has("roleId") {
		rid, err := p.Int("roleId", true, 1, 1<<62, 0)
		if err != nil {
			return err
		}
		role, err := facade.GetDoc[roleDoc](ctx, a.st, c.caller.accountID, recRole, rid)
		if errors.Is(err, store.ErrNotFound) {
			return fail(CodeNotFound, "role %d", rid)
		}
		if err != nil {
			return err
		}
		// Nobody hands out more power than they hold.
		if role.Doc.Admin && !c.caller.role.Admin {
			return fail(CodeForbidden, "only administrators grant the administrators' role")
		}
		d.RoleID = rid
	}
	if create || p.Has("orgCode") {
		code, err := p.Text("orgCode", true, 200)
		if err != nil {
			return err
		}
		o, err := a.resolveOrg(ctx, c.caller, code)
		if err != nil {
			return err
		}
		d.OrgCode = o.Doc.OrgCode
	}
	return nil
}

// userCreate serves POST /oapi/v1/user.
func (a *API) userCreate(ctx context.Context, c *call) (any, error) {
	if err := c.caller.require(permUser); err != nil {
		return nil, err
	}
	var d userDoc
	if err := a.userFields(ctx, c, &d, true); err != nil {
		return nil, err
	}
	pw, err := c.p.FirstText(true, 0, "userPassword", "password")
	if err != nil {
		return nil, err
	}
	if err := validPassword(pw); err != nil {
		return nil, err
	}
	if d.PwHash, err = auth.HashPassword(pw); err != nil {
		return nil, err
	}
	d.UserSource = "oapi"
	d.PwdModifyDate = a.now().UnixMilli()
	r, err := a.createUser(ctx, c.caller.accountID, d)
	if err != nil {
		return nil, err
	}
	return map[string]any{"id": r.ID}, nil
}

// userUpdate serves PUT /oapi/v1/user. A password change needs the old password (lodePass) with the
// new one (newPass), whoever asks.
func (a *API) userUpdate(ctx context.Context, c *call) (any, error) {
	id, err := c.p.Int("id", true, 1, 1<<62, 0)
	if err != nil {
		return nil, err
	}
	u, err := facade.GetDoc[userDoc](ctx, a.st, c.caller.accountID, recUser, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !inScope(c.caller.org(), u.Doc.OrgCode)) {
		return nil, fail(CodeNotFound, "user %d", id)
	}
	if err != nil {
		return nil, err
	}
	self := u.ID == c.caller.user.ID
	changesProfile := false
	for _, k := range []string{"userName", "userAlias", "roleId", "orgCode", "description", "email", "phone"} {
		if c.p.Has(k) {
			changesProfile = true
		}
	}
	if changesProfile && !c.caller.can(permUser) && !self {
		return nil, c.caller.require(permUser)
	}
	old := u.Doc
	d := u.Doc
	if err := a.userFields(ctx, c, &d, false); err != nil {
		return nil, err
	}
	if !c.caller.can(permUser) && (d.RoleID != old.RoleID || d.OrgCode != old.OrgCode) {
		return nil, fail(CodeForbidden, "only user managers change roles and departments")
	}
	newPass, err := c.p.Text("newPass", false, 0)
	if err != nil {
		return nil, err
	}
	if newPass != "" {
		if !self && !c.caller.can(permUser) {
			return nil, c.caller.require(permUser)
		}
		oldPass, err := c.p.Text("lodePass", true, 0)
		if err != nil {
			return nil, err
		}
		if !auth.CheckPassword(old.PwHash, oldPass) {
			return nil, fail(CodePasswordWrong, "")
		}
		if err := validPassword(newPass); err != nil {
			return nil, err
		}
		if d.PwHash, err = auth.HashPassword(newPass); err != nil {
			return nil, err
		}
		d.PwdModifyDate = a.now().UnixMilli()
		d.IsNeedModifyPwd = 0
	}
	if err := a.syncLogins(ctx, c.caller.accountID, u.ID, &old, d); err != nil {
		return nil, err
	}
	u.Key = d.UserName
	if _, err := a.put(ctx, u.Record, d); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return nil, fail(CodeExists, "user %s", d.UserName)
		}
		return nil, err
	}
	return nil, nil
}

// userDelete serves DELETE /oapi/v1/user {"ids": 1} (also a list).
func (a *API) userDelete(ctx context.Context, c *call) (any, error) {
	if err := c.caller.require(permUser); err != nil {
		return nil, err
	}
	ids, err := c.p.IDs("ids", false)
	if err != nil {
		return nil, err
	}
	if len(ids) == 0 {
		if ids, err = c.p.IDs("id", true); err != nil {
			return nil, err
		}
	}
	var us []rec[userDoc]
	for _, id := range ids {
		if id == c.caller.user.ID {
			return nil, fail(CodeStateConflict, "you cannot delete yourself")
		}
		u, err := facade.GetDoc[userDoc](ctx, a.st, c.caller.accountID, recUser, id)
		if errors.Is(err, store.ErrNotFound) || (err == nil && !inScope(c.caller.org(), u.Doc.OrgCode)) {
			return nil, fail(CodeNotFound, "user %d", id)
		}
		if err != nil {
			return nil, err
		}
		us = append(us, u)
	}
	for _, u := range us {
		for _, k := range loginKeys(u.Doc) {
			if r, err := a.st.GetRecordByKey(ctx, c.caller.accountID, recLogin, k); err == nil {
				_ = a.st.DeleteRecord(ctx, r.ID)
			}
		}
		// The user's tokens die with it: every request loads the user behind its token.
		err := a.st.DeleteRecord(ctx, u.ID)
		a.dropCallers(u.AccountID)
		if err != nil {
			return nil, fmt.Errorf("delete user %d: %w", u.ID, err)
		}
	}
	return nil, nil
}

// roleList serves GET /oapi/v1/role/list.
func (a *API) roleList(ctx context.Context, c *call) (any, error) {
	name, err := c.p.Text("roleName", false, 50)
	if err != nil {
		return nil, err
	}
	off, lim, err := c.p.Paging("page", "size", 10, 1000)
	if err != nil {
		return nil, err
	}
	rs, total, err := facade.ListDocsPage[roleDoc](ctx, a.st, store.RecordFilter{AccountIDs: []int64{c.caller.accountID},
		Kind: recRole, ParentID: -1, NameContains: name, Offset: off, Limit: lim})
	if err != nil {
		return nil, err
	}
	items := []map[string]any{}
	for _, r := range rs {
		items = append(items, map[string]any{
			"id": r.ID, "roleName": r.Doc.RoleName, "description": nilIfEmpty(r.Doc.Description),
			"createTime": ms(r.CreatedAt), "modifyTime": ms(r.UpdatedAt),
		})
	}
	return facade.Page[map[string]any]{Total: total, Items: items}, nil
}
