package rpa

import (
	"archive/zip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"

	"taskcenter/internal/facade"
	"taskcenter/internal/store"
)

// Package manifest: an .ipkg is a zip holding manifest.json at its root.
const manifestName = "manifest.json"

// Manifest describes a process package.
type Manifest struct {
	ProcCode    string `json:"procCode"`
	ProcName    string `json:"procName,omitempty"`
	Version     string `json:"version"`
	Entry       string `json:"entry"` // the command the robot runs, relative to the unpacked package
	Description string `json:"description,omitempty"`
}

var (
	procCodeRE = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,50}$`)
	versionRE  = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,30}$`)
)

// Process work statuses of the document.
const (
	wsEdit       = "edit"
	wsPreRelease = "pre_release"
	wsRelease    = "release"
	wsDeleted    = "deleted"
)

type processDoc struct {
	ProcCode       string `json:"procCode"`
	ProcName       string `json:"procName"`
	ProcVer        string `json:"procVer"` // the newest released version
	DeveloperUser  string `json:"developerUser"`
	OwnerUserID    int64  `json:"ownerUserId"`
	OwnerUser      string `json:"ownerUser"`
	OrgCode        string `json:"orgCode"`
	ProcDesc       string `json:"procDesc"`
	PendingTimeout int64  `json:"pendingTimeout"`
	RunningTimeout int64  `json:"runningTimeout"`
	AutoStopTime   int64  `json:"autoStopTime"`
	FailTryTimes   int64  `json:"failTryTimes"`
	WorkStatus     string `json:"workStatus"`
	StatusCtime    int64  `json:"statusCtime"`
	PublishTime    int64  `json:"publishTime"`
}

// A process is listed within the caller's department and matched by its name.
func (d processDoc) RecordScope() string { return d.OrgCode }
func (d processDoc) RecordName() string  { return d.ProcName }

// A version is listed within the caller's department; its list matches no name.
func (d versionDoc) RecordScope() string { return d.OrgCode }
func (d versionDoc) RecordName() string  { return "" }

type versionDoc struct {
	ProcCode      string `json:"procCode"`
	ProcName      string `json:"procName"`
	ProcVer       string `json:"procVer"`
	Hash          string `json:"hash"`
	Size          int64  `json:"size"`
	Entry         string `json:"entry"`
	WorkStatus    string `json:"workStatus"`
	VerExplain    string `json:"verExplain,omitempty"`
	ProcDesc      string `json:"procDesc,omitempty"`
	DeveloperUser string `json:"developerUser"`
	OwnerUserID   int64  `json:"ownerUserId"`
	OrgCode       string `json:"orgCode"`
	PublishTime   int64  `json:"publishTime"`
	StatusCtime   int64  `json:"statusCtime"`
}

func procFile(code, ver string) string { return ver + "_" + code + ".ipkg" }

// ReadManifest reads and checks the manifest of an .ipkg.
func ReadManifest(r io.ReaderAt, size int64) (Manifest, error) {
	zr, err := zip.NewReader(r, size)
	if err != nil {
		return Manifest{}, fail(CodeParamInvalid, "the package is not a zip file")
	}
	for _, f := range zr.File {
		if f.Name != manifestName {
			continue
		}
		if f.UncompressedSize64 > 64<<10 {
			return Manifest{}, fail(CodeParamInvalid, "manifest.json is larger than 64 KiB")
		}
		rc, err := f.Open()
		if err != nil {
			return Manifest{}, fail(CodeParamInvalid, "manifest.json: %v", err)
		}
		defer rc.Close()
		var m Manifest
		dec := json.NewDecoder(io.LimitReader(rc, 64<<10))
		if err := dec.Decode(&m); err != nil {
			return Manifest{}, fail(CodeParamInvalid, "manifest.json: %v", err)
		}
		switch {
		case !procCodeRE.MatchString(m.ProcCode):
			return Manifest{}, fail(CodeParamInvalid, "manifest procCode must be 1-50 letters, digits, _ . -")
		case !versionRE.MatchString(m.Version):
			return Manifest{}, fail(CodeParamInvalid, "manifest version must be 1-30 letters, digits, _ . -")
		case strings.TrimSpace(m.Entry) == "" || len(m.Entry) > 500:
			return Manifest{}, fail(CodeParamInvalid, "manifest entry is required (at most 500 characters)")
		case len([]rune(m.ProcName)) > 100 || len([]rune(m.Description)) > 500:
			return Manifest{}, fail(CodeParamTooLong, "manifest procName or description is too long")
		}
		if m.ProcName == "" {
			m.ProcName = m.ProcCode
		}
		return m, nil
	}
	return Manifest{}, fail(CodeParamInvalid, "the package has no manifest.json")
}

// processPublish serves POST /oapi/v1/process/publish (extension): a studio or developer uploads an
// .ipkg (multipart "file" or "uploadFile"); workStatus edit, pre_release (default) or release.
func (a *API) processPublish(ctx context.Context, c *call) (any, error) {
	if err := c.caller.require(permProcess); err != nil {
		return nil, err
	}
	if c.p.Files == nil {
		return nil, fail(CodeParamInvalid, "the package must be sent as multipart/form-data")
	}
	fhs := c.p.Files.File["file"]
	if len(fhs) == 0 {
		fhs = c.p.Files.File["uploadFile"]
	}
	if len(fhs) != 1 {
		return nil, fail(CodeParamMissing, "file (one .ipkg part) is required")
	}
	status, err := c.p.Text("workStatus", false, 20)
	if err != nil {
		return nil, err
	}
	switch status {
	case "":
		status = wsPreRelease
	case wsEdit, wsPreRelease, wsRelease:
	default:
		return nil, fail(CodeParamInvalid, "workStatus must be edit, pre_release or release")
	}
	explain, err := c.p.Text("verExplain", false, maxDesc)
	if err != nil {
		return nil, err
	}
	f, err := fhs[0].Open()
	if err != nil {
		return nil, fmt.Errorf("open package: %w", err)
	}
	defer f.Close()
	m, err := ReadManifest(f, fhs[0].Size)
	if err != nil {
		return nil, err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("rewind package: %w", err)
	}
	ref, err := a.blobs.Put(ctx, f, a.maxUp)
	if err != nil {
		return nil, fmt.Errorf("store package: %w", err)
	}
	// The account's robots fetch the package by hash (agent protocol): record it as the account's.
	if err := a.st.AddBlobRefs(ctx, c.caller.accountID, []string{ref.Hash}, a.now()); err != nil {
		return nil, fmt.Errorf("record package: %w", err)
	}
	now := a.now().UnixMilli()
	acct := c.caller.accountID
	proc, err := facade.GetDocByKey[processDoc](ctx, a.st, acct, recProcess, m.ProcCode)
	switch {
	case errors.Is(err, store.ErrNotFound):
		proc = rec[processDoc]{Record: store.Record{AccountID: acct, Kind: recProcess, Key: m.ProcCode}, Doc: processDoc{
			ProcCode: m.ProcCode, OwnerUserID: c.caller.user.ID, OwnerUser: c.caller.userName(), OrgCode: c.caller.org(),
			WorkStatus: wsEdit, StatusCtime: now,
		}}
	case err != nil:
		return nil, err
	case !inScope(c.caller.org(), proc.Doc.OrgCode):
		return nil, fail(CodeForbidden, "process %s belongs to another department", m.ProcCode)
	}
	proc.Doc.ProcName, proc.Doc.ProcDesc, proc.Doc.DeveloperUser = m.ProcName, m.Description, c.caller.userName()
	if proc.Record, err = a.put(ctx, proc.Record, proc.Doc); err != nil {
		return nil, err
	}
	v := versionDoc{
		ProcCode: m.ProcCode, ProcName: m.ProcName, ProcVer: m.Version, Hash: ref.Hash, Size: ref.Size, Entry: m.Entry,
		WorkStatus: status, VerExplain: explain, ProcDesc: m.Description, DeveloperUser: c.caller.userName(),
		OwnerUserID: proc.Doc.OwnerUserID, OrgCode: proc.Doc.OrgCode, PublishTime: now, StatusCtime: now,
	}
	vr, err := a.put(ctx, store.Record{AccountID: acct, Kind: recVersion, Key: m.ProcCode + "|" + m.Version, ParentID: proc.ID}, v)
	if errors.Is(err, store.ErrConflict) {
		return nil, fail(CodeExists, "version %s of %s was published before", m.Version, m.ProcCode)
	}
	if err != nil {
		return nil, err
	}
	if err := a.refreshProcess(ctx, proc); err != nil {
		return nil, err
	}
	return map[string]any{"processId": proc.ID, "versionId": vr.ID, "procCode": m.ProcCode, "procVer": m.Version, "workStatus": status}, nil
}

// refreshProcess sets the process's current version and status from its versions: the newest
// released one wins.
func (a *API) refreshProcess(ctx context.Context, proc rec[processDoc]) error {
	vs, err := facade.ListDocs[versionDoc](ctx, a.st, proc.AccountID, recVersion, proc.ID)
	if err != nil {
		return err
	}
	sort.Slice(vs, func(i, j int) bool {
		return vs[i].Doc.PublishTime < vs[j].Doc.PublishTime || (vs[i].Doc.PublishTime == vs[j].Doc.PublishTime && vs[i].ID < vs[j].ID)
	})
	d := proc.Doc
	old := d.WorkStatus
	d.ProcVer, d.WorkStatus = "", wsEdit
	for _, v := range vs {
		switch v.Doc.WorkStatus {
		case wsRelease:
			d.ProcVer, d.WorkStatus, d.PublishTime = v.Doc.ProcVer, wsRelease, v.Doc.PublishTime
		case wsPreRelease:
			if d.WorkStatus != wsRelease {
				d.WorkStatus = wsPreRelease
			}
		}
	}
	if d.WorkStatus != old {
		d.StatusCtime = a.now().UnixMilli()
	}
	_, err = a.put(ctx, proc.Record, d)
	return err
}

// releasedVersion returns the version to run: procVer when given (it must be released), else the
// process's newest released version.
func (a *API) releasedVersion(ctx context.Context, c *caller, proc rec[processDoc], ver string) (rec[versionDoc], error) {
	if ver == "" {
		ver = proc.Doc.ProcVer
	}
	if ver == "" {
		return rec[versionDoc]{}, fail(CodeStateConflict, "process %s has no released version", proc.Doc.ProcCode)
	}
	v, err := facade.GetDocByKey[versionDoc](ctx, a.st, c.accountID, recVersion, proc.Doc.ProcCode+"|"+ver)
	if errors.Is(err, store.ErrNotFound) {
		return v, fail(CodeNotFound, "version %s of %s", ver, proc.Doc.ProcCode)
	}
	if err != nil {
		return v, err
	}
	if v.Doc.WorkStatus != wsRelease {
		return v, fail(CodeStateConflict, "version %s of %s is %s; only released versions run", ver, proc.Doc.ProcCode, v.Doc.WorkStatus)
	}
	return v, nil
}

func (a *API) processItem(p rec[processDoc], orgs map[string]rec[orgDoc]) map[string]any {
	d := p.Doc
	var file any
	if d.ProcVer != "" {
		file = procFile(d.ProcCode, d.ProcVer)
	}
	return map[string]any{
		"id": p.ID, "createTime": ms(p.CreatedAt), "modifyTime": ms(p.UpdatedAt), "procCode": d.ProcCode,
		"procName": d.ProcName, "procFile": file, "procVer": nilIfEmpty(d.ProcVer), "developerUser": d.DeveloperUser,
		"owberUserId": d.OwnerUserID, "owberUser": d.OwnerUser, "orgCode": d.OrgCode,
		"curOrgName": nilIfEmpty(orgs[d.OrgCode].Doc.CurName), "curName": nil, "publishTime": nilIfZero(d.PublishTime),
		"procDesc": d.ProcDesc, "pendingTimeout": d.PendingTimeout, "runningTimeout": d.RunningTimeout,
		"handDoMin": nil, "autoStopTime": d.AutoStopTime, "failTryTimes": d.FailTryTimes,
		"proclcon": "default_proc_inc.png", "keyWords": nil, "workStatus": d.WorkStatus,
		"statusCtime": nilIfZero(d.StatusCtime), "isAssistant": 0, "isStartUp": 0,
	}
}

// processList serves GET /oapi/v1/process.
func (a *API) processList(ctx context.Context, c *call) (any, error) {
	var q [4]string // procName, deveUserName, ownUserName, orgCode
	for i, n := range []string{"procName", "deveUserName", "ownUserName", "orgCode"} {
		var err error
		if q[i], err = c.p.Text(n, false, 200); err != nil {
			return nil, err
		}
	}
	off, lim, err := c.p.Paging("page", "size", 10, 1000)
	if err != nil {
		return nil, err
	}
	f := scopeFilter(c.caller.accountID, recProcess, c.caller.org())
	if q[3] != "" { // a department filter narrows the caller's own subtree
		switch {
		case strings.HasPrefix(q[3], f.ScopePrefix):
			f.ScopePrefix, f.OrUnscoped = q[3], false
		case !strings.HasPrefix(f.ScopePrefix, q[3]):
			return facade.Page[map[string]any]{Items: []map[string]any{}}, nil
		}
	}
	f.NameContains, f.Desc, f.Offset, f.Limit = q[0], true, off, lim
	f.Fields = []store.FieldMatch{{Field: "workStatus", Values: []string{wsDeleted}, Not: true}}
	for i, field := range []string{1: "developerUser", 2: "ownerUser"} {
		if field != "" && q[i] != "" {
			f.Fields = append(f.Fields, store.FieldMatch{Field: field, Values: []string{q[i]}})
		}
	}
	ps, total, err := facade.ListDocsPage[processDoc](ctx, a.st, f)
	if err != nil {
		return nil, err
	}
	orgs, err := a.orgs(ctx, c.caller.accountID)
	if err != nil {
		return nil, err
	}
	items := make([]map[string]any, 0, len(ps))
	for _, p := range ps {
		items = append(items, a.processItem(p, orgs))
	}
	return facade.Page[map[string]any]{Total: total, Items: items}, nil
}

func (a *API) processByID(ctx context.Context, c *caller, id int64) (rec[processDoc], error) {
	p, err := facade.GetDoc[processDoc](ctx, a.st, c.accountID, recProcess, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && (!inScope(c.org(), p.Doc.OrgCode) || p.Doc.WorkStatus == wsDeleted)) {
		return p, fail(CodeNotFound, "process %d", id)
	}
	return p, err
}

// processDelete serves DELETE /oapi/v1/process {id}: the process, its versions and its schedules go;
// its jobs stay in the history.
func (a *API) processDelete(ctx context.Context, c *call) (any, error) {
	if err := c.caller.require(permProcess); err != nil {
		return nil, err
	}
	id, err := c.p.Int("id", true, 1, 1<<62, 0)
	if err != nil {
		return nil, err
	}
	p, err := a.processByID(ctx, c.caller, id)
	if err != nil {
		return nil, err
	}
	scheds, err := facade.ListDocs[scheduleDoc](ctx, a.st, c.caller.accountID, recSchedule, -1)
	if err != nil {
		return nil, err
	}
	for _, s := range scheds {
		if s.Doc.ProcCode == p.Doc.ProcCode {
			if err := a.dropSchedule(ctx, s); err != nil {
				return nil, err
			}
		}
	}
	vs, err := facade.ListDocs[versionDoc](ctx, a.st, c.caller.accountID, recVersion, p.ID)
	if err != nil {
		return nil, err
	}
	for _, v := range vs {
		if err := a.st.DeleteRecord(ctx, v.ID); err != nil {
			return nil, fmt.Errorf("delete version %d: %w", v.ID, err)
		}
	}
	return nil, a.st.DeleteRecord(ctx, p.ID)
}

// versionList serves GET /oapi/v1/process/version (proclid: a process id filter; "procId" too).
func (a *API) versionList(ctx context.Context, c *call) (any, error) {
	pid, err := c.p.Int("proclid", false, 0, 1<<62, 0)
	if err != nil {
		return nil, err
	}
	if pid == 0 {
		if pid, err = c.p.Int("procId", false, 0, 1<<62, 0); err != nil {
			return nil, err
		}
	}
	off, lim, err := c.p.Paging("page", "size", 10, 1000)
	if err != nil {
		return nil, err
	}
	parent := int64(-1)
	if pid != 0 {
		if _, err := a.processByID(ctx, c.caller, pid); err != nil {
			return nil, err
		}
		parent = pid
	}
	f := scopeFilter(c.caller.accountID, recVersion, c.caller.org())
	f.ParentID, f.Desc, f.Offset, f.Limit = parent, true, off, lim
	vs, total, err := facade.ListDocsPage[versionDoc](ctx, a.st, f)
	if err != nil {
		return nil, err
	}
	orgs, err := a.orgs(ctx, c.caller.accountID)
	if err != nil {
		return nil, err
	}
	owners := map[int64]string{}
	items := []map[string]any{}
	for _, v := range vs {
		d := v.Doc
		if _, ok := owners[d.OwnerUserID]; !ok {
			if u, err := facade.GetDoc[userDoc](ctx, a.st, c.caller.accountID, recUser, d.OwnerUserID); err == nil {
				owners[d.OwnerUserID] = u.Doc.UserName
			}
		}
		items = append(items, map[string]any{
			"id": v.ID, "createTime": ms(v.CreatedAt), "modifyTime": ms(v.UpdatedAt),
			"proChange": a.date(v.CreatedAt), "procName": d.ProcName, "orgCode": d.OrgCode, "procCode": d.ProcCode,
			"procFile": procFile(d.ProcCode, d.ProcVer), "procVer": d.ProcVer, "fileSize": d.Size,
			"developerUser": d.DeveloperUser, "owberUserId": d.OwnerUserID, "owberUser": owners[d.OwnerUserID],
			"isActivity": d.WorkStatus == wsRelease, "publishTime": a.date(msTime(d.PublishTime)), "procDesc": d.ProcDesc,
			"verExplain": nilIfEmpty(d.VerExplain), "workStatus": d.WorkStatus,
			"curOrgName": nilIfEmpty(orgs[d.OrgCode].Doc.CurName), "statusCtime": a.date(msTime(d.StatusCtime)),
			"sha256": d.Hash, "entry": d.Entry,
		})
	}
	return facade.Page[map[string]any]{Total: total, Items: items}, nil
}

// versionStatus serves PUT /oapi/v1/process/version {id, workStatus} (extension): move a version
// between edit, pre_release, release and deleted.
func (a *API) versionStatus(ctx context.Context, c *call) (any, error) {
	if err := c.caller.require(permProcess); err != nil {
		return nil, err
	}
	id, err := c.p.Int("id", true, 1, 1<<62, 0)
	if err != nil {
		return nil, err
	}
	status, err := c.p.Text("workStatus", true, 20)
	if err != nil {
		return nil, err
	}
	switch status {
	case wsEdit, wsPreRelease, wsRelease, wsDeleted:
	default:
		return nil, fail(CodeParamInvalid, "workStatus must be edit, pre_release, release or deleted")
	}
	v, err := facade.GetDoc[versionDoc](ctx, a.st, c.caller.accountID, recVersion, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !inScope(c.caller.org(), v.Doc.OrgCode)) {
		return nil, fail(CodeNotFound, "version %d", id)
	}
	if err != nil {
		return nil, err
	}
	v.Doc.WorkStatus, v.Doc.StatusCtime = status, a.now().UnixMilli()
	if _, err := a.put(ctx, v.Record, v.Doc); err != nil {
		return nil, err
	}
	p, err := facade.GetDoc[processDoc](ctx, a.st, c.caller.accountID, recProcess, v.ParentID)
	if err != nil {
		return nil, err
	}
	return nil, a.refreshProcess(ctx, p)
}
