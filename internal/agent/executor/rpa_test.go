//go:build unix

package executor

import (
	"archive/zip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"taskcenter/internal/agent"
	"taskcenter/internal/testutil"
)

// zipFile writes a package with the given entries (name -> content; a name ending in "*" is
// executable) and returns its path.
func zipFile(t *testing.T, files map[string]string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "p.ipkg")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(f)
	for name, content := range files {
		h := &zip.FileHeader{Name: strings.TrimSuffix(name, "*"), Method: zip.Deflate}
		h.SetMode(0o644)
		if strings.HasSuffix(name, "*") {
			h.SetMode(0o755)
		}
		w, err := zw.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte(content)); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return p
}

// tokenServer answers the job-token route like the OAPI: ticket "good" for unit 7 epoch 1 only.
func tokenServer(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if r.URL.Path != "/oapi/v1/token" || q.Get("jobTicket") != "good" || q.Get("unitId") != "7" || q.Get("epoch") != "1" {
			_ = json.NewEncoder(w).Encode(map[string]any{"code": 4010, "msg": "任务凭证无效"})
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"code": 0, "msg": "操作成功", "result": map[string]any{"access_token": "tok-1"}})
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestRPA(t *testing.T) {
	srv := tokenServer(t)
	manifest := `{"procCode":"p","version":"1.0.0","entry":"sh main.sh"}`
	tests := []struct {
		name      string
		files     map[string]string
		spec      RPASpec
		wantCode  int // -2: success, -3: an error that is no Failure
		permanent bool
		wantLog   []string
	}{
		{
			name: "context in the environment",
			files: map[string]string{"manifest.json": manifest, "main.sh": `echo "url=$RPA_OAPI_URL token=$RPA_TOKEN unit=$RPA_UNIT_ID job=$RPA_JOB_ID epoch=$RPA_EPOCH proc=$RPA_PROC_CODE/$RPA_PROC_VER params=$RPA_PARAMS extra=$EXTRA"; cat data/in.txt`,
				"data/in.txt": "inside the package"},
			spec:     RPASpec{Entry: "sh main.sh", ProcCode: "p", ProcVer: "1.0.0", Params: `{"a":1}`, Env: map[string]string{"EXTRA": "x", "RPA_TOKEN": "spoofed"}},
			wantCode: -2,
			wantLog:  []string{"url=" + srv.URL + " token=tok-1 unit=7 job=3 epoch=1 proc=p/1.0.0 params={\"a\":1} extra=x", "inside the package"},
		},
		{
			name:     "entry from the manifest, executable bit kept",
			files:    map[string]string{"manifest.json": `{"entry":"./run"}`, "run*": "#!/bin/sh\necho ran\n"},
			wantCode: -2,
			wantLog:  []string{"ran"},
		},
		{
			name:     "exit code decides",
			files:    map[string]string{"main.sh": "echo failing >&2; exit 3"},
			spec:     RPASpec{Entry: "sh main.sh"},
			wantCode: 3,
			wantLog:  []string{"failing"},
		},
		{
			name:     "ticket refused",
			files:    map[string]string{"main.sh": "echo never"},
			spec:     RPASpec{Entry: "sh main.sh", Ticket: "bad"},
			wantCode: -3,
		},
		{
			name:      "entry leaving the package",
			files:     map[string]string{"../evil.sh": "echo evil"},
			spec:      RPASpec{Entry: "sh main.sh"},
			wantCode:  0,
			permanent: true,
		},
		{
			name:      "no entry anywhere",
			files:     map[string]string{"main.sh": "echo x"},
			wantCode:  0,
			permanent: true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := newFakeEnv(t)
			env.inputs["pkg"] = zipFile(t, tc.files)
			spec := tc.spec
			spec.Package = "pkg"
			if spec.Ticket == "" {
				spec.Ticket = "good"
			}
			res, err := (&RPA{OAPIURL: srv.URL}).Run(context.Background(), unit(t, "rpa", spec), env)
			var f *agent.Failure
			switch {
			case tc.wantCode == -2:
				if err != nil {
					t.Fatalf("error %v; log:\n%s", err, env.Log())
				}
				if r, ok := res.Data.(RPAResult); !ok || r.ExitCode != 0 {
					t.Fatalf("result %+v", res.Data)
				}
			case tc.wantCode == -3:
				if err == nil || errors.As(err, &f) {
					t.Fatalf("error %v, want a retryable non-Failure error", err)
				}
			default:
				if !errors.As(err, &f) || f.ExitCode != tc.wantCode || f.Permanent != tc.permanent {
					t.Fatalf("error %#v, want exit code %d permanent %v", err, tc.wantCode, tc.permanent)
				}
			}
			for _, want := range tc.wantLog {
				if !strings.Contains(env.Log(), want) {
					t.Fatalf("log lacks %q:\n%s", want, env.Log())
				}
			}
		})
	}
}

// TestRPAStop cancels a running process (as the agent does when the server stops the unit) and
// checks that the process and the child it started are gone.
func TestRPAStop(t *testing.T) {
	srv := tokenServer(t)
	env := newFakeEnv(t)
	pidFile := filepath.Join(t.TempDir(), "pid")
	env.inputs["pkg"] = zipFile(t, map[string]string{"main.sh": "sleep 300 & echo $! > " + pidFile + "; wait"})
	ctx, cancel := context.WithCancelCause(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := (&RPA{OAPIURL: srv.URL, Grace: time.Second}).Run(ctx, unit(t, "rpa", RPASpec{Package: "pkg", Ticket: "good", Entry: "sh main.sh"}), env)
		done <- err
	}()
	var pid int
	testutil.Eventually(t, 30*time.Second, func() error {
		if b, err := os.ReadFile(pidFile); err == nil && strings.HasSuffix(string(b), "\n") {
			if _, err := fmt.Sscan(strings.TrimSpace(string(b)), &pid); err != nil {
				t.Fatal(err)
			}
			return nil
		}
		return errors.New("the process did not start")
	})
	stopped := errors.New("stopped by the server")
	cancel(stopped)
	select {
	case err := <-done:
		if !errors.Is(err, stopped) {
			t.Fatalf("error %v, want the stop cause", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("Run did not return after the stop")
	}
	// The child is killed with its group; poll, since the kernel reaps it asynchronously.
	testutil.Eventually(t, 30*time.Second, func() error {
		if syscall.Kill(pid, 0) == nil {
			return fmt.Errorf("child %d survived the stop", pid)
		}
		return nil
	})
}
