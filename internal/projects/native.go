package projects

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"taskcenter/internal/auth"
	"taskcenter/internal/engine"
	"taskcenter/internal/facade"
	"taskcenter/internal/store"
)

// The documented extensions (api/projects.yaml): template projects, service tokens and render
// history, on the native API's terms (an admin bearer token, plain HTTP statuses). A token acts on
// its own account; an admin account's token may name another with ?account=ID.

func (a *API) mountNative(mux *http.ServeMux) {
	h := func(pattern string, fn func(w http.ResponseWriter, r *http.Request, account int64)) {
		mux.HandleFunc(pattern, a.withAdmin(fn))
	}
	h("GET /api/v1/projects/template-projects", a.listTemplateProjects)
	h("GET /api/v1/projects/template-projects/{name}", a.getTemplateProject)
	h("PUT /api/v1/projects/template-projects/{name}", a.putTemplateProject)
	h("PUT /api/v1/projects/template-projects/{name}/templates/{template}", a.putTemplate)
	h("DELETE /api/v1/projects/template-projects/{name}/templates/{template}", a.deleteTemplate)
	h("GET /api/v1/projects/projects", a.listProjects)
	h("GET /api/v1/projects/projects/{project}", a.getProject)
	h("POST /api/v1/projects/templates/{id}/trigger", a.nativeTrigger)
	h("GET /api/v1/projects/templates/{id}/renders", a.listRenders)
	h("POST /api/v1/projects/tokens", a.createToken)
	h("GET /api/v1/projects/tokens", a.getTokens)
	h("DELETE /api/v1/projects/tokens/{id}", a.deleteToken)
}

func (a *API) withAdmin(fn func(w http.ResponseWriter, r *http.Request, account int64)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		cred, err := auth.VerifyToken(r.Context(), a.st, store.CredAdmin, facade.Bearer(r), a.now())
		if err != nil {
			a.fail(w, r, err)
			return
		}
		acct, err := a.st.GetAccount(r.Context(), cred.AccountID)
		if err != nil {
			a.fail(w, r, auth.ErrUnauthorized)
			return
		}
		account := acct.ID
		if q := r.URL.Query().Get("account"); q != "" {
			id, err := strconv.ParseInt(q, 10, 64)
			if err != nil || id <= 0 || (id != acct.ID && acct.Role != store.RoleAdmin) {
				facade.JSONError(w, http.StatusNotFound, "not found")
				return
			}
			if _, err := a.st.GetAccount(r.Context(), id); err != nil {
				a.fail(w, r, err)
				return
			}
			account = id
		}
		fn(w, r, account)
	}
}

func (a *API) fail(w http.ResponseWriter, r *http.Request, err error) {
	var fe *facade.Error
	if errors.As(err, &fe) {
		switch fe.Code {
		case codeNotFound:
			facade.JSONError(w, http.StatusNotFound, fe.Msg)
			return
		case codeMissing, codeBadParam:
			facade.JSONError(w, http.StatusBadRequest, fe.Msg)
			return
		}
	}
	facade.Fail(w, r, facade.Logger(r.Context(), a.log), err)
}

// readBody decodes a JSON body into v, refusing unknown fields and bodies over the limit.
func readBody(w http.ResponseWriter, r *http.Request, v any) bool {
	if r.ContentLength > maxNativeBodySize {
		facade.JSONError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body larger than %d bytes", maxNativeBodySize))
		return false
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxNativeBodySize))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			facade.JSONError(w, http.StatusRequestEntityTooLarge, "body too large")
		} else {
			facade.JSONError(w, http.StatusBadRequest, "malformed JSON: "+err.Error())
		}
		return false
	}
	return true
}

func (a *API) listTemplateProjects(w http.ResponseWriter, r *http.Request, account int64) {
	docs, err := facade.ListDocs[templateProject](r.Context(), a.st, account, kindTemplateProject, -1)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out := make([]templateProject, 0, len(docs))
	for _, d := range docs {
		out = append(out, d.Doc)
	}
	facade.JSON(w, http.StatusOK, map[string]any{"template_projects": out})
}

func (a *API) getTemplateProject(w http.ResponseWriter, r *http.Request, account int64) {
	d, err := a.loadTemplateProject(r.Context(), account, r.PathValue("name"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	facade.JSON(w, http.StatusOK, d.Doc)
}

// putTemplateProject creates or replaces a template project whole.
func (a *API) putTemplateProject(w http.ResponseWriter, r *http.Request, account int64) {
	var tp templateProject
	if !readBody(w, r, &tp) {
		return
	}
	if tp.Name == "" {
		tp.Name = r.PathValue("name")
	}
	if tp.Name != r.PathValue("name") {
		facade.JSONError(w, http.StatusBadRequest, "the body's name differs from the path's")
		return
	}
	a.editTemplateProject(w, r, account, tp.Name, true, func(cur *templateProject) error {
		*cur = tp
		return nil
	})
}

// putTemplate creates or replaces one template of a template project.
func (a *API) putTemplate(w http.ResponseWriter, r *http.Request, account int64) {
	var def templateDef
	if !readBody(w, r, &def) {
		return
	}
	id := r.PathValue("template")
	a.editTemplateProject(w, r, account, r.PathValue("name"), false, func(cur *templateProject) error {
		if cur.Templates == nil {
			cur.Templates = map[string]templateDef{}
		}
		cur.Templates[id] = def
		return nil
	})
}

func (a *API) deleteTemplate(w http.ResponseWriter, r *http.Request, account int64) {
	id := r.PathValue("template")
	a.editTemplateProject(w, r, account, r.PathValue("name"), false, func(cur *templateProject) error {
		if _, ok := cur.Templates[id]; !ok {
			return store.ErrNotFound
		}
		delete(cur.Templates, id)
		return nil
	})
}

// editTemplateProject changes a template project in one transaction; create allows a new one.
func (a *API) editTemplateProject(w http.ResponseWriter, r *http.Request, account int64, name string, create bool, edit func(*templateProject) error) {
	ctx := r.Context()
	var out templateProject
	err := a.st.InTx(ctx, func(tx store.Store) error {
		rec := store.Record{AccountID: account, Kind: kindTemplateProject, Key: name}
		var cur templateProject
		d, err := facade.GetDocByKey[templateProject](ctx, tx, account, kindTemplateProject, name)
		switch {
		case err == nil:
			rec, cur = d.Record, d.Doc
		case errors.Is(err, store.ErrNotFound) && create:
		default:
			return err
		}
		if err := edit(&cur); err != nil {
			return err
		}
		cur.Name = name
		if err := cur.check(); err != nil {
			return fmt.Errorf("%w: %v", engine.ErrInvalid, err)
		}
		out = cur
		_, err = facade.PutDoc(ctx, tx, rec, cur, a.now())
		return err
	})
	if err != nil {
		a.fail(w, r, err)
		return
	}
	facade.JSON(w, http.StatusOK, out)
}

func (a *API) listProjects(w http.ResponseWriter, r *http.Request, account int64) {
	docs, err := facade.ListDocs[project](r.Context(), a.st, account, kindProject, -1)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out := make([]project, 0, len(docs))
	for _, d := range docs {
		out = append(out, d.Doc)
	}
	facade.JSON(w, http.StatusOK, map[string]any{"projects": out})
}

// templateInstance is a project's instance of a template, with where it publishes and its last
// publish.
type templateInstance struct {
	ID          string     `json:"id"` // for trigger/template/:id
	Template    string     `json:"template"`
	URL         string     `json:"url"`
	Outputs     int        `json:"outputs"`
	PublishedAt *time.Time `json:"published_at,omitempty"`
}

func (a *API) getProject(w http.ResponseWriter, r *http.Request, account int64) {
	ctx := r.Context()
	p, err := a.loadProject(ctx, account, r.PathValue("project"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	tp, err := a.loadTemplateProject(ctx, account, p.Doc.From)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	users, err := a.members(ctx, p.Record)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	ids := make([]string, 0, len(tp.Doc.Templates))
	for id := range tp.Doc.Templates {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	instances := []templateInstance{}
	for _, id := range ids {
		spec := renderSpec{AccountID: account, Instance: instanceID(p.Doc.ID, id), Project: p.Doc.ID, Template: id}
		ti := templateInstance{ID: spec.Instance, Template: id, URL: a.publishedURL(account, p.Doc.ID, id, "")}
		if rec, m, err := a.loadManifest(ctx, spec); err != nil {
			a.fail(w, r, err)
			return
		} else if rec.ID != 0 {
			at := m.PublishedAt
			ti.Outputs, ti.PublishedAt = len(m.Files), &at
		}
		instances = append(instances, ti)
	}
	facade.JSON(w, http.StatusOK, map[string]any{"project": p.Doc, "roles": tp.Doc.Roles, "users": users,
		"template_center": tp.Doc.TemplateCenter, "templates": instances})
}

func (a *API) nativeTrigger(w http.ResponseWriter, r *http.Request, account int64) {
	id, err := a.Trigger(r.Context(), account, r.PathValue("id"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	facade.JSON(w, http.StatusAccepted, map[string]any{"render_id": id})
}

// renderEntry is one render of a template's history. Status is the scaffolder's vocabulary: open
// (queued), processing, completed, failed, cancelled.
type renderEntry struct {
	ID         int64      `json:"id"`
	Status     string     `json:"status"`
	CreatedAt  time.Time  `json:"created_at"`
	StartedAt  *time.Time `json:"started_at,omitempty"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
	Attempts   int        `json:"attempts"`
	renderResult
	Error     string `json:"error,omitempty"`
	ErrorFile string `json:"error_file,omitempty"`
	ErrorLine int    `json:"error_line,omitempty"`
}

func renderStatus(s store.JobStatus) string {
	switch s {
	case store.JobQueued, store.JobWaiting, store.JobPaused:
		return "open"
	case store.JobRunning:
		return "processing"
	case store.JobSucceeded:
		return "completed"
	case store.JobCancelled:
		return "cancelled"
	}
	return "failed"
}

// History lists the renders of a template instance, newest first.
func (a *API) History(ctx context.Context, account int64, id string, limit, offset int) ([]renderEntry, int, error) {
	jobs, total, err := a.st.ListJobs(ctx, store.JobFilter{AccountIDs: []int64{account}, Kind: KindRender, Project: id,
		Limit: limit, Offset: offset, WithDeleted: true})
	if err != nil {
		return nil, 0, fmt.Errorf("list renders of %s: %w", id, err)
	}
	out := make([]renderEntry, 0, len(jobs))
	for _, j := range jobs {
		e, err := a.renderEntry(ctx, j)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, e)
	}
	return out, total, nil
}

// renderEntry reads a render job's entry of the history from its unit.
func (a *API) renderEntry(ctx context.Context, j store.Job) (renderEntry, error) {
	e := renderEntry{ID: j.ID, Status: renderStatus(j.Status), CreatedAt: j.CreatedAt, StartedAt: j.StartedAt, FinishedAt: j.FinishedAt}
	units, _, err := a.st.ListUnits(ctx, store.UnitFilter{JobID: j.ID})
	if err != nil {
		return e, fmt.Errorf("read render %d: %w", j.ID, err)
	}
	if len(units) > 0 {
		u := units[0]
		e.Attempts = u.Attempts
		if len(u.Result) > 0 {
			_ = json.Unmarshal(u.Result, &e.renderResult)
		}
		if u.Error != "" && u.Status != store.UnitDone {
			e.Error = strings.TrimPrefix(u.Error, engine.ErrPermanent.Error()+": ")
			if m := errorPlaceRe.FindStringSubmatch(e.Error); m != nil {
				e.ErrorFile = m[1]
				e.ErrorLine, _ = strconv.Atoi(m[2])
			}
		}
	}
	return e, nil
}

func (a *API) listRenders(w http.ResponseWriter, r *http.Request, account int64) {
	id := r.PathValue("id")
	if _, _, _, err := a.resolveInstance(r.Context(), account, id); err != nil {
		a.fail(w, r, err)
		return
	}
	limit, offset := 20, 0
	if v, err := strconv.Atoi(r.URL.Query().Get("limit")); err == nil && v > 0 {
		limit = min(v, 100)
	}
	if v, err := strconv.Atoi(r.URL.Query().Get("offset")); err == nil && v > 0 {
		offset = v
	}
	list, total, err := a.History(r.Context(), account, id, limit, offset)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	facade.JSON(w, http.StatusOK, map[string]any{"renders": list, "total": total})
}

func (a *API) createToken(w http.ResponseWriter, r *http.Request, account int64) {
	var req struct {
		User       string `json:"user"`
		Scope      string `json:"scope"`
		TTLSeconds int64  `json:"ttl_seconds"`
	}
	if !readBody(w, r, &req) {
		return
	}
	if req.TTLSeconds < 0 || req.TTLSeconds > 100*365*24*3600 {
		facade.JSONError(w, http.StatusBadRequest, "ttl_seconds must be between 0 (never expires) and 100 years")
		return
	}
	t, err := a.issueToken(r.Context(), account, req.User, req.Scope, time.Duration(req.TTLSeconds)*time.Second)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	facade.JSON(w, http.StatusCreated, t)
}

func (a *API) getTokens(w http.ResponseWriter, r *http.Request, account int64) {
	list, err := a.listTokens(r.Context(), account)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	facade.JSON(w, http.StatusOK, map[string]any{"tokens": list})
}

func (a *API) deleteToken(w http.ResponseWriter, r *http.Request, account int64) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		facade.JSONError(w, http.StatusNotFound, "not found")
		return
	}
	if err := a.revokeToken(r.Context(), account, id); err != nil {
		a.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
