package http_test

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cityops/cityops"
	cityhttp "github.com/cityops/cityops/http"
	"github.com/cityops/cityops/i18n"
	"github.com/cityops/cityops/media"
	"github.com/cityops/cityops/ngsild/jsonld"
	"github.com/cityops/cityops/storage"
	"github.com/cityops/cityops/storage/storagetest"
)

// newServerWith is newTestServer with the configuration changed first.
func newServerWith(t *testing.T, db *storage.DB, change func(*cityhttp.Config)) *testServer {
	t.Helper()
	cat, err := i18n.Load("")
	if err != nil {
		t.Fatal(err)
	}
	cfg := cityhttp.Config{Addr: "127.0.0.1:0", MaxBodyBytes: 64 << 10, IngestBatch: 7, Media: &media.Store{Dir: t.TempDir()}}
	change(&cfg)
	srv, err := cityhttp.NewServer(cityhttp.Services{Areas: db, Sectors: db, Agencies: db, Categories: db, Users: db, Auth: db, Ping: db.Ping,
		Reports: db, Routing: db, Outbox: db, Stats: db, Entities: db, Contexts: jsonld.NewCache(), Devices: db, Retention: db,
		Alarms: db, Warnings: db, IOC: db, KPI: db}, cfg, cat, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close(context.Background()) })
	return &testServer{Server: srv, db: db, url: srv.URL(), t: t}
}

// limiterClock is a clock that moves only when told.
type limiterClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *limiterClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *limiterClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// serveFrom sends a request through the server's handler in-process as if
// from addr, for addresses a loopback test cannot dial from.
func serveFrom(ts *testServer, addr, method, path, body string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	r.RemoteAddr = addr
	r.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	ts.Handler().ServeHTTP(w, r)
	return w
}

// scrapeMetric returns the value of one series on /metrics, or -1.
func (ts *testServer) scrapeMetric(series string) float64 {
	ts.t.Helper()
	_, body := ts.do("GET", "/metrics", "", "")
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindStringSubmatch(body)
	if m == nil {
		return -1
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	return v
}

func TestRateLimits(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB) {
		clock := &limiterClock{t: time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)}
		ts := newServerWith(t, db, func(c *cityhttp.Config) {
			c.RateLimits = cityhttp.RateLimits{
				Login:      cityhttp.Rate{N: 2, Per: time.Minute, Burst: 2},
				Intake:     cityhttp.Rate{N: 2, Per: time.Minute, Burst: 2},
				IntakeKey:  cityhttp.Rate{N: 1, Per: time.Minute, Burst: 1},
				Open311Key: cityhttp.Rate{N: 1, Per: time.Minute, Burst: 1},
				IngestKey:  cityhttp.Rate{N: 1, Per: time.Hour, Burst: 1},
				Now:        clock.Now,
			}
		})
		keyA, err := db.CreateAPIKey(sysCtx(), &cityops.APIKey{Name: "app a", Scopes: []string{"data:write"}})
		if err != nil {
			t.Fatal(err)
		}
		keyB, _ := db.CreateAPIKey(sysCtx(), &cityops.APIKey{Name: "app b", Scopes: []string{"data:write"}})
		partner, _ := db.CreateAPIKey(sysCtx(), &cityops.APIKey{Name: "partner", Scopes: []string{"open311:write"}})
		tooMany := func(t *testing.T, res *http.Response, body string, retry string) {
			t.Helper()
			if res.StatusCode != http.StatusTooManyRequests || res.Header.Get("Retry-After") != retry {
				t.Fatalf("got %d, Retry-After %q, %s; want 429 with Retry-After %s", res.StatusCode, res.Header.Get("Retry-After"), body, retry)
			}
		}

		t.Run("intake per address", func(t *testing.T) {
			for i := range 2 {
				if res, body := ts.do("POST", "/api/v1/reports", "", "{}"); res.StatusCode == 429 {
					t.Fatalf("report %d = %d %s; want within the burst", i+1, res.StatusCode, body)
				}
			}
			res, body := ts.do("POST", "/api/v1/reports", "", "{}")
			tooMany(t, res, body, "30")
			var e struct {
				Error struct{ Code, Message string }
			}
			json.Unmarshal([]byte(body), &e)
			if e.Error.Code != cityops.ETOOMANY || !strings.Contains(e.Error.Message, "reports and photos from this address") ||
				!strings.Contains(e.Error.Message, "try again in 30 s") {
				t.Errorf("body = %s", body)
			}
			// The HTML form is the same class.
			res, body = ts.do("POST", "/report", "", "x=1", "Content-Type", "application/x-www-form-urlencoded")
			tooMany(t, res, body, "30")
			// Reading is not limited.
			if res, _ := ts.do("GET", "/api/v1/areas", "", ""); res.StatusCode != 200 {
				t.Errorf("GET areas = %d", res.StatusCode)
			}
			// Other addresses are not affected; IPv6 counts by /64.
			for _, tt := range []struct {
				addr string
				want int
			}{
				{"203.0.113.7:4000", 400}, {"203.0.113.7:4001", 400}, {"203.0.113.7:4002", 429}, {"203.0.113.8:4000", 400},
				{"[2001:db8:1:2::1]:4000", 400}, {"[2001:db8:1:2::2]:4000", 400}, {"[2001:db8:1:2:ffff::9]:4000", 429},
				{"[2001:db8:1:3::1]:4000", 400},
			} {
				if w := serveFrom(ts, tt.addr, "POST", "/api/v1/reports", "{}"); w.Code != tt.want {
					t.Errorf("from %s = %d %s; want %d", tt.addr, w.Code, w.Body, tt.want)
				}
			}
			// Tokens come back with time: one every 30 s.
			clock.Advance(29 * time.Second)
			res, body = ts.do("POST", "/api/v1/reports", "", "{}")
			tooMany(t, res, body, "1")
			clock.Advance(time.Second)
			if res, body := ts.do("POST", "/api/v1/reports", "", "{}"); res.StatusCode != 400 {
				t.Errorf("after 30 s = %d %s; want 400 (allowed, invalid)", res.StatusCode, body)
			}
			res, body = ts.do("POST", "/api/v1/reports", "", "{}")
			tooMany(t, res, body, "30")
		})

		t.Run("per key", func(t *testing.T) {
			// The address is refused, but keys have their own buckets.
			if res, body := ts.do("POST", "/api/v1/reports", keyA, "{}"); res.StatusCode != 400 {
				t.Fatalf("key A = %d %s", res.StatusCode, body)
			}
			res, body := ts.do("POST", "/api/v1/reports", keyA, "{}")
			tooMany(t, res, body, "60")
			if !strings.Contains(body, "this API key") {
				t.Errorf("body = %s", body)
			}
			if res, body := ts.do("POST", "/api/v1/reports", keyB, "{}"); res.StatusCode != 400 {
				t.Errorf("key B = %d %s", res.StatusCode, body)
			}
		})

		t.Run("NGSI-LD", func(t *testing.T) {
			ent := `{"id":"urn:ngsi-ld:AirQualityObserved:rl-1","type":"AirQualityObserved","pm25":{"type":"Property","value":12}}`
			if res, body := ts.do("POST", "/ngsi-ld/v1/entities", keyA, ent); res.StatusCode != 201 {
				t.Fatalf("create = %d %s", res.StatusCode, body)
			}
			res, body := ts.do("PATCH", "/ngsi-ld/v1/entities/urn:ngsi-ld:AirQualityObserved:rl-1/attrs", keyA, `{"pm25":{"type":"Property","value":13}}`)
			tooMany(t, res, body, "3600")
			var p struct {
				Type, Title, Detail string
				Status              int
			}
			if err := json.Unmarshal([]byte(body), &p); err != nil || p.Type != "https://uri.etsi.org/ngsi-ld/errors/TooManyRequests" ||
				p.Status != 429 || !strings.Contains(p.Detail, "data writes") {
				t.Errorf("problem = %s", body)
			}
			// Reading goes on.
			if res, _ := ts.do("GET", "/ngsi-ld/v1/entities/urn:ngsi-ld:AirQualityObserved:rl-1", keyA, ""); res.StatusCode != 403 && res.StatusCode != 200 {
				t.Errorf("read = %d", res.StatusCode)
			}
		})

		t.Run("Open311", func(t *testing.T) {
			form := url.Values{"api_key": {partner}, "service_code": {"nothing"}, "lat": {"16.46"}, "long": {"107.59"}}
			if res, body := ts.postForm("/open311/v2/requests.json", form); res.StatusCode == 429 {
				t.Fatalf("first = %d %s", res.StatusCode, body)
			}
			res, body := ts.postForm("/open311/v2/requests.json", form)
			tooMany(t, res, body, "60")
			var list []struct {
				Code        int
				Description string
			}
			if err := json.Unmarshal([]byte(body), &list); err != nil || len(list) != 1 || list[0].Code != 429 ||
				!strings.Contains(list[0].Description, "Open311 requests") {
				t.Errorf("json = %s", body)
			}
			res, body = ts.postForm("/open311/v2/requests.xml", form)
			tooMany(t, res, body, "60")
			var x struct {
				XMLName xml.Name `xml:"errors"`
				Errors  []struct {
					Code int `xml:"code"`
				} `xml:"error"`
			}
			if err := xml.Unmarshal([]byte(body), &x); err != nil || len(x.Errors) != 1 || x.Errors[0].Code != 429 {
				t.Errorf("xml = %s", body)
			}
		})

		t.Run("login", func(t *testing.T) {
			form := "email=nobody%40hue.gov.vn&password=wrong"
			for range 2 {
				if res, body := ts.do("POST", "/login", "", form, "Content-Type", "application/x-www-form-urlencoded"); res.StatusCode == 429 {
					t.Fatalf("sign-in = %d %s", res.StatusCode, body)
				}
			}
			res, body := ts.do("POST", "/login", "", form, "Content-Type", "application/x-www-form-urlencoded")
			tooMany(t, res, body, "30")
			if !strings.Contains(body, "sign-in attempts") {
				t.Errorf("page = %s", body)
			}
			if res, _ := ts.do("GET", "/login", "", ""); res.StatusCode != 200 {
				t.Errorf("GET /login = %d", res.StatusCode)
			}
		})

		for _, class := range []string{"intake", "open311", "ingest", "login"} {
			if n := ts.scrapeMetric(`cityops_http_rate_limited_total{class="` + class + `"}`); n < 1 {
				t.Errorf("refused %s = %v", class, n)
			}
		}
	})
}

// TestRateLimitsBounded floods the limiter from many addresses: the table
// stays within MaxClients, and forgets clients whose buckets are full.
func TestRateLimitsBounded(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB) {
		clock := &limiterClock{t: time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)}
		ts := newServerWith(t, db, func(c *cityhttp.Config) {
			c.RateLimits = cityhttp.RateLimits{Intake: cityhttp.Rate{N: 1, Per: time.Minute, Burst: 1}, MaxClients: 100, Now: clock.Now}
		})
		const series = `cityops_http_rate_limit_clients{class="intake"}`
		for i := range 1000 {
			addr := fmt.Sprintf("198.18.%d.%d:5000", i/250, i%250+1)
			if i%2 == 1 {
				addr = fmt.Sprintf("[2001:db8:%x::1]:5000", i)
			}
			if w := serveFrom(ts, addr, "POST", "/api/v1/reports", "{}"); w.Code != 400 {
				t.Fatalf("request %d = %d %s", i, w.Code, w.Body)
			}
			if i%100 == 99 {
				if n := ts.scrapeMetric(series); n < 1 || n > 100 {
					t.Fatalf("after %d addresses the table holds %v; want 1 to 100", i+1, n)
				}
			}
		}
		clock.Advance(2 * time.Minute)
		serveFrom(ts, "192.0.2.1:5000", "POST", "/api/v1/reports", "{}")
		if n := ts.scrapeMetric(series); n != 1 {
			t.Errorf("after the buckets filled up again the table holds %v; want 1", n)
		}
	})
}

// TestRateLimitsOff checks that the zero configuration and "off" limit
// nothing.
func TestRateLimitsOff(t *testing.T) {
	off, err := cityhttp.ParseRateLimits("off")
	if err != nil {
		t.Fatal(err)
	}
	storagetest.Each(t, func(t *testing.T, db *storage.DB) {
		ts := newServerWith(t, db, func(c *cityhttp.Config) { c.RateLimits = off })
		for i := range 50 {
			if res, body := ts.do("POST", "/api/v1/reports", "", "{}"); res.StatusCode != 400 {
				t.Fatalf("report %d = %d %s", i+1, res.StatusCode, body)
			}
		}
		if n := ts.scrapeMetric(`cityops_http_rate_limited_total{class="intake"}`); n != -1 {
			t.Errorf("limits off, yet the refusals are counted: %v", n)
		}
	})
}

func TestParseRateLimits(t *testing.T) {
	def := cityhttp.DefaultRateLimits()
	for _, tt := range []struct {
		in   string
		want func(l *cityhttp.RateLimits)
		err  string
	}{
		{"", func(l *cityhttp.RateLimits) {}, ""},
		{"login=5/m", func(l *cityhttp.RateLimits) { l.Login = cityhttp.Rate{N: 5, Per: time.Minute, Burst: 5} }, ""},
		{" intake=3/h:10 , ingest-key=off", func(l *cityhttp.RateLimits) {
			l.Intake = cityhttp.Rate{N: 3, Per: time.Hour, Burst: 10}
			l.IngestKey = cityhttp.Rate{}
		}, ""},
		{"off", func(l *cityhttp.RateLimits) { *l = cityhttp.RateLimits{} }, ""},
		{"off,open311-key=2/s", func(l *cityhttp.RateLimits) {
			*l = cityhttp.RateLimits{Open311Key: cityhttp.Rate{N: 2, Per: time.Second, Burst: 2}}
		}, ""},
		{"logins=5/m", nil, "CLASS one of"},
		{"login=5/d", nil, "want N/s, N/m or N/h"},
		{"login=0/m", nil, "want N/s"},
		{"login=5/m:0", nil, "want N/s"},
		{"login", nil, "want N/s"},
	} {
		got, err := cityhttp.ParseRateLimits(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ParseRateLimits(%q) = %v; want an error with %q", tt.in, err, tt.err)
			}
			continue
		}
		want := def
		tt.want(&want)
		if err != nil || got.String() != want.String() {
			t.Errorf("ParseRateLimits(%q) = %s, %v; want %s", tt.in, got, err, want)
		}
	}
	// The defaults read back as themselves.
	if got, err := cityhttp.ParseRateLimits(def.String()); err != nil || got.String() != def.String() {
		t.Errorf("defaults %s read back as %s, %v", def, got, err)
	}
}
