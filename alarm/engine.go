package alarm

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cityops/cityops"
)

// Store is what the engine needs from storage (storage.DB implements it).
type Store interface {
	// AlarmRules returns every rule, enabled or not.
	AlarmRules(ctx context.Context) ([]*cityops.AlarmRule, error)
	// RaiseAlarm records a condition met: a new alarm, or a repeat of the
	// rule's open alarm for the entity.
	RaiseAlarm(ctx context.Context, in *cityops.AlarmRaise) (*cityops.Alarm, error)
	// EndAlarmCondition clears the open alarm of a rule (by code) and
	// entity when the rule clears automatically; nil when there was none
	// to clear.
	EndAlarmCondition(ctx context.Context, rule, tenant, entityID string, value float64) (*cityops.Alarm, error)
	// LastSeen lists the entities of a type with when they last changed
	// and their point location (to seed silence rules at start).
	LastSeen(ctx context.Context, entityType string) ([]cityops.EntitySeen, error)
}

// Options tune an Engine; the zero value works.
type Options struct {
	// InArea reports whether a point lies in the area with that code or in
	// an area below it. nil: rules with an Area never match.
	InArea func(lat, lon float64, area string) bool
	// Now is the clock of ticks; default time.Now.
	Now func() time.Time
	// Tick is how often time-based conditions (for_minutes, silence,
	// windows emptying) are checked; default 15s.
	Tick time.Duration
	// Queue is how many entity changes wait for evaluation at most; more
	// are dropped and counted. Default 65536.
	Queue int
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// Stats counts what an Engine did since it was made.
type Stats struct {
	Changes  uint64 // entity changes evaluated (of the types some rule watches)
	Readings uint64 // readings evaluated against a rule (a change may be read by several)
	Raised   uint64 // raises the Store took
	Ended    uint64 // ends the Store took (whether or not they cleared an alarm)
	Failed   uint64 // transitions given up after the Store failed them
	Dropped  uint64 // entity changes dropped because the queue was full
	// Queued and Writing are the entity changes waiting to be evaluated
	// and the transitions waiting for the Store, now.
	Queued, Writing int
	Rules           uint64 // enabled rules being evaluated
}

// Retries of a transition the Store failed, and the first wait between
// them (doubling).
const (
	attempts       = 4
	backoff        = 200 * time.Millisecond
	attemptTimeout = 30 * time.Second
	// maxWrites bounds the transitions waiting for the Store; beyond it
	// they are given up like failed ones.
	maxWrites = 1 << 20
	// chunk is how many changes are evaluated per hold of the lock that
	// Reload and ticks also take.
	chunk = 1024
)

// Engine evaluates the enabled alarm rules against entity changes as
// storage commits them (Listen) and against the clock (every Tick), and
// writes the transitions, raise and end, to the Store.
//
// Changes wait in a bounded queue, so Listen never blocks the writer of
// entities. One goroutine evaluates them in memory; another writes the
// transitions to the Store in the order they happened, retrying with
// back-off, so that evaluation never waits for the database. A transition
// the Store never took is undone in the state, so that the condition is
// sent again when the next reading (or tick) meets it.
//
// State is kept per rule and entity, in memory only: after a restart the
// first reading that meets a condition raises again, and the Store
// deduplicates against the open alarm.
type Engine struct {
	store    Store
	now      func() time.Time
	every    time.Duration
	limit    int
	log      *slog.Logger
	attempts int
	backoff  time.Duration

	reloadMu sync.Mutex // one Reload at a time
	mu       sync.Mutex // guards ev
	ev       *evaluator
	// types are the entity types some rule watches, for Listen to skip the
	// others; nil until the rules are loaded.
	types atomic.Pointer[map[string]bool]

	qmu    sync.Mutex
	queue  []cityops.EntityChange
	queued uint64   // sequence number of the last change queued
	lost   []output // transitions the Store never took, to undo
	wake   chan struct{}

	wmu      sync.Mutex
	writes   []write
	written  uint64        // changes up to this sequence number are evaluated and their transitions written
	progress chan struct{} // closed when written advances
	wwake    chan struct{}

	n struct {
		changes, readings, raised, ended, failed, dropped, rules atomic.Uint64
	}
}

// write is a transition for the Store, or a mark that the changes up to
// seq are evaluated.
type write struct {
	out  output
	mark bool
	seq  uint64
}

// New returns an engine over store; Run starts it.
func New(store Store, o Options) *Engine {
	e := &Engine{store: store, now: o.Now, every: o.Tick, limit: o.Queue, log: o.Logger,
		attempts: attempts, backoff: backoff, ev: newEvaluator(o.InArea),
		wake: make(chan struct{}, 1), wwake: make(chan struct{}, 1), progress: make(chan struct{})}
	if e.now == nil {
		e.now = time.Now
	}
	if e.every <= 0 {
		e.every = 15 * time.Second
	}
	if e.limit <= 0 {
		e.limit = 65536
	}
	if e.log == nil {
		e.log = slog.Default()
	}
	return e
}

// Listen is a cityops.EntityListener: it queues the changes for Run and
// returns at once (it is called on the storage writer's goroutine). When
// the queue is full it drops the changes and counts them.
func (e *Engine) Listen(changes []cityops.EntityChange) {
	types := e.types.Load()
	dropped := 0
	e.qmu.Lock()
	for i := range changes {
		c := &changes[i]
		if types != nil && !(*types)[c.Type] || c.Previewed {
			continue // not watched, or evaluated as it arrived
		}
		if len(e.queue) >= e.limit {
			dropped++
			continue
		}
		e.queue = append(e.queue, *c)
		e.queued++
	}
	e.qmu.Unlock()
	if dropped > 0 {
		e.n.dropped.Add(uint64(dropped))
	}
	signal(e.wake)
}

// Run loads the rules, seeds the silence rules from Store.LastSeen, then
// evaluates queued changes and ticks until ctx ends. It returns an error
// only when the rules cannot be loaded. On the way out it gives the
// Store a few seconds to take the transitions still waiting.
func (e *Engine) Run(ctx context.Context) error {
	if err := e.Reload(ctx); err != nil {
		return err
	}
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		e.writeLoop(ctx, stop)
	}()
	t := time.NewTicker(e.every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			close(stop)
			<-done
			return nil
		case <-e.wake:
			e.drain()
		case <-t.C:
			e.mu.Lock()
			e.ev.tick(e.now())
			out := e.ev.out
			e.ev.out = nil
			e.mu.Unlock()
			e.push(out, 0)
		}
	}
}

// Reload re-reads the rules, after an administrator changed them. Rules
// whose condition did not change keep their state (a changed message or
// severity does not count); new or changed silence rules are seeded from
// Store.LastSeen, whose failures are logged. Disabled and invalid rules
// are left out.
func (e *Engine) Reload(ctx context.Context) error {
	e.reloadMu.Lock()
	defer e.reloadMu.Unlock()
	all, err := e.store.AlarmRules(ctx)
	if err != nil {
		return fmt.Errorf("alarm rules: %w", err)
	}
	var defs []*cityops.AlarmRule
	types := map[string]bool{}
	ids := map[int64]bool{}
	for _, r := range all {
		if !r.Enabled {
			continue
		}
		check := *r // Validate trims the code and name
		if err := check.Validate(); err != nil {
			e.log.Warn("alarm: rule skipped", "rule", r.Code, "err", err)
			continue
		}
		if isAlert(r.EntityType) || ids[r.ID] {
			e.log.Warn("alarm: rule skipped", "rule", r.Code, "err", "it watches alerts or repeats another rule's id")
			continue
		}
		ids[r.ID] = true
		defs = append(defs, r)
		types[r.EntityType] = true
	}
	e.types.Store(&types)
	e.mu.Lock()
	fresh := e.ev.setRules(defs)
	e.mu.Unlock()
	e.n.rules.Store(uint64(len(defs)))

	silent := map[string][]*rule{}
	for _, r := range fresh {
		if r.def.Kind == cityops.RuleSilent {
			silent[r.def.EntityType] = append(silent[r.def.EntityType], r)
		}
	}
	for typ, rules := range silent {
		seen, err := e.store.LastSeen(ctx, typ)
		if err != nil {
			e.log.Warn("alarm: last seen", "type", typ, "err", err)
			continue
		}
		e.mu.Lock()
		for _, r := range rules {
			e.ev.seed(r, seen)
		}
		e.mu.Unlock()
	}
	return nil
}

// Stats returns the counters.
func (e *Engine) Stats() Stats {
	e.qmu.Lock()
	queued := len(e.queue)
	e.qmu.Unlock()
	e.wmu.Lock()
	writing := len(e.writes)
	e.wmu.Unlock()
	return Stats{
		Queued:   queued,
		Writing:  writing,
		Changes:  e.n.changes.Load(),
		Readings: e.n.readings.Load(),
		Raised:   e.n.raised.Load(),
		Ended:    e.n.ended.Load(),
		Failed:   e.n.failed.Load(),
		Dropped:  e.n.dropped.Load(),
		Rules:    e.n.rules.Load(),
	}
}

// Flush waits until every change queued before the call has been
// evaluated and its transitions written (or given up), for tests and for
// measuring latency. It waits for Run to do so: without Run it returns
// only when ctx ends.
func (e *Engine) Flush(ctx context.Context) error {
	e.qmu.Lock()
	target := e.queued
	e.qmu.Unlock()
	for {
		e.wmu.Lock()
		written, progress := e.written, e.progress
		e.wmu.Unlock()
		if written >= target {
			return nil
		}
		select {
		case <-progress:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// drain evaluates the queued changes and passes their transitions to the
// writer, then a mark of how far it got.
func (e *Engine) drain() {
	e.qmu.Lock()
	q, seq, lost := e.queue, e.queued, e.lost
	e.queue, e.lost = nil, nil
	e.qmu.Unlock()

	now := e.now()
	e.mu.Lock()
	for _, o := range lost {
		e.ev.revert(o)
	}
	e.mu.Unlock()
	for len(q) > 0 {
		n := min(len(q), chunk)
		e.mu.Lock()
		for i := range q[:n] {
			if q[i].At.IsZero() {
				q[i].At = now
			}
			e.ev.evaluate(&q[i])
		}
		out, readings := e.ev.out, e.ev.readings
		e.ev.out, e.ev.readings = nil, 0
		e.mu.Unlock()
		e.n.changes.Add(uint64(n))
		e.n.readings.Add(readings)
		e.push(out, 0)
		q = q[n:]
	}
	e.push(nil, seq)
}

// push queues transitions for the writer, then a mark of seq unless it
// is 0. Beyond maxWrites the transitions are given up.
func (e *Engine) push(out []output, seq uint64) {
	if len(out) == 0 && seq == 0 {
		return
	}
	var lost []output
	e.wmu.Lock()
	for _, o := range out {
		if len(e.writes) >= maxWrites {
			lost = append(lost, o)
			continue
		}
		e.writes = append(e.writes, write{out: o})
	}
	if seq > 0 {
		e.writes = append(e.writes, write{mark: true, seq: seq})
	}
	e.wmu.Unlock()
	signal(e.wwake)
	if len(lost) > 0 {
		e.log.Error("alarm: too many transitions waiting for the store; some are given up", "given_up", len(lost))
		e.n.failed.Add(uint64(len(lost)))
		e.lose(lost...)
	}
}

// writeLoop writes the transitions in order until stop is closed, then
// gives the Store five seconds for those still waiting.
func (e *Engine) writeLoop(ctx context.Context, stop <-chan struct{}) {
	wctx := context.WithoutCancel(ctx)
	stopping := false
	for {
		if !stopping && closed(stop) {
			stopping = true
			var cancel context.CancelFunc
			wctx, cancel = context.WithTimeout(wctx, 5*time.Second)
			defer cancel()
		}
		e.wmu.Lock()
		ws := e.writes
		e.writes = nil
		e.wmu.Unlock()
		if len(ws) == 0 {
			if stopping {
				return
			}
			select {
			case <-e.wwake:
			case <-stop:
			}
			continue
		}
		// Everything waiting goes in one go (a transaction on SQLite,
		// which waits for the single writer): readings evaluated as they
		// arrive leave a mark each, and writing the transitions mark by
		// mark made them wait for the writer once per mark.
		var run []output
		var mark uint64
		for _, w := range ws {
			if w.mark {
				mark = w.seq
			} else {
				run = append(run, w.out)
			}
		}
		e.writeAll(wctx, stop, run)
		if mark > 0 {
			e.wmu.Lock()
			e.written = mark
			close(e.progress)
			e.progress = make(chan struct{})
			e.wmu.Unlock()
		}
	}
}

// BatchStore is a Store that takes several transitions in one go (one
// database transaction), which storage.DB is: on SQLite every write waits
// for the single writer, so alarms that waited together are written
// together.
type BatchStore interface {
	ApplyAlarmTransitions(ctx context.Context, ts []cityops.AlarmTransition) ([]error, error)
}

// maxBatch bounds the transitions written in one go.
const maxBatch = 256

// writeAll writes transitions in order: in batches when the Store takes
// them, each failed one then retried on its own.
func (e *Engine) writeAll(ctx context.Context, stop <-chan struct{}, outs []output) {
	bs, ok := e.store.(BatchStore)
	if !ok || len(outs) < 2 {
		for _, o := range outs {
			e.write(ctx, stop, o)
		}
		return
	}
	for len(outs) > 0 {
		n := min(len(outs), maxBatch)
		batch := outs[:n]
		outs = outs[n:]
		ts := make([]cityops.AlarmTransition, len(batch))
		for i, o := range batch {
			switch o.tr.action {
			case raise:
				ts[i].Raise = o.raise
			case end:
				ts[i].End = &cityops.AlarmEnd{Rule: o.rule.def.Code, Tenant: o.key.tenant, EntityID: o.key.id, Value: o.tr.value}
			}
		}
		actx, cancel := context.WithTimeout(ctx, attemptTimeout)
		errs, err := bs.ApplyAlarmTransitions(actx, ts)
		cancel()
		for i, o := range batch {
			if err != nil || errs[i] != nil {
				e.write(ctx, stop, o) // on its own, with retries
				continue
			}
			if o.tr.action == raise {
				e.n.raised.Add(1)
			} else {
				e.n.ended.Add(1)
			}
		}
	}
}

// write sends one transition to the Store, retrying with back-off; once
// stop is closed it tries only once.
func (e *Engine) write(ctx context.Context, stop <-chan struct{}, o output) {
	delay := e.backoff
	for attempt := 1; ; attempt++ {
		err := e.send(ctx, o)
		if err == nil {
			if o.tr.action == raise {
				e.n.raised.Add(1)
			} else {
				e.n.ended.Add(1)
			}
			return
		}
		args := []any{"action", o.tr.action.String(), "rule", o.rule.def.Code, "tenant", o.key.tenant, "entity", o.key.id, "err", err}
		if attempt >= e.attempts || closed(stop) {
			e.log.Error("alarm: store failed; transition given up", args...)
			e.n.failed.Add(1)
			e.lose(o)
			return
		}
		e.log.Warn("alarm: store failed; retrying", append(args, "attempt", attempt)...)
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-stop:
			t.Stop()
		}
		delay *= 2
	}
}

// send makes one attempt at writing a transition.
func (e *Engine) send(ctx context.Context, o output) error {
	ctx, cancel := context.WithTimeout(ctx, attemptTimeout)
	defer cancel()
	var err error
	switch o.tr.action {
	case raise:
		_, err = e.store.RaiseAlarm(ctx, o.raise)
	case end:
		_, err = e.store.EndAlarmCondition(ctx, o.rule.def.Code, o.key.tenant, o.key.id, o.tr.value)
	}
	return err
}

// lose hands transitions the Store never took back to the evaluator, to
// undo.
func (e *Engine) lose(out ...output) {
	e.qmu.Lock()
	e.lost = append(e.lost, out...)
	e.qmu.Unlock()
	signal(e.wake)
}

// signal wakes a goroutine waiting on c (of capacity 1) without blocking.
func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

func closed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}
