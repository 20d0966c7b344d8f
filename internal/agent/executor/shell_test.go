package executor

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"taskcenter/internal/agent"
	"taskcenter/internal/agentapi"
	"taskcenter/internal/testutil"
)

func unit(t testing.TB, capability string, spec any) agentapi.Unit {
	raw, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	return agentapi.Unit{UnitID: 7, JobID: 3, Epoch: 1, Attempt: 1, Capability: capability, Spec: raw}
}

func TestShell(t *testing.T) {
	tests := []struct {
		name      string
		exe       *Shell
		spec      ShellSpec
		rawSpec   string // instead of spec
		wantCode  int    // -2: success
		permanent bool
		wantLog   []string
		uploads   map[string]string
	}{
		{
			name:     "placeholders",
			spec:     ShellSpec{Command: []string{"echo", "frame {{frame}} unit {{unit_id}} job {{job_id}} try {{ attempt }}"}, Vars: map[string]string{"frame": "12"}},
			wantCode: -2,
			wantLog:  []string{"frame 12 unit 7 job 3 try 1"},
		},
		{
			name:     "no shell interpretation",
			spec:     ShellSpec{Command: []string{"echo", "$HOME; ls *"}},
			wantCode: -2,
			wantLog:  []string{"$HOME; ls *"},
		},
		{
			name:     "stdout and stderr in order",
			spec:     ShellSpec{Command: []string{"sh", "-c", "echo one; echo two >&2; echo three"}},
			wantCode: -2,
			wantLog:  []string{"one\ntwo\nthree\n"},
		},
		{
			name:     "env and dir",
			spec:     ShellSpec{Command: []string{"sh", "-c", "echo $FOO $TASKCENTER_UNIT_ID; pwd"}, Env: map[string]string{"FOO": "f{{frame}}"}, Vars: map[string]string{"frame": "9"}, Dir: "sub/dir"},
			wantCode: -2,
			wantLog:  []string{"f9 7\n", "/sub/dir\n"},
		},
		{
			name:     "exit code",
			spec:     ShellSpec{Command: []string{"sh", "-c", "echo boom >&2; exit 3"}},
			wantCode: 3,
			wantLog:  []string{"boom"},
		},
		{
			name:     "outputs uploaded",
			spec:     ShellSpec{Command: []string{"sh", "-c", "mkdir -p out && printf hello > out/r{{frame}}.txt"}, Vars: map[string]string{"frame": "5"}, Outputs: []string{"out/r{{frame}}.txt"}},
			wantCode: -2,
			uploads:  map[string]string{"out_r5.txt": "hello"},
		},
		{
			name:     "missing output",
			spec:     ShellSpec{Command: []string{"true"}, Outputs: []string{"nothing.txt"}},
			wantCode: 0,
		},
		{
			name:      "unknown placeholder",
			spec:      ShellSpec{Command: []string{"echo", "{{nope}}"}},
			wantCode:  0,
			permanent: true,
		},
		{
			name:      "unknown spec field",
			rawSpec:   `{"command": ["true"], "comand": ["x"]}`,
			wantCode:  0,
			permanent: true,
		},
		{
			name:      "empty command",
			spec:      ShellSpec{},
			wantCode:  0,
			permanent: true,
		},
		{
			name:     "program not found",
			spec:     ShellSpec{Command: []string{"/nonexistent/program"}},
			wantCode: -1,
		},
		{
			name:      "restricted program",
			exe:       &Shell{Program: "ffmpeg"},
			spec:      ShellSpec{Command: []string{"rm", "-rf", "/"}},
			wantCode:  0,
			permanent: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			exe := tt.exe
			if exe == nil {
				exe = &Shell{}
			}
			u := unit(t, "shell", tt.spec)
			if tt.rawSpec != "" {
				u.Spec = json.RawMessage(tt.rawSpec)
			}
			env := newFakeEnv(t)
			res, err := exe.Run(t.Context(), u, env)
			if tt.wantCode == -2 {
				if err != nil {
					t.Fatalf("Run: %v\nlog:\n%s", err, env.Log())
				}
				if _, err := json.Marshal(res.Data); err != nil {
					t.Fatalf("result does not marshal: %v", err)
				}
			} else {
				if err == nil {
					t.Fatal("Run succeeded, want a failure")
				}
				var f *agent.Failure
				gotCode := 0
				permanent := false
				if errors.As(err, &f) {
					gotCode, permanent = f.ExitCode, f.Permanent
				}
				if gotCode != tt.wantCode || permanent != tt.permanent {
					t.Errorf("failure: exit code %d permanent %v, want %d %v (%v)", gotCode, permanent, tt.wantCode, tt.permanent, err)
				}
			}
			for _, want := range tt.wantLog {
				if !strings.Contains(env.Log(), want) {
					t.Errorf("log %q does not contain %q", env.Log(), want)
				}
			}
			for name, want := range tt.uploads {
				if got := string(env.uploads[name]); got != want {
					t.Errorf("upload %s = %q, want %q", name, got, want)
				}
			}
		})
	}
}

func TestShellCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	env := newFakeEnv(t)
	done := make(chan error, 1)
	start := time.Now()
	started := filepath.Join(t.TempDir(), "started")
	// The child of sh must die too: its process group is killed.
	go func() {
		_, err := (&Shell{Grace: time.Second}).Run(ctx, unit(t, "shell", ShellSpec{Command: []string{"sh", "-c",
			"sleep 30 & touch " + started + "; sleep 30; wait"}}), env)
		done <- err
	}()
	// Cancel once the child runs, not after a guess at how long starting takes.
	testutil.Eventually(t, 10*time.Second, func() error {
		_, err := os.Stat(started)
		return err
	})
	cancel()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("a cancelled unit succeeded")
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("cancellation took %v", d)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancellation")
	}
}

func TestSubstitute(t *testing.T) {
	vars := map[string]string{"a": "1", "b.c": "2"}
	tests := []struct {
		in, want string
		err      bool
	}{
		{"x{{a}}y", "x1y", false},
		{"{{ a }}{{b.c}}", "12", false},
		{"{a} {{", "{a} {{", false},
		{"{{z}}", "", true},
	}
	for _, tt := range tests {
		got, err := substitute(tt.in, vars)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("substitute(%q) = %q, %v; want %q, error %v", tt.in, got, err, tt.want, tt.err)
		}
	}
}

func TestOutputName(t *testing.T) {
	tests := []struct{ in, want string }{
		{"image.png", "image.png"},
		{"out/frame 7.png", "out_frame_7.png"},
		{"./a.txt", "__a.txt"},
		{".hidden", "_hidden"},
		{"ünï.exr", "__n__.exr"}, // per byte: ü and ï are two each
		{strings.Repeat("d/", 60) + "f.png", (strings.Repeat("d_", 60) + "f.png")[25:]},
	}
	for _, tt := range tests {
		if got := OutputName(tt.in); got != tt.want {
			t.Errorf("OutputName(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
