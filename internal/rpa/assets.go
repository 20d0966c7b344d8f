package rpa

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"taskcenter/internal/facade"
	"taskcenter/internal/store"
)

const (
	maxAssetName  = 100
	maxAssetValue = 4000
	robotAll      = "all" // the value every robot gets unless it has its own
	masked        = "******"
)

// assetDoc is one value of an asset: the global one (robot "all") or one robot's.
type assetDoc struct {
	AssetName    string `json:"assetName"`
	AssetType    string `json:"assetType"` // text or passwd
	RobotNo      string `json:"robotNo"`
	Value        string `json:"value,omitempty"`  // text assets
	Sealed       []byte `json:"sealed,omitempty"` // password assets, sealed with the server key
	AssetDesc    string `json:"assetDesc,omitempty"`
	IsPythonExpr string `json:"isPythonExpr"`
	IsClientEdit string `json:"isClientEdit"`
	OrgCode      string `json:"orgCode"`
}

// An asset is listed within the caller's department and matched by its name.
func (d assetDoc) RecordScope() string { return d.OrgCode }
func (d assetDoc) RecordName() string  { return d.AssetName }

// A log line is listed within the caller's department, by its asset's name or row id.
func (d vlogDoc) RecordScope() string { return d.OrgCode }
func (d vlogDoc) RecordName() string  { return d.AssetName }

// vlogDoc is one access to an asset value.
type vlogDoc struct {
	AssetID   int64  `json:"assetId"`
	AssetName string `json:"assetName"`
	Action    string `json:"action"` // create, edit, read
	RobotNo   string `json:"robotNo"`
	ProcCode  string `json:"procCode"`
	JobNo     string `json:"jobNo"`
	User      string `json:"user"`
	OrgCode   string `json:"orgCode"`
	At        int64  `json:"at"`
}

func assetKey(name, robot string) string { return name + "|" + robot }

// sealAAD binds a sealed value to its tenant, name and robot: a sealed value copied onto another row
// does not open.
func assetAAD(account int64, name, robot string) []byte {
	return []byte(fmt.Sprintf("rpa.asset\x00%d\x00%s\x00%s", account, name, robot))
}

// normType accepts the document's spellings of the password type.
func normType(s string) (string, error) {
	switch strings.ToLower(s) {
	case "text":
		return "text", nil
	case "passwd", "password":
		return "passwd", nil
	}
	return "", fail(CodeParamInvalid, "assetType must be text or passwd, not %q", s)
}

func (a *API) setValue(account int64, d *assetDoc, value string) error {
	if d.AssetType == "passwd" {
		sealed, err := a.keys.Seal([]byte(value), assetAAD(account, d.AssetName, d.RobotNo))
		if err != nil {
			return err
		}
		d.Sealed, d.Value = sealed, ""
		return nil
	}
	d.Value, d.Sealed = value, nil
	return nil
}

func (a *API) openValue(account int64, d assetDoc) (string, error) {
	if d.AssetType != "passwd" {
		return d.Value, nil
	}
	b, err := a.keys.Open(d.Sealed, assetAAD(account, d.AssetName, d.RobotNo))
	if err != nil {
		return "", fmt.Errorf("open asset %q: %w", d.AssetName, err)
	}
	return string(b), nil
}

// vlog records an access; a failure to log is logged and does not fail the request.
func (a *API) vlog(ctx context.Context, c *caller, r rec[assetDoc], action string) {
	now := a.now()
	v := vlogDoc{AssetID: r.ID, AssetName: r.Doc.AssetName, Action: action, User: c.userName(), OrgCode: r.Doc.OrgCode, At: now.UnixMilli()}
	if c.job != nil {
		v.RobotNo, v.ProcCode, v.JobNo = c.job.Robot, c.job.ProcCode, idString(c.job.JobID)
	}
	// Written with its own time, which the log's time filter reads as the record's creation time.
	if _, err := facade.PutDoc(ctx, a.st, store.Record{AccountID: c.accountID, Kind: recVlog, ParentID: r.ID}, v, now); err != nil {
		a.log.Warn("record asset access", "asset", r.ID, "err", err)
	}
}

// splitRobots reads robotsNo / robotNo: a comma list, "all" (also "-all-" or empty) for the global
// value.
func splitRobots(s string) []string {
	var out []string
	seen := map[string]bool{}
	for _, r := range strings.Split(s, ",") {
		r = strings.TrimSpace(r)
		if r == "" || r == "-all-" {
			r = robotAll
		}
		if !seen[r] {
			seen[r] = true
			out = append(out, r)
		}
	}
	return out
}

// assetCreate serves POST /oapi/v1/asset: one row per robot named (or the global row).
func (a *API) assetCreate(ctx context.Context, c *call) (any, error) {
	if err := c.caller.require(permAsset); err != nil {
		return nil, err
	}
	var d assetDoc
	var err error
	// The table's "agentName" is a slip for "assetName"; both are accepted.
	if d.AssetName, err = c.p.FirstText(true, maxAssetName, "assetName", "agentName"); err != nil {
		return nil, err
	}
	if strings.ContainsAny(d.AssetName, "|\x00") {
		return nil, fail(CodeParamInvalid, "assetName may not contain |")
	}
	typ, err := c.p.Text("assetType", true, 20)
	if err != nil {
		return nil, err
	}
	if d.AssetType, err = normType(typ); err != nil {
		return nil, err
	}
	if !c.p.Has("assetValue") {
		return nil, fail(CodeParamMissing, "assetValue is required")
	}
	value, err := c.p.Text("assetValue", false, maxAssetValue)
	if err != nil {
		return nil, err
	}
	if d.AssetDesc, err = c.p.Text("assetDesc", false, maxDesc); err != nil {
		return nil, err
	}
	for _, f := range []struct {
		name string
		v    *string
	}{{"isPythonExpr", &d.IsPythonExpr}, {"isClientEdit", &d.IsClientEdit}} {
		yes, err := c.p.YesNo(f.name, false)
		if err != nil {
			return nil, err
		}
		*f.v = map[bool]string{true: "yes", false: "no"}[yes]
	}
	robots, err := c.p.FirstText(false, 4000, "robotsNo", "robotNo")
	if err != nil {
		return nil, err
	}
	d.OrgCode = c.caller.org()
	if code, err := c.p.Text("orgCode", false, 200); err != nil {
		return nil, err
	} else if code != "" {
		o, err := a.resolveOrg(ctx, c.caller, code)
		if err != nil {
			return nil, err
		}
		d.OrgCode = o.Doc.OrgCode
	}
	list := splitRobots(robots)
	for _, r := range list {
		if _, err := a.st.GetRecordByKey(ctx, c.caller.accountID, recAsset, assetKey(d.AssetName, r)); err == nil {
			return nil, fail(CodeExists, "asset %s for robot %s", d.AssetName, r)
		}
	}
	var ids []int64
	for _, robot := range list {
		row := d
		row.RobotNo = robot
		if err := a.setValue(c.caller.accountID, &row, value); err != nil {
			return nil, err
		}
		r, err := a.put(ctx, store.Record{AccountID: c.caller.accountID, Kind: recAsset, Key: assetKey(row.AssetName, robot)}, row)
		if errors.Is(err, store.ErrConflict) {
			return nil, fail(CodeExists, "asset %s for robot %s", d.AssetName, robot)
		}
		if err != nil {
			return nil, err
		}
		ids = append(ids, r.ID)
		a.vlog(ctx, c.caller, rec[assetDoc]{Record: r, Doc: row}, "create")
	}
	return map[string]any{"ids": ids}, nil
}

// assetRows lists the asset rows visible to the caller, optionally of one name.
func (a *API) assetRows(ctx context.Context, c *caller, name string) ([]rec[assetDoc], error) {
	rs, err := facade.ListDocs[assetDoc](ctx, a.st, c.accountID, recAsset, -1)
	if err != nil {
		return nil, err
	}
	out := rs[:0]
	for _, r := range rs {
		if name != "" && r.Doc.AssetName != name {
			continue
		}
		if !inScope(c.org(), r.Doc.OrgCode) {
			continue
		}
		// A robot running a job sees its own values and the global ones, nobody else's.
		if c.job != nil && r.Doc.RobotNo != robotAll && r.Doc.RobotNo != c.job.Robot {
			continue
		}
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// assetPage is one page of the assets the caller sees whose name contains name. A user's page is
// selected in SQL. A robot running a job sees the global values and its own, its own hiding the
// global one of the same name; that set is one row per asset name at most, so it is cut in memory.
func (a *API) assetPage(ctx context.Context, c *caller, name string, off, lim int) (facade.Page[rec[assetDoc]], error) {
	if c.job == nil {
		f := scopeFilter(c.accountID, recAsset, c.org())
		f.NameContains, f.Offset, f.Limit = name, off, lim
		rows, total, err := facade.ListDocsPage[assetDoc](ctx, a.st, f)
		return facade.Page[rec[assetDoc]]{Total: total, Items: rows}, err
	}
	f := scopeFilter(c.accountID, recAsset, c.org())
	f.NameContains = name
	f.Fields = []store.FieldMatch{{Field: "robotNo", Values: []string{robotAll, c.job.Robot}}}
	rows, _, err := facade.ListDocsPage[assetDoc](ctx, a.st, f)
	if err != nil {
		return facade.Page[rec[assetDoc]]{}, err
	}
	own := map[string]bool{}
	for _, r := range rows {
		if r.Doc.RobotNo != robotAll {
			own[r.Doc.AssetName] = true
		}
	}
	kept := rows[:0]
	for _, r := range rows {
		if r.Doc.RobotNo == robotAll && own[r.Doc.AssetName] {
			continue
		}
		kept = append(kept, r)
	}
	return facade.Paginate(kept, off, lim), nil
}

// assetList serves POST (and GET) /oapi/v1/asset/list. Password values are masked unless the caller
// is a robot running a job, which gets them in clear; every value handed out is logged as a read.
// For a robot, a name with a robot-specific value hides the global value of that name.
func (a *API) assetList(ctx context.Context, c *call) (any, error) {
	name, err := c.p.FirstText(false, maxAssetName, "assetName", "agentName")
	if err != nil {
		return nil, err
	}
	off, lim, err := c.p.Paging("page", "size", 10, 1000)
	if err != nil {
		return nil, err
	}
	pg, err := a.assetPage(ctx, c.caller, name, off, lim)
	if err != nil {
		return nil, err
	}
	aliases := a.robotAliases(ctx, c.caller.accountID)
	items := make([]map[string]any, 0, len(pg.Items))
	for _, r := range pg.Items {
		value := masked
		if r.Doc.AssetType != "passwd" || c.caller.job != nil {
			if value, err = a.openValue(c.caller.accountID, r.Doc); err != nil {
				return nil, err
			}
			a.vlog(ctx, c.caller, r, "read")
		}
		items = append(items, map[string]any{
			"id": r.ID, "robotNo": r.Doc.RobotNo, "isPythonExpr": r.Doc.IsPythonExpr, "orgCode": r.Doc.OrgCode,
			"isClientEdit": r.Doc.IsClientEdit, "assetName": r.Doc.AssetName, "assetValue": value,
			"assetType": r.Doc.AssetType, "assetDesc": r.Doc.AssetDesc, "createTime": ms(r.CreatedAt),
			"modifyTime": ms(r.UpdatedAt), "agentAlias": nilIfEmpty(aliases[r.Doc.RobotNo]),
		})
	}
	return Page[map[string]any]{Total: pg.Total, Items: items}, nil
}

// assetUpdate serves PUT /oapi/v1/asset {assetName, assetValue}: every value of the name, or only
// the rows of robotNo / robotsNo when given.
func (a *API) assetUpdate(ctx context.Context, c *call) (any, error) {
	if err := c.caller.require(permAsset); err != nil {
		return nil, err
	}
	name, err := c.p.FirstText(true, maxAssetName, "assetName", "agentName")
	if err != nil {
		return nil, err
	}
	if !c.p.Has("assetValue") {
		return nil, fail(CodeParamMissing, "assetValue is required")
	}
	value, err := c.p.Text("assetValue", false, maxAssetValue)
	if err != nil {
		return nil, err
	}
	robots, err := c.p.FirstText(false, 4000, "robotsNo", "robotNo")
	if err != nil {
		return nil, err
	}
	var only map[string]bool
	if robots != "" {
		only = map[string]bool{}
		for _, r := range splitRobots(robots) {
			only[r] = true
		}
	}
	rows, err := a.assetRows(ctx, c.caller, name)
	if err != nil {
		return nil, err
	}
	n := 0
	for _, r := range rows {
		if only != nil && !only[r.Doc.RobotNo] {
			continue
		}
		if err := a.setValue(c.caller.accountID, &r.Doc, value); err != nil {
			return nil, err
		}
		if c.p.Has("assetDesc") {
			if r.Doc.AssetDesc, err = c.p.Text("assetDesc", false, maxDesc); err != nil {
				return nil, err
			}
		}
		if _, err := a.put(ctx, r.Record, r.Doc); err != nil {
			return nil, err
		}
		a.vlog(ctx, c.caller, r, "edit")
		n++
	}
	if n == 0 {
		return nil, fail(CodeNotFound, "asset %s", name)
	}
	return nil, nil
}

// assetDelete serves DELETE /oapi/v1/asset: by assetId (one row) or assetName (every row, or the
// rows of robotNo / robotsNo when given).
func (a *API) assetDelete(ctx context.Context, c *call) (any, error) {
	if err := c.caller.require(permAsset); err != nil {
		return nil, err
	}
	id, err := c.p.Int("assetId", false, 1, 1<<62, 0)
	if err != nil {
		return nil, err
	}
	name, err := c.p.FirstText(false, maxAssetName, "assetName", "agentName")
	if err != nil {
		return nil, err
	}
	if id == 0 && name == "" {
		return nil, fail(CodeParamMissing, "assetId or assetName is required")
	}
	robots, err := c.p.FirstText(false, 4000, "robotsNo", "robotNo")
	if err != nil {
		return nil, err
	}
	var only map[string]bool
	if robots != "" {
		only = map[string]bool{}
		for _, r := range splitRobots(robots) {
			only[r] = true
		}
	}
	rows, err := a.assetRows(ctx, c.caller, name)
	if err != nil {
		return nil, err
	}
	n := 0
	for _, r := range rows {
		if (id != 0 && r.ID != id) || (only != nil && !only[r.Doc.RobotNo]) {
			continue
		}
		if err := a.st.DeleteRecord(ctx, r.ID); err != nil {
			return nil, fmt.Errorf("delete asset %d: %w", r.ID, err)
		}
		n++
	}
	if n == 0 {
		return nil, fail(CodeNotFound, "asset %s", firstNonEmpty(name, idString(id)))
	}
	return nil, nil
}

// assetVlog serves GET /oapi/v1/asset/vlog: assetId is a row id or an asset name.
func (a *API) assetVlog(ctx context.Context, c *call) (any, error) {
	idText, err := c.p.Text("assetId", true, maxAssetName)
	if err != nil {
		return nil, err
	}
	action, err := c.p.Text("action", false, 20)
	if err != nil {
		return nil, err
	}
	switch action {
	case "", "create", "edit", "read":
	default:
		return nil, fail(CodeParamInvalid, "action must be create, edit or read")
	}
	proc, err := c.p.Text("procCode", false, 100)
	if err != nil {
		return nil, err
	}
	robot, err := c.p.Text("robotNo", false, 100)
	if err != nil {
		return nil, err
	}
	var from, to time.Time
	for _, f := range []struct {
		name string
		t    *time.Time
	}{{"from", &from}, {"to", &to}} {
		s, err := c.p.Text(f.name, false, 40)
		if err != nil {
			return nil, err
		}
		if s != "" {
			if *f.t, err = a.parseTime(s); err != nil {
				return nil, fail(CodeParamInvalid, "%s: %v", f.name, err)
			}
		}
	}
	off, lim, err := c.p.Paging("page", "size", 10, 1000)
	if err != nil {
		return nil, err
	}
	// Rows of deleted assets keep their log: select by the logged name or row id, not by live rows.
	// A log line is written when it happens, so its record's creation time is its time.
	f := scopeFilter(c.caller.accountID, recVlog, c.caller.org())
	f.Desc, f.Offset, f.Limit, f.CreatedFrom, f.CreatedTo = true, off, lim, from, to
	f.AnyField = []store.FieldMatch{{Field: "assetName", Values: []string{idText}}}
	if rowID, err := mustID(idText); err == nil {
		f.AnyField = append(f.AnyField, store.FieldMatch{Field: "assetId", Values: []string{idString(rowID)}})
	}
	for _, m := range []struct{ field, value string }{{"action", action}, {"procCode", proc}, {"robotNo", robot}} {
		if m.value != "" {
			f.Fields = append(f.Fields, store.FieldMatch{Field: m.field, Values: []string{m.value}})
		}
	}
	logs, total, err := facade.ListDocsPage[vlogDoc](ctx, a.st, f)
	if err != nil {
		return nil, err
	}
	items := make([]map[string]any, 0, len(logs))
	for _, l := range logs {
		v := l.Doc
		items = append(items, map[string]any{
			"vlogRobotNo": v.RobotNo, "vlogProcess": v.ProcCode, "vlogAction": v.Action, "vlogJobNo": v.JobNo,
			"vlogCreateTime": a.date(time.UnixMilli(v.At)), "vlogUser": v.User, "assetId": v.AssetID, "assetName": v.AssetName,
		})
	}
	return facade.Page[map[string]any]{Total: total, Items: items}, nil
}
