package agent

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// procStat is what killRecorded needs of /proc/<pid>/stat.
type procStat struct {
	state byte
	pgrp  int
	start uint64 // clock ticks since boot
}

func readStat(pid int) (procStat, error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procStat{}, err
	}
	// The command name (field 2) is in parentheses and may hold spaces and parentheses itself: the
	// fields that follow start after the last ')'.
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return procStat{}, fmt.Errorf("/proc/%d/stat: malformed", pid)
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state), f[2] field 5 (pgrp), f[19] field 22 (starttime).
	if len(f) < 20 || len(f[0]) != 1 {
		return procStat{}, fmt.Errorf("/proc/%d/stat: malformed", pid)
	}
	pgrp, err := strconv.Atoi(f[2])
	if err != nil {
		return procStat{}, fmt.Errorf("/proc/%d/stat: pgrp: %w", pid, err)
	}
	start, err := strconv.ParseUint(f[19], 10, 64)
	if err != nil {
		return procStat{}, fmt.Errorf("/proc/%d/stat: starttime: %w", pid, err)
	}
	return procStat{state: f[0][0], pgrp: pgrp, start: start}, nil
}

func bootID() (string, error) {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return "", fmt.Errorf("boot id: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

func describeProc(pid int) (procRecord, error) {
	st, err := readStat(pid)
	if err != nil {
		return procRecord{}, err
	}
	boot, err := bootID()
	if err != nil {
		return procRecord{}, err
	}
	return procRecord{PGID: pid, Start: st.start, Boot: boot}, nil
}

// killRecorded sends SIGKILL to the recorded group if it is still the one recorded, and reports
// whether it did. The group is the recorded one when its leader still runs with the recorded start
// time, or, the leader gone (killed by its parent-death signal), when live members of a group of
// that id started no earlier than it: Linux does not hand out a pid again while a process group of
// that id has members, so those members are the leader's.
func killRecorded(rec procRecord) (bool, error) {
	boot, err := bootID()
	if err != nil {
		return false, err
	}
	if boot != rec.Boot {
		return false, nil // recorded before a reboot: long gone
	}
	if st, err := readStat(rec.PGID); err == nil {
		if st.start != rec.Start {
			return false, nil // the pid names another process now, so the group is gone
		}
		if st.state != 'Z' {
			return killGroup(rec.PGID)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return false, err
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return false, fmt.Errorf("list processes: %w", err)
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		st, err := readStat(pid)
		if err != nil {
			continue // exited meanwhile
		}
		if st.pgrp == rec.PGID && st.state != 'Z' && st.start >= rec.Start {
			return killGroup(rec.PGID)
		}
	}
	return false, nil
}

func killGroup(pgid int) (bool, error) {
	err := syscall.Kill(-pgid, syscall.SIGKILL)
	if errors.Is(err, syscall.ESRCH) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("kill process group %d: %w", pgid, err)
	}
	return true, nil
}
