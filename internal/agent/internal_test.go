package agent

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"taskcenter/internal/agentapi"
)

func TestOutbox(t *testing.T) {
	dir := t.TempDir()
	o, err := OpenOutbox(dir)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	reports := []Report{
		{Fail: &agentapi.FailRequest{UnitRef: agentapi.UnitRef{UnitID: 2, Epoch: 1}, Error: "boom", ExitCode: 3}, Created: now.Add(time.Second)},
		{Complete: &agentapi.Completion{UnitRef: agentapi.UnitRef{UnitID: 1, Epoch: 4}, Result: json.RawMessage(`{"a":1}`), Seconds: 1.5}, Created: now},
	}
	for _, r := range reports {
		if err := o.Put(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := o.Put(Report{}); err == nil {
		t.Error("Put accepted an empty report")
	}
	// A corrupt file is moved aside, not returned and not retried forever.
	if err := os.WriteFile(filepath.Join(dir, "9-9.json"), []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := o.List()
	if err == nil {
		t.Error("List did not report the corrupt file")
	}
	if len(got) != 2 || got[0].Ref().UnitID != 1 || got[1].Ref().UnitID != 2 {
		t.Fatalf("List = %+v, want units 1 then 2 (oldest first)", got)
	}
	if string(got[0].Complete.Result) != `{"a":1}` || got[1].Fail.ExitCode != 3 {
		t.Errorf("reports changed on disk: %+v", got)
	}
	if _, err := os.Stat(filepath.Join(dir, "9-9.json.bad")); err != nil {
		t.Errorf("corrupt report not kept aside: %v", err)
	}
	if err := o.Remove(agentapi.UnitRef{UnitID: 1, Epoch: 4}); err != nil {
		t.Fatal(err)
	}
	if err := o.Remove(agentapi.UnitRef{UnitID: 1, Epoch: 4}); err != nil {
		t.Errorf("removing twice: %v", err)
	}
	if got, err := o.List(); err != nil || len(got) != 1 || got[0].Ref().UnitID != 2 {
		t.Errorf("after Remove: %+v, %v", got, err)
	}
}

func TestBackoff(t *testing.T) {
	b := backoff{min: 100 * time.Millisecond, max: time.Second}
	tests := []struct{ lo, hi time.Duration }{
		{50 * time.Millisecond, 100 * time.Millisecond},
		{100 * time.Millisecond, 200 * time.Millisecond},
		{200 * time.Millisecond, 400 * time.Millisecond},
		{400 * time.Millisecond, 800 * time.Millisecond},
		{500 * time.Millisecond, time.Second}, // capped
		{500 * time.Millisecond, time.Second},
	}
	for i, tt := range tests {
		if d := b.next(); d < tt.lo || d > tt.hi {
			t.Errorf("delay %d = %v, want within [%v, %v]", i, d, tt.lo, tt.hi)
		}
	}
	b.reset()
	if d := b.next(); d > 100*time.Millisecond {
		t.Errorf("after reset: %v", d)
	}
}

func TestParseVersion(t *testing.T) {
	tests := []struct{ name, banner, want string }{
		{"blender", "Blender 3.4.1\n\tbuild date: 2023-03-12\n", "3.4.1"},
		{"blender", "Color management: using fallback mode\nBlender 4.2.0 LTS\n", "4.2.0"},
		{"ffmpeg", "ffmpeg version 5.1.4-0+deb12u1 Copyright (c) 2000-2023\nbuilt with gcc 12\n", "5.1.4-0+deb12u1"},
		{"ffmpeg", "ffmpeg version n6.1 Copyright", "6.1"},
		{"blender", "something else", "unknown"},
	}
	for _, tt := range tests {
		if got := parseVersion(tt.name, tt.banner); got != tt.want {
			t.Errorf("parseVersion(%q, %q) = %q, want %q", tt.name, tt.banner, got, tt.want)
		}
	}
}

type nopExecutor struct{}

func (nopExecutor) Run(ctx context.Context, u agentapi.Unit, env Env) (Result, error) {
	return Result{}, nil
}

func TestCapabilities(t *testing.T) {
	exes := map[string]Executor{"shell": nopExecutor{}, "blender": nopExecutor{}, "ffmpeg": nopExecutor{}, "robot": nopExecutor{}, "recorder": nopExecutor{}}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	tests := []struct {
		software map[string]string
		want     []string
	}{
		{map[string]string{}, []string{"robot", "shell"}},
		{map[string]string{"blender": "3.4.1"}, []string{"blender", "robot", "shell"}},
		{map[string]string{"blender": "3.4.1", "ffmpeg": "5.1"}, []string{"blender", "ffmpeg", "recorder", "robot", "shell"}},
		{map[string]string{"ffmpeg": "5.1"}, []string{"ffmpeg", "recorder", "robot", "shell"}}, // a recorder needs ffmpeg
	}
	for _, tt := range tests {
		if got := capabilities(exes, tt.software, log); !slices.Equal(got, tt.want) {
			t.Errorf("capabilities(%v) = %v, want %v", tt.software, got, tt.want)
		}
	}
}

func TestClientErrors(t *testing.T) {
	tests := []struct {
		status                         int
		body                           string
		stale, unauthorized, permanent bool
		message                        string
	}{
		{http.StatusConflict, `{"error":"stale epoch"}`, true, false, true, "stale epoch"},
		{http.StatusUnauthorized, `{"error":"bad token"}`, false, true, false, "bad token"},
		{http.StatusBadRequest, `{"error":"max must be between 0 and 1000"}`, false, false, true, "max must be between 0 and 1000"},
		{http.StatusRequestEntityTooLarge, `{"error":"too large"}`, false, false, true, "too large"},
		{http.StatusTooManyRequests, `{"error":"slow down"}`, false, false, false, "slow down"},
		{http.StatusServiceUnavailable, "upstream down\n", false, false, false, "upstream down"},
	}
	for _, tt := range tests {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Authorization") != "Bearer tok" {
				t.Errorf("Authorization = %q", r.Header.Get("Authorization"))
			}
			w.WriteHeader(tt.status)
			io.WriteString(w, tt.body)
		}))
		c := NewClient(srv.URL+"/", nil)
		c.SetToken("tok")
		err := c.Progress(t.Context(), agentapi.ProgressRequest{UnitRef: agentapi.UnitRef{UnitID: 1, Epoch: 1}})
		srv.Close()
		var ae *APIError
		if !errors.As(err, &ae) || ae.Status != tt.status || ae.Message != tt.message {
			t.Errorf("%d: error %v, want APIError %d %q", tt.status, err, tt.status, tt.message)
		}
		if IsStale(err) != tt.stale || IsUnauthorized(err) != tt.unauthorized || IsPermanent(err) != tt.permanent {
			t.Errorf("%d: stale %v unauthorized %v permanent %v", tt.status, IsStale(err), IsUnauthorized(err), IsPermanent(err))
		}
	}
}

func TestSHA256Hex(t *testing.T) {
	const h = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	tests := []struct {
		in   string
		want string
		ok   bool
	}{
		{h, h, true},
		{"sha256:" + h, h, true},
		{"E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855", h, true},
		{"abc", "", false},
		{h[:63] + "x", "", false},
	}
	for _, tt := range tests {
		if got, ok := sha256Hex(tt.in); got != tt.want || ok != tt.ok {
			t.Errorf("sha256Hex(%q) = %q, %v", tt.in, got, ok)
		}
	}
}

// TestWorkDirIsMadeAbsolute: a relative work directory (dev's taskcenter-data/recorder) reaches the
// executors absolute, since tools they run resolve relative paths from elsewhere.
func TestWorkDirIsMadeAbsolute(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	c := Config{ServerURL: "http://127.0.0.1:1", Token: "t", Executors: map[string]Executor{"x": nil}, WorkDir: "data/agent"}
	if err := c.defaults(); err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(dir, "data", "agent"); c.WorkDir != want {
		t.Fatalf("WorkDir = %q, want %q", c.WorkDir, want)
	}
}
