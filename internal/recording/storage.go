package recording

import (
	"bytes"
	"context"
	"crypto/hmac"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"taskcenter/internal/facade"
	"taskcenter/internal/store"
	"taskcenter/internal/unitspec"
)

// maxFormBytes bounds a storage call's body.
const maxFormBytes = 64 << 10

// storageEnvelope is the storage calls' answer: {"code":0,"message":"OK","data":...}.
var storageEnvelope = facade.NewEnvelope(facade.Layout{
	Fields: []facade.Field{{Name: "code", Part: facade.PartCode}, {Name: "message", Part: facade.PartMessage}, {Name: "data", Part: facade.PartData}},
	Codes:  codes, ContentType: "application/json; charset=utf-8",
})

// storageCall reads a form-data, urlencoded (or JSON) POST, authenticates its app_id and token and
// answers in the storage envelope.
func (a *API) storageCall(fn func(ctx context.Context, ap app, p facade.Params) (any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, err := readForm(w, r)
		if err != nil {
			storageEnvelope.Write(w, r, nil, err)
			return
		}
		appID, err := p.Text("app_id", true, 64)
		if err != nil {
			storageEnvelope.Write(w, r, nil, err)
			return
		}
		token, err := p.Text("token", true, 512)
		if err != nil {
			storageEnvelope.Write(w, r, nil, err)
			return
		}
		ap, ferr := a.authenticate(r.Context(), appID, token)
		if ferr != nil {
			storageEnvelope.Write(w, r, nil, ferr)
			return
		}
		data, err := fn(r.Context(), ap, p)
		storageEnvelope.Write(w, r, data, err)
	}
}

func readForm(w http.ResponseWriter, r *http.Request) (facade.Params, error) {
	if r.ContentLength > maxFormBytes {
		return facade.Params{}, errf(CodeBadParam, "body larger than %d bytes", maxFormBytes)
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch ct {
	case "multipart/form-data":
		if err := r.ParseMultipartForm(maxFormBytes); err != nil {
			return facade.Params{}, errf(CodeBadParam, "malformed multipart body")
		}
		vals := url.Values{}
		for k, v := range r.MultipartForm.Value {
			vals[k] = v
		}
		return facade.Params{Form: vals, Codes: codes}, nil
	case "application/json":
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return facade.Params{}, errf(CodeBadParam, "body larger than %d bytes", maxFormBytes)
		}
		m, err := facade.DecodeObject(body)
		if err != nil || m == nil {
			return facade.Params{}, errf(CodeBadFrame, "the body is not a JSON object")
		}
		return facade.Params{JSON: m, Codes: codes}, nil
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return facade.Params{}, errf(CodeBadParam, "body larger than %d bytes", maxFormBytes)
	}
	vals, err := url.ParseQuery(string(bytes.TrimSpace(body)))
	if err != nil {
		return facade.Params{}, errf(CodeBadParam, "malformed form body")
	}
	for k, v := range r.URL.Query() {
		if _, ok := vals[k]; !ok {
			vals[k] = v
		}
	}
	return facade.Params{Form: vals, Codes: codes}, nil
}

// fileView is one entry of the file list: a recording's file (its slices together).
func (a *API) fileView(r recording) map[string]any {
	ext := ".mp4"
	if r.Doc.FileType == unitspec.FileMP3 {
		ext = ".mp3"
	}
	slices := make([]map[string]any, len(r.Doc.Slices))
	for i, s := range r.Doc.Slices {
		slices[i] = map[string]any{"index": s.Index, "name": sliceName(r.Doc, s.Index), "size": s.Size, "duration": s.Millis / 1000}
	}
	return map[string]any{
		"file_name": r.Doc.FileName, "file_type": ext[1:], "file_state": statusOf(r.Doc, nil), "record_id": r.id(),
		"group_id": r.Doc.GroupID, "size": r.Doc.Bytes, "duration": r.Doc.MediaMillis / 1000,
		"create_time": a.formatTime(r.Doc.CreatedAt), "start_time": a.formatTime(r.Doc.StartedAt),
		"stop_time": a.formatTime(r.Doc.StoppedAt), "slice_count": len(r.Doc.Slices), "slices": slices,
	}
}

// sliceName is the name a slice is downloaded as: file_name, the slice number from 1, the type.
func sliceName(d recordDoc, n int) string {
	ext := ".mp4"
	if d.FileType == unitspec.FileMP3 {
		ext = ".mp3"
	}
	return d.FileName + "_" + strconv.Itoa(n) + ext
}

// fileList is /api/record/file/list: the app's recordings' files, newest first, within
// [start_time, end_time] (the last 30 days by default), matching file_name and file_state exactly.
func (a *API) fileList(ctx context.Context, ap app, p facade.Params) (any, error) {
	name, err := p.Text("file_name", false, maxText)
	if err != nil {
		return nil, err
	}
	state, err := p.Int("file_state", false, -1, 6, 0)
	if err != nil {
		return nil, err
	}
	offset, limit, err := p.Paging("page", "page_size", 20, 500)
	if err != nil {
		return nil, err
	}
	from, to, err := a.timeRange(p, "start_time", "end_time")
	if err != nil {
		return nil, err
	}
	// SQL filters the app and the creation time (and the job's status where a file state implies
	// it); Go filters the document's file name and state.
	f := store.JobFilter{CreatedFrom: &from, CreatedTo: &to}
	if state == StatusComplete {
		f.Statuses = []store.JobStatus{store.JobSucceeded}
	}
	var keep func(recording) bool
	if name != "" || p.Has("file_state") {
		keep = func(r recording) bool {
			return (name == "" || r.Doc.FileName == name) && (!p.Has("file_state") || statusOf(r.Doc, nil) == int(state))
		}
	}
	rs, total, err := a.recordingPage(ctx, ap, f, keep, offset, limit)
	if err != nil {
		return nil, err
	}
	items := make([]map[string]any, 0, len(rs))
	for _, r := range rs {
		items = append(items, a.fileView(r))
	}
	return map[string]any{"total": total, "list": items}, nil
}

// timeRange reads a range whose ends default to the last 30 days.
func (a *API) timeRange(p facade.Params, fromName, toName string) (from, to time.Time, err error) {
	now := a.now()
	to, from = now, now.AddDate(0, 0, -30)
	for _, f := range []struct {
		name string
		dst  *time.Time
	}{{fromName, &from}, {toName, &to}} {
		s, err := p.Text(f.name, false, 64)
		if err != nil {
			return from, to, err
		}
		if s == "" {
			continue
		}
		t, ok := a.parseTime(s)
		if !ok {
			return from, to, errf(CodeBadParam, "%s must be a date like 2006-01-02 15:04:05", f.name)
		}
		*f.dst = t
	}
	if p.Has(fromName) && !p.Has(toName) {
		to = from.AddDate(0, 0, 30)
	}
	if !p.Has(fromName) && p.Has(toName) {
		from = to.AddDate(0, 0, -30)
	}
	return from, to, nil
}

// usedBytes is what the app's files take.
func (a *API) usedBytes(ctx context.Context, ap app) (int64, error) {
	rs, err := a.listRecordings(ctx, ap, store.JobFilter{Statuses: []store.JobStatus{store.JobSucceeded}}, nil)
	if err != nil {
		return 0, err
	}
	var n int64
	for _, r := range rs {
		n += r.Doc.Bytes
	}
	return n, nil
}

// volume is /api/store/volume/getUsedVolume; volume is absent when the app has no quota.
func (a *API) volume(ctx context.Context, ap app, _ facade.Params) (any, error) {
	used, err := a.usedBytes(ctx, ap)
	if err != nil {
		return nil, err
	}
	out := map[string]any{"useVolume": used}
	set, err := a.settings(ctx, ap.AccountID)
	if err != nil {
		return nil, err
	}
	if q := set.quotaOf(ap.ID); q > 0 {
		out["volume"] = q
	}
	return out, nil
}

// fileDownload is /api/record/file/download: signed, expiring URLs of the file's slices (at most
// 30), served by fileGet with Range support; a file that does not exist answers no URL.
func (a *API) fileDownload(ctx context.Context, ap app, p facade.Params) (any, error) {
	name, err := p.Text("file_name", true, maxText)
	if err != nil {
		return nil, err
	}
	rs, err := a.listRecordings(ctx, ap, store.JobFilter{Statuses: []store.JobStatus{store.JobSucceeded}},
		func(r recording) bool { return r.Doc.FileName == name && r.Doc.State == stateDone })
	if err != nil {
		return nil, err
	}
	exp := a.now().Add(a.cfg.URLTTL).Unix()
	var urls []string
	for _, r := range rs {
		if r.Doc.FileName != name || r.Doc.State != stateDone {
			continue
		}
		for _, s := range r.Doc.Slices {
			if len(urls) == 30 {
				break
			}
			urls = append(urls, a.sliceURL(ap.AccountID, s.Hash, sliceName(r.Doc, s.Index), exp))
		}
		break // the newest recording of that name
	}
	out := map[string]any{"urls": strings.Join(urls, ","), "url_list": urls, "expire": exp}
	if urls == nil {
		out["url_list"] = []string{}
	}
	return out, nil
}

// sliceURL signs a slice's address for its account until exp (Unix seconds).
func (a *API) sliceURL(accountID int64, hash, name string, exp int64) string {
	q := url.Values{"a": {strconv.FormatInt(accountID, 10)}, "h": {hash}, "n": {name}, "e": {strconv.FormatInt(exp, 10)}}
	q.Set("s", a.urlSig(q))
	return a.cfg.PublicURL + PathFileGet + "?" + q.Encode()
}

func (a *API) urlSig(q url.Values) string {
	msg := q.Get("a") + "\n" + q.Get("h") + "\n" + q.Get("n") + "\n" + q.Get("e")
	return hex.EncodeToString(a.cfg.Keyring.MAC("recording-download", []byte(msg)))
}

// fileGet serves a slice behind a URL that download signed and that has not expired.
func (a *API) fileGet(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	exp, err := strconv.ParseInt(q.Get("e"), 10, 64)
	if err != nil || !hmac.Equal([]byte(a.urlSig(q)), []byte(q.Get("s"))) {
		facade.JSONError(w, http.StatusForbidden, "invalid download signature")
		return
	}
	if a.now().Unix() >= exp {
		facade.JSONError(w, http.StatusForbidden, "download URL expired")
		return
	}
	acct, _ := strconv.ParseInt(q.Get("a"), 10, 64)
	ok, err := a.st.HasBlobRef(r.Context(), acct, q.Get("h"))
	if err != nil || !ok {
		facade.JSONError(w, http.StatusNotFound, "not found")
		return
	}
	w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": q.Get("n")}))
	if strings.HasSuffix(q.Get("n"), ".mp3") {
		w.Header().Set("Content-Type", "audio/mpeg")
	} else {
		w.Header().Set("Content-Type", "video/mp4")
	}
	facade.ServeBlob(w, r, a.cfg.Blobs, a.log, q.Get("h"))
}

// fileDelete is /api/record/file/delete: the app's finished recordings of that file name are
// deleted (their space freed) and the account's read rights on their blobs (segments and slices)
// dropped, so that their download URLs answer not found; OK whether or not there was one. A
// recording still running is not a file yet and is left alone. A blob no account refers to any more
// is deleted from the blob store by the sweep of unreferenced blobs after its grace period
// (internal/blobsweep).
func (a *API) fileDelete(ctx context.Context, ap app, p facade.Params) (any, error) {
	name, err := p.Text("file_name", true, maxText)
	if err != nil {
		return nil, err
	}
	rs, err := a.listRecordings(ctx, ap, store.JobFilter{Statuses: []store.JobStatus{store.JobSucceeded, store.JobPartial, store.JobFailed, store.JobCancelled}}, nil)
	if err != nil {
		return nil, err
	}
	// Blobs the app's other recordings still list stay readable (content-addressed: one may be shared).
	keep := map[string]bool{}
	var gone []recording
	for _, r := range rs {
		if r.Doc.FileName != name || (r.Doc.State != stateDone && r.Doc.State != stateFailed) {
			for _, s := range r.Doc.Slices {
				keep[s.Hash] = true
			}
			continue
		}
		gone = append(gone, r)
	}
	// Each recording's rights go before its job: a delete that stops between the two is retried
	// by the client, finds the recording again and ends the job, rather than leaving rights behind.
	for _, r := range gone {
		hashes, err := a.blobsOf(ctx, r)
		if err != nil {
			return nil, err
		}
		hashes = slices.DeleteFunc(hashes, func(h string) bool { return keep[h] })
		if _, err := a.st.DropBlobRefs(ctx, ap.AccountID, hashes); err != nil {
			return nil, fmt.Errorf("drop the deleted file's blobs: %w", err)
		}
		if err := a.eng.Delete(ctx, r.Job.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
	}
	return nil, nil
}

// blobsOf lists the blobs a recording stored: its slices and its units' outputs (the segments).
func (a *API) blobsOf(ctx context.Context, r recording) ([]string, error) {
	var hs []string
	for _, s := range r.Doc.Slices {
		hs = append(hs, s.Hash)
	}
	capture, finalize, err := a.unitsOf(ctx, r.Job.ID)
	if err != nil {
		return nil, err
	}
	for _, raw := range []json.RawMessage{capture.Outputs, finalize.Outputs} {
		var outs map[string]struct {
			Hash string `json:"hash"`
		}
		if json.Unmarshal(raw, &outs) == nil {
			for _, o := range outs {
				hs = append(hs, o.Hash)
			}
		}
	}
	return hs, nil
}
