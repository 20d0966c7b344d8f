package recording

import (
	"math"
	"slices"

	"taskcenter/internal/unitspec"
)

// sourceID names a user's media in a capture spec; it stays the same across spec versions.
func sourceID(userID, mediaID string) string { return userID + "/" + mediaID }

// layoutPlan is what a capture composes: its sources, cells and mixed audio.
type layoutPlan struct {
	Sources []unitspec.Source
	Cells   []unitspec.Cell
	Audio   []string
}

func (p *layoutPlan) addSource(userID string, m media) string {
	id := sourceID(userID, m.MediaID)
	if !slices.ContainsFunc(p.Sources, func(s unitspec.Source) bool { return s.ID == id }) {
		p.Sources = append(p.Sources, unitspec.Source{ID: id, UserID: userID, MediaID: m.MediaID, MediaType: m.MediaType, URL: m.URL})
	}
	return id
}

// manualPlan lays out the client's lists over what the group publishes; an item whose media the
// group does not (yet) have is left out until it appears.
func manualPlan(d recordDoc, g groupDoc) layoutPlan {
	var p layoutPlan
	for _, v := range d.Video {
		m, ok := g.find(v.UserID, v.MediaID, v.MediaType)
		if !ok || m.MediaType == unitspec.MediaAudio {
			continue
		}
		id := p.addSource(v.UserID, m)
		p.Cells = append(p.Cells, unitspec.Cell{Source: id, X: v.X, Y: v.Y, W: v.W, H: v.H, CropMode: v.CropMode})
	}
	for _, a := range d.Audio {
		m, ok := g.find(a.UserID, a.MediaID, unitspec.MediaAudio)
		if !ok && a.MediaID == "" {
			m, ok = g.find(a.UserID, "", unitspec.MediaCamera)
		}
		if !ok {
			continue
		}
		id := p.addSource(a.UserID, m)
		if !slices.Contains(p.Audio, id) {
			p.Audio = append(p.Audio, id)
		}
	}
	return p
}

// videoPreference is the order of media types auto mode picks a user's video from: media_type 2
// (the document's only value) prefers screen share, then camera, then whiteboard; any other value
// prefers the camera.
func videoPreference(mediaType int) []int {
	if mediaType == 2 {
		return []int{unitspec.MediaScreen, unitspec.MediaCamera, unitspec.MediaWhiteboard}
	}
	return []int{unitspec.MediaCamera, unitspec.MediaScreen, unitspec.MediaWhiteboard}
}

// autoPlan lays the group out by itself: type 1 an equal grid of up to media_count videos in the
// order users joined; type 2 the main user (auto.user_id, else the first to join) on the whole
// canvas and the others small over its lower part. Every user's audio is mixed (their audio media,
// else their camera's sound).
func autoPlan(d recordDoc, g groupDoc) (layoutPlan, string) {
	a := d.Auto
	var p layoutPlan
	type pick struct {
		user string
		m    media
	}
	var picks []pick
	for _, u := range g.Users {
		for _, t := range videoPreference(a.MediaType) {
			if m, ok := g.find(u.UserID, "", t); ok {
				picks = append(picks, pick{u.UserID, m})
				break
			}
		}
	}
	main := d.MainUser
	if a.Type == 2 {
		if a.UserID != "" && slices.ContainsFunc(picks, func(k pick) bool { return k.user == a.UserID }) {
			main = a.UserID
		} else if !slices.ContainsFunc(picks, func(k pick) bool { return k.user == main }) {
			main = ""
			if len(picks) > 0 {
				main = picks[0].user
			}
		}
		// The main user first, the others in the order they joined.
		if i := slices.IndexFunc(picks, func(k pick) bool { return k.user == main }); i > 0 {
			m := picks[i]
			picks = slices.Insert(slices.Delete(picks, i, i+1), 0, m)
		}
	}
	if len(picks) > a.MediaCount {
		picks = picks[:a.MediaCount]
	}
	boxes := gridBoxes(d.Width, d.Height, len(picks))
	if a.Type == 2 {
		boxes = mainSmallBoxes(d.Width, d.Height, len(picks))
	}
	for i, k := range picks {
		id := p.addSource(k.user, k.m)
		b := boxes[i]
		p.Cells = append(p.Cells, unitspec.Cell{Source: id, X: b[0], Y: b[1], W: b[2], H: b[3], CropMode: a.CropMode})
	}
	for _, u := range g.Users {
		m, ok := g.find(u.UserID, "", unitspec.MediaAudio)
		if !ok {
			m, ok = g.find(u.UserID, "", unitspec.MediaCamera)
		}
		if ok {
			p.Audio = append(p.Audio, p.addSource(u.UserID, m))
		}
	}
	return p, main
}

// gridBoxes cuts the canvas into n equal cells, as square a grid as fits (cols = ceil(sqrt(n))),
// filled row by row; sizes are even.
func gridBoxes(w, h, n int) [][4]int {
	if n == 0 {
		return nil
	}
	cols := int(math.Ceil(math.Sqrt(float64(n))))
	rows := (n + cols - 1) / cols
	cw, ch := max(2, (w/cols)&^1), max(2, (h/rows)&^1)
	out := make([][4]int, n)
	for i := range out {
		out[i] = [4]int{(i % cols) * cw, (i / cols) * ch, cw, ch}
	}
	return out
}

// mainSmallBoxes gives the first video the whole canvas and the others a quarter of each side,
// four to a row, from the bottom left upwards, over the main one.
func mainSmallBoxes(w, h, n int) [][4]int {
	if n == 0 {
		return nil
	}
	out := [][4]int{{0, 0, w &^ 1, h &^ 1}}
	sw, sh := max(2, (w/4)&^1), max(2, (h/4)&^1)
	for k := 0; k < n-1; k++ {
		out = append(out, [4]int{(k % 4) * sw, h - (k/4+1)*sh, sw, sh})
	}
	return out
}

// captureSpec is the spec of a recording's capture unit at the document's current version.
func (a *API) captureSpec(r recording, plan layoutPlan) unitspec.Recording {
	d := r.Doc
	spec := unitspec.Recording{
		Mode: unitspec.ModeCapture, RecordID: r.id(), Version: d.Version,
		Canvas:   unitspec.Canvas{Width: d.Width, Height: d.Height, FrameRate: d.FrameRate},
		FileType: d.FileType, Paused: d.Paused, Stopped: d.State != stateInit && d.State != stateRecording,
		SegmentSeconds: a.cfg.SegmentSeconds, StallMillis: a.cfg.StallMillis,
		Sources: plan.Sources, Cells: plan.Cells, Audio: plan.Audio, TimeZone: a.cfg.TimeZone,
	}
	for _, s := range d.Subtitles {
		spec.Subtitles = append(spec.Subtitles, unitspec.Subtitle{Type: s.Type, Text: s.Content, X: s.X, Y: s.Y,
			Size: s.Size, Color: s.Color, Transparency: s.Transparency})
	}
	return spec
}

// hasMedia reports whether a plan has anything to record.
func (p layoutPlan) hasMedia() bool { return len(p.Cells) > 0 || len(p.Audio) > 0 }
