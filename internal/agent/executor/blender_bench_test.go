package executor

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"testing"
	"time"

	"taskcenter/internal/blendertest"
)

// costInLog is the render script's measure of a frame's preview and final render.
var costInLog = regexp.MustCompile(`TASKCENTER-PREVIEW-COST frame=\d+ preview=([0-9.]+)s render=([0-9.]+)s`)

// BenchmarkBlenderPreview renders one frame of the test scene at two sizes, with and without its
// progress image: ns/op is the unit's wall time (Blender's start, the scene's load, the render and
// the uploads to a local fake), preview-s and render-s the render script's own measure of the
// preview and of the frame's render, and share their ratio (BlenderPreview.MaxShare is weighed
// against it). docs/performance.md has the figures.
func BenchmarkBlenderPreview(b *testing.B) {
	blendertest.Require(b)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	scenes := []struct {
		name          string
		width, height int
		samples       int
	}{
		{"160x120-16spp", 160, 120, 16},
		{"480x360-32spp", 480, 360, 32},
	}
	for _, sc := range scenes {
		path, err := blendertest.Scene(ctx, b.TempDir(), blendertest.Options{Width: sc.width, Height: sc.height, Samples: sc.samples})
		if err != nil {
			b.Fatal(err)
		}
		for _, on := range []bool{false, true} {
			b.Run(fmt.Sprintf("%s/preview=%v", sc.name, on), func(b *testing.B) {
				var preview, render float64
				for b.Loop() {
					env := newFakeEnv(b)
					env.inputs[sceneHash] = path
					ex := &Blender{Preview: BlenderPreview{Off: !on, MinWork: 1}}
					if _, err := ex.Run(ctx, unit(b, "blender", BlenderSpec{Scene: sceneHash, Frame: 1}), env); err != nil {
						b.Fatalf("Run: %v\n%s", err, env.Log())
					}
					if m := costInLog.FindStringSubmatch(env.Log()); m != nil {
						p, _ := strconv.ParseFloat(m[1], 64)
						r, _ := strconv.ParseFloat(m[2], 64)
						preview, render = preview+p, render+r
					} else if on {
						b.Fatalf("no preview cost in the log:\n%s", env.Log())
					}
				}
				if on {
					b.ReportMetric(preview/float64(b.N), "preview-s/op")
					b.ReportMetric(render/float64(b.N), "render-s/op")
					b.ReportMetric(preview/render, "share")
				}
			})
		}
	}
}
