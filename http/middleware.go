package http

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime/debug"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/cityops/cityops"
)

// sessionCookie holds the session token; langCookie the chosen language.
const (
	sessionCookie = "cityops_session"
	langCookie    = "cityops_lang"
)

type langKey struct{}

// langFrom returns the request's UI language.
func langFrom(ctx context.Context) string {
	if l, ok := ctx.Value(langKey{}).(string); ok {
		return l
	}
	return "vi"
}

// language picks the UI language: ?lang= (remembered in a cookie), the
// cookie, the signed-in user's preference, Accept-Language, Vietnamese.
func (s *Server) language(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		choice := ""
		if q := r.URL.Query().Get("lang"); q != "" && s.Catalog.Has(q) {
			choice = q
			http.SetCookie(w, &http.Cookie{Name: langCookie, Value: q, Path: "/", MaxAge: 365 * 24 * 3600,
				HttpOnly: true, Secure: s.SecureCookies, SameSite: http.SameSiteLaxMode})
		} else if c, err := r.Cookie(langCookie); err == nil {
			choice = c.Value
		}
		if choice == "" {
			if a := cityops.ActorFromContext(r.Context()); a != nil && a.User != nil {
				choice = a.User.Language
			}
		}
		lang := s.Catalog.Match(choice, r.Header.Get("Accept-Language"))
		w.Header().Set("Content-Language", lang)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), langKey{}, lang)))
	})
}

// authenticate puts the actor in the request context: an API key from the
// Authorization or X-API-Key header, or the session cookie. A bad API key
// is refused at once; a stale cookie is dropped and the request goes on
// as the public's. The client's address goes in the context too, for the
// audit trail.
func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := cityops.NewContextWithSource(r.Context(), remoteIP(r))
		key := r.Header.Get("X-API-Key")
		if h := r.Header.Get("Authorization"); key == "" && h != "" {
			scheme, token, _ := strings.Cut(h, " ")
			if !strings.EqualFold(scheme, "Bearer") {
				s.Error(w, r, cityops.Errorf(cityops.EUNAUTHORIZED, "use Authorization: Bearer <API key>"))
				return
			}
			key = strings.TrimSpace(token)
		}
		if key == "" && strings.HasPrefix(r.URL.Path, open311Prefix) {
			// Open311 clients send api_key as a parameter. The form is
			// parsed here (within the body limit) and stays in r.PostForm.
			if r.Method == http.MethodPost {
				if err := r.ParseForm(); err != nil {
					s.Error(w, r, cityops.Errorf(cityops.EINVALID, "the form could not be read"))
					return
				}
			}
			key = r.FormValue("api_key")
		}
		if key != "" {
			a, err := s.Auth.ActorByAPIKey(ctx, key)
			if err != nil {
				s.Error(w, r, err)
				return
			}
			if s.Audit != nil {
				s.Audit.NoteAPIKeyUse(ctx, a.APIKey) // coalesced: at most an entry an hour
			}
			next.ServeHTTP(w, r.WithContext(cityops.NewContextWithActor(ctx, a)))
			return
		}
		if c, err := r.Cookie(sessionCookie); err == nil && c.Value != "" {
			a, err := s.Auth.ActorBySession(ctx, c.Value)
			switch cityops.ErrorCode(err) {
			case "":
				ctx = cityops.NewContextWithActor(ctx, a)
			case cityops.EUNAUTHORIZED:
				s.clearSession(w)
			default:
				s.Error(w, r, err)
				return
			}
		}
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

func (s *Server) setSession(w http.ResponseWriter, token string) {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: token, Path: "/", HttpOnly: true,
		Secure: s.SecureCookies, SameSite: http.SameSiteLaxMode})
}

func (s *Server) clearSession(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true,
		Secure: s.SecureCookies, SameSite: http.SameSiteLaxMode})
}

// limitBody caps request bodies; reading past the cap fails and the handler
// answers 413.
func (s *Server) limitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		limit := s.MaxBodyBytes
		if uploadPath(r.URL.Path) {
			limit = s.MaxUploadBytes
		}
		if r.URL.Path == bulkPath {
			limit = s.MaxBulkBytes
		}
		if r.ContentLength > limit {
			s.Error(w, r, cityops.Errorf(cityops.ETOOLARGE, "request body is larger than %d bytes", limit))
			return
		}
		r.Body = &limitedBody{ReadCloser: http.MaxBytesReader(w, r.Body, limit)}
		next.ServeHTTP(w, r)
	})
}

// limitedBody remembers that a body without a Content-Length (chunked) ran
// over the limit, so that Error answers 413 even when a handler reported
// the failed read as a bad form.
type limitedBody struct {
	io.ReadCloser
	over error // the *http.MaxBytesError, once the limit was hit
}

func (b *limitedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		b.over = err
	}
	return n, err
}

// uploadPath reports the paths whose bodies may carry photos.
func uploadPath(p string) bool {
	return p == "/api/v1/photos" || p == "/report" ||
		(strings.HasPrefix(p, "/staff/reports/") && strings.HasSuffix(p, "/act"))
}

// securityHeaders sets the headers every response carries. Pages load
// scripts and styles only from this server; nothing may frame them.
// A map tile server (-tiles), when configured, is the one other origin
// images may come from.
func securityHeaders(next http.Handler, tileOrigin string) http.Handler {
	img := "img-src 'self' data:"
	if tileOrigin != "" {
		img += " " + tileOrigin
	}
	csp := "default-src 'self'; " + img + "; style-src 'self'; script-src 'self'; " +
		"connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'"
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(self), payment=()")
		next.ServeHTTP(w, r)
	})
}

// statusWriter records the status and size of a response for logs and
// metrics.
type statusWriter struct {
	http.ResponseWriter
	status int
	size   int64
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.size += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the real writer (flushing for
// event streams).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// accessLog writes one JSON log line per request. It logs the path without
// the query, which may hold personal data.
func (s *Server) accessLog(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		if r.URL.Path == "/healthz" || r.URL.Path == "/metrics" {
			return
		}
		if sw.status == 0 {
			sw.status = http.StatusOK
		}
		s.Log.Info("request", "method", r.Method, "path", r.URL.Path, "status", sw.status,
			"bytes", sw.size, "ms", float64(time.Since(start).Microseconds())/1000, "remote", remoteIP(r))
	})
}

// recoverPanics turns a panic in a handler into a logged 500.
func (s *Server) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.Error(w, r, fmt.Errorf("panic: %v\n%s", v, debug.Stack()))
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// remoteIP returns the client's address. X-Forwarded-For is not trusted:
// a deployment behind a proxy configures that in a later issue.
func remoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// plainText refuses a request whose path or query holds a NUL byte or
// bytes that are not UTF-8: no parameter takes them, and PostgreSQL
// refuses them as query arguments, which would be a server error rather
// than the client's.
func (s *Server) plainText(next http.Handler) http.Handler {
	ok := func(x string) bool { return utf8.ValidString(x) && !strings.ContainsRune(x, 0) }
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		bad := !ok(r.URL.Path)
		for k, vs := range r.URL.Query() {
			bad = bad || !ok(k) || !ok(strings.Join(vs, ""))
		}
		if bad {
			s.Error(w, r, cityops.Errorf(cityops.EINVALID, "the address holds a NUL byte or text that is not UTF-8"))
			return
		}
		next.ServeHTTP(w, r)
	})
}
