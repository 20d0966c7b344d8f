package executor

import (
	"fmt"
	"image"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/image/font"
	"golang.org/x/image/font/opentype"
	"golang.org/x/image/font/sfnt"
	"golang.org/x/image/math/fixed"

	"taskcenter/internal/unitspec"
)

// yuv is a colour in BT.601 limited range, what ffmpeg converts RGB sources to by default, so that a
// colour drawn here and the same colour coming from a source look alike.
type yuv struct{ Y, U, V uint8 }

// rgbToYUV converts 8-bit RGB to BT.601 limited-range YUV.
func rgbToYUV(r, g, b uint8) yuv {
	R, G, B := float64(r)/255, float64(g)/255, float64(b)/255
	clamp := func(v float64) uint8 { return uint8(min(255, max(0, v+0.5))) }
	return yuv{
		Y: clamp(16 + 65.481*R + 128.553*G + 24.966*B),
		U: clamp(128 - 37.797*R - 74.203*G + 112.0*B),
		V: clamp(128 + 112.0*R - 93.786*G - 18.214*B),
	}
}

// hex writes the colour in ffmpeg's 0xRRGGBB syntax (fit mode's padding).
func (c yuv) hex() string {
	// Invert the BT.601 limited-range conversion.
	y, u, v := float64(c.Y)-16, float64(c.U)-128, float64(c.V)-128
	clamp := func(x float64) int { return int(min(255, max(0, x+0.5))) }
	r := clamp(1.164*y + 1.596*v)
	g := clamp(1.164*y - 0.392*u - 0.813*v)
	b := clamp(1.164*y + 2.017*u)
	return fmt.Sprintf("0x%02x%02x%02x", r, g, b)
}

// parseColor reads #rrggbb (or rrggbb); empty is the fallback.
func parseColor(s string, fallback yuv) (yuv, error) {
	s = strings.TrimPrefix(strings.TrimSpace(s), "#")
	if s == "" {
		return fallback, nil
	}
	if len(s) != 6 {
		return fallback, fmt.Errorf("colour %q is not #rrggbb", s)
	}
	v, err := strconv.ParseUint(s, 16, 32)
	if err != nil {
		return fallback, fmt.Errorf("colour %q is not #rrggbb", s)
	}
	return rgbToYUV(uint8(v>>16), uint8(v>>8), uint8(v)), nil
}

var (
	black = yuv{16, 128, 128}
	// placeholderColor fills the cell of a source that delivers nothing: a dark grey, distinct from
	// black video and from the default background.
	placeholderColor = rgbToYUV(0x40, 0x40, 0x40)
)

// frameBuf is one yuv420p picture.
type frameBuf struct {
	w, h int
	pix  []byte // Y plane, then U, then V
}

func newFrame(w, h int) *frameBuf { return &frameBuf{w: w, h: h, pix: make([]byte, w*h*3/2)} }

func (f *frameBuf) planes() (y, u, v []byte) {
	ys := f.w * f.h
	cs := ys / 4
	return f.pix[:ys], f.pix[ys : ys+cs], f.pix[ys+cs:]
}

// fillRect paints the rectangle (even coordinates) with c.
func (f *frameBuf) fillRect(r image.Rectangle, c yuv) {
	r = r.Intersect(image.Rect(0, 0, f.w, f.h))
	if r.Empty() {
		return
	}
	y, u, v := f.planes()
	for row := r.Min.Y; row < r.Max.Y; row++ {
		line := y[row*f.w+r.Min.X : row*f.w+r.Max.X]
		for i := range line {
			line[i] = c.Y
		}
	}
	cw := f.w / 2
	for row := r.Min.Y / 2; row < r.Max.Y/2; row++ {
		lu := u[row*cw+r.Min.X/2 : row*cw+r.Max.X/2]
		lv := v[row*cw+r.Min.X/2 : row*cw+r.Max.X/2]
		for i := range lu {
			lu[i], lv[i] = c.U, c.V
		}
	}
}

// blit copies a w x h yuv420p picture with its top-left corner at (x, y) (even), clipped to the frame.
func (f *frameBuf) blit(src []byte, w, h, x, y int) {
	dst := image.Rect(x, y, x+w, y+h).Intersect(image.Rect(0, 0, f.w, f.h))
	if dst.Empty() || len(src) < w*h*3/2 {
		return
	}
	fy, fu, fv := f.planes()
	sy, su, sv := src[:w*h], src[w*h:w*h+w*h/4], src[w*h+w*h/4:]
	for row := dst.Min.Y; row < dst.Max.Y; row++ {
		s := (row-y)*w + (dst.Min.X - x)
		copy(fy[row*f.w+dst.Min.X:row*f.w+dst.Max.X], sy[s:s+dst.Dx()])
	}
	cw, scw := f.w/2, w/2
	for row := dst.Min.Y / 2; row < dst.Max.Y/2; row++ {
		s := (row-y/2)*scw + (dst.Min.X-x)/2
		d := row*cw + dst.Min.X/2
		n := dst.Dx() / 2
		copy(fu[d:d+n], su[s:s+n])
		copy(fv[d:d+n], sv[s:s+n])
	}
}

// blitScaled draws a sw x sh yuv420p picture into the w x h box at (x, y), by nearest neighbour:
// only for the moments a source is shown at a size its process does not make (a second cell of
// it, or the old size while a new one starts), so speed matters more than quality.
func (f *frameBuf) blitScaled(src []byte, sw, sh, x, y, w, h int) {
	dst := image.Rect(x, y, x+w, y+h).Intersect(image.Rect(0, 0, f.w, f.h))
	if dst.Empty() || len(src) < sw*sh*3/2 || sw < 2 || sh < 2 {
		return
	}
	fy, fu, fv := f.planes()
	sy, su, sv := src[:sw*sh], src[sw*sh:sw*sh+sw*sh/4], src[sw*sh+sw*sh/4:]
	for row := dst.Min.Y; row < dst.Max.Y; row++ {
		srow := (row - y) * sh / h
		for col := dst.Min.X; col < dst.Max.X; col++ {
			fy[row*f.w+col] = sy[srow*sw+(col-x)*sw/w]
		}
	}
	cw, scw, csh, ch, cwb := f.w/2, sw/2, sh/2, h/2, w/2
	for row := dst.Min.Y / 2; row < dst.Max.Y/2; row++ {
		srow := (row - y/2) * csh / ch
		for col := dst.Min.X / 2; col < dst.Max.X/2; col++ {
			si := srow*scw + (col-x/2)*scw/cwb
			fu[row*cw+col], fv[row*cw+col] = su[si], sv[si]
		}
	}
}

// blend draws colour c through the alpha mask m at (x, y) with opacity (0..1).
func (f *frameBuf) blend(m *image.Alpha, x, y int, c yuv, opacity float64) {
	if m == nil || opacity <= 0 {
		return
	}
	b := m.Bounds()
	dst := image.Rect(x, y, x+b.Dx(), y+b.Dy()).Intersect(image.Rect(0, 0, f.w, f.h))
	if dst.Empty() {
		return
	}
	op := int(opacity*256 + 0.5)
	fy, fu, fv := f.planes()
	mix := func(dst *byte, to uint8, a int) { *dst = uint8((int(*dst)*(256-a) + int(to)*a) >> 8) }
	for row := dst.Min.Y; row < dst.Max.Y; row++ {
		for col := dst.Min.X; col < dst.Max.X; col++ {
			a := int(m.Pix[(row-y)*m.Stride+(col-x)]) * op / 255
			if a == 0 {
				continue
			}
			mix(&fy[row*f.w+col], c.Y, a)
			if row%2 == 0 && col%2 == 0 {
				ci := (row/2)*(f.w/2) + col/2
				mix(&fu[ci], c.U, a)
				mix(&fv[ci], c.V, a)
			}
		}
	}
}

// fontCache loads the subtitle font once per recorder and keeps a face per size.
type fontCache struct {
	path string

	once  sync.Once
	font  *sfnt.Font
	err   error
	mu    sync.Mutex
	faces map[int]font.Face
}

// DefaultFontPath is a CJK font (Debian's fonts-noto-cjk): subtitles may be Chinese.
const DefaultFontPath = "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"

func (fc *fontCache) load() (*sfnt.Font, error) {
	fc.once.Do(func() {
		data, err := os.ReadFile(fc.path)
		if err != nil {
			fc.err = fmt.Errorf("subtitle font: %w", err)
			return
		}
		coll, err := opentype.ParseCollection(data)
		if err != nil {
			fc.err = fmt.Errorf("subtitle font %s: %w", fc.path, err)
			return
		}
		// A collection holds one face per language; prefer Simplified Chinese.
		for i := range coll.NumFonts() {
			f, err := coll.Font(i)
			if err != nil {
				continue
			}
			if fc.font == nil {
				fc.font = f
			}
			if name, err := f.Name(nil, sfnt.NameIDFamily); err == nil && strings.HasSuffix(name, " SC") {
				fc.font = f
				break
			}
		}
		if fc.font == nil {
			fc.err = fmt.Errorf("subtitle font %s: no usable face", fc.path)
		}
	})
	return fc.font, fc.err
}

func (fc *fontCache) face(size int) (font.Face, error) {
	f, err := fc.load()
	if err != nil {
		return nil, err
	}
	fc.mu.Lock()
	defer fc.mu.Unlock()
	if face := fc.faces[size]; face != nil {
		return face, nil
	}
	face, err := opentype.NewFace(f, &opentype.FaceOptions{Size: float64(size), DPI: 72, Hinting: font.HintingFull})
	if err != nil {
		return nil, fmt.Errorf("subtitle face of size %d: %w", size, err)
	}
	if fc.faces == nil {
		fc.faces = map[int]font.Face{}
	}
	fc.faces[size] = face
	return face, nil
}

// renderText draws text into an alpha mask whose top-left corner is the text box's.
func renderText(face font.Face, text string) *image.Alpha {
	m := face.Metrics()
	width := font.MeasureString(face, text).Ceil()
	height := (m.Ascent + m.Descent).Ceil()
	if width <= 0 || height <= 0 {
		return nil
	}
	img := image.NewAlpha(image.Rect(0, 0, width, height))
	d := font.Drawer{Dst: img, Src: image.Opaque, Face: face, Dot: fixed.Point26_6{X: 0, Y: m.Ascent}}
	d.DrawString(text)
	return img
}

// subtitleLayer is one subtitle ready to blend; a time subtitle re-renders its mask when the
// displayed second changes.
type subtitleLayer struct {
	spec    unitspec.Subtitle
	color   yuv
	face    font.Face
	loc     *time.Location
	text    string
	mask    *image.Alpha
	opacity float64
}

// timeLayout is how a time subtitle shows the moment recorded.
const timeLayout = "2006-01-02 15:04:05"

// timeText is the text of a time subtitle for the frame recorded at t.
func timeText(t time.Time, loc *time.Location) string { return t.In(loc).Format(timeLayout) }

// draw blends the subtitle onto a frame recorded at t.
func (s *subtitleLayer) draw(f *frameBuf, t time.Time) {
	text := s.spec.Text
	if s.spec.Type == unitspec.SubtitleTime {
		text = timeText(t, s.loc)
	}
	if text != s.text || s.mask == nil {
		s.text = text
		s.mask = renderText(s.face, text)
	}
	f.blend(s.mask, s.spec.X, s.spec.Y, s.color, s.opacity)
}
