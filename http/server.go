// Package http serves cityops over HTTP: the JSON API under /api/v1, the
// staff web pages, static assets, health checks and Prometheus metrics.
// Every route is declared in one table with the permission it needs, and
// every error leaves through Server.Error.
package http

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/cityops/cityops"
	"github.com/cityops/cityops/i18n"
	"github.com/cityops/cityops/media"
	"github.com/cityops/cityops/ngsild/jsonld"
	"github.com/prometheus/client_golang/prometheus"
)

//go:embed assets
var assetsFS embed.FS

//go:embed templates/*.html
var templatesFS embed.FS

// Services are what the server needs from the domain. The storage package
// implements all of them.
type Services struct {
	Areas      cityops.AreaService
	Sectors    cityops.SectorService
	Agencies   cityops.AgencyService
	Categories cityops.CategoryService
	Users      cityops.UserService
	Auth       cityops.AuthService
	Reports    cityops.ReportService
	Routing    cityops.RoutingService
	Outbox     cityops.OutboxService
	Stats      cityops.StatsService
	Entities   cityops.EntityService
	Devices    cityops.DeviceService
	Retention  cityops.RetentionService
	// Alarms, Warnings and IOC serve the operations centre.
	Alarms   cityops.AlarmService
	Warnings cityops.WarningService
	IOC      cityops.IOCService
	KPI      cityops.KPIService
	// Audit serves the audit trail's page and export and counts API-key
	// use; nil answers 503 there and records no exports.
	Audit cityops.AuditService
	// Subscriptions serves NGSI-LD subscriptions; nil answers 503.
	Subscriptions cityops.SubscriptionService
	// Contexts serves the JSON-LD contexts NGSI-LD clients name (the
	// machine may be offline: preloaded from files).
	Contexts jsonld.Loader
	// Events feeds the live stream; nil turns it off.
	Events EventSource
	// Live feeds the operations centre's stream; nil turns it off.
	Live LiveSource
	// Ping reports whether the database answers, for /readyz.
	Ping func(ctx context.Context) error
}

// Config holds the server's settings.
type Config struct {
	// Addr is the listen address, "127.0.0.1:8080"; port 0 picks one.
	Addr string
	// SecureCookies marks cookies Secure; on when serving over TLS or
	// behind a TLS-terminating proxy.
	SecureCookies bool
	// MaxBodyBytes limits request bodies; larger ones get 413.
	MaxBodyBytes int64
	// TemplateDir, when set, reads templates from disk on every request so
	// that designers see changes without a rebuild.
	TemplateDir string
	// Registry receives the server's metrics; nil makes a private one.
	Registry *prometheus.Registry
	// Media stores uploaded photos; nil refuses photos.
	Media *media.Store
	// MaxUploadBytes limits bodies that carry photos.
	MaxUploadBytes int64
	// MaxBulkBytes limits bodies of the bulk observation path.
	MaxBulkBytes int64
	// IngestBatch is how many observations of the bulk path go into one
	// transaction (default 50,000).
	IngestBatch int
	// TileURL is a map tile server's URL template for the dashboard
	// ("https://tiles.example.vn/{z}/{x}/{y}.png"); empty draws the map
	// offline from the area boundaries alone.
	TileURL string
	// FigureCache is how long the dashboard's figures are kept for the
	// other screens asking for them; 0 computes every request.
	FigureCache time.Duration
	// Population is the city's population, for indicators per 100,000
	// inhabitants; 0 leaves those indicators out.
	Population int
	// RulesChanged is called after alarm rules change, so that the alarm
	// engine reloads them.
	RulesChanged func(ctx context.Context)
	// SendMail sends an e-mail (password reset links); nil leaves resets
	// to administrators.
	SendMail func(to, subject, body string) error
	// PublicURL is the base URL people reach cityops at, for links in
	// e-mails; empty uses the listen address.
	PublicURL string
	// Certificate, when set, serves HTTPS (TLS 1.2 at least); cookies are
	// then Secure and every answer carries Strict-Transport-Security.
	Certificate *tls.Certificate
	// RedirectAddr, with Certificate, is a plain-HTTP listen address that
	// only redirects to HTTPS; empty for none.
	RedirectAddr string
	// ReadHeaderTimeout cuts off clients slow to send their request's
	// headers (default 10 s).
	ReadHeaderTimeout time.Duration
	// RateLimits are the request rates clients are held to; the zero
	// value limits nothing.
	RateLimits RateLimits
	// CORSOrigins are the origins whose scripts may call the API with an
	// API key (ParseOrigins); empty for none.
	CORSOrigins []string
	// OIDC, when set, offers single sign-on through the city's OpenID
	// Connect identity provider beside passwords.
	OIDC *OIDCConfig
}

// Server is the HTTP front of cityops.
type Server struct {
	Services
	Config
	Catalog *i18n.Catalog
	Log     *slog.Logger

	mux       *http.ServeMux
	srv       *http.Server
	ln        net.Listener
	tmpl      *template.Template
	assetHash string
	routes    []Route
	metrics   *metrics
	// closing is closed when shutdown starts, to end open streams.
	closing chan struct{}
	// snapshot caches the sector entities for the dashboard.
	snapshot liveSnapshot
	// figures caches the dashboard's answers (nil: off).
	figures *figureCache
	// refusals remembers which refused requests were recorded lately.
	refusals refusalLog
	// limiter enforces RateLimits (nil: off).
	limiter *rateLimiter
	// redirect and redirectLn serve RedirectAddr.
	redirect   *http.Server
	redirectLn net.Listener
	// sso holds the OIDC provider once discovered.
	sso ssoState
}

// Route is one entry of the route table: the pattern, the permission every
// request to it needs, and the handler.
type Route struct {
	Pattern    string
	Permission cityops.Permission
	handler    handlerFunc
}

// handlerFunc is a handler that returns its error instead of writing it, so
// that error handling happens in one place.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// NewServer builds a server with its route table. It does not listen yet.
func NewServer(svc Services, cfg Config, cat *i18n.Catalog, log *slog.Logger) (*Server, error) {
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = 1 << 20
	}
	if cfg.MaxUploadBytes == 0 {
		cfg.MaxUploadBytes = cityops.MaxPhotos*media.DefaultMaxBytes + 1<<20
	}
	if cfg.MaxBulkBytes == 0 {
		cfg.MaxBulkBytes = 1 << 30
	}
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
	}
	if cfg.ReadHeaderTimeout == 0 {
		cfg.ReadHeaderTimeout = 10 * time.Second
	}
	if cfg.Certificate != nil {
		cfg.SecureCookies = true
	}
	if cfg.OIDC != nil {
		if err := cfg.OIDC.Validate(); err != nil {
			return nil, fmt.Errorf("single sign-on: %w", err)
		}
	}
	s := &Server{Services: svc, Config: cfg, Catalog: cat, Log: log, mux: http.NewServeMux(), closing: make(chan struct{})}
	s.metrics = newMetrics(cfg.Registry)
	if cfg.FigureCache > 0 {
		c := &figureCache{ttl: cfg.FigureCache, entries: map[string]*cachedAnswer{}}
		s.figures = c
		for result, n := range map[string]*atomic.Uint64{"hit": &c.hits, "miss": &c.misses} {
			cfg.Registry.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "cityops_ioc_figure_requests_total",
				Help: "Dashboard figure requests answered from the cache (hit) or computed (miss).", ConstLabels: prometheus.Labels{"result": result}},
				func() float64 { return float64(n.Load()) }))
		}
	}
	h := sha256.New()
	err := fs.WalkDir(assetsFS, "assets", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := assetsFS.ReadFile(path)
		h.Write([]byte(path))
		h.Write(b)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("assets: %w", err)
	}
	s.assetHash = hex.EncodeToString(h.Sum(nil))[:12]
	if s.tmpl, err = s.parseTemplates(); err != nil {
		return nil, err
	}
	s.registerRoutes()
	s.limiter = s.newRateLimiter(cfg.RateLimits)
	return s, nil
}

// route adds one entry to the route table. Every route must name its
// permission; the route test enumerates the table.
func (s *Server) route(pattern string, p cityops.Permission, h handlerFunc) {
	if p == "" {
		panic("route " + pattern + " declares no permission")
	}
	s.routes = append(s.routes, Route{Pattern: pattern, Permission: p, handler: h})
	s.mux.Handle(pattern, s.metrics.instrument(pattern, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Nothing is kept by browsers or proxies unless the handler says
		// so (static assets, photos, public figures): answers may hold
		// personal data or staff views.
		w.Header().Set("Cache-Control", "no-store")
		if err := s.authorize(r, p); err != nil {
			s.Error(w, r, err)
			return
		}
		if err := h(w, r); err != nil {
			s.Error(w, r, err)
		}
	})))
}

// Routes returns the route table, sorted by pattern.
func (s *Server) Routes() []Route {
	out := append([]Route(nil), s.routes...)
	sort.Slice(out, func(i, j int) bool { return out[i].Pattern < out[j].Pattern })
	return out
}

// authorize checks the route's permission against the request's actor.
func (s *Server) authorize(r *http.Request, p cityops.Permission) error {
	a := cityops.ActorFromContext(r.Context())
	if a.Can(p) {
		return nil
	}
	if a == nil {
		return cityops.Errorf(cityops.EUNAUTHORIZED, "sign in first")
	}
	if a.Pending != "" {
		return cityops.Errorf(cityops.EUNAUTHORIZED, "finish signing in with your authentication code")
	}
	return cityops.Errorf(cityops.EFORBIDDEN, "you may not do this (needs %s)", p)
}

// Handler returns the whole server as one handler, with the middleware
// every request passes through.
func (s *Server) Handler() http.Handler {
	h := s.unmatched(s.mux)
	h = s.plainText(h)
	h = s.language(h)
	h = s.rateLimit(h)
	h = s.authenticate(h)
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.Error(w, r, cityops.Errorf(cityops.EFORBIDDEN, "cross-origin request refused"))
	}))
	h = s.keyedCrossOrigin(h, cop.Handler(h))
	h = s.limitBody(h)
	h = s.cors(h)
	h = securityHeaders(h, tileOrigin(s.TileURL))
	if s.Certificate != nil {
		h = hsts(h)
	}
	h = s.accessLog(h)
	h = s.recoverPanics(h)
	return h
}

// Open starts listening on Addr (and RedirectAddr) and serving in the
// background.
func (s *Server) Open() error {
	ln, err := net.Listen("tcp", s.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", s.Addr, err)
	}
	s.ln = ln
	s.srv = &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: s.ReadHeaderTimeout,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.Log.Handler(), slog.LevelWarn),
	}
	s.srv.RegisterOnShutdown(func() { close(s.closing) })
	if s.Certificate != nil {
		s.srv.TLSConfig = s.tlsConfig()
		if s.RedirectAddr != "" {
			if err := s.openRedirect(); err != nil {
				ln.Close()
				return err
			}
		}
	}
	if s.figures != nil && s.Live != nil {
		go s.figures.follow(s.Live, s.closing)
	}
	go func() {
		serve := s.srv.Serve
		if s.srv.TLSConfig != nil {
			serve = func(ln net.Listener) error { return s.srv.ServeTLS(ln, "", "") }
		}
		if err := serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.Log.Error("serve", "err", err)
		}
	}()
	return nil
}

// URL returns the base URL the server listens on.
func (s *Server) URL() string {
	if s.ln == nil {
		return ""
	}
	scheme := "http"
	if s.Certificate != nil {
		scheme = "https"
	}
	addr := s.ln.Addr().(*net.TCPAddr)
	return fmt.Sprintf("%s://%s:%d", scheme, urlHost(addr.IP), addr.Port)
}

// Close stops accepting requests and waits for those in flight, up to the
// context's deadline.
func (s *Server) Close(ctx context.Context) error {
	if s.srv == nil {
		return nil
	}
	if s.redirect != nil {
		s.redirect.Shutdown(ctx)
	}
	return s.srv.Shutdown(ctx)
}

// parseTemplates parses the embedded templates, or those in TemplateDir.
func (s *Server) parseTemplates() (*template.Template, error) {
	var fsys fs.FS = templatesFS
	pattern := "templates/*.html"
	if s.TemplateDir != "" {
		fsys, pattern = os.DirFS(s.TemplateDir), "*.html"
	}
	t, err := template.New("").Funcs(s.funcs()).ParseFS(fsys, pattern)
	if err != nil {
		return nil, fmt.Errorf("templates: %w", err)
	}
	return t, nil
}

// tileOrigin is the scheme and host of a tile URL template, for the
// Content-Security-Policy; "" when there is none or it is not http(s).
func tileOrigin(tmpl string) string {
	u, err := url.Parse(strings.NewReplacer("{z}", "0", "{x}", "0", "{y}", "0", "{s}", "*").Replace(tmpl))
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return ""
	}
	return u.Scheme + "://" + u.Host
}
