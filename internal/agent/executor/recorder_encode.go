package executor

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"taskcenter/internal/agent"
	"taskcenter/internal/unitspec"
)

// Encoder settings of a capture segment. The composition is done before the encoder (in Go), so
// x264 sees one clean picture per frame: veryfast with CRF 23 is the quality/CPU point where the
// encode of a 1280x720 30 fps composition of four sources takes about a quarter of a core
// (docs/performance.md: superfast saves a tenth of a core for 1.75 times the size); a 2-second GOP
// keeps the slices cut on keyframes within 2 s of their nominal length.
const (
	DefaultPreset = "veryfast"
	DefaultCRF    = 23
	aacBitrate    = "128k"
	mp3Bitrate    = "128k"
	gopSeconds    = 2
	encodeThread  = "1"
)

// x264Presets are the presets x264 knows, fastest first.
var x264Presets = []string{"ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow", "placebo"}

// CheckEncoder refuses x264 settings the encoder would reject at a recording's first segment: an
// unknown preset, or a CRF outside 0-51.
func CheckEncoder(preset string, crf int) error {
	if !slices.Contains(x264Presets, preset) {
		return fmt.Errorf("unknown x264 preset %q: want one of %s", preset, strings.Join(x264Presets, ", "))
	}
	if crf < 0 || crf > 51 {
		return fmt.Errorf("x264 CRF %d is outside 0-51", crf)
	}
	return nil
}

// segmentEncoder is the ffmpeg process encoding one segment from raw frames and samples fed
// through pipes. Each segment is a complete file of its own, finished (moov written) before it is
// uploaded, so a recorder that dies loses only the segment it was writing.
type segmentEncoder struct {
	recorder *Recorder
	index    int
	path     string
	start    time.Time // wall clock of the first frame
	frames   int64
	audio    bool // mp3: audio only, fed through stdin

	proc   *proc
	video  chan []byte // frames to write; nil for mp3
	sound  chan []byte
	writes chan error // one per writer goroutine when it ends
	nWrite int
	tail   *tailBuffer
}

// tailBuffer keeps the last lines of a process's output for its error message.
type tailBuffer struct{ lines []string }

func (t *tailBuffer) consume(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if t.lines = append(t.lines, sc.Text()); len(t.lines) > 8 {
			t.lines = t.lines[1:]
		}
	}
}

func (t *tailBuffer) String() string { return strings.Join(t.lines, " | ") }

// startEncoder starts the encoder of segment index at path.
func (r *Recorder) startEncoder(ctx context.Context, env agent.Env, spec *unitspec.Recording, index int, path string, start time.Time, pool *framePool) (*segmentEncoder, error) {
	e := &segmentEncoder{recorder: r, index: index, path: path, start: start, tail: &tailBuffer{}}
	rate, ch := strconv.Itoa(audioRate), strconv.Itoa(audioChannels)
	args := []string{"-nostdin", "-hide_banner", "-nostats", "-v", "warning", "-y"}
	created := "creation_time=" + start.UTC().Format("2006-01-02T15:04:05.000000Z")
	var audioR, audioW *os.File
	if spec.FileType == unitspec.FileMP3 {
		e.audio = true
		args = append(args, "-f", "s16le", "-ar", rate, "-ac", ch, "-i", "pipe:0",
			"-c:a", "libmp3lame", "-b:a", mp3Bitrate, "-metadata", created, "-f", "mp3", path)
	} else {
		c := spec.Canvas
		var err error
		if audioR, audioW, err = os.Pipe(); err != nil {
			return nil, fmt.Errorf("audio pipe: %w", err)
		}
		defer audioR.Close() // the child has its copy
		fps := strconv.Itoa(c.FrameRate)
		args = append(args,
			"-thread_queue_size", "64", "-f", "rawvideo", "-pix_fmt", "yuv420p",
			"-s", fmt.Sprintf("%dx%d", c.Width, c.Height), "-framerate", fps, "-i", "pipe:0",
			"-thread_queue_size", "64", "-f", "s16le", "-ar", rate, "-ac", ch, "-i", "pipe:3",
			"-map", "0:v", "-map", "1:a",
			"-c:v", "libx264", "-preset", cmp(r.Preset, DefaultPreset), "-crf", strconv.Itoa(cmp(r.CRF, DefaultCRF)), "-pix_fmt", "yuv420p",
			"-g", strconv.Itoa(gopSeconds*c.FrameRate), "-bf", "0", "-threads", encodeThread,
			"-c:a", "aac", "-b:a", aacBitrate,
			"-metadata", created, "-f", "mp4", path)
	}
	cmd := command(ctx, 10*time.Second, r.ffmpeg(), args...)
	stdinR, stdin, err := rawPipe()
	if err != nil {
		return nil, fmt.Errorf("frame pipe: %w", err)
	}
	defer stdinR.Close() // the child has its copy
	cmd.Stdin = stdinR
	stderr, err := cmd.StderrPipe()
	if err != nil {
		stdin.Close()
		return nil, err
	}
	if audioR != nil {
		cmd.ExtraFiles = []*os.File{audioR}
	}
	p, err := startProc(cmd, env)
	if err != nil {
		stdin.Close()
		if audioW != nil {
			audioW.Close()
		}
		return nil, fmt.Errorf("start the encoder: %w", err)
	}
	e.proc = p
	go e.tail.consume(stderr)
	e.writes = make(chan error, 2)
	// Writers of their own per pipe: ffmpeg reads its inputs in threads of their own, and the
	// composition must never wait on one pipe while ffmpeg waits on the other.
	e.sound = make(chan []byte, 8*r.fpsOf(spec))
	if e.audio {
		e.nWrite = 1
		go func() { e.writes <- drain(stdin, e.sound, nil) }()
	} else {
		e.video = make(chan []byte, videoQueue(spec))
		e.nWrite = 2
		go func() { e.writes <- drain(stdin, e.video, pool) }()
		go func() { e.writes <- drain(audioW, e.sound, nil) }()
	}
	return e, nil
}

// videoQueue is how many frames may wait for the encoder: up to 4 s of them, within 64 MB, so that
// an encoder starved of CPU for a moment (a busy machine) does not hold up the compositor's clock.
func videoQueue(spec *unitspec.Recording) int {
	frame := spec.Canvas.Width * spec.Canvas.Height * 3 / 2
	return max(1, min(4*max(1, spec.Canvas.FrameRate), (64<<20)/max(1, frame)))
}

// drain writes what arrives on ch to w and closes w when ch is closed; after a write error it keeps
// draining so that senders never block.
func drain(w io.WriteCloser, ch chan []byte, pool *framePool) error {
	var werr error
	for b := range ch {
		if werr == nil {
			_, werr = w.Write(b)
		}
		if pool != nil {
			pool.put(b)
		}
	}
	cerr := w.Close()
	if werr != nil {
		return werr
	}
	return cerr
}

// finish closes the inputs and waits for the file to be complete.
func (e *segmentEncoder) finish() error {
	if e.video != nil {
		close(e.video)
	}
	close(e.sound)
	var werr error
	for range e.nWrite {
		if err := <-e.writes; err != nil && werr == nil {
			werr = err
		}
	}
	err := <-e.proc.done
	account(&e.recorder.cpuEncoders, e.proc.cmd)
	if err != nil {
		return fmt.Errorf("encoder of segment %d: %w: %s", e.index, err, e.tail)
	}
	if werr != nil {
		return fmt.Errorf("feeding the encoder of segment %d: %w", e.index, werr)
	}
	return nil
}

// framePool recycles composed frames between the compositor and the encoder's writer.
type framePool struct {
	size int
	free chan []byte
}

func newFramePool(size, n int) *framePool {
	return &framePool{size: size, free: make(chan []byte, n)}
}

func (p *framePool) get() []byte {
	select {
	case b := <-p.free:
		return b
	default:
		return make([]byte, p.size)
	}
}

func (p *framePool) put(b []byte) {
	if len(b) != p.size {
		return
	}
	select {
	case p.free <- b:
	default:
	}
}
