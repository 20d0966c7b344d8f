package render

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"

	"taskcenter/internal/auth"
	"taskcenter/internal/blob"
	"taskcenter/internal/facade"
	"taskcenter/internal/httplimit"
	"taskcenter/internal/store"
)

// The transfer service replaces the vendor's proprietary one (README ruling): plain HTTP, resumable.
//
//	PUT  /api/render/transfer/files?path=/D/proj/scene.blend   body: bytes; Content-Range: bytes s-e/total
//	GET  /api/render/transfer/status?path=...                   {"path","offset","size","complete","hash"}
//	GET  /api/render/transfer/files?path=...                    download, Range supported
//	GET  /api/render/transfer/list?prefix=/D/proj               {"files":[{"path","size","hash"}]}
//
// Every call carries the account's transfer key (getRaySyncUserKey's raySyncUserKey, also getTransferBid's
// userKey) as "Authorization: Bearer <key>" or header "userKey". An upload without Content-Range sends the
// whole file; with it, chunks must arrive in order (a chunk not starting at the current offset gets 409 and
// the offset), so an interrupted upload resumes from status.offset. Outputs of finished tasks appear under
// /output/<task id>/.
const transferPrefix = "/api/render/transfer"

const (
	recFile        = "render.file"        // a complete file: key = server path
	recUpload      = "render.upload"      // an upload in progress: key = server path
	recTransferKey = "render.transferkey" // the account's sealed transfer key
)

type fileRef struct {
	Hash string `json:"hash"`
	Size int64  `json:"size"`
}

type uploadState struct {
	Total  int64        `json:"total"`
	Chunks []chunkState `json:"chunks"`
}

type chunkState struct {
	Offset int64  `json:"offset"`
	Size   int64  `json:"size"`
	Hash   string `json:"hash"`
}

func (u uploadState) offset() int64 {
	var n int64
	for _, c := range u.Chunks {
		n += c.Size
	}
	return n
}

func (a *API) mountTransfer(mux *http.ServeMux) {
	mux.HandleFunc("PUT "+transferPrefix+"/files", a.transfer(a.handleUpload))
	mux.HandleFunc("POST "+transferPrefix+"/files", a.transfer(a.handleUpload))
	mux.HandleFunc("GET "+transferPrefix+"/files", a.transfer(a.handleDownload))
	mux.HandleFunc("GET "+transferPrefix+"/status", a.transfer(a.handleStatus))
	mux.HandleFunc("GET "+transferPrefix+"/list", a.transfer(a.handleList))
}

// cleanPath makes a client path a server path: forward slashes, rooted, no "..", a drive letter as a
// folder ("D:/proj" -> "/D/proj").
func cleanPath(p string) (string, error) {
	p = strings.ReplaceAll(strings.TrimSpace(p), `\`, "/")
	if len(p) >= 2 && p[1] == ':' {
		p = "/" + p[:1] + p[2:]
	}
	if p == "" || len(p) > 1024 || strings.ContainsRune(p, 0) {
		return "", invalid("path must be 1 to 1024 characters")
	}
	for seg := range strings.SplitSeq(p, "/") {
		if seg == ".." {
			return "", invalid("path must not contain ..")
		}
	}
	return path.Clean("/" + p), nil
}

type transferHandler func(w http.ResponseWriter, r *http.Request, acct store.Account) error

func (a *API) transfer(h transferHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		acct, err := a.transferAccount(r)
		if err == nil {
			err = h(w, r, acct)
		}
		if err == nil {
			return
		}
		status, msg := http.StatusInternalServerError, "internal error"
		var e *Error
		switch {
		case errors.As(err, &e) && e.Code == CodeSignatureInvalid:
			status, msg = http.StatusUnauthorized, e.Msg
		case errors.As(err, &e) && e.Code == CodeNotFound:
			status, msg = http.StatusNotFound, e.Msg
		case errors.As(err, &e):
			status, msg = http.StatusBadRequest, e.Msg
		case errors.Is(err, blob.ErrTooLarge):
			status, msg = http.StatusRequestEntityTooLarge, err.Error()
		default:
			a.log.Error("render transfer", "path", r.URL.Path, "err", err)
		}
		writeJSON(w, status, map[string]string{"error": msg})
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// transferKey returns the account's transfer key, creating it on first use. It has the form
// "<account id>.<secret>" so that a presented key finds its account without a scan.
func (a *API) transferKey(ctx context.Context, accountID int64) (string, error) {
	rec, err := a.st.GetRecordByKey(ctx, accountID, recTransferKey, "key")
	if err == nil {
		var d struct {
			Sealed string `json:"sealed"`
		}
		if err := json.Unmarshal(rec.Data, &d); err != nil {
			return "", fmt.Errorf("decode transfer key: %w", err)
		}
		sealed, err := base64.StdEncoding.DecodeString(d.Sealed)
		if err != nil {
			return "", fmt.Errorf("decode transfer key: %w", err)
		}
		secret, err := a.keys.Open(sealed, transferAAD(accountID))
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("%d.%s", accountID, secret), nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return "", fmt.Errorf("load transfer key: %w", err)
	}
	secret := auth.RandomHex(20)
	sealed, err := a.keys.Seal([]byte(secret), transferAAD(accountID))
	if err != nil {
		return "", err
	}
	_, err = a.st.PutRecord(ctx, store.Record{AccountID: accountID, Kind: recTransferKey, Key: "key",
		Data: mustJSON(map[string]string{"sealed": base64.StdEncoding.EncodeToString(sealed)})}, a.eng.Now())
	if errors.Is(err, store.ErrConflict) {
		return a.transferKey(ctx, accountID) // a concurrent first call created it
	}
	if err != nil {
		return "", fmt.Errorf("save transfer key: %w", err)
	}
	return fmt.Sprintf("%d.%s", accountID, secret), nil
}

func transferAAD(accountID int64) []byte {
	return []byte(fmt.Sprintf("render.transfer\x00%d", accountID))
}

func (a *API) transferAccount(r *http.Request) (store.Account, error) {
	key := r.Header.Get("userKey")
	if h := r.Header.Get("Authorization"); key == "" && len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		key = strings.TrimSpace(h[7:])
	}
	bad := apiErr(CodeSignatureInvalid, "a valid transfer key (getRaySyncUserKey) is required")
	idText, _, ok := strings.Cut(key, ".")
	id, err := strconv.ParseInt(idText, 10, 64)
	if !ok || err != nil || id <= 0 {
		return store.Account{}, bad
	}
	acct, err := a.st.GetAccount(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		return store.Account{}, bad
	}
	if err != nil {
		return store.Account{}, fmt.Errorf("load account: %w", err)
	}
	if _, err := a.st.GetRecordByKey(r.Context(), id, recTransferKey, "key"); errors.Is(err, store.ErrNotFound) {
		return store.Account{}, bad // never create a key for a caller who has none
	}
	want, err := a.transferKey(r.Context(), id)
	if err != nil {
		return store.Account{}, err
	}
	if !hmacEqual(want, key) {
		return store.Account{}, bad
	}
	return acct, nil
}

func (a *API) getFile(ctx context.Context, accountID int64, p string) (*fileRef, error) {
	rec, err := a.st.GetRecordByKey(ctx, accountID, recFile, p)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load file %s: %w", p, err)
	}
	var f fileRef
	if err := json.Unmarshal(rec.Data, &f); err != nil {
		return nil, fmt.Errorf("decode file %s: %w", p, err)
	}
	return &f, nil
}

// putFile maps a server path to a blob, replacing an older version. The account may then read the
// blob through any route (its workers fetch a scene, the native API reads an output) and keeps that
// right when the path is replaced or deleted: the content was its own.
func (a *API) putFile(ctx context.Context, accountID int64, p string, f fileRef) error {
	if err := a.st.AddBlobRefs(ctx, accountID, []string{f.Hash}, a.eng.Now()); err != nil {
		return fmt.Errorf("record file %s: %w", p, err)
	}
	rec := store.Record{AccountID: accountID, Kind: recFile, Key: p}
	if old, err := a.st.GetRecordByKey(ctx, accountID, recFile, p); err == nil {
		rec.ID = old.ID
	} else if !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("load file %s: %w", p, err)
	}
	_, err := facade.PutDoc(ctx, a.st, rec, f, a.eng.Now())
	return err
}

// parseContentRange reads "bytes start-end/total".
func parseContentRange(h string) (start, end, total int64, err error) {
	spec, ok := strings.CutPrefix(strings.TrimSpace(h), "bytes ")
	rng, tot, ok2 := strings.Cut(spec, "/")
	s, e, ok3 := strings.Cut(rng, "-")
	if !ok || !ok2 || !ok3 {
		return 0, 0, 0, invalid("Content-Range must be \"bytes start-end/total\"")
	}
	start, err1 := strconv.ParseInt(s, 10, 64)
	end, err2 := strconv.ParseInt(e, 10, 64)
	total, err3 := strconv.ParseInt(tot, 10, 64)
	if err1 != nil || err2 != nil || err3 != nil || start < 0 || end < start || end >= total {
		return 0, 0, 0, invalid("Content-Range %q is not a valid range", h)
	}
	return start, end, total, nil
}

func (a *API) handleUpload(w http.ResponseWriter, r *http.Request, acct store.Account) error {
	ctx := r.Context()
	p, err := cleanPath(r.URL.Query().Get("path"))
	if err != nil {
		return err
	}
	cr := r.Header.Get("Content-Range")
	if cr == "" {
		if r.ContentLength > a.cfg.MaxUploadBytes {
			return fmt.Errorf("upload of %d bytes, at most %d in one request: %w", r.ContentLength, a.cfg.MaxUploadBytes, blob.ErrTooLarge)
		}
		httplimit.Upload(w, r, httplimit.UploadIdle)
		ref, err := a.blobs.Put(ctx, r.Body, a.cfg.MaxUploadBytes)
		if err != nil {
			return fmt.Errorf("store upload: %w", err)
		}
		if err := a.putFile(ctx, acct.ID, p, fileRef(ref)); err != nil {
			return err
		}
		a.dropUpload(ctx, acct.ID, p)
		writeJSON(w, http.StatusOK, map[string]any{"path": p, "offset": ref.Size, "size": ref.Size, "complete": true, "hash": ref.Hash})
		return nil
	}
	start, end, total, err := parseContentRange(cr)
	if err != nil {
		return err
	}
	// The declared sizes are the client's word: a file over MaxFileBytes, a chunk over MaxUploadBytes
	// or a body longer than its chunk is refused before anything is recorded or read.
	size := end - start + 1
	switch {
	case total > a.cfg.MaxFileBytes:
		return fmt.Errorf("file of %d bytes, at most %d: %w", total, a.cfg.MaxFileBytes, blob.ErrTooLarge)
	case size > a.cfg.MaxUploadBytes:
		return fmt.Errorf("chunk of %d bytes, at most %d: %w", size, a.cfg.MaxUploadBytes, blob.ErrTooLarge)
	case r.ContentLength > size:
		return invalid("body has %d bytes, Content-Range announced %d", r.ContentLength, size)
	}
	rec, err := a.st.GetRecordByKey(ctx, acct.ID, recUpload, p)
	var up uploadState
	switch {
	case errors.Is(err, store.ErrNotFound):
		rec = store.Record{AccountID: acct.ID, Kind: recUpload, Key: p}
		up.Total = total
	case err != nil:
		return fmt.Errorf("load upload %s: %w", p, err)
	default:
		if err := json.Unmarshal(rec.Data, &up); err != nil {
			return fmt.Errorf("decode upload %s: %w", p, err)
		}
	}
	if start == 0 && (up.Total != total || len(up.Chunks) > 0) {
		up = uploadState{Total: total} // a new upload of the path restarts from zero
	}
	if up.Total != total {
		writeJSON(w, http.StatusConflict, map[string]any{"error": "total size differs from the upload in progress; start again at 0", "offset": up.offset()})
		return nil
	}
	if start != up.offset() {
		writeJSON(w, http.StatusConflict, map[string]any{"error": "chunk does not start at the current offset", "offset": up.offset()})
		return nil
	}
	httplimit.Upload(w, r, httplimit.UploadIdle)
	ref, err := a.blobs.Put(ctx, r.Body, size)
	if err != nil {
		return fmt.Errorf("store chunk: %w", err)
	}
	// The chunk is the account's until the upload is assembled (and after: content-addressed, it
	// may be shared), so that the sweep of unreferenced blobs never takes a paused upload's chunks.
	if err := a.st.AddBlobRefs(ctx, acct.ID, []string{ref.Hash}, a.eng.Now()); err != nil {
		return fmt.Errorf("record chunk: %w", err)
	}
	if ref.Size != size {
		return invalid("chunk has %d bytes, Content-Range announced %d", ref.Size, size)
	}
	up.Chunks = append(up.Chunks, chunkState{Offset: start, Size: size, Hash: ref.Hash})
	if up.offset() < total {
		if _, err := facade.PutDoc(ctx, a.st, rec, up, a.eng.Now()); err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, map[string]any{"path": p, "offset": up.offset(), "size": total, "complete": false})
		return nil
	}
	final, err := a.assemble(ctx, acct.ID, up)
	if err != nil {
		return err
	}
	if err := a.putFile(ctx, acct.ID, p, final); err != nil {
		return err
	}
	if rec.ID != 0 {
		if err := a.st.DeleteRecord(ctx, rec.ID); err != nil {
			a.log.Warn("drop finished upload", "path", p, "err", err)
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"path": p, "offset": final.Size, "size": final.Size, "complete": true, "hash": final.Hash})
	return nil
}

// assemble concatenates the chunks into one blob, recorded as the account's. Chunk blobs are left in
// place: being content-addressed they may be shared with other content.
func (a *API) assemble(ctx context.Context, accountID int64, up uploadState) (fileRef, error) {
	pr, pw := io.Pipe()
	go func() {
		for _, c := range up.Chunks {
			rc, _, err := a.blobs.Open(ctx, c.Hash)
			if err != nil {
				pw.CloseWithError(err)
				return
			}
			_, err = io.Copy(pw, rc)
			rc.Close()
			if err != nil {
				pw.CloseWithError(err)
				return
			}
		}
		pw.Close()
	}()
	ref, err := a.blobs.Put(ctx, pr, up.Total)
	pr.Close()
	if err != nil {
		return fileRef{}, fmt.Errorf("assemble upload: %w", err)
	}
	if err := a.st.AddBlobRefs(ctx, accountID, []string{ref.Hash}, a.eng.Now()); err != nil {
		return fileRef{}, fmt.Errorf("record assembled upload: %w", err)
	}
	return fileRef(ref), nil
}

func (a *API) dropUpload(ctx context.Context, accountID int64, p string) {
	if rec, err := a.st.GetRecordByKey(ctx, accountID, recUpload, p); err == nil {
		if err := a.st.DeleteRecord(ctx, rec.ID); err != nil {
			a.log.Warn("drop replaced upload", "path", p, "err", err)
		}
	}
}

func (a *API) handleStatus(w http.ResponseWriter, r *http.Request, acct store.Account) error {
	ctx := r.Context()
	p, err := cleanPath(r.URL.Query().Get("path"))
	if err != nil {
		return err
	}
	out := map[string]any{"path": p, "offset": int64(0), "size": int64(0), "complete": false}
	if rec, err := a.st.GetRecordByKey(ctx, acct.ID, recUpload, p); err == nil {
		var up uploadState
		if err := json.Unmarshal(rec.Data, &up); err != nil {
			return fmt.Errorf("decode upload %s: %w", p, err)
		}
		out["offset"], out["size"] = up.offset(), up.Total
	} else if !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("load upload %s: %w", p, err)
	} else if f, err := a.getFile(ctx, acct.ID, p); err != nil {
		return err
	} else if f != nil {
		out["offset"], out["size"], out["complete"], out["hash"] = f.Size, f.Size, true, f.Hash
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (a *API) handleDownload(w http.ResponseWriter, r *http.Request, acct store.Account) error {
	ctx := r.Context()
	p, err := cleanPath(r.URL.Query().Get("path"))
	if err != nil {
		return err
	}
	s, err := settingsOf(acct)
	if err != nil {
		return err
	}
	if s.DownloadDisable == 1 {
		return apiErr(CodeNoPermission, "downloads are disabled for this account")
	}
	f, err := a.getFile(ctx, acct.ID, p)
	if err != nil {
		return err
	}
	if f == nil {
		return notFound("file", p)
	}
	rc, _, err := a.blobs.Open(ctx, f.Hash)
	if err != nil {
		return fmt.Errorf("open %s: %w", p, err)
	}
	defer rc.Close()
	w.Header().Set("ETag", `"`+f.Hash+`"`)
	http.ServeContent(w, r, path.Base(p), time.Time{}, rc)
	return nil
}

func (a *API) handleList(w http.ResponseWriter, r *http.Request, acct store.Account) error {
	prefix := r.URL.Query().Get("prefix")
	if prefix != "" {
		var err error
		if prefix, err = cleanPath(prefix); err != nil {
			return err
		}
	}
	recs, _, err := facade.ListDocsPage[fileRef](r.Context(), a.st, store.RecordFilter{AccountIDs: []int64{acct.ID}, Kind: recFile, ParentID: -1, KeyPrefix: prefix, Limit: 10000})
	if err != nil {
		return err
	}
	files := make([]map[string]any, 0, len(recs))
	for _, rec := range recs {
		files = append(files, map[string]any{"path": rec.Key, "size": rec.Doc.Size, "hash": rec.Doc.Hash})
	}
	writeJSON(w, http.StatusOK, map[string]any{"files": files})
	return nil
}

// transferInfo is what the transfer endpoints tell a client.
func (a *API) transferInfo(ctx context.Context, acct store.Account) (map[string]any, error) {
	key, err := a.transferKey(ctx, acct.ID)
	if err != nil {
		return nil, err
	}
	return map[string]any{"url": a.cfg.PublicURL + transferPrefix, "userKey": key}, nil
}

func (a *API) getTransferBid(ctx context.Context, c *call) (any, error) {
	info, err := a.transferInfo(ctx, c.account)
	if err != nil {
		return nil, err
	}
	// The bids name the three transfer areas; with taskcenter's own transfer they are path prefixes
	// under one URL, kept as the document's numbers so that clients that store them keep working.
	return map[string]any{"config_bid": "30201", "output_bid": "20201", "input_bid": "10201",
		"transferUrl": info["url"], "userKey": info["userKey"]}, nil
}

func (a *API) getTransferServerMsg(ctx context.Context, c *call) (any, error) {
	if _, err := c.p.int("zone", false, 1); err != nil {
		return nil, err
	}
	host, port := a.publicHostPort()
	return map[string]any{"clientVersion": "1.0.0", "protocolVersion": "taskcenter-http-1",
		"raysyncTransfer": map[string]any{"serverIp": host, "serverPort": port, "proxyIp": host, "proxyPort": port,
			"sslPort": port, "port": port},
		"transferUrl": a.cfg.PublicURL + transferPrefix}, nil
}

func (a *API) getTransferConfig(ctx context.Context, c *call) (any, error) {
	info, err := a.transferInfo(ctx, c.account)
	if err != nil {
		return nil, err
	}
	host, port := a.publicHostPort()
	return map[string]any{"transferUrl": info["url"], "userKey": info["userKey"], "protocol": "http",
		"serverIp": host, "serverPort": port, "resumable": true, "chunkHeader": "Content-Range",
		"inputPrefix": "/", "outputPrefix": "/output/"}, nil
}

func (a *API) publicHostPort() (string, int) {
	u := a.cfg.PublicURL
	scheme, rest, _ := strings.Cut(u, "://")
	hostport, _, _ := strings.Cut(rest, "/")
	host, portText, ok := strings.Cut(hostport, ":")
	port := 80
	if scheme == "https" {
		port = 443
	}
	if ok {
		if p, err := strconv.Atoi(portText); err == nil {
			port = p
		}
	}
	return host, port
}

func (a *API) getRaySyncUserKey(ctx context.Context, c *call) (any, error) {
	key, err := a.transferKey(ctx, c.account.ID)
	if err != nil {
		return nil, err
	}
	s, err := settingsOf(c.account)
	if err != nil {
		return nil, err
	}
	r, err := a.rulesOf(ctx, c)
	if err != nil {
		return nil, err
	}
	accountType := 1
	if r.isSub {
		accountType = 2
	}
	return map[string]any{"channel": 4, "platform": s.Platform, "signature": "", "version": "1.0.0",
		"userKey": key, "id": c.account.ID, "userName": c.account.Name, "zone": s.Zone, "phone": s.Phone,
		"email": s.Email, "loginTime": a.eng.Now().UnixMilli(), "infoStatus": s.InfoStatus,
		"accountType": accountType, "shareMainCapital": r.mainSettings.ShareMainCapital,
		"subDeleteTask": r.mainSettings.SubDeleteTask, "subDeleteCapital": 0,
		"useMainBalance": r.mainSettings.UseMainBalance, "downloadDisable": s.DownloadDisable,
		"raySyncUserKey": key, "transferUrl": a.cfg.PublicURL + transferPrefix}, nil
}
