// Package media stores the photos citizens attach to field reports.
//
// Uploads are untrusted: every photo is sniffed by content, checked for size
// and pixel count before its pixels are decoded, turned upright, downscaled
// and re-encoded as a plain JPEG. Re-encoding drops every piece of metadata
// (EXIF, GPS position, camera serial numbers, comments, colour profiles), so
// publishing a report never publishes where its author lives. Files are
// content-addressed by the SHA-256 of the stored JPEG, which makes saving
// idempotent and lets the web layer cache them forever.
package media

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"

	"github.com/cityops/cityops"
)

// Defaults used when the corresponding Store field is zero or negative.
// They suit phone photos shown on a web page and in an operator's list.
const (
	// DefaultMaxBytes is large enough for any phone's JPEG and small
	// enough to keep a burst of uploads from exhausting memory.
	DefaultMaxBytes = 10 << 20
	// DefaultMaxPixels refuses decompression bombs while accepting the
	// photos of current 12–48 MP phone cameras up to about 40 MP.
	DefaultMaxPixels = 40_000_000
	// DefaultMaxSide keeps stored photos sharp on large screens without
	// keeping the full camera resolution nobody needs.
	DefaultMaxSide = 2560
	// DefaultThumbSide fits lists and map pop-ups.
	DefaultThumbSide = 320
)

// jpegQuality balances file size against visible artefacts for photos.
const jpegQuality = 85

// Store keeps re-encoded photos and their thumbnails on the local disk. The
// zero values of the limits mean the defaults above. A Store holds no
// mutable state and is safe for concurrent use.
type Store struct {
	Dir       string // root directory, e.g. <data>/media; created if missing
	MaxBytes  int64  // largest upload accepted, default 10 MiB
	MaxPixels int    // largest width*height accepted, default 40_000_000
	MaxSide   int    // stored images are downscaled so the long side is at most this, default 2560
	ThumbSide int    // thumbnail long side, default 320
}

// Photo describes a stored photo so that a report can refer to it by hash
// and a page can lay it out before loading it.
type Photo struct {
	Hash          string // hex SHA-256 of the stored (re-encoded) JPEG; the file name
	Width, Height int    // of the stored JPEG, upright
	Bytes         int64  // size of the stored JPEG
	ThumbHash     string // hash of the thumbnail, stored the same way
}

func (s *Store) maxBytes() int64 {
	if s.MaxBytes > 0 {
		return s.MaxBytes
	}
	return DefaultMaxBytes
}

func (s *Store) maxPixels() int {
	if s.MaxPixels > 0 {
		return s.MaxPixels
	}
	return DefaultMaxPixels
}

func (s *Store) maxSide() int {
	if s.MaxSide > 0 {
		return s.MaxSide
	}
	return DefaultMaxSide
}

func (s *Store) thumbSide() int {
	if s.ThumbSide > 0 {
		return s.ThumbSide
	}
	return DefaultThumbSide
}

// Save reads one uploaded photo from r, cleans it and stores the photo and
// its thumbnail. Problems with the upload itself are *cityops.Error values
// (EINVALID, ETOOLARGE) whose message can be shown to the citizen; disk
// failures are plain wrapped errors.
func (s *Store) Save(r io.Reader) (*Photo, error) {
	if s.Dir == "" {
		return nil, errors.New("media: store has no directory")
	}
	limit := s.maxBytes()
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read upload: %w", err)
	}
	if int64(len(data)) > limit {
		return nil, cityops.Errorf(cityops.ETOOLARGE, "photo is too large; the largest accepted is %s", formatBytes(limit))
	}
	img, err := decode(data, s.maxPixels())
	if err != nil {
		return nil, err
	}
	main := orient(fit(img.pixels, s.maxSide()), img.orientation)
	full, err := encodeJPEG(main)
	if err != nil {
		return nil, err
	}
	thumb, err := encodeJPEG(fit(main, s.thumbSide()))
	if err != nil {
		return nil, err
	}
	p := &Photo{
		Hash:      hashOf(full),
		Width:     main.Rect.Dx(),
		Height:    main.Rect.Dy(),
		Bytes:     int64(len(full)),
		ThumbHash: hashOf(thumb),
	}
	if err := s.write(p.Hash, full); err != nil {
		return nil, err
	}
	if err := s.write(p.ThumbHash, thumb); err != nil {
		return nil, err
	}
	return p, nil
}

// Open opens a stored photo or thumbnail for serving. Unknown and malformed
// hashes are ENOTFOUND, so a request can never name a file outside Dir.
func (s *Store) Open(hash string) (*os.File, error) {
	name, err := s.name(hash)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, notFound()
	}
	if err != nil {
		return nil, fmt.Errorf("open photo: %w", err)
	}
	return f, nil
}

// Path returns the file name of a stored photo or thumbnail, for callers
// that hand files to something else (a backup, http.ServeFile). Like Open
// it is ENOTFOUND for malformed hashes and for photos that are not stored.
func (s *Store) Path(hash string) (string, error) {
	name, err := s.name(hash)
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(name); errors.Is(err, fs.ErrNotExist) {
		return "", notFound()
	} else if err != nil {
		return "", fmt.Errorf("stat photo: %w", err)
	}
	return name, nil
}

// name maps a validated hash to Dir/ab/cd/<hash>.jpg.
func (s *Store) name(hash string) (string, error) {
	if !validHash(hash) {
		return "", notFound()
	}
	return filepath.Join(s.Dir, hash[0:2], hash[2:4], hash+".jpg"), nil
}

func notFound() error {
	return cityops.Errorf(cityops.ENOTFOUND, "photo not found")
}

// validHash accepts exactly 64 lowercase hex digits, the only form hashOf
// produces; anything else, including "..", slashes and upper case, is
// refused before it can reach the file system.
func validHash(h string) bool {
	if len(h) != 2*sha256.Size {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

func hashOf(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// write stores data under its hash atomically: a temporary file in the
// final directory is written, synced and renamed, so a crash leaves either
// no file or the whole file under the final name. An existing file of the
// right size is the same content and is left alone.
func (s *Store) write(hash string, data []byte) (err error) {
	name, err := s.name(hash)
	if err != nil {
		return fmt.Errorf("store photo: bad hash %q", hash)
	}
	if fi, err := os.Stat(name); err == nil && fi.Mode().IsRegular() && fi.Size() == int64(len(data)) {
		return nil
	}
	dir := filepath.Dir(name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("store photo: %w", err)
	}
	f, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return fmt.Errorf("store photo: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("store photo: %w", err)
	}
	// CreateTemp makes the file private; photos are public once stored and
	// may be read by a backup job or a front web server.
	if err := f.Chmod(0o644); err != nil {
		return fmt.Errorf("store photo: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("store photo: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("store photo: %w", err)
	}
	if err := os.Rename(f.Name(), name); err != nil {
		return fmt.Errorf("store photo: %w", err)
	}
	// Make the rename itself durable.
	if d, err := os.Open(dir); err == nil {
		err = d.Sync()
		d.Close()
		if err != nil {
			return fmt.Errorf("store photo: sync directory: %w", err)
		}
	}
	return nil
}

// formatBytes writes a limit the way a citizen reads it: "10 MB", "500 KB".
func formatBytes(n int64) string {
	switch {
	case n >= 1<<20:
		return strconv.FormatFloat(roundTenth(float64(n)/(1<<20)), 'f', -1, 64) + " MB"
	case n >= 1<<10:
		return strconv.FormatFloat(roundTenth(float64(n)/(1<<10)), 'f', -1, 64) + " KB"
	}
	return strconv.FormatInt(n, 10) + " bytes"
}

func roundTenth(f float64) float64 {
	return float64(int64(f*10+0.5)) / 10
}
