package executor

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"taskcenter/internal/agent"
	"taskcenter/internal/unitspec"
)

// proc is a started process whose end is awaited in the background.
type proc struct {
	cmd  *exec.Cmd
	done chan error // receives the exit once, then is closed
}

// startProc starts cmd (made by command) the way run does — its thread locked until it is reaped,
// its process group tracked — but returns once it started, so that the caller can feed its pipes.
func startProc(cmd *exec.Cmd, env agent.Env) (*proc, error) {
	started := make(chan error, 1)
	p := &proc{cmd: cmd, done: make(chan error, 1)}
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		untrack := env.TrackGroup(cmd.Process.Pid)
		started <- nil
		err := cmd.Wait()
		killGroup(cmd)
		untrack()
		p.done <- err
		close(p.done)
	}()
	if err := <-started; err != nil {
		return nil, err
	}
	return p, nil
}

// Audio of the composition: what every source is decoded to and the encoder reads.
const (
	audioRate     = 48000
	audioChannels = 2
	// audioBacklog bounds what a source's audio may run ahead of the mix: a source whose clock runs
	// fast, or that bursts on connect (HLS), is trimmed to it instead of drifting away from its video.
	audioBacklog = audioRate * audioChannels / 4 // 250 ms of samples
)

// sourceWant is what the composition needs of a source: its video at one cell's geometry and/or
// its audio.
type sourceWant struct {
	URL      string
	W, H     int // 0: no video wanted
	CropMode int
	Pad      yuv // fit mode's padding
	Audio    bool
}

// ingest pulls one source in an ffmpeg process of its own and keeps its latest frame and a short
// buffer of its audio. Each source is normalised in its own process (BigBlueButton's lesson: a
// source changing resolution must not reset a shared filter graph) and supervised like datarhei's
// processes: read timeouts on the input, a stale timeout killing a process that delivers nothing,
// and a reconnect delay before the next attempt. Nothing it does can block the composition: the
// compositor only ever reads what the ingest last stored.
type ingest struct {
	id   string
	want sourceWant
	fps  int
	cfg  *Recorder
	env  agent.Env
	log  func(format string, args ...any)

	cancel context.CancelFunc
	done   chan struct{}

	mu        sync.Mutex
	frame     []byte    // the latest frame, W*H*3/2 bytes of yuv420p
	frameAt   time.Time // when it arrived; zero before the first
	dataAt    time.Time // when video or audio last arrived
	audio     []int16   // interleaved stereo, oldest first
	flow      int64     // bytes demuxed by finished runs
	noVideo   bool      // the source has no video stream: stop asking for it
	noAudio   bool
	delivered bool // the current run delivered something (for the log)
}

func newIngest(id string, want sourceWant, fps int, cfg *Recorder, env agent.Env, log func(string, ...any)) *ingest {
	return &ingest{id: id, want: want, fps: fps, cfg: cfg, env: env, log: log, done: make(chan struct{})}
}

func (g *ingest) start(ctx context.Context) {
	ctx, g.cancel = context.WithCancel(ctx)
	go g.supervise(ctx)
}

// drawLatest calls draw with the latest frame if it arrived after fresh, and reports whether it
// did. draw runs under the ingest's lock (the reader reuses the buffer) and must be quick.
func (g *ingest) drawLatest(fresh time.Time, draw func(pic []byte, w, h int)) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.frame == nil || g.frameAt.Before(fresh) {
		return false
	}
	draw(g.frame, g.want.W, g.want.H)
	return true
}

// deliveredSince reports whether video or audio arrived after t.
func (g *ingest) deliveredSince(t time.Time) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.dataAt.After(t)
}

// takeAudio adds the next n interleaved samples of the source into mix, saturating; missing samples
// are silence.
func (g *ingest) takeAudio(mix []int32) {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := min(len(mix), len(g.audio))
	for i := 0; i < n; i++ {
		mix[i] += int32(g.audio[i])
	}
	g.audio = g.audio[:copy(g.audio, g.audio[n:])]
}

// flowBytes is what the source delivered so far, as ffmpeg counted it on each run's exit.
func (g *ingest) flowBytes() int64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.flow
}

func (g *ingest) supervise(ctx context.Context) {
	defer close(g.done)
	delay := g.cfg.reconnectMin()
	for ctx.Err() == nil {
		began := time.Now()
		err := g.runOnce(ctx)
		if ctx.Err() != nil {
			return
		}
		if time.Since(began) > 10*time.Second {
			delay = g.cfg.reconnectMin() // it ran a while: the next failure is a new one
		}
		g.log("source %s: input ended (%v), reconnecting in %s", g.id, err, delay)
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
		delay = min(2*delay, g.cfg.reconnectMax())
	}
}

// mediaDemuxers are the container formats a source may be read as (ffmpeg's -format_whitelist,
// which HLS passes on to its segments): live streams (flv, rtsp, mpegts, hls) and media files. A
// source URL is a tenant's, so ffmpeg must not pick another of its demuxers by probing what the
// address answers: an image, a playlist of local paths or a text file rendered as video (tty)
// would put what the recorder can reach into a tenant's recording.
const mediaDemuxers = "flv,live_flv,rtsp,mpegts,hls,mov,matroska,mp3,aac,wav,ogg"

// inputArgs are the options before -i: protocol and format whitelists and read timeouts per
// scheme, so that a source that goes silent fails its read instead of hanging the process.
func (g *ingest) inputArgs() ([]string, string, error) {
	args, input, err := g.protocolArgs()
	if err != nil {
		return nil, "", err
	}
	return append([]string{"-format_whitelist", mediaDemuxers}, args...), input, nil
}

// protocolArgs are inputArgs' options of the URL's scheme.
func (g *ingest) protocolArgs() ([]string, string, error) {
	raw := g.want.URL
	u, err := url.Parse(raw)
	if err != nil {
		return nil, "", fmt.Errorf("source url: %w", err)
	}
	timeout := strconv.FormatInt(g.cfg.readTimeout().Microseconds(), 10)
	switch strings.ToLower(u.Scheme) {
	case "rtmp", "rtmps":
		return []string{"-protocol_whitelist", "rtmp,rtmps,tcp,tls", "-rw_timeout", timeout}, raw, nil
	case "rtsp", "rtsps":
		return []string{"-protocol_whitelist", "rtsp,rtsps,rtp,udp,tcp,tls", "-rtsp_transport", "tcp", "-timeout", timeout}, raw, nil
	case "srt":
		return []string{"-protocol_whitelist", "srt,udp", "-rw_timeout", timeout}, raw, nil
	case "http", "https":
		// Read at the media's own pace: a file over HTTP would otherwise be read as fast as the
		// network allows, and HLS delivers a whole segment at once (a burst the compositor would
		// mostly drop); a live HTTP stream arrives at that pace anyway.
		return []string{"-protocol_whitelist", "http,https,tcp,tls,crypto", "-rw_timeout", timeout, "-re"}, raw, nil
	case "", "file":
		path := raw
		if u.Scheme == "file" {
			path = u.Path
		}
		path, err := g.cfg.allowedFile(path)
		if err != nil {
			return nil, "", err
		}
		// A file is a looping medium, read at its own pace.
		return []string{"-protocol_whitelist", "file", "-re", "-stream_loop", "-1"}, "file:" + path, nil
	}
	return nil, "", fmt.Errorf("source url scheme %q is not one of rtmp, rtsp, srt, http(s), file", u.Scheme)
}

// cropFilter scales a source into a w x h cell by the cell's crop mode.
func cropFilter(w, h, mode int, pad yuv) string {
	size := fmt.Sprintf("%d:%d", w, h)
	switch mode {
	case unitspec.CropFill:
		return "scale=" + size + ":force_original_aspect_ratio=increase:force_divisible_by=2,crop=" + size
	case unitspec.CropFit:
		return "scale=" + size + ":force_original_aspect_ratio=decrease:force_divisible_by=2," +
			"pad=" + size + ":(ow-iw)/2:(oh-ih)/2:color=" + pad.hex()
	default:
		return "scale=" + size
	}
}

var (
	missingStream = regexp.MustCompile(`Stream map '0:([va]):0' matches no streams`)
	demuxedBytes  = regexp.MustCompile(`Total: \d+ packets \((\d+) bytes\) demuxed`)
)

// runOnce runs one ffmpeg process until it exits, goes stale or ctx ends.
func (g *ingest) runOnce(ctx context.Context) error {
	in, input, err := g.inputArgs()
	if err != nil {
		return err
	}
	g.mu.Lock()
	video := g.want.W > 0 && !g.noVideo
	audio := g.want.Audio && !g.noAudio
	g.mu.Unlock()
	if !video && !audio {
		<-ctx.Done() // nothing to pull; the cell stays a placeholder
		return ctx.Err()
	}
	args := []string{"-nostdin", "-hide_banner", "-nostats", "-v", "verbose"}
	args = append(args, in...)
	// One decoding thread: a source is small and frame threads cost more than they save here.
	args = append(args, "-threads", "1", "-i", input)
	var audioR, audioW *os.File
	if video {
		vf := cropFilter(g.want.W, g.want.H, g.want.CropMode, g.want.Pad) + ",setsar=1,fps=" + strconv.Itoa(g.fps) + ",format=yuv420p"
		args = append(args, "-map", "0:v:0", "-vf", vf, "-f", "rawvideo", "-pix_fmt", "yuv420p", "pipe:1")
	}
	if audio {
		if audioR, audioW, err = os.Pipe(); err != nil {
			return fmt.Errorf("audio pipe: %w", err)
		}
		defer audioR.Close()
		args = append(args, "-map", "0:a:0", "-af", "aresample=async=1", "-ac", strconv.Itoa(audioChannels),
			"-ar", strconv.Itoa(audioRate), "-f", "s16le", "pipe:3")
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	cmd := command(runCtx, 2*time.Second, g.cfg.ffmpeg(), args...)
	stdout, stdoutW, err := rawPipe()
	if err != nil {
		return fmt.Errorf("frame pipe: %w", err)
	}
	defer stdout.Close()
	cmd.Stdout = stdoutW
	stderr, err := cmd.StderrPipe()
	if err != nil {
		stdoutW.Close()
		return err
	}
	if audioW != nil {
		cmd.ExtraFiles = []*os.File{audioW}
	}
	p, err := startProc(cmd, g.env)
	// The child has its copies; ours would keep the readers from seeing EOF.
	stdoutW.Close()
	if audioW != nil {
		audioW.Close()
	}
	if err != nil {
		return fmt.Errorf("start ffmpeg: %w", err)
	}
	g.mu.Lock()
	g.delivered = false
	g.mu.Unlock()

	var lastData sync.Mutex
	last := time.Now()
	touch := func() {
		lastData.Lock()
		last = time.Now()
		lastData.Unlock()
		g.mu.Lock()
		first := !g.delivered
		g.delivered = true
		g.dataAt = time.Now()
		g.mu.Unlock()
		if first {
			g.log("source %s: receiving", g.id)
		}
	}
	var readers sync.WaitGroup
	if video {
		readers.Go(func() { g.readVideo(stdout, touch) })
	} else {
		readers.Go(func() { _, _ = io.Copy(io.Discard, stdout) })
	}
	if audioR != nil {
		readers.Go(func() { g.readAudio(audioR, touch) })
	}
	var tail []string
	readers.Go(func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			if m := demuxedBytes.FindStringSubmatch(line); m != nil {
				n, _ := strconv.ParseInt(m[1], 10, 64)
				g.mu.Lock()
				g.flow += n
				g.mu.Unlock()
			}
			if m := missingStream.FindStringSubmatch(line); m != nil {
				g.mu.Lock()
				if m[1] == "v" {
					g.noVideo = true
				} else {
					g.noAudio = true
				}
				g.mu.Unlock()
			}
			if tail = append(tail, line); len(tail) > 5 {
				tail = tail[1:]
			}
		}
	})

	// The stale timeout: a process that delivers nothing for that long is killed and reconnected,
	// whatever its input is waiting for.
	stale := g.cfg.staleTimeout()
	tick := time.NewTicker(stale / 4)
	defer tick.Stop()
	var exit error
wait:
	for {
		select {
		case exit = <-p.done:
			break wait
		case <-tick.C:
			lastData.Lock()
			idle := time.Since(last)
			lastData.Unlock()
			if idle > stale {
				g.log("source %s: nothing for %s, restarting its input", g.id, idle.Round(time.Millisecond))
				cancel()
			}
		}
	}
	readers.Wait()
	account(&g.cfg.cpuSources, cmd)
	if exit != nil && len(tail) > 0 {
		exit = fmt.Errorf("%w: %s", exit, strings.Join(tail, " | "))
	}
	if exit == nil {
		exit = errors.New("end of stream")
	}
	return exit
}

func (g *ingest) readVideo(r io.Reader, touch func()) {
	size := g.want.W * g.want.H * 3 / 2
	br := bufio.NewReaderSize(r, 1<<20)
	spare := make([]byte, size)
	for {
		if _, err := io.ReadFull(br, spare); err != nil {
			_, _ = io.Copy(io.Discard, br)
			return
		}
		touch()
		g.mu.Lock()
		spare, g.frame = g.frame, spare
		g.frameAt = time.Now()
		g.mu.Unlock()
		if spare == nil {
			spare = make([]byte, size)
		}
	}
}

func (g *ingest) readAudio(r io.Reader, touch func()) {
	buf := make([]byte, 8192)
	var odd []byte
	for {
		n, err := r.Read(buf)
		if n > 0 {
			touch()
			data := append(odd, buf[:n]...)
			whole := len(data) &^ 1
			g.mu.Lock()
			for i := 0; i < whole; i += 2 {
				g.audio = append(g.audio, int16(uint16(data[i])|uint16(data[i+1])<<8))
			}
			if over := len(g.audio) - audioBacklog; over > 0 {
				over += over % audioChannels // keep the channels' interleaving
				g.audio = g.audio[:copy(g.audio, g.audio[min(over, len(g.audio)):])]
			}
			g.mu.Unlock()
			odd = append(odd[:0], data[whole:]...)
		}
		if err != nil {
			return
		}
	}
}

// allowedFile admits a file source only under the recorder's FileRoot: a source URL comes from an
// app, and the recorder must not read the agent's own files for it.
func (r *Recorder) allowedFile(path string) (string, error) {
	if r.FileRoot == "" {
		return "", agent.Permanent(errors.New("file sources are not enabled on this recorder (no file root)"))
	}
	root, err := filepath.EvalSymlinks(r.FileRoot)
	if err != nil {
		return "", fmt.Errorf("file root: %w", err)
	}
	abs, err := filepath.EvalSymlinks(filepath.Clean(path))
	if err != nil {
		return "", fmt.Errorf("file source: %w", err)
	}
	rel, err := filepath.Rel(root, abs)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) || filepath.IsAbs(rel) {
		return "", agent.Permanent(fmt.Errorf("file source %q is outside the recorder's file root", path))
	}
	return abs, nil
}
