package native_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"taskcenter/internal/app"
	"taskcenter/internal/auth"
	"taskcenter/internal/blob"
	"taskcenter/internal/engine"
	"taskcenter/internal/native"
	"taskcenter/internal/server"
	"taskcenter/internal/store"
	"taskcenter/internal/store/storetest/drivers"
)

// notes is a dialect's collection kept in the store's records, as a facade would keep one: what
// the native API does with any Collection (tenancy, paging, search) is checked through it.
type notes struct{ st store.Store }

func (notes) Mount(*http.ServeMux)   {}
func (notes) CollectionName() string { return "test.notes" }
func (n notes) ListCollection(ctx context.Context, accountID int64, q native.CollectionQuery) ([]json.RawMessage, int, error) {
	f := store.RecordFilter{Kind: "test.note", ParentID: -1, NameContains: q.Search, Desc: true, Limit: q.Limit, Offset: q.Offset}
	if accountID != 0 {
		f.AccountIDs = []int64{accountID}
	}
	rs, total, err := n.st.ListRecords(ctx, f)
	out := make([]json.RawMessage, len(rs))
	for i, r := range rs {
		out[i] = r.Data
	}
	return out, total, err
}

// TestCollections: a facade's collection is listed to its account (an admin: every account's),
// paged and searched; an unknown collection is not found.
func TestCollections(t *testing.T) {
	drivers.Each(t, func(t *testing.T, open func(testing.TB) store.Store) {
		ctx := context.Background()
		st := open(t)
		log := slog.New(slog.NewTextHandler(io.Discard, nil))
		eng := engine.New(st, engine.Config{}, log, engine.NewMetrics(prometheus.NewRegistry(), st))
		blobs, _ := blob.NewLocal(t.TempDir())
		keyring, _ := auth.NewKeyring(bytes.Repeat([]byte{7}, 32))
		creds, err := app.Bootstrap(ctx, st, t.TempDir(), "", eng.Now())
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(server.New(server.Config{Engine: eng, Store: st, Blobs: blobs, Keyring: keyring, Log: log,
			Registry: prometheus.NewRegistry()}, notes{st}))
		defer srv.Close()
		tenant, err := st.CreateAccount(ctx, store.Account{Name: "tenant", Role: store.RoleUser, CreatedAt: eng.Now(), UpdatedAt: eng.Now()})
		if err != nil {
			t.Fatal(err)
		}
		tok, _, err := auth.IssueToken(ctx, st, tenant.ID, store.CredAdmin, "", eng.Now())
		if err != nil {
			t.Fatal(err)
		}
		for i, acct := range []int64{1, tenant.ID, tenant.ID, tenant.ID} {
			name := fmt.Sprintf("note %d", i)
			data, _ := json.Marshal(map[string]any{"name": name, "account_id": acct})
			if _, err := st.PutRecord(ctx, store.Record{AccountID: acct, Kind: "test.note", Name: name, Data: data}, eng.Now()); err != nil {
				t.Fatal(err)
			}
		}
		for _, tc := range []struct {
			name, token, path string
			code              int
			has               []string
		}{
			{"the names", tok, "/api/v1/collections", 200, []string{`"collections":["test.notes"]`}},
			{"a tenant's own", tok, "/api/v1/collections/test.notes", 200, []string{`"total":3`, `"name":"note 3"`}},
			{"a page", tok, "/api/v1/collections/test.notes?limit=1&offset=1", 200, []string{`"total":3`, `"items":[{"account_id":2,"name":"note 2"}]`}},
			{"a search", tok, "/api/v1/collections/test.notes?search=note%201", 200, []string{`"total":1`}},
			{"another account's", tok, "/api/v1/collections/test.notes?account_id=1", 200, []string{`"total":0`}},
			{"an admin's: every one", creds.AdminToken, "/api/v1/collections/test.notes", 200, []string{`"total":4`}},
			{"an admin's of one account", creds.AdminToken, "/api/v1/collections/test.notes?account_id=1", 200, []string{`"total":1`, `"name":"note 0"`}},
			{"an unknown collection", tok, "/api/v1/collections/nothing", 404, nil},
			{"a bad page", tok, "/api/v1/collections/test.notes?limit=5000", 400, nil},
		} {
			t.Run(tc.name, func(t *testing.T) {
				req, _ := http.NewRequest("GET", srv.URL+tc.path, nil)
				req.Header.Set("Authorization", "Bearer "+tc.token)
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(res.Body)
				res.Body.Close()
				if res.StatusCode != tc.code {
					t.Fatalf("%d %s", res.StatusCode, b)
				}
				for _, h := range tc.has {
					if !strings.Contains(string(b), h) {
						t.Errorf("lacks %s: %s", h, b)
					}
				}
			})
		}
	})
}
