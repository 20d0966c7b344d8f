package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// procRecord is a process group an executor started, kept on disk while it runs: an agent killed
// with -9 cannot stop its units' processes, and the ones that ignore or escape the parent-death
// signal (grandchildren) would finish the unit a second time beside its next lease. The next start
// of the agent kills the groups its records name that are still alive and still the same.
type procRecord struct {
	PGID int `json:"pgid"`
	// Start is the group leader's start time (clock ticks since boot) and Boot the boot's id: with
	// them a pid reused by an unrelated process is told apart from the one recorded.
	Start uint64 `json:"start"`
	Boot  string `json:"boot"`
}

// procTable keeps one record file per running process group in dir.
type procTable struct {
	dir string
	log *slog.Logger
}

func (p *procTable) path(pgid int) string {
	return filepath.Join(p.dir, strconv.Itoa(pgid)+".json")
}

// track records the process group led by pid; the returned func drops the record once the group
// has been reaped. A record that cannot be written is logged, not fatal: the unit still runs, it
// only loses the restart's clean-up.
func (p *procTable) track(pid int) (untrack func()) {
	rec, err := describeProc(pid)
	if err == nil {
		var data []byte
		if data, err = json.Marshal(rec); err == nil {
			err = os.WriteFile(p.path(pid), data, 0o600)
		}
	}
	if errors.Is(err, errNoProcInfo) {
		return func() {}
	}
	if err != nil {
		p.log.Warn("cannot record a unit's process group; a crash of the agent may leave it running", "pgid", pid, "err", err)
		return func() {}
	}
	return func() {
		if err := os.Remove(p.path(pid)); err != nil && !errors.Is(err, os.ErrNotExist) {
			p.log.Warn("drop process record", "pgid", pid, "err", err)
		}
	}
}

// killLeftovers kills the process groups a previous run of the agent recorded and left running, and
// drops every record. It runs before the agent takes work, so nothing recorded is this run's.
func (p *procTable) killLeftovers() error {
	if err := os.MkdirAll(p.dir, 0o700); err != nil {
		return fmt.Errorf("process records: %w", err)
	}
	entries, err := os.ReadDir(p.dir)
	if err != nil {
		return fmt.Errorf("process records: %w", err)
	}
	for _, e := range entries {
		path := filepath.Join(p.dir, e.Name())
		if !strings.HasSuffix(e.Name(), ".json") {
			_ = os.Remove(path) // an interrupted write's leftovers
			continue
		}
		var rec procRecord
		data, err := os.ReadFile(path)
		if err == nil {
			err = json.Unmarshal(data, &rec)
		}
		switch {
		case err != nil:
			p.log.Warn("unreadable process record, dropping it", "file", path, "err", err)
		case rec.PGID <= 1:
			p.log.Warn("process record names no group, dropping it", "file", path)
		default:
			killed, err := killRecorded(rec)
			if err != nil {
				p.log.Warn("cannot kill a previous run's process group", "pgid", rec.PGID, "err", err)
			} else if killed {
				p.log.Warn("killed a unit's processes left running by the previous run of the agent", "pgid", rec.PGID)
			}
		}
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("process records: %w", err)
		}
	}
	return nil
}

// errNoProcInfo: the platform cannot describe a process well enough to kill it safely later.
var errNoProcInfo = errors.New("process records are not kept on this platform")
