package projects

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"mime"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"taskcenter/internal/blob"
	"taskcenter/internal/engine"
	"taskcenter/internal/facade"
	"taskcenter/internal/store"
)

// renderSpec is the spec of a render job and of its one unit.
type renderSpec struct {
	AccountID int64  `json:"account_id"`
	Instance  string `json:"instance"` // <project>.<template>
	Project   string `json:"project"`
	Template  string `json:"template"`
}

// renderResult is a render unit's result: what the publish did.
type renderResult struct {
	Uploaded  int      `json:"uploaded"`
	Unchanged int      `json:"unchanged"`
	Deleted   int      `json:"deleted"`
	Outputs   int      `json:"outputs"`
	Changed   []string `json:"changed,omitempty"` // the uploaded paths, at most maxListed
	Removed   []string `json:"removed,omitempty"`
	Webhook   string   `json:"webhook,omitempty"` // "delivered", or why not
}

const maxListed = 100

// resolveInstance finds a template instance of the account; not found (404) when the project, its
// template project or the template does not exist, or the template project has no template center.
func (a *API) resolveInstance(ctx context.Context, account int64, id string) (renderSpec, facade.Doc[project], facade.Doc[templateProject], error) {
	var none renderSpec
	projName, tpl, ok := splitInstance(id)
	if !ok || !fullNameOK(projName) {
		return none, facade.Doc[project]{}, facade.Doc[templateProject]{}, notFound("template %s does not exist", id)
	}
	p, err := facade.GetDocByKey[project](ctx, a.st, account, kindProject, projName)
	if errors.Is(err, store.ErrNotFound) {
		return none, p, facade.Doc[templateProject]{}, notFound("template %s does not exist", id)
	}
	if err != nil {
		return none, p, facade.Doc[templateProject]{}, err
	}
	tp, err := a.loadTemplateProject(ctx, account, p.Doc.From)
	if errors.Is(err, store.ErrNotFound) {
		return none, p, tp, notFound("template %s does not exist", id)
	}
	if err != nil {
		return none, p, tp, err
	}
	if !tp.Doc.TemplateCenter {
		return none, p, tp, notFound("project %s has no template center", projName)
	}
	if _, ok := tp.Doc.Templates[tpl]; !ok {
		return none, p, tp, notFound("template %s does not exist", id)
	}
	return renderSpec{AccountID: account, Instance: id, Project: projName, Template: tpl}, p, tp, nil
}

// trigger is /service/trigger/template/:id: it queues a render and answers at once. A render of
// the template already queued and not started is joined instead: the pending record's unique key
// lets one trigger queue, and the others find its job.
//
// :id is an instance, <project>.<template>, or, as the document's example has it, a bare template id
// (pixh2): that triggers the template in every extended project of the caller's account whose
// template project has it and a template center.
func (a *API) trigger(ctx context.Context, c *call) (any, string, error) {
	account, id := c.caller.account.ID, c.r.PathValue("id")
	if strings.Contains(id, ".") || !templateIDRe.MatchString(id) {
		_, err := a.Trigger(ctx, account, id)
		return nil, "", err
	}
	instances, err := a.instancesOf(ctx, account, id)
	if err != nil {
		return nil, "", err
	}
	for _, inst := range instances {
		if _, err := a.Trigger(ctx, account, inst); err != nil {
			return nil, "", err
		}
	}
	return nil, "", nil
}

// instancesOf lists the instances of template tpl in the account's extended projects, in name order;
// none is notFound, told apart from a template whose project has no template center.
func (a *API) instancesOf(ctx context.Context, account int64, tpl string) ([]string, error) {
	tps, err := facade.ListDocs[templateProject](ctx, a.st, account, kindTemplateProject, -1)
	if err != nil {
		return nil, err
	}
	centres, found := map[string]bool{}, false
	for _, tp := range tps {
		if _, ok := tp.Doc.Templates[tpl]; ok {
			found = true
			if tp.Doc.TemplateCenter {
				centres[tp.Key] = true
			}
		}
	}
	if !found {
		return nil, notFound("template %s does not exist", tpl)
	}
	if len(centres) == 0 {
		return nil, notFound("the projects of template %s have no template center", tpl)
	}
	projects, err := facade.ListDocs[project](ctx, a.st, account, kindProject, -1)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, p := range projects {
		if centres[p.Doc.From] {
			out = append(out, p.Key+"."+tpl)
		}
	}
	if len(out) == 0 {
		return nil, notFound("template %s has no extended project to render", tpl)
	}
	sort.Strings(out)
	return out, nil
}

// Trigger queues a render of template instance id (or joins the one queued) and returns its job.
func (a *API) Trigger(ctx context.Context, account int64, id string) (int64, error) {
	spec, _, _, err := a.resolveInstance(ctx, account, id)
	if err != nil {
		return 0, err
	}
	// Triggers of one template in this process take turns, and few submissions run at once: the
	// later ones then find the pending render and join it without a transaction of their own.
	// Replicas coalesce through the pending record's unique key.
	lock := &a.triggerLocks[lockIndex(account, id)]
	lock.Lock()
	defer lock.Unlock()
	for range 10 {
		if d, err := facade.GetDocByKey[pending](ctx, a.st, account, kindPending, id); err == nil {
			live, err := a.pendingLive(ctx, d)
			if err != nil || live {
				return d.Doc.JobID, err
			}
			continue // its render was aborted or deleted before it started: queue another
		} else if !errors.Is(err, store.ErrNotFound) {
			return 0, err
		}
		raw, _ := json.Marshal(spec)
		select {
		case a.submitSlots <- struct{}{}:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
		j, err := a.eng.SubmitWith(ctx, engine.JobSpec{
			AccountID: account, Kind: KindRender, Name: "render " + id, Project: id,
			MaxAttempts: 3, UnitTimeout: engine.Duration(10 * time.Minute), Spec: raw,
			Units: []engine.UnitSpec{{Name: id, Capability: capabilityRender, Spec: raw}},
		}, func(tx engine.Tx, j store.Job) error {
			_, err := facade.PutDoc(ctx, tx.Records(), store.Record{AccountID: account, Kind: kindPending, Key: id}, pending{JobID: j.ID}, a.now())
			return err
		})
		<-a.submitSlots
		if errors.Is(err, store.ErrConflict) {
			continue // another trigger queued it a moment ago: join that one
		}
		if err != nil {
			return 0, fmt.Errorf("queue a render of %s: %w", id, err)
		}
		return j.ID, nil
	}
	return 0, errors.New("queue a render: the template's queue kept changing")
}

// pendingLive reports whether a pending render will still run; a stale mark (its job was aborted
// or deleted before it started) is removed.
func (a *API) pendingLive(ctx context.Context, d facade.Doc[pending]) (bool, error) {
	j, err := a.st.GetJob(ctx, d.Doc.JobID)
	if err == nil && !j.Status.Terminal() && !j.Deleted {
		return true, nil
	}
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return false, fmt.Errorf("read the pending render %d: %w", d.Doc.JobID, err)
	}
	if err := a.st.DeleteRecord(ctx, d.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
		return false, fmt.Errorf("clear the stale pending render %d: %w", d.Doc.JobID, err)
	}
	return false, nil
}

// lockIndex picks the trigger lock of a template instance.
func lockIndex(account int64, id string) int {
	h := fnv.New32a()
	_, _ = h.Write([]byte(strconv.FormatInt(account, 10) + "/" + id))
	return int(h.Sum32() % triggerLockCount)
}

// render is the in-process handler of a render unit: render into staging, hash, diff against the
// last manifest, upload what is new or changed, delete what was removed (guarded), and commit the
// new manifest only when every step succeeded.
func (a *API) render(ctx context.Context, u store.Unit) (json.RawMessage, error) {
	var spec renderSpec
	if err := json.Unmarshal(u.Spec, &spec); err != nil {
		return nil, fmt.Errorf("%w: render spec: %v", engine.ErrPermanent, err)
	}
	// Renders of one template take turns in this process (replicas: the manifest's commit guard),
	// and a trigger joins this render until it holds its turn: only then does it read the
	// definitions, so that nothing triggered before is missed and at most one render waits.
	turn := a.renderTurns[lockIndex(spec.AccountID, spec.Instance)]
	select {
	case turn <- struct{}{}:
		defer func() { <-turn }()
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
	if d, err := facade.GetDocByKey[pending](ctx, a.st, spec.AccountID, kindPending, spec.Instance); err == nil && d.Doc.JobID == u.JobID {
		if err := a.st.DeleteRecord(ctx, d.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("clear the pending render of %s: %w", spec.Instance, err)
		}
	} else if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("read the pending render of %s: %w", spec.Instance, err)
	}
	res, err := a.publish(ctx, spec, u.JobID)
	if err != nil {
		var re *renderError
		if errors.As(err, &re) {
			err = fmt.Errorf("%w: %s", engine.ErrPermanent, re.Msg)
		}
		if errors.Is(err, engine.ErrPermanent) || u.Attempts >= u.MaxAttempts {
			a.notify(ctx, spec, u.JobID, "failed", nil, err)
		}
		return nil, err
	}
	res.Webhook = a.notify(ctx, spec, u.JobID, "completed", &res, nil)
	return json.Marshal(res)
}

// publish does one render's work.
func (a *API) publish(ctx context.Context, spec renderSpec, jobID int64) (renderResult, error) {
	_, p, tp, err := a.resolveInstance(ctx, spec.AccountID, spec.Instance)
	if err != nil {
		return renderResult{}, fmt.Errorf("%w: %v", engine.ErrPermanent, err)
	}
	def := tp.Doc.Templates[spec.Template]
	users, err := a.members(ctx, p.Record)
	if err != nil {
		return renderResult{}, err
	}
	values, err := instanceValues(p.Doc, tp.Doc, spec, def, users)
	if err != nil {
		return renderResult{}, err
	}

	// Staging: every output rendered before anything is pushed.
	outputs, err := renderFiles(def.Files, values)
	if err != nil {
		return renderResult{}, err
	}
	next := make(map[string]manifestFile, len(outputs))
	for path, data := range outputs {
		sum := sha256.Sum256(data)
		next[path] = manifestFile{Hash: hex.EncodeToString(sum[:]), Size: len(data)}
	}

	prevRec, prev, err := a.loadManifest(ctx, spec)
	if err != nil {
		return renderResult{}, err
	}
	var changed, removed []string
	res := renderResult{Outputs: len(next)}
	for path, f := range next {
		if old, ok := prev.Files[path]; ok && old.Hash == f.Hash {
			res.Unchanged++
		} else {
			changed = append(changed, path)
		}
	}
	for path := range prev.Files {
		if _, ok := next[path]; !ok {
			removed = append(removed, path)
		}
	}
	guard := tp.Doc.MaxDeletes
	if guard == 0 {
		guard = defaultMaxDeletes
	}
	if guard >= 0 && len(removed) > guard {
		return renderResult{}, fmt.Errorf("%w: the publish would delete %d outputs, more than the guard allows (%d); raise max_deletes to let it",
			engine.ErrPermanent, len(removed), guard)
	}
	// Assets before pages, as Hugo's ordered upload groups do: a page is not served before what it
	// links to.
	sort.Slice(changed, func(i, j int) bool {
		if hi, hj := isHTML(changed[i]), isHTML(changed[j]); hi != hj {
			return hj
		}
		return changed[i] < changed[j]
	})
	sort.Strings(removed)
	account := strconv.FormatInt(spec.AccountID, 10)
	key := func(path string) string {
		k, _ := publishedKey(account, spec.Project, spec.Template, path)
		return k
	}
	if err := a.forEach(ctx, changed, func(ctx context.Context, path string) error {
		ct := mime.TypeByExtension(pathExt(path))
		if err := a.target.PutKey(ctx, key(path), outputs[path], ct); err != nil {
			return fmt.Errorf("upload %s: %w", path, err)
		}
		return nil
	}); err != nil {
		return renderResult{}, err
	}
	if err := a.forEach(ctx, removed, func(ctx context.Context, path string) error {
		if err := a.target.DeleteKey(ctx, key(path)); err != nil && !errors.Is(err, blob.ErrNotFound) {
			return fmt.Errorf("delete %s: %w", path, err)
		}
		return nil
	}); err != nil {
		return renderResult{}, err
	}
	m := manifest{Files: next, JobID: jobID, PublishedAt: a.now()}
	if err := a.commitManifest(ctx, spec, prevRec, prev.Version, m); err != nil {
		return renderResult{}, err
	}
	res.Uploaded, res.Deleted = len(changed), len(removed)
	res.Changed, res.Removed = changed[:min(len(changed), maxListed)], removed[:min(len(removed), maxListed)]
	return res, nil
}

// instanceValues are the values an instance's templates see.
func instanceValues(p project, tp templateProject, spec renderSpec, def templateDef, users map[string][]string) (renderValues, error) {
	var config any
	if len(def.Config) > 0 {
		dec := json.NewDecoder(bytes.NewReader(def.Config))
		dec.UseNumber()
		if err := dec.Decode(&config); err != nil {
			return renderValues{}, fmt.Errorf("%w: config of %s: %v", engine.ErrPermanent, spec.Template, err)
		}
	}
	var admins []string
	for u, roles := range users {
		if slices.Contains(roles, "admin") {
			admins = append(admins, u)
		}
	}
	sort.Strings(admins)
	return renderValues{
		Project: projectValues{ID: p.ID, Base: p.Base, From: p.From, Name: p.Name, AppID: p.AppID, TimeZone: p.TimeZone,
			Desc: p.Desc, Admins: admins, Roles: tp.Roles},
		Template: templateValues{ID: spec.Instance, Name: spec.Template},
		Config:   config,
		Users:    users,
	}, nil
}

// loadManifest reads the last successful publish's manifest (empty before the first).
func (a *API) loadManifest(ctx context.Context, spec renderSpec) (store.Record, manifest, error) {
	d, err := facade.GetDocByKey[manifest](ctx, a.st, spec.AccountID, kindManifest, spec.Instance)
	if errors.Is(err, store.ErrNotFound) {
		return store.Record{AccountID: spec.AccountID, Kind: kindManifest, Key: spec.Instance}, manifest{Files: map[string]manifestFile{}}, nil
	}
	if err != nil {
		return store.Record{}, manifest{}, err
	}
	if d.Doc.Files == nil {
		d.Doc.Files = map[string]manifestFile{}
	}
	return d.Record, d.Doc, nil
}

// commitManifest writes the new manifest, guarded: if another publish committed since this one read
// the manifest, this one fails (and is retried against the newer manifest). The guard holds across
// replicas on both drivers because each version takes a unique key (<instance>#<version>): of two
// publishes from one version, the second to commit meets the first's key.
func (a *API) commitManifest(ctx context.Context, spec renderSpec, prev store.Record, prevVersion int64, m manifest) error {
	m.Version = prevVersion + 1
	return a.st.InTx(ctx, func(tx store.Store) error {
		_, err := tx.PutRecord(ctx, store.Record{AccountID: spec.AccountID, Kind: kindManifestVersion,
			Key: versionKey(spec.Instance, m.Version), Data: []byte("{}")}, a.now())
		if errors.Is(err, store.ErrConflict) {
			return fmt.Errorf("commit the manifest of %s: another publish committed version %d first", spec.Instance, m.Version)
		}
		if err != nil {
			return fmt.Errorf("commit the manifest of %s: %w", spec.Instance, err)
		}
		if old, err := tx.GetRecordByKey(ctx, spec.AccountID, kindManifestVersion, versionKey(spec.Instance, prevVersion)); err == nil {
			if err := tx.DeleteRecord(ctx, old.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("drop the manifest version mark of %s: %w", spec.Instance, err)
			}
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		cur, err := tx.GetRecordByKey(ctx, spec.AccountID, kindManifest, spec.Instance)
		switch {
		case errors.Is(err, store.ErrNotFound):
			if prev.ID != 0 {
				return fmt.Errorf("commit the manifest of %s: it was removed meanwhile", spec.Instance)
			}
		case err != nil:
			return err
		case cur.ID != prev.ID || !cur.UpdatedAt.Equal(prev.UpdatedAt):
			return fmt.Errorf("commit the manifest of %s: another publish committed first", spec.Instance)
		}
		_, err = facade.PutDoc(ctx, tx, prev, m, a.now())
		return err
	})
}

func versionKey(instance string, version int64) string {
	return instance + "#" + strconv.FormatInt(version, 10)
}

// forEach runs fn over items with the configured concurrency and returns the first error; the
// others stop at once.
func (a *API) forEach(ctx context.Context, items []string, fn func(ctx context.Context, item string) error) error {
	if len(items) == 0 {
		return nil
	}
	parent := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	work := make(chan string)
	var once sync.Once
	var first error
	var wg sync.WaitGroup
	for range min(a.cfg.UploadConcurrency, len(items)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for item := range work {
				if err := fn(ctx, item); err != nil {
					once.Do(func() { first = err; cancel() })
				}
			}
		}()
	}
feed:
	for _, item := range items {
		select {
		case work <- item:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	if first == nil {
		first = parent.Err() // stopped before every item was done
	}
	return first
}

// webhookEvent is what a template project's webhook receives when a publish completes or fails.
type webhookEvent struct {
	Event    string        `json:"event"` // publish.completed or publish.failed
	Template string        `json:"template"`
	Project  string        `json:"project"`
	RenderID int64         `json:"render_id"`
	Status   string        `json:"status"` // completed or failed
	Result   *renderResult `json:"result,omitempty"`
	Error    string        `json:"error,omitempty"`
	URL      string        `json:"url"` // where the template's outputs are published
	At       time.Time     `json:"at"`
}

// notify posts the event to the template project's webhook, a few times while it fails, and says
// how it went. A webhook that cannot be reached changes nothing of the publish.
func (a *API) notify(ctx context.Context, spec renderSpec, jobID int64, status string, res *renderResult, failed error) string {
	tp, err := a.loadProjectTemplate(ctx, spec)
	if err != nil || tp.Webhook == "" {
		return ""
	}
	ev := webhookEvent{Event: "publish." + status, Template: spec.Instance, Project: spec.Project, RenderID: jobID, Status: status,
		Result: res, URL: a.publishedURL(spec.AccountID, spec.Project, spec.Template, ""), At: a.now().UTC()}
	if failed != nil {
		ev.Error = strings.TrimPrefix(failed.Error(), engine.ErrPermanent.Error()+": ")
	}
	body, _ := json.Marshal(ev)
	var last string
	for attempt := range 3 {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return "not delivered: " + ctx.Err().Error()
			case <-time.After(time.Duration(attempt) * 500 * time.Millisecond):
			}
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, tp.Webhook, bytes.NewReader(body))
		if err != nil {
			return "not delivered: " + err.Error()
		}
		req.Header.Set("Content-Type", "application/json")
		if tp.WebhookSecret != "" {
			mac := hmac.New(sha256.New, []byte(tp.WebhookSecret))
			mac.Write(body)
			req.Header.Set("X-Taskcenter-Signature", "sha256="+hex.EncodeToString(mac.Sum(nil)))
		}
		resp, err := a.hooks.Do(req)
		if err != nil {
			last = err.Error()
			continue
		}
		resp.Body.Close()
		if resp.StatusCode/100 == 2 {
			return "delivered"
		}
		last = resp.Status
	}
	a.log.Warn("webhook not delivered", "template", spec.Instance, "url", tp.Webhook, "err", last)
	return "not delivered: " + last
}

func (a *API) loadProjectTemplate(ctx context.Context, spec renderSpec) (templateProject, error) {
	p, err := facade.GetDocByKey[project](ctx, a.st, spec.AccountID, kindProject, spec.Project)
	if err != nil {
		return templateProject{}, err
	}
	tp, err := a.loadTemplateProject(ctx, spec.AccountID, p.Doc.From)
	return tp.Doc, err
}
