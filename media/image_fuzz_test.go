package media

import (
	"encoding/binary"
	"image"
	"image/color"
	"testing"

	"github.com/cityops/cityops"
)

// FuzzDecode sniffs and decodes uploads without storing them, with a
// small pixel limit: an upload is refused as EINVALID or ETOOLARGE, or it
// is a JPEG, PNG or WebP of 1 to maxPixels pixels with an orientation of
// 1 to 8.
func FuzzDecode(f *testing.F) {
	f.Add(encodeJPEGTest(f, quadrants(16, 8)))
	f.Add(withMetadata(encodeJPEGTest(f, quadrants(8, 8)), exifTIFF(binary.BigEndian, 6)))
	f.Add(encodePNGTest(f, quadrants(9, 7)))
	f.Add(encodePNGTest(f, image.NewGray16(image.Rect(0, 0, 3, 40))))
	f.Add(webpSolid(7, 5, color.NRGBA{1, 2, 3, 4}))
	f.Add(pngClaiming(100000, 100000))
	f.Add(pngClaiming(1<<31-1, 1<<31-1))
	f.Add(pngClaiming(65, 64))
	f.Add([]byte("RIFF\x00\x00\x00\x00WEBPVP8 "))
	f.Add([]byte("GIF89a\x01\x00\x01\x00"))
	f.Add([]byte{0xFF, 0xD8, 0xFF})
	f.Add([]byte{})
	const maxPixels = 64 * 64
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := decode(data, maxPixels)
		if err != nil {
			if code := cityops.ErrorCode(err); code != cityops.EINVALID && code != cityops.ETOOLARGE {
				t.Fatalf("decode: %v; want EINVALID or ETOOLARGE", err)
			}
			return
		}
		sniffed := 0
		for _, f := range formats {
			if f.magic(data) {
				sniffed++
			}
		}
		if sniffed != 1 {
			t.Fatalf("decoded an upload that %d formats claim", sniffed)
		}
		b := d.pixels.Bounds()
		if b.Dx() < 1 || b.Dy() < 1 || b.Dx()*b.Dy() > maxPixels {
			t.Fatalf("decoded %d×%d pixels; want 1 to %d", b.Dx(), b.Dy(), maxPixels)
		}
		if d.orientation < 1 || d.orientation > 8 {
			t.Fatalf("orientation %d", d.orientation)
		}
	})
}

// FuzzOrientation reads EXIF orientations: always 1 to 8, and the same
// whether the TIFF block is read alone or from the APP1 segment of a JPEG.
func FuzzOrientation(f *testing.F) {
	for _, o := range []uint16{1, 3, 6, 8, 0, 9} {
		f.Add(exifTIFF(binary.LittleEndian, o))
		f.Add(exifTIFF(binary.BigEndian, o))
	}
	f.Add([]byte("II*\x00\xff\xff\xff\xff"))
	f.Add([]byte("MM\x00*\x00\x00\x00\x08\xff\xff"))
	f.Add([]byte{})
	jpg := encodeJPEGTest(f, quadrants(8, 8))
	f.Fuzz(func(t *testing.T, tiff []byte) {
		o := exifOrientation(tiff)
		if o < 1 || o > 8 {
			t.Fatalf("exifOrientation = %d", o)
		}
		if j := jpegOrientation(tiff); j < 1 || j > 8 {
			t.Fatalf("jpegOrientation of the bare block = %d", j)
		}
		if len(tiff)+8 > 0xFFFF {
			return
		}
		if got := jpegOrientation(withMetadata(jpg, tiff)); got != o {
			t.Fatalf("orientation %d from a JPEG, %d from its TIFF block", got, o)
		}
	})
}
