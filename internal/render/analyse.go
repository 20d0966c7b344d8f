package render

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// errNoBlender: the server has no Blender to analyse with.
var errNoBlender = errors.New("blender is not installed on the server")

// sceneAnalysis is what the server reads from a .blend.
type sceneAnalysis struct {
	Scene      string   `json:"scene"`
	Scenes     []string `json:"scenes"`
	FrameStart int      `json:"frame_start"`
	FrameEnd   int      `json:"frame_end"`
	FrameStep  int      `json:"frame_step"`
	Camera     string   `json:"camera"`
	Cameras    []string `json:"cameras"`
	Width      int      `json:"width"`
	Height     int      `json:"height"`
	Format     string   `json:"format"`
	Engine     string   `json:"engine"`
}

const analyseMarker = "TASKCENTER_ANALYSIS:"

// analyseScript prints the scene's facts as one marked JSON line; Blender's own chatter is ignored.
const analyseScript = `import bpy, json
s = bpy.context.scene
r = s.render
print("` + analyseMarker + `" + json.dumps({
 "scene": s.name, "scenes": [x.name for x in bpy.data.scenes],
 "frame_start": s.frame_start, "frame_end": s.frame_end, "frame_step": s.frame_step,
 "camera": s.camera.name if s.camera else "",
 "cameras": sorted(o.name for o in s.objects if o.type == "CAMERA"),
 "width": int(r.resolution_x * r.resolution_percentage / 100),
 "height": int(r.resolution_y * r.resolution_percentage / 100),
 "format": r.image_settings.file_format, "engine": r.engine}))
`

// analyseBlend runs Blender in the background on the scene blob and reads its frame range, cameras,
// resolution and output format. Ruling: the server analyses .blend files itself when Blender is
// installed next to it (it is cheap: the file is only loaded); otherwise task.json's scene_info is
// used as sent.
func (a *API) analyseBlend(ctx context.Context, hash string) (sceneAnalysis, error) {
	bin, err := exec.LookPath(a.cfg.Blender)
	if err != nil {
		return sceneAnalysis{}, errNoBlender
	}
	dir, err := os.MkdirTemp("", "taskcenter-analyse-")
	if err != nil {
		return sceneAnalysis{}, fmt.Errorf("analysis scratch dir: %w", err)
	}
	defer os.RemoveAll(dir)
	scene := filepath.Join(dir, "scene.blend")
	if err := a.copyBlob(ctx, hash, scene); err != nil {
		return sceneAnalysis{}, err
	}
	cmd := exec.CommandContext(ctx, bin, "-b", "--factory-startup", scene, "--python-exit-code", "1", "--python-expr", analyseScript)
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return sceneAnalysis{}, fmt.Errorf("the scene cannot be opened by Blender: %v: %s", err, tailText(out.String(), 500))
	}
	for line := range strings.SplitSeq(out.String(), "\n") {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), analyseMarker); ok {
			var info sceneAnalysis
			if err := json.Unmarshal([]byte(rest), &info); err != nil {
				return sceneAnalysis{}, fmt.Errorf("read analysis: %w", err)
			}
			return info, nil
		}
	}
	return sceneAnalysis{}, fmt.Errorf("the scene cannot be opened by Blender: %s", tailText(out.String(), 500))
}

func (a *API) copyBlob(ctx context.Context, hash, dst string) error {
	rc, _, err := a.blobs.Open(ctx, hash)
	if err != nil {
		return fmt.Errorf("open scene blob %s: %w", hash, err)
	}
	defer rc.Close()
	f, err := os.Create(dst)
	if err != nil {
		return fmt.Errorf("write scene copy: %w", err)
	}
	if _, err := io.Copy(f, rc); err != nil {
		f.Close()
		return fmt.Errorf("write scene copy: %w", err)
	}
	return f.Close()
}

func tailText(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}
