package media

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/cityops/cityops"
	"golang.org/x/image/draw"
)

// Colours of the four quadrants of quadrants(); far apart so that JPEG
// artefacts never confuse them.
var (
	red    = color.RGBA{255, 0, 0, 255}
	green  = color.RGBA{0, 255, 0, 255}
	blue   = color.RGBA{0, 0, 255, 255}
	yellow = color.RGBA{255, 255, 0, 255}
)

// quadrants returns a w×h image: red top left, green top right, blue
// bottom left, yellow bottom right.
func quadrants(w, h int) *image.RGBA {
	m := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			c := red
			switch {
			case x >= w/2 && y < h/2:
				c = green
			case x < w/2 && y >= h/2:
				c = blue
			case x >= w/2 && y >= h/2:
				c = yellow
			}
			m.SetRGBA(x, y, c)
		}
	}
	return m
}

func encodeJPEGTest(t testing.TB, m image.Image) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, m, &jpeg.Options{Quality: 95}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func encodePNGTest(t testing.TB, m image.Image) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, m); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// bitWriter writes the least-significant-bit-first bit stream of VP8L.
type bitWriter struct {
	buf  []byte
	acc  uint64
	nacc uint
}

func (w *bitWriter) write(v uint64, n uint) {
	w.acc |= v << w.nacc
	w.nacc += n
	for w.nacc >= 8 {
		w.buf = append(w.buf, byte(w.acc))
		w.acc >>= 8
		w.nacc -= 8
	}
}

func (w *bitWriter) bytes() []byte {
	if w.nacc > 0 {
		w.buf = append(w.buf, byte(w.acc))
		w.acc, w.nacc = 0, 0
	}
	return w.buf
}

// webpSolid builds a lossless WebP of one colour by hand: no transforms,
// no colour cache and one single-symbol prefix code per channel, so that
// every pixel takes zero bits. There is no WebP encoder in Go to use.
func webpSolid(w, h int, c color.NRGBA) []byte {
	var bw bitWriter
	bw.write(0x2f, 8) // VP8L signature
	bw.write(uint64(w-1), 14)
	bw.write(uint64(h-1), 14)
	bw.write(1, 1) // alpha is used
	bw.write(0, 3) // version
	bw.write(0, 1) // no transform
	bw.write(0, 1) // no colour cache
	bw.write(0, 1) // no meta prefix codes
	for _, sym := range []uint8{c.G, c.R, c.B, c.A} {
		bw.write(1, 1) // simple code
		bw.write(0, 1) // one symbol
		bw.write(1, 1) // eight-bit symbol
		bw.write(uint64(sym), 8)
	}
	bw.write(1, 1) // distance: simple code
	bw.write(0, 1) // one symbol
	bw.write(0, 1) // one-bit symbol
	bw.write(0, 1) // symbol 0
	data := bw.bytes()
	if len(data)%2 == 1 {
		data = append(data, 0)
	}
	out := []byte("RIFF")
	out = binary.LittleEndian.AppendUint32(out, uint32(4+8+len(data)))
	out = append(out, "WEBPVP8L"...)
	out = binary.LittleEndian.AppendUint32(out, uint32(len(data)))
	return append(out, data...)
}

// pngChunk encodes one PNG chunk with a correct CRC.
func pngChunk(typ string, data []byte) []byte {
	out := binary.BigEndian.AppendUint32(nil, uint32(len(data)))
	out = append(out, typ...)
	out = append(out, data...)
	return binary.BigEndian.AppendUint32(out, crc32.ChecksumIEEE(out[4:]))
}

// pngClaiming is a tiny PNG whose header claims a w×h RGBA image.
func pngClaiming(w, h uint32) []byte {
	ihdr := binary.BigEndian.AppendUint32(nil, w)
	ihdr = binary.BigEndian.AppendUint32(ihdr, h)
	ihdr = append(ihdr, 8, 6, 0, 0, 0) // 8-bit RGBA, no interlace
	out := []byte("\x89PNG\r\n\x1a\n")
	out = append(out, pngChunk("IHDR", ihdr)...)
	// A valid zlib stream of a few zero bytes.
	out = append(out, pngChunk("IDAT", []byte{0x78, 0x9c, 0x63, 0x60, 0x00, 0x00, 0x00, 0x02, 0x00, 0x01})...)
	return append(out, pngChunk("IEND", nil)...)
}

// jpegClaiming patches the frame header of a real JPEG to claim w×h.
func jpegClaiming(t testing.TB, w, h uint16) []byte {
	t.Helper()
	b := bytes.Clone(encodeJPEGTest(t, quadrants(16, 16)))
	i := bytes.Index(b, []byte{0xFF, 0xC0})
	if i < 0 {
		t.Fatal("no SOF0 in generated JPEG")
	}
	binary.BigEndian.PutUint16(b[i+5:], h)
	binary.BigEndian.PutUint16(b[i+7:], w)
	return b
}

// Huế, to find in the output if the GPS position leaked.
var gpsLatitude = []uint32{16, 1, 27, 1, 4512, 100}

// byteOrder is what binary.LittleEndian and binary.BigEndian both are.
type byteOrder interface {
	binary.ByteOrder
	binary.AppendByteOrder
}

// exifTIFF builds the TIFF part of an Exif segment: IFD0 with the
// orientation and a pointer to a GPS IFD holding a position.
func exifTIFF(bo byteOrder, orientation uint16) []byte {
	var t []byte
	if bo == byteOrder(binary.LittleEndian) {
		t = []byte("II*\x00")
	} else {
		t = []byte("MM\x00*")
	}
	t = bo.AppendUint32(t, 8)
	entry := func(tag, typ uint16, count uint32, value []byte) {
		t = bo.AppendUint16(t, tag)
		t = bo.AppendUint16(t, typ)
		t = bo.AppendUint32(t, count)
		t = append(t, value...)
		t = append(t, make([]byte, 4-len(value))...)
	}
	const gpsIFD = 8 + 2 + 2*12 + 4 // 38
	const latData = gpsIFD + 2 + 4*12 + 4
	const lonData = latData + 24
	t = bo.AppendUint16(t, 2)
	entry(0x0112, 3, 1, bo.AppendUint16(nil, orientation))
	entry(0x8825, 4, 1, bo.AppendUint32(nil, gpsIFD))
	t = bo.AppendUint32(t, 0)
	t = bo.AppendUint16(t, 4)
	entry(0x0001, 2, 2, []byte("N\x00"))
	entry(0x0002, 5, 3, bo.AppendUint32(nil, latData))
	entry(0x0003, 2, 2, []byte("E\x00"))
	entry(0x0004, 5, 3, bo.AppendUint32(nil, lonData))
	t = bo.AppendUint32(t, 0)
	for _, v := range gpsLatitude {
		t = bo.AppendUint32(t, v)
	}
	for _, v := range []uint32{107, 1, 35, 1, 2040, 100} {
		t = bo.AppendUint32(t, v)
	}
	return t
}

func segment(marker byte, payload []byte) []byte {
	out := []byte{0xFF, marker}
	out = binary.BigEndian.AppendUint16(out, uint16(len(payload)+2))
	return append(out, payload...)
}

// withMetadata puts the segments a phone or editor would write after the
// SOI of j: JFIF, XMP (an APP1 that is not Exif), a comment, then Exif.
func withMetadata(j, tiff []byte) []byte {
	out := []byte{0xFF, 0xD8}
	out = append(out, segment(0xE0, []byte("JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"))...)
	out = append(out, segment(0xE1, []byte("http://ns.adobe.com/xap/1.0/\x00<x:xmpmeta/>"))...)
	out = append(out, segment(0xFE, []byte("secret comment"))...)
	out = append(out, segment(0xE1, append([]byte("Exif\x00\x00"), tiff...))...)
	return append(out, j[2:]...)
}

// markers lists the markers of a JPEG up to the start of scan.
func markers(t *testing.T, b []byte) []byte {
	t.Helper()
	var ms []byte
	for i := 2; i+4 <= len(b); {
		if b[i] != 0xFF {
			t.Fatalf("no marker at offset %d", i)
		}
		m := b[i+1]
		ms = append(ms, m)
		if m == 0xDA {
			return ms
		}
		i += 2 + int(binary.BigEndian.Uint16(b[i+2:]))
	}
	t.Fatal("no start of scan")
	return nil
}

func newStore(t testing.TB) *Store {
	return &Store{Dir: filepath.Join(t.TempDir(), "media")}
}

func readStored(t *testing.T, s *Store, hash string) []byte {
	t.Helper()
	f, err := s.Open(hash)
	if err != nil {
		t.Fatalf("Open(%s): %v", hash, err)
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// nearest names the quadrant colour closest to c.
func nearest(c color.Color) string {
	r, g, b, _ := c.RGBA()
	best, name := uint32(1<<32-1), ""
	for _, q := range []struct {
		name string
		c    color.RGBA
	}{{"red", red}, {"green", green}, {"blue", blue}, {"yellow", yellow}} {
		d := sq(r>>8, uint32(q.c.R)) + sq(g>>8, uint32(q.c.G)) + sq(b>>8, uint32(q.c.B))
		if d < best {
			best, name = d, q.name
		}
	}
	return name
}

func sq(a, b uint32) uint32 {
	d := int(a) - int(b)
	return uint32(d * d)
}

// near tells whether two channel values differ by less than JPEG noise.
func near(a, b uint8) bool { return max(a, b)-min(a, b) < 12 }

func TestSaveFormats(t *testing.T) {
	transparent := image.NewNRGBA(image.Rect(0, 0, 40, 30)) // all alpha 0
	tests := []struct {
		name string
		data []byte
		w, h int
		want color.RGBA // at the centre of the stored photo
	}{
		{"jpeg", encodeJPEGTest(t, quadrants(64, 48)), 64, 48, yellow},
		{"png", encodePNGTest(t, quadrants(64, 48)), 64, 48, yellow},
		{"png transparent", encodePNGTest(t, transparent), 40, 30, color.RGBA{255, 255, 255, 255}},
		{"webp", webpSolid(12, 10, color.NRGBA{200, 60, 30, 255}), 12, 10, color.RGBA{200, 60, 30, 255}},
		{"webp half transparent", webpSolid(12, 10, color.NRGBA{0, 0, 0, 128}), 12, 10, color.RGBA{127, 127, 127, 255}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			p, err := s.Save(bytes.NewReader(tt.data))
			if err != nil {
				t.Fatalf("Save: %v", err)
			}
			if p.Width != tt.w || p.Height != tt.h {
				t.Errorf("size = %d×%d, want %d×%d", p.Width, p.Height, tt.w, tt.h)
			}
			b := readStored(t, s, p.Hash)
			sum := sha256.Sum256(b)
			if got := hex.EncodeToString(sum[:]); got != p.Hash {
				t.Errorf("sha256 of file = %s, want %s", got, p.Hash)
			}
			if got := int64(len(b)); got != p.Bytes {
				t.Errorf("file size = %d, want Photo.Bytes %d", got, p.Bytes)
			}
			want := filepath.Join(s.Dir, p.Hash[:2], p.Hash[2:4], p.Hash+".jpg")
			if got, err := s.Path(p.Hash); err != nil || got != want {
				t.Errorf("Path = %q, %v; want %q", got, err, want)
			}
			m, err := jpeg.Decode(bytes.NewReader(b))
			if err != nil {
				t.Fatalf("stored file is not a JPEG: %v", err)
			}
			if got := m.Bounds().Size(); got != image.Pt(tt.w, tt.h) {
				t.Errorf("stored JPEG is %v, want %d×%d", got, tt.w, tt.h)
			}
			got := color.RGBAModel.Convert(m.At(tt.w*3/4, tt.h*3/4)).(color.RGBA)
			if !near(got.R, tt.want.R) || !near(got.G, tt.want.G) || !near(got.B, tt.want.B) {
				t.Errorf("pixel = %v, want about %v", got, tt.want)
			}
			if _, err := jpeg.DecodeConfig(bytes.NewReader(readStored(t, s, p.ThumbHash))); err != nil {
				t.Errorf("thumbnail is not a JPEG: %v", err)
			}
		})
	}
}

func TestSaveStripsMetadataAndTurnsUpright(t *testing.T) {
	// The source is 64×32; the quadrant colours that must end up top left
	// and top right for each orientation, from the EXIF definitions.
	tests := []struct {
		orientation uint16
		w, h        int
		tl, tr      string
	}{
		{1, 64, 32, "red", "green"},
		{2, 64, 32, "green", "red"},
		{3, 64, 32, "yellow", "blue"},
		{4, 64, 32, "blue", "yellow"},
		{5, 32, 64, "red", "blue"},
		{6, 32, 64, "blue", "red"},
		{7, 32, 64, "yellow", "green"},
		{8, 32, 64, "green", "yellow"},
		{0, 64, 32, "red", "green"}, // invalid values are ignored
		{9, 64, 32, "red", "green"},
	}
	plain := encodeJPEGTest(t, quadrants(64, 32))
	for _, bo := range []byteOrder{binary.LittleEndian, binary.BigEndian} {
		for _, tt := range tests {
			t.Run(fmt.Sprintf("%v/%d", bo, tt.orientation), func(t *testing.T) {
				in := withMetadata(plain, exifTIFF(bo, tt.orientation))
				if got := jpegOrientation(in); tt.orientation >= 1 && tt.orientation <= 8 && got != int(tt.orientation) {
					t.Fatalf("jpegOrientation = %d, want %d", got, tt.orientation)
				}
				s := newStore(t)
				p, err := s.Save(bytes.NewReader(in))
				if err != nil {
					t.Fatalf("Save: %v", err)
				}
				if p.Width != tt.w || p.Height != tt.h {
					t.Errorf("size = %d×%d, want %d×%d", p.Width, p.Height, tt.w, tt.h)
				}
				out := readStored(t, s, p.Hash)
				for _, m := range markers(t, out) {
					if m >= 0xE0 && m <= 0xEF || m == 0xFE {
						t.Errorf("output has metadata segment FF%02X", m)
					}
				}
				for _, leak := range []string{"Exif", "secret comment", "xmpmeta", string(exifTIFF(bo, tt.orientation)[38+2 : 38+2+12])} {
					if bytes.Contains(out, []byte(leak)) {
						t.Errorf("output contains %q", leak)
					}
				}
				m, err := jpeg.Decode(bytes.NewReader(out))
				if err != nil {
					t.Fatal(err)
				}
				if got := m.Bounds().Size(); got != image.Pt(tt.w, tt.h) {
					t.Errorf("stored JPEG is %v, want %d×%d", got, tt.w, tt.h)
				}
				if got := nearest(m.At(tt.w/4, tt.h/4)); got != tt.tl {
					t.Errorf("top left is %s, want %s", got, tt.tl)
				}
				if got := nearest(m.At(tt.w*3/4, tt.h/4)); got != tt.tr {
					t.Errorf("top right is %s, want %s", got, tt.tr)
				}
			})
		}
	}
}

func TestJPEGOrientationIgnoresBadExif(t *testing.T) {
	good := exifTIFF(binary.BigEndian, 6)
	app1 := func(tiff []byte) []byte {
		return append(append([]byte{0xFF, 0xD8}, segment(0xE1, append([]byte("Exif\x00\x00"), tiff...))...), 0xFF, 0xDA)
	}
	patch := func(off int, v ...byte) []byte {
		b := bytes.Clone(good)
		copy(b[off:], v)
		return b
	}
	tests := []struct {
		name string
		data []byte
		want int
	}{
		{"good", app1(good), 6},
		{"fill bytes before marker", append([]byte{0xFF, 0xD8, 0xFF, 0xFF}, app1(good)[2:]...), 6},
		{"empty", nil, 1},
		{"only SOI", []byte{0xFF, 0xD8}, 1},
		{"not a JPEG", []byte("hello world"), 1},
		{"bad byte order", app1(patch(0, 'X', 'X')), 1},
		{"IFD offset past end", app1(patch(4, 0xFF, 0xFF, 0xFF, 0xFF)), 1},
		{"IFD offset inside header", app1(patch(4, 0, 0, 0, 2)), 1},
		{"entry count too large, tag found first", app1(patch(8, 0xFF, 0xFF)), 6},
		{"IFD at the very end", app1(patch(4, 0, 0, 0, byte(len(good)-2))), 1},
		{"entries cut short", app1(patch(4, 0, 0, 0, byte(len(good)-12))), 1},
		{"wrong type", app1(patch(12, 0, 7)), 1},
		{"count 2", app1(patch(14, 0, 0, 0, 2)), 1},
		{"LONG type", app1(patch(12, 0, 4, 0, 0, 0, 1, 0, 0, 0, 3)), 3},
		{"value 0", app1(patch(18, 0, 0)), 1},
		{"value 65535", app1(patch(18, 0xFF, 0xFF)), 1},
		{"tiff too short", app1(good[:6]), 1},
		{"segment length past end", []byte{0xFF, 0xD8, 0xFF, 0xE1, 0xFF, 0xFF, 'E', 'x'}, 1},
		{"segment length 0", []byte{0xFF, 0xD8, 0xFF, 0xE1, 0, 0, 'E', 'x'}, 1},
		{"exif after scan", append([]byte{0xFF, 0xD8, 0xFF, 0xDA, 0, 2}, app1(good)[2:]...), 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := jpegOrientation(tt.data); got != tt.want {
				t.Errorf("jpegOrientation = %d, want %d", got, tt.want)
			}
		})
	}
	// Every truncation of the Exif segment must be survivable.
	full := app1(good)
	for n := range len(full) - 2 {
		if got := jpegOrientation(full[:n]); got != 1 {
			t.Errorf("jpegOrientation(first %d bytes) = %d, want 1", n, got)
		}
	}
}

func TestSaveRefusesDecompressionBombs(t *testing.T) {
	tests := []struct {
		name    string
		data    []byte
		message string
	}{
		{"png 100000×100000", pngClaiming(100000, 100000), "photo is 100000×100000 pixels; the largest accepted is 40 megapixels"},
		{"png 2^31-1 square", pngClaiming(1<<31-1, 1<<31-1), "photo has too many pixels; the largest accepted is 40 megapixels"},
		{"jpeg 60000×60000", jpegClaiming(t, 60000, 60000), "photo is 60000×60000 pixels; the largest accepted is 40 megapixels"},
		{"webp 16384×16384", webpSolid(16384, 16384, color.NRGBA{A: 255}), "photo is 16384×16384 pixels; the largest accepted is 40 megapixels"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, err := s.Save(bytes.NewReader(tt.data))
			runtime.ReadMemStats(&after)
			if got, want := cityops.ErrorCode(err), cityops.ETOOLARGE; got != want {
				t.Fatalf("code = %q (%v), want %q", got, err, want)
			}
			if got := cityops.ErrorMessage(err); got != tt.message {
				t.Errorf("message = %q, want %q", got, tt.message)
			}
			if got := after.TotalAlloc - before.TotalAlloc; got > 1<<20 {
				t.Errorf("allocated %d bytes refusing the bomb, want under 1 MiB", got)
			}
		})
	}
}

// endless is an upload that never ends, counting what was read of it.
type endless struct{ n int64 }

func (e *endless) Read(p []byte) (int, error) {
	clear(p)
	e.n += int64(len(p))
	return len(p), nil
}

func TestSaveRefusesTooManyBytes(t *testing.T) {
	big := encodePNGTest(t, noise(300, 300))
	tests := []struct {
		name     string
		maxBytes int64
		data     []byte
		message  string
	}{
		{"one byte over", int64(len(big)) - 1, big, "photo is too large; the largest accepted is " + formatBytes(int64(len(big))-1)},
		{"under a KiB", 1000, big, "photo is too large; the largest accepted is 1000 bytes"},
		{"default", 0, make([]byte, 10<<20+1), "photo is too large; the largest accepted is 10 MB"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			s.MaxBytes = tt.maxBytes
			_, err := s.Save(bytes.NewReader(tt.data))
			if got, want := cityops.ErrorCode(err), cityops.ETOOLARGE; got != want {
				t.Fatalf("code = %q (%v), want %q", got, err, want)
			}
			if got := cityops.ErrorMessage(err); got != tt.message {
				t.Errorf("message = %q, want %q", got, tt.message)
			}
		})
	}
	t.Run("exactly the limit", func(t *testing.T) {
		s := newStore(t)
		s.MaxBytes = int64(len(big))
		if _, err := s.Save(bytes.NewReader(big)); err != nil {
			t.Errorf("Save at exactly MaxBytes: %v", err)
		}
	})
	t.Run("endless reader", func(t *testing.T) {
		s := newStore(t)
		s.MaxBytes = 1 << 20
		r := &endless{}
		_, err := s.Save(r)
		if got, want := cityops.ErrorCode(err), cityops.ETOOLARGE; got != want {
			t.Fatalf("code = %q (%v), want %q", got, err, want)
		}
		if r.n > 2<<20 {
			t.Errorf("read %d bytes of an endless upload, want about %d", r.n, s.MaxBytes+1)
		}
	})
}

func TestFormatBytes(t *testing.T) {
	tests := []struct {
		n    int64
		want string
	}{
		{0, "0 bytes"}, {1023, "1023 bytes"}, {1024, "1 KB"}, {1536, "1.5 KB"},
		{10 << 20, "10 MB"}, {5<<20 + 1<<19, "5.5 MB"}, {1 << 30, "1024 MB"},
	}
	for _, tt := range tests {
		if got := formatBytes(tt.n); got != tt.want {
			t.Errorf("formatBytes(%d) = %q, want %q", tt.n, got, tt.want)
		}
	}
}

func noise(w, h int) *image.RGBA {
	m := image.NewRGBA(image.Rect(0, 0, w, h))
	r := rand.New(rand.NewPCG(1, 2))
	for i := range m.Pix {
		m.Pix[i] = uint8(r.Uint32())
	}
	return m
}

func TestSaveRefusesNonImages(t *testing.T) {
	var gifBuf bytes.Buffer
	if err := gif.Encode(&gifBuf, quadrants(8, 8), nil); err != nil {
		t.Fatal(err)
	}
	j := encodeJPEGTest(t, noise(64, 64))
	p := encodePNGTest(t, noise(64, 64))
	zeroWide := pngClaiming(0, 10)
	const (
		notImage = "not a JPEG, PNG or WebP image"
		broken   = "the image is damaged"
	)
	tests := []struct {
		name    string
		data    []byte
		message string
	}{
		{"empty", nil, "the photo is empty"},
		{"garbage", []byte{0x00, 0x13, 0x37, 0xde, 0xad, 0xbe, 0xef}, notImage},
		{"text", []byte("Đường Lê Lợi bị ngập\n"), notImage},
		{"gif", gifBuf.Bytes(), notImage},
		{"svg", []byte(`<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><script>alert(1)</script></svg>`), notImage},
		{"html", []byte("<!DOCTYPE html><html><body><img src=x onerror=alert(1)></body></html>"), notImage},
		{"bmp", []byte("BM\x3a\x00\x00\x00\x00\x00\x00\x00\x36\x00\x00\x00"), notImage},
		{"truncated jpeg", j[:len(j)/2], broken},
		{"truncated png", p[:len(p)/2], broken},
		{"jpeg magic then garbage", append([]byte{0xFF, 0xD8, 0xFF}, bytes.Repeat([]byte{0x42}, 100)...), broken},
		{"png signature then garbage", append([]byte("\x89PNG\r\n\x1a\n"), bytes.Repeat([]byte("garbage!"), 20)...), broken},
		{"webp header then garbage", append([]byte("RIFF\x20\x00\x00\x00WEBPVP8L"), bytes.Repeat([]byte{0xAA}, 24)...), broken},
		{"png zero wide", zeroWide, broken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			_, err := s.Save(bytes.NewReader(tt.data))
			if got, want := cityops.ErrorCode(err), cityops.EINVALID; got != want {
				t.Fatalf("code = %q (%v), want %q", got, err, want)
			}
			if got := cityops.ErrorMessage(err); got != tt.message {
				t.Errorf("message = %q, want %q", got, tt.message)
			}
			if _, err := os.Stat(s.Dir); err == nil {
				if n := countFiles(t, s.Dir); n != 0 {
					t.Errorf("refused upload left %d files", n)
				}
			}
		})
	}
}

func TestSaveDownscales(t *testing.T) {
	tests := []struct {
		name       string
		w, h       int
		maxSide    int
		thumbSide  int
		wantW      int
		wantH      int
		wantThumbW int
		wantThumbH int
	}{
		{"landscape", 400, 200, 100, 20, 100, 50, 20, 10},
		{"portrait", 150, 300, 100, 20, 50, 100, 10, 20},
		{"small stays", 90, 60, 100, 20, 90, 60, 20, 13},
		{"thumb not enlarged", 16, 12, 100, 20, 16, 12, 16, 12},
		{"box then bilinear", 1000, 300, 130, 20, 130, 39, 20, 6},
		{"exact box factor", 800, 600, 200, 50, 200, 150, 50, 38},
		{"ribbon", 1000, 3, 100, 20, 100, 1, 20, 1},
		{"defaults", 3000, 200, 0, 0, 2560, 171, 320, 21},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			s.MaxSide, s.ThumbSide = tt.maxSide, tt.thumbSide
			p, err := s.Save(bytes.NewReader(encodePNGTest(t, quadrants(tt.w, tt.h))))
			if err != nil {
				t.Fatalf("Save: %v", err)
			}
			if p.Width != tt.wantW || p.Height != tt.wantH {
				t.Errorf("size = %d×%d, want %d×%d", p.Width, p.Height, tt.wantW, tt.wantH)
			}
			m, err := jpeg.Decode(bytes.NewReader(readStored(t, s, p.Hash)))
			if err != nil {
				t.Fatal(err)
			}
			if got, want := m.Bounds().Size(), image.Pt(tt.wantW, tt.wantH); got != want {
				t.Errorf("stored size = %v, want %v", got, want)
			}
			if tt.wantH >= 8 {
				if got := nearest(m.At(tt.wantW/4, tt.wantH/4)); got != "red" {
					t.Errorf("top left is %s after scaling, want red", got)
				}
				if got := nearest(m.At(tt.wantW*3/4, tt.wantH*3/4)); got != "yellow" {
					t.Errorf("bottom right is %s after scaling, want yellow", got)
				}
			}
			c, err := jpeg.DecodeConfig(bytes.NewReader(readStored(t, s, p.ThumbHash)))
			if err != nil {
				t.Fatal(err)
			}
			if c.Width != tt.wantThumbW || c.Height != tt.wantThumbH {
				t.Errorf("thumbnail = %d×%d, want %d×%d", c.Width, c.Height, tt.wantThumbW, tt.wantThumbH)
			}
		})
	}
}

func TestShrinkAverages(t *testing.T) {
	// A 3×3 block of a checkerboard of black and white averages to grey,
	// and the partial last block averages only the pixels it has.
	src := image.NewGray(image.Rect(10, 20, 17, 23)) // odd origin on purpose
	for i := range src.Pix {
		if i%2 == 0 {
			src.Pix[i] = 255
		}
	}
	got := shrink(src, 3)
	if got.Rect != image.Rect(0, 0, 3, 1) {
		t.Fatalf("bounds = %v, want (0,0)-(3,1)", got.Rect)
	}
	want := []uint8{142, 113, 170} // 5/9, 4/9 and 2/3 of 255, rounded
	for x, w := range want {
		if c := got.RGBAAt(x, 0); c.R != w || c.G != w || c.B != w || c.A != 255 {
			t.Errorf("pixel %d = %v, want grey %d", x, c, w)
		}
	}
}

func countFiles(t *testing.T, dir string) int {
	t.Helper()
	n := 0
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			if strings.HasPrefix(d.Name(), ".tmp-") {
				t.Errorf("temporary file left behind: %s", path)
			}
			n++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestSaveIsIdempotent(t *testing.T) {
	s := newStore(t)
	data := encodeJPEGTest(t, noise(500, 400))
	first, err := s.Save(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	second, err := s.Save(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if *first != *second {
		t.Errorf("second save = %+v, want %+v", *second, *first)
	}
	if got, want := countFiles(t, s.Dir), 2; got != want {
		t.Errorf("files = %d, want %d (photo and thumbnail)", got, want)
	}
	// A file damaged to another size is replaced rather than trusted.
	name, err := s.Path(first.Hash)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, []byte("short"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Save(bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(readStored(t, s, first.Hash))
	if got := hex.EncodeToString(sum[:]); got != first.Hash {
		t.Errorf("damaged file not repaired: sha256 = %s, want %s", got, first.Hash)
	}
}

func TestOpenAndPathRefuseBadHashes(t *testing.T) {
	s := newStore(t)
	p, err := s.Save(bytes.NewReader(encodePNGTest(t, quadrants(10, 10))))
	if err != nil {
		t.Fatal(err)
	}
	// A file outside the store that traversal would reach.
	if err := os.WriteFile(filepath.Join(filepath.Dir(s.Dir), "secret.jpg"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	unknown := strings.Repeat("ab", 32)
	tests := []string{
		"",
		"../etc/passwd",
		"../../../../etc/passwd",
		"../secret",
		p.Hash[:63],
		p.Hash + "0",
		strings.ToUpper(p.Hash),
		p.Hash[:62] + "/.",
		p.Hash[:60] + ".jpg",
		strings.Repeat("g", 64),
		unknown,
		p.Hash[:2] + "/" + p.Hash[2:4] + "/" + p.Hash[:59],
	}
	for _, h := range tests {
		t.Run(h, func(t *testing.T) {
			f, err := s.Open(h)
			if f != nil {
				f.Close()
			}
			if got, want := cityops.ErrorCode(err), cityops.ENOTFOUND; got != want {
				t.Errorf("Open: code = %q (%v), want %q", got, err, want)
			}
			name, err := s.Path(h)
			if got, want := cityops.ErrorCode(err), cityops.ENOTFOUND; got != want || name != "" {
				t.Errorf("Path = %q, code %q (%v); want \"\", %q", name, got, err, want)
			}
		})
	}
	if f, err := s.Open(p.Hash); err != nil {
		t.Errorf("Open(stored hash): %v", err)
	} else {
		f.Close()
	}
}

func TestSaveWithoutDir(t *testing.T) {
	var s Store
	_, err := s.Save(bytes.NewReader(encodePNGTest(t, quadrants(4, 4))))
	var e *cityops.Error
	if err == nil || errors.As(err, &e) {
		t.Errorf("Save without Dir = %v, want a plain (internal) error", err)
	}
}

func FuzzSave(f *testing.F) {
	f.Add(encodeJPEGTest(f, quadrants(16, 8)))
	f.Add(withMetadata(encodeJPEGTest(f, quadrants(16, 8)), exifTIFF(binary.LittleEndian, 6)))
	f.Add(encodePNGTest(f, quadrants(9, 7)))
	f.Add(encodePNGTest(f, image.NewNRGBA(image.Rect(0, 0, 5, 3))))
	f.Add(webpSolid(7, 5, color.NRGBA{1, 2, 3, 4}))
	f.Add(pngClaiming(100000, 100000))
	f.Add([]byte("\x89PNG\r\n\x1a\ngarbage"))
	f.Add([]byte{0xFF, 0xD8, 0xFF, 0xE1, 0x00, 0x10, 'E', 'x', 'i', 'f', 0, 0, 'M', 'M', 0, '*'})
	f.Add([]byte("<svg/>"))
	s := &Store{Dir: f.TempDir(), MaxBytes: 1 << 20, MaxPixels: 1 << 20, MaxSide: 64, ThumbSide: 16}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := s.Save(bytes.NewReader(data))
		if err != nil {
			if code := cityops.ErrorCode(err); code != cityops.EINVALID && code != cityops.ETOOLARGE {
				t.Fatalf("Save: %v, want EINVALID or ETOOLARGE", err)
			}
			return
		}
		if p.Width < 1 || p.Height < 1 || p.Width > s.MaxSide || p.Height > s.MaxSide {
			t.Fatalf("stored size %d×%d, want within 1..%d", p.Width, p.Height, s.MaxSide)
		}
		if _, err := s.Path(p.Hash); err != nil {
			t.Fatalf("Path(saved hash): %v", err)
		}
		if _, err := s.Path(p.ThumbHash); err != nil {
			t.Fatalf("Path(saved thumbnail): %v", err)
		}
	})
}

// BenchmarkSave stores a 12-MP (4000×3000) camera-sized JPEG: decode,
// downscale to 2560×1920, re-encode, thumbnail. The sub-benchmarks compare
// the interpolators for the final scaling step.
func BenchmarkSave(b *testing.B) {
	m := image.NewYCbCr(image.Rect(0, 0, 4000, 3000), image.YCbCrSubsampleRatio420)
	r := rand.New(rand.NewPCG(3, 4))
	for y := 0; y < 3000; y++ {
		for x := 0; x < 4000; x++ {
			// Smooth gradients with some grain, roughly like a photo.
			m.Y[y*m.YStride+x] = uint8((x/16+y/12)%200 + int(r.IntN(24)))
		}
	}
	for i := range m.Cb {
		m.Cb[i] = uint8(100 + i%50)
		m.Cr[i] = uint8(140 - i%40)
	}
	data := encodeJPEGTest(b, m)
	for _, bb := range []struct {
		name   string
		interp draw.Interpolator
	}{{"ApproxBiLinear", draw.ApproxBiLinear}, {"CatmullRom", draw.CatmullRom}} {
		b.Run(bb.name, func(b *testing.B) {
			old := scaler
			scaler = bb.interp
			defer func() { scaler = old }()
			s := newStore(b)
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.Save(bytes.NewReader(data)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
