package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"taskcenter/internal/agentapi"
)

// Report is a finished unit's report waiting in the outbox: exactly one of Complete and Fail is set.
type Report struct {
	Complete *agentapi.Completion  `json:"complete,omitempty"`
	Fail     *agentapi.FailRequest `json:"fail,omitempty"`
	Created  time.Time             `json:"created"`
}

// Ref is the unit lease the report is about.
func (r Report) Ref() agentapi.UnitRef {
	if r.Complete != nil {
		return r.Complete.UnitRef
	}
	if r.Fail != nil {
		return r.Fail.UnitRef
	}
	return agentapi.UnitRef{}
}

// Outbox keeps finished-unit reports on disk, one fsync'd JSON file per report, until the server
// acknowledges them: a report survives both a server outage and an agent restart.
type Outbox struct {
	dir string
}

// OpenOutbox opens (creating) the outbox directory.
func OpenOutbox(dir string) (*Outbox, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("outbox: %w", err)
	}
	return &Outbox{dir: dir}, nil
}

func (o *Outbox) path(ref agentapi.UnitRef) string {
	return filepath.Join(o.dir, fmt.Sprintf("%d-%d.json", ref.UnitID, ref.Epoch))
}

// Put stores a report durably: temporary file, fsync, rename, fsync of the directory, so that after
// Put returns a crash leaves either the whole report or (before) nothing.
func (o *Outbox) Put(r Report) (err error) {
	if (r.Complete == nil) == (r.Fail == nil) {
		return errors.New("outbox: a report is either a completion or a failure")
	}
	data, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("outbox: encode report: %w", err)
	}
	f, err := os.CreateTemp(o.dir, ".report-*")
	if err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if _, err = f.Write(data); err != nil {
		return fmt.Errorf("outbox: write report: %w", err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("outbox: sync report: %w", err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("outbox: close report: %w", err)
	}
	if err = os.Rename(f.Name(), o.path(r.Ref())); err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	return syncDir(o.dir)
}

// List returns the stored reports, oldest first. Unreadable files are skipped and returned as an
// error alongside the readable reports, so one corrupt file cannot block the others.
func (o *Outbox) List() ([]Report, error) {
	entries, err := os.ReadDir(o.dir)
	if err != nil {
		return nil, fmt.Errorf("outbox: %w", err)
	}
	var reports []Report
	var errs []error
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".json") || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		data, err := os.ReadFile(filepath.Join(o.dir, e.Name()))
		if err != nil {
			errs = append(errs, fmt.Errorf("outbox: %w", err))
			continue
		}
		var r Report
		if err := json.Unmarshal(data, &r); err != nil || r.Ref().UnitID == 0 {
			// A report is written whole or not at all, so this is not a torn write: keep the file
			// aside for a human instead of dropping it or retrying it forever.
			bad := filepath.Join(o.dir, e.Name()+".bad")
			_ = os.Rename(filepath.Join(o.dir, e.Name()), bad)
			errs = append(errs, fmt.Errorf("outbox: %s is not a report (moved to %s): %v", e.Name(), bad, err))
			continue
		}
		reports = append(reports, r)
	}
	sort.SliceStable(reports, func(i, j int) bool { return reports[i].Created.Before(reports[j].Created) })
	return reports, errors.Join(errs...)
}

// Remove drops the report of a unit lease once the server acknowledged it.
func (o *Outbox) Remove(ref agentapi.UnitRef) error {
	if err := os.Remove(o.path(ref)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("outbox: %w", err)
	}
	return nil
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) { // some platforms cannot sync a directory
		return fmt.Errorf("outbox: sync dir: %w", err)
	}
	return nil
}
