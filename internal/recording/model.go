package recording

import (
	"encoding/json"
	"strconv"

	"taskcenter/internal/store"
	"taskcenter/internal/unitspec"
)

// Kind is the engine job kind of a recording.
const Kind = "recording"

// Units of a recording job, by index.
const (
	captureIndex  = 0
	finalizeIndex = 1
)

// Record statuses of the document.
const (
	StatusInit      = 1
	StatusRecording = 2
	StatusQueued    = 3 // stopped, queued for encoding
	StatusEncoding  = 4
	StatusUploading = 5
	StatusComplete  = 6
	StatusFailed    = -1
)

// States of recordDoc.
const (
	stateInit       = "init"       // waiting for the first layout (manual) or for media (auto)
	stateRecording  = "recording"  // the capture is released
	stateStopping   = "stopping"   // Stopped is set; the capture is finishing its last segment
	stateFinalizing = "finalizing" // the finalize is released
	stateDone       = "done"
	stateFailed     = "failed"
)

// recordDoc is the facade's view of a recording, kept as its job's Spec.
type recordDoc struct {
	AppID        string      `json:"app_id"`
	GroupID      string      `json:"group_id"`
	FileName     string      `json:"file_name"`
	FileType     int         `json:"file_type"`
	FileDuration int         `json:"file_duration"` // minutes
	Width        int         `json:"width"`
	Height       int         `json:"height"`
	RecordMode   int         `json:"record_mode"`
	FrameRate    int         `json:"frame_rate"`
	Timeout      int         `json:"timeout"` // seconds
	Auto         *autoParams `json:"auto,omitempty"`

	State   string `json:"state"`
	Reason  string `json:"reason,omitempty"` // why it stopped by itself or failed
	Paused  bool   `json:"paused,omitempty"`
	Version int64  `json:"version"` // of the capture spec

	Audio     []audioItem    `json:"audio,omitempty"` // manual layout
	Video     []videoItem    `json:"video,omitempty"`
	Subtitles []subtitleItem `json:"subtitles,omitempty"`
	// MainUser is auto type 2's main user once chosen.
	MainUser string `json:"main_user,omitempty"`

	CreatedAt   int64 `json:"created_at"` // Unix ms
	StartedAt   int64 `json:"started_at,omitempty"`
	StoppedAt   int64 `json:"stopped_at,omitempty"`
	PausedAt    int64 `json:"paused_at,omitempty"`    // when the current pause began
	PausedMs    int64 `json:"paused_ms,omitempty"`    // paused time before the current pause
	LastCommand int64 `json:"last_command,omitempty"` // for the idle timeout
	LastLive    int64 `json:"last_live,omitempty"`    // last time a source of the layout was in the registry
	HadMedia    bool  `json:"had_media,omitempty"`    // the layout had a source at the last refresh
	// SilentSince is when the leader service first saw the recording with no source delivering
	// (none in the registry, or the running capture's recorder reporting none), 0 while one does.
	SilentSince int64 `json:"silent_since,omitempty"`

	MediaMillis int64            `json:"media_millis,omitempty"`
	FlowKB      int64            `json:"flow_kb,omitempty"`
	Slices      []unitspec.Slice `json:"slices,omitempty"`
	Bytes       int64            `json:"bytes,omitempty"` // the slices' total size
	Charged     bool             `json:"charged,omitempty"`
}

// recording is a recording job with its document decoded.
type recording struct {
	Job store.Job
	Doc recordDoc
}

func (r recording) id() string { return strconv.FormatInt(r.Job.ID, 10) }

func decodeRecording(j store.Job) (recording, error) {
	var d recordDoc
	if err := json.Unmarshal(j.Spec, &d); err != nil {
		return recording{}, err
	}
	return recording{Job: j, Doc: d}, nil
}

// pausedMillis is the paused time up to now.
func (d *recordDoc) pausedMillis(now int64) int64 {
	p := d.PausedMs
	if d.Paused && d.PausedAt > 0 {
		p += now - d.PausedAt
	}
	return p
}

// statusOf maps a recording's state (and, while it finalizes, its finalize unit) onto the
// document's record status.
func statusOf(d recordDoc, finalize *store.Unit) int {
	switch d.State {
	case stateInit:
		return StatusInit
	case stateRecording:
		return StatusRecording
	case stateStopping:
		return StatusQueued
	case stateFinalizing:
		if finalize == nil {
			return StatusQueued
		}
		switch finalize.Status {
		case store.UnitRunning:
			if len(finalize.Outputs) > 2 { // slices are being uploaded
				return StatusUploading
			}
			return StatusEncoding
		case store.UnitDone:
			return StatusUploading // done, not yet folded into the document
		case store.UnitFailed, store.UnitTimedOut, store.UnitCancelled:
			return StatusFailed
		}
		return StatusQueued
	case stateDone:
		return StatusComplete
	}
	return StatusFailed
}
