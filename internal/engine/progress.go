package engine

import (
	"context"
	"encoding/json"
	"strings"
	"unicode/utf8"

	"taskcenter/internal/store"
)

// Progress records a running unit's progress and log, and extends its lease. A non-zero
// ref.WorkerID must hold the unit: a worker cannot report on another's lease even if it guesses the
// epoch.
func (e *Engine) Progress(ctx context.Context, ref store.ReportRef, progress float64, log string) error {
	now := e.now()
	return e.store.ReportProgress(ctx, ref, progress, LogText(log), now.Add(e.cfg.LeaseFor), now)
}

// LogText is a program's output as the store keeps text: without NUL bytes and invalid UTF-8,
// which the store refuses (store.ErrInvalid). A unit that prints them keeps its progress and the
// rest of its log.
func LogText(s string) string {
	if strings.IndexByte(s, 0) < 0 && utf8.ValidString(s) {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, ""), "\x00", "")
}

// SetOutputs records a running unit's uploaded outputs; a non-zero ref.WorkerID must hold the unit.
func (e *Engine) SetOutputs(ctx context.Context, ref store.ReportRef, outputs json.RawMessage) error {
	return e.store.SetUnitOutputs(ctx, ref, outputs, e.now())
}
