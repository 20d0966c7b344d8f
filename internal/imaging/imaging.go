// Package imaging owns the pixel work of the render side: splitting a frame into render borders
// (blocks or strips), stitching the rendered blocks back into one image, thumbnails, and PNG
// encoding/decoding. It works on PNG (and any image.Image); EXR outputs are passed through as files
// because the standard library cannot decode them.
package imaging

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"image/draw"
	"image/png"
	"io"
	"math"
	"os"
	"path/filepath"

	xdraw "golang.org/x/image/draw"
)

// Border is a render border in Blender's convention: fractions of the frame in 0..1, x from the left
// and y from the BOTTOM. It is the "border" field of a blender unit's spec.
type Border struct {
	MinX float64 `json:"min_x"`
	MaxX float64 `json:"max_x"`
	MinY float64 `json:"min_y"`
	MaxY float64 `json:"max_y"`
}

// Validate checks that the border is a non-empty rectangle inside the frame.
func (b Border) Validate() error {
	for _, v := range []float64{b.MinX, b.MaxX, b.MinY, b.MaxY} {
		if math.IsNaN(v) || v < 0 || v > 1 {
			return fmt.Errorf("border %+v: coordinates must be within 0..1", b)
		}
	}
	if b.MinX >= b.MaxX || b.MinY >= b.MaxY {
		return fmt.Errorf("border %+v: min must be below max", b)
	}
	return nil
}

// Full reports whether the border covers the whole frame (no border render needed).
func (b Border) Full() bool {
	return b.MinX <= 0 && b.MinY <= 0 && b.MaxX >= 1 && b.MaxY >= 1
}

// Rect is the pixel rectangle of the border in a width x height frame, in image coordinates (y from
// the top). It reproduces Blender's own arithmetic (float32 product, truncated) so that the size of a
// block Blender renders with use_crop_to_border equals Rect's size; neighbouring borders sharing an
// edge value therefore tile the frame without gaps or overlap.
func (b Border) Rect(width, height int) image.Rectangle {
	px := func(f float64, n int) int {
		return int(float32(float32(f) * float32(n)))
	}
	x0, x1 := px(b.MinX, width), px(b.MaxX, width)
	y0, y1 := px(b.MinY, height), px(b.MaxY, height)
	return image.Rect(x0, height-y1, x1, height-y0)
}

// Split selects how BlockBorders cuts a frame.
type Split string

const (
	// SplitBlock cuts a grid as square as possible (rows of nearly equal column counts).
	SplitBlock Split = "block"
	// SplitStrip cuts horizontal strips, full width.
	SplitStrip Split = "strip"
)

// BlockBorders splits a frame into exactly tiles rectangles, in reading order (top row first, left
// to right). tiles below 1 counts as 1; an unknown kind is treated as SplitBlock. For a block split
// with a tile count that is not a product of near-equal factors, the upper rows get one column more
// (7 tiles: rows of 4 and 3), so every count is served with near-square tiles.
func BlockBorders(tiles int, kind Split) []Border {
	if tiles < 1 {
		tiles = 1
	}
	rows := tiles
	if kind != SplitStrip {
		rows = int(math.Sqrt(float64(tiles)))
	}
	out := make([]Border, 0, tiles)
	for r := range rows {
		cols := tiles / rows
		if r < tiles%rows {
			cols++
		}
		// Row r counted from the top; Blender's y runs from the bottom.
		maxY := frac(rows-r, rows)
		minY := frac(rows-r-1, rows)
		for c := range cols {
			out = append(out, Border{MinX: frac(c, cols), MaxX: frac(c+1, cols), MinY: minY, MaxY: maxY})
		}
	}
	return out
}

// frac is i/n with the ends exact, so outer edges are exactly 0 and 1.
func frac(i, n int) float64 {
	switch i {
	case 0:
		return 0
	case n:
		return 1
	}
	return float64(i) / float64(n)
}

// Block is one rendered piece of a frame and the border it was rendered with.
type Block struct {
	Border Border
	Image  image.Image
}

// Stitch pastes blocks into a width x height RGBA image at the pixel rectangles of their borders.
// A block whose size differs from its rectangle (another renderer's rounding) is pasted at the
// rectangle's top-left corner and clipped to it, so one odd block cannot spill over its neighbours.
// Pixels no block covers stay transparent.
func Stitch(blocks []Block, width, height int) image.Image {
	dst := image.NewRGBA(image.Rect(0, 0, width, height))
	for _, b := range blocks {
		if b.Image == nil {
			continue
		}
		r := b.Border.Rect(width, height).Intersect(dst.Bounds())
		draw.Draw(dst, r, b.Image, b.Image.Bounds().Min, draw.Src)
	}
	return dst
}

// Cut returns the part of img under the border, as its own image with origin (0,0): what Blender
// renders for that border. Tests use it to check Stitch; the server can use it for previews.
func Cut(img image.Image, b Border) image.Image {
	bounds := img.Bounds()
	r := b.RectIn(bounds)
	dst := image.NewRGBA(image.Rect(0, 0, r.Dx(), r.Dy()))
	draw.Draw(dst, dst.Bounds(), img, r.Min, draw.Src)
	return dst
}

// RectIn is Rect for an image whose bounds may not start at (0,0).
func (b Border) RectIn(bounds image.Rectangle) image.Rectangle {
	return b.Rect(bounds.Dx(), bounds.Dy()).Add(bounds.Min)
}

// Thumbnail scales img down so that its longer side is at most maxSide pixels, keeping the aspect
// ratio (each side at least 1 pixel). An image already small enough is returned as is.
func Thumbnail(img image.Image, maxSide int) image.Image {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	if maxSide < 1 || (w <= maxSide && h <= maxSide) || w == 0 || h == 0 {
		return img
	}
	var tw, th int
	if w >= h {
		tw, th = maxSide, max(1, int(math.Round(float64(h)*float64(maxSide)/float64(w))))
	} else {
		tw, th = max(1, int(math.Round(float64(w)*float64(maxSide)/float64(h)))), maxSide
	}
	dst := image.NewRGBA(image.Rect(0, 0, tw, th))
	xdraw.CatmullRom.Scale(dst, dst.Bounds(), img, b, xdraw.Src, nil)
	return dst
}

// EncodePNG writes img as PNG. Default compression: render outputs are already large and the
// encoder's best compression costs several times the CPU for a few percent.
func EncodePNG(w io.Writer, img image.Image) error {
	if err := png.Encode(w, img); err != nil {
		return fmt.Errorf("encode png: %w", err)
	}
	return nil
}

// DecodePNG reads a PNG image.
func DecodePNG(r io.Reader) (image.Image, error) {
	img, err := png.Decode(r)
	if err != nil {
		return nil, fmt.Errorf("decode png: %w", err)
	}
	return img, nil
}

// ReadPNG decodes the PNG file at path.
func ReadPNG(path string) (image.Image, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	img, err := DecodePNG(bufio.NewReader(f))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return img, nil
}

// WritePNG encodes img to path atomically (temporary file, fsync, rename), so a reader never sees
// a half-written image.
func WritePNG(path string, img image.Image) (err error) {
	f, err := os.CreateTemp(filepath.Dir(path), ".png-*")
	if err != nil {
		return fmt.Errorf("write png: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	bw := bufio.NewWriter(f)
	if err = EncodePNG(bw, img); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if err = bw.Flush(); err != nil {
		return fmt.Errorf("write png %s: %w", path, err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("write png %s: %w", path, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("write png %s: %w", path, err)
	}
	if err = os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("write png: %w", err)
	}
	return nil
}

// IsPNG reports whether the file at path starts with the PNG signature.
func IsPNG(path string) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	var sig [8]byte
	if _, err := io.ReadFull(f, sig[:]); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return false, nil
		}
		return false, fmt.Errorf("read %s: %w", path, err)
	}
	return string(sig[:]) == pngSignature, nil
}

const (
	pngSignature = "\x89PNG\r\n\x1a\n"
	exrMagic     = "\x76\x2f\x31\x01"
)

// Size reads the pixel size of a PNG or OpenEXR file from its header, without decoding pixels (EXR
// has no decoder here, but the blender executor still reports the size of what it uploads).
func Size(path string) (width, height int, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	br := bufio.NewReader(f)
	head, err := br.Peek(8)
	if err != nil {
		return 0, 0, fmt.Errorf("%s: read header: %w", path, err)
	}
	switch {
	case string(head) == pngSignature:
		cfg, err := png.DecodeConfig(br)
		if err != nil {
			return 0, 0, fmt.Errorf("%s: %w", path, err)
		}
		return cfg.Width, cfg.Height, nil
	case string(head[:4]) == exrMagic:
		w, h, err := exrSize(br)
		if err != nil {
			return 0, 0, fmt.Errorf("%s: %w", path, err)
		}
		return w, h, nil
	}
	return 0, 0, fmt.Errorf("%s: neither PNG nor OpenEXR", path)
}

// exrSize scans the EXR header attributes (name NUL type NUL int32 size, value) for dataWindow, a
// box2i of four little-endian int32: xMin, yMin, xMax, yMax, inclusive.
func exrSize(r *bufio.Reader) (int, int, error) {
	if _, err := r.Discard(8); err != nil { // magic and version
		return 0, 0, fmt.Errorf("exr header: %w", err)
	}
	for range 1000 { // a header has a few dozen attributes; bound the loop on garbage
		name, err := r.ReadString(0)
		if err != nil {
			return 0, 0, fmt.Errorf("exr header: %w", err)
		}
		if name == "\x00" {
			break // end of header
		}
		if _, err := r.ReadString(0); err != nil { // type name
			return 0, 0, fmt.Errorf("exr header: %w", err)
		}
		var sz [4]byte
		if _, err := io.ReadFull(r, sz[:]); err != nil {
			return 0, 0, fmt.Errorf("exr header: %w", err)
		}
		n := int(int32(binary.LittleEndian.Uint32(sz[:])))
		if n < 0 || n > 1<<24 {
			return 0, 0, fmt.Errorf("exr header: attribute size %d", n)
		}
		if name != "dataWindow\x00" {
			if _, err := r.Discard(n); err != nil {
				return 0, 0, fmt.Errorf("exr header: %w", err)
			}
			continue
		}
		if n != 16 {
			return 0, 0, fmt.Errorf("exr header: dataWindow of %d bytes", n)
		}
		var box [16]byte
		if _, err := io.ReadFull(r, box[:]); err != nil {
			return 0, 0, fmt.Errorf("exr header: %w", err)
		}
		v := func(i int) int { return int(int32(binary.LittleEndian.Uint32(box[4*i:]))) }
		return v(2) - v(0) + 1, v(3) - v(1) + 1, nil
	}
	return 0, 0, errors.New("exr header: no dataWindow")
}
