package executor

import (
	"os/exec"
	"testing"
)

func TestCheckEncoder(t *testing.T) {
	for _, tc := range []struct {
		preset string
		crf    int
		ok     bool
	}{
		{DefaultPreset, DefaultCRF, true},
		{"ultrafast", 0, true},
		{"placebo", 51, true},
		{"", 23, false},
		{"VeryFast", 23, false},
		{"veryfast -y", 23, false},
		{"veryfast", -1, false},
		{"veryfast", 52, false},
	} {
		if err := CheckEncoder(tc.preset, tc.crf); (err == nil) != tc.ok {
			t.Errorf("CheckEncoder(%q, %d) = %v", tc.preset, tc.crf, err)
		}
	}
}

// TestX264TakesEveryPreset: the presets CheckEncoder lets through are the ones this ffmpeg's x264
// knows.
func TestX264TakesEveryPreset(t *testing.T) {
	requireFFmpeg(t)
	for _, p := range x264Presets {
		out, err := exec.Command("ffmpeg", "-v", "error", "-f", "lavfi", "-i", "color=s=64x64", "-frames:v", "1",
			"-c:v", "libx264", "-preset", p, "-f", "null", "-").CombinedOutput()
		if err != nil {
			t.Errorf("x264 refuses preset %s: %v\n%s", p, err, out)
		}
	}
}
