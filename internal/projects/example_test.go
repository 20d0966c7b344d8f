package projects_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"

	"taskcenter/internal/auth"
	"taskcenter/internal/blob"
	"taskcenter/internal/engine"
	"taskcenter/internal/projects"
	"taskcenter/internal/store"
	"taskcenter/internal/store/sqlite"
)

// The project service on an SQLite store with a local blob directory as its publish target: an
// admin defines a template project through the native extension, a service user creates an extended
// project from it and triggers its template; the published page is then served over HTTP.
func ExampleAPI_Mount() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "taskcenter-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	st, err := sqlite.Open(ctx, filepath.Join(dir, "taskcenter.db"))
	if err != nil {
		panic(err)
	}
	defer st.Close()
	log := slog.New(slog.DiscardHandler)
	eng := engine.New(st, engine.Config{}, log, nil)
	target, err := blob.NewLocal(filepath.Join(dir, "blobs"))
	if err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	defer srv.Close()
	api, err := projects.New(projects.Config{Engine: eng, Store: st, Target: target, Log: log, PublicURL: srv.URL})
	if err != nil {
		panic(err)
	}
	defer api.Close()
	api.Mount(mux)

	// A webhook tells when the publish has completed.
	published := make(chan string, 1)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ev struct{ Event, URL string }
		_ = json.NewDecoder(r.Body).Decode(&ev)
		published <- ev.URL
	}))
	defer hook.Close()

	acct, err := st.CreateAccount(ctx, store.Account{Name: "studio", Role: store.RoleUser})
	if err != nil {
		panic(err)
	}
	admin, _, err := auth.IssueToken(ctx, st, acct.ID, store.CredAdmin, "example", eng.Now())
	if err != nil {
		panic(err)
	}
	send := func(method, path string, header map[string]string, body string) string {
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		for k, v := range header {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			panic(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return fmt.Sprintf("%d %s", resp.StatusCode, bytes.TrimSpace(b))
	}
	send("PUT", "/api/v1/projects/template-projects/kgm-template", map[string]string{"Authorization": "Bearer " + admin},
		`{"roles":["运营"],"template_center":true,"webhook":"`+hook.URL+`",
		  "templates":{"pixh2":{"files":{"index.html":"<h1>{{.Project.Name}}</h1> {{.Config.motd}}"},"config":{"motd":"hi"}}}}`)

	// What `taskcenter admin keys create ID --kind kms --name opsbot` prints.
	key, err := api.IssueKey(ctx, acct.ID, "opsbot")
	if err != nil {
		panic(err)
	}
	kms := map[string]string{"x-kms-user": key["x-kms-user"], "x-kms-token": key["x-kms-token"], "Content-Type": "application/json"}
	fmt.Println(send("POST", "/service/createExtendedProject", kms, `{"from":"kgm-template","id":"game1","name":"Game <1>"}`))
	fmt.Println(send("GET", "/service/trigger/template/game1-kgm.pixh2", kms, ""))
	fmt.Println(send("GET", strings.TrimPrefix(<-published, srv.URL)+"index.html", nil, ""))
	// Output:
	// 200 {"err":0,"data":"game1-kgm","desc":""}
	// 200 {"err":0,"desc":""}
	// 200 <h1>Game &lt;1&gt;</h1> hi
}
