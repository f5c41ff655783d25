package http

import (
	"errors"
	"image/jpeg"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strings"

	"github.com/cityops/cityops"
)

// savePhoto stores one uploaded image and returns it as the domain knows it.
func (s *Server) savePhoto(r io.Reader) (cityops.Photo, error) {
	if s.Media == nil {
		return cityops.Photo{}, cityops.Errorf(cityops.EUNAVAILABLE, "photo storage is not configured")
	}
	p, err := s.Media.Save(r)
	if err != nil {
		return cityops.Photo{}, err
	}
	return cityops.Photo{Hash: p.Hash, Thumb: p.ThumbHash, Width: p.Width, Height: p.Height}, nil
}

// photoByHash checks that both files of a photo uploaded earlier exist and
// reads its size from the stored JPEG.
func (s *Server) photoByHash(hash, thumb string) (cityops.Photo, error) {
	bad := cityops.Errorf(cityops.EINVALID, "photo %q was not uploaded; upload it to /api/v1/photos first", hash)
	if s.Media == nil {
		return cityops.Photo{}, bad
	}
	if thumb != "" {
		if _, err := s.Media.Path(thumb); err != nil {
			return cityops.Photo{}, bad
		}
	} else {
		thumb = hash // a photo named by its link alone shows itself as thumbnail
	}
	f, err := s.Media.Open(hash)
	if err != nil {
		return cityops.Photo{}, bad
	}
	defer f.Close()
	cfg, err := jpeg.DecodeConfig(f)
	if err != nil {
		return cityops.Photo{}, bad
	}
	return cityops.Photo{Hash: hash, Thumb: thumb, Width: cfg.Width, Height: cfg.Height}, nil
}

// formPhotos stores the files of a multipart field, at most max of them.
// Empty file inputs (nothing chosen) are skipped.
func (s *Server) formPhotos(files []*multipart.FileHeader, max int) ([]cityops.Photo, error) {
	var out []cityops.Photo
	for _, fh := range files {
		if fh.Size == 0 && fh.Filename == "" {
			continue
		}
		if len(out) == max {
			return nil, &cityops.Error{Code: cityops.EINVALID, Message: "invalid input",
				Fields: map[string]string{"photos": "at most 5 photos"}}
		}
		f, err := fh.Open()
		if err != nil {
			return nil, cityops.Errorf(cityops.EINVALID, "a photo could not be read")
		}
		p, err := s.savePhoto(f)
		f.Close()
		if err != nil {
			var e *cityops.Error
			if errors.As(err, &e) && (e.Code == cityops.EINVALID || e.Code == cityops.ETOOLARGE) {
				return nil, &cityops.Error{Code: e.Code, Message: "invalid input",
					Fields: map[string]string{"photos": fh.Filename + ": " + e.Message}}
			}
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// handlePhotoUpload stores one photo sent as the body (image/jpeg,
// image/png, image/webp) or as the "photo" field of a multipart form.
func (s *Server) handlePhotoUpload(w http.ResponseWriter, r *http.Request) error {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	var p cityops.Photo
	var err error
	switch {
	case mt == "multipart/form-data":
		if err := r.ParseMultipartForm(8 << 20); err != nil {
			return uploadError(err)
		}
		files := r.MultipartForm.File["photo"]
		if len(files) != 1 {
			return &cityops.Error{Code: cityops.EINVALID, Message: "invalid input", Fields: map[string]string{"photo": "send exactly one file"}}
		}
		f, ferr := files[0].Open()
		if ferr != nil {
			return cityops.Errorf(cityops.EINVALID, "the photo could not be read")
		}
		defer f.Close()
		p, err = s.savePhoto(f)
	case strings.HasPrefix(mt, "image/") || mt == "application/octet-stream":
		p, err = s.savePhoto(r.Body)
	default:
		return cityops.Errorf(cityops.EINVALID, "send the photo as the body (Content-Type image/jpeg, image/png or image/webp) or as a multipart field \"photo\"")
	}
	if err != nil {
		return uploadError(err)
	}
	w.Header().Set("Location", "/media/"+p.Hash+".jpg")
	writeJSON(w, http.StatusCreated, p)
	return nil
}

// uploadError turns a body over the limit into ETOOLARGE.
func uploadError(err error) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return cityops.Errorf(cityops.ETOOLARGE, "the upload is larger than %d bytes", mbe.Limit)
	}
	if cityops.ErrorCode(err) != cityops.EINTERNAL {
		return err
	}
	if errors.Is(err, multipart.ErrMessageTooLarge) {
		return cityops.Errorf(cityops.ETOOLARGE, "the upload is too large")
	}
	return cityops.Errorf(cityops.EINVALID, "the upload could not be read: %v", err)
}

// handleMedia serves a stored photo. Names are content hashes, so a photo
// never changes and may be cached for good.
func (s *Server) handleMedia(w http.ResponseWriter, r *http.Request) error {
	hash, ok := strings.CutSuffix(r.PathValue("file"), ".jpg")
	if !ok || s.Media == nil {
		return cityops.Errorf(cityops.ENOTFOUND, "no such photo")
	}
	f, err := s.Media.Open(hash)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "image/jpeg")
	w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	http.ServeContent(w, r, "", st.ModTime(), f)
	return nil
}
