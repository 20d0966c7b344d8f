package agent

import (
	"encoding/json"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// TestKillLeftoversOnlyTheRecordedGroup: a record kills its group only while the group is the one
// recorded; a pid now naming another process (other start time) or a record from another boot is
// dropped without a signal.
func TestKillLeftoversOnlyTheRecordedGroup(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*procRecord)
		killed bool
	}{
		{"same process", func(*procRecord) {}, true},
		{"pid reused by a later process", func(r *procRecord) { r.Start-- }, false},
		{"recorded before a reboot", func(r *procRecord) { r.Boot = "another boot" }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command("sleep", "300")
			cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			exited := make(chan struct{})
			go func() { _ = cmd.Wait(); close(exited) }()
			t.Cleanup(func() { _ = cmd.Process.Kill(); <-exited })

			table := &procTable{dir: t.TempDir(), log: slog.New(slog.DiscardHandler)}
			rec, err := describeProc(cmd.Process.Pid)
			if err != nil {
				t.Fatal(err)
			}
			tc.mutate(&rec)
			data, _ := json.Marshal(rec)
			if err := os.WriteFile(filepath.Join(table.dir, strconv.Itoa(rec.PGID)+".json"), data, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := table.killLeftovers(); err != nil {
				t.Fatal(err)
			}
			if left, _ := os.ReadDir(table.dir); len(left) != 0 {
				t.Errorf("records left: %v", left)
			}
			select {
			case <-exited:
				if !tc.killed {
					t.Error("an unrelated process was killed")
				}
			case <-time.After(200 * time.Millisecond): // a kill lands at once; this bounds the wait for none
				if tc.killed {
					t.Error("the recorded group is still alive")
				}
			}
		})
	}
}
