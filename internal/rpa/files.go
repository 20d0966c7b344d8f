package rpa

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"

	"taskcenter/internal/blob"
	"taskcenter/internal/facade"
	"taskcenter/internal/store"
)

const maxFileName = 200

// A shared file is listed within the caller's department and matched by name as written.
func (d fileDoc) RecordScope() string { return d.OrgCode }
func (d fileDoc) RecordName() string  { return d.FileName }

type fileDoc struct {
	FileName string `json:"fileName"`
	Hash     string `json:"hash"`
	Size     int64  `json:"size"`
	Tags     string `json:"tags,omitempty"`
	FileDesc string `json:"fileDesc,omitempty"`
	UserID   int64  `json:"userId"`
	OrgCode  string `json:"orgCode"`
}

// humanSize renders a size the way the document's example does ("5M").
func humanSize(n int64) string {
	switch {
	case n >= 1<<30:
		return strconv.FormatFloat(float64(n)/(1<<30), 'f', 1, 64) + "G"
	case n >= 1<<20:
		return strconv.FormatFloat(float64(n)/(1<<20), 'f', 1, 64) + "M"
	case n >= 1<<10:
		return strconv.FormatFloat(float64(n)/(1<<10), 'f', 1, 64) + "K"
	}
	return strconv.FormatInt(n, 10) + "B"
}

// cleanFileName keeps the base name of what a client sent ("D:/a.txt" -> "a.txt") and refuses names
// that could mean a path.
func cleanFileName(s string) (string, error) {
	s = strings.ReplaceAll(s, "\\", "/")
	s = path.Base(strings.TrimSpace(s))
	if s == "" || s == "." || s == "/" || s == ".." {
		return "", fail(CodeParamInvalid, "file name is empty")
	}
	if len([]rune(s)) > maxFileName {
		return "", fail(CodeParamTooLong, "file name is longer than %d characters", maxFileName)
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return "", fail(CodeParamInvalid, "file name holds control characters")
		}
	}
	return s, nil
}

// fileList serves GET /oapi/v1/share/file.
func (a *API) fileList(ctx context.Context, c *call) (any, error) {
	userID, err := c.p.Int("userId", false, 0, 1<<62, 0)
	if err != nil {
		return nil, err
	}
	name, err := c.p.Text("fileName", false, maxFileName)
	if err != nil {
		return nil, err
	}
	off, lim, err := c.p.Paging("page", "size", 10, 1000)
	if err != nil {
		return nil, err
	}
	f := scopeFilter(c.caller.accountID, recFile, c.caller.org())
	f.NameContains, f.Desc = name, true
	if userID == 0 {
		f.Offset, f.Limit = off, lim
	}
	fs, total, err := facade.ListDocsPage[fileDoc](ctx, a.st, f)
	if err != nil {
		return nil, err
	}
	if userID != 0 { // the uploader is not a column: this filter pages in memory
		kept := fs[:0]
		for _, f := range fs {
			if f.Doc.UserID == userID {
				kept = append(kept, f)
			}
		}
		pg := facade.Paginate(kept, off, lim)
		fs, total = pg.Items, pg.Total
	}
	items := []map[string]any{}
	for _, f := range fs {
		items = append(items, map[string]any{
			"fileId": idString(f.ID), "fileName": f.Doc.FileName, "fileSize": humanSize(f.Doc.Size), "fileBytes": f.Doc.Size,
			"fileAllPath": "/share/" + f.Doc.FileName, "fileDesc": f.Doc.FileDesc, "fileTag": f.Doc.Tags,
			"createTime": a.date(f.CreatedAt), "modifyTime": a.date(f.UpdatedAt), "userId": f.Doc.UserID, "sha256": f.Doc.Hash,
		})
	}
	return facade.Page[map[string]any]{Total: total, Items: items}, nil
}

// fileUpload serves POST /oapi/v1/share/file (multipart: uploadFile, isOverwrite, fileTag, userId).
func (a *API) fileUpload(ctx context.Context, c *call) (any, error) {
	if c.caller.job == nil {
		if err := c.caller.require(permFile); err != nil {
			return nil, err
		}
	}
	if c.p.Files == nil {
		return nil, fail(CodeParamInvalid, "the upload must be multipart/form-data")
	}
	fhs := c.p.Files.File["uploadFile"]
	if len(fhs) == 0 {
		fhs = c.p.Files.File["file"]
	}
	if len(fhs) != 1 {
		return nil, fail(CodeParamMissing, "uploadFile (one file part) is required")
	}
	fh := fhs[0]
	name := fh.Filename
	if n, err := c.p.Text("fileName", false, maxFileName); err != nil {
		return nil, err
	} else if n != "" {
		name = n
	}
	name, err := cleanFileName(name)
	if err != nil {
		return nil, err
	}
	overwrite, err := c.p.YesNo("isOverwrite", false)
	if err != nil {
		return nil, err
	}
	tags, err := c.p.Text("fileTag", false, 200)
	if err != nil {
		return nil, err
	}
	desc, err := c.p.Text("fileDesc", false, maxDesc)
	if err != nil {
		return nil, err
	}
	// The document marks userId required (是): the user the file is shared as. It must be a user this
	// caller can see (its department or below), so that a file cannot be put under a stranger's name.
	owner, err := c.p.Int("userId", true, 1, 1<<62, 0)
	if err != nil {
		return nil, err
	}
	if u, err := facade.GetDoc[userDoc](ctx, a.st, c.caller.accountID, recUser, owner); errors.Is(err, store.ErrNotFound) ||
		(err == nil && !inScope(c.caller.org(), u.Doc.OrgCode)) {
		return nil, fail(CodeNotFound, "no user %d", owner)
	} else if err != nil {
		return nil, err
	}
	if fh.Size > a.maxUp {
		return nil, fail(CodeFileTooLarge, "larger than %d bytes", a.maxUp)
	}
	existing, err := facade.GetDocByKey[fileDoc](ctx, a.st, c.caller.accountID, recFile, name)
	switch {
	case err == nil && !overwrite:
		return nil, fail(CodeExists, "file %s exists; send isOverwrite=yes to replace it", name)
	case err == nil && !inScope(c.caller.org(), existing.Doc.OrgCode):
		return nil, fail(CodeForbidden, "file %s belongs to another department", name)
	case err != nil && !errors.Is(err, store.ErrNotFound):
		return nil, err
	}
	f, err := fh.Open()
	if err != nil {
		return nil, fmt.Errorf("open upload: %w", err)
	}
	defer f.Close()
	ref, err := a.blobs.Put(ctx, f, a.maxUp)
	if err != nil {
		return nil, fmt.Errorf("store upload: %w", err)
	}
	if err := a.st.AddBlobRefs(ctx, c.caller.accountID, []string{ref.Hash}, a.now()); err != nil {
		return nil, fmt.Errorf("record upload: %w", err)
	}
	d := fileDoc{FileName: name, Hash: ref.Hash, Size: ref.Size, Tags: tags, FileDesc: desc, UserID: owner, OrgCode: c.caller.org()}
	r := store.Record{AccountID: c.caller.accountID, Kind: recFile, Key: name}
	if existing.ID != 0 {
		r = existing.Record
	}
	out, err := a.put(ctx, r, d)
	if errors.Is(err, store.ErrConflict) {
		return nil, fail(CodeExists, "file %s exists", name)
	}
	if err != nil {
		return nil, err
	}
	return map[string]any{"fileId": idString(out.ID), "fileName": name, "fileSize": ref.Size, "sha256": ref.Hash}, nil
}

// fileDownload serves GET /oapi/v1/share/file/download?fileName=: the bytes as stored, or the
// envelope with 10008 when there is no such file.
func (a *API) fileDownload(ctx context.Context, c *call) (any, error) {
	name, err := c.p.Text("fileName", false, maxFileName)
	if err != nil {
		return nil, err
	}
	var f rec[fileDoc]
	if name != "" {
		f, err = facade.GetDocByKey[fileDoc](ctx, a.st, c.caller.accountID, recFile, name)
	} else {
		id, ierr := c.p.Int("fileId", true, 1, 1<<62, 0)
		if ierr != nil {
			return nil, fail(CodeParamMissing, "fileName is required")
		}
		f, err = facade.GetDoc[fileDoc](ctx, a.st, c.caller.accountID, recFile, id)
	}
	if errors.Is(err, store.ErrNotFound) || (err == nil && !inScope(c.caller.org(), f.Doc.OrgCode)) {
		return nil, fail(CodeFileNotFound, "")
	}
	if err != nil {
		return nil, err
	}
	rc, size, err := a.blobs.Open(ctx, f.Doc.Hash)
	if errors.Is(err, blob.ErrNotFound) {
		return nil, fail(CodeFileNotFound, "content missing")
	}
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	h := c.w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Length", strconv.FormatInt(size, 10))
	h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": f.Doc.FileName}))
	h.Set("X-Content-SHA256", f.Doc.Hash)
	c.wrote = true
	c.w.WriteHeader(http.StatusOK)
	if _, err := io.Copy(c.w, rc); err != nil {
		a.log.Debug("download interrupted", "file", f.Doc.FileName, "err", err)
	}
	return nil, nil
}

// fileDelete serves DELETE /oapi/v1/share/file {"id"}. The content stays in the blob store: blobs are
// shared by hash, and collecting unreferenced ones is the server's job.
func (a *API) fileDelete(ctx context.Context, c *call) (any, error) {
	if err := c.caller.require(permFile); err != nil {
		return nil, err
	}
	var f rec[fileDoc]
	id, err := c.p.Int("id", false, 1, 1<<62, 0)
	if err != nil {
		return nil, err
	}
	if id != 0 {
		f, err = facade.GetDoc[fileDoc](ctx, a.st, c.caller.accountID, recFile, id)
	} else {
		name, nerr := c.p.Text("fileName", false, maxFileName)
		if nerr != nil {
			return nil, nerr
		}
		if name == "" {
			return nil, fail(CodeParamMissing, "id is required")
		}
		f, err = facade.GetDocByKey[fileDoc](ctx, a.st, c.caller.accountID, recFile, name)
	}
	if errors.Is(err, store.ErrNotFound) || (err == nil && !inScope(c.caller.org(), f.Doc.OrgCode)) {
		return nil, fail(CodeFileNotFound, "")
	}
	if err != nil {
		return nil, err
	}
	return nil, a.st.DeleteRecord(ctx, f.ID)
}
