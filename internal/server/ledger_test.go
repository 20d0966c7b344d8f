package server_test

import (
	"encoding/json"
	"fmt"
	"testing"

	"taskcenter/internal/native"
	"taskcenter/internal/store"
	"taskcenter/internal/store/storetest/drivers"
)

// TestNativeLedger: an administrator's top-ups go through the engine and land in the account's
// ledger, which the account itself and administrators page newest first; another tenant's ledger
// answers 404.
func TestNativeLedger(t *testing.T) {
	drivers.Each(t, func(t *testing.T, open func(testing.TB) store.Store) {
		e := newLimitsEnv(t, open(t))
		for i, top := range []int64{1000, 250} {
			code, body := e.do(t, e.admin, "POST", fmt.Sprintf("/api/v1/accounts/%d/funds", e.userID),
				map[string]any{"balance_milli": top, "note": fmt.Sprint("top-up ", i+1)})
			if code != 200 {
				t.Fatalf("top-up: %d %s", code, body)
			}
		}
		if code, _ := e.do(t, e.admin, "POST", fmt.Sprintf("/api/v1/accounts/%d/funds", e.userID),
			map[string]any{"balance_milli": -1_000_000}); code != 409 {
			t.Fatalf("overdrawing adjustment: %d, want 409", code)
		}
		ledger := fmt.Sprintf("/api/v1/accounts/%d/ledger", e.userID)
		tests := []struct {
			name      string
			token     string
			path      string
			want      int
			wantTotal int
			wantNotes []string
		}{
			{"own ledger", e.user, ledger, 200, 2, []string{"top-up 2", "top-up 1"}},
			{"a page", e.user, ledger + "?limit=1&offset=1", 200, 2, []string{"top-up 1"}},
			{"admin", e.admin, ledger, 200, 2, []string{"top-up 2", "top-up 1"}},
			{"another account's", e.user, "/api/v1/accounts/1/ledger", 404, 0, nil},
			{"no such account", e.admin, "/api/v1/accounts/999999/ledger", 404, 0, nil},
			{"bad limit", e.user, ledger + "?limit=0", 400, 0, nil},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				code, body := e.do(t, tc.token, "GET", tc.path, nil)
				if code != tc.want {
					t.Fatalf("%d %s, want %d", code, body, tc.want)
				}
				if code != 200 {
					return
				}
				var got struct {
					Total int                     `json:"total"`
					Lines []native.LedgerLineView `json:"lines"`
				}
				if err := json.Unmarshal([]byte(body), &got); err != nil {
					t.Fatal(err)
				}
				if got.Total != tc.wantTotal || len(got.Lines) != len(tc.wantNotes) {
					t.Fatalf("total %d, %d lines: %s", got.Total, len(got.Lines), body)
				}
				for i, l := range got.Lines {
					if l.Note != tc.wantNotes[i] || l.Kind != "topup" || l.AccountID != e.userID || l.BalanceMilli >= 0 {
						t.Fatalf("line %d: %+v", i, l)
					}
				}
			})
		}
	})
}
