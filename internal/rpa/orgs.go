package rpa

import (
	"context"
	"errors"
	"sort"
	"strings"

	"taskcenter/internal/facade"
	"taskcenter/internal/store"
)

// orgList serves GET /oapi/v1/orgDef/list: the caller's department and those below, depth first,
// siblings by orgPos then id.
func (a *API) orgList(ctx context.Context, c *call) (any, error) {
	off, lim, err := c.p.Paging("page", "size", 10, 1000)
	if err != nil {
		return nil, err
	}
	rs, err := facade.ListDocs[orgDoc](ctx, a.st, c.caller.accountID, recOrg, -1)
	if err != nil {
		return nil, err
	}
	byCode := map[string]rec[orgDoc]{}
	children := map[string][]rec[orgDoc]{}
	for _, r := range rs {
		if !inScope(c.caller.org(), r.Doc.OrgCode) {
			continue
		}
		byCode[r.Doc.OrgCode] = r
		children[r.Doc.ParentCode] = append(children[r.Doc.ParentCode], r)
	}
	for _, kids := range children {
		sort.Slice(kids, func(i, j int) bool {
			if kids[i].Doc.OrgPos != kids[j].Doc.OrgPos {
				return kids[i].Doc.OrgPos < kids[j].Doc.OrgPos
			}
			return kids[i].ID < kids[j].ID
		})
	}
	// The roots of the visible forest are the departments whose parent is not visible.
	var roots []rec[orgDoc]
	for _, r := range byCode {
		if _, ok := byCode[r.Doc.ParentCode]; !ok {
			roots = append(roots, r)
		}
	}
	sort.Slice(roots, func(i, j int) bool { return roots[i].Doc.OrgCode < roots[j].Doc.OrgCode })
	var items []map[string]any
	var walk func(r rec[orgDoc])
	walk = func(r rec[orgDoc]) {
		items = append(items, a.orgItem(r, byCode))
		for _, k := range children[r.Doc.OrgCode] {
			walk(k)
		}
	}
	for _, r := range roots {
		walk(r)
	}
	return facade.Paginate(items, off, lim), nil
}

func (a *API) orgItem(r rec[orgDoc], byCode map[string]rec[orgDoc]) map[string]any {
	d := r.Doc
	parentName := any(nil)
	if p, ok := byCode[d.ParentCode]; ok {
		parentName = p.Doc.CurName
	}
	return map[string]any{
		"id": r.ID, "createTime": a.date(r.CreatedAt), "modifyTime": a.date(r.UpdatedAt),
		"curCode": "-" + d.CurCode + "-", "curName": d.CurName, "orgCode": d.OrgCode, "orgName": d.OrgName,
		"parentOrgId": d.ParentID, "parentOrgCode": nilIfEmpty(d.ParentCode), "parentOrgName": parentName,
		"curParentId": nil, "orgPos": d.OrgPos, "orgSource": d.OrgSource, "description": d.Description,
		"policyId": nil, "policyName": nil,
	}
}

// orgAdd serves POST /oapi/v1/orgDef/addOrg. The new code is the parent's code + curCode + "-"; a
// department without parentOrgCode goes under the caller's own department.
func (a *API) orgAdd(ctx context.Context, c *call) (any, error) {
	if err := c.caller.require(permOrg); err != nil {
		return nil, err
	}
	cur, err := c.p.Text("curCode", true, maxCurCode)
	if err != nil {
		return nil, err
	}
	cur = strings.Trim(cur, "-")
	if !curCodeRE.MatchString(cur) {
		return nil, fail(CodeParamInvalid, "curCode may hold letters, digits and _ only")
	}
	name, err := c.p.Text("curName", true, maxCurName)
	if err != nil {
		return nil, err
	}
	desc, err := c.p.Text("description", false, maxDesc)
	if err != nil {
		return nil, err
	}
	pos, err := c.p.Int("orgPos", false, 0, 1<<31-1, 0)
	if err != nil {
		return nil, err
	}
	// "parentOrgCod" is how the document's example spells it.
	parentCode, err := c.p.FirstText(false, 200, "parentOrgCode", "parentOrgCod")
	if err != nil {
		return nil, err
	}
	if parentCode == "" {
		parentCode = c.caller.org()
	}
	parent, err := a.resolveOrg(ctx, c.caller, parentCode)
	if err != nil {
		return nil, err
	}
	d := orgDoc{
		CurCode: cur, CurName: name, OrgCode: parent.Doc.OrgCode + cur + "-", OrgName: parent.Doc.OrgName + name + "-",
		ParentID: parent.ID, ParentCode: parent.Doc.OrgCode, OrgPos: pos, OrgSource: "oapi", Description: desc,
	}
	r, err := a.put(ctx, store.Record{AccountID: c.caller.accountID, Kind: recOrg, Key: d.OrgCode, ParentID: parent.ID}, d)
	if errors.Is(err, store.ErrConflict) {
		return nil, fail(CodeExists, "department %s", d.OrgCode)
	}
	if err != nil {
		return nil, err
	}
	return map[string]any{"id": r.ID, "orgCode": d.OrgCode}, nil
}

func (a *API) orgForEdit(ctx context.Context, c *call) (rec[orgDoc], error) {
	if err := c.caller.require(permOrg); err != nil {
		return rec[orgDoc]{}, err
	}
	id, err := c.p.Int("id", true, 1, 1<<62, 0)
	if err != nil {
		return rec[orgDoc]{}, err
	}
	o, err := facade.GetDoc[orgDoc](ctx, a.st, c.caller.accountID, recOrg, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !inScope(c.caller.org(), o.Doc.OrgCode)) {
		return o, fail(CodeNotFound, "department %d", id)
	}
	return o, err
}

// orgEdit serves PUT /oapi/v1/orgDef/editOrgDef: name, position and description; the code is
// fixed because users, robots and processes refer to it.
func (a *API) orgEdit(ctx context.Context, c *call) (any, error) {
	o, err := a.orgForEdit(ctx, c)
	if err != nil {
		return nil, err
	}
	if c.p.Has("curName") {
		name, err := c.p.Text("curName", true, maxCurName)
		if err != nil {
			return nil, err
		}
		// The full name of the department and of those below it follow the new name.
		oldFull := o.Doc.OrgName
		o.Doc.OrgName = strings.TrimSuffix(oldFull, o.Doc.CurName+"-") + name + "-"
		o.Doc.CurName = name
		if oldFull != o.Doc.OrgName {
			rs, err := facade.ListDocs[orgDoc](ctx, a.st, c.caller.accountID, recOrg, -1)
			if err != nil {
				return nil, err
			}
			for _, r := range rs {
				if r.ID != o.ID && strings.HasPrefix(r.Doc.OrgCode, o.Doc.OrgCode) && strings.HasPrefix(r.Doc.OrgName, oldFull) {
					r.Doc.OrgName = o.Doc.OrgName + strings.TrimPrefix(r.Doc.OrgName, oldFull)
					if _, err := a.put(ctx, r.Record, r.Doc); err != nil {
						return nil, err
					}
				}
			}
		}
	}
	if c.p.Has("orgPos") {
		if o.Doc.OrgPos, err = c.p.Int("orgPos", true, 0, 1<<31-1, 0); err != nil {
			return nil, err
		}
	}
	if c.p.Has("description") {
		if o.Doc.Description, err = c.p.Text("description", false, maxDesc); err != nil {
			return nil, err
		}
	}
	_, err = a.put(ctx, o.Record, o.Doc)
	return nil, err
}

// orgDelete serves DELETE /oapi/v1/orgDef/delOrgDef: only an empty department (no departments and
// no users below it) goes; the caller's own department never does.
func (a *API) orgDelete(ctx context.Context, c *call) (any, error) {
	o, err := a.orgForEdit(ctx, c)
	if err != nil {
		return nil, err
	}
	if o.Doc.OrgCode == c.caller.org() {
		return nil, fail(CodeStateConflict, "you cannot delete your own department")
	}
	rs, err := facade.ListDocs[orgDoc](ctx, a.st, c.caller.accountID, recOrg, -1)
	if err != nil {
		return nil, err
	}
	for _, r := range rs {
		if r.ID != o.ID && strings.HasPrefix(r.Doc.OrgCode, o.Doc.OrgCode) {
			return nil, fail(CodeStateConflict, "department has departments below it")
		}
	}
	us, err := facade.ListDocs[userDoc](ctx, a.st, c.caller.accountID, recUser, -1)
	if err != nil {
		return nil, err
	}
	for _, u := range us {
		if strings.HasPrefix(u.Doc.OrgCode, o.Doc.OrgCode) {
			return nil, fail(CodeStateConflict, "department has users")
		}
	}
	err = a.st.DeleteRecord(ctx, o.ID)
	a.dropCallersFor(o.AccountID, recOrg)
	return nil, err
}
