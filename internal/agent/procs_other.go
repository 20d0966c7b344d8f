//go:build !linux

package agent

// Elsewhere than Linux there is no parent-death signal and no /proc to tell a recorded process from
// a reused pid, so nothing is recorded and nothing killed at start.

func describeProc(int) (procRecord, error) { return procRecord{}, errNoProcInfo }

func killRecorded(procRecord) (bool, error) { return false, nil }
