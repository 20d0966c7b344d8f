package aitasks_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"

	"taskcenter/internal/aitasks"
	"taskcenter/internal/auth"
	"taskcenter/internal/engine"
	"taskcenter/internal/store"
	"taskcenter/internal/store/sqlite"
)

// ExampleAPI_Mount serves the task center on SQLite: a tenant, a user with a personal access token,
// and the user's (empty) task list read the way new-api's clients read it.
func ExampleAPI_Mount() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "aitasks-example")
	defer os.RemoveAll(dir)
	st, err := sqlite.Open(ctx, filepath.Join(dir, "taskcenter.db"))
	if err != nil {
		panic(err)
	}
	defer st.Close()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	eng := engine.New(st, engine.Config{Holder: "example"}, log, nil)
	keys, _ := auth.NewKeyring(bytes.Repeat([]byte{1}, 32))
	api, err := aitasks.New(aitasks.Config{Engine: eng, Store: st, Keyring: keys, Log: log})
	if err != nil {
		panic(err)
	}
	defer api.Close()
	mux := http.NewServeMux()
	api.Mount(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	tenant, _ := st.CreateAccount(ctx, store.Account{Name: "studio", Role: store.RoleUser})
	_, token, err := api.CreateUser(ctx, tenant.ID, "alice", "user")
	if err != nil {
		panic(err)
	}
	req, _ := http.NewRequest("GET", srv.URL+"/api/task/self?p=1&page_size=20", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Print(resp.StatusCode, " ", string(body))
	// Output: 200 {"success":true,"message":"","data":{"items":[],"total":0,"page":1,"page_size":20}}
}
