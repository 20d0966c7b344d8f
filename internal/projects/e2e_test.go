package projects

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
)

// siteFiles is the template used end to end: an HTML page with a partial, a JSON config, a text
// file and a member list.
func siteFiles() map[string]string {
	return map[string]string{
		"_head.html":      `<title>{{.Project.ID}}</title>`,
		"index.html":      "{{template \"_head.html\" .}}\n<h1>{{.Project.Name}}</h1>\n<p>{{.Config.motd}}</p>\n<ul>{{range .Project.Admins}}<li>{{.}}</li>{{end}}</ul>\n",
		"config/app.json": `{"appid":{{.Project.AppID | quote}},"zone":{{.Project.TimeZone | quote}},"region":{{.Config.region | quote}},"slots":{{add .Config.slots 1}}}`,
		"notes.txt":       "{{.Project.ID}} from {{.Project.From}} ({{.Template.ID}})\n",
		"users.txt":       "# {{len .Users}} users\n{{range $u, $roles := .Users}}{{$u}}={{join \",\" $roles}}\n{{end}}",
	}
}

func templateProjectDoc(webhook string, config map[string]any, files map[string]string) map[string]any {
	return map[string]any{
		"display_name": "KGM games", "roles": []string{"运营", "主管"}, "template_center": true, "webhook": webhook,
		"templates": map[string]any{"site": map[string]any{"files": files, "config": config}},
	}
}

func TestEndToEnd(t *testing.T) {
	forEachStoreAndBlob(t, func(t *testing.T, e *env) {
		c := e.kms
		config := map[string]any{"motd": "hello <world>", "region": "eu", "slots": 41}
		doc := templateProjectDoc(e.hooks.srv.URL, config, siteFiles())
		doc["webhook_secret"] = "hook-secret"
		e.native("PUT", "/api/v1/projects/template-projects/kgm-template", doc, 200)

		// Two extended projects from the template project.
		r := c.call(t, "POST", "/service/createExtendedProject", map[string]any{
			"from": "kgm-template", "id": "game1", "name": "Game One", "admins": "mc@kingsoft.com,test@kingsoft.com",
			"appid": "1003", "timeZone": "Etc/GMT+8", "desc": "first"}).ok(t)
		if string(r.Data) != `"game1-kgm"` || r.Desc != "" || !strings.Contains(r.Raw, `"err":0`) {
			t.Fatalf("create answered %s", r.Raw)
		}
		c.call(t, "POST", "/service/createExtendedProject", map[string]any{"from": "kgm-template", "id": "game2", "name": "第二个游戏"}).ok(t)

		// Users and roles, from the query string, a form and JSON alike.
		c.call(t, "POST", "/service/addExtendedProjectUsers?project=game1-kgm&users=ops@kingsoft.com&roles=运营", nil).ok(t)
		c.call(t, "POST", "/service/addExtendedProjectUsers", url.Values{"project": {"game1-kgm"}, "users": {"ops@kingsoft.com,lead@kingsoft.com"}, "roles": {"运营,主管"}}).ok(t)
		r = c.call(t, "POST", "/service/addExtendedProjectUsers", map[string]any{"project": "game1-kgm", "users": "mc@kingsoft.com", "roles": "主管"}).ok(t)
		if r.Raw != `{"err":0,"desc":"ok"}`+"\n" {
			t.Fatalf("addExtendedProjectUsers answered %q", r.Raw)
		}
		var roles []string
		r = c.call(t, "GET", "/service/readExtendedProjectRoles/game1-kgm", nil).ok(t)
		if err := json.Unmarshal(r.Data, &roles); err != nil || !slices.Equal(roles, []string{"admin", "运营", "主管"}) {
			t.Fatalf("roles %s", r.Raw)
		}
		wantUsers := map[string][]string{
			"mc@kingsoft.com": {"admin", "主管"}, "test@kingsoft.com": {"admin"},
			"ops@kingsoft.com": {"主管", "运营"}, "lead@kingsoft.com": {"主管", "运营"},
		}
		var users map[string][]string
		r = c.call(t, "GET", "/service/readExtendedProjectUsers/game1-kgm", nil).ok(t)
		if err := json.Unmarshal(r.Data, &users); err != nil || !equalUsers(users, wantUsers) {
			t.Fatalf("users %s", r.Raw)
		}
		// update: replace the admins, rename.
		c.call(t, "POST", "/service/updateExtendedProject", map[string]any{"id": "game1-kgm", "admins": "lead@kingsoft.com", "append": 0, "name": "Game One!"}).ok(t)
		r = c.call(t, "GET", "/service/readExtendedProjectUsers/game1-kgm", nil).ok(t)
		users = nil
		_ = json.Unmarshal(r.Data, &users)
		wantUsers = map[string][]string{
			"mc@kingsoft.com": {"主管"}, "ops@kingsoft.com": {"主管", "运营"}, "lead@kingsoft.com": {"admin", "主管", "运营"},
		}
		if !equalUsers(users, wantUsers) {
			t.Fatalf("after replacing admins: %s", r.Raw)
		}
		c.call(t, "POST", "/service/updateExtendedProject", map[string]any{"id": "game1-kgm", "admins": "mc@kingsoft.com", "append": "true"}).ok(t)
		wantUsers["mc@kingsoft.com"] = []string{"admin", "主管"}

		// The first trigger publishes every output.
		const site = "game1-kgm.site"
		r = c.call(t, "GET", "/service/trigger/template/"+site, nil).ok(t)
		if r.Raw != `{"err":0,"desc":""}`+"\n" {
			t.Fatalf("trigger answered %q", r.Raw)
		}
		h := e.settled(site, 1)
		if h[0].Status != "completed" || h[0].Uploaded != 4 || h[0].Unchanged != 0 || h[0].Deleted != 0 || e.target.puts.Load() != 4 {
			t.Fatalf("first render %+v, puts %d", h[0], e.target.puts.Load())
		}
		base := fmt.Sprintf("%s/published/%d/game1-kgm/site/", e.srv.URL, e.account)
		want := map[string]string{
			"index.html":      "<title>game1-kgm</title>\n<h1>Game One!</h1>\n<p>hello &lt;world&gt;</p>\n<ul><li>lead@kingsoft.com</li><li>mc@kingsoft.com</li></ul>\n",
			"config/app.json": `{"appid":"1003","zone":"Etc/GMT+8","region":"eu","slots":42}`,
			"notes.txt":       "game1-kgm from kgm-template (game1-kgm.site)\n",
			"users.txt":       "# 3 users\nlead@kingsoft.com=admin,主管,运营\nmc@kingsoft.com=admin,主管\nops@kingsoft.com=主管,运营\n",
		}
		for path, body := range want {
			if code, got := get(t, base+path); code != 200 || got != body {
				t.Fatalf("GET %s: %d %q, want %q", path, code, got, body)
			}
		}
		if code, _ := get(t, base+"_head.html"); code != 404 {
			t.Fatalf("a partial was published: %d", code)
		}

		// Nothing changed: nothing uploaded.
		c.call(t, "POST", "/service/trigger/template/"+site, map[string]any{}).ok(t)
		h = e.settled(site, 2)
		if h[0].Status != "completed" || h[0].Uploaded != 0 || h[0].Unchanged != 4 || e.target.puts.Load() != 4 {
			t.Fatalf("unchanged render %+v, puts %d", h[0], e.target.puts.Load())
		}

		// A configuration change that touches one output uploads exactly that one.
		config["region"] = "ap"
		e.native("PUT", "/api/v1/projects/template-projects/kgm-template/templates/site", map[string]any{"files": siteFiles(), "config": config}, 200)
		c.call(t, "GET", "/service/trigger/template/"+site, nil).ok(t)
		h = e.settled(site, 3)
		if h[0].Uploaded != 1 || !slices.Equal(h[0].Changed, []string{"config/app.json"}) || e.target.puts.Load() != 5 {
			t.Fatalf("config change render %+v, puts %d", h[0], e.target.puts.Load())
		}
		if _, got := get(t, base+"config/app.json"); !strings.Contains(got, `"region":"ap"`) {
			t.Fatalf("changed output %q", got)
		}

		// A removed output is deleted.
		files := siteFiles()
		delete(files, "notes.txt")
		e.native("PUT", "/api/v1/projects/template-projects/kgm-template/templates/site", map[string]any{"files": files, "config": config}, 200)
		c.call(t, "GET", "/service/trigger/template/"+site, nil).ok(t)
		h = e.settled(site, 4)
		if h[0].Deleted != 1 || h[0].Uploaded != 0 || e.target.deletes.Load() != 1 {
			t.Fatalf("removal render %+v", h[0])
		}
		if code, _ := get(t, base+"notes.txt"); code != 404 {
			t.Fatalf("removed output still served: %d", code)
		}

		// A broken template publishes nothing and says where.
		broken := siteFiles()
		broken["index.html"] = "<h1>{{.Project.Name}}</h1>\n<p>{{if}}</p>\n"
		broken["notes.txt"] = "new notes\n"
		e.native("PUT", "/api/v1/projects/template-projects/kgm-template/templates/site", map[string]any{"files": broken, "config": config}, 200)
		puts, deletes := e.target.puts.Load(), e.target.deletes.Load()
		c.call(t, "GET", "/service/trigger/template/"+site, nil).ok(t)
		h = e.settled(site, 5)
		if h[0].Status != "failed" || h[0].ErrorFile != "index.html" || h[0].ErrorLine != 2 || !strings.Contains(h[0].Error, "index.html:2") {
			t.Fatalf("broken render %+v", h[0])
		}
		if e.target.puts.Load() != puts || e.target.deletes.Load() != deletes {
			t.Fatal("a broken template pushed something")
		}
		if _, got := get(t, base+"index.html"); got != want["index.html"] {
			t.Fatalf("index.html after a broken render: %q", got)
		}
		// An execution error says where too.
		broken["index.html"] = "line one\n{{.Config.nosuchkey}}\n"
		e.native("PUT", "/api/v1/projects/template-projects/kgm-template/templates/site", map[string]any{"files": broken, "config": config}, 200)
		c.call(t, "GET", "/service/trigger/template/"+site, nil).ok(t)
		h = e.settled(site, 6)
		if h[0].Status != "failed" || h[0].ErrorFile != "index.html" || h[0].ErrorLine != 2 {
			t.Fatalf("failing render %+v", h[0])
		}

		// The second project renders with its own values.
		c.call(t, "GET", "/service/trigger/template/game2-kgm.site", nil).ok(t)
		if h := e.settled("game2-kgm.site", 1); h[0].Status != "failed" { // the template is still broken
			t.Fatalf("game2 render %+v", h[0])
		}
		e.native("PUT", "/api/v1/projects/template-projects/kgm-template/templates/site", map[string]any{"files": siteFiles(), "config": config}, 200)
		c.call(t, "GET", "/service/trigger/template/game2-kgm.site", nil).ok(t)
		if h := e.settled("game2-kgm.site", 2); h[0].Status != "completed" || h[0].Uploaded != 4 {
			t.Fatalf("game2 render %+v", h[0])
		}
		base2 := fmt.Sprintf("%s/published/%d/game2-kgm/site/", e.srv.URL, e.account)
		if _, got := get(t, base2+"index.html"); got != "<title>game2-kgm</title>\n<h1>第二个游戏</h1>\n<p>hello &lt;world&gt;</p>\n<ul></ul>\n" {
			t.Fatalf("game2 index.html %q", got)
		}
		if _, got := get(t, base2+"config/app.json"); got != `{"appid":"","zone":"UTC","region":"ap","slots":42}` {
			t.Fatalf("game2 app.json %q", got)
		}

		// The webhook heard every publish that completed or failed.
		var kinds []string
		for _, ev := range e.hooks.all() {
			kinds = append(kinds, ev.Template+" "+ev.Status)
		}
		wantKinds := []string{site + " completed", site + " completed", site + " completed", site + " completed", site + " failed",
			site + " failed", "game2-kgm.site failed", "game2-kgm.site completed"}
		if !slices.Equal(kinds, wantKinds) {
			t.Fatalf("webhook events %v, want %v", kinds, wantKinds)
		}
		e.hooks.mu.Lock()
		for i, body := range e.hooks.bodies { // each event is signed with the template project's secret
			mac := hmac.New(sha256.New, []byte("hook-secret"))
			mac.Write(body)
			if want := "sha256=" + hex.EncodeToString(mac.Sum(nil)); e.hooks.sigs[i] != want {
				t.Errorf("event %d signed %q, want %q", i, e.hooks.sigs[i], want)
			}
		}
		e.hooks.mu.Unlock()
		last := e.hooks.all()[len(wantKinds)-1]
		if last.Result == nil || last.Result.Uploaded != 4 || last.URL != base2 {
			t.Fatalf("last webhook event %+v", last)
		}
	})
}

func equalUsers(got, want map[string][]string) bool {
	if len(got) != len(want) {
		return false
	}
	for u, r := range want {
		g := append([]string(nil), got[u]...)
		w := append([]string(nil), r...)
		slices.Sort(g)
		slices.Sort(w)
		if !slices.Equal(g, w) {
			return false
		}
	}
	return true
}

// TestConcurrentTriggersCoalesce: 100 triggers at once cause at most two renders: one that runs and
// one queued that all later triggers join.
func TestConcurrentTriggersCoalesce(t *testing.T) {
	forEachStore(t, func(t *testing.T, e *env) {
		e.native("PUT", "/api/v1/projects/template-projects/kgm-template", templateProjectDoc(e.hooks.srv.URL, map[string]any{"motd": "m", "region": "eu", "slots": 1}, siteFiles()), 200)
		e.kms.call(t, "POST", "/service/createExtendedProject", map[string]any{"from": "kgm-template", "id": "game1", "name": "Game"}).ok(t)
		// The first render to finish holds in its webhook until every trigger has answered, so that
		// the renders cannot run through the triggers one after another.
		release := e.hooks.hold()
		defer release()
		var wg sync.WaitGroup
		for range 100 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				e.kms.call(t, "GET", "/service/trigger/template/game1-kgm.site", nil).ok(t)
			}()
		}
		wg.Wait()
		release()
		jobs := len(e.history("game1-kgm.site"))
		if jobs < 1 || jobs > 2 {
			t.Fatalf("%d renders for 100 triggers", jobs)
		}
		h := e.settled("game1-kgm.site", jobs)
		for _, r := range h {
			if r.Status != "completed" {
				t.Fatalf("render %+v", r)
			}
		}
	})
}
