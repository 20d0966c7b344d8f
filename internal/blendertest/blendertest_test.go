package blendertest

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"taskcenter/internal/imaging"
)

func TestScene(t *testing.T) {
	Require(t)
	tests := []struct {
		engine string
		w, h   int
	}{
		{"CYCLES", 160, 120},
		{"BLENDER_WORKBENCH", 96, 64},
		{"BLENDER_EEVEE", 64, 48},
	}
	for _, tt := range tests {
		t.Run(tt.engine, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
			defer cancel()
			dir := t.TempDir()
			path, err := Scene(ctx, dir, Options{Engine: tt.engine, Width: tt.w, Height: tt.h, Samples: 4})
			if err != nil {
				t.Fatal(err)
			}
			// Render the first and last frame: right size, and the animation makes them differ.
			start := time.Now()
			out, err := exec.CommandContext(ctx, "blender", "-b", path, "-o", filepath.Join(dir, "f_#"),
				"-F", "PNG", "-f", "1", "-f", "4").CombinedOutput()
			if err != nil {
				t.Fatalf("render: %v\n%s", err, out)
			}
			t.Logf("%s: 2 frames in %v", tt.engine, time.Since(start).Round(time.Millisecond))
			var frames [][]byte
			for _, f := range []string{"f_1.png", "f_4.png"} {
				w, h, err := imaging.Size(filepath.Join(dir, f))
				if err != nil {
					t.Fatal(err)
				}
				if w != tt.w || h != tt.h {
					t.Errorf("%s is %dx%d, want %dx%d", f, w, h, tt.w, tt.h)
				}
				b, err := os.ReadFile(filepath.Join(dir, f))
				if err != nil {
					t.Fatal(err)
				}
				frames = append(frames, b)
			}
			if bytes.Equal(frames[0], frames[1]) {
				t.Error("frames 1 and 4 are identical: the scene is not animated")
			}
		})
	}
}
