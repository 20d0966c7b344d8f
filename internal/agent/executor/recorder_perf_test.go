package executor

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"taskcenter/internal/unitspec"
)

// TestRecorderCPU measures the CPU a real-time recording of four 640x360 sources into 1280x720 at
// 30 fps costs: the user+system time of the recorder's ffmpeg processes (sources and encoders) and
// of this process (the compositor), per second recorded. It runs when TASKCENTER_RECORDER_PERF
// names the seconds to record:
//
//	TASKCENTER_RECORDER_PERF=30 go test ./internal/agent/executor/ -run TestRecorderCPU -v
func TestRecorderCPU(t *testing.T) {
	seconds := envInt(os.Getenv("TASKCENTER_RECORDER_PERF"))
	if seconds <= 0 {
		t.Skip("set TASKCENTER_RECORDER_PERF=<seconds> to measure")
	}
	requireFFmpeg(t)
	dir := t.TempDir()
	patterns := []string{"testsrc2", "smptehdbars", "rgbtestsrc", "testsrc"}
	spec := unitspec.Recording{
		Mode: unitspec.ModeCapture, Version: 1, FileType: unitspec.FileMP4,
		Canvas:         unitspec.Canvas{Width: 1280, Height: 720, FrameRate: 30},
		SegmentSeconds: 10,
	}
	for i, p := range patterns {
		// Camera-like sources: 640x360 30 fps H.264 at about 800 kb/s, with a tone.
		file := filepath.Join(dir, p+".mp4")
		out, err := exec.Command("ffmpeg", "-v", "error", "-f", "lavfi", "-i", p+"=s=640x360:r=30",
			"-f", "lavfi", "-i", "sine=frequency="+strconv.Itoa(300+100*i)+":sample_rate=48000", "-t", "10",
			"-c:v", "libx264", "-preset", "veryfast", "-b:v", "800k", "-g", "60", "-pix_fmt", "yuv420p", "-c:a", "aac", file).CombinedOutput()
		if err != nil {
			t.Fatalf("make source %s: %v %s", p, err, out)
		}
		id := strconv.Itoa(i)
		spec.Sources = append(spec.Sources, unitspec.Source{ID: id, URL: file})
		spec.Cells = append(spec.Cells, unitspec.Cell{Source: id, X: 640 * (i % 2), Y: 360 * (i / 2), W: 640, H: 360, CropMode: unitspec.CropFill})
		spec.Audio = append(spec.Audio, id)
	}
	spec.Subtitles = []unitspec.Subtitle{{Type: unitspec.SubtitleTime, X: 20, Y: 20, Size: 32, Color: "#ffffff", Transparency: 100}}
	// TASKCENTER_RECORDER_PERF_N recordings run at once (default 1), each with its own recorder.
	n := max(1, envInt(os.Getenv("TASKCENTER_RECORDER_PERF_N")))
	var rs []*Recorder
	var envs []*specEnv
	var recs []*recording
	var starts []time.Time
	var before syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &before)
	for range n {
		r := &Recorder{FileRoot: dir, Preset: os.Getenv("TASKCENTER_RECORDER_PRESET"), CRF: envInt(os.Getenv("TASKCENTER_RECORDER_CRF"))}
		env := newSpecEnv(t, spec)
		rs, envs, recs = append(rs, r), append(envs, env), append(recs, startCapture(t, r, env))
		starts = append(starts, time.Now())
	}
	start := time.Now()
	<-time.After(time.Duration(seconds) * time.Second) // the recording's length is what is measured
	var media time.Duration
	var ff CPUTimes
	sizes := 0
	for i, env := range envs {
		stop := env.change(func(s *unitspec.Recording) { s.Stopped = true })
		res := recs[i].wait(t)
		m := time.Duration(res.MediaMillis) * time.Millisecond
		media += m
		// Real time: what was recorded is the time from the start to the stop being read.
		if d := env.servedAt(stop).Sub(starts[i]) - m; d > time.Second || d < -time.Second {
			t.Errorf("recording %d: recorded %s of %s", i, m, env.servedAt(stop).Sub(starts[i]))
		}
		c := rs[i].CPUTime()
		ff.Sources += c.Sources
		ff.Encoders += c.Encoders
		if strings.Contains(env.Log(), "behind") {
			t.Errorf("recording %d fell behind real time:\n%s", i, env.Log())
		}
		env.mu.Lock()
		for _, b := range env.uploads {
			sizes += len(b)
		}
		env.mu.Unlock()
	}
	wall := time.Since(start)
	var after syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &after)
	self := time.Duration(after.Utime.Nano()+after.Stime.Nano()-before.Utime.Nano()-before.Stime.Nano()) * time.Nanosecond
	per := func(d time.Duration) float64 { return d.Seconds() / media.Seconds() }
	t.Logf("%d recordings, preset %s crf %d: %s recorded each in %s, %.0f kb/s; cores per recording: sources %.3f, encoder %.3f, compositor process %.3f, total %.3f",
		n, cmp(rs[0].Preset, DefaultPreset), cmp(rs[0].CRF, DefaultCRF), media/time.Duration(n), wall.Round(time.Millisecond),
		float64(sizes)*8/1000/media.Seconds(), per(ff.Sources), per(ff.Encoders), per(self), per(ff.Total()+self))
}

func envInt(s string) int {
	v, _ := strconv.Atoi(s)
	return v
}
