package projects

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"taskcenter/internal/facade"
	"taskcenter/internal/native"
	"taskcenter/internal/store"
)

// Collections offers the console's projects page the facade's things as native collections:
// template projects (with their templates, never a webhook secret or a template's sources),
// extended projects, and the templates' render history with each render's status.
func (a *API) Collections() []native.Collection {
	return []native.Collection{
		collection{"projects.template-projects", a.listTemplateProjectItems},
		collection{"projects.projects", a.listProjectItems},
		collection{"projects.renders", a.listRenderItems},
	}
}

// collection is one of the facade's lists as a native.Collection.
type collection struct {
	name string
	list func(ctx context.Context, accounts []int64, q native.CollectionQuery) ([]any, int, error)
}

func (c collection) CollectionName() string { return c.name }

func (c collection) ListCollection(ctx context.Context, accountID int64, q native.CollectionQuery) ([]json.RawMessage, int, error) {
	var accounts []int64 // none: every account's, for an admin
	if accountID != 0 {
		accounts = []int64{accountID}
	}
	items, total, err := c.list(ctx, accounts, q)
	if err != nil {
		return nil, 0, err
	}
	out := make([]json.RawMessage, len(items))
	for i, it := range items {
		if out[i], err = json.Marshal(it); err != nil {
			return nil, 0, fmt.Errorf("encode %s: %w", c.name, err)
		}
	}
	return out, total, nil
}

// listTemplateProjectItems: a template project is searched by the start of its name (its key).
func (a *API) listTemplateProjectItems(ctx context.Context, accounts []int64, q native.CollectionQuery) ([]any, int, error) {
	docs, total, err := facade.ListDocsPage[templateProject](ctx, a.st, store.RecordFilter{AccountIDs: accounts, Kind: kindTemplateProject,
		ParentID: -1, KeyPrefix: q.Search, Desc: true, Limit: q.Limit, Offset: q.Offset})
	if err != nil {
		return nil, 0, err
	}
	out := make([]any, len(docs))
	for i, d := range docs {
		tpls := make([]string, 0, len(d.Doc.Templates))
		for id := range d.Doc.Templates {
			tpls = append(tpls, id)
		}
		slices.Sort(tpls)
		out[i] = map[string]any{"id": d.ID, "account_id": d.AccountID, "name": d.Doc.Name, "display_name": d.Doc.DisplayName,
			"roles": strings.Join(d.Doc.Roles, ", "), "template_center": d.Doc.TemplateCenter, "webhook": d.Doc.Webhook,
			"max_deletes": d.Doc.MaxDeletes, "templates": strings.Join(tpls, ", "), "updated_at": d.UpdatedAt}
	}
	return out, total, nil
}

// listProjectItems: an extended project is searched by its full name.
func (a *API) listProjectItems(ctx context.Context, accounts []int64, q native.CollectionQuery) ([]any, int, error) {
	docs, total, err := facade.ListDocsPage[project](ctx, a.st, store.RecordFilter{AccountIDs: accounts, Kind: kindProject,
		ParentID: -1, NameContains: q.Search, Desc: true, Limit: q.Limit, Offset: q.Offset})
	if err != nil {
		return nil, 0, err
	}
	out := make([]any, len(docs))
	for i, d := range docs {
		out[i] = map[string]any{"id": d.ID, "account_id": d.AccountID, "name": d.Doc.ID, "display_name": d.Doc.Name,
			"template_project": d.Doc.From, "appid": d.Doc.AppID, "time_zone": d.Doc.TimeZone, "desc": d.Doc.Desc,
			"created_by": d.Doc.CreatedBy, "created_at": d.CreatedAt}
	}
	return out, total, nil
}

// listRenderItems: the renders of every template, newest first, searched by the template's
// instance id ("<project>.<template>"); each is its job, whose page shows its unit and log.
func (a *API) listRenderItems(ctx context.Context, accounts []int64, q native.CollectionQuery) ([]any, int, error) {
	jobs, total, err := a.st.ListJobs(ctx, store.JobFilter{AccountIDs: accounts, Kind: KindRender, Search: q.Search,
		Limit: q.Limit, Offset: q.Offset, WithDeleted: true})
	if err != nil {
		return nil, 0, fmt.Errorf("list renders: %w", err)
	}
	out := make([]any, len(jobs))
	for i, j := range jobs {
		e, err := a.renderEntry(ctx, j)
		if err != nil {
			return nil, 0, err
		}
		out[i] = struct {
			renderEntry
			AccountID int64  `json:"account_id"`
			Template  string `json:"template"`
		}{e, j.AccountID, j.Project}
	}
	return out, total, nil
}
