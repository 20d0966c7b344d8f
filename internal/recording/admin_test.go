package recording_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"taskcenter/internal/recording"
)

// TestAdminIssuesAppsAndSettings: an admin issues an app through the native API (behind "taskcenter
// admin keys create ID --kind recording"), whose token logs in, and sets the price and quota
// (behind "admin accounts settings ID recording FILE").
func TestAdminIssuesAppsAndSettings(t *testing.T) {
	forEachDriver(t, func(t *testing.T, e *env) {
		call := func(method, path, body string) (int, map[string]any) {
			req, _ := http.NewRequest(method, e.srv.URL+path, strings.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+e.adminToken)
			req.Header.Set("Content-Type", "application/json")
			resp, err := e.srv.Client().Do(req)
			must(t, err)
			defer resp.Body.Close()
			var m map[string]any
			_ = json.NewDecoder(resp.Body).Decode(&m)
			return resp.StatusCode, m
		}
		code, m := call("POST", fmt.Sprintf("/api/v1/accounts/%d/keys", e.account), `{"kind":"recording","name":"web"}`)
		if code != 200 && code != 201 {
			t.Fatalf("keys create: %d %v", code, m)
		}
		key := m["key"].(map[string]any)
		appID, secret := key["app_id"].(string), key["secret"].(string)
		if len(appID) != 32 || len(secret) != 32 || appID == e.appID {
			t.Fatalf("app %v", key)
		}
		c := e.dial()
		ok(t, c.do(map[string]any{"id": recording.CmdLogin, "app_id": appID, "token": recording.MintToken(appID, secret, e.clk.Now().Add(time.Minute), "a")}))
		code, m = call("PATCH", fmt.Sprintf("/api/v1/accounts/%d/settings/recording", e.account), `{"price_milli_per_minute":250,"app_quota_bytes":{"`+appID+`":1000}}`)
		if code != 200 || m["price_milli_per_minute"].(float64) != 250 {
			t.Fatalf("settings: %d %v", code, m)
		}
		if code, m = call("PATCH", fmt.Sprintf("/api/v1/accounts/%d/settings/recording", e.account), `{"quota_bytes":-1}`); code != 400 {
			t.Fatalf("a negative quota: %d %v", code, m)
		}
		// The app's own quota shows in its volume; the other app of the account has none.
		vol := ok(t, e.form(recording.PathVolume, nil))["data"].(map[string]any)
		if vol["volume"] != nil {
			t.Fatalf("volume of an app without a quota %v", vol)
		}
	})
}
