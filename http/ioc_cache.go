package http

import (
	"bytes"
	"context"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cityops/cityops"
)

// figureCache keeps the dashboard's answers for a moment. A video wall is
// many screens asking for the same figures at once, and every operator's
// page refreshes them after each case event: one computation serves them
// all. Requests that arrive while an answer is being computed wait for it
// rather than computing it again. Answers differ by what the viewer may
// see, so the viewer's scope is part of the key.
type figureCache struct {
	ttl     time.Duration
	mu      sync.Mutex
	entries map[string]*cachedAnswer
	hits    atomic.Uint64
	misses  atomic.Uint64
	// epoch changes with every case, alarm and warning event, so that a
	// figure computed before one is not served after it.
	epoch atomic.Uint64
}

// follow moves the epoch on each event that changes the figures (a case,
// an alarm, a warning; readings change only the live values, which the
// stream carries itself) until stop is closed.
func (c *figureCache) follow(live LiveSource, stop <-chan struct{}) {
	events, leave := live.Subscribe()
	defer leave()
	for {
		select {
		case <-stop:
			return
		case e := <-events:
			if e.Kind != "readings" {
				c.epoch.Add(1)
			}
		}
	}
}

type cachedAnswer struct {
	done       chan struct{} // closed once computed
	refreshing bool          // a background computation runs
	at         time.Time
	status     int
	ctype      string
	body       []byte
	err        error
}

// capture is a ResponseWriter that keeps the answer.
type capture struct {
	header http.Header
	status int
	buf    bytes.Buffer
}

func (c *capture) Header() http.Header { return c.header }
func (c *capture) WriteHeader(status int) {
	if c.status == 0 {
		c.status = status
	}
}
func (c *capture) Write(b []byte) (int, error) {
	if c.status == 0 {
		c.status = http.StatusOK
	}
	return c.buf.Write(b)
}

// scopeKey names what an actor may see of the dashboard: the centre sees
// everything, agency staff their agency, ward officers their ward.
func scopeKey(a *cityops.Actor) string {
	alarms := "n"
	if a.Can(cityops.PermAlarmsRead) {
		alarms = "y"
	}
	switch {
	case a == nil:
		return "anon"
	case a.System:
		return "sys"
	case a.APIKey != nil:
		return "key:" + a.APIKey.Agency + ":" + alarms
	}
	u := a.User
	switch u.Role {
	case cityops.RoleOperator, cityops.RoleSteering, cityops.RoleAdmin:
		return "all:" + alarms
	case cityops.RoleWardOfficer:
		return "ward:" + u.AgencyCode + ":" + u.AreaCode + ":" + alarms
	}
	return "agency:" + u.AgencyCode + ":" + alarms
}

// cached answers from the cache, or runs h and keeps a 200 answer.
// Errors are never kept. Key and freshness:
//   - the key holds the epoch, so after a case, alarm or warning event the
//     next request computes afresh and the others wait for that answer;
//   - an answer older than the time to live is still served, and the
//     request that finds it so starts one computation in the background
//     (stale-while-revalidate): a wall of screens never waits for the
//     figures of a quiet city.
func (s *Server) cached(h handlerFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		c := s.figures
		if c == nil || c.ttl <= 0 {
			return h(w, r)
		}
		key := strconv.FormatUint(c.epoch.Load(), 10) + "|" + scopeKey(cityops.ActorFromContext(r.Context())) + "|" + langFrom(r.Context()) +
			"|" + r.URL.Path + "?" + r.URL.Query().Encode()
		now := time.Now()
		c.mu.Lock()
		e := c.entries[key]
		if e != nil && isDone(e.done) && e.err != nil {
			e = nil // failed: compute again
		}
		if e == nil {
			c.misses.Add(1)
			e = &cachedAnswer{done: make(chan struct{}), at: now}
			c.purge(now)
			c.entries[key] = e
			c.mu.Unlock()
			rec := &capture{header: http.Header{}}
			err := h(rec, r)
			c.mu.Lock()
			e.err, e.status, e.ctype, e.body = err, rec.status, rec.header.Get("Content-Type"), rec.buf.Bytes()
			if err == nil && e.status != http.StatusOK {
				e.err = errNotCached
			}
			close(e.done)
			c.mu.Unlock()
			switch {
			case err != nil:
				return err
			case e.err == errNotCached:
				return writeCaptured(w, rec.header, rec.status, e.body)
			}
			return serveAnswer(w, e.ctype, e.body, e.at)
		}
		c.hits.Add(1)
		if isDone(e.done) && now.Sub(e.at) > c.ttl && !e.refreshing {
			e.refreshing = true
			go c.refresh(key, e, h, r.Clone(context.WithoutCancel(r.Context())))
		}
		c.mu.Unlock()
		select {
		case <-e.done:
		case <-r.Context().Done():
			return nil
		}
		c.mu.Lock()
		ctype, body, at, err := e.ctype, e.body, e.at, e.err
		c.mu.Unlock()
		if err != nil { // the computation failed: this request tries itself
			return h(w, r)
		}
		return serveAnswer(w, ctype, body, at)
	}
}

// refresh computes an answer again in the background and keeps it when
// it succeeds; a failure keeps the old answer (and is logged).
func (c *figureCache) refresh(key string, e *cachedAnswer, h handlerFunc, r *http.Request) {
	rec := &capture{header: http.Header{}}
	err := h(rec, r)
	c.mu.Lock()
	defer c.mu.Unlock()
	e.refreshing = false
	if err != nil || rec.status != http.StatusOK {
		return
	}
	e.at, e.ctype, e.body = time.Now(), rec.header.Get("Content-Type"), rec.buf.Bytes()
}

// purge drops the answers nobody can ask for any more (older epochs) and
// long-stale ones once there are many; c.mu is held.
func (c *figureCache) purge(now time.Time) {
	if len(c.entries) < 1000 {
		return
	}
	for k, old := range c.entries {
		if isDone(old.done) && !old.refreshing && now.Sub(old.at) > 10*c.ttl {
			delete(c.entries, k)
		}
	}
}

func serveAnswer(w http.ResponseWriter, ctype string, body []byte, at time.Time) error {
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Age", strconv.Itoa(int(time.Since(at).Seconds())))
	w.WriteHeader(http.StatusOK)
	w.Write(body)
	return nil
}

// errNotCached marks an answer other than 200, passed on but not kept.
var errNotCached = cityops.Errorf(cityops.EINTERNAL, "not cached")

func writeCaptured(w http.ResponseWriter, h http.Header, status int, body []byte) error {
	if status == 0 {
		status = http.StatusOK
	}
	for k, v := range h {
		w.Header()[k] = v
	}
	w.WriteHeader(status)
	w.Write(body)
	return nil
}

func isDone(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}
