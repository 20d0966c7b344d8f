package rpa

import (
	"context"
	"strconv"
	"strings"

	"taskcenter/internal/facade"
	"taskcenter/internal/store"
)

// Record kinds this facade keeps. Each is scoped to the tenant's account.
const (
	recUser     = "rpa.user"     // key: user name
	recLogin    = "rpa.login"    // key: "n:"/"e:"/"p:" + name, e-mail or phone; data: {"userId":N}
	recRole     = "rpa.role"     // key: role name
	recOrg      = "rpa.org"      // key: the hierarchical code "-010-025-"
	recAsset    = "rpa.asset"    // key: name + "|" + robot ("all" for the global value)
	recVlog     = "rpa.vlog"     // parent: the asset row
	recQueue    = "rpa.queue"    // key: queue name
	recFile     = "rpa.file"     // key: file name
	recRobot    = "rpa.robot"    // key: worker id; alias, department, licence
	recProcess  = "rpa.process"  // key: process code
	recVersion  = "rpa.version"  // key: code + "|" + version; parent: the process
	recSchedule = "rpa.schedule" // key: engine schedule id
)

// Permissions a role grants. Reading lists needs none: what a caller sees is bounded by its
// department instead.
const (
	permUser     = "user"     // create, edit, delete users
	permOrg      = "org"      // add, edit, delete departments
	permLicence  = "licence"  // issue and revoke robot licences, edit robots and studios
	permProcess  = "process"  // publish, release and delete processes
	permSchedule = "schedule" // create, edit, enable, disable, delete schedules
	permJob      = "job"      // run, retry, stop, delete jobs
	permAsset    = "asset"    // create, edit, delete assets
	permQueue    = "queue"    // create, delete, clear queues; add, pop, update, delete items
	permFile     = "file"     // upload and delete shared files
)

var allPerms = []string{permUser, permOrg, permLicence, permProcess, permSchedule, permJob, permAsset, permQueue, permFile}

// defaultRoles are created for every tenant by Bootstrap, in this order (so the first is the
// administrators' role).
var defaultRoles = []roleDoc{
	{RoleName: "管理者", Description: "administrators: everything in their department and below", Perms: allPerms, Admin: true},
	{RoleName: "开发者", Description: "developers: processes, schedules, jobs, assets, queues, files",
		Perms: []string{permProcess, permSchedule, permJob, permAsset, permQueue, permFile}},
	{RoleName: "操作员", Description: "operators: run jobs, work queues, assets and files",
		Perms: []string{permJob, permAsset, permQueue, permFile}},
	{RoleName: "审计员", Description: "auditors: read only"},
}

type userDoc struct {
	UserName        string `json:"userName"`
	UserAlias       string `json:"userAlias,omitempty"`
	RoleID          int64  `json:"roleId"`
	OrgCode         string `json:"orgCode"`
	PwHash          []byte `json:"pwHash"`
	Description     string `json:"description,omitempty"`
	Email           string `json:"email,omitempty"`
	Phone           string `json:"phone,omitempty"`
	Status          int    `json:"status"`
	UserSource      string `json:"userSource,omitempty"`
	IsNeedModifyPwd int    `json:"isNeedModifyPwd"`
	PwdModifyDate   int64  `json:"pwdModifyDate,omitempty"`
	LastLoginTime   int64  `json:"lastLoginTime,omitempty"`
}

// A user is listed within the caller's department and matched by name case-insensitively.
func (d userDoc) RecordScope() string { return d.OrgCode }
func (d userDoc) RecordName() string  { return strings.ToLower(d.UserName) }

type roleDoc struct {
	RoleName    string   `json:"roleName"`
	Description string   `json:"description,omitempty"`
	Perms       []string `json:"perms"`
	Admin       bool     `json:"admin,omitempty"`
}

// A role has no department; its list matches names as written.
func (d roleDoc) RecordScope() string { return "" }
func (d roleDoc) RecordName() string  { return d.RoleName }

type orgDoc struct {
	CurCode     string `json:"curCode"`
	CurName     string `json:"curName"`
	OrgCode     string `json:"orgCode"`
	OrgName     string `json:"orgName"`
	ParentID    int64  `json:"parentOrgId"`
	ParentCode  string `json:"parentOrgCode"`
	OrgPos      int64  `json:"orgPos"`
	OrgSource   string `json:"orgSource"`
	Description string `json:"description"`
}

type loginDoc struct {
	UserID int64 `json:"userId"`
}

// rec pairs a record with its decoded document. Lists filter and page in SQL on the record's scope
// and name (facade.Indexed) and its document's fields, but for departments (a tree walk) and robots
// (workers joined with their documents); see docs/architecture.md.
type rec[T any] = facade.Doc[T]

// put encodes doc into r and writes it (ID 0 inserts), returning the stored record.
// It drops the account's cached callers when the record is one they are built from.
func (a *API) put(ctx context.Context, r store.Record, doc any) (store.Record, error) {
	out, err := facade.PutDoc(ctx, a.st, r, doc, a.now())
	a.dropCallersFor(r.AccountID, r.Kind) // also after a failed write: it may have landed
	return out, err
}

// idString renders an id the way the document shows ids inside strings.
func idString(id int64) string { return strconv.FormatInt(id, 10) }

// scopeFilter is the store filter selecting what inScope lets a caller of department callerOrg see.
func scopeFilter(account int64, kind, callerOrg string) store.RecordFilter {
	return store.RecordFilter{AccountIDs: []int64{account}, Kind: kind, ParentID: -1,
		ScopePrefix: callerOrg, OrUnscoped: orgDepth(callerOrg) <= 1}
}

// inScope reports whether an object of department objOrg is visible to a caller of department
// callerOrg: objects of the caller's department and the departments below it. An object without a
// department belongs to the tenant as a whole and is visible to callers at the top level only.
func inScope(callerOrg, objOrg string) bool {
	if objOrg == "" {
		return orgDepth(callerOrg) <= 1
	}
	return strings.HasPrefix(objOrg, callerOrg)
}

// orgDepth counts the levels of a hierarchical code: "-010-" is 1, "-010-025-" is 2.
func orgDepth(code string) int {
	return strings.Count(strings.Trim(code, "-"), "-") + 1
}
