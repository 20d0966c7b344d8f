package projects

import (
	"context"
	"fmt"
	"strings"
	"testing"
)

// manyFiles is a template of n outputs; output i prints the config value named by i % groups, so
// that changing one value changes n/groups outputs.
func manyFiles(n, groups int) map[string]string {
	files := make(map[string]string, n)
	for i := range n {
		files[fmt.Sprintf("pages/p%04d.txt", i)] = fmt.Sprintf("page %d of {{.Project.Name}}: {{index .Config \"v%d\"}}\n", i, i%groups)
	}
	return files
}

func manyConfig(groups int, changed int) map[string]any {
	c := map[string]any{}
	for g := range groups {
		c[fmt.Sprintf("v%d", g)] = "value"
	}
	if changed >= 0 {
		c[fmt.Sprintf("v%d", changed)] = "changed"
	}
	return c
}

// TestThousandOutputsTenChanged: of 1,000 outputs, a change touching 10 uploads exactly those 10.
func TestThousandOutputsTenChanged(t *testing.T) {
	forEachStore(t, func(t *testing.T, e *env) {
		const n, groups = 1000, 100 // each config value feeds 10 outputs
		e.native("PUT", "/api/v1/projects/template-projects/big-template", map[string]any{"template_center": true,
			"templates": map[string]any{"pages": map[string]any{"files": manyFiles(n, groups), "config": manyConfig(groups, -1)}}}, 200)
		e.kms.call(t, "POST", "/service/createExtendedProject", map[string]any{"from": "big-template", "id": "gx", "name": "Big"}).ok(t)
		const id = "gx-big.pages"
		e.kms.call(t, "GET", "/service/trigger/template/"+id, nil).ok(t)
		if h := e.settled(id, 1); h[0].Uploaded != n || e.target.puts.Load() != n {
			t.Fatalf("first publish %+v, puts %d", h[0], e.target.puts.Load())
		}
		e.native("PUT", "/api/v1/projects/template-projects/big-template/templates/pages",
			map[string]any{"files": manyFiles(n, groups), "config": manyConfig(groups, 7)}, 200)
		e.kms.call(t, "GET", "/service/trigger/template/"+id, nil).ok(t)
		h := e.settled(id, 2)
		if h[0].Uploaded != 10 || h[0].Unchanged != n-10 || e.target.puts.Load() != n+10 {
			t.Fatalf("second publish %+v, puts %d", h[0], e.target.puts.Load()-n)
		}
		for _, p := range h[0].Changed {
			var i int
			if _, err := fmt.Sscanf(p, "pages/p%04d.txt", &i); err != nil || i%groups != 7 {
				t.Fatalf("uploaded %s, which did not change", p)
			}
		}
	})
}

// TestDeleteGuard: a publish that would delete more outputs than the guard allows publishes
// nothing and says why; raising the guard lets it through.
func TestDeleteGuard(t *testing.T) {
	forEachStore(t, func(t *testing.T, e *env) {
		doc := map[string]any{"template_center": true, "max_deletes": 2,
			"templates": map[string]any{"pages": map[string]any{"files": manyFiles(10, 10), "config": manyConfig(10, -1)}}}
		e.native("PUT", "/api/v1/projects/template-projects/big-template", doc, 200)
		e.kms.call(t, "POST", "/service/createExtendedProject", map[string]any{"from": "big-template", "id": "gx", "name": "Big"}).ok(t)
		const id = "gx-big.pages"
		e.kms.call(t, "GET", "/service/trigger/template/"+id, nil).ok(t)
		e.settled(id, 1)
		doc["templates"] = map[string]any{"pages": map[string]any{"files": manyFiles(7, 10), "config": manyConfig(10, 0)}}
		e.native("PUT", "/api/v1/projects/template-projects/big-template", doc, 200)
		puts := e.target.puts.Load()
		e.kms.call(t, "GET", "/service/trigger/template/"+id, nil).ok(t)
		h := e.settled(id, 2)
		if h[0].Status != "failed" || !strings.Contains(h[0].Error, "delete 3 outputs") || e.target.deletes.Load() != 0 || e.target.puts.Load() != puts {
			t.Fatalf("guarded publish %+v", h[0])
		}
		doc["max_deletes"] = 3
		e.native("PUT", "/api/v1/projects/template-projects/big-template", doc, 200)
		e.kms.call(t, "GET", "/service/trigger/template/"+id, nil).ok(t)
		if h := e.settled(id, 3); h[0].Status != "completed" || h[0].Deleted != 3 || h[0].Uploaded != 1 || e.target.deletes.Load() != 3 {
			t.Fatalf("publish within the guard %+v", h[0])
		}
	})
}

// TestAbortedPendingRender: a trigger does not join a queued render that was aborted before it
// started; it queues another, which runs.
func TestAbortedPendingRender(t *testing.T) {
	forEachStore(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		e.native("PUT", "/api/v1/projects/template-projects/kgm-template", templateProjectDoc("", map[string]any{"motd": "m", "region": "eu", "slots": 1}, siteFiles()), 200)
		e.kms.call(t, "POST", "/service/createExtendedProject", map[string]any{"from": "kgm-template", "id": "game1", "name": "Game"}).ok(t)
		if err := e.api.worker.Stop(ctx); err != nil { // nothing renders until a new worker starts
			t.Fatal(err)
		}
		first, err := e.api.Trigger(ctx, e.account, "game1-kgm.site")
		if err != nil {
			t.Fatal(err)
		}
		if again, err := e.api.Trigger(ctx, e.account, "game1-kgm.site"); err != nil || again != first {
			t.Fatalf("second trigger: job %d, %v; want to join %d", again, err, first)
		}
		if err := e.eng.Abort(ctx, first); err != nil {
			t.Fatal(err)
		}
		next, err := e.api.Trigger(ctx, e.account, "game1-kgm.site")
		if err != nil || next == first {
			t.Fatalf("trigger after the abort: job %d, %v", next, err)
		}
		if e.api.worker, err = e.eng.StartInProcess(ctx, capabilityRender, 1, e.api.render); err != nil {
			t.Fatal(err)
		}
		h := e.settled("game1-kgm.site", 2)
		if h[0].ID != next || h[0].Status != "completed" || h[1].Status != "cancelled" {
			t.Fatalf("history %+v", h)
		}
	})
}

// TestManifestCommitGuard: of two publishes that read the same manifest (two replicas rendering one
// template at once), only the first commits; the second fails and leaves the first's manifest.
func TestManifestCommitGuard(t *testing.T) {
	forEachStore(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		spec := renderSpec{AccountID: e.account, Instance: "p-kgm.site", Project: "p-kgm", Template: "site"}
		rec, base, err := e.api.loadManifest(ctx, spec)
		if err != nil {
			t.Fatal(err)
		}
		first := manifest{Files: map[string]manifestFile{"a": {Hash: "1", Size: 1}}}
		second := manifest{Files: map[string]manifestFile{"b": {Hash: "2", Size: 1}}}
		if err := e.api.commitManifest(ctx, spec, rec, base.Version, first); err != nil {
			t.Fatal(err)
		}
		if err := e.api.commitManifest(ctx, spec, rec, base.Version, second); err == nil {
			t.Fatal("a publish from a stale manifest committed")
		}
		rec, got, err := e.api.loadManifest(ctx, spec)
		if err != nil || got.Version != 1 || got.Files["a"].Hash != "1" || len(got.Files) != 1 {
			t.Fatalf("manifest %+v, %v", got, err)
		}
		// The next publish, from the committed version, goes through and drops the old mark.
		if err := e.api.commitManifest(ctx, spec, rec, got.Version, second); err != nil {
			t.Fatal(err)
		}
		if _, err := e.st.GetRecordByKey(ctx, e.account, kindManifestVersion, versionKey(spec.Instance, 1)); err == nil {
			t.Fatal("the previous version's mark was kept")
		}
	})
}

// TestTriggerByTemplateID: the document's own form, trigger/template/pixh2, renders the template in
// every extended project of the account made from a template project that has it; a template no
// project has, or one without a template center, is 404/404.
func TestTriggerByTemplateID(t *testing.T) {
	forEachStore(t, func(t *testing.T, e *env) {
		tpl := map[string]any{"pixh2": map[string]any{"files": map[string]string{"index.txt": "{{.Project.Name}}"}}}
		e.native("PUT", "/api/v1/projects/template-projects/kgm-template", map[string]any{"template_center": true, "templates": tpl}, 200)
		e.native("PUT", "/api/v1/projects/template-projects/off-template", map[string]any{"templates": map[string]any{
			"dark": map[string]any{"files": map[string]string{"a.txt": "x"}}}}, 200)
		for _, p := range []string{"game1", "game2"} {
			e.kms.call(t, "POST", "/service/createExtendedProject", map[string]any{"from": "kgm-template", "id": p, "name": p}).ok(t)
		}
		e.kms.call(t, "POST", "/service/createExtendedProject", map[string]any{"from": "off-template", "id": "game3", "name": "game3"}).ok(t)
		e.kms.call(t, "POST", "/service/trigger/template/pixh2", nil).ok(t)
		for _, id := range []string{"game1-kgm.pixh2", "game2-kgm.pixh2"} {
			if h := e.settled(id, 1); h[0].Status != "completed" || h[0].Uploaded != 1 {
				t.Fatalf("%s: %+v", id, h[0])
			}
		}
		for _, tc := range []struct{ id, desc string }{{"nosuch", "does not exist"}, {"dark", "no template center"}} {
			r := e.kms.call(t, "POST", "/service/trigger/template/"+tc.id, nil)
			if r.Status != 404 || r.Err != 404 || !strings.Contains(r.Desc, tc.desc) {
				t.Errorf("trigger %s: %d %s", tc.id, r.Status, r.Raw)
			}
		}
	})
}
