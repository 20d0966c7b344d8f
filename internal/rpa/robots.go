package rpa

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"taskcenter/internal/auth"
	"taskcenter/internal/facade"
	"taskcenter/internal/store"
)

// robotDoc is what the facade keeps about a robot or studio beside the worker row: its alias,
// department and licence.
type robotDoc struct {
	Alias         string `json:"alias,omitempty"`
	OrgCode       string `json:"orgCode,omitempty"`
	Description   string `json:"description,omitempty"`
	LicSn         string `json:"licSn,omitempty"`
	LicRevoked    bool   `json:"licRevoked,omitempty"`
	LicDateExpiry int64  `json:"licDateExpiry,omitempty"` // ms; 0: no expiry
	// LicMachineCode is the machine code the robot registered with when the licence was issued
	// ("" when it gave none): a robot that comes back with another one holds a licence for another
	// machine (licStatus 2).
	LicMachineCode string `json:"licMachineCode,omitempty"`
	ModifyTime     int64  `json:"modifyTime,omitempty"`
}

// workerInfo reads the agent's registration info; the names cover the agent's own and an RPA
// client's spellings.
type workerInfo struct {
	Host        string            `json:"host"`
	OS          string            `json:"os"`
	IP          string            `json:"ip"`
	User        string            `json:"user"`
	Domain      string            `json:"domain"`
	MachineCode string            `json:"machineCode"`
	Version     string            `json:"version"`
	Software    map[string]string `json:"software"`
	RDPPort     int               `json:"rdpPort"`
}

// Licence statuses of the document: 0 valid, 1 invalid, 2 wrong machine code, 3 expired.
func (d robotDoc) licStatus(w store.Worker, now time.Time) any {
	switch {
	case d.LicSn == "":
		return nil
	case d.LicRevoked:
		return 1
	case d.LicMachineCode != "" && machineCode(w) != d.LicMachineCode:
		return 2
	case d.LicDateExpiry != 0 && now.UnixMilli() > d.LicDateExpiry:
		return 3
	}
	return 0
}

// machineCode is the machine code the worker registered with last.
func machineCode(w store.Worker) string {
	var info workerInfo
	_ = json.Unmarshal(w.Info, &info)
	return info.MachineCode
}

// licenceSep joins the licence number and the machine code in the engine's copy of a licence.
const licenceSep = "@"

// engineLicence is the engine's copy of a licence: its number, bound to the machine code.
func engineLicence(sn, machine string) string {
	if machine == "" {
		return sn
	}
	return sn + licenceSep + machine
}

// licenceOnItsMachine is the engine's licence check for robots and studios: a licence issued for a
// machine code holds only while the worker registers with that code.
func licenceOnItsMachine(w store.Worker) bool {
	_, machine, bound := strings.Cut(w.Licence, licenceSep)
	return !bound || machine == machineCode(w)
}

// dataStatus is the document's robot state: unbound (no valid licence), offline (no heartbeat for
// two minutes), busy, free.
func (a *API) dataStatus(w store.Worker, d robotDoc, now time.Time) string {
	switch {
	case d.licStatus(w, now) != 0:
		return "unbound"
	case w.Status == store.WorkerOffline || now.Sub(w.LastHeartbeat) > offlineAfter:
		return "offline"
	case w.Status == store.WorkerBusy:
		return "busy"
	}
	return "free"
}

type robotRow struct {
	w   store.Worker
	doc rec[robotDoc]
}

// robots lists the workers of kind visible to the account: its own and the shared ones, within the
// caller's department (a robot without a department belongs to the tenant's top level).
func (a *API) robots(ctx context.Context, c *caller, kind string) ([]robotRow, error) {
	ws, err := a.st.ListWorkers(ctx, kind)
	if err != nil {
		return nil, err
	}
	docs, err := facade.ListDocs[robotDoc](ctx, a.st, c.accountID, recRobot, -1)
	if err != nil {
		return nil, err
	}
	byKey := map[string]rec[robotDoc]{}
	for _, d := range docs {
		byKey[d.Key] = d
	}
	var out []robotRow
	for _, w := range ws {
		if w.AccountID != 0 && w.AccountID != c.accountID {
			continue
		}
		d := byKey[idString(w.ID)]
		if !inScope(c.org(), d.Doc.OrgCode) {
			continue
		}
		out = append(out, robotRow{w: w, doc: d})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].w.ID < out[j].w.ID })
	return out, nil
}

func (a *API) robotAliases(ctx context.Context, account int64) map[string]string {
	m := map[string]string{}
	docs, err := facade.ListDocs[robotDoc](ctx, a.st, account, recRobot, -1)
	if err != nil {
		return m
	}
	names := a.workerNames(ctx)
	for _, d := range docs {
		id, _ := strconv.ParseInt(d.Key, 10, 64)
		if n := names[id]; n != "" && d.Doc.Alias != "" {
			m[n] = d.Doc.Alias
		}
	}
	return m
}

func (a *API) robotItem(r robotRow, orgs map[string]rec[orgDoc], now time.Time) map[string]any {
	var info workerInfo
	_ = json.Unmarshal(r.w.Info, &info)
	d := r.doc.Doc
	alias := d.Alias
	if alias == "" {
		alias = r.w.Name
	}
	version := info.Version
	if version == "" {
		version = info.Software["rpa"]
	}
	modify := r.w.CreatedAt.UnixMilli()
	if d.ModifyTime != 0 {
		modify = d.ModifyTime
	}
	rdp := info.RDPPort
	if rdp == 0 {
		rdp = 3389
	}
	var expiry any
	if d.LicDateExpiry != 0 {
		expiry = d.LicDateExpiry
	}
	return map[string]any{
		"id": r.w.ID, "createTime": ms(r.w.CreatedAt), "modifyTime": modify, "agentNo": r.w.Name,
		"agentDcode": firstNonEmpty(info.MachineCode, r.w.Name), "agentIp": info.IP, "isManager": false,
		"agentType": r.w.Kind, "agentAlias": alias, "userName": nilIfEmpty(info.User), "userDomain": nilIfEmpty(info.Domain),
		"agentName": nilIfEmpty(info.Host), "orgId": nilIfZero(orgs[d.OrgCode].ID), "orgName": nilIfEmpty(orgs[d.OrgCode].Doc.OrgName),
		"orgCode": d.OrgCode, "curOrgName": nilIfEmpty(orgs[d.OrgCode].Doc.CurName), "rpaUserName": nil,
		"agentOs": info.OS, "agentVersion": nilIfEmpty(version), "desktopType": nil,
		"lastHeartTime": ms(r.w.LastHeartbeat), "description": nilIfEmpty(d.Description), "nextAction": nil,
		"dataStatus": a.dataStatus(r.w, d, now), "status": 0, "rdpPort": rdp, "commToken": nil,
		"licSn": nilIfEmpty(d.LicSn), "licStatus": d.licStatus(r.w, now), "licDateExpiry": expiry, "lastLoginTime": nil,
	}
}

// robotList serves GET /oapi/v1/robot and /oapi/v1/studio; tx searches name, alias, host, IP, user.
func (a *API) robotList(kind string) handler {
	return func(ctx context.Context, c *call) (any, error) {
		tx, err := c.p.Text("tx", false, 100)
		if err != nil {
			return nil, err
		}
		off, lim, err := c.p.Paging("page", "size", 10, 1000)
		if err != nil {
			return nil, err
		}
		rows, err := a.robots(ctx, c.caller, kind)
		if err != nil {
			return nil, err
		}
		orgs, err := a.orgs(ctx, c.caller.accountID)
		if err != nil {
			return nil, err
		}
		now := a.now()
		var items []map[string]any
		for _, r := range rows {
			it := a.robotItem(r, orgs, now)
			if tx != "" && !matchesAny(strings.ToLower(tx), it, "agentNo", "agentAlias", "agentName", "agentIp", "userName", "orgName", "dataStatus") {
				continue
			}
			items = append(items, it)
		}
		return facade.Paginate(items, off, lim), nil
	}
}

func matchesAny(needle string, m map[string]any, fields ...string) bool {
	for _, f := range fields {
		if s, ok := m[f].(string); ok && strings.Contains(strings.ToLower(s), needle) {
			return true
		}
	}
	return false
}

// robotByID finds a visible robot or studio by the id parameter.
func (a *API) robotByID(ctx context.Context, c *call, kind string) (robotRow, error) {
	id, err := c.p.Int("id", true, 1, 1<<62, 0)
	if err != nil {
		return robotRow{}, err
	}
	rows, err := a.robots(ctx, c.caller, kind)
	if err != nil {
		return robotRow{}, err
	}
	for _, r := range rows {
		if r.w.ID == id {
			if r.doc.ID == 0 {
				r.doc.Record = store.Record{AccountID: c.caller.accountID, Kind: recRobot, Key: idString(id)}
			}
			return r, nil
		}
	}
	return robotRow{}, fail(CodeNotFound, "%s %d", kind, id)
}

// robotDetail serves GET /oapi/v1/robot/detail?id=.
func (a *API) robotDetail(ctx context.Context, c *call) (any, error) {
	r, err := a.robotByID(ctx, c, "robot")
	if err != nil {
		return nil, err
	}
	orgs, err := a.orgs(ctx, c.caller.accountID)
	if err != nil {
		return nil, err
	}
	return a.robotItem(r, orgs, a.now()), nil
}

// robotUpdate serves PUT /oapi/v1/robot {id, robotAlias} and /oapi/v1/studio {id, studioAlias};
// orgCode and description are accepted too.
func (a *API) robotUpdate(kind, aliasField string) handler {
	return func(ctx context.Context, c *call) (any, error) {
		if err := c.caller.require(permLicence); err != nil {
			return nil, err
		}
		r, err := a.robotByID(ctx, c, kind)
		if err != nil {
			return nil, err
		}
		d := r.doc.Doc
		if c.p.Has(aliasField) || c.p.Has("agentAlias") {
			if d.Alias, err = c.p.FirstText(false, 50, aliasField, "agentAlias"); err != nil {
				return nil, err
			}
		}
		if c.p.Has("description") {
			if d.Description, err = c.p.Text("description", false, maxDesc); err != nil {
				return nil, err
			}
		}
		if code, err := c.p.Text("orgCode", false, 200); err != nil {
			return nil, err
		} else if code != "" {
			o, err := a.resolveOrg(ctx, c.caller, code)
			if err != nil {
				return nil, err
			}
			d.OrgCode = o.Doc.OrgCode
		}
		d.ModifyTime = a.now().UnixMilli()
		_, err = a.put(ctx, r.doc.Record, d)
		return nil, err
	}
}

// licenceIssue serves POST /oapi/v1/robot/licence {id, licDateExpiry}: an administrator binds a
// robot or studio to the tenant with a licence number (extension; the document only reads licences).
func (a *API) licenceIssue(ctx context.Context, c *call) (any, error) {
	if err := c.caller.require(permLicence); err != nil {
		return nil, err
	}
	kind, err := c.p.Text("agentType", false, 20)
	if err != nil {
		return nil, err
	}
	if kind == "" {
		kind = "robot"
	}
	if kind != "robot" && kind != "studio" {
		return nil, fail(CodeParamInvalid, "agentType must be robot or studio")
	}
	r, err := a.robotByID(ctx, c, kind)
	if err != nil {
		return nil, err
	}
	d := r.doc.Doc
	d.LicDateExpiry = 0
	if s, err := c.p.Text("licDateExpiry", false, 40); err != nil {
		return nil, err
	} else if s != "" {
		t, err := a.parseTime(s)
		if err != nil {
			return nil, fail(CodeParamInvalid, "licDateExpiry: %v", err)
		}
		if !t.After(a.now()) {
			return nil, fail(CodeParamInvalid, "licDateExpiry is in the past")
		}
		d.LicDateExpiry = t.UnixMilli()
	}
	d.LicSn, d.LicRevoked, d.LicMachineCode = auth.RandomHex(16), false, machineCode(r.w)
	if d.OrgCode == "" {
		d.OrgCode = c.caller.org()
	}
	d.ModifyTime = a.now().UnixMilli()
	var expires *time.Time
	if d.LicDateExpiry != 0 {
		t := time.UnixMilli(d.LicDateExpiry)
		expires = &t
	}
	// The engine's copy decides who leases; the record is what the robot list shows. The engine goes
	// first so that a failure leaves a robot shown unlicensed rather than one running unlicensed.
	if err := a.eng.SetLicence(ctx, r.w.ID, engineLicence(d.LicSn, d.LicMachineCode), expires); err != nil {
		return nil, fmt.Errorf("issue licence: %w", err)
	}
	if _, err := a.put(ctx, r.doc.Record, d); err != nil {
		return nil, err
	}
	return map[string]any{"licSn": d.LicSn, "licStatus": 0, "licDateExpiry": nilIfZero(d.LicDateExpiry)}, nil
}

// licenceRevoke serves DELETE /oapi/v1/robot/licence {id}.
func (a *API) licenceRevoke(ctx context.Context, c *call) (any, error) {
	if err := c.caller.require(permLicence); err != nil {
		return nil, err
	}
	kind, err := c.p.Text("agentType", false, 20)
	if err != nil {
		return nil, err
	}
	if kind == "" {
		kind = "robot"
	}
	r, err := a.robotByID(ctx, c, kind)
	if err != nil {
		return nil, err
	}
	if r.doc.Doc.LicSn == "" {
		return nil, fail(CodeStateConflict, "no licence to revoke")
	}
	if err := a.eng.SetLicence(ctx, r.w.ID, "", nil); err != nil {
		return nil, fmt.Errorf("revoke licence: %w", err)
	}
	r.doc.Doc.LicRevoked = true
	r.doc.Doc.ModifyTime = a.now().UnixMilli()
	_, err = a.put(ctx, r.doc.Record, r.doc.Doc)
	return nil, err
}
