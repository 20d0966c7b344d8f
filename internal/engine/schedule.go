package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"

	"taskcenter/internal/store"
)

// quartzParser reads the six cron fields with seconds first, as Quartz writes them.
var quartzParser = cron.NewParser(cron.Second | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// ParseCron reads a Quartz-style cron expression: seconds minutes hours day-of-month month day-of-week
// [year], with `?` for "no specific value" and day-of-week numbered 1 (Sunday) to 7 (Saturday). A year
// field is accepted only as `*` or `?`. Descriptors such as @daily are accepted too.
func ParseCron(expr string) (cron.Schedule, error) {
	expr = strings.TrimSpace(expr)
	if strings.HasPrefix(expr, "@") {
		s, err := quartzParser.Parse(expr)
		if err != nil {
			return nil, invalid("cron %q: %v", expr, err)
		}
		return s, nil
	}
	f := strings.Fields(expr)
	switch len(f) {
	case 6:
	case 7:
		if f[6] != "*" && f[6] != "?" {
			return nil, invalid("cron %q: a year field other than * is not supported", expr)
		}
		f = f[:6]
	default:
		return nil, invalid("cron %q: want 6 or 7 fields (seconds first), got %d", expr, len(f))
	}
	if strings.ContainsAny(f[3], "LW") || strings.ContainsAny(f[5], "L#") {
		return nil, invalid("cron %q: the L, W and # forms are not supported", expr)
	}
	dow, err := quartzDOW(f[5])
	if err != nil {
		return nil, invalid("cron %q: %v", expr, err)
	}
	f[5] = dow
	s, err := quartzParser.Parse(strings.Join(f, " "))
	if err != nil {
		return nil, invalid("cron %q: %v", expr, err)
	}
	return s, nil
}

// quartzDOW turns Quartz's 1-7 (Sunday first) day numbers into cron's 0-6, leaving names and steps.
func quartzDOW(field string) (string, error) {
	var b strings.Builder
	num := ""
	afterSlash := false
	flush := func() error {
		if num == "" {
			return nil
		}
		n, _ := strconv.Atoi(num)
		if afterSlash {
			b.WriteString(num) // a step is a count, not a day
		} else {
			if n < 1 || n > 7 {
				return fmt.Errorf("day-of-week %d is outside 1-7", n)
			}
			b.WriteString(strconv.Itoa(n - 1))
		}
		num = ""
		return nil
	}
	for _, r := range field {
		if r >= '0' && r <= '9' {
			num += string(r)
			continue
		}
		if err := flush(); err != nil {
			return "", err
		}
		switch r {
		case '/':
			afterSlash = true
		case ',':
			afterSlash = false
		}
		b.WriteRune(r)
	}
	if err := flush(); err != nil {
		return "", err
	}
	return b.String(), nil
}

// ScheduleSpec describes a schedule.
type ScheduleSpec struct {
	AccountID int64
	Name      string
	Cron      string
	Timezone  string // IANA name; UTC when empty
	Enabled   bool
	StartAt   *time.Time
	EndAt     *time.Time
	Template  JobSpec
}

// NextRun computes when a schedule fires next after t, or nil when it never will again.
func NextRun(expr, tz string, startAt, endAt *time.Time, after time.Time) (*time.Time, error) {
	s, err := ParseCron(expr)
	if err != nil {
		return nil, err
	}
	loc := time.UTC
	if tz != "" {
		if loc, err = time.LoadLocation(tz); err != nil {
			return nil, invalid("time zone %q: %v", tz, err)
		}
	}
	if startAt != nil && after.Before(*startAt) {
		after = startAt.Add(-time.Second)
	}
	next := s.Next(after.In(loc)).UTC()
	if next.IsZero() || (endAt != nil && next.After(*endAt)) {
		return nil, nil
	}
	return &next, nil
}

// CreateSchedule validates and stores a schedule.
func (e *Engine) CreateSchedule(ctx context.Context, sp ScheduleSpec) (store.Schedule, error) {
	s, err := e.scheduleFromSpec(sp)
	if err != nil {
		return store.Schedule{}, err
	}
	out, err := e.store.CreateSchedule(ctx, s, e.now())
	if err != nil {
		return store.Schedule{}, fmt.Errorf("create schedule: %w", err)
	}
	return out, nil
}

// UpdateSchedule replaces a schedule's definition.
func (e *Engine) UpdateSchedule(ctx context.Context, id int64, sp ScheduleSpec) (store.Schedule, error) {
	s, err := e.scheduleFromSpec(sp)
	if err != nil {
		return store.Schedule{}, err
	}
	old, err := e.store.GetSchedule(ctx, id)
	if err != nil {
		return store.Schedule{}, err
	}
	s.ID, s.CreatedAt, s.LastRun = id, old.CreatedAt, old.LastRun
	if err := e.store.UpdateSchedule(ctx, s, e.now()); err != nil {
		return store.Schedule{}, fmt.Errorf("update schedule %d: %w", id, err)
	}
	return s, nil
}

func (e *Engine) scheduleFromSpec(sp ScheduleSpec) (store.Schedule, error) {
	if sp.AccountID <= 0 || sp.Template.AccountID != sp.AccountID {
		return store.Schedule{}, invalid("a schedule and its job template need the same account")
	}
	if err := sp.Template.validate(e.hooks(sp.Template.Kind).Open); err != nil {
		return store.Schedule{}, err
	}
	if sp.StartAt != nil && sp.EndAt != nil && sp.EndAt.Before(*sp.StartAt) {
		return store.Schedule{}, invalid("end time is before start time")
	}
	next, err := NextRun(sp.Cron, sp.Timezone, sp.StartAt, sp.EndAt, e.now())
	if err != nil {
		return store.Schedule{}, err
	}
	tmpl, err := json.Marshal(sp.Template)
	if err != nil {
		return store.Schedule{}, fmt.Errorf("encode job template: %w", err)
	}
	return store.Schedule{
		AccountID: sp.AccountID, Name: sp.Name, Cron: sp.Cron, Timezone: sp.Timezone, Enabled: sp.Enabled,
		Template: tmpl, StartAt: sp.StartAt, EndAt: sp.EndAt, NextRun: next,
	}, nil
}

// RunScheduleNow creates a job from a schedule's template at once, whatever its timing.
func (e *Engine) RunScheduleNow(ctx context.Context, id int64) (store.Job, error) {
	s, err := e.store.GetSchedule(ctx, id)
	if err != nil {
		return store.Job{}, err
	}
	var spec JobSpec
	if err := json.Unmarshal(s.Template, &spec); err != nil {
		return store.Job{}, fmt.Errorf("decode template of schedule %d: %w", id, err)
	}
	return e.Submit(ctx, spec)
}

// DeleteSchedule removes a schedule; the jobs it created stay. It records a schedule.deleted event.
func (e *Engine) DeleteSchedule(ctx context.Context, id int64) error {
	s, err := e.store.GetSchedule(ctx, id)
	if err != nil {
		return err
	}
	if err := e.store.DeleteSchedule(ctx, id); err != nil {
		return fmt.Errorf("delete schedule %d: %w", id, err)
	}
	e.record(ctx, store.Event{At: e.now(), AccountID: s.AccountID, Type: "schedule.deleted",
		Data: mustJSON(map[string]any{"schedule": id, "name": s.Name})})
	return nil
}
