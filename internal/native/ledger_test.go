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

// echo is a collection that answers the filters it was asked for, as one item.
type echo struct{}

func (echo) Mount(*http.ServeMux)   {}
func (echo) CollectionName() string { return "test.echo" }
func (echo) ListCollection(_ context.Context, accountID int64, q native.CollectionQuery) ([]json.RawMessage, int, error) {
	if q.Filter["refuse"] != "" {
		return nil, 0, fmt.Errorf("%w: no such filter", store.ErrInvalid)
	}
	b, err := json.Marshal(map[string]any{"account_id": accountID, "filter": q.Filter})
	return []json.RawMessage{b}, 1, err
}

// TestLedgerOfSubAccountsAndCollectionFilters: an account's ledger is read by the account, its
// parent (a sub-account's) and an admin, and is not found for anyone else; a collection is handed
// the request's own filters, and its refusal of one is a 400.
func TestLedgerOfSubAccountsAndCollectionFilters(t *testing.T) {
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
			Registry: prometheus.NewRegistry()}, echo{}))
		defer srv.Close()
		acct := func(name string, parent int64) (store.Account, string) {
			a, err := st.CreateAccount(ctx, store.Account{Name: name, Role: store.RoleUser, ParentID: parent, CreatedAt: eng.Now(), UpdatedAt: eng.Now()})
			if err != nil {
				t.Fatal(err)
			}
			tok, _, err := auth.IssueToken(ctx, st, a.ID, store.CredAdmin, name, eng.Now())
			if err != nil {
				t.Fatal(err)
			}
			return a, tok
		}
		parent, parentTok := acct("tenant", 0)
		child, childTok := acct("tenant user", parent.ID)
		other, otherTok := acct("other", 0)
		for _, a := range []int64{child.ID, other.ID} {
			if _, ok, err := eng.AdjustFunds(ctx, a, store.FundsDelta{BalanceMilli: 500}, "top-up"); err != nil || !ok {
				t.Fatalf("top up %d: %v %v", a, ok, err)
			}
		}
		ledger := func(id int64) string { return fmt.Sprintf("/api/v1/accounts/%d/ledger", id) }
		for _, tc := range []struct {
			name, token, path string
			code              int
			has               []string
		}{
			{"the account's own", childTok, ledger(child.ID), 200, []string{`"total":1`, `"note":"top-up"`}},
			{"its parent's view", parentTok, ledger(child.ID), 200, []string{`"total":1`, `"balance_milli":-500`}},
			{"an admin's", creds.AdminToken, ledger(child.ID), 200, []string{`"total":1`}},
			{"another account's", otherTok, ledger(child.ID), 404, nil},
			{"the sub-account on its parent's", childTok, ledger(parent.ID), 404, nil},
			{"a parent on a stranger's", parentTok, ledger(other.ID), 404, nil},
			{"a missing account", parentTok, ledger(other.ID + 1000), 404, nil},
			{"a collection's filters", parentTok, "/api/v1/collections/test.echo?status=SUCCESS&user_id=3&limit=5&search=x", 200,
				[]string{fmt.Sprintf(`"account_id":%d`, parent.ID), `"filter":{"status":"SUCCESS","user_id":"3"}`}},
			{"an empty filter is none", parentTok, "/api/v1/collections/test.echo?status=", 200, []string{`"filter":{}`}},
			{"a repeated filter", parentTok, "/api/v1/collections/test.echo?status=a&status=b", 400, nil},
			{"an overlong filter", parentTok, "/api/v1/collections/test.echo?status=" + strings.Repeat("x", 201), 400, nil},
			{"a filter the collection refuses", parentTok, "/api/v1/collections/test.echo?refuse=1", 400, nil},
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
