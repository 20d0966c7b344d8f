package executor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"taskcenter/internal/agent"
	"taskcenter/internal/agentapi"
	"taskcenter/internal/unitspec"
)

// Recorder runs recorder units (unitspec.Recording): a capture composes a recording's sources live
// and uploads it segment by segment until its spec says stopped; a finalize joins the segments and
// cuts them into the slices the client downloads.
//
// The pipeline of a capture:
//
//	source ─ ffmpeg (pull, read timeout, scale/crop to its cell, fps) ─ raw frames ┐
//	source ─ ffmpeg ... ─ raw frames + s16le audio ───────────────────────────────┤
//	                                                                               ▼
//	          Go compositor, driven by the wall clock: canvas, cells, placeholders,
//	          subtitles, audio summed without attenuation
//	                                                                               ▼
//	          ffmpeg encoder per segment (H.264 + AAC mp4, or mp3) ─ upload as segment.N
type Recorder struct {
	// FFmpeg and FFprobe are the programs; default "ffmpeg" and "ffprobe" on PATH.
	FFmpeg, FFprobe string
	// FontPath is the subtitles' font (a .ttc or .otf with CJK glyphs); default DefaultFontPath.
	FontPath string
	// FileRoot, when set, admits file sources under that directory; without it file sources are
	// refused, since source URLs come from apps.
	FileRoot string
	// ReadTimeout bounds one read of a network source (ffmpeg's rw_timeout); default 5s.
	ReadTimeout time.Duration
	// StaleTimeout restarts a source's process that delivered nothing for that long; default 8s.
	StaleTimeout time.Duration
	// ReconnectMin and ReconnectMax bound the delay before a failed source is pulled again;
	// defaults 250ms and 2s.
	ReconnectMin, ReconnectMax time.Duration

	// Preset and CRF are x264's settings for captures; defaults DefaultPreset and DefaultCRF.
	Preset string
	CRF    int

	fontOnce sync.Once
	fonts    *fontCache
	// CPU time (ns, user+system) of the ffmpeg processes that ended, by role.
	cpuSources, cpuEncoders, cpuOther atomic.Int64
}

// CPUTimes are the user+system CPU times of the ffmpeg processes a recorder ran that have ended:
// the honest measure of its cost on a shared machine.
type CPUTimes struct {
	Sources, Encoders, Other time.Duration
}

// Total is the sum of the roles.
func (c CPUTimes) Total() time.Duration { return c.Sources + c.Encoders + c.Other }

// CPUTime reports the CPU time of the recorder's ended processes.
func (r *Recorder) CPUTime() CPUTimes {
	return CPUTimes{
		Sources:  time.Duration(r.cpuSources.Load()),
		Encoders: time.Duration(r.cpuEncoders.Load()),
		Other:    time.Duration(r.cpuOther.Load()),
	}
}

// account adds an ended process's CPU time to a role's counter.
func account(to *atomic.Int64, cmd *exec.Cmd) {
	if st := cmd.ProcessState; st != nil {
		to.Add(int64(st.UserTime() + st.SystemTime()))
	}
}

func (r *Recorder) ffmpeg() string  { return cmp(r.FFmpeg, "ffmpeg") }
func (r *Recorder) ffprobe() string { return cmp(r.FFprobe, "ffprobe") }

func cmp[T comparable](v, fallback T) T {
	var zero T
	if v == zero {
		return fallback
	}
	return v
}

func (r *Recorder) readTimeout() time.Duration  { return cmp(r.ReadTimeout, 5*time.Second) }
func (r *Recorder) staleTimeout() time.Duration { return cmp(r.StaleTimeout, 8*time.Second) }
func (r *Recorder) reconnectMin() time.Duration { return cmp(r.ReconnectMin, 250*time.Millisecond) }
func (r *Recorder) reconnectMax() time.Duration { return cmp(r.ReconnectMax, 2*time.Second) }
func (r *Recorder) fpsOf(s *unitspec.Recording) int {
	return max(1, s.Canvas.FrameRate)
}

func (r *Recorder) fontCache() *fontCache {
	r.fontOnce.Do(func() { r.fonts = &fontCache{path: cmp(r.FontPath, DefaultFontPath)} })
	return r.fonts
}

// Run runs a capture or finalize unit.
func (r *Recorder) Run(ctx context.Context, u agentapi.Unit, env agent.Env) (agent.Result, error) {
	var spec unitspec.Recording
	if err := decodeSpec(u.Spec, &spec); err != nil {
		return agent.Result{}, err
	}
	switch spec.Mode {
	case unitspec.ModeCapture:
		reader, ok := env.(agent.SpecReader)
		if !ok {
			return agent.Result{}, agent.Permanent(errors.New("this agent cannot read a unit's live spec"))
		}
		return r.capture(ctx, env, spec, reader)
	case unitspec.ModeFinalize:
		return r.finalize(ctx, env, spec)
	}
	return agent.Result{}, agent.Permanent(fmt.Errorf("recorder mode %q is not capture or finalize", spec.Mode))
}

// checkCapture validates a capture spec and fills its defaults. Odd sizes and positions are rounded
// down to even numbers: yuv420p (what H.264 players expect) has one chroma sample per 2x2 pixels.
func checkCapture(s *unitspec.Recording) error {
	c := &s.Canvas
	if s.FileType != unitspec.FileMP4 && s.FileType != unitspec.FileMP3 {
		return fmt.Errorf("file_type %d is not 0 (mp4) or 1 (mp3)", s.FileType)
	}
	if c.Width < 1 || c.Width > 1920 || c.Height < 1 || c.Height > 1080 {
		return fmt.Errorf("canvas %dx%d is outside 1x1..1920x1080", c.Width, c.Height)
	}
	if c.FrameRate < 1 || c.FrameRate > 30 {
		return fmt.Errorf("frame rate %d is outside 1..30", c.FrameRate)
	}
	c.Width, c.Height = max(2, c.Width&^1), max(2, c.Height&^1)
	if _, err := parseColor(c.Background, black); err != nil {
		return fmt.Errorf("background: %w", err)
	}
	if s.SegmentSeconds <= 0 {
		s.SegmentSeconds = 10
	}
	if s.SegmentSeconds > 3600 {
		return fmt.Errorf("segment_seconds %d is over 3600", s.SegmentSeconds)
	}
	if s.StallMillis <= 0 {
		s.StallMillis = 1000
	}
	ids := map[string]bool{}
	for i, src := range s.Sources {
		if src.ID == "" || ids[src.ID] {
			return fmt.Errorf("sources[%d]: id %q is empty or repeated", i, src.ID)
		}
		if src.URL == "" || strings.ContainsRune(src.URL, 0) {
			return fmt.Errorf("sources[%d]: url is empty or has a NUL byte", i)
		}
		ids[src.ID] = true
	}
	for i := range s.Cells {
		cell := &s.Cells[i]
		if !ids[cell.Source] {
			return fmt.Errorf("cells[%d]: no source %q", i, cell.Source)
		}
		if cell.CropMode == 0 {
			cell.CropMode = unitspec.CropStretch
		}
		if cell.CropMode < unitspec.CropStretch || cell.CropMode > unitspec.CropFit {
			return fmt.Errorf("cells[%d]: crop_mode %d is not 1, 2 or 3", i, cell.CropMode)
		}
		if cell.W < 1 || cell.H < 1 || cell.W > 1920 || cell.H > 1080 || cell.X < 0 || cell.Y < 0 || cell.X > 1920 || cell.Y > 1080 {
			return fmt.Errorf("cells[%d]: box %d,%d %dx%d is out of range", i, cell.X, cell.Y, cell.W, cell.H)
		}
		cell.X, cell.Y = cell.X&^1, cell.Y&^1
		cell.W, cell.H = max(2, cell.W&^1), max(2, cell.H&^1)
	}
	for i, a := range s.Audio {
		if !ids[a] {
			return fmt.Errorf("audio[%d]: no source %q", i, a)
		}
	}
	for i, sub := range s.Subtitles {
		if sub.Type != unitspec.SubtitleText && sub.Type != unitspec.SubtitleTime {
			return fmt.Errorf("subtitles[%d]: type %d is not 1 (text) or 2 (time)", i, sub.Type)
		}
		if sub.Size < 1 || sub.Size > 200 {
			return fmt.Errorf("subtitles[%d]: size %d is outside 1..200", i, sub.Size)
		}
		if sub.Transparency < 0 || sub.Transparency > 100 {
			return fmt.Errorf("subtitles[%d]: transparency %d is outside 0..100", i, sub.Transparency)
		}
		if _, err := parseColor(sub.Color, yuv{235, 128, 128}); err != nil {
			return fmt.Errorf("subtitles[%d]: %w", i, err)
		}
	}
	if _, err := time.LoadLocation(s.TimeZone); err != nil {
		return fmt.Errorf("time_zone: %w", err)
	}
	return nil
}

// capture is the state of one running capture unit.
type capture struct {
	r   *Recorder
	env agent.Env
	ctx context.Context // the unit's
	// work carries the encoders and uploads: they outlive ctx by up to flushTimeout, so that the
	// segment in progress is stored when the unit is stopped from outside (see abort).
	work     context.Context
	stopWork context.CancelFunc
	spec     unitspec.Recording // the spec applied
	fps      int
	frameN   int64 // frames of the clock since the start, recorded or not

	base    *frameBuf // background and placeholders: what a frame is before the sources
	cells   []unitspec.Cell
	showing map[int]bool // cell index -> last frame showed its source (for the event log)
	subs    []*subtitleLayer
	ingests map[string]*ingest
	retired []*ingest // stopped, their processes exiting; counted in the flow
	// handover holds a source's previous ingest while its new one (a new cell size) starts.
	handover map[string]*ingest
	wants    map[string]sourceWant
	pool     *framePool
	mix      []int32
	scratch  []int32

	enc       *segmentEncoder
	nextIndex int
	recorded  int64 // frames recorded by this holder
	inherited int64 // milliseconds recorded by earlier holders
	uploads   chan *segmentEncoder
	uploaded  chan struct{}

	mu       sync.Mutex
	segments []unitspec.Segment

	// health is the share of sources delivering last reported as the unit's progress (-1: none
	// reported yet); the server's idle timeout reads it.
	health int
}

func (c *capture) logf(format string, args ...any) {
	c.env.Progress(-1, "recorder: "+fmt.Sprintf(format, args...)+"\n")
}

// mediaSeconds is the position of the next frame in the recording (earlier holders included).
func (c *capture) mediaSeconds() float64 {
	return float64(c.inherited)/1000 + float64(c.recorded)/float64(c.fps)
}

func (r *Recorder) capture(ctx context.Context, env agent.Env, spec unitspec.Recording, reader agent.SpecReader) (agent.Result, error) {
	// The lease's spec may be older than the recording's: read the current one, and the segments a
	// previous holder stored.
	var outputs map[string]agentapi.Output
	if resp, err := reader.UnitSpec(ctx); err == nil {
		outputs = resp.Outputs
		var cur unitspec.Recording
		if len(resp.Spec) > 0 && json.Unmarshal(resp.Spec, &cur) == nil && cur.Version >= spec.Version {
			spec = cur
		}
	} else if ctx.Err() != nil {
		return agent.Result{}, context.Cause(ctx)
	} else {
		env.Progress(-1, fmt.Sprintf("recorder: reading the current spec failed, starting from the lease's: %v\n", err))
	}
	if err := checkCapture(&spec); err != nil {
		return agent.Result{}, agent.Permanent(fmt.Errorf("capture spec: %w", err))
	}
	c := &capture{
		r: r, env: env, ctx: ctx, fps: spec.Canvas.FrameRate,
		ingests: map[string]*ingest{}, handover: map[string]*ingest{}, wants: map[string]sourceWant{}, showing: map[int]bool{}, health: -1,
		uploads: make(chan *segmentEncoder, 64), uploaded: make(chan struct{}),
	}
	c.work, c.stopWork = context.WithCancel(context.WithoutCancel(ctx))
	defer c.stopWork()
	c.pool = newFramePool(spec.Canvas.Width*spec.Canvas.Height*3/2, videoQueue(&spec)+2)
	c.inherit(ctx, outputs)
	go c.uploader()
	c.spec = spec
	c.apply(spec, true)
	if spec.Stopped {
		return c.stop()
	}

	specs := make(chan unitspec.Recording, 1)
	go c.pollSpecs(ctx, reader, spec.Version, specs)

	t0 := time.Now()
	due := func(n int64) time.Time { return t0.Add(time.Duration(n * int64(time.Second) / int64(c.fps))) }
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			c.abort()
			return agent.Result{}, context.Cause(ctx)
		case s := <-specs:
			c.apply(s, false)
			if c.spec.Stopped {
				return c.stop()
			}
			continue
		case <-timer.C:
		}
		now := time.Now()
		// A late tick is caught up (the frames it missed repeat the sources' latest pictures), so a
		// file lasts as long as the time it records. Far behind, the machine is overloaded: the lost
		// time is skipped rather than encoded in a burst that would put it further behind.
		if lag := now.Sub(due(c.frameN)); lag > maxCatchUp {
			skip := int64(lag.Seconds() * float64(c.fps))
			c.logf("the clock fell %s behind, %d frames not recorded", lag.Round(time.Millisecond), skip)
			c.frameN += skip
		}
		for !due(c.frameN).After(now) {
			if err := c.tick(due(c.frameN)); err != nil {
				c.abort()
				return agent.Result{}, err
			}
			c.frameN++
		}
		c.reportHealth(now)
		timer.Reset(time.Until(due(c.frameN)))
	}
}

// reportHealth reports, as the unit's progress, the percentage of the spec's sources that delivered
// within StallMillis (0 when there are none), whenever it changes. The server stops a recording whose
// capture reports 0 for its timeout (unitspec.Recording documents the meaning).
func (c *capture) reportHealth(now time.Time) {
	fresh := now.Add(-time.Duration(c.spec.StallMillis) * time.Millisecond)
	delivering := 0
	for id, g := range c.ingests {
		if g.deliveredSince(fresh) || c.handover[id] != nil && c.handover[id].deliveredSince(fresh) {
			delivering++
		}
	}
	pct := 0
	if len(c.ingests) > 0 {
		pct = delivering * 100 / len(c.ingests)
		if delivering > 0 {
			pct = max(pct, 1) // any delivery is not 0
		}
	}
	if pct != c.health {
		if (pct == 0) != (c.health <= 0) || c.health < 0 {
			c.logf("%d of %d sources delivering", delivering, len(c.ingests))
		}
		c.health = pct
		c.env.Progress(float64(pct), "")
	}
}

// maxCatchUp is how late the compositor may fall before it skips time instead of catching up.
const maxCatchUp = 5 * time.Second

// pollSpecs reads the unit's spec every SpecPollMillis and hands on a newer version; when specs is
// not taken yet, the newer one replaces it.
func (c *capture) pollSpecs(ctx context.Context, reader agent.SpecReader, version int64, specs chan unitspec.Recording) {
	t := time.NewTicker(unitspec.SpecPollMillis * time.Millisecond)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		resp, err := reader.UnitSpec(ctx)
		if err != nil {
			if !failing && ctx.Err() == nil {
				c.logf("reading the spec failed, recording on with the current one: %v", err)
			}
			failing = true
			continue
		}
		failing = false
		var s unitspec.Recording
		if err := json.Unmarshal(resp.Spec, &s); err != nil || s.Version <= version {
			continue
		}
		version = s.Version
		select {
		case <-specs:
		default:
		}
		specs <- s
	}
}

// apply makes s the running spec: sources, layout and subtitles change from the next frame on. A
// spec that does not validate is refused and the recording goes on with the one it has.
func (c *capture) apply(s unitspec.Recording, first bool) {
	// The canvas, frame rate and file type are fixed for a capture: every segment must join with
	// the others.
	s.Canvas, s.FileType = c.spec.Canvas, c.spec.FileType
	if err := checkCapture(&s); err != nil {
		// Pause, resume and stop are still obeyed: a bad layout must not keep a recording going.
		c.logf("spec version %d refused, keeping the layout of version %d: %v", s.Version, c.spec.Version, err)
		keep := c.spec
		keep.Version, keep.Paused, keep.Stopped = s.Version, s.Paused, s.Stopped
		s = keep
	}
	wasPaused := c.spec.Paused
	c.spec = s
	if !first {
		c.logf("spec version %d applied at %.3fs", s.Version, c.mediaSeconds())
	}
	if s.Paused && !wasPaused && !first {
		c.logf("paused at %.3fs", c.mediaSeconds())
		c.rotate() // a paused span is no part of the files; what came before is stored now
	}
	if !s.Paused && wasPaused && !first {
		c.logf("resumed at %.3fs", c.mediaSeconds())
	}

	bg, _ := parseColor(s.Canvas.Background, black)
	c.base = newFrame(s.Canvas.Width, s.Canvas.Height)
	c.base.fillRect(image.Rect(0, 0, s.Canvas.Width, s.Canvas.Height), bg)
	c.cells = nil
	if s.FileType == unitspec.FileMP4 {
		c.cells = s.Cells
		for _, cell := range c.cells {
			c.base.fillRect(image.Rect(cell.X, cell.Y, cell.X+cell.W, cell.Y+cell.H), placeholderColor)
		}
	}
	c.showing = map[int]bool{}

	c.subs = nil
	if s.FileType == unitspec.FileMP4 {
		loc, _ := time.LoadLocation(s.TimeZone)
		for _, sub := range s.Subtitles {
			if sub.Transparency == 0 {
				continue // invisible
			}
			face, err := c.r.fontCache().face(sub.Size)
			if err != nil {
				c.logf("subtitle not drawn: %v", err)
				continue
			}
			col, _ := parseColor(sub.Color, yuv{235, 128, 128})
			c.subs = append(c.subs, &subtitleLayer{spec: sub, color: col, face: face, loc: loc, opacity: float64(sub.Transparency) / 100})
		}
	}

	// Sources: one ingest per source, at the geometry of the first cell showing it.
	wants := map[string]sourceWant{}
	urls := map[string]string{}
	for _, src := range s.Sources {
		urls[src.ID] = src.URL
	}
	for _, cell := range c.cells {
		if _, ok := wants[cell.Source]; ok {
			continue
		}
		wants[cell.Source] = sourceWant{URL: urls[cell.Source], W: cell.W, H: cell.H, CropMode: cell.CropMode, Pad: bg}
	}
	for _, id := range s.Audio {
		w := wants[id]
		w.URL, w.Audio = urls[id], true
		wants[id] = w
	}
	for id, g := range c.ingests {
		w, ok := wants[id]
		if ok && w == c.wants[id] {
			continue
		}
		delete(c.ingests, id)
		if ok && w.URL == g.want.URL && g.want.W > 0 && w.W > 0 {
			// Same source at a new size: make before break. The old process stays on, its frames
			// scaled into the new box, until the new one delivers.
			c.retire(c.handover[id])
			c.handover[id] = g
			continue
		}
		c.retire(g)
	}
	for id, w := range wants {
		if c.ingests[id] == nil {
			g := newIngest(id, w, c.fps, c.r, c.env, c.logf)
			g.start(c.ctx)
			c.ingests[id] = g
		}
	}
	c.wants = wants
}

// tick records the frame due at t: it mixes the audio, composes the picture and feeds the encoder.
func (c *capture) tick(t time.Time) error {
	n, fps := c.frameN, int64(c.fps)
	samples := int((n+1)*audioRate/fps-n*audioRate/fps) * audioChannels
	if cap(c.mix) < samples {
		c.mix = make([]int32, samples)
	}
	mix := c.mix[:samples]
	clear(mix)
	for _, id := range c.spec.Audio {
		g := c.ingests[id]
		if old := c.handover[id]; old != nil && old.want.Audio {
			// The old ingest is heard until the new one takes over; the new one's audio is
			// dropped meanwhile so that it starts in time.
			if g != nil {
				c.scratch = append(c.scratch[:0], mix...)
				g.takeAudio(c.scratch)
			}
			g = old
		}
		if g != nil {
			g.takeAudio(mix) // summed: no input is attenuated by the number of inputs
		}
	}
	if c.spec.Paused {
		return nil
	}
	if c.enc == nil {
		path := filepath.Join(c.env.Dir(), fmt.Sprintf("segment-%06d.%s", c.nextIndex, c.ext()))
		enc, err := c.r.startEncoder(c.work, c.env, &c.spec, c.nextIndex, path, t, c.pool)
		if err != nil {
			return err
		}
		c.enc = enc
		c.nextIndex++
	}
	if c.enc.video != nil {
		select {
		case c.enc.video <- c.compose(t):
		case <-c.ctx.Done():
			return context.Cause(c.ctx)
		}
	}
	pcm := make([]byte, 2*samples) // owned by the writer once sent
	for i, s := range mix {
		v := uint16(int16(max(-32768, min(32767, s))))
		pcm[2*i], pcm[2*i+1] = byte(v), byte(v>>8)
	}
	select {
	case c.enc.sound <- pcm:
	case <-c.ctx.Done():
		return context.Cause(c.ctx)
	}
	c.enc.frames++
	c.recorded++
	if c.enc.frames >= int64(c.spec.SegmentSeconds)*fps {
		c.rotate()
	}
	return nil
}

// compose draws the frame recorded at t.
func (c *capture) compose(t time.Time) []byte {
	buf := c.pool.get()
	copy(buf, c.base.pix)
	f := &frameBuf{w: c.base.w, h: c.base.h, pix: buf}
	fresh := time.Now().Add(-time.Duration(c.spec.StallMillis) * time.Millisecond)
	for i, cell := range c.cells {
		draw := func(pic []byte, w, h int) {
			if w == cell.W && h == cell.H {
				f.blit(pic, w, h, cell.X, cell.Y)
			} else {
				// A second cell of the same source, or the old size during a handover.
				f.blitScaled(pic, w, h, cell.X, cell.Y, cell.W, cell.H)
			}
		}
		shows := false
		if g := c.ingests[cell.Source]; g != nil {
			shows = g.drawLatest(fresh, draw)
		}
		if old := c.handover[cell.Source]; old != nil {
			if shows {
				c.retire(old) // the new size is live
				delete(c.handover, cell.Source)
			} else {
				shows = old.drawLatest(fresh, draw)
			}
		}
		if shown, seen := c.showing[i]; shows != shown || !seen {
			c.showing[i] = shows
			if shows {
				c.logf("cell %d shows source %s from %.3fs", i, cell.Source, c.mediaSeconds())
			} else if seen {
				c.logf("cell %d shows a placeholder for source %s from %.3fs", i, cell.Source, c.mediaSeconds())
			}
		}
	}
	for _, s := range c.subs {
		s.draw(f, t)
	}
	return buf
}

func (c *capture) ext() string {
	if c.spec.FileType == unitspec.FileMP3 {
		return "mp3"
	}
	return "mp4"
}

// rotate ends the current segment: the uploader finishes and uploads it while recording goes on.
func (c *capture) rotate() {
	if c.enc == nil {
		return
	}
	c.uploads <- c.enc
	c.enc = nil
}

// uploader finishes the segments in order and uploads each as it completes.
func (c *capture) uploader() {
	defer close(c.uploaded)
	for e := range c.uploads {
		err := e.finish()
		if err == nil {
			var out agentapi.OutputResponse
			if out, err = c.env.Upload(c.work, unitspec.SegmentOutput(e.index), e.path); err == nil {
				seg := unitspec.Segment{Hash: out.Hash, Index: e.index, Start: e.start.UnixMilli(), Millis: e.frames * 1000 / int64(c.fps)}
				c.mu.Lock()
				c.segments = append(c.segments, seg)
				c.mu.Unlock()
				c.logf("segment %d uploaded: %d ms, %d bytes", e.index, seg.Millis, out.Size)
			}
		}
		if err != nil && c.ctx.Err() == nil {
			c.logf("segment %d lost: %v", e.index, err)
		}
		_ = removeFile(e.path)
	}
}

// flushTimeout bounds how long a capture whose unit context ended spends storing the segment it
// was writing.
const flushTimeout = 15 * time.Second

// abort ends a capture whose unit context ended (the agent shuts down, the lease was lost, the
// server cancelled the unit) or that failed. The segment in progress is still finished and offered
// to the server, within flushTimeout: after a graceful shutdown it is kept, and the next holder
// goes on after it; for a lease that is gone the server refuses it (409) at once.
func (c *capture) abort() {
	c.rotate()
	close(c.uploads)
	for _, g := range c.all() {
		g.cancel()
	}
	select {
	case <-c.uploaded:
	case <-time.After(flushTimeout):
		c.stopWork()
		<-c.uploaded
	}
	for _, g := range c.all() {
		<-g.done
	}
}

// retire stops an ingest without waiting for its process to exit: the composition must not wait.
func (c *capture) retire(g *ingest) {
	if g != nil {
		g.cancel()
		c.retired = append(c.retired, g)
	}
}

// all lists the running and the retired ingests.
func (c *capture) all() []*ingest {
	all := append([]*ingest{}, c.retired...)
	for _, g := range c.ingests {
		all = append(all, g)
	}
	for _, g := range c.handover {
		all = append(all, g)
	}
	return all
}

// stop finishes the recording: the last segment is uploaded, the sources are let go, and the
// result lists every segment.
func (c *capture) stop() (agent.Result, error) {
	c.logf("stopped at %.3fs", c.mediaSeconds())
	c.rotate()
	close(c.uploads)
	var flow int64
	for _, g := range c.all() {
		g.cancel()
	}
	for _, g := range c.all() {
		<-g.done
		flow += g.flowBytes()
	}
	<-c.uploaded
	if err := c.ctx.Err(); err != nil {
		return agent.Result{}, context.Cause(c.ctx)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	sort.Slice(c.segments, func(i, j int) bool { return c.segments[i].Index < c.segments[j].Index })
	res := unitspec.CaptureResult{Segments: c.segments, FlowKB: flow / 1024}
	if res.Segments == nil {
		res.Segments = []unitspec.Segment{}
	}
	for _, s := range c.segments {
		res.MediaMillis += s.Millis
	}
	return agent.Result{Data: res}, nil
}

// inherit takes over the segments an earlier holder of the unit stored: this holder numbers its
// own after them, and lists them in its result. Their length is read from the files when the
// server lets this holder read them; otherwise it is reported as 0.
func (c *capture) inherit(ctx context.Context, outputs map[string]agentapi.Output) {
	for name, out := range outputs {
		rest, ok := strings.CutPrefix(name, "segment.")
		if !ok {
			continue
		}
		i, err := strconv.Atoi(rest)
		if err != nil || i < 0 {
			continue
		}
		seg := unitspec.Segment{Hash: out.Hash, Index: i}
		pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		if path, err := c.env.Input(pctx, out.Hash); err == nil {
			if info, err := c.r.probe(pctx, path); err == nil {
				seg.Millis = int64(info.Duration * 1000)
				seg.Start = info.Created.UnixMilli()
			}
		}
		cancel()
		c.segments = append(c.segments, seg)
		c.inherited += seg.Millis
		c.nextIndex = max(c.nextIndex, i+1)
	}
	if len(c.segments) > 0 {
		c.logf("taking over after %d stored segments; this recorder's start at segment %d", len(c.segments), c.nextIndex)
	}
}

// Costs, in cores, of the parts of a capture: the encoder and the compositor of a 1280x720 30 fps
// canvas, and one 640x360 30 fps source. They are the measured figures (TestRecorderCPU: 0.18-0.21,
// 0.07-0.09 and 0.03) rounded up, since real cameras are busier than test patterns.
const (
	costEncode720p30  = 0.27
	costCompose720p30 = 0.09
	costVideoSource   = 0.035
	costAudioSource   = 0.01
	costFinalize      = 0.05
)

// RecorderCost is the admission cost of a recorder unit in CPU cores (agent.Config.Cost): a capture
// costs its encoder and compositor, scaled by its canvas's pixel rate, plus each source it pulls; a
// finalize is a stream copy. A spec that does not decode costs the least: it fails at once.
func RecorderCost(u agentapi.Unit) float64 {
	var s unitspec.Recording
	if json.Unmarshal(u.Spec, &s) != nil || s.Mode != unitspec.ModeCapture {
		return costFinalize
	}
	if s.FileType == unitspec.FileMP3 {
		return costFinalize + costAudioSource*float64(len(s.Audio))
	}
	scale := float64(s.Canvas.Width*s.Canvas.Height*max(1, s.Canvas.FrameRate)) / (1280 * 720 * 30)
	video := map[string]bool{}
	for _, c := range s.Cells {
		video[c.Source] = true
	}
	audioOnly := 0
	for _, a := range s.Audio {
		if !video[a] {
			audioOnly++
		}
	}
	return (costEncode720p30+costCompose720p30)*scale + costVideoSource*float64(len(video)) + costAudioSource*float64(audioOnly)
}
