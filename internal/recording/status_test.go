package recording

import (
	"encoding/json"
	"testing"

	"taskcenter/internal/store"
)

func TestStatusOf(t *testing.T) {
	unit := func(s store.UnitStatus, outputs string) *store.Unit {
		return &store.Unit{Status: s, Outputs: json.RawMessage(outputs)}
	}
	tests := []struct {
		name     string
		state    string
		finalize *store.Unit
		want     int
	}{
		{"initialised", stateInit, nil, StatusInit},
		{"recording", stateRecording, nil, StatusRecording},
		{"stopping", stateStopping, nil, StatusQueued},
		{"finalize waiting", stateFinalizing, unit(store.UnitQueued, ""), StatusQueued},
		{"encoding", stateFinalizing, unit(store.UnitRunning, "{}"), StatusEncoding},
		{"uploading", stateFinalizing, unit(store.UnitRunning, `{"slice.000001":{"hash":"h","size":1}}`), StatusUploading},
		{"finalize done, not folded", stateFinalizing, unit(store.UnitDone, `{"slice.000001":{}}`), StatusUploading},
		{"finalize failed", stateFinalizing, unit(store.UnitFailed, ""), StatusFailed},
		{"complete", stateDone, nil, StatusComplete},
		{"failed", stateFailed, nil, StatusFailed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := statusOf(recordDoc{State: tc.state}, tc.finalize); got != tc.want {
				t.Fatalf("status %d, want %d", got, tc.want)
			}
		})
	}
}
