package imaging

import (
	"bytes"
	"image"
	"image/color"
	"os"
	"path/filepath"
	"testing"
)

// pattern is an image where every pixel differs from its neighbours, so a misplaced block shows.
func pattern(w, h int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.SetRGBA(x, y, color.RGBA{R: uint8(x * 7), G: uint8(y * 13), B: uint8(x ^ y), A: 255})
		}
	}
	return img
}

func TestBlockBorders(t *testing.T) {
	tests := []struct {
		tiles    int
		kind     Split
		wantRows []int // tiles per row, top first
	}{
		{1, SplitBlock, []int{1}},
		{2, SplitBlock, []int{2}},
		{4, SplitBlock, []int{2, 2}},
		{5, SplitBlock, []int{3, 2}},
		{6, SplitBlock, []int{3, 3}},
		{7, SplitBlock, []int{4, 3}},
		{9, SplitBlock, []int{3, 3, 3}},
		{12, SplitBlock, []int{4, 4, 4}},
		{16, SplitBlock, []int{4, 4, 4, 4}},
		{3, SplitStrip, []int{1, 1, 1}},
		{0, SplitStrip, []int{1}},
		{4, "unknown", []int{2, 2}},
	}
	for _, tt := range tests {
		got := BlockBorders(tt.tiles, tt.kind)
		want := 0
		for _, n := range tt.wantRows {
			want += n
		}
		if len(got) != want {
			t.Errorf("BlockBorders(%d, %q): %d borders, want %d", tt.tiles, tt.kind, len(got), want)
			continue
		}
		i := 0
		for r, n := range tt.wantRows {
			for c := range n {
				b := got[i]
				if err := b.Validate(); err != nil {
					t.Errorf("BlockBorders(%d, %q)[%d]: %v", tt.tiles, tt.kind, i, err)
				}
				// Top row first: the first border touches y=1 (Blender's y is from the bottom).
				if r == 0 && b.MaxY != 1 || r == len(tt.wantRows)-1 && b.MinY != 0 {
					t.Errorf("BlockBorders(%d, %q)[%d] = %+v: row %d has wrong y", tt.tiles, tt.kind, i, b, r)
				}
				if c == 0 && b.MinX != 0 || c == n-1 && b.MaxX != 1 {
					t.Errorf("BlockBorders(%d, %q)[%d] = %+v: column %d has wrong x", tt.tiles, tt.kind, i, b, c)
				}
				i++
			}
		}
	}
}

func TestBorderRect(t *testing.T) {
	// Sizes measured with Blender 3.4 (use_crop_to_border) for these borders.
	tests := []struct {
		w, h int
		b    Border
		want image.Rectangle
	}{
		{160, 120, Border{0, 1, 0, 1}, image.Rect(0, 0, 160, 120)},
		{160, 120, Border{0.5, 1, 0, 0.5}, image.Rect(80, 60, 160, 120)},
		{161, 121, Border{0.5, 1, 0.5, 1}, image.Rect(80, 0, 161, 61)},
		{161, 121, Border{0, 0.5, 0, 0.5}, image.Rect(0, 61, 80, 121)},
		{160, 120, Border{0.3333333333, 0.6666666667, 0.1, 0.3}, image.Rect(53, 84, 106, 108)},
		{160, 120, Border{0, 0.6667, 0, 0.6667}, image.Rect(0, 40, 106, 120)},
		{160, 120, Border{0.6667, 1, 0.6667, 1}, image.Rect(106, 0, 160, 40)},
		// float32 arithmetic: 1/3 of 150 is 50, not 49.
		{150, 150, Border{1.0 / 3, 2.0 / 3, 0, 1}, image.Rect(50, 0, 100, 150)},
	}
	for _, tt := range tests {
		if got := tt.b.Rect(tt.w, tt.h); got != tt.want {
			t.Errorf("%+v.Rect(%d, %d) = %v, want %v", tt.b, tt.w, tt.h, got, tt.want)
		}
	}
}

func TestStitchReproducesImage(t *testing.T) {
	tests := []struct {
		name  string
		w, h  int
		tiles int
		kind  Split
	}{
		{"4 blocks", 160, 120, 4, SplitBlock},
		{"4 blocks odd size", 161, 121, 4, SplitBlock},
		{"7 blocks", 97, 53, 7, SplitBlock},
		{"3 strips", 160, 120, 3, SplitStrip},
		{"16 blocks", 150, 150, 16, SplitBlock},
		{"1 block", 20, 10, 1, SplitBlock},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := pattern(tt.w, tt.h)
			var blocks []Block
			covered := 0
			for _, b := range BlockBorders(tt.tiles, tt.kind) {
				cut := Cut(src, b)
				covered += cut.Bounds().Dx() * cut.Bounds().Dy()
				blocks = append(blocks, Block{Border: b, Image: cut})
			}
			if covered != tt.w*tt.h {
				t.Fatalf("blocks cover %d pixels, frame has %d", covered, tt.w*tt.h)
			}
			got := Stitch(blocks, tt.w, tt.h).(*image.RGBA)
			if !bytes.Equal(got.Pix, src.Pix) {
				t.Fatal("stitched image differs from the source")
			}
		})
	}
}

func TestStitchClipsOversizedBlock(t *testing.T) {
	big := pattern(100, 100)
	b := Border{0, 0.5, 0.5, 1} // top-left quarter of 40x40 is 20x20
	got := Stitch([]Block{{Border: b, Image: big}}, 40, 40).(*image.RGBA)
	if got.RGBAAt(19, 19) != big.RGBAAt(19, 19) {
		t.Error("block not pasted at its rectangle")
	}
	if got.RGBAAt(20, 20).A != 0 || got.RGBAAt(25, 5).A != 0 {
		t.Error("oversized block spilled outside its rectangle")
	}
}

func TestThumbnail(t *testing.T) {
	tests := []struct {
		w, h, max    int
		wantW, wantH int
	}{
		{160, 120, 64, 64, 48},
		{120, 160, 64, 48, 64},
		{1000, 10, 100, 100, 1},
		{50, 40, 64, 50, 40}, // already small: unchanged
		{64, 64, 64, 64, 64},
	}
	for _, tt := range tests {
		got := Thumbnail(pattern(tt.w, tt.h), tt.max).Bounds()
		if got.Dx() != tt.wantW || got.Dy() != tt.wantH {
			t.Errorf("Thumbnail(%dx%d, %d) = %dx%d, want %dx%d", tt.w, tt.h, tt.max, got.Dx(), got.Dy(), tt.wantW, tt.wantH)
		}
	}
}

func TestPNGRoundTrip(t *testing.T) {
	src := pattern(33, 17)
	path := filepath.Join(t.TempDir(), "a.png")
	if err := WritePNG(path, src); err != nil {
		t.Fatal(err)
	}
	if ok, err := IsPNG(path); err != nil || !ok {
		t.Fatalf("IsPNG = %v, %v", ok, err)
	}
	w, h, err := Size(path)
	if err != nil || w != 33 || h != 17 {
		t.Fatalf("Size = %d, %d, %v", w, h, err)
	}
	img, err := ReadPNG(path)
	if err != nil {
		t.Fatal(err)
	}
	got := image.NewRGBA(img.Bounds())
	for y := range 17 {
		for x := range 33 {
			got.Set(x, y, img.At(x, y))
		}
	}
	if !bytes.Equal(got.Pix, src.Pix) {
		t.Fatal("PNG round trip changed pixels")
	}
}

func TestSizeEXR(t *testing.T) {
	// A minimal EXR header: magic, version, one unrelated attribute, dataWindow, end of header.
	var b bytes.Buffer
	b.WriteString(exrMagic)
	b.Write([]byte{2, 0, 0, 0})
	attr := func(name, typ string, val []byte) {
		b.WriteString(name + "\x00" + typ + "\x00")
		b.Write([]byte{byte(len(val)), 0, 0, 0})
		b.Write(val)
	}
	attr("compression", "compression", []byte{3})
	attr("dataWindow", "box2i", []byte{0, 0, 0, 0, 0, 0, 0, 0, 159, 0, 0, 0, 119, 0, 0, 0})
	b.WriteByte(0)
	path := filepath.Join(t.TempDir(), "a.exr")
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	w, h, err := Size(path)
	if err != nil || w != 160 || h != 120 {
		t.Fatalf("Size = %d, %d, %v; want 160, 120", w, h, err)
	}
}
