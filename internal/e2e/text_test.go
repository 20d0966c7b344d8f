package e2e

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"testing"

	"taskcenter/internal/agent"
	"taskcenter/internal/agentapi"
	"taskcenter/internal/engine"
	"taskcenter/internal/render"
	"taskcenter/internal/rpa"
	"taskcenter/internal/store"
	"taskcenter/internal/store/storetest/drivers"
)

// TestTextWithNULAtEveryDoor: text with a NUL byte gets the same answer on both drivers at every
// door: the dialect's parameter error where the text is a name or key, with nothing written, and
// the text without the NUL where it is a unit's log.
func TestTextWithNULAtEveryDoor(t *testing.T) {
	for _, d := range drivers.All() {
		t.Run(d.Name, func(t *testing.T) {
			ctx := context.Background()
			st := d.Open(t)
			s := startStackWithFacades(t, st, engine.Config{})
			admin := newAdminClient(s.srv.URL, s.creds.AdminToken)

			var acct struct{ ID int64 }
			admin.mustDo(t, "POST", "/api/v1/accounts", map[string]any{"name": "studio"}, &acct)
			keysPath := "/api/v1/accounts/" + strconv.FormatInt(acct.ID, 10) + "/keys"
			var rk struct{ Key map[string]string }
			admin.mustDo(t, "POST", keysPath, map[string]any{"kind": "render"}, &rk)
			rc := &render.Client{BaseURL: s.srv.URL, AccessID: rk.Key["accessId"], AccessKey: rk.Key["accessKey"]}
			var pk struct{ Key map[string]string }
			admin.mustDo(t, "POST", keysPath, map[string]any{"kind": "rpa", "name": "ops"}, &pk)
			oc := &rpa.Client{BaseURL: s.srv.URL}
			if err := oc.Login(ctx, pk.Key["accessKey"], pk.Key["secretKey"]); err != nil {
				t.Fatal(err)
			}
			if err := oc.Send(ctx, "POST", "/oapi/v1/queue", map[string]any{
				"queueName": "q", "queueMaxItems": 100, "failTryTimes": 0}, nil); err != nil {
				t.Fatal(err)
			}

			refused := []struct {
				name string
				call func() error
				ok   func(error) bool // the dialect's parameter error
				left func() int       // what was written (must be 0)
			}{
				{"agent register name", func() error {
					_, err := agent.NewClient(s.srv.URL, nil).Register(ctx, s.creds.AgentToken,
						agentapi.RegisterRequest{Name: "node\x00one", Kind: "render", Capabilities: []string{"shell"}})
					return err
				}, func(err error) bool {
					var ae *agent.APIError
					return errors.As(err, &ae) && ae.Status == http.StatusBadRequest
				}, func() int {
					ws, err := st.ListWorkers(ctx, "")
					if err != nil {
						t.Fatal(err)
					}
					// The facades' own in-process workers were there before.
					return len(slices.DeleteFunc(ws, func(w store.Worker) bool { return w.Kind == engine.WorkerKindInProcess }))
				}},
				{"native job name", func() error {
					code, err := admin.do("POST", "/api/v1/jobs", map[string]any{"name": "job\x00name", "kind": "test",
						"units": []map[string]any{{"name": "u", "capability": "shell"}}}, nil)
					if err == nil && code != http.StatusCreated {
						err = &httpStatus{code}
					}
					return err
				}, func(err error) bool {
					var hs *httpStatus
					return errors.As(err, &hs) && hs.code == http.StatusBadRequest
				}, func() int {
					_, n, err := st.ListJobs(ctx, store.JobFilter{Kind: "test"})
					if err != nil {
						t.Fatal(err)
					}
					return n
				}},
				{"render label", func() error {
					_, err := rc.Call(ctx, "/api/render/common/addLabel", map[string]any{"newName": "label\x00x"}, nil)
					return err
				}, func(err error) bool {
					var ae *render.APIError
					return errors.As(err, &ae) && ae.Code == render.CodeInvalid
				}, func() int {
					var list struct{ ProjectNameList []any }
					if _, err := rc.Call(ctx, "/api/render/common/getLabelList", nil, &list); err != nil {
						t.Fatal(err)
					}
					return len(list.ProjectNameList)
				}},
				{"rpa item key", func() error {
					return oc.Send(ctx, "POST", "/oapi/v1/queue/item", map[string]any{"queueName": "q", "priority": "high",
						"deadline": "2030-01-01 00:00:00", "keys": []map[string]any{{"key": "order\x00id", "value": "1"}}}, nil)
				}, func(err error) bool {
					var ae *rpa.APIError
					return errors.As(err, &ae) && ae.Code == rpa.CodeParamInvalid
				}, func() int {
					var list struct{ Total int }
					if err := oc.Get(ctx, "/oapi/v1/queue/item", url.Values{"queueName": {"q"}}, &list); err != nil {
						t.Fatal(err)
					}
					return list.Total
				}},
			}
			for _, tc := range refused {
				if err := tc.call(); !tc.ok(err) {
					t.Errorf("%s with a NUL: err = %v, want the dialect's parameter error", tc.name, err)
				}
				if n := tc.left(); n != 0 {
					t.Errorf("%s with a NUL: %d written", tc.name, n)
				}
			}

			// A unit's log keeps its text, less what the store cannot keep.
			job := s.submit(t, "shell", 1, nil, nil)
			w := registerWorker(t, s.srv.URL, s.creds.AgentToken, "node", []string{"shell"})
			res, err := w.c.Lease(ctx, agentapi.LeaseRequest{Max: 1})
			if err != nil || len(res.Units) != 1 {
				t.Fatalf("lease: %v, %d units", err, len(res.Units))
			}
			u := res.Units[0]
			ref := agentapi.UnitRef{UnitID: u.UnitID, Epoch: u.Epoch}
			if err := w.c.Progress(ctx, agentapi.ProgressRequest{UnitRef: ref, Progress: 40, Log: "frame\x00 1\n"}); err != nil {
				t.Fatalf("progress with a NUL in its log: %v", err)
			}
			// Invalid UTF-8 cannot travel in the protocol's JSON; a reporter inside the process can.
			if err := s.eng.Progress(ctx, store.ReportRef{UnitID: u.UnitID, Epoch: u.Epoch, WorkerID: w.id}, 60, "frame \xff2\n"); err != nil {
				t.Fatalf("progress with invalid UTF-8 in its log: %v", err)
			}
			if err := w.c.Fail(ctx, agentapi.FailRequest{UnitRef: ref, Error: "exit\x00 1", ExitCode: 1, Permanent: true}); err != nil {
				t.Fatalf("failure with a NUL in its message: %v", err)
			}
			got, err := st.GetUnit(ctx, u.UnitID)
			if err != nil {
				t.Fatal(err)
			}
			if got.Log != "frame 1\nframe 2\n" || got.Error != "exit 1" {
				t.Errorf("unit log %q, error %q; want %q, %q", got.Log, got.Error, "frame 1\nframe 2\n", "exit 1")
			}
			_ = job
		})
	}
}

type httpStatus struct{ code int }

func (e *httpStatus) Error() string { return "HTTP " + strconv.Itoa(e.code) }
