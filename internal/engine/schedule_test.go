package engine

import (
	"errors"
	"testing"
	"time"
)

func TestParseCron(t *testing.T) {
	base := time.Date(2026, 11, 22, 10, 0, 30, 0, time.UTC) // a Sunday
	tests := []struct {
		expr    string
		want    time.Time // next fire after base
		wantErr bool
	}{
		{expr: "0 0/1 * * * ?", want: time.Date(2026, 11, 22, 10, 1, 0, 0, time.UTC)},
		{expr: "*/10 * * * * ?", want: time.Date(2026, 11, 22, 10, 0, 40, 0, time.UTC)},
		{expr: "0 30 9 ? * MON-FRI", want: time.Date(2026, 11, 23, 9, 30, 0, 0, time.UTC)},
		// Quartz numbers days 1 (Sunday) to 7 (Saturday): 2 is Monday.
		{expr: "0 0 12 ? * 2", want: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)},
		{expr: "0 0 12 ? * 1", want: time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)},
		{expr: "0 0 12 ? * 7", want: time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)},
		{expr: "0 0 12 ? * 2-6/2", want: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)},
		{expr: "0 15 10 ? * * *", want: time.Date(2026, 11, 22, 10, 15, 0, 0, time.UTC)},
		{expr: "0 0 0 1 1 ? 2030", wantErr: true},
		{expr: "0 0 12 L * ?", wantErr: true},
		{expr: "0 0 12 ? * 6#3", wantErr: true},
		{expr: "0 0 12 ? * 8", wantErr: true},
		{expr: "* * * *", wantErr: true},
		{expr: "61 * * * * ?", wantErr: true},
		{expr: "", wantErr: true},
		{expr: "@hourly", want: time.Date(2026, 11, 22, 11, 0, 0, 0, time.UTC)},
	}
	for _, tc := range tests {
		t.Run(tc.expr, func(t *testing.T) {
			s, err := ParseCron(tc.expr)
			if tc.wantErr {
				if !errors.Is(err, ErrInvalid) {
					t.Fatalf("ParseCron(%q) error = %v, want ErrInvalid", tc.expr, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := s.Next(base); !got.Equal(tc.want) {
				t.Errorf("next after %s = %s, want %s", base, got, tc.want)
			}
		})
	}
}

func TestNextRunWindow(t *testing.T) {
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	start := now.Add(time.Hour)
	end := now.Add(2 * time.Hour)
	next, err := NextRun("0 0 * * * ?", "", &start, &end, now)
	if err != nil || next == nil || !next.Equal(start) {
		t.Fatalf("next = %v, %v; want the start time %s", next, err, start)
	}
	late := end.Add(time.Minute)
	if next, err := NextRun("0 0 * * * ?", "", &start, &end, late); err != nil || next != nil {
		t.Fatalf("after the end: next = %v, %v; want none", next, err)
	}
	if _, err := NextRun("0 0 * * * ?", "Mars/Olympus", nil, nil, now); !errors.Is(err, ErrInvalid) {
		t.Fatalf("bad time zone: err = %v", err)
	}
}
