package http

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"
)

// tlsConfig is the server's TLS: version 1.2 at least, with Go's default
// choice of modern cipher suites and curves.
func (s *Server) tlsConfig() *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{*s.Certificate}}
}

// hsts tells browsers to come back over HTTPS only, for a year, on this
// host and its subdomains.
func hsts(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
		next.ServeHTTP(w, r)
	})
}

// openRedirect listens on RedirectAddr with a plain-HTTP server that only
// sends clients to the same host and path over HTTPS on the main port.
func (s *Server) openRedirect() error {
	ln, err := net.Listen("tcp", s.RedirectAddr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", s.RedirectAddr, err)
	}
	s.redirectLn = ln
	port := s.ln.Addr().(*net.TCPAddr).Port
	s.redirect = &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			host := r.Host
			if h, _, err := net.SplitHostPort(host); err == nil {
				host = h
			}
			if host == "" {
				host = urlHost(s.ln.Addr().(*net.TCPAddr).IP)
			} else if ip := net.ParseIP(host); ip != nil && ip.To4() == nil {
				host = "[" + host + "]"
			}
			if port != 443 {
				host += ":" + strconv.Itoa(port)
			}
			code := http.StatusPermanentRedirect // keeps the method and body
			if r.Method == http.MethodGet || r.Method == http.MethodHead {
				code = http.StatusMovedPermanently
			}
			http.Redirect(w, r, "https://"+host+r.URL.RequestURI(), code)
		}),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      10 * time.Second,
		IdleTimeout:       30 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(s.Log.Handler(), slog.LevelWarn),
	}
	go func() {
		if err := s.redirect.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.Log.Error("serve redirects", "err", err)
		}
	}()
	return nil
}

// RedirectURL returns the base URL of the plain-HTTP redirect listener, or
// "" when there is none.
func (s *Server) RedirectURL() string {
	if s.redirectLn == nil {
		return ""
	}
	addr := s.redirectLn.Addr().(*net.TCPAddr)
	return fmt.Sprintf("http://%s:%d", urlHost(addr.IP), addr.Port)
}

// urlHost writes an IP address as a URL's host: "localhost" for the
// unspecified address, IPv6 in brackets.
func urlHost(ip net.IP) string {
	switch {
	case ip.IsUnspecified():
		return "localhost"
	case ip.To4() == nil:
		return "[" + ip.String() + "]"
	}
	return ip.String()
}
