package sqlstore

import (
	"maps"
	"testing"

	"taskcenter/internal/store"
)

func TestParseUnitCounts(t *testing.T) {
	cases := []struct {
		in      string
		want    map[store.UnitStatus]int
		wantErr bool
	}{
		{"", map[store.UnitStatus]int{}, false},
		{"done:3", map[store.UnitStatus]int{store.UnitDone: 3}, false},
		{"done:3,timed_out:1,queued:12", map[store.UnitStatus]int{store.UnitDone: 3, store.UnitTimedOut: 1, store.UnitQueued: 12}, false},
		{"done", nil, true},
		{"done:x", nil, true},
	}
	for _, tc := range cases {
		got, err := parseUnitCounts(tc.in)
		if (err != nil) != tc.wantErr || !maps.Equal(got, tc.want) {
			t.Errorf("parseUnitCounts(%q) = %v, %v; want %v, error %v", tc.in, got, err, tc.want, tc.wantErr)
		}
	}
}
