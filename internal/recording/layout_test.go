package recording

import (
	"fmt"
	"testing"

	"taskcenter/internal/unitspec"
)

func groupOf(users ...groupUser) groupDoc { return groupDoc{Users: users} }

func user(id string, ms ...media) groupUser { return groupUser{UserID: id, Media: ms} }

func cam(id string) media {
	return media{MediaID: id + "-cam", MediaType: unitspec.MediaCamera, URL: "rtmp://h/" + id + "cam"}
}
func screen(id string) media {
	return media{MediaID: id + "-scr", MediaType: unitspec.MediaScreen, URL: "rtmp://h/" + id + "scr"}
}
func mic(id string) media {
	return media{MediaID: id + "-mic", MediaType: unitspec.MediaAudio, URL: "rtmp://h/" + id + "mic"}
}

func cells(p layoutPlan) string {
	s := ""
	for _, c := range p.Cells {
		s += fmt.Sprintf("%s@%d,%d,%dx%d ", c.Source, c.X, c.Y, c.W, c.H)
	}
	return s
}

func TestAutoPlan(t *testing.T) {
	tests := []struct {
		name      string
		auto      autoParams
		g         groupDoc
		wantCells string
		wantAudio int
		wantMain  string
	}{
		{"grid of one", autoParams{Type: 1, MediaType: 2, MediaCount: 9, CropMode: 1},
			groupOf(user("a", cam("a"))), "a/a-cam@0,0,1280x720 ", 1, ""},
		{"grid of two side by side", autoParams{Type: 1, MediaType: 2, MediaCount: 9, CropMode: 1},
			groupOf(user("a", cam("a")), user("b", cam("b"))), "a/a-cam@0,0,640x720 b/b-cam@640,0,640x720 ", 2, ""},
		{"grid of three: 2x2", autoParams{Type: 1, MediaType: 2, MediaCount: 9, CropMode: 1},
			groupOf(user("a", cam("a")), user("b", cam("b")), user("c", cam("c"))),
			"a/a-cam@0,0,640x360 b/b-cam@640,0,640x360 c/c-cam@0,360,640x360 ", 3, ""},
		{"screen share first", autoParams{Type: 1, MediaType: 2, MediaCount: 9, CropMode: 1},
			groupOf(user("a", cam("a"), screen("a"), mic("a"))), "a/a-scr@0,0,1280x720 ", 1, ""},
		{"media_count caps", autoParams{Type: 1, MediaType: 2, MediaCount: 1, CropMode: 1},
			groupOf(user("a", cam("a")), user("b", cam("b"))), "a/a-cam@0,0,1280x720 ", 2, ""},
		{"audio only user", autoParams{Type: 1, MediaType: 2, MediaCount: 9, CropMode: 1},
			groupOf(user("a", mic("a"))), "", 1, ""},
		{"main is the first to join", autoParams{Type: 2, MediaType: 2, MediaCount: 9, CropMode: 1},
			groupOf(user("a", cam("a")), user("b", cam("b"))), "a/a-cam@0,0,1280x720 b/b-cam@0,540,320x180 ", 2, "a"},
		{"main named", autoParams{Type: 2, UserID: "b", MediaType: 2, MediaCount: 9, CropMode: 1},
			groupOf(user("a", cam("a")), user("b", cam("b"))), "b/b-cam@0,0,1280x720 a/a-cam@0,540,320x180 ", 2, "b"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := recordDoc{Width: 1280, Height: 720, Auto: &tc.auto}
			p, main := autoPlan(d, tc.g)
			if got := cells(p); got != tc.wantCells || len(p.Audio) != tc.wantAudio || main != tc.wantMain {
				t.Fatalf("cells %q audio %d main %q, want %q %d %q", got, len(p.Audio), main, tc.wantCells, tc.wantAudio, tc.wantMain)
			}
		})
	}
}

// TestRegistryReflow: the registry keeps join order, and the layout reflows as users join and leave.
func TestRegistryReflow(t *testing.T) {
	var g groupDoc
	d := recordDoc{Width: 1280, Height: 720, Auto: &autoParams{Type: 1, MediaType: 2, MediaCount: 9, CropMode: 1}}
	steps := []struct {
		c    mediaChange
		want string
	}{
		{mediaChange{Action: "publish", UserID: "a", Media: cam("a")}, "a/a-cam@0,0,1280x720 "},
		{mediaChange{Action: "publish", UserID: "b", Media: cam("b")}, "a/a-cam@0,0,640x720 b/b-cam@640,0,640x720 "},
		{mediaChange{Action: "join", UserID: "c"}, "a/a-cam@0,0,640x720 b/b-cam@640,0,640x720 "},
		{mediaChange{Action: "leave", UserID: "a"}, "b/b-cam@0,0,1280x720 "},
		{mediaChange{Action: "unpublish", UserID: "b", Media: media{MediaID: "b-cam"}}, ""},
	}
	for i, s := range steps {
		if _, err := g.apply(s.c, int64(i)); err != nil {
			t.Fatal(err)
		}
		p, _ := autoPlan(d, g)
		if got := cells(p); got != s.want {
			t.Fatalf("step %d (%s %s): %q, want %q", i, s.c.Action, s.c.UserID, got, s.want)
		}
	}
}
