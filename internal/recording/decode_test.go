package recording

import (
	"encoding/json"
	"strings"
	"testing"

	"taskcenter/internal/facade"
)

func TestDecodeCommand(t *testing.T) {
	tests := []struct {
		name    string
		frame   string
		wantID  int
		wantSeq string
		code    int
	}{
		{"login", `{"business":"RE","id":4097,"app_id":"a","token":"t","seq":"1"}`, 4097, `"1"`, 0},
		{"id as text", `{"id":"4102","seq":""}`, 4102, `""`, 0},
		{"seq as number", `{"id":4104,"seq":7}`, 4104, `7`, 0},
		{"no seq", `{"id":4104}`, 4104, ``, 0},
		{"not json", `hello`, 0, ``, CodeBadFrame},
		{"array", `[1,2]`, 0, ``, CodeBadFrame},
		{"truncated", `{"id":4097`, 0, ``, CodeBadFrame},
		{"trailing", `{"id":4097}{}`, 0, ``, CodeBadFrame},
		{"no id", `{"seq":"1"}`, 0, `"1"`, CodeMissing},
		{"id not a number", `{"id":"x","seq":"1"}`, 0, `"1"`, CodeBadParam},
		{"id fraction", `{"id":4097.5}`, 0, ``, CodeBadParam},
		{"seq object", `{"id":4097,"seq":{}}`, 0, ``, CodeBadParam},
		{"not utf-8", "{\"id\":4097,\"x\":\"\xff\"}", 0, ``, CodeBadFrame},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := decodeCommand([]byte(tc.frame))
			code := 0
			if err != nil {
				code = err.Code
			}
			if code != tc.code || (code == 0 && c.ID != tc.wantID) || string(c.Seq) != tc.wantSeq {
				t.Fatalf("id %d seq %s code %d (%v), want id %d seq %s code %d", c.ID, c.Seq, code, err, tc.wantID, tc.wantSeq, tc.code)
			}
		})
	}
}

func params(t *testing.T, s string) facade.Params {
	t.Helper()
	m, err := facade.DecodeObject([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return facade.Params{JSON: m, Codes: codes}
}

// TestRanges: every range of the document is checked, with a clear code.
func TestRanges(t *testing.T) {
	initTests := []struct {
		name string
		body string
		code int
	}{
		{"defaults", `{"group_id":"g"}`, 0},
		{"no group", `{}`, CodeMissing},
		{"file_duration 10", `{"group_id":"g","file_duration":10}`, CodeBadParam},
		{"file_duration 301", `{"group_id":"g","file_duration":301}`, CodeBadParam},
		{"width 5000", `{"group_id":"g","width":5000}`, CodeBadParam},
		{"height 0", `{"group_id":"g","height":0}`, CodeBadParam},
		{"frame_rate 60", `{"group_id":"g","frame_rate":60}`, CodeBadParam},
		{"timeout 4", `{"group_id":"g","timeout":4}`, CodeBadParam},
		{"timeout 1801", `{"group_id":"g","timeout":1801}`, CodeBadParam},
		{"file_type 2", `{"group_id":"g","file_type":2}`, CodeBadParam},
		{"record_mode 1", `{"group_id":"g","record_mode":1}`, CodeBadParam},
		{"media_count 12", `{"group_id":"g","auto":{"media_count":12}}`, CodeBadParam},
		{"media_count 0", `{"group_id":"g","auto":{"media_count":0}}`, CodeBadParam},
		{"auto type 3", `{"group_id":"g","auto":{"type":3}}`, CodeBadParam},
		{"auto crop 4", `{"group_id":"g","auto":{"crop_mode":4}}`, CodeBadParam},
		{"auto not an object", `{"group_id":"g","auto":5}`, CodeBadParam},
		{"width as text", `{"group_id":"g","width":"640"}`, 0},
		{"width as word", `{"group_id":"g","width":"wide"}`, CodeBadParam},
		{"file name with slash", `{"group_id":"g","file_name":"../x"}`, CodeBadParam},
		{"group too long", `{"group_id":"` + strings.Repeat("g", 300) + `"}`, CodeTooLong},
	}
	for _, tc := range initTests {
		t.Run("init/"+tc.name, func(t *testing.T) {
			_, err := readInit(params(t, tc.body))
			if got := codeOf(err); got != tc.code {
				t.Fatalf("code %d (%v), want %d", got, err, tc.code)
			}
		})
	}
	layoutTests := []struct {
		name string
		body string
		code int
	}{
		{"document example", `{"audio_list":[{"user_id":"Jack_ID","media_id":1}],"video_list":[{"user_id":"Jack_ID","media_id":0,"media_type":2,"crop_mode":3,"w":530,"h":380}]}`, 0},
		{"user_id as number", `{"video_list":[{"user_id":2,"media_id":"0"}]}`, 0},
		{"single object", `{"video_list":{"user_id":"a","media_id":"0"}}`, 0},
		{"x 1921", `{"video_list":[{"user_id":"a","x":1921}]}`, CodeBadParam},
		{"w 0", `{"video_list":[{"user_id":"a","w":0}]}`, CodeBadParam},
		{"h 1081", `{"video_list":[{"user_id":"a","h":1081}]}`, CodeBadParam},
		{"crop 0", `{"video_list":[{"user_id":"a","crop_mode":0}]}`, CodeBadParam},
		{"video media_type 1", `{"video_list":[{"user_id":"a","media_type":1}]}`, CodeBadParam},
		{"no user", `{"video_list":[{"media_id":"0"}]}`, CodeMissing},
		{"item not an object", `{"video_list":[3]}`, CodeBadParam},
		{"too many", `{"audio_list":[` + strings.Repeat(`{"user_id":"a"},`, 40) + `{"user_id":"a"}]}`, CodeBadParam},
	}
	for _, tc := range layoutTests {
		t.Run("layout/"+tc.name, func(t *testing.T) {
			_, _, err := readLayout(params(t, tc.body))
			if got := codeOf(err); got != tc.code {
				t.Fatalf("code %d (%v), want %d", got, err, tc.code)
			}
		})
	}
	subTests := []struct {
		name  string
		body  string
		code  int
		color string
	}{
		{"rgb int", `{"subtitle_list":[{"type":1,"content":"你好","color":40191}]}`, 0, "#009cff"},
		{"#rrggbb", `{"subtitle_list":[{"content":"Jack","color":"#009cff","x":20,"y":50,"transparency":80,"size":25}]}`, 0, "#009cff"},
		{"default colour", `{"subtitle_list":[{"type":2}]}`, 0, "#000000"},
		{"transparency 150", `{"subtitle_list":[{"transparency":150}]}`, CodeBadParam, ""},
		{"size 0", `{"subtitle_list":[{"size":0}]}`, CodeBadParam, ""},
		{"size 201", `{"subtitle_list":[{"size":201}]}`, CodeBadParam, ""},
		{"type 3", `{"subtitle_list":[{"type":3}]}`, CodeBadParam, ""},
		{"colour too big", `{"subtitle_list":[{"color":16777216}]}`, CodeBadParam, ""},
		{"colour word", `{"subtitle_list":[{"color":"blue"}]}`, CodeBadParam, ""},
	}
	for _, tc := range subTests {
		t.Run("subtitles/"+tc.name, func(t *testing.T) {
			subs, err := readSubtitles(params(t, tc.body))
			if got := codeOf(err); got != tc.code {
				t.Fatalf("code %d (%v), want %d", got, err, tc.code)
			}
			if tc.code == 0 && subs[0].Color != tc.color {
				t.Fatalf("colour %s, want %s", subs[0].Color, tc.color)
			}
		})
	}
}

func codeOf(err error) int {
	if err == nil {
		return 0
	}
	return codes.Of(err).Code
}

// FuzzDecodeCommand: no frame panics the decoder or the readers of the commands' fields, and every
// refusal carries a code of the table.
func FuzzDecodeCommand(f *testing.F) {
	for _, s := range []string{
		`{"business":"RE","id":4097,"app_id":"a","token":"t","seq":"1"}`,
		`{"id":4098,"group_id":"g","auto":{"type":2,"media_count":3},"width":"640"}`,
		`{"id":"4102","video_list":[{"user_id":2,"x":1,"w":3}],"audio_list":{"user_id":"a"}}`,
		`{"id":4103,"subtitle_list":[{"color":"#00ff00","transparency":50}]}`,
		`{"id":4104,"page":2,"start_time":"2026-01-01 00:00:00"}`,
		`{"id":4105,"action":"publish","group_id":"g","user_id":"u","media_id":"m","media_type":2,"url":"rtmp://x/y"}`,
		`[]`, `{`, `null`, `{"id":1e99}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		c, err := decodeCommand(frame)
		if err != nil {
			if codes.Text[err.Code] == "" {
				t.Fatalf("code %d not in the table", err.Code)
			}
			return
		}
		for _, e := range []error{
			func() error { _, err := readInit(c.P); return err }(),
			func() error { _, _, err := readLayout(c.P); return err }(),
			func() error { _, err := readSubtitles(c.P); return err }(),
			func() error { _, err := readMediaChange(c.P); return err }(),
		} {
			if e != nil && codes.Text[codeOf(e)] == "" {
				t.Fatalf("code %d not in the table: %v", codeOf(e), e)
			}
		}
		if _, err := json.Marshal(c.Seq); err != nil {
			t.Fatalf("seq %q does not encode: %v", c.Seq, err)
		}
	})
}
