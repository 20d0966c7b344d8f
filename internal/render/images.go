package render

import (
	"bytes"
	"context"
	"crypto/hmac"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"taskcenter/internal/blob"
	"taskcenter/internal/facade"
	"taskcenter/internal/imaging"
	"taskcenter/internal/store"
	"taskcenter/internal/unitspec"
)

// Output names of the agent's blender executor.
const (
	outImage     = unitspec.OutputImage
	outThumbnail = unitspec.OutputThumbnail
	thumbSize    = unitspec.ThumbnailSize
	recFrame     = "render.frame" // a stitched frame: key "<job id>/<frame>"
)

type unitOutput struct {
	Hash string `json:"hash"`
	Size int64  `json:"size"`
}

func outputsOf(u store.Unit) map[string]unitOutput {
	out := map[string]unitOutput{}
	_ = json.Unmarshal(u.Outputs, &out)
	return out
}

// frameOf reads a unit's frame and 1-based block from its name ("12" or "12-3").
func frameOf(u store.Unit) (frame, block int) {
	f, b, tiled := strings.Cut(u.Name, "-")
	frame, _ = strconv.Atoi(f)
	block = 1
	if tiled {
		block, _ = strconv.Atoi(b)
	}
	return frame, block
}

// framesOf reads the frames a unit renders: one frame (and its block) for "12" or "12-3", several for
// a frames_per_task unit "1,2,3".
func framesOf(u store.Unit) (frames []int, block int) {
	if !strings.Contains(u.Name, ",") {
		f, b := frameOf(u)
		return []int{f}, b
	}
	for _, s := range strings.Split(u.Name, ",") {
		if f, err := strconv.Atoi(s); err == nil {
			frames = append(frames, f)
		}
	}
	return frames, 1
}

// hasFrame reports whether the unit renders frame f.
func hasFrame(u store.Unit, f int) bool {
	frames, _ := framesOf(u)
	return slices.Contains(frames, f)
}

// frameOutput returns the unit's output name (outImage or outThumbnail) for frame f: a several-frame
// unit uploads one per frame, "image.12".
func frameOutput(u store.Unit, name string, f int) (unitOutput, bool) {
	if strings.Contains(u.Name, ",") {
		name += "." + strconv.Itoa(f)
	}
	o, ok := outputsOf(u)[name]
	return o, ok
}

type stitched struct {
	Image  string `json:"image"`
	Thumb  string `json:"thumb"`
	Width  int    `json:"width"`
	Height int    `json:"height"`
}

// jobFinished runs when a child job ends: it stitches tiled frames and publishes the outputs under
// /output/<task id>/ in the transfer service.
func (a *API) jobFinished(ctx context.Context, j store.Job) {
	if j.Kind != KindRender || j.Status == store.JobCancelled {
		return
	}
	if err := a.publish(ctx, j); err != nil {
		a.log.Warn("publish render outputs", "job", j.ID, "err", err)
	}
}

func (a *API) publish(ctx context.Context, j store.Job) error {
	units, _, err := a.st.ListUnits(ctx, store.UnitFilter{JobID: j.ID})
	if err != nil {
		return fmt.Errorf("list frames: %w", err)
	}
	cs := childOf(j)
	ext := ".png"
	if cs.Format == "OPEN_EXR" {
		ext = ".exr"
	}
	frames := map[int]bool{}
	for _, u := range units {
		fs, _ := framesOf(u)
		for _, f := range fs {
			frames[f] = true
		}
	}
	for f := range frames {
		img, _, err := a.frameImage(ctx, j, units, f)
		if err != nil {
			a.log.Warn("frame output", "job", j.ID, "frame", f, "err", err)
			continue
		}
		if img == nil {
			continue
		}
		p := fmt.Sprintf("/output/%d/%s/frame_%04d%s", j.ParentID, strings.TrimSuffix(j.Name, path.Ext(j.Name)), f, ext)
		if err := a.putFile(ctx, j.AccountID, p, *img); err != nil {
			return err
		}
	}
	return nil
}

// frameImage returns a frame's full image and thumbnail: the unit's own outputs when untiled, the
// stitched blocks when tiled (stitching now when every block is done and it was not yet stitched).
// nil when the frame is not complete.
func (a *API) frameImage(ctx context.Context, j store.Job, units []store.Unit, frame int) (img, thumb *fileRef, err error) {
	cs := childOf(j)
	var blocks []store.Unit
	for _, u := range units {
		if hasFrame(u, frame) {
			blocks = append(blocks, u)
		}
	}
	if len(blocks) == 0 {
		return nil, nil, nil
	}
	for _, u := range blocks {
		if u.Status != store.UnitDone {
			return nil, nil, nil
		}
	}
	if cs.Tiles <= 1 {
		im, ok := frameOutput(blocks[0], outImage, frame)
		if !ok {
			return nil, nil, nil
		}
		img = &fileRef{Hash: im.Hash, Size: im.Size}
		if th, ok := frameOutput(blocks[0], outThumbnail, frame); ok {
			thumb = &fileRef{Hash: th.Hash, Size: th.Size}
		}
		return img, thumb, nil
	}
	s, err := a.stitch(ctx, j, blocks, frame)
	if err != nil || s == nil {
		return nil, nil, err
	}
	return &fileRef{Hash: s.Image}, &fileRef{Hash: s.Thumb}, nil
}

func (a *API) stitch(ctx context.Context, j store.Job, blocks []store.Unit, frame int) (*stitched, error) {
	a.stitchMu.Lock()
	defer a.stitchMu.Unlock()
	key := fmt.Sprintf("%d/%d", j.ID, frame)
	rec, err := a.st.GetRecordByKey(ctx, j.AccountID, recFrame, key)
	latest := time.Time{}
	for _, u := range blocks {
		if u.FinishedAt != nil && u.FinishedAt.After(latest) {
			latest = *u.FinishedAt
		}
	}
	if err == nil && !rec.UpdatedAt.Before(latest) {
		var s stitched
		if err := json.Unmarshal(rec.Data, &s); err != nil {
			return nil, fmt.Errorf("decode stitched frame: %w", err)
		}
		return &s, nil
	}
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("load stitched frame: %w", err)
	}
	cs := childOf(j)
	if cs.Format == "OPEN_EXR" {
		return nil, nil // the standard library cannot decode EXR: tiled EXR blocks stay separate files
	}
	borders := imaging.BlockBorders(cs.Tiles, imaging.Split(cs.TilesType))
	var parts []imaging.Block
	for _, u := range blocks {
		_, b := frameOf(u)
		if b < 1 || b > len(borders) {
			return nil, fmt.Errorf("frame %d: block %d out of range", frame, b)
		}
		out, ok := outputsOf(u)[outImage]
		if !ok {
			return nil, nil
		}
		im, err := a.decodeBlob(ctx, out.Hash)
		if err != nil {
			return nil, err
		}
		parts = append(parts, imaging.Block{Border: borders[b-1], Image: im})
	}
	full := imaging.Stitch(parts, cs.Width, cs.Height)
	imgRef, err := a.putPNG(ctx, j.AccountID, full)
	if err != nil {
		return nil, err
	}
	thRef, err := a.putPNG(ctx, j.AccountID, imaging.Thumbnail(full, thumbSize))
	if err != nil {
		return nil, err
	}
	s := stitched{Image: imgRef.Hash, Thumb: thRef.Hash, Width: cs.Width, Height: cs.Height}
	rec.AccountID, rec.Kind, rec.Key, rec.ParentID = j.AccountID, recFrame, key, j.ID
	if _, err := facade.PutDoc(ctx, a.st, rec, s, a.eng.Now()); err != nil {
		return nil, err
	}
	return &s, nil
}

func (a *API) decodeBlob(ctx context.Context, hash string) (imageT, error) {
	rc, _, err := a.blobs.Open(ctx, hash)
	if err != nil {
		return nil, fmt.Errorf("open block %s: %w", hash, err)
	}
	defer rc.Close()
	im, err := imaging.DecodePNG(rc)
	if err != nil {
		return nil, fmt.Errorf("block %s: %w", hash, err)
	}
	return im, nil
}

// putPNG stores an image made for the account (a stitched frame, its thumbnail) and records it as
// the account's, so that the sweep of unreferenced blobs keeps it while the account holds it.
func (a *API) putPNG(ctx context.Context, accountID int64, im imageT) (blob.Ref, error) {
	var buf bytes.Buffer
	if err := imaging.EncodePNG(&buf, im); err != nil {
		return blob.Ref{}, err
	}
	ref, err := a.blobs.Put(ctx, &buf, 0)
	if err != nil {
		return blob.Ref{}, fmt.Errorf("store image: %w", err)
	}
	if err := a.st.AddBlobRefs(ctx, accountID, []string{ref.Hash}, a.eng.Now()); err != nil {
		return blob.Ref{}, fmt.Errorf("record image: %w", err)
	}
	return ref, nil
}

// imgURL is the address this facade serves a blob image at, for clients that open it in a browser
// without credentials: a capability for that image only, until it expires. The path keeps the shape
// /api/render/img/<name>.png, the name being "<sha256>-<expires, unix seconds>-<signature>"; the
// signature is a MAC under the server key (every replica checks it). The expiry is rounded up to a
// 24th of the lifetime (at most an hour) so that answers given close together list the same URL and
// a browser's cache keeps working; every answer that lists an image renews it.
func (a *API) imgURL(hash string) string {
	g := min(max(a.cfg.ImageURLTTL/24, time.Second), time.Hour)
	exp := a.now().Add(a.cfg.ImageURLTTL + g - time.Nanosecond).Truncate(g).Unix()
	return a.cfg.PublicURL + "/api/render/img/" + hash + "-" + strconv.FormatInt(exp, 10) + "-" + a.imgSig(hash, exp) + ".png"
}

// imgSig is the signature of an image URL: 128 bits of the MAC over the hash and the expiry.
func (a *API) imgSig(hash string, exp int64) string {
	return hex.EncodeToString(a.keys.MAC("render.img", []byte(hash+"\x00"+strconv.FormatInt(exp, 10)))[:16])
}

// checkImgName reads an image URL's name and returns the hash it grants, and how long it stays valid;
// ok is false for an unsigned, tampered or expired name.
func (a *API) checkImgName(name string) (hash string, left time.Duration, ok bool) {
	base, isPNG := strings.CutSuffix(name, ".png")
	parts := strings.Split(base, "-")
	if !isPNG || len(parts) != 3 || !blob.ValidHash(parts[0]) {
		return "", 0, false
	}
	exp, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil || !hmac.Equal([]byte(parts[2]), []byte(a.imgSig(parts[0], exp))) {
		return "", 0, false
	}
	left = time.Unix(exp, 0).Sub(a.now())
	if left <= 0 {
		return "", 0, false
	}
	return parts[0], left, true
}

// serveImage answers 404 for a URL that is not one imgURL made, or has expired: the same answer as
// for an image that does not exist, so a stranger learns nothing from it.
func (a *API) serveImage(w http.ResponseWriter, r *http.Request) {
	hash, left, ok := a.checkImgName(r.PathValue("file"))
	if !ok {
		http.NotFound(w, r)
		return
	}
	rc, _, err := a.blobs.Open(r.Context(), hash)
	if errors.Is(err, blob.ErrNotFound) {
		http.NotFound(w, r)
		return
	}
	if err != nil {
		a.log.Error("serve render image", "hash", hash, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	defer rc.Close()
	var head [8]byte
	n, _ := io.ReadFull(rc, head[:])
	if n < 8 || !bytes.Equal(head[:], []byte("\x89PNG\r\n\x1a\n")) {
		http.NotFound(w, r) // only images are served here, never scenes
		return
	}
	if _, err := rc.Seek(0, io.SeekStart); err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "image/png")
	// The content never changes; a cached copy may be kept as long as the URL is valid.
	w.Header().Set("Cache-Control", "private, max-age="+strconv.FormatInt(int64(left/time.Second), 10)+", immutable")
	http.ServeContent(w, r, hash+".png", time.Time{}, rc)
}

const timeLayout = "2006-01-02 15:04:05"

func fmtTime(t *time.Time) string {
	if t == nil {
		return ""
	}
	return t.Local().Format(timeLayout)
}

func (a *API) loadTaskProcessImg(ctx context.Context, c *call) (any, error) {
	id, err := c.p.int(c.p.first("taskId", "taskIds"), true, 0)
	if err != nil {
		return nil, err
	}
	kids, err := a.frameJobs(ctx, c, id)
	if err != nil {
		return nil, err
	}
	out := map[string]any{"width": 0, "height": 0, "block": 1, "isRenderPhoton": false,
		"currentTaskType": "Render", "sceneName": "", "startTime": "", "endTime": "", "grabInfo": [][]map[string]any{}}
	if len(kids) == 0 {
		return out, nil
	}
	// The current child: the first one not finished, else the last.
	cur := kids[len(kids)-1]
	for _, k := range kids {
		if !k.Status.Terminal() {
			cur = k
			break
		}
	}
	cs := childOf(cur)
	units, _, err := a.st.ListUnits(ctx, store.UnitFilter{JobID: cur.ID})
	if err != nil {
		return nil, fmt.Errorf("list frames: %w", err)
	}
	fees := frameFees(units, splitOf(cur))
	now := a.eng.Now()
	byFrame := map[int][]store.Unit{}
	var order []int
	for _, u := range units {
		fs, _ := framesOf(u)
		for _, f := range fs {
			if _, ok := byFrame[f]; !ok {
				order = append(order, f)
			}
			byFrame[f] = append(byFrame[f], u)
		}
	}
	slices.Sort(order)
	grab := make([][]map[string]any, 0, len(order))
	for _, f := range order {
		row := make([]map[string]any, 0, len(byFrame[f]))
		for _, u := range byFrame[f] {
			_, b := frameOf(u)
			fee := fees[u.ID]
			url := ""
			if o, ok := frameOutput(u, outImage, f); ok && u.Status == store.UnitDone {
				url = a.imgURL(o.Hash)
			}
			used := unitSeconds(u, now)
			est := int64(0)
			if u.Status == store.UnitRunning && u.Progress > 0 && u.Progress < 100 {
				est = int64(float64(used) * (100 - u.Progress) / u.Progress)
			}
			percent := u.Progress
			if u.Status == store.UnitDone {
				percent = 100
			}
			row = append(row, map[string]any{
				"startTime": fmtTime(u.StartedAt), "endTime": fmtTime(u.FinishedAt),
				"frameStatus": strconv.Itoa(frameStatus(u)), "isMaxPrice": "0",
				"feeAmount": fmt.Sprintf("%.2f", money(fee.balance)), "couponFee": fmt.Sprintf("%.2f", money(fee.coupon)),
				"frameIndex": strconv.Itoa(f), "frameBlock": strconv.Itoa(b),
				"framePercent": strconv.Itoa(int(percent)), "frameUsed": strconv.FormatInt(used, 10),
				"frameEst": strconv.FormatInt(est, 10), "renderInfo": u.Error, "grabUrl": url,
			})
		}
		grab = append(grab, row)
	}
	out["width"], out["height"], out["block"] = cs.Width, cs.Height, max(cs.Tiles, 1)
	out["currentTaskType"] = cs.TaskType
	out["sceneName"] = cur.Name + "-" + cs.Camera
	out["startTime"], out["endTime"] = fmtTime(cur.StartedAt), fmtTime(cur.FinishedAt)
	out["grabInfo"] = grab
	return out, nil
}

func (a *API) loadingFrameThumbnail(ctx context.Context, c *call) (any, error) {
	id, err := c.p.int("id", true, 0)
	if err != nil {
		return nil, err
	}
	if _, err := c.p.int("frameStatus", false, FrameDone); err != nil {
		return nil, err
	}
	u, err := a.st.GetUnit(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, notFound("frame", id)
	}
	if err != nil {
		return nil, fmt.Errorf("load frame %d: %w", id, err)
	}
	j, _, err := a.ownJob(ctx, c, u.JobID)
	if err != nil || j.Kind != KindRender {
		return nil, notFound("frame", id)
	}
	if u.Status != store.UnitDone {
		return []string{}, nil // only finished frames have thumbnails
	}
	frames, _ := framesOf(u)
	if len(frames) > 1 {
		// A frames_per_task unit: the thumbnail of each of its frames.
		out := []string{}
		for _, f := range frames {
			if o, ok := frameOutput(u, outThumbnail, f); ok {
				out = append(out, a.imgURL(o.Hash))
			}
		}
		return out, nil
	}
	f := frames[0]
	units, _, err := a.st.ListUnits(ctx, store.UnitFilter{JobID: j.ID, Search: strconv.Itoa(f)})
	if err != nil {
		return nil, fmt.Errorf("list frames: %w", err)
	}
	_, thumb, err := a.frameImage(ctx, j, units, f)
	if err != nil {
		return nil, err
	}
	if thumb == nil {
		// A tiled frame with blocks still to render: the block's own image stands in.
		if o, ok := outputsOf(u)[outThumbnail]; ok {
			return []string{a.imgURL(o.Hash)}, nil
		}
		return []string{}, nil
	}
	return []string{a.imgURL(thumb.Hash)}, nil
}

// now is the clock image URLs are signed and checked against (Config.Now).
func (a *API) now() time.Time { return a.cfg.Now() }
