package aitasks

import (
	"context"
	"crypto/hmac"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"taskcenter/internal/engine"
	"taskcenter/internal/facade"
	"taskcenter/internal/store"
)

// Result mirroring (Config.MirrorResults with Config.Blobs): providers' result links expire, so a
// task that succeeds gets a mirror job in the transaction of its final status change; a worker
// downloads every http(s) URL its data names under a key ending in "_url" (Suno's audio_url,
// image_url, video_url) into the blob store and rewrites the data to point at taskcenter's copy,
// keeping the provider's link beside it as "<key>_origin". taskcenter's links are capability URLs,
// /aitasks/files/{hash}?sig=..., signed with the server key, so that audio players fetch them without
// credentials, as they fetched the provider's.

const (
	// KindMirror is a mirror job's kind.
	KindMirror       = "aitasks.mirror"
	capabilityMirror = engine.InProcessPrefix + "aitasks.mirror"
	maxMirroredFiles = 20
)

func (a *API) mirrorJob(t store.AITask) engine.JobSpec {
	spec, _ := json.Marshal(notifySpec{TaskID: t.ID})
	return engine.JobSpec{AccountID: t.TenantID, Kind: KindMirror, Name: "mirror " + t.TaskID, MaxAttempts: 3,
		UnitTimeout: engine.Duration(a.cfg.MirrorTimeout + time.Minute),
		Units:       []engine.UnitSpec{{Capability: capabilityMirror, Spec: spec}}}
}

// fileSig signs a blob's hash for its capability URL.
func (a *API) fileSig(hash string) string {
	return hex.EncodeToString(a.keys.MAC("aitasks-file", []byte(hash)))[:32]
}

func (a *API) fileURL(hash string) string {
	return strings.TrimRight(a.cfg.PublicURL, "/") + "/aitasks/files/" + hash + "?sig=" + a.fileSig(hash)
}

// serveFile serves a mirrored result file to whoever holds its signed link.
func (a *API) serveFile(w http.ResponseWriter, r *http.Request) {
	hash := r.PathValue("hash")
	if a.cfg.Blobs == nil || !hmac.Equal([]byte(r.URL.Query().Get("sig")), []byte(a.fileSig(hash))) {
		facade.JSONError(w, http.StatusNotFound, "not found")
		return
	}
	facade.ServeBlob(w, r, a.cfg.Blobs, a.log, hash)
}

func (a *API) mirror(ctx context.Context, u store.Unit) (json.RawMessage, error) {
	var sp notifySpec
	if err := json.Unmarshal(u.Spec, &sp); err != nil {
		return nil, fmt.Errorf("%w: mirror spec: %v", engine.ErrPermanent, err)
	}
	t, err := a.st.GetAITask(ctx, sp.TaskID)
	if err != nil {
		return nil, err
	}
	var data any
	if err := json.Unmarshal(t.Data, &data); err != nil {
		return nil, nil // nothing to mirror in data that is not JSON
	}
	done := map[string]string{} // provider URL -> ours
	changed := false
	var walk func(v any) error
	walk = func(v any) error {
		switch x := v.(type) {
		case []any:
			for _, e := range x {
				if err := walk(e); err != nil {
					return err
				}
			}
		case map[string]any:
			for k, e := range x {
				s, ok := e.(string)
				if !ok {
					if err := walk(e); err != nil {
						return err
					}
					continue
				}
				if !strings.HasSuffix(k, "_url") || !mirrorable(s, a.cfg.PublicURL) {
					continue
				}
				ours, ok := done[s]
				if !ok {
					if len(done) >= maxMirroredFiles {
						continue
					}
					if ours, err = a.fetchInto(ctx, a.files, t.TenantID, s); err != nil {
						return err
					}
					done[s] = ours
				}
				x[k], x[k+"_origin"] = ours, s
				changed = true
			}
		}
		return nil
	}
	if err := walk(data); err != nil {
		return nil, err
	}
	if !changed {
		return nil, nil
	}
	b, err := json.Marshal(data)
	if err != nil {
		return nil, fmt.Errorf("%w: encode mirrored data: %v", engine.ErrPermanent, err)
	}
	if _, err := a.st.UpdateAITask(ctx, t.ID, StatusSuccess, store.AITaskPatch{Data: b}, a.now()); err != nil {
		return nil, err
	}
	return nil, nil
}

func mirrorable(s, ours string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" &&
		(ours == "" || !strings.HasPrefix(s, ours))
}

// fetchInto downloads a provider's file into the blob store, as the tenant's, and returns
// taskcenter's link to it.
func (a *API) fetchInto(ctx context.Context, hc *http.Client, tenant int64, link string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, link, nil)
	if err != nil {
		return "", fmt.Errorf("%w: %v", engine.ErrPermanent, err)
	}
	resp, err := hc.Do(req)
	if errors.Is(err, errForbiddenAddr) {
		return "", fmt.Errorf("%w: download %s: %v", engine.ErrPermanent, link, err)
	}
	if err != nil {
		return "", fmt.Errorf("download %s: %w", link, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("download %s: %s", link, resp.Status)
	}
	ref, err := a.cfg.Blobs.Put(ctx, resp.Body, a.cfg.MirrorMaxBytes)
	if err != nil {
		return "", fmt.Errorf("keep %s: %w", link, err)
	}
	if err := a.st.AddBlobRefs(ctx, tenant, []string{ref.Hash}, a.now()); err != nil { // kept by the blob sweep
		return "", fmt.Errorf("keep %s: %w", link, err)
	}
	return a.fileURL(ref.Hash), nil
}

// mirrorJobFinished removes a done mirror job; a failed one is kept for the admin to see.
func (a *API) mirrorJobFinished(ctx context.Context, j store.Job) {
	if j.Status != store.JobSucceeded {
		a.log.Warn("mirroring a task's results failed for good", "job", j.ID, "name", j.Name)
		return
	}
	if err := a.eng.Purge(context.WithoutCancel(ctx), j.ID); err != nil {
		a.log.Warn("purge mirror job", "job", j.ID, "err", err)
	}
}
