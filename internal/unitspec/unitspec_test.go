package unitspec

import (
	"encoding/json"
	"testing"

	"taskcenter/internal/imaging"
)

// TestWireForm pins the JSON of each spec: the executors read what the facades write, so a renamed
// field or a lost omitempty is a change of the agent protocol.
func TestWireForm(t *testing.T) {
	tests := []struct {
		name string
		v    any
		want string
	}{
		{"blender minimal", Blender{Scene: "ab12", Frame: 3}, `{"scene":"ab12","frame":3}`},
		{"blender as render writes it", Blender{Scene: "ab12", Frame: 1, Format: FormatPNG, Resolution: []int{1920, 1080}, Camera: "Cam",
			Border: &imaging.Border{MinX: 0, MaxX: 0.5, MinY: 0.5, MaxY: 1}},
			`{"scene":"ab12","frame":1,"format":"PNG","resolution":[1920,1080],"camera":"Cam","border":{"min_x":0,"max_x":0.5,"min_y":0.5,"max_y":1}}`},
		{"blender frames", Blender{Scene: "ab12", Frames: []int{1, 2}, Engine: "CYCLES", Samples: 8},
			`{"scene":"ab12","frame":0,"frames":[1,2],"engine":"CYCLES","samples":8}`},
		{"shell", Shell{Command: []string{"echo", "{{x}}"}, Vars: map[string]string{"x": "1"}}, `{"command":["echo","{{x}}"],"vars":{"x":"1"}}`},
		{"rpa", RPA{Package: "ff", File: "1.0.0_p.ipkg", Entry: "sh main.sh", ProcCode: "p", ProcVer: "1.0.0", Ticket: "t"},
			`{"package":"ff","file":"1.0.0_p.ipkg","entry":"sh main.sh","procCode":"p","procVer":"1.0.0","ticket":"t"}`},
		{"rpa result", RPAResult{ProcCode: "p", ProcVer: "1"}, `{"exit_code":0,"procCode":"p","procVer":"1"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := json.Marshal(tt.v)
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != tt.want {
				t.Errorf("got  %s\nwant %s", b, tt.want)
			}
		})
	}
}

func TestFrameOutput(t *testing.T) {
	if got := FrameOutput(OutputImage, 12); got != "image.12" {
		t.Errorf("FrameOutput = %q", got)
	}
}

func TestLiveImage(t *testing.T) {
	tests := []struct {
		name  string
		names []string
		want  string
	}{
		{"nothing yet", nil, ""},
		{"no images", []string{"segment.1", "log"}, ""},
		{"a frame's preview", []string{"progress"}, "progress"},
		{"the frame done", []string{"progress", "image", "thumbnail"}, "thumbnail"},
		{"done without a preview", []string{"image", "thumbnail"}, "thumbnail"},
		{"second frame rendering", []string{"progress.1", "image.1", "thumbnail.1", "progress.2"}, "progress.2"},
		{"second frame done, no preview of the third", []string{"progress.1", "image.1", "thumbnail.1", "image.2", "thumbnail.2"}, "thumbnail.2"},
		{"frames out of order in the map", []string{"thumbnail.10", "thumbnail.9", "image.10", "image.9"}, "thumbnail.10"},
		{"a bad frame number", []string{"progress.x", "thumbnail.3"}, "thumbnail.3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := LiveImage(tt.names); got != tt.want {
				t.Errorf("LiveImage(%v) = %q, want %q", tt.names, got, tt.want)
			}
		})
	}
}
