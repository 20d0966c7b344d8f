package recording

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"unicode/utf8"

	"taskcenter/internal/facade"
	"taskcenter/internal/unitspec"
)

// Command ids of the document, and the extensions of this server (docs/compat/recording.md).
const (
	CmdLogin     = 4097
	CmdInit      = 4098
	CmdResume    = 4099
	CmdPause     = 4100
	CmdStop      = 4101
	CmdLayout    = 4102
	CmdSubtitles = 4103
	CmdQuery     = 4104
	// Extensions: a group's media registry over the long connection.
	CmdMedia      = 4105 // a user joins, publishes, unpublishes or leaves
	CmdGroupQuery = 4106 // a group's users and media

	replyOffset = 4096
)

// command is one decoded frame: its id, its seq as sent, and its fields.
type command struct {
	ID  int
	Seq json.RawMessage // echoed as sent: a string, a number, or absent
	P   facade.Params
}

// decodeCommand reads one frame. A frame that is not a JSON object, or whose id is not a number
// (or numeric string), is refused; what the fields mean is the command's to check.
func decodeCommand(frame []byte) (command, *facade.Error) {
	if !utf8.Valid(frame) {
		return command{}, errf(CodeBadFrame, "the frame is not UTF-8 text")
	}
	if t := bytes.TrimSpace(frame); len(t) == 0 || t[0] != '{' {
		return command{}, errf(CodeBadFrame, "")
	}
	m, err := facade.DecodeObject(frame)
	if err != nil || m == nil {
		return command{}, errf(CodeBadFrame, "the frame is not a JSON object")
	}
	c := command{P: facade.Params{JSON: m, Codes: codes}}
	if s, ok := m["seq"]; ok && s != nil {
		switch s.(type) {
		case string, json.Number:
			c.Seq, _ = json.Marshal(s)
		default:
			return c, errf(CodeBadParam, "seq must be text")
		}
	}
	id, perr := c.P.Int("id", true, 0, 1<<30, 0)
	if perr != nil {
		return c, codes.Of(perr)
	}
	c.ID = int(id)
	return c, nil
}

// Ranges of the document.
const (
	maxText = 256
)

// initParams are init's fields, defaults applied and ranges checked.
type initParams struct {
	GroupID      string
	FileName     string
	FileType     int
	FileDuration int // minutes
	Width        int
	Height       int
	RecordMode   int
	FrameRate    int
	Timeout      int // seconds
	Auto         *autoParams
}

type autoParams struct {
	Type       int    `json:"type"`
	UserID     string `json:"user_id,omitempty"`
	MediaType  int    `json:"media_type"`
	MediaCount int    `json:"media_count"`
	CropMode   int    `json:"crop_mode"`
}

func readInit(p facade.Params) (initParams, error) {
	var ip initParams
	var err error
	if ip.GroupID, err = p.Text("group_id", true, maxText); err != nil {
		return ip, err
	}
	if ip.FileName, err = p.Text("file_name", false, maxText); err != nil {
		return ip, err
	}
	if ip.FileName != "" && !validFileName(ip.FileName) {
		return ip, errf(CodeBadParam, "file_name may hold letters, digits, '-', '_' and '.' only, not starting with '.'")
	}
	ints := []struct {
		name          string
		min, max, def int64
		dst           *int
	}{
		{"file_type", 0, 1, 0, &ip.FileType},
		{"file_duration", 15, 300, 60, &ip.FileDuration},
		{"width", 1, 1920, 1920, &ip.Width},
		{"height", 1, 1080, 1080, &ip.Height},
		{"record_mode", 0, 0, 0, &ip.RecordMode},
		{"frame_rate", 1, 30, 30, &ip.FrameRate},
		{"timeout", 5, 1800, 600, &ip.Timeout},
	}
	for _, f := range ints {
		v, err := p.Int(f.name, false, f.min, f.max, f.def)
		if err != nil {
			return ip, err
		}
		*f.dst = int(v)
	}
	// The encoder needs even sizes (4:2:0); the rulings round boxes down to even, the canvas too.
	ip.Width, ip.Height = max(2, ip.Width&^1), max(2, ip.Height&^1)
	if raw, ok := p.Raw("auto"); ok {
		obj, ok := raw.(map[string]any)
		if arr, isArr := raw.([]any); isArr && len(arr) == 1 {
			obj, ok = arr[0].(map[string]any)
		}
		if !ok {
			return ip, errf(CodeBadParam, "auto must be an object")
		}
		if len(obj) > 0 {
			ap, err := readAuto(facade.Params{JSON: obj, Codes: codes})
			if err != nil {
				return ip, err
			}
			ip.Auto = &ap
		}
	}
	return ip, nil
}

func readAuto(p facade.Params) (autoParams, error) {
	var a autoParams
	ints := []struct {
		name          string
		min, max, def int64
		dst           *int
	}{
		{"type", 1, 2, 1, &a.Type},
		{"media_type", 0, 2, 2, &a.MediaType},
		{"media_count", 1, 9, 9, &a.MediaCount},
		{"crop_mode", 1, 3, 1, &a.CropMode},
	}
	for _, f := range ints {
		v, err := p.Int(f.name, false, f.min, f.max, f.def)
		if err != nil {
			return a, prefixed(err, "auto.")
		}
		*f.dst = int(v)
	}
	var err error
	if a.UserID, err = p.Text("user_id", false, maxText); err != nil {
		return a, prefixed(err, "auto.")
	}
	return a, nil
}

// audioItem and videoItem are layout's lists.
type audioItem struct {
	UserID  string `json:"user_id"`
	MediaID string `json:"media_id"`
}

type videoItem struct {
	UserID    string `json:"user_id"`
	MediaID   string `json:"media_id"`
	MediaType int    `json:"media_type"`
	X         int    `json:"x"`
	Y         int    `json:"y"`
	W         int    `json:"w"`
	H         int    `json:"h"`
	CropMode  int    `json:"crop_mode"`
}

// maxListItems bounds every list of a command.
const maxListItems = 32

func readLayout(p facade.Params) (audio []audioItem, video []videoItem, err error) {
	aud, err := objectList(p, "audio_list")
	if err != nil {
		return nil, nil, err
	}
	for i, o := range aud {
		q := facade.Params{JSON: o, Codes: codes}
		var a audioItem
		if a.UserID, err = q.Text("user_id", true, maxText); err != nil {
			return nil, nil, prefixed(err, "audio_list["+strconv.Itoa(i)+"].")
		}
		if a.MediaID, err = q.Text("media_id", false, maxText); err != nil {
			return nil, nil, prefixed(err, "audio_list["+strconv.Itoa(i)+"].")
		}
		if _, err := q.Int("media_type", false, 1, 1, 1); err != nil {
			return nil, nil, prefixed(err, "audio_list["+strconv.Itoa(i)+"].")
		}
		audio = append(audio, a)
	}
	vid, err := objectList(p, "video_list")
	if err != nil {
		return nil, nil, err
	}
	for i, o := range vid {
		q := facade.Params{JSON: o, Codes: codes}
		at := "video_list[" + strconv.Itoa(i) + "]."
		var v videoItem
		if v.UserID, err = q.Text("user_id", true, maxText); err != nil {
			return nil, nil, prefixed(err, at)
		}
		if v.MediaID, err = q.Text("media_id", false, maxText); err != nil {
			return nil, nil, prefixed(err, at)
		}
		ints := []struct {
			name          string
			min, max, def int64
			dst           *int
		}{
			{"media_type", 0, 3, unitspec.MediaCamera, &v.MediaType},
			{"x", 0, 1920, 0, &v.X},
			{"y", 0, 1080, 0, &v.Y},
			{"w", 1, 1920, 320, &v.W},
			{"h", 1, 1080, 240, &v.H},
			{"crop_mode", 1, 3, 1, &v.CropMode},
		}
		for _, f := range ints {
			n, err := q.Int(f.name, false, f.min, f.max, f.def)
			if err != nil {
				return nil, nil, prefixed(err, at)
			}
			*f.dst = int(n)
		}
		if v.MediaType == 1 {
			return nil, nil, errf(CodeBadParam, "%smedia_type 1 is audio: video is 0 screen share, 2 camera or 3 whiteboard", at)
		}
		// Boxes are rounded down to even sizes (rulings), at least 2.
		v.W, v.H = max(2, v.W&^1), max(2, v.H&^1)
		video = append(video, v)
	}
	return audio, video, nil
}

type subtitleItem struct {
	Type         int    `json:"type"`
	Content      string `json:"content,omitempty"`
	Color        string `json:"color"` // #rrggbb
	X            int    `json:"x"`
	Y            int    `json:"y"`
	Transparency int    `json:"transparency"`
	Size         int    `json:"size"`
}

func readSubtitles(p facade.Params) ([]subtitleItem, error) {
	list, err := objectList(p, "subtitle_list")
	if err != nil {
		return nil, err
	}
	var out []subtitleItem
	for i, o := range list {
		q := facade.Params{JSON: o, Codes: codes}
		at := "subtitle_list[" + strconv.Itoa(i) + "]."
		var s subtitleItem
		ints := []struct {
			name          string
			min, max, def int64
			dst           *int
		}{
			{"type", 1, 2, 1, &s.Type},
			{"x", 0, 1920, 0, &s.X},
			{"y", 0, 1080, 0, &s.Y},
			{"transparency", 0, 100, 100, &s.Transparency},
			{"size", 1, 200, 30, &s.Size},
		}
		for _, f := range ints {
			n, err := q.Int(f.name, false, f.min, f.max, f.def)
			if err != nil {
				return nil, prefixed(err, at)
			}
			*f.dst = int(n)
		}
		if s.Content, err = q.Text("content", false, 1000); err != nil {
			return nil, prefixed(err, at)
		}
		raw, _ := q.Raw("color")
		if s.Color, err = readColor(raw); err != nil {
			return nil, prefixed(err, at)
		}
		out = append(out, s)
	}
	return out, nil
}

// readColor reads an RGB integer (0xRRGGBB) or the "#rrggbb" text the document's example writes.
func readColor(v any) (string, error) {
	var n int64
	switch t := v.(type) {
	case nil:
		return "#000000", nil
	case json.Number:
		var err error
		if n, err = strconv.ParseInt(t.String(), 10, 64); err != nil {
			return "", errf(CodeBadParam, "color must be an RGB integer or #rrggbb")
		}
	case string:
		s := strings.TrimSpace(t)
		base := 10
		switch {
		case strings.HasPrefix(s, "#"):
			s, base = s[1:], 16
			if len(s) != 6 {
				return "", errf(CodeBadParam, "color must be an RGB integer or #rrggbb")
			}
		case strings.HasPrefix(strings.ToLower(s), "0x"):
			s, base = s[2:], 16
		}
		var err error
		if n, err = strconv.ParseInt(s, base, 64); err != nil {
			return "", errf(CodeBadParam, "color must be an RGB integer or #rrggbb")
		}
	default:
		return "", errf(CodeBadParam, "color must be an RGB integer or #rrggbb")
	}
	if n < 0 || n > 0xFFFFFF {
		return "", errf(CodeBadParam, "color must be between 0 and 16777215 (0xFFFFFF)")
	}
	return "#" + hex6(n), nil
}

func hex6(n int64) string {
	s := strconv.FormatInt(n, 16)
	return strings.Repeat("0", 6-len(s)) + s
}

// objectList reads a list of objects: a JSON array, or a single object as a list of one (the
// document's examples write lists with braces).
func objectList(p facade.Params, name string) ([]map[string]any, error) {
	raw, ok := p.Raw(name)
	if !ok {
		return nil, nil
	}
	var items []any
	switch t := raw.(type) {
	case []any:
		items = t
	case map[string]any:
		items = []any{t}
	default:
		return nil, errf(CodeBadParam, "%s must be an array of objects", name)
	}
	if len(items) > maxListItems {
		return nil, errf(CodeBadParam, "%s holds at most %d items", name, maxListItems)
	}
	out := make([]map[string]any, len(items))
	for i, it := range items {
		o, ok := it.(map[string]any)
		if !ok {
			return nil, errf(CodeBadParam, "%s[%d] must be an object", name, i)
		}
		out[i] = o
	}
	return out, nil
}

// prefixed names the list an error's field belongs to.
func prefixed(err error, at string) error {
	e := codes.Of(err)
	return &facade.Error{Code: e.Code, Msg: at + e.Msg, Err: e.Err}
}

func validFileName(n string) bool {
	if n == "" || len(n) > 128 || n[0] == '.' {
		return false
	}
	for _, c := range n {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
