package gctune

import (
	"runtime/debug"
	"testing"
)

func TestApply(t *testing.T) {
	tests := []struct {
		name, gogc  string
		wantApplied bool
		wantPercent int // in effect afterwards
	}{
		{"environment silent", "", true, ServerPercent},
		{"environment sets a percent", "150", false, 77},
		{"environment turns collection off", "off", false, 77},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// 77 stands for whatever the runtime took from the environment at start.
			orig := debug.SetGCPercent(77)
			defer debug.SetGCPercent(orig)
			prev, applied := Apply(func(k string) string {
				if k == "GOGC" {
					return tt.gogc
				}
				return ""
			})
			if applied != tt.wantApplied {
				t.Fatalf("applied %v, want %v", applied, tt.wantApplied)
			}
			if applied && prev != 77 {
				t.Errorf("previous %d, want 77", prev)
			}
			if got := debug.SetGCPercent(77); got != tt.wantPercent {
				t.Errorf("GOGC in effect %d, want %d", got, tt.wantPercent)
			}
		})
	}
}
