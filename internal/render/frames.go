package render

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// maxFrames bounds one task's frame list, so a typo like 1-100000000 is refused, not enqueued.
const maxFrames = 100_000

// ParseFrames reads a frame list: items "start-end[step]", "start-end" or "n" separated by commas
// (OpenCue's "start-endxstep" is accepted too). The result is sorted and without duplicates.
func ParseFrames(s string) ([]int, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, fmt.Errorf("frame list is empty")
	}
	seen := map[int]bool{}
	var out []int
	for item := range strings.SplitSeq(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		start, end, step, err := parseFrameItem(item)
		if err != nil {
			return nil, err
		}
		for f := start; f <= end; f += step {
			if !seen[f] {
				seen[f] = true
				out = append(out, f)
				if len(out) > maxFrames {
					return nil, fmt.Errorf("frame list has more than %d frames", maxFrames)
				}
			}
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("frame list %q names no frame", s)
	}
	slices.Sort(out)
	return out, nil
}

func parseFrameItem(item string) (start, end, step int, err error) {
	step = 1
	body := item
	if i := strings.IndexByte(body, '['); i >= 0 {
		if !strings.HasSuffix(body, "]") {
			return 0, 0, 0, fmt.Errorf("frame item %q: unclosed [step]", item)
		}
		if step, err = strconv.Atoi(body[i+1 : len(body)-1]); err != nil || step < 1 {
			return 0, 0, 0, fmt.Errorf("frame item %q: step must be a positive integer", item)
		}
		body = body[:i]
	} else if i := strings.IndexByte(body, 'x'); i >= 0 {
		if step, err = strconv.Atoi(body[i+1:]); err != nil || step < 1 {
			return 0, 0, 0, fmt.Errorf("frame item %q: step must be a positive integer", item)
		}
		body = body[:i]
	}
	// A leading minus is a negative frame, not a range separator.
	sep := strings.IndexByte(body[min(1, len(body)):], '-')
	if sep < 0 {
		if start, err = strconv.Atoi(body); err != nil {
			return 0, 0, 0, fmt.Errorf("frame item %q is not a frame number", item)
		}
		return start, start, step, nil
	}
	sep++
	if start, err = strconv.Atoi(body[:sep]); err != nil {
		return 0, 0, 0, fmt.Errorf("frame item %q: bad start", item)
	}
	if end, err = strconv.Atoi(body[sep+1:]); err != nil {
		return 0, 0, 0, fmt.Errorf("frame item %q: bad end", item)
	}
	if end < start {
		return 0, 0, 0, fmt.Errorf("frame item %q: end is before start", item)
	}
	if end-start > maxFrames*step {
		return 0, 0, 0, fmt.Errorf("frame item %q has more than %d frames", item, maxFrames)
	}
	return start, end, step, nil
}

// FormatFrames writes frames back as a compact list ("1-10[1]" style, one item per run of a step).
func FormatFrames(frames []int) string {
	if len(frames) == 0 {
		return ""
	}
	var parts []string
	for i := 0; i < len(frames); {
		j := i
		if i+1 < len(frames) {
			step := frames[i+1] - frames[i]
			for j+1 < len(frames) && frames[j+1]-frames[j] == step {
				j++
			}
			if j > i {
				parts = append(parts, fmt.Sprintf("%d-%d[%d]", frames[i], frames[j], step))
				i = j + 1
				continue
			}
		}
		parts = append(parts, strconv.Itoa(frames[i]))
		i++
	}
	return strings.Join(parts, ",")
}

// priorityFrames reads pre_frames: three digits first/middle/last (1 = yes), optionally ":" and a
// custom frame list, e.g. "000:1,3-4[1]" or "100".
func priorityFrames(spec string, frames []int) ([]int, error) {
	spec = strings.TrimSpace(spec)
	if spec == "" || len(frames) == 0 {
		return nil, nil
	}
	flags, custom, _ := strings.Cut(spec, ":")
	if len(flags) != 3 || strings.Trim(flags, "01") != "" {
		return nil, fmt.Errorf("pre_frames %q: want three digits 0/1 (first, middle, last), optionally \":\" and frames", spec)
	}
	set := map[int]bool{}
	if flags[0] == '1' {
		set[frames[0]] = true
	}
	if flags[1] == '1' {
		set[frames[len(frames)/2]] = true
	}
	if flags[2] == '1' {
		set[frames[len(frames)-1]] = true
	}
	if strings.TrimSpace(custom) != "" {
		cf, err := ParseFrames(custom)
		if err != nil {
			return nil, fmt.Errorf("pre_frames: %w", err)
		}
		for _, f := range cf {
			if !slices.Contains(frames, f) {
				return nil, fmt.Errorf("pre_frames: frame %d is not in the task's frames", f)
			}
			set[f] = true
		}
	}
	out := make([]int, 0, len(set))
	for f := range set {
		out = append(out, f)
	}
	slices.Sort(out)
	return out, nil
}
