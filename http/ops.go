package http

import (
	"context"
	"io/fs"
	"mime"
	"net/http"
	"net/netip"
	"path"
	"time"

	"github.com/cityops/cityops"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// handleHealthz says the process is up; it touches nothing else.
func (s *Server) handleHealthz(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write([]byte("ok\n"))
	return nil
}

// handleReadyz says whether the server can do work: the database answers.
func (s *Server) handleReadyz(w http.ResponseWriter, r *http.Request) error {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.Ping(ctx); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write([]byte("ready\n"))
	return nil
}

// The route is public in the table because Prometheus usually scrapes from
// the same machine or network without credentials; but a request from any
// address other than the loopback needs an API key with metrics:read, so
// that the figures are not shown to the internet.
func (s *Server) handleMetrics(w http.ResponseWriter, r *http.Request) error {
	if ip, err := netip.ParseAddr(remoteIP(r)); (err != nil || !ip.IsLoopback()) && !cityops.ActorFromContext(r.Context()).Can(cityops.PermMetrics) {
		if cityops.ActorFromContext(r.Context()) == nil {
			return cityops.Errorf(cityops.EUNAUTHORIZED, "metrics are served to other machines only with an API key with the scope metrics:read")
		}
		return cityops.Errorf(cityops.EFORBIDDEN, "metrics need the scope metrics:read")
	}
	promhttp.HandlerFor(s.Registry, promhttp.HandlerOpts{}).ServeHTTP(w, r)
	return nil
}

// handleStatic serves embedded assets under a content hash, so that they
// can be cached for a year and still change with every release.
func (s *Server) handleStatic(w http.ResponseWriter, r *http.Request) error {
	p := path.Clean("/" + r.PathValue("path"))[1:]
	b, err := fs.ReadFile(assetsFS, "assets/"+p)
	if err != nil {
		return cityops.Errorf(cityops.ENOTFOUND, "no such file")
	}
	if ct := mime.TypeByExtension(path.Ext(p)); ct != "" {
		w.Header().Set("Content-Type", ct)
	}
	if r.PathValue("hash") == s.assetHash {
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		w.Header().Set("Cache-Control", "no-cache")
	}
	w.Write(b)
	return nil
}

// unmatched answers requests no route matches, 404 or 405, through the one
// error path rather than the mux's plain-text replies.
func (s *Server) unmatched(next *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h, pattern := next.Handler(r)
		if pattern != "" {
			next.ServeHTTP(w, r)
			return
		}
		rec := &headerRecorder{h: http.Header{}}
		h.ServeHTTP(rec, r)
		if rec.status == http.StatusMethodNotAllowed {
			w.Header().Set("Allow", rec.h.Get("Allow"))
			s.Error(w, r, errMethod{r.Method, rec.h.Get("Allow")})
			return
		}
		if rec.status >= 300 && rec.status < 400 { // the mux's redirect to a cleaned path
			http.Redirect(w, r, rec.h.Get("Location"), rec.status)
			return
		}
		s.Error(w, r, cityops.Errorf(cityops.ENOTFOUND, "nothing at %s", r.URL.Path))
	})
}

// headerRecorder captures what the mux's own 404/405 handler would send.
type headerRecorder struct {
	h      http.Header
	status int
}

func (h *headerRecorder) Header() http.Header         { return h.h }
func (h *headerRecorder) Write(b []byte) (int, error) { return len(b), nil }
func (h *headerRecorder) WriteHeader(code int)        { h.status = code }
