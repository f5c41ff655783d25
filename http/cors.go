package http

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// Cross-origin resource sharing opens the API paths that API keys call to
// the web applications of origins the operator lists (-cors-origins), and
// nothing else: never the HTML pages, never with credentials (cookies are
// never usable cross-origin), never "*".

// ParseOrigins reads a comma-separated list of origins such as
// "https://a.example,https://b.example:8443"; "" is none.
func ParseOrigins(s string) ([]string, error) {
	var out []string
	for _, o := range strings.Split(s, ",") {
		if o = strings.TrimSpace(o); o == "" {
			continue
		}
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil ||
			(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || strings.Contains(u.Host, "*") {
			return nil, fmt.Errorf("-cors-origins %q: want an origin such as https://app.example.vn (scheme and host, no path, no *)", o)
		}
		out = append(out, strings.ToLower(u.Scheme+"://"+u.Host))
	}
	return out, nil
}

// corsPath reports the paths API keys may call, the only ones CORS opens.
func corsPath(p string) bool {
	return strings.HasPrefix(p, "/api/v1/") || strings.HasPrefix(p, ngsiPrefix) || strings.HasPrefix(p, open311Prefix)
}

// corsOrigin returns the request's Origin when CORS allows it, or "".
func (s *Server) corsOrigin(r *http.Request) string {
	o := r.Header.Get("Origin")
	if o == "" || !corsPath(r.URL.Path) {
		return ""
	}
	for _, allowed := range s.CORSOrigins {
		if o == allowed {
			return o
		}
	}
	return ""
}

// cors answers preflight requests from the listed origins and lets their
// scripts read the API's answers.
func (s *Server) cors(next http.Handler) http.Handler {
	if len(s.CORSOrigins) == 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !corsPath(r.URL.Path) {
			next.ServeHTTP(w, r)
			return
		}
		h := w.Header()
		h.Add("Vary", "Origin")
		origin := s.corsOrigin(r)
		if origin == "" {
			next.ServeHTTP(w, r)
			return
		}
		h.Set("Access-Control-Allow-Origin", origin)
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			h.Add("Vary", "Access-Control-Request-Method")
			h.Add("Vary", "Access-Control-Request-Headers")
			h.Set("Access-Control-Allow-Methods", "GET, HEAD, POST, PUT, PATCH, DELETE")
			h.Set("Access-Control-Allow-Headers", "Authorization, X-API-Key, Content-Type, Link, NGSILD-Tenant")
			h.Set("Access-Control-Max-Age", "7200")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		h.Set("Access-Control-Expose-Headers", "Location, Link, Retry-After, NGSILD-Results-Count, NGSILD-Tenant")
		next.ServeHTTP(w, r)
	})
}

// keyedCrossOrigin lets through to open the requests of a listed origin
// that carry an API key in a header and no session cookie: a browser adds
// no such header by itself, so they cannot be forged across sites. Every
// other request goes to protected, which refuses cross-origin writes.
func (s *Server) keyedCrossOrigin(open, protected http.Handler) http.Handler {
	if len(s.CORSOrigins) == 0 {
		return protected
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, cookieErr := r.Cookie(sessionCookie)
		keyed := r.Header.Get("X-API-Key") != "" || r.Header.Get("Authorization") != ""
		if keyed && cookieErr != nil && s.corsOrigin(r) != "" {
			open.ServeHTTP(w, r)
			return
		}
		protected.ServeHTTP(w, r)
	})
}
