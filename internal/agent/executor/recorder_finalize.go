package executor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"taskcenter/internal/agent"
	"taskcenter/internal/unitspec"
)

// mediaInfo is what ffprobe says of a file.
type mediaInfo struct {
	Duration float64
	Created  time.Time
	Streams  []probeStream
}

type probeStream struct {
	CodecType    string `json:"codec_type"`
	CodecName    string `json:"codec_name"`
	Width        int    `json:"width"`
	Height       int    `json:"height"`
	AvgFrameRate string `json:"avg_frame_rate"`
	FrameRate    string `json:"r_frame_rate"`
	SampleRate   string `json:"sample_rate"`
	Channels     int    `json:"channels"`
}

// probe reads a media file's duration, creation time and streams.
func (r *Recorder) probe(ctx context.Context, path string) (mediaInfo, error) {
	out, err := execOutput(ctx, r.ffprobe(), "-v", "error", "-print_format", "json", "-show_format", "-show_streams", path)
	if err != nil {
		return mediaInfo{}, fmt.Errorf("ffprobe %s: %w", filepath.Base(path), err)
	}
	var doc struct {
		Format struct {
			Duration string            `json:"duration"`
			Tags     map[string]string `json:"tags"`
		} `json:"format"`
		Streams []probeStream `json:"streams"`
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		return mediaInfo{}, fmt.Errorf("ffprobe %s: %w", filepath.Base(path), err)
	}
	info := mediaInfo{Streams: doc.Streams}
	info.Duration, _ = strconv.ParseFloat(doc.Format.Duration, 64)
	if info.Duration <= 0 {
		return info, fmt.Errorf("ffprobe %s: no duration", filepath.Base(path))
	}
	if t, err := time.Parse(time.RFC3339Nano, doc.Format.Tags["creation_time"]); err == nil {
		info.Created = t
	}
	return info, nil
}

// execOutput runs a short command and returns its standard output; stderr is in the error.
func execOutput(ctx context.Context, name string, args ...string) ([]byte, error) {
	cmd := command(ctx, 2*time.Second, name, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("%w: %s", err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

func removeFile(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// finalize joins the captured segments in their order (a missing index is time that was not
// recorded: the join goes on after it) and cuts the whole into slices of SliceSeconds. The cut is
// a stream copy at the first keyframe at or after each boundary (the capture's GOP is 2 s), so
// nothing is encoded twice.
func (r *Recorder) finalize(ctx context.Context, env agent.Env, spec unitspec.Recording) (agent.Result, error) {
	if spec.FileType != unitspec.FileMP4 && spec.FileType != unitspec.FileMP3 {
		return agent.Result{}, agent.Permanent(fmt.Errorf("file_type %d is not 0 (mp4) or 1 (mp3)", spec.FileType))
	}
	if spec.SliceSeconds <= 0 {
		return agent.Result{}, agent.Permanent(fmt.Errorf("slice_seconds %d must be positive", spec.SliceSeconds))
	}
	segs := append([]unitspec.Segment(nil), spec.Segments...)
	sort.SliceStable(segs, func(i, j int) bool { return segs[i].Index < segs[j].Index })
	ext := "mp4"
	if spec.FileType == unitspec.FileMP3 {
		ext = "mp3"
	}
	var list strings.Builder
	joined := 0
	for i, s := range segs {
		path, err := env.Input(ctx, s.Hash)
		if err != nil {
			return agent.Result{}, fmt.Errorf("segment %d: %w", s.Index, err)
		}
		// A segment ffprobe cannot read would stop the join: it is left out, and said so. One whose
		// length the capture reported was finished by the encoder that wrote it, or read by the
		// recorder that took it over, and is not read again: a probe is a process per segment. Those
		// without (a capture that failed before it reported, a segment its taker could not read)
		// are probed.
		if s.Millis <= 0 {
			if _, err := r.probe(ctx, path); err != nil {
				env.Progress(-1, fmt.Sprintf("recorder: segment %d left out: %v\n", s.Index, err))
				continue
			}
		}
		fmt.Fprintf(&list, "file '%s'\n", strings.ReplaceAll(path, "'", `'\''`))
		joined++
		env.Progress(float64(i+1)/float64(len(segs))*50, "")
	}
	if joined == 0 {
		return agent.Result{Data: unitspec.FinalizeResult{Slices: []unitspec.Slice{}}}, nil
	}
	listPath := filepath.Join(env.Dir(), "segments.txt")
	if err := os.WriteFile(listPath, []byte(list.String()), 0o600); err != nil {
		return agent.Result{}, fmt.Errorf("segment list: %w", err)
	}
	pattern := filepath.Join(env.Dir(), "slice-%06d."+ext)
	args := []string{"-nostdin", "-hide_banner", "-nostats", "-v", "warning", "-y",
		"-f", "concat", "-safe", "0", "-i", listPath, "-map", "0", "-c", "copy",
		"-f", "segment", "-segment_time", strconv.Itoa(spec.SliceSeconds), "-segment_start_number", "1",
		"-reset_timestamps", "1", "-segment_format", ext}
	if ext == "mp4" {
		args = append(args, "-segment_format_options", "movflags=+faststart")
	}
	args = append(args, pattern)
	cmd := command(ctx, 5*time.Second, r.ffmpeg(), args...)
	w := &logWriter{env: env}
	cmd.Stdout, cmd.Stderr = w, w
	err := run(cmd, env)
	account(&r.cpuOther, cmd)
	if err != nil {
		if ctx.Err() != nil {
			return agent.Result{}, context.Cause(ctx)
		}
		return agent.Result{}, exitFailure("joining the segments", err, w.Tail())
	}
	var res unitspec.FinalizeResult
	for n := 1; ; n++ {
		path := fmt.Sprintf(pattern, n)
		if _, err := os.Stat(path); err != nil {
			break
		}
		info, err := r.probe(ctx, path)
		if err != nil {
			return agent.Result{}, fmt.Errorf("slice %d: %w", n, err)
		}
		out, err := env.Upload(ctx, unitspec.SliceOutput(n), path)
		if err != nil {
			return agent.Result{}, fmt.Errorf("slice %d: %w", n, err)
		}
		res.Slices = append(res.Slices, unitspec.Slice{Index: n, Hash: out.Hash, Size: out.Size, Millis: int64(info.Duration * 1000)})
		env.Progress(50+float64(n)*5, "")
	}
	env.Progress(100, fmt.Sprintf("recorder: %d segments joined into %d slices\n", joined, len(res.Slices)))
	return agent.Result{Data: res}, nil
}
