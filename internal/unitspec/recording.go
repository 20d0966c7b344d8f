package unitspec

import "strconv"

// The recorder executor (capability CapRecorder) runs two kinds of unit, told apart by Mode:
//
//   - ModeCapture: compose a recording's sources live and upload what it records segment by segment,
//     until the spec says Stopped. The spec changes while the unit runs (layout, subtitles, pause,
//     sources): the recorder reads the current spec with the agent protocol's unit-spec call
//     (agentapi.PathUnitSpec) at least every SpecPollMillis and applies a newer Version from the next
//     frame on. A recorder that takes over a capture unit (its last holder died) reads the segments
//     already stored in that call's answer and numbers its own after them, so nothing recorded before
//     is lost and the files show the gap. A capture's progress (the agent protocol's progress call)
//     is not a percentage done but its sources' health: the percentage of the spec's sources that
//     delivered within StallMillis, 0 when none did (or there are none), at least 1 when any did. The
//     recorder reports it whenever it changes; the server's idle timeout reads it.
//   - ModeFinalize: join the captured segments into the files the client downloads, cut into slices
//     of SliceSeconds, keyframe-aligned, uploaded as outputs SliceOutput(n).

// CapRecorder is the capability of recorder units; agents started with --kind recorder advertise it.
const CapRecorder = "recorder"

// Modes of a recorder unit.
const (
	ModeCapture  = "capture"
	ModeFinalize = "finalize"
)

// File types of a recording, as the cloud recording document numbers them.
const (
	FileMP4 = 0 // H.264 + AAC
	FileMP3 = 1 // audio only
)

// Crop modes of a cell, as the document numbers them.
const (
	CropStretch = 1 // scale to the box, ignoring the aspect ratio
	CropFill    = 2 // fill the box keeping the aspect ratio, cropping what overflows
	CropFit     = 3 // fit inside the box keeping the aspect ratio, padding the rest
)

// Media types of a source, as the document numbers them.
const (
	MediaScreen     = 0
	MediaCamera     = 2
	MediaWhiteboard = 3
	MediaAudio      = 4
)

// Subtitle types.
const (
	SubtitleText = 1 // static text
	SubtitleTime = 2 // the wall-clock time of the moment recorded
)

// SpecPollMillis bounds how stale a running capture's view of its spec may be.
const SpecPollMillis = 500

// Recording is the spec of a recorder unit.
type Recording struct {
	Mode     string `json:"mode"`      // ModeCapture or ModeFinalize
	RecordID string `json:"record_id"` // the client's record_id, for logs and file names
	// Version grows with every change of the spec; a capture applies a spec whose Version is newer than
	// the one it runs.
	Version int64 `json:"version"`

	Canvas   Canvas `json:"canvas"`
	FileType int    `json:"file_type"` // FileMP4 or FileMP3

	// Capture.
	Paused  bool `json:"paused,omitempty"`  // record nothing while set
	Stopped bool `json:"stopped,omitempty"` // finish the current segment, upload it and complete
	// SegmentSeconds is the length of the uploaded segments (what a dying recorder may lose).
	SegmentSeconds int `json:"segment_seconds"`
	// StallMillis is how long a source may deliver nothing before its cell shows a placeholder.
	StallMillis int        `json:"stall_millis"`
	Sources     []Source   `json:"sources,omitempty"`
	Cells       []Cell     `json:"cells,omitempty"`
	Audio       []string   `json:"audio,omitempty"` // source ids mixed, none attenuated by their count
	Subtitles   []Subtitle `json:"subtitles,omitempty"`
	TimeZone    string     `json:"time_zone,omitempty"` // of SubtitleTime, an IANA name; UTC when empty

	// Finalize.
	Segments     []Segment `json:"segments,omitempty"`
	SliceSeconds int       `json:"slice_seconds,omitempty"` // file_duration, in seconds
	FileName     string    `json:"file_name,omitempty"`     // the client's file_name, slices are named from it
}

// Canvas is the composed picture.
type Canvas struct {
	Width      int    `json:"width"`
	Height     int    `json:"height"`
	FrameRate  int    `json:"frame_rate"`
	Background string `json:"background,omitempty"` // #rrggbb, black when empty
}

// Source is one media stream of a group's user.
type Source struct {
	ID        string `json:"id"` // unique in the spec; cells and audio name it
	UserID    string `json:"user_id"`
	MediaID   string `json:"media_id"`
	MediaType int    `json:"media_type"`
	URL       string `json:"url"` // rtmp://, rtsp://, srt://, http(s):// (HLS or a file), or a file path
}

// Cell places a source's video on the canvas.
type Cell struct {
	Source   string `json:"source"`
	X        int    `json:"x"`
	Y        int    `json:"y"`
	W        int    `json:"w"`
	H        int    `json:"h"`
	CropMode int    `json:"crop_mode"` // CropStretch, CropFill or CropFit
}

// Subtitle is text drawn over the canvas.
type Subtitle struct {
	Type         int    `json:"type"` // SubtitleText or SubtitleTime
	Text         string `json:"text,omitempty"`
	X            int    `json:"x"`
	Y            int    `json:"y"`
	Size         int    `json:"size"`         // font size in pixels, 1-200
	Color        string `json:"color"`        // #rrggbb
	Transparency int    `json:"transparency"` // 0 invisible .. 100 opaque
}

// Segment is one captured piece, an output of a capture unit.
type Segment struct {
	Hash  string `json:"hash"`  // blob hash
	Index int    `json:"index"` // order; gaps in Start show time that was not captured
	// Start is the wall-clock time of its first frame, Unix milliseconds; Millis its length.
	Start  int64 `json:"start"`
	Millis int64 `json:"millis"`
}

// SegmentOutput names the output of capture segment i ("segment.000042"): zero-padded so that
// names sort in order.
func SegmentOutput(i int) string { return "segment." + pad6(i) }

// SliceOutput names the output of finalized slice n ("slice.000001"), counted from 1.
func SliceOutput(n int) string { return "slice." + pad6(n) }

func pad6(i int) string {
	s := strconv.Itoa(i)
	for len(s) < 6 {
		s = "0" + s
	}
	return s
}

// CaptureResult is the result of a capture unit that saw Stopped.
type CaptureResult struct {
	Segments []Segment `json:"segments"`
	// MediaMillis is what was recorded (pauses excluded); FlowKB what was pulled from the sources.
	MediaMillis int64 `json:"media_millis"`
	FlowKB      int64 `json:"flow_kb"`
}

// FinalizeResult is the result of a finalize unit.
type FinalizeResult struct {
	Slices []Slice `json:"slices"`
}

// Slice is one file the client downloads.
type Slice struct {
	Index  int    `json:"index"` // from 1
	Hash   string `json:"hash"`
	Size   int64  `json:"size"`
	Millis int64  `json:"millis"`
}
