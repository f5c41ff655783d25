package notify

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"slices"
	"sync"
	"time"

	"github.com/cityops/cityops"
	"github.com/cityops/cityops/ngsild/geoq"
	"github.com/cityops/cityops/ngsild/jsonld"
	"github.com/cityops/cityops/ngsild/q"
	"github.com/cityops/cityops/ngsild/repr"
	"github.com/prometheus/client_golang/prometheus"
)

// Notifier sends NGSI-LD notifications (ETSI GS CIM 009 clause 5.8, HTTP
// binding) for the subscriptions in Store. It listens to committed entity
// writes (EntityChanged, an EntityListener), matches each against the
// active subscriptions it keeps in memory, and queues the match per
// (subscription, entity): a newer change of an entity replaces the queued
// one, so memory is bounded by subscriptions × entities, and by
// MaxPending overall (what does not fit is dropped and counted). Workers
// POST one notification per subscription at a time, with all of its
// queued entities (up to MaxBatch), no more often than its throttling
// allows. A failed one goes back to the queue (under newer changes of
// the same entities) and is tried again after a back-off, Attempts times
// in all; then it is given up and counted.
//
// The queue is memory only: what is queued when the process stops is not
// sent. The delivery counters go to storage in batches (FlushEvery).
//
// A periodic subscription (timeInterval) is not matched against changes:
// every interval, a worker reads its entities from Entities and sends
// them, in notifications of MaxBatch entities, at most MaxPeriodic in all.
//
// Notifier also implements cityops.SubscriptionService over Store, so
// that the HTTP layer's changes take effect at once; changes made by
// other processes sharing the database are picked up every PollEvery.
type Notifier struct {
	Store cityops.SubscriptionStore
	// Entities answers periodic subscriptions (timeInterval).
	Entities cityops.EntityService
	// Contexts loads the JSON-LD contexts subscriptions name.
	Contexts jsonld.Loader
	// Client makes the deliveries; nil is one that does not follow
	// redirects.
	Client *http.Client
	Log    *slog.Logger
	Now    func() time.Time

	MaxPending  int           // (subscription, entity) pairs queued at most; default 100000
	MaxBatch    int           // entities per notification at most; default 100
	MaxPeriodic int           // entities per periodic round at most; default 10000
	Workers     int           // deliveries in parallel; default 8
	Attempts    int           // tries per notification; default 3
	Backoff     time.Duration // wait before the first retry, doubling; default 1s
	Timeout     time.Duration // per attempt, unless the endpoint asks for less; default 10s
	FlushEvery  time.Duration // default 1s
	PollEvery   time.Duration // default 10s

	once     sync.Once
	reloadMu sync.Mutex
	version  string

	mu       sync.Mutex
	cond     *sync.Cond
	queues   map[subKey]*subQueue
	byTenant map[string][]*subQueue
	ready    []*subQueue
	pending  int
	stopped  bool
	results  map[subKey]*cityops.NotificationResult
	stats    NotifierStats
}

// NotifierStats counts what the notifier did since it started.
type NotifierStats struct {
	Matched   int64 // changes that matched a subscription
	Coalesced int64 // matches that replaced a queued change of the same entity
	Dropped   int64 // matches dropped because MaxPending was reached
	Sent      int64 // delivery attempts
	Failed    int64 // failed attempts
	Abandoned int64 // notifications given up after the last attempt
	Pending   int   // (subscription, entity) pairs queued now
	Active    int   // subscriptions being matched
}

type subKey struct{ tenant, id string }

// subQueue is one subscription's queue and delivery state. It outlives
// changes of the definition, so that nothing queued is lost and
// throttling carries over.
type subQueue struct {
	key     subKey
	def     *subDef // the current definition; nil once deleted or paused
	pending map[string]*cityops.EntityChange
	order   []string
	queued  bool // in Notifier.ready
	busy    bool // a worker is delivering
	failed  int  // failed attempts at the notification being retried
	nextAt  time.Time
	timer   *time.Timer
	// due marks a periodic subscription's round as due; tick makes it due.
	due  bool
	tick *time.Timer
}

// subDef is a subscription compiled for matching and rendering.
type subDef struct {
	sub       *cityops.Subscription
	selectors []selector
	watched   map[string]bool
	triggers  map[string]bool
	expr      q.Expr
	geo       *geoq.Query
	expand    func(string) string // q names
	compact   *jsonld.Context     // notification names
	link      string              // the context's URL; "" for an inline context
	ldContext any                 // the @context member of application/ld+json notifications
	attrs     map[string]bool
	throttle  time.Duration
	interval  time.Duration // periodic when > 0
	timeout   time.Duration
}

type selector struct {
	id, typ string
	re      *regexp.Regexp
}

var _ cityops.SubscriptionService = (*Notifier)(nil)

func (n *Notifier) init() {
	if n.MaxPending <= 0 {
		n.MaxPending = 100000
	}
	if n.MaxBatch <= 0 {
		n.MaxBatch = 100
	}
	if n.MaxPeriodic <= 0 {
		n.MaxPeriodic = 10000
	}
	if n.Workers <= 0 {
		n.Workers = 8
	}
	if n.Attempts <= 0 {
		n.Attempts = 3
	}
	if n.Backoff <= 0 {
		n.Backoff = time.Second
	}
	if n.Timeout <= 0 {
		n.Timeout = 10 * time.Second
	}
	if n.FlushEvery <= 0 {
		n.FlushEvery = time.Second
	}
	if n.PollEvery <= 0 {
		n.PollEvery = 10 * time.Second
	}
	if n.Now == nil {
		n.Now = time.Now
	}
	if n.Log == nil {
		n.Log = slog.Default()
	}
	if n.Client == nil {
		n.Client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	n.cond = sync.NewCond(&n.mu)
	n.queues = map[subKey]*subQueue{}
	n.byTenant = map[string][]*subQueue{}
	n.results = map[subKey]*cityops.NotificationResult{}
}

func sysCtx(ctx context.Context) context.Context {
	return cityops.NewContextWithActor(context.WithoutCancel(ctx), cityops.SystemActor())
}

// Run loads the subscriptions and delivers until ctx ends; then it stops
// the workers (deliveries in flight are abandoned) and writes the last
// counters.
func (n *Notifier) Run(ctx context.Context) {
	n.once.Do(n.init)
	if err := n.Load(ctx); err != nil && ctx.Err() == nil {
		n.Log.Error("subscriptions: load", "err", err)
	}
	var wg sync.WaitGroup
	for range n.Workers {
		wg.Add(1)
		go func() { defer wg.Done(); n.work(ctx) }()
	}
	flush := time.NewTicker(n.FlushEvery)
	poll := time.NewTicker(n.PollEvery)
	defer flush.Stop()
	defer poll.Stop()
	for done := false; !done; {
		select {
		case <-ctx.Done():
			done = true
		case <-flush.C:
			n.Flush(ctx)
		case <-poll.C:
			if err := n.poll(ctx); err != nil && ctx.Err() == nil {
				n.Log.Warn("subscriptions: poll", "err", err)
			}
		}
	}
	n.mu.Lock()
	n.stopped = true
	for _, sq := range n.queues {
		if sq.timer != nil {
			sq.timer.Stop()
		}
		if sq.tick != nil {
			sq.tick.Stop()
		}
	}
	n.cond.Broadcast()
	n.mu.Unlock()
	wg.Wait()
	fctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	n.Flush(fctx)
}

// Stats returns the counters.
func (n *Notifier) Stats() NotifierStats {
	n.once.Do(n.init)
	n.mu.Lock()
	defer n.mu.Unlock()
	s := n.stats
	s.Pending = n.pending
	for _, list := range n.byTenant {
		s.Active += len(list)
	}
	return s
}

// Collectors returns the notifier's Prometheus metrics.
func (n *Notifier) Collectors() []prometheus.Collector {
	c := func(name, help string, f func(NotifierStats) float64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 { return f(n.Stats()) })
	}
	g := func(name, help string, f func(NotifierStats) float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, func() float64 { return f(n.Stats()) })
	}
	return []prometheus.Collector{
		c("cityops_subscription_matches_total", "Entity changes that matched an NGSI-LD subscription.", func(s NotifierStats) float64 { return float64(s.Matched) }),
		c("cityops_subscription_coalesced_total", "Matches that replaced a queued change of the same entity.", func(s NotifierStats) float64 { return float64(s.Coalesced) }),
		c("cityops_subscription_dropped_total", "Matches dropped because the notification queue was full.", func(s NotifierStats) float64 { return float64(s.Dropped) }),
		c("cityops_subscription_attempts_total", "Notification delivery attempts.", func(s NotifierStats) float64 { return float64(s.Sent) }),
		c("cityops_subscription_attempts_failed_total", "Failed notification delivery attempts.", func(s NotifierStats) float64 { return float64(s.Failed) }),
		c("cityops_subscription_abandoned_total", "Notifications given up after the last attempt.", func(s NotifierStats) float64 { return float64(s.Abandoned) }),
		g("cityops_subscription_pending", "Entity changes queued for notification.", func(s NotifierStats) float64 { return float64(s.Pending) }),
		g("cityops_subscriptions_active", "NGSI-LD subscriptions being matched.", func(s NotifierStats) float64 { return float64(s.Active) }),
	}
}

// Load reads every active subscription anew.
func (n *Notifier) Load(ctx context.Context) error {
	n.once.Do(n.init)
	n.reloadMu.Lock()
	defer n.reloadMu.Unlock()
	v, err := n.Store.SubscriptionsVersion(ctx)
	if err != nil {
		return err
	}
	list, err := n.Store.ActiveSubscriptions(sysCtx(ctx))
	if err != nil {
		return err
	}
	defs := map[subKey]*subDef{}
	for _, s := range list {
		d, err := n.compile(s)
		if err != nil {
			n.Log.Warn("subscription ignored", "tenant", s.Tenant, "id", s.ID, "err", err)
			continue
		}
		defs[subKey{s.Tenant, s.ID}] = d
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	for k := range n.queues {
		if defs[k] == nil {
			n.setLocked(k, nil)
		}
	}
	for k, d := range defs {
		n.setLocked(k, d)
	}
	n.version = v
	return nil
}

func (n *Notifier) poll(ctx context.Context) error {
	v, err := n.Store.SubscriptionsVersion(ctx)
	if err != nil {
		return err
	}
	n.reloadMu.Lock()
	same := v == n.version
	n.reloadMu.Unlock()
	if same {
		return nil
	}
	return n.Load(ctx)
}

// refresh reloads one subscription after this process changed it.
func (n *Notifier) refresh(ctx context.Context, tenant, id string) {
	n.once.Do(n.init)
	n.reloadMu.Lock()
	defer n.reloadMu.Unlock()
	key := subKey{tenant, id}
	s, err := n.Store.FindSubscription(sysCtx(ctx), tenant, id)
	var d *subDef
	switch {
	case cityops.ErrorCode(err) == cityops.ENOTFOUND:
	case err != nil:
		n.Log.Error("subscription reload", "tenant", tenant, "id", id, "err", err)
		return
	case s.Active:
		if d, err = n.compile(s); err != nil {
			n.Log.Warn("subscription ignored", "tenant", tenant, "id", id, "err", err)
		}
	}
	n.mu.Lock()
	n.setLocked(key, d)
	n.mu.Unlock()
}

// setLocked installs a subscription's definition (nil removes it),
// keeping its queue when it changes and emptying it when it goes. Only
// subscriptions on changes are matched (byTenant); a periodic one gets
// its first round at once.
func (n *Notifier) setLocked(key subKey, d *subDef) {
	sq := n.queues[key]
	if sq == nil {
		if d == nil {
			return
		}
		sq = &subQueue{key: key, pending: map[string]*cityops.EntityChange{}}
		n.queues[key] = sq
	}
	old := sq.def
	if old != nil && d != nil && old.sub.ModifiedAt.Equal(d.sub.ModifiedAt) {
		return // reloaded unchanged: keep the timers going
	}
	sq.def = d
	if d == nil || d.interval > 0 {
		n.pending -= len(sq.pending)
		sq.pending, sq.order, sq.failed = map[string]*cityops.EntityChange{}, nil, 0
		if sq.timer != nil {
			sq.timer.Stop()
			sq.timer = nil
		}
	}
	if sq.tick != nil {
		sq.tick.Stop()
		sq.tick = nil
	}
	sq.due = d != nil && d.interval > 0
	if d == nil && !sq.busy {
		delete(n.queues, key)
	}
	wasIn, isIn := old != nil && old.interval == 0, d != nil && d.interval == 0
	if wasIn != isIn {
		list := n.byTenant[key.tenant][:0:0]
		for _, x := range n.byTenant[key.tenant] {
			if x != sq {
				list = append(list, x)
			}
		}
		if isIn {
			list = append(list, sq)
		}
		if len(list) == 0 {
			delete(n.byTenant, key.tenant)
		} else {
			n.byTenant[key.tenant] = list
		}
	}
	if sq.due {
		n.scheduleLocked(sq)
	}
}

// compile prepares a subscription for matching and rendering.
func (n *Notifier) compile(s *cityops.Subscription) (*subDef, error) {
	d := &subDef{sub: s, watched: map[string]bool{}, triggers: s.TriggerSet(), compact: jsonld.Core(), link: jsonld.CoreURL, ldContext: jsonld.CoreURL}
	ctx := jsonld.Core()
	if len(s.Context) > 0 {
		c, err := jsonld.Build(s.Context, n.Contexts)
		if err != nil {
			return nil, fmt.Errorf("@context: %w", err)
		}
		ctx = c
		var local any
		json.Unmarshal(s.Context, &local)
		d.compact, d.ldContext = c, local
		if u, ok := local.(string); ok {
			d.link = u
		} else {
			d.link = ""
		}
	}
	d.expand = ctx.ExpandTerm
	if s.JSONLDContext != "" {
		c, err := jsonld.Build(s.JSONLDContext, n.Contexts)
		if err != nil {
			return nil, fmt.Errorf("jsonldContext: %w", err)
		}
		d.compact, d.link, d.ldContext = c, s.JSONLDContext, s.JSONLDContext
	}
	for _, e := range s.Entities {
		sel := selector{id: e.ID, typ: e.Type}
		if e.ID == "" && e.IDPattern != "" {
			re, err := regexp.Compile(e.IDPattern)
			if err != nil {
				return nil, fmt.Errorf("idPattern: %w", err)
			}
			sel.re = re
		}
		d.selectors = append(d.selectors, sel)
	}
	for _, a := range s.WatchedAttributes {
		d.watched[a] = true
	}
	if len(s.Notification.Attributes) > 0 {
		d.attrs = map[string]bool{}
		for _, a := range s.Notification.Attributes {
			d.attrs[a] = true
		}
	}
	if s.Q != "" {
		expr, err := q.Parse(s.Q)
		if err != nil {
			return nil, fmt.Errorf("q: %w", err)
		}
		d.expr = expr
	}
	if g := s.GeoQ; g != nil {
		gq, err := geoq.Parse(g.Georel, g.Geometry, string(g.Coordinates), g.Geoproperty)
		if err != nil {
			return nil, fmt.Errorf("geoQ: %w", err)
		}
		d.geo = gq
	}
	d.throttle = time.Duration(s.Throttling * float64(time.Second))
	d.interval = time.Duration(s.TimeInterval * float64(time.Second))
	d.timeout = n.Timeout
	if t := time.Duration(s.Notification.Endpoint.Timeout) * time.Millisecond; t > 0 && t < d.timeout {
		d.timeout = t
	}
	return d, nil
}

// EntityChanged is the cityops.EntityListener: it matches the changes
// against the subscriptions of their tenant and queues the matches. It
// runs on the writer's goroutine and never waits for a delivery.
func (n *Notifier) EntityChanged(changes []cityops.EntityChange) {
	n.once.Do(n.init)
	now := n.Now()
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.stopped {
		return
	}
	for i := range changes {
		var c *cityops.EntityChange
		for _, sq := range n.byTenant[changes[i].Tenant] {
			if !sq.def.matches(&changes[i], now) {
				continue
			}
			if c == nil {
				c = new(cityops.EntityChange)
				*c = changes[i]
			}
			n.stats.Matched++
			n.enqueueLocked(sq, c)
		}
	}
}

// matches reports whether a change concerns the subscription: its entity
// selectors, its triggers and watched attributes, q and geoQ. The
// watched attributes filter every trigger except entityDeleted. An
// attribute an update adds is created (storage names them in NewAttrs),
// one it writes again updated; an entity's creation counts as the
// creation of all its attributes, its replacement as the update of all of
// them.
func (d *subDef) matches(c *cityops.EntityChange, now time.Time) bool {
	s := d.sub
	if s.ExpiresAt != nil && !s.ExpiresAt.After(now) {
		return false
	}
	if len(d.selectors) > 0 {
		ok := false
		for _, sel := range d.selectors {
			if sel.typ == c.Type && (sel.id == "" || sel.id == c.ID) && (sel.re == nil || sel.re.MatchString(c.ID)) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	if c.Deleted {
		return d.triggers[cityops.TriggerEntityDeleted]
	}
	if c.Entity == nil {
		return false
	}
	watchedIn := func() bool {
		if len(d.watched) == 0 {
			return true
		}
		for a := range c.Entity.Attrs {
			if d.watched[a] {
				return true
			}
		}
		return false
	}
	var hit bool
	switch {
	case c.Created:
		hit = (d.triggers[cityops.TriggerEntityCreated] || d.triggers[cityops.TriggerAttributeCreated]) && watchedIn()
	case len(c.Attrs) == 0: // replaced as a whole
		hit = d.triggers[cityops.TriggerAttributeUpdated] && watchedIn()
	default:
		for _, a := range c.Attrs {
			if len(d.watched) > 0 && !d.watched[a] {
				continue
			}
			if _, still := c.Entity.Attrs[a]; still {
				if slices.Contains(c.NewAttrs, a) {
					hit = d.triggers[cityops.TriggerAttributeCreated]
				} else {
					hit = d.triggers[cityops.TriggerAttributeUpdated]
				}
			} else {
				hit = d.triggers[cityops.TriggerAttributeDeleted]
			}
			if hit {
				break
			}
		}
	}
	if !hit {
		return false
	}
	if d.expr != nil && !q.Eval(d.expr, q.EntityGetter(c.Entity, d.expand)) {
		return false
	}
	return d.geo == nil || d.geo.Match(c.Entity)
}

// enqueueLocked queues a matching change, replacing a queued change of
// the same entity.
func (n *Notifier) enqueueLocked(sq *subQueue, c *cityops.EntityChange) {
	if _, ok := sq.pending[c.ID]; ok {
		sq.pending[c.ID] = c
		n.stats.Coalesced++
		return
	}
	if n.pending >= n.MaxPending {
		n.stats.Dropped++
		return
	}
	sq.pending[c.ID] = c
	sq.order = append(sq.order, c.ID)
	n.pending++
	n.scheduleLocked(sq)
}

// scheduleLocked hands a queue with work to the workers, now or when its
// throttling window ends.
func (n *Notifier) scheduleLocked(sq *subQueue) {
	if sq.busy || sq.queued || len(sq.order) == 0 && !sq.due || n.stopped {
		return
	}
	if wait := sq.nextAt.Sub(n.Now()); wait > 0 {
		if sq.timer == nil {
			sq.timer = time.AfterFunc(wait, func() {
				n.mu.Lock()
				defer n.mu.Unlock()
				sq.timer = nil
				n.scheduleLocked(sq)
			})
		}
		return
	}
	sq.queued = true
	n.ready = append(n.ready, sq)
	n.cond.Signal()
}

// work delivers queued notifications until the notifier stops.
func (n *Notifier) work(ctx context.Context) {
	for {
		n.mu.Lock()
		for len(n.ready) == 0 && !n.stopped {
			n.cond.Wait()
		}
		if n.stopped {
			n.mu.Unlock()
			return
		}
		sq := n.ready[0]
		n.ready[0] = nil
		n.ready = n.ready[1:]
		sq.queued = false
		d := sq.def
		if d != nil && d.interval > 0 && sq.due {
			sq.due, sq.busy = false, true
			n.mu.Unlock()
			started := n.Now()
			n.periodic(ctx, sq.key, d)
			n.mu.Lock()
			sq.busy = false
			if sq.def == d && !n.stopped {
				sq.tick = time.AfterFunc(started.Add(d.interval).Sub(n.Now()), func() {
					n.mu.Lock()
					defer n.mu.Unlock()
					if sq.def == d {
						sq.tick, sq.due = nil, true
						n.scheduleLocked(sq)
					}
				})
			} else if sq.def == nil && n.queues[sq.key] == sq {
				delete(n.queues, sq.key)
			} else {
				n.scheduleLocked(sq)
			}
			n.mu.Unlock()
			continue
		}
		if d == nil || len(sq.order) == 0 {
			n.mu.Unlock()
			continue
		}
		k := min(len(sq.order), n.MaxBatch)
		batch := make([]*cityops.EntityChange, 0, k)
		for _, id := range sq.order[:k] {
			batch = append(batch, sq.pending[id])
			delete(sq.pending, id)
		}
		sq.order = append([]string(nil), sq.order[k:]...)
		n.pending -= k
		sq.busy = true
		attempt := sq.failed + 1
		n.mu.Unlock()

		started := n.Now()
		err := n.deliver(ctx, sq.key, d, batch)

		n.mu.Lock()
		sq.busy = false
		switch {
		case ctx.Err() != nil:
		case err != nil && attempt < n.Attempts && retryable(err):
			// Try again after the back-off, with the batch back in the
			// queue under any newer change of its entities; the worker
			// is free meanwhile.
			sq.failed = attempt
			sq.nextAt = n.Now().Add(n.Backoff << (attempt - 1))
			n.requeueLocked(sq, batch)
		default:
			if err != nil {
				n.stats.Abandoned++
			}
			sq.failed = 0
			if d.throttle > 0 {
				sq.nextAt = started.Add(d.throttle)
			}
		}
		if sq.def == nil {
			if n.queues[sq.key] == sq {
				delete(n.queues, sq.key)
			}
		} else {
			n.scheduleLocked(sq)
		}
		n.mu.Unlock()
	}
}

// requeueLocked puts a failed batch back at the head of the queue,
// except for entities that changed again meanwhile.
func (n *Notifier) requeueLocked(sq *subQueue, batch []*cityops.EntityChange) {
	if sq.def == nil {
		return
	}
	var ids []string
	for _, c := range batch {
		if _, newer := sq.pending[c.ID]; !newer {
			sq.pending[c.ID] = c
			ids = append(ids, c.ID)
		}
	}
	sq.order = append(ids, sq.order...)
	n.pending += len(ids)
}

// deliver makes one attempt at a notification and records it for the
// status fields. Nothing is sent for a subscription that expired.
func (n *Notifier) deliver(ctx context.Context, key subKey, d *subDef, batch []*cityops.EntityChange) error {
	now := n.Now()
	if d.sub.Status(now) != cityops.SubscriptionActive {
		return nil
	}
	body, header, err := d.render(batch, now)
	if err != nil {
		n.Log.Error("notification", "subscription", key.id, "err", err)
		return nil
	}
	if key.tenant != "" {
		header.Set("NGSILD-Tenant", key.tenant)
	}
	err = n.post(ctx, d, body, header)
	if ctx.Err() != nil {
		return ctx.Err() // shutting down: not the receiver's failure
	}
	n.record(key, now, err)
	if err != nil {
		n.Log.Warn("notification failed", "tenant", key.tenant, "subscription", key.id, "err", err)
	}
	return err
}

// periodic sends a periodic subscription its entities as they are now.
// A failed notification is not retried: the next round sends anew.
func (n *Notifier) periodic(ctx context.Context, key subKey, d *subDef) {
	if n.Entities == nil || d.sub.Status(n.Now()) != cityops.SubscriptionActive {
		return
	}
	var list []*cityops.EntityChange
	seen := map[string]bool{}
	for _, sel := range d.selectors {
		f := cityops.EntityFilter{Tenant: key.tenant, Types: []string{sel.typ}, IDPattern: sel.re}
		if sel.id != "" {
			f.IDs = []string{sel.id}
		}
		if d.geo != nil {
			f.Box = d.geo.Box()
		}
		ents, _, err := n.Entities.FindEntities(sysCtx(ctx), f)
		if err != nil {
			if ctx.Err() == nil {
				n.Log.Error("periodic notification", "tenant", key.tenant, "subscription", key.id, "err", err)
			}
			return
		}
		for _, e := range ents {
			if seen[e.ID] || d.expr != nil && !q.Eval(d.expr, q.EntityGetter(e, d.expand)) || d.geo != nil && !d.geo.Match(e) {
				continue
			}
			seen[e.ID] = true
			list = append(list, &cityops.EntityChange{Tenant: key.tenant, ID: e.ID, Type: e.Type, Entity: e, At: e.ModifiedAt})
		}
	}
	if len(list) > n.MaxPeriodic {
		n.Log.Warn("periodic notification cut", "tenant", key.tenant, "subscription", key.id, "entities", len(list), "sent", n.MaxPeriodic)
		list = list[:n.MaxPeriodic]
	}
	for len(list) > 0 && ctx.Err() == nil {
		k := min(len(list), n.MaxBatch)
		if err := n.deliver(ctx, key, d, list[:k]); err != nil && ctx.Err() == nil {
			n.mu.Lock()
			n.stats.Abandoned++
			n.mu.Unlock()
		}
		list = list[k:]
	}
}

// statusError is an answer other than 2xx.
type statusError struct{ code int }

func (e statusError) Error() string {
	return fmt.Sprintf("the endpoint answered %d %s", e.code, http.StatusText(e.code))
}

// retryable: network errors, timeouts, 5xx, 408 and 429 may pass on a
// later try; other answers will not.
func retryable(err error) bool {
	var se statusError
	if errors.As(err, &se) {
		return se.code >= 500 || se.code == http.StatusTooManyRequests || se.code == http.StatusRequestTimeout
	}
	return true
}

func (n *Notifier) post(ctx context.Context, d *subDef, body []byte, header http.Header) error {
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.sub.Notification.Endpoint.URI, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header = header.Clone()
	res, err := n.Client.Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
	res.Body.Close()
	if res.StatusCode < 200 || res.StatusCode > 299 {
		return statusError{res.StatusCode}
	}
	return nil
}

// record adds one attempt to the counters Flush writes.
func (n *Notifier) record(key subKey, at time.Time, err error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	r := n.results[key]
	if r == nil {
		r = &cityops.NotificationResult{Tenant: key.tenant, ID: key.id}
		n.results[key] = r
	}
	r.Sent++
	r.LastNotification = at
	n.stats.Sent++
	if err != nil {
		r.Failed++
		r.LastFailure, r.Status = at, "failed"
		n.stats.Failed++
	} else {
		r.LastSuccess, r.Status = at, "ok"
	}
}

// Flush writes the delivery counters gathered since the last flush.
func (n *Notifier) Flush(ctx context.Context) {
	n.once.Do(n.init)
	n.mu.Lock()
	if len(n.results) == 0 {
		n.mu.Unlock()
		return
	}
	res := n.results
	n.results = map[subKey]*cityops.NotificationResult{}
	n.mu.Unlock()
	list := make([]cityops.NotificationResult, 0, len(res))
	for _, r := range res {
		list = append(list, *r)
	}
	if err := n.Store.RecordNotifications(sysCtx(ctx), list); err != nil {
		n.Log.Error("subscriptions: record notifications", "err", err)
		// Keep them for the next flush, under anything newer.
		n.mu.Lock()
		for k, old := range res {
			if r := n.results[k]; r != nil {
				r.Sent += old.Sent
				r.Failed += old.Failed
				if r.LastSuccess.IsZero() {
					r.LastSuccess = old.LastSuccess
				}
				if r.LastFailure.IsZero() {
					r.LastFailure = old.LastFailure
				}
			} else {
				n.results[k] = old
			}
		}
		n.mu.Unlock()
	}
}

const timeFormat = "2006-01-02T15:04:05.000Z"

// render builds a notification's body and headers.
func (d *subDef) render(batch []*cityops.EntityChange, now time.Time) ([]byte, http.Header, error) {
	ep := d.sub.Notification.Endpoint
	compact, link := d.compact, d.link
	ld := ep.Accept == "application/ld+json"
	if !ld && link == "" {
		// An inline @context cannot be linked: compact with the core
		// context, which the Link names.
		compact, link = jsonld.Core(), jsonld.CoreURL
	}
	data := make([]map[string]any, 0, len(batch))
	for _, c := range batch {
		data = append(data, d.entity(c, compact))
	}
	b := make([]byte, 12)
	rand.Read(b)
	msg := map[string]any{
		"id":             "urn:ngsi-ld:Notification:" + hex.EncodeToString(b),
		"type":           "Notification",
		"subscriptionId": d.sub.ID,
		"notifiedAt":     now.UTC().Format(timeFormat),
		"data":           data,
	}
	h := http.Header{}
	for _, kv := range ep.ReceiverInfo {
		h.Set(kv.Key, kv.Value)
	}
	h.Set("User-Agent", "cityops-ngsi-ld/"+cityops.Version)
	if ld {
		msg["@context"] = d.ldContext
		h.Set("Content-Type", "application/ld+json")
	} else {
		h.Set("Content-Type", "application/json")
		h.Set("Link", jsonld.LinkHeader(link))
	}
	body, err := json.Marshal(msg)
	return body, h, err
}

// entity renders one changed entity in the subscription's format and
// attributes; a deleted one is its id, type and deletedAt.
func (d *subDef) entity(c *cityops.EntityChange, ctx *jsonld.Context) map[string]any {
	out := map[string]any{"id": c.ID, "type": ctx.CompactIRI(c.Type)}
	if c.Deleted {
		out["deletedAt"] = c.At.UTC().Format(timeFormat)
		return out
	}
	e := c.Entity
	format := d.sub.Notification.Format
	if d.sub.Notification.SysAttrs && format != cityops.FormatKeyValues {
		out["createdAt"] = e.CreatedAt.UTC().Format(timeFormat)
		out["modifiedAt"] = e.ModifiedAt.UTC().Format(timeFormat)
	}
	for name, list := range e.Attrs {
		if d.attrs != nil && !d.attrs[name] {
			continue
		}
		vals := make([]any, 0, len(list))
		for _, a := range list {
			vals = append(vals, repr.Attr(map[string]any(a), ctx, format))
		}
		if len(vals) == 1 {
			out[ctx.CompactIRI(name)] = vals[0]
		} else {
			out[ctx.CompactIRI(name)] = vals
		}
	}
	return out
}

// The SubscriptionService methods store through Store and take effect in
// this process at once.

// CreateSubscription implements cityops.SubscriptionService.
func (n *Notifier) CreateSubscription(ctx context.Context, s *cityops.Subscription) error {
	if err := n.Store.CreateSubscription(ctx, s); err != nil {
		return err
	}
	n.refresh(ctx, s.Tenant, s.ID)
	return nil
}

// FindSubscription implements cityops.SubscriptionService.
func (n *Notifier) FindSubscription(ctx context.Context, tenant, id string) (*cityops.Subscription, error) {
	return n.Store.FindSubscription(ctx, tenant, id)
}

// FindSubscriptions implements cityops.SubscriptionService.
func (n *Notifier) FindSubscriptions(ctx context.Context, tenant string, offset, limit int) ([]*cityops.Subscription, int, error) {
	return n.Store.FindSubscriptions(ctx, tenant, offset, limit)
}

// UpdateSubscription implements cityops.SubscriptionService.
func (n *Notifier) UpdateSubscription(ctx context.Context, s *cityops.Subscription) error {
	if err := n.Store.UpdateSubscription(ctx, s); err != nil {
		return err
	}
	n.refresh(ctx, s.Tenant, s.ID)
	return nil
}

// DeleteSubscription implements cityops.SubscriptionService.
func (n *Notifier) DeleteSubscription(ctx context.Context, tenant, id string) error {
	if err := n.Store.DeleteSubscription(ctx, tenant, id); err != nil {
		return err
	}
	n.refresh(ctx, tenant, id)
	return nil
}
