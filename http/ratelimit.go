package http

import (
	"fmt"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cityops/cityops"
	"github.com/prometheus/client_golang/prometheus"
)

// Rate is how fast one client may send requests of a class: N per Per on
// average and at most Burst at once. The zero Rate is off.
type Rate struct {
	N     int
	Per   time.Duration
	Burst int
}

// Off reports whether the rate limits nothing.
func (r Rate) Off() bool { return r.N <= 0 || r.Per <= 0 }

// String writes the rate as ParseRate reads it.
func (r Rate) String() string {
	if r.Off() {
		return "off"
	}
	unit, ok := map[time.Duration]string{time.Second: "s", time.Minute: "m", time.Hour: "h"}[r.Per]
	if !ok {
		unit = r.Per.String()
	}
	s := strconv.Itoa(r.N) + "/" + unit
	if r.Burst != r.N {
		s += ":" + strconv.Itoa(r.Burst)
	}
	return s
}

// ParseRate reads "N/s", "N/m" or "N/h", optionally followed by ":BURST"
// (the default burst is N), or "off".
func ParseRate(s string) (Rate, error) {
	if s == "off" {
		return Rate{}, nil
	}
	bad := fmt.Errorf("rate %q: want N/s, N/m or N/h, optionally :BURST, or off", s)
	spec, burst, hasBurst := strings.Cut(s, ":")
	num, unit, ok := strings.Cut(spec, "/")
	if !ok {
		return Rate{}, bad
	}
	r := Rate{Per: map[string]time.Duration{"s": time.Second, "m": time.Minute, "h": time.Hour}[unit]}
	var err error
	if r.N, err = strconv.Atoi(num); err != nil || r.N < 1 || r.N > 1_000_000 || r.Per == 0 {
		return Rate{}, bad
	}
	r.Burst = r.N
	if hasBurst {
		if r.Burst, err = strconv.Atoi(burst); err != nil || r.Burst < 1 || r.Burst > 1_000_000 {
			return Rate{}, bad
		}
	}
	return r, nil
}

// RateLimits are the request rates allowed to one source address (IPv6 by
// /64) or, for requests carrying an API key, to one key. Requests of
// classes with a per-key rate are counted against their key alone, so that
// a gateway with a key is not throttled by its neighbours. The zero value
// limits nothing; serve starts from DefaultRateLimits.
type RateLimits struct {
	// Login is for POST /login and the later steps of signing in
	// (/login/verify, /login/forgot, /login/reset), per address only (API
	// keys do not sign in).
	Login Rate
	// Intake is for new reports, photos and citizens' answers on a
	// report's page (POST /report, /api/v1/reports, /api/v1/photos,
	// /r/{tracking}).
	Intake, IntakeKey Rate
	// Open311 is for Open311 writes (POST /open311/v2/…).
	Open311, Open311Key Rate
	// Ingest is for data writes: NGSI-LD POST, PUT, PATCH and DELETE,
	// POST /api/v1/observations and /api/v1/devices/{key}/{id}/attrs.
	Ingest, IngestKey Rate
	// MaxClients caps how many addresses and keys each class keeps track
	// of, so that many addresses cannot exhaust memory (default 100,000).
	MaxClients int
	// Now is the limiter's clock; nil is time.Now. Tests move it.
	Now func() time.Time
}

// DefaultRateLimits suit a city: a citizen files a few reports a minute, a
// staff office behind one address signs in at the start of the day, and a
// busy sensor gateway with its API key is never held back.
func DefaultRateLimits() RateLimits {
	return RateLimits{
		Login:      Rate{10, time.Minute, 10},
		Intake:     Rate{10, time.Minute, 20},
		IntakeKey:  Rate{600, time.Minute, 100},
		Open311:    Rate{10, time.Minute, 20},
		Open311Key: Rate{600, time.Minute, 100},
		Ingest:     Rate{20, time.Second, 200},
		IngestKey:  Rate{1000, time.Second, 10000},
	}
}

// rateFields names the settings of RateLimits as ParseRateLimits reads them.
func (l *RateLimits) rateFields() []struct {
	name string
	rate *Rate
} {
	return []struct {
		name string
		rate *Rate
	}{{"login", &l.Login}, {"intake", &l.Intake}, {"intake-key", &l.IntakeKey}, {"open311", &l.Open311},
		{"open311-key", &l.Open311Key}, {"ingest", &l.Ingest}, {"ingest-key", &l.IngestKey}}
}

// String writes the limits as ParseRateLimits reads them.
func (l RateLimits) String() string {
	var parts []string
	for _, f := range l.rateFields() {
		parts = append(parts, f.name+"="+f.rate.String())
	}
	return strings.Join(parts, ",")
}

// ParseRateLimits reads "CLASS=RATE,…" over DefaultRateLimits: classes not
// named keep their default. "off" alone (or as an item) turns every limit
// off; "" is the defaults.
func ParseRateLimits(s string) (RateLimits, error) {
	l := DefaultRateLimits()
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		if item == "off" {
			l = RateLimits{}
			continue
		}
		name, spec, _ := strings.Cut(item, "=")
		var rate *Rate
		for _, f := range l.rateFields() {
			if f.name == strings.TrimSpace(name) {
				rate = f.rate
			}
		}
		if rate == nil {
			return RateLimits{}, fmt.Errorf("-rate-limits %q: want CLASS=RATE with CLASS one of login, intake, intake-key, open311, open311-key, ingest, ingest-key", item)
		}
		r, err := ParseRate(strings.TrimSpace(spec))
		if err != nil {
			return RateLimits{}, fmt.Errorf("-rate-limits %s: %w", name, err)
		}
		*rate = r
	}
	return l, nil
}

// rateClass is one class of limited requests with its own table of
// clients.
type rateClass struct {
	name string // metric label and log value
	what string // what is counted, for the refusal's message
	addr Rate
	key  Rate
	// keyed gives API keys their own buckets, with rate key.
	keyed bool

	now       func() time.Time
	max       int
	mu        sync.Mutex
	base      time.Time
	buckets   map[string]bucket
	nextSweep time.Duration
}

// bucket is one client's state in the generic cell rate algorithm: tat is
// the theoretical arrival time of its next request, since the class's
// base time. A bucket whose tat has passed is full, and forgotten.
type bucket struct {
	tat time.Duration
	// refusing is set from a client's first refused request until the
	// next allowed one, so that a flood is logged once.
	refusing bool
}

// sweepEvery is how often full buckets are dropped from a class's table.
const sweepEvery = time.Minute

// take counts one request of client at rate r. It returns how long the
// client must wait when the request is refused (0 when allowed) and
// whether this is the first refusal in a row.
func (c *rateClass) take(client string, r Rate) (wait time.Duration, first bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.now().Sub(c.base)
	if t >= c.nextSweep {
		c.sweep(t)
	}
	interval := r.Per / time.Duration(r.N)
	window := interval * time.Duration(max(r.Burst, 1))
	b, ok := c.buckets[client]
	tat := max(b.tat, t) + interval
	if tat-t > window {
		first = !b.refusing
		b.refusing = true
		c.buckets[client] = b
		return tat - t - window, first
	}
	if !ok && len(c.buckets) >= c.max {
		c.makeRoom(t)
	}
	c.buckets[client] = bucket{tat: tat}
	return 0, false
}

// sweep drops the buckets that are full again; it runs under c.mu.
func (c *rateClass) sweep(t time.Duration) {
	for k, b := range c.buckets {
		if b.tat <= t {
			delete(c.buckets, k)
		}
	}
	c.nextSweep = t + sweepEvery
}

// makeRoom brings a full table down to nine tenths: first the full
// buckets go, then, if clients still limited fill it, any. Those dropped
// start afresh, which is lenient, but memory stays bounded and no new
// client is refused for want of room. It runs under c.mu.
func (c *rateClass) makeRoom(t time.Duration) {
	c.sweep(t)
	for k := range c.buckets {
		if len(c.buckets) <= c.max*9/10 {
			break
		}
		delete(c.buckets, k)
	}
}

// clients returns how many addresses and keys the class keeps track of.
func (c *rateClass) clients() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.buckets)
}

// rateLimiter holds the classes and which route belongs to which.
type rateLimiter struct {
	classes []*rateClass
	// byPattern maps route patterns to their class.
	byPattern map[string]*rateClass
	refused   *prometheus.CounterVec
}

// newRateLimiter builds the limiter for the server's routes; nil when every
// limit is off.
func (s *Server) newRateLimiter(l RateLimits) *rateLimiter {
	if l.Now == nil {
		l.Now = time.Now
	}
	if l.MaxClients <= 0 {
		l.MaxClients = 100_000
	}
	rl := &rateLimiter{byPattern: map[string]*rateClass{}}
	class := func(name, what string, addr, key Rate, keyed bool) *rateClass {
		if addr.Off() && (!keyed || key.Off()) {
			return nil
		}
		c := &rateClass{name: name, what: what, addr: addr, key: key, keyed: keyed, now: l.Now, max: l.MaxClients,
			base: l.Now(), buckets: map[string]bucket{}, nextSweep: sweepEvery}
		rl.classes = append(rl.classes, c)
		return c
	}
	login := class("login", "sign-in attempts", l.Login, Rate{}, false)
	intake := class("intake", "reports and photos", l.Intake, l.IntakeKey, true)
	open311 := class("open311", "Open311 requests", l.Open311, l.Open311Key, true)
	ingest := class("ingest", "data writes", l.Ingest, l.IngestKey, true)
	if len(rl.classes) == 0 {
		return nil
	}
	for _, rt := range s.routes {
		method, path, _ := strings.Cut(rt.Pattern, " ")
		write := method == http.MethodPost || method == http.MethodPut || method == http.MethodPatch || method == http.MethodDelete
		var c *rateClass
		switch {
		case rt.Pattern == "POST /login" || strings.HasPrefix(rt.Pattern, "POST /login/"):
			// The password, the second factor, reset links asked for
			// and used: one budget per address.
			c = login
		case rt.Pattern == "POST /report" || rt.Pattern == "POST /api/v1/reports" || rt.Pattern == "POST /api/v1/photos" ||
			rt.Pattern == "POST /r/{tracking}":
			c = intake
		case method == http.MethodPost && strings.HasPrefix(path, open311Prefix):
			c = open311
		case write && strings.HasPrefix(path, ngsiPrefix), rt.Pattern == "POST "+bulkPath,
			rt.Pattern == "POST /api/v1/devices/{key}/{id}/attrs":
			c = ingest
		}
		if c != nil {
			rl.byPattern[rt.Pattern] = c
		}
	}
	rl.refused = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "cityops_http_rate_limited_total",
		Help: "Requests refused with 429 by the rate limits, by class (login, intake, open311, ingest)."}, []string{"class"})
	s.Registry.MustRegister(rl.refused)
	for _, c := range rl.classes {
		rl.refused.WithLabelValues(c.name)
		s.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "cityops_http_rate_limit_clients",
			Help: "Source addresses and API keys the rate limits keep track of, by class.", ConstLabels: prometheus.Labels{"class": c.name}},
			func() float64 { return float64(c.clients()) }))
	}
	return rl
}

// rateLimit refuses requests over their class's rate with 429 and a
// Retry-After. It runs after authenticate, which tells it the API key.
func (s *Server) rateLimit(next http.Handler) http.Handler {
	if s.limiter == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet || r.Method == http.MethodHead || r.Method == http.MethodOptions {
			next.ServeHTTP(w, r) // reading is never limited
			return
		}
		_, pattern := s.mux.Handler(r)
		c := s.limiter.byPattern[pattern]
		if c == nil {
			next.ServeHTTP(w, r)
			return
		}
		rate, client, by := c.addr, "a:"+sourceKey(remoteIP(r)), "this address"
		if a := cityops.ActorFromContext(r.Context()); c.keyed && a != nil && a.APIKey != nil {
			rate, client, by = c.key, "k:"+strconv.FormatInt(a.APIKey.ID, 10), "this API key"
		}
		if rate.Off() {
			next.ServeHTTP(w, r)
			return
		}
		wait, first := c.take(client, rate)
		if wait == 0 {
			next.ServeHTTP(w, r)
			return
		}
		s.limiter.refused.WithLabelValues(c.name).Inc()
		secs := int((wait + time.Second - 1) / time.Second)
		if first {
			// No address or key in the log: the class and kind suffice.
			s.Log.Info("rate limited", "class", c.name, "by", strings.TrimPrefix(by, "this "), "retry_after_s", secs)
		}
		s.Error(w, r, cityops.TooMany(wait, "too many %s from %s; try again in %d s", c.what, by, secs))
	})
}

// sourceKey is the address a client is counted by: IPv4 addresses as they
// are, IPv6 ones by their /64, which one household or host usually holds.
func sourceKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	a = a.WithZone("").Unmap()
	if a.Is4() {
		return a.String()
	}
	return netip.PrefixFrom(a, 64).Masked().String()
}
