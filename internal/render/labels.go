package render

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"taskcenter/internal/engine"
	"taskcenter/internal/facade"
	"taskcenter/internal/store"
)

const (
	recLabel = "render.label" // key: the label (project) name
	recEnv   = "render.env"   // key: the render environment's editName
)

type labelData struct {
	Name   string `json:"name"`
	Status string `json:"status"`
}

func (a *API) putLabel(ctx context.Context, accountID int64, name, status string) error {
	name = strings.TrimSpace(name)
	if name == "" || len(name) > 200 {
		return invalid("label name must be 1 to 200 characters")
	}
	_, err := facade.PutDoc(ctx, a.st, store.Record{AccountID: accountID, Kind: recLabel, Key: name},
		labelData{Name: name, Status: status}, a.eng.Now())
	if errors.Is(err, store.ErrConflict) {
		return nil // adding an existing label is a no-op: clients add before every submit
	}
	if err != nil {
		return fmt.Errorf("save label: %w", err)
	}
	return nil
}

func (a *API) dropLabel(ctx context.Context, accountID int64, name string) error {
	rec, err := facade.GetDocByKey[labelData](ctx, a.st, accountID, recLabel, strings.TrimSpace(name))
	if errors.Is(err, store.ErrNotFound) {
		return notFound("label", name)
	}
	if err != nil {
		return fmt.Errorf("load label: %w", err)
	}
	if err := a.st.DeleteRecord(ctx, rec.ID); err != nil {
		return fmt.Errorf("delete label: %w", err)
	}
	return nil
}

func (a *API) addLabel(ctx context.Context, c *call) (any, error) {
	name, err := c.p.str(c.p.first("newName", "labelName", "label"), true)
	if err != nil {
		return nil, err
	}
	status, err := c.p.str("status", false)
	if err != nil {
		return nil, err
	}
	return nil, a.putLabel(ctx, c.account.ID, name, status)
}

func (a *API) deleteLabel(ctx context.Context, c *call) (any, error) {
	name, err := c.p.str(c.p.first("delName", "labelName", "label"), true)
	if err != nil {
		return nil, err
	}
	return nil, a.dropLabel(ctx, c.account.ID, name)
}

func (a *API) getLabelList(ctx context.Context, c *call) (any, error) {
	recs, err := facade.ListDocs[labelData](ctx, a.st, c.account.ID, recLabel, -1)
	if err != nil {
		return nil, err
	}
	list := make([]map[string]any, 0, len(recs))
	for _, r := range recs {
		list = append(list, map[string]any{"projectName": r.Key, "projectId": r.ID})
	}
	return map[string]any{"projectNameList": list}, nil
}

// operateUserLabel adds or deletes a label. Ruling (the document does not show the call): the vendor
// SDK sends {"type": 1, "newName"} to add and {"type": 2, "delName"} to delete; the earlier
// {"operateType": 0 add | 1 delete, "labelName"} is still read, and "add"/"delete" in either field.
// Without a type, newName adds and delName deletes.
func (a *API) operateUserLabel(ctx context.Context, c *call) (any, error) {
	add := true
	switch {
	case c.p.has("type"):
		op, err := c.p.str("type", false)
		if err != nil {
			return nil, err
		}
		switch strings.ToLower(strings.TrimSpace(op)) {
		case "1", "add":
		case "2", "delete", "del":
			add = false
		default:
			return nil, invalid("type must be 1 (add, with newName) or 2 (delete, with delName)")
		}
	case c.p.has("operateType") || c.p.has("operate"):
		op, err := c.p.str(c.p.first("operateType", "operate"), false)
		if err != nil {
			return nil, err
		}
		switch strings.ToLower(strings.TrimSpace(op)) {
		case "", "0", "add":
		case "1", "delete", "del":
			add = false
		default:
			return nil, invalid("operateType must be 0 (add) or 1 (delete)")
		}
	default:
		add = !c.p.has("delName")
	}
	if !add {
		name, err := c.p.str(c.p.first("delName", "labelName", "label"), true)
		if err != nil {
			return nil, err
		}
		return nil, a.dropLabel(ctx, c.account.ID, name)
	}
	name, err := c.p.str(c.p.first("newName", "labelName", "label"), true)
	if err != nil {
		return nil, err
	}
	status, err := c.p.str("status", false)
	if err != nil {
		return nil, err
	}
	return nil, a.putLabel(ctx, c.account.ID, name, status)
}

// addTaskLabel files tasks under a label (the project of getTaskList's filter).
func (a *API) addTaskLabel(ctx context.Context, c *call) (any, error) {
	name, err := c.p.str(c.p.first("label", "labelName", "newName"), true)
	if err != nil {
		return nil, err
	}
	ids, err := c.p.taskIDs(true)
	if err != nil {
		return nil, err
	}
	shells, kids, err := a.targets(ctx, c, ids)
	if err != nil {
		return nil, err
	}
	if err := a.putLabel(ctx, c.account.ID, name, ""); err != nil {
		return nil, err
	}
	name = strings.TrimSpace(name)
	for _, j := range append(shells, kids...) {
		if _, err := a.eng.UpdateJob(ctx, j.ID, engine.JobChange{Project: &name}); err != nil {
			return nil, fmt.Errorf("label task %d: %w", j.ID, err)
		}
	}
	return nil, nil
}

// deleteTaskLabel deletes labels by their ids (getLabelList's projectId).
func (a *API) deleteTaskLabel(ctx context.Context, c *call) (any, error) {
	ids, err := c.p.ints(c.p.first("labelIds", "labelId"), true)
	if err != nil {
		return nil, err
	}
	for _, id := range ids {
		_, err := facade.GetDoc[labelData](ctx, a.st, c.account.ID, recLabel, id)
		if errors.Is(err, store.ErrNotFound) {
			return nil, notFound("label", id)
		}
		if err != nil {
			return nil, fmt.Errorf("load label: %w", err)
		}
		if err := a.st.DeleteRecord(ctx, id); err != nil {
			return nil, fmt.Errorf("delete label: %w", err)
		}
	}
	return nil, nil
}

// renderEnv is a user's render environment (software version + plugins) as stored.
type renderEnv struct {
	CgID            int    `json:"cgId"`
	CgName          string `json:"cgName"`
	CgVersion       string `json:"cgVersion"`
	RenderLayerType int    `json:"renderLayerType"`
	EditName        string `json:"editName"`
	RenderSystem    int    `json:"renderSystem"`
	PluginIDs       []int  `json:"pluginIds"`
	IsDefault       int    `json:"isDefault"`
}

// readEnv validates a render environment against the catalog.
func (a *API) readEnv(ctx context.Context, c *call) (renderEnv, error) {
	var e renderEnv
	cg, err := c.p.int("cgId", true, 0)
	if err != nil {
		return e, err
	}
	if e.CgVersion, err = c.p.str("cgVersion", true); err != nil {
		return e, err
	}
	if e.EditName, err = c.p.str("editName", true); err != nil {
		return e, err
	}
	if len(e.EditName) > 200 {
		return e, invalid("editName is longer than 200 characters")
	}
	if e.CgName, err = c.p.str("cgName", false); err != nil {
		return e, err
	}
	layer, err := c.p.int("renderLayerType", false, 0)
	if err != nil {
		return e, err
	}
	sys, err := c.p.int("renderSystem", false, 0)
	if err != nil {
		return e, err
	}
	if sys != 0 && sys != 1 {
		return e, invalid("renderSystem must be 0 (Linux) or 1 (Windows)")
	}
	plugins, err := c.p.ints("pluginIds", false)
	if err != nil {
		return e, err
	}
	cat, err := a.catalog(ctx)
	if err != nil {
		return e, err
	}
	sw, ok := cat.software(int(cg))
	if !ok {
		return e, invalid("cgId %d is not a supported render software", cg)
	}
	if e.CgName != "" && !strings.EqualFold(strings.ReplaceAll(e.CgName, " ", ""), strings.ReplaceAll(sw.CgName, " ", "")) {
		return e, invalid("cgName %q does not match cgId %d (%s)", e.CgName, cg, sw.CgName)
	}
	if !slices.ContainsFunc(sw.Versions, func(v SoftVersion) bool { return v.CgVersion == e.CgVersion }) {
		return e, invalid("cgVersion %q of %s is not supported", e.CgVersion, sw.CgName)
	}
	if sys == 0 && sw.IsSupportLinux == 0 {
		return e, invalid("%s does not run on Linux (renderSystem 0)", sw.CgName)
	}
	for _, pid := range plugins {
		if _, ok := pluginOf(sw, int(pid)); !ok {
			return e, invalid("pluginId %d is not a plugin of %s", pid, sw.CgName)
		}
		e.PluginIDs = append(e.PluginIDs, int(pid))
	}
	e.CgID, e.CgName, e.RenderLayerType, e.RenderSystem = sw.CgID, sw.CgName, int(layer), int(sys)
	return e, nil
}

func pluginOf(sw Software, id int) (PluginVersion, bool) {
	for _, p := range sw.Plugins {
		for _, v := range p.PluginVersions {
			if v.PluginID == id {
				return v, true
			}
		}
	}
	return PluginVersion{}, false
}

func (a *API) envRecord(ctx context.Context, accountID int64, name string) (facade.Doc[renderEnv], error) {
	d, err := facade.GetDocByKey[renderEnv](ctx, a.st, accountID, recEnv, name)
	if errors.Is(err, store.ErrNotFound) {
		return d, notFound("render environment", name)
	}
	if err != nil {
		return d, fmt.Errorf("load render environment: %w", err)
	}
	return d, nil
}

func (a *API) addRenderEnv(ctx context.Context, c *call) (any, error) {
	e, err := a.readEnv(ctx, c)
	if err != nil {
		return nil, err
	}
	_, err = facade.PutDoc(ctx, a.st, store.Record{AccountID: c.account.ID, Kind: recEnv, Key: e.EditName}, e, a.eng.Now())
	if errors.Is(err, store.ErrConflict) {
		return nil, invalid("a render environment named %q exists; use updateRenderEnv", e.EditName)
	}
	if err != nil {
		return nil, fmt.Errorf("save render environment: %w", err)
	}
	return map[string]any{"editName": e.EditName}, nil
}

func (a *API) updateRenderEnv(ctx context.Context, c *call) (any, error) {
	e, err := a.readEnv(ctx, c)
	if err != nil {
		return nil, err
	}
	old, err := a.envRecord(ctx, c.account.ID, e.EditName)
	if err != nil {
		return nil, err
	}
	e.IsDefault = old.Doc.IsDefault
	if _, err := facade.PutDoc(ctx, a.st, old.Record, e, a.eng.Now()); err != nil {
		return nil, err
	}
	return nil, nil
}

func (a *API) deleteRenderEnv(ctx context.Context, c *call) (any, error) {
	name, err := c.p.str("editName", true)
	if err != nil {
		return nil, err
	}
	rec, err := a.envRecord(ctx, c.account.ID, name)
	if err != nil {
		return nil, err
	}
	if err := a.st.DeleteRecord(ctx, rec.ID); err != nil {
		return nil, fmt.Errorf("delete render environment: %w", err)
	}
	return nil, nil
}

func (a *API) setDefaultRenderEnv(ctx context.Context, c *call) (any, error) {
	name, err := c.p.str("editName", true)
	if err != nil {
		return nil, err
	}
	target, err := a.envRecord(ctx, c.account.ID, name)
	if err != nil {
		return nil, err
	}
	envs, err := facade.ListDocs[renderEnv](ctx, a.st, c.account.ID, recEnv, -1)
	if err != nil {
		return nil, err
	}
	// One default per software: the others of the same cgId lose it.
	for _, o := range envs {
		if o.ID == target.ID || o.Doc.CgID != target.Doc.CgID || o.Doc.IsDefault == 0 {
			continue
		}
		o.Doc.IsDefault = 0
		if _, err := facade.PutDoc(ctx, a.st, o.Record, o.Doc, a.eng.Now()); err != nil {
			return nil, err
		}
	}
	target.Doc.IsDefault = 1
	if _, err := facade.PutDoc(ctx, a.st, target.Record, target.Doc, a.eng.Now()); err != nil {
		return nil, err
	}
	return nil, nil
}

func (a *API) getRenderEnv(ctx context.Context, c *call) (any, error) {
	cg, err := c.p.int("cgId", false, 0)
	if err != nil {
		return nil, err
	}
	envs, err := facade.ListDocs[renderEnv](ctx, a.st, c.account.ID, recEnv, -1)
	if err != nil {
		return nil, err
	}
	cat, err := a.catalog(ctx)
	if err != nil {
		return nil, err
	}
	out := []map[string]any{}
	for _, d := range envs {
		e := d.Doc
		if cg != 0 && int64(e.CgID) != cg {
			continue
		}
		plugins := []PluginVersion{}
		if sw, ok := cat.software(e.CgID); ok {
			for _, id := range e.PluginIDs {
				if pv, ok := pluginOf(sw, id); ok {
					plugins = append(plugins, pv)
				}
			}
		}
		out = append(out, map[string]any{"cgId": e.CgID, "editName": e.EditName, "cgName": e.CgName,
			"cgVersion": e.CgVersion, "osName": e.RenderSystem, "renderLayerType": e.RenderLayerType,
			"isDefault": e.IsDefault, "respUserPluginInfoVos": plugins})
	}
	return out, nil
}
