package media

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"io"

	"github.com/cityops/cityops"
	"golang.org/x/image/draw"
	"golang.org/x/image/webp"
)

// format is one accepted image format. The decoders are called directly
// rather than through image.Decode so that a format registered by some
// other package (GIF, BMP, ...) is never accepted by accident.
type format struct {
	name   string
	magic  func([]byte) bool
	config func(io.Reader) (image.Config, error)
	decode func(io.Reader) (image.Image, error)
}

var formats = []format{
	{"JPEG", func(b []byte) bool { return len(b) >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF }, jpeg.DecodeConfig, jpeg.Decode},
	{"PNG", func(b []byte) bool { return bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")) }, png.DecodeConfig, png.Decode},
	{"WebP", func(b []byte) bool { return len(b) >= 12 && string(b[0:4]) == "RIFF" && string(b[8:12]) == "WEBP" }, webp.DecodeConfig, webp.Decode},
}

// decoded is an upload's pixels and the EXIF orientation to apply to them.
type decoded struct {
	pixels      image.Image
	orientation int
}

// decode sniffs the format from the content, checks the dimensions the
// header claims and only then decodes the pixels, so that a small file
// claiming a huge image is refused before anything big is allocated.
func decode(data []byte, maxPixels int) (decoded, error) {
	var f *format
	for i := range formats {
		if formats[i].magic(data) {
			f = &formats[i]
			break
		}
	}
	if f == nil {
		if len(data) == 0 {
			return decoded{}, cityops.Errorf(cityops.EINVALID, "the photo is empty")
		}
		return decoded{}, cityops.Errorf(cityops.EINVALID, "not a JPEG, PNG or WebP image")
	}
	cfg, err := f.config(bytes.NewReader(data))
	if errors.Is(err, png.UnsupportedError("dimension overflow")) {
		// Go's PNG decoder refuses sizes whose byte count overflows an
		// int before it tells us the size; that is a bomb, not a feature.
		return decoded{}, tooManyPixels(maxPixels)
	}
	if err != nil {
		return decoded{}, damaged(f.name, err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return decoded{}, cityops.Errorf(cityops.EINVALID, "the image has no pixels")
	}
	if int64(cfg.Width)*int64(cfg.Height) > int64(maxPixels) {
		return decoded{}, cityops.Errorf(cityops.ETOOLARGE, "photo is %d×%d pixels; the largest accepted is %s megapixels",
			cfg.Width, cfg.Height, formatMegapixels(maxPixels))
	}
	m, err := f.decode(bytes.NewReader(data))
	if err != nil {
		return decoded{}, damaged(f.name, err)
	}
	if b := m.Bounds(); b.Dx() != cfg.Width || b.Dy() != cfg.Height {
		// The header and the pixel data disagree; trust neither.
		return decoded{}, cityops.Errorf(cityops.EINVALID, "the image is damaged")
	}
	d := decoded{pixels: m, orientation: 1}
	if f.name == "JPEG" {
		d.orientation = jpegOrientation(data)
	}
	return d, nil
}

// damaged turns a decoder error into a message for the citizen. Features
// Go's decoders do not support (arithmetic-coded or 12-bit JPEGs) are not
// damage, and saying so spares the citizen retrying the same file.
func damaged(name string, err error) error {
	var ju jpeg.UnsupportedError
	var pu png.UnsupportedError
	if errors.As(err, &ju) || errors.As(err, &pu) {
		return cityops.Errorf(cityops.EINVALID, "this %s uses a feature that is not supported", name)
	}
	return cityops.Errorf(cityops.EINVALID, "the image is damaged")
}

func tooManyPixels(maxPixels int) error {
	return cityops.Errorf(cityops.ETOOLARGE, "photo has too many pixels; the largest accepted is %s megapixels", formatMegapixels(maxPixels))
}

func formatMegapixels(n int) string {
	return fmt.Sprint(roundTenth(float64(n) / 1e6))
}

// scaler does the final, less-than-2× step of every downscale. It is a
// variable so that the benchmark can compare interpolators. ApproxBiLinear
// needs no scratch memory; CatmullRom is sharper but allocates
// 32 bytes × destination width × source height of scratch, about 245 MB
// for a 12-MP photo.
var scaler draw.Interpolator = draw.ApproxBiLinear

// fitSize returns the size of a w×h image scaled so that its long side is
// at most side, keeping the aspect ratio.
func fitSize(w, h, side int) (int, int) {
	if w <= side && h <= side {
		return w, h
	}
	if w >= h {
		return side, max(1, int((int64(h)*int64(side)+int64(w)/2)/int64(w)))
	}
	return max(1, int((int64(w)*int64(side)+int64(h)/2)/int64(h))), side
}

// fit returns src as an opaque RGBA image whose long side is at most side,
// with transparency flattened onto white. Large reductions first average
// k×k blocks (a box filter, which cannot alias and needs only one row of
// scratch), then the interpolator does the remaining step of less than 2×.
func fit(src image.Image, side int) *image.RGBA {
	b := src.Bounds()
	dw, dh := fitSize(b.Dx(), b.Dy(), side)
	if dw == b.Dx() && dh == b.Dy() {
		if m, ok := src.(*image.RGBA); ok && m.Opaque() {
			return m
		}
		dst := whiteRGBA(dw, dh)
		draw.Draw(dst, dst.Rect, src, b.Min, draw.Over)
		return dst
	}
	if k := min(b.Dx()/dw, b.Dy()/dh); k >= 2 {
		m := shrink(src, k)
		if m.Rect.Dx() == dw && m.Rect.Dy() == dh {
			return m
		}
		src = m
	}
	dst := whiteRGBA(dw, dh)
	scaler.Scale(dst, dst.Rect, src, src.Bounds(), draw.Over, nil)
	return dst
}

// whiteRGBA returns an opaque white image, the background that transparent
// pixels are flattened onto (JPEG has no alpha).
func whiteRGBA(w, h int) *image.RGBA {
	m := image.NewRGBA(image.Rect(0, 0, w, h))
	fillWhite(m.Pix)
	return m
}

func fillWhite(p []byte) {
	if len(p) == 0 {
		return
	}
	p[0] = 0xFF
	for n := 1; n < len(p); n *= 2 {
		copy(p[n:], p[:n])
	}
}

// shrink averages k×k blocks of src into an opaque RGBA image, flattening
// transparency onto white. Source rows are converted one at a time through
// image/draw, which has fast paths for the types the decoders return, so
// no full-size RGBA copy of the upload is ever made.
func shrink(src image.Image, k int) *image.RGBA {
	b := src.Bounds()
	sw, sh := b.Dx(), b.Dy()
	dw, dh := (sw+k-1)/k, (sh+k-1)/k
	dst := image.NewRGBA(image.Rect(0, 0, dw, dh))
	row := image.NewRGBA(image.Rect(0, 0, sw, 1))
	white := make([]byte, len(row.Pix))
	fillWhite(white)
	sums := make([]uint64, 3*dw)
	for dy := 0; dy < dh; dy++ {
		clear(sums)
		y0 := b.Min.Y + dy*k
		y1 := min(y0+k, b.Max.Y)
		for y := y0; y < y1; y++ {
			copy(row.Pix, white)
			draw.Draw(row, row.Rect, src, image.Pt(b.Min.X, y), draw.Over)
			p := row.Pix
			for dx := 0; dx < dw; dx++ {
				x1 := min((dx+1)*k, sw)
				var r, g, bl uint64
				for i := 4 * dx * k; i < 4*x1; i += 4 {
					r += uint64(p[i])
					g += uint64(p[i+1])
					bl += uint64(p[i+2])
				}
				sums[3*dx] += r
				sums[3*dx+1] += g
				sums[3*dx+2] += bl
			}
		}
		out := dst.Pix[dy*dst.Stride:]
		for dx := 0; dx < dw; dx++ {
			n := uint64((y1 - y0) * (min((dx+1)*k, sw) - dx*k))
			out[4*dx] = uint8((sums[3*dx] + n/2) / n)
			out[4*dx+1] = uint8((sums[3*dx+1] + n/2) / n)
			out[4*dx+2] = uint8((sums[3*dx+2] + n/2) / n)
			out[4*dx+3] = 0xFF
		}
	}
	return dst
}

// orient returns src turned as EXIF orientation o (1–8) asks, so that phone
// photos, which are stored sideways with a flag, display upright once the
// flag is gone. Each destination pixel (dx, dy) reads the source pixel at
// byte offset base + dx*stepX + dy*stepY.
func orient(src *image.RGBA, o int) *image.RGBA {
	if o < 2 || o > 8 {
		return src
	}
	w, h := src.Rect.Dx(), src.Rect.Dy()
	dw, dh := w, h
	if o >= 5 {
		dw, dh = h, w
	}
	s := src.Stride
	right := (w - 1) * 4 // offset of the last column
	bottom := (h - 1) * s
	var base, stepX, stepY int
	switch o {
	case 2: // mirrored left to right
		base, stepX, stepY = right, -4, s
	case 3: // upside down
		base, stepX, stepY = bottom+right, -4, -s
	case 4: // mirrored top to bottom
		base, stepX, stepY = bottom, 4, -s
	case 5: // transposed
		base, stepX, stepY = 0, s, 4
	case 6: // needs a quarter turn clockwise
		base, stepX, stepY = bottom, -s, 4
	case 7: // transversed
		base, stepX, stepY = bottom+right, -s, -4
	case 8: // needs a quarter turn anticlockwise
		base, stepX, stepY = right, s, -4
	}
	base += src.PixOffset(src.Rect.Min.X, src.Rect.Min.Y)
	dst := image.NewRGBA(image.Rect(0, 0, dw, dh))
	for dy := 0; dy < dh; dy++ {
		si := base + dy*stepY
		out := dst.Pix[dy*dst.Stride : dy*dst.Stride+4*dw]
		for i := 0; i < len(out); i += 4 {
			copy(out[i:i+4], src.Pix[si:si+4])
			si += stepX
		}
	}
	return dst
}

// encodeJPEG re-encodes m. Go's encoder writes no metadata segments at all,
// which is what strips EXIF, GPS, comments and colour profiles.
func encodeJPEG(m image.Image) ([]byte, error) {
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, m, &jpeg.Options{Quality: jpegQuality}); err != nil {
		return nil, fmt.Errorf("encode photo: %w", err)
	}
	return buf.Bytes(), nil
}
