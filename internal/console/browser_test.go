package console_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"taskcenter/internal/auth"
	"taskcenter/internal/engine"
	"taskcenter/internal/store"
	"taskcenter/internal/store/storetest/drivers"
)

func decode(res *http.Response, v any) error { return json.NewDecoder(res.Body).Decode(v) }

// gatedWorker runs the units of capability in the server's process, each until the test opens the
// gate: what the console shows running, paused and finished is the engine's real state.
func gatedWorker(t *testing.T, eng *engine.Engine, capability string) (open func()) {
	t.Helper()
	gate := make(chan struct{})
	w, err := eng.StartInProcess(context.Background(), capability, 4, func(ctx context.Context, u store.Unit) (json.RawMessage, error) {
		select {
		case <-gate:
			return json.RawMessage(`{"ok":true}`), nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Stop(context.Background()) })
	return func() { close(gate) }
}

// TestConsoleInBrowser drives the console in headless Chromium on each driver: sign in, submit a job
// and watch it run, pause, resume and finish without a reload, edit a schedule with the cron helper,
// make a dialect key whose secret shows once, sign out; and another account's admin finds the job
// not found.
func TestConsoleInBrowser(t *testing.T) {
	drivers.Each(t, func(t *testing.T, open func(testing.TB) store.Store) {
		ctx := context.Background()
		s := startStack(t, open(t))
		release := gatedWorker(t, s.eng, "inprocess:console-test")
		b := browser(t)

		// First load, as a figure (docs/performance.md), not an assertion: a fresh profile's visit to
		// the sign-in page, then a signed-in reload of the overview with its data.
		do(t, b, "first load", chromedp.Navigate(s.srv.URL+"/"), chromedp.WaitVisible(chromedp.ID("token")))
		firstLoad := get(t, b, "first load time", chromedp.Evaluate[float64](`performance.now()`))
		do(t, b, "sign in",
			chromedp.WaitVisible(chromedp.ID("token")),
			chromedp.SendKeys(chromedp.ID("token"), s.creds.AdminToken),
			chromedp.Click(chromedp.ID("signin")),
			chromedp.WaitVisible(chromedp.ID("signout")),
			chromedp.WaitVisible(chromedp.ID("workers-online")))
		do(t, b, "reload the overview", chromedp.Reload(), chromedp.WaitVisible(chromedp.ID("workers-online")))
		t.Logf("first load: sign-in page shown after %.0f ms (fresh profile); overview with its data after %.0f ms (reload)",
			firstLoad, get(t, b, "overview load time", chromedp.Evaluate[float64](`performance.now()`)))

		spec := `{"kind":"batch","name":"console demo","units":[{"capability":"inprocess:console-test"},{"capability":"inprocess:console-test"}]}`
		var jobURL string
		do(t, b, "submit a job",
			chromedp.Click(chromedp.CSS(`a[href="/jobs"]`)),
			chromedp.WaitVisible(chromedp.ID("job-filters")),
			chromedp.Click(chromedp.CSS("details.card summary")),
			chromedp.SetValue(chromedp.ID("submit-spec"), spec),
			chromedp.Click(chromedp.ID("submit-job")),
			chromedp.WaitVisible(chromedp.ID("submitted-link")),
			chromedp.WaitVisible(chromedp.CSS(`#jobs-table tr[data-job]`)))
		jobURL = get(t, b, "the submitted job's link", chromedp.AttributeValue(chromedp.ID("submitted-link"), "href")).Value
		screenshot(t, b, "jobs")
		var jobID int64
		if _, err := fmt.Sscanf(jobURL, "/jobs/%d", &jobID); err != nil {
			t.Fatalf("submitted link %q", jobURL)
		}

		// The marker lives as long as the document: a reload would lose it.
		do(t, b, "open the job and see it run",
			chromedp.Click(chromedp.ID("submitted-link")),
			chromedp.WaitVisible(chromedp.ID("job-actions")),
			chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
				_, err := chromedp.Evaluate[int](`window.__noReload = 1`)(ctx, tg)
				return err
			}),
			chromedp.WaitVisible(chromedp.CSS(`#job-counts [data-count="running"]`)))
		screenshot(t, b, "job")

		do(t, b, "pause", chromedp.Click(chromedp.CSS(`button[data-action="pause"]`)),
			chromedp.WaitVisible(chromedp.CSS(`h1 .badge[data-status="paused"]`)))
		if j, err := s.st.GetJob(ctx, jobID); err != nil || j.Status != store.JobPaused {
			t.Fatalf("after pause the job is %s (%v)", j.Status, err)
		}
		do(t, b, "resume", chromedp.Click(chromedp.CSS(`button[data-action="resume"]`)),
			chromedp.WaitNotPresent(chromedp.CSS(`h1 .badge[data-status="paused"]`)),
			chromedp.WaitVisible(chromedp.CSS(`#job-counts [data-count="running"]`)))

		release()
		t.Cleanup(func() {
			if t.Failed() {
				j, _ := s.st.GetJob(ctx, jobID)
				us, _, _ := s.st.ListUnits(ctx, store.UnitFilter{JobID: jobID})
				t.Logf("job %d: %s; units %+v", jobID, j.Status, us)
			}
		})
		do(t, b, "watch it finish without a reload",
			chromedp.WaitVisible(chromedp.CSS(`h1 .badge[data-status="succeeded"]`)),
			chromedp.WaitVisible(chromedp.CSS(`#job-counts [data-count="done"]`)))
		if kept := get(t, b, "the marker", chromedp.Evaluate[int](`window.__noReload || 0`)); kept != 1 {
			t.Fatal("the page was reloaded")
		}

		do(t, b, "a bulk priority change",
			chromedp.Click(chromedp.CSS(`nav a[href="/jobs"]`)),
			chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`tr[data-job="%d"] input[type=checkbox]`, jobID))),
			chromedp.Click(chromedp.CSS(fmt.Sprintf(`tr[data-job="%d"] input[type=checkbox]`, jobID))),
			chromedp.SetValue(chromedp.CSS(`#bulk input[type=number]`), "5"),
			chromedp.Click(chromedp.CSS(`#bulk button[data-bulk="priority"]`)),
			chromedp.WaitVisible(chromedp.CSS(`#bulk .ok`)))
		if j, err := s.st.GetJob(ctx, jobID); err != nil || j.Priority != 5 {
			t.Fatalf("after the bulk change the priority is %d (%v)", j.Priority, err)
		}
		do(t, b, "the overview counts it", chromedp.Click(chromedp.CSS(`nav a[href="/"]`)),
			chromedp.WaitVisible(chromedp.CSS(`#kinds [data-kind="batch"]`)))
		screenshot(t, b, "overview")
		// A process as the RPA facade keeps it; its tab lists it through the native collection.
		if _, err := s.st.PutRecord(ctx, store.Record{AccountID: 1, Kind: "rpa.process", Key: "invoice", Name: "Invoices",
			Data: json.RawMessage(`{"procCode":"invoice","procName":"Invoices","workStatus":"release"}`)}, s.eng.Now()); err != nil {
			t.Fatal(err)
		}
		do(t, b, "the RPA page", chromedp.Click(chromedp.CSS(`nav a[href="/rpa"]`)), chromedp.WaitVisible(chromedp.CSS(`.tabs a.active`)),
			chromedp.Click(chromedp.CSS(`.tabs a[href="/rpa/processes"]`)),
			chromedp.WaitVisible(chromedp.CSS(`[data-collection="rpa.processes"] tr[data-id]`)),
			chromedp.WaitVisible(chromedp.CSS(`[data-collection="rpa.versions"] table`)))

		// A finished recording (held units: no recorder here) and a template project: their pages
		// list them through their facades' collections.
		held := s.eng.Now().Add(time.Hour)
		if _, err := s.eng.Submit(ctx, engine.JobSpec{AccountID: 1, Kind: "recording", Name: "class-7", Project: "app1",
			Spec:  json.RawMessage(`{"app_id":"app1","group_id":"class-7","file_name":"lesson","state":"done","created_at":1764770400000,"started_at":1764770405000,"stopped_at":1764773105000,"media_millis":2700000,"slices":[{"index":1,"hash":"` + strings.Repeat("a", 64) + `","size":48234567,"millis":2700000}]}`),
			Units: []engine.UnitSpec{{Capability: "recorder", RunAfter: &held}}}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.st.PutRecord(ctx, store.Record{AccountID: 1, Kind: "projects.template-project", Key: "site-template",
			Data: json.RawMessage(`{"name":"site-template","template_center":true,"templates":{"pages":{"files":{"index.html":"hi"}}}}`)}, s.eng.Now()); err != nil {
			t.Fatal(err)
		}
		do(t, b, "the recordings page", chromedp.Click(chromedp.CSS(`nav a[href="/recordings"]`)),
			chromedp.WaitVisible(chromedp.CSS(`[data-collection="recording.recordings"] tr[data-id] button[data-play="lesson_1.mp4"]`)))
		screenshot(t, b, "recordings")
		do(t, b, "the projects page", chromedp.Click(chromedp.CSS(`nav a[href="/projects"]`)),
			chromedp.WaitVisible(chromedp.CSS(`[data-collection="projects.template-projects"] tr[data-id]`)),
			chromedp.WaitVisible(chromedp.CSS(`[data-collection="projects.renders"] table`)))
		screenshot(t, b, "projects")

		// An AI task made through the real relay against a fake upstream: its page lists the task
		// (filtered by status), the channels without their keys (a disabled one with its reason), and
		// the charge in the user's ledger.
		taskID, channel := aiTask(t, s)
		do(t, b, "the AI tasks page", chromedp.Click(chromedp.CSS(`nav a[href="/aitasks"]`)),
			chromedp.WaitVisible(chromedp.CSS(`[data-collection="aitasks.tasks"] tr[data-id]`)),
			chromedp.WaitVisible(chromedp.CSS(`[data-collection="aitasks.channels"] tr[data-id]`)),
			chromedp.Click(chromedp.CSS(`[data-collection="aitasks.users"] a[data-user-ledger]`)),
			chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`#ai-ledger tr[data-kind="charge"][data-task="%s"]`, taskID))))
		do(t, b, "show the ledger", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := chromedp.Evaluate[bool](`(document.getElementById('ai-ledger').scrollIntoView({block: 'end'}), true)`)(ctx, tg)
			return err
		}))
		screenshot(t, b, "aitasks")
		page := get(t, b, "the AI tasks page", chromedp.Text(chromedp.CSS("main")))
		for _, want := range []string{taskID, channel, "chirp-v3-5", "dana", "-1200", "disabled by an administrator"} {
			if !strings.Contains(page, want) {
				t.Errorf("the AI tasks page lacks %q:\n%s", want, page)
			}
		}
		if html := get(t, b, "the AI tasks page", chromedp.OuterHTML(chromedp.CSS("html"))); strings.Contains(html, upstreamKey) {
			t.Fatal("the AI tasks page shows the channel's key")
		}
		filter := func(status string) chromedp.Action[chromedp.Void] {
			return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
				_, err := chromedp.Evaluate[bool](fmt.Sprintf(`(() => { const s = document.querySelector('[data-filter="status"]'); s.value = %q; s.dispatchEvent(new Event('change')); return true; })()`, status))(ctx, tg)
				return err
			})
		}
		do(t, b, "filter the AI tasks by a status they lack", filter("FAILURE"),
			chromedp.WaitNotPresent(chromedp.CSS(`[data-collection="aitasks.tasks"] tr[data-id]`)))
		do(t, b, "and by any status", filter(""),
			chromedp.WaitVisible(chromedp.CSS(`[data-collection="aitasks.tasks"] [data-status="SUBMITTED"]`)),
			chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
				_, err := chromedp.Evaluate[int](`window.__noReload = 2`)(ctx, tg)
				return err
			}))
		// The task is due for its poll now rather than in 15 s: the poll job the planner makes fetches
		// it from the upstream (IN_PROGRESS, 30%), and its end on the live stream reloads the list.
		task, err := s.st.GetAITaskByPublicID(ctx, 1, 0, taskID)
		if err != nil {
			t.Fatal(err)
		}
		due := s.eng.Now()
		if ok, err := s.st.UpdateAITask(ctx, task.ID, task.Status, store.AITaskPatch{NextPollAt: &due}, due); err != nil || !ok {
			t.Fatalf("make the task due: %v %v", ok, err)
		}
		do(t, b, "see the task polled without a reload",
			chromedp.WaitVisible(chromedp.CSS(`[data-collection="aitasks.tasks"] [data-status="IN_PROGRESS"]`)))
		if kept := get(t, b, "the marker", chromedp.Evaluate[int](`window.__noReload || 0`)); kept != 2 {
			t.Fatal("the AI tasks page was reloaded")
		}

		// A schedule, edited with the cron helper.
		sc, err := s.eng.CreateSchedule(ctx, engine.ScheduleSpec{AccountID: 1, Name: "nightly", Cron: "0 0 2 * * ?", Enabled: true,
			Template: engine.JobSpec{AccountID: 1, Kind: "batch", Units: []engine.UnitSpec{{Capability: "shell"}}}})
		if err != nil {
			t.Fatal(err)
		}
		do(t, b, "edit a schedule",
			chromedp.Click(chromedp.CSS(`a[href="/schedules"]`)),
			chromedp.Click(chromedp.CSS(fmt.Sprintf(`button[data-edit="%d"]`, sc.ID))),
			chromedp.WaitVisible(chromedp.ID("schedule-form")),
			chromedp.SetValue(chromedp.ID("sched-name"), "nightly report"),
			chromedp.SetValue(chromedp.CSS(`#cron-helper select`), "daily"),
			chromedp.SetValue(chromedp.ID("cron-a"), "03:30"),
			chromedp.Click(chromedp.ID("cron-apply")),
			chromedp.Click(chromedp.ID("sched-save")),
			chromedp.WaitVisible(chromedp.CSS("#sched-msg .ok")))
		screenshot(t, b, "schedules")
		if got, err := s.st.GetSchedule(ctx, sc.ID); err != nil || got.Cron != "0 30 3 * * ?" || got.Name != "nightly report" {
			t.Fatalf("schedule after the edit: %+v (%v)", got, err)
		}

		// A dialect key: its secret shows once, then nowhere.
		var accessID, accessKey string
		do(t, b, "create a key",
			chromedp.Click(chromedp.CSS(`a[href="/accounts"]`)),
			chromedp.WaitVisible(chromedp.ID("key-create")),
			chromedp.SetValue(chromedp.ID("key-kind"), "render"),
			chromedp.Click(chromedp.ID("key-create")),
			chromedp.WaitVisible(chromedp.CSS(`[data-secret="accessKey"]`)))
		accessID = get(t, b, "access id", chromedp.Text(chromedp.CSS(`[data-secret="accessId"]`)))
		accessKey = get(t, b, "access key", chromedp.Text(chromedp.CSS(`[data-secret="accessKey"]`)))
		screenshot(t, b, "accounts")
		if _, err := s.st.GetCredential(ctx, store.CredRender, accessID); err != nil || len(accessKey) < 16 {
			t.Fatalf("key %q/%q: %v", accessID, accessKey, err)
		}
		var html string
		do(t, b, "the secret is gone after a reload",
			chromedp.Click(chromedp.ID("secret-done")),
			chromedp.Reload(),
			chromedp.WaitVisible(chromedp.CSS(`#tokens [data-token]`)))
		html = get(t, b, "the page", chromedp.OuterHTML(chromedp.CSS("html")))
		if !strings.Contains(html, accessID) || strings.Contains(html, accessKey) {
			t.Fatalf("after a reload the key id shows: %v, the secret shows: %v", strings.Contains(html, accessID), strings.Contains(html, accessKey))
		}

		do(t, b, "workers page", chromedp.Click(chromedp.CSS(`a[href="/workers"]`)), chromedp.WaitVisible(chromedp.CSS("#workers-table table")))
		screenshot(t, b, "workers")
		ws, err := s.st.ListWorkers(ctx, "")
		if err != nil || len(ws) == 0 {
			t.Fatalf("workers %v, %v", ws, err)
		}
		wk := ws[0].ID
		do(t, b, "drain a worker", chromedp.Click(chromedp.CSS(fmt.Sprintf(`button[data-drain="%d"]`, wk))),
			chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`[data-drained="%d"]`, wk))))
		if w, err := s.st.GetWorker(ctx, wk); err != nil || w.DrainedAt == nil {
			t.Fatalf("after drain the worker is %+v (%v)", w, err)
		}
		do(t, b, "undrain it", chromedp.Click(chromedp.CSS(fmt.Sprintf(`button[data-drain="%d"]`, wk))),
			chromedp.WaitNotPresent(chromedp.CSS(fmt.Sprintf(`[data-drained="%d"]`, wk))))
		if w, err := s.st.GetWorker(ctx, wk); err != nil || w.DrainedAt != nil {
			t.Fatalf("after undrain the worker is %+v (%v)", w, err)
		}

		do(t, b, "sign out",
			chromedp.Click(chromedp.ID("signout")),
			chromedp.WaitVisible(chromedp.ID("login")))
		status := get(t, b, "the session ends", chromedp.Evaluate[int](`fetch('/console/session').then(r => r.status)`, chromedp.EvalAwaitPromise))
		if status != http.StatusUnauthorized {
			t.Fatalf("after sign-out the session answers %d", status)
		}

		// Another account's admin: the first account's job is not found, by page or by API.
		other, err := s.st.CreateAccount(ctx, store.Account{Name: "other", Role: store.RoleUser, CreatedAt: s.eng.Now(), UpdatedAt: s.eng.Now()})
		if err != nil {
			t.Fatal(err)
		}
		token, _, err := auth.IssueToken(ctx, s.st, other.ID, store.CredAdmin, "other admin", s.eng.Now())
		if err != nil {
			t.Fatal(err)
		}
		var heading string
		do(t, b, "a foreign job",
			chromedp.SendKeys(chromedp.ID("token"), token),
			chromedp.Click(chromedp.ID("signin")),
			chromedp.WaitVisible(chromedp.ID("signout")),
			chromedp.Navigate(s.srv.URL+jobURL),
			chromedp.WaitVisible(chromedp.CSS("main h1")))
		heading = get(t, b, "the heading", chromedp.Text(chromedp.CSS("main h1")))
		if heading != "Not found" {
			t.Fatalf("another account's job shows %q", heading)
		}
		status = get(t, b, "a foreign job's stream", chromedp.Evaluate[int](fmt.Sprintf(`fetch('/console/live?job=%d').then(r => r.status)`, jobID), chromedp.EvalAwaitPromise))
		if status != http.StatusNotFound {
			t.Fatalf("another account's job stream answers %d", status)
		}
	})
}
