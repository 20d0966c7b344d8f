package render_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"

	"taskcenter/internal/auth"
	"taskcenter/internal/blob"
	"taskcenter/internal/engine"
	"taskcenter/internal/render"
	"taskcenter/internal/store"
	"taskcenter/internal/store/sqlite"
)

// The render facade is mounted on an SQLite store, as `taskcenter dev` runs it: a store, an engine
// over it, blobs, a keyring that seals the dialect's access keys, and the facade on a ServeMux. An
// account gets an access key, and the package's own client makes one signed call.
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
	blobs, err := blob.NewLocal(filepath.Join(dir, "blobs"))
	if err != nil {
		panic(err)
	}
	// A server loads its key from its data directory (auth.LoadOrCreateKey); any 32 bytes do here.
	keys, err := auth.NewKeyring(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		panic(err)
	}

	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	defer srv.Close()
	api, err := render.New(render.Config{Engine: eng, Store: st, Blobs: blobs, Keyring: keys, Log: log,
		PublicURL: srv.URL})
	if err != nil {
		panic(err)
	}
	defer api.Close()
	api.Mount(mux)

	acct, err := st.CreateAccount(ctx, store.Account{Name: "studio", Role: store.RoleUser})
	if err != nil {
		panic(err)
	}
	id, key, err := render.CreateAccessKey(ctx, st, keys, acct.ID)
	if err != nil {
		panic(err)
	}
	cl := &render.Client{BaseURL: srv.URL, AccessID: id, AccessKey: key}

	var profile struct {
		UserName string `json:"userName"`
	}
	env, err := cl.Call(ctx, "/api/render/user/queryUserProfile", nil, &profile)
	if err != nil {
		panic(err)
	}
	fmt.Println(env.Code, profile.UserName)
	// Output: 200 studio
}
