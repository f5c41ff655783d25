package main

// The browser's side of the alarms scenario: the dashboard's live stream,
// GET /api/v1/ioc/stream (Server-Sent Events), read as the /ioc page
// reads it, and the crossings followed from their publication to their
// `alarm` event.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cityops/cityops/internal/loadtool"
)

// Device phases, as the publishers and the stream see them.
const (
	phaseQuiet    int32 = iota // normal readings; may cross
	phaseHigh                  // over the trigger level until its hold ends
	phaseClearing              // back to normal, waiting for the alarm's clear
)

// clearWait is how long a device waits for its alarm's clear before it
// may cross again, and how long a crossing's alarm is waited for.
const clearWait = 10 * time.Second

// crossing is one reading over a trigger rule's level.
type crossing struct {
	dev       int
	value     float64
	published time.Time // just before the first high reading was handed to the MQTT client
	opensCase bool

	// Set by the stream:
	seen    time.Duration // from published to the alarm event; 0 until then
	action  string        // "raise", or "repeat" when the previous alarm was still open
	valueOK bool          // the event's value is the one published
	report  string        // the case it opened
}

// tracker follows the crossings and counts the stream's events.
type tracker struct {
	w      *world
	phases []atomic.Int32 // per device
	dev    map[string]int // entity id → device

	mu      sync.Mutex
	current map[int]*crossing // per device, its latest crossing
	all     []*crossing
	events  map[string]int64 // alarm events by action: trigger rules
	other   map[string]int64 // alarm events of other rules, by action
	clears  int64
	last    time.Time // the latest crossing's publication
	readErr error
}

func newTracker(w *world) *tracker {
	t := &tracker{w: w, phases: make([]atomic.Int32, w.devices), dev: make(map[string]int, w.devices),
		current: map[int]*crossing{}, events: map[string]int64{}, other: map[string]int64{}}
	for d := range w.devices {
		t.dev[w.entityID(d)] = d
	}
	return t
}

// start records a crossing of device dev about to be published.
func (t *tracker) start(dev int, value float64) *crossing {
	c := &crossing{dev: dev, value: value, opensCase: t.w.opensCase(dev)}
	t.mu.Lock()
	c.published = time.Now()
	t.current[dev] = c
	t.all = append(t.all, c)
	t.last = c.published
	t.mu.Unlock()
	return c
}

// alarmEvent is what the stream says of an alarm.
type alarmEvent struct {
	Rule     string  `json:"rule"`
	EntityID string  `json:"entity_id"`
	Value    float64 `json:"value"`
	Action   string  `json:"action"`
	Report   string  `json:"report"`
}

// event handles one `alarm` event received at now.
func (t *tracker) event(data []byte, now time.Time) {
	var e alarmEvent
	if err := json.Unmarshal(data, &e); err != nil {
		return
	}
	dev, ok := t.dev[e.EntityID]
	t.mu.Lock()
	defer t.mu.Unlock()
	if !ok || e.Rule != triggerCode(t.w.typeOf(dev)) {
		t.other[e.Action]++
		return
	}
	t.events[e.Action]++
	switch e.Action {
	case "raise", "repeat":
		if c := t.current[dev]; c != nil && c.seen == 0 {
			c.seen = max(now.Sub(c.published), time.Nanosecond)
			c.action, c.valueOK, c.report = e.Action, e.Value == c.value, e.Report
		}
	case "clear":
		t.clears++
		t.phases[dev].CompareAndSwap(phaseClearing, phaseQuiet)
	}
}

// pending reports how many crossings have no alarm event yet.
func (t *tracker) pending() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, c := range t.all {
		if c.seen == 0 {
			n++
		}
	}
	return n
}

// follow reads the live stream until ctx ends, handing `alarm` events to
// t; ready is closed once the stream has said hello.
func (t *tracker) follow(ctx context.Context, base, key string) (ready <-chan struct{}, done <-chan struct{}, err error) {
	c, err := guard.NewClient(base, key, 1, 0)
	if err != nil {
		return nil, nil, err
	}
	req, err := c.Request(ctx, http.MethodGet, "/api/v1/ioc/stream", "", nil)
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Accept", "text/event-stream")
	res, err := c.HTTP.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("GET /api/v1/ioc/stream: %w", err)
	}
	if res.StatusCode != http.StatusOK {
		res.Body.Close()
		return nil, nil, fmt.Errorf("GET /api/v1/ioc/stream: HTTP %d", res.StatusCode)
	}
	hello, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		defer res.Body.Close()
		br := bufio.NewReaderSize(res.Body, 64<<10)
		event, said := "", false
		for {
			line, err := br.ReadString('\n')
			now := time.Now()
			if err != nil {
				if ctx.Err() == nil {
					t.mu.Lock()
					t.readErr = fmt.Errorf("the live stream ended: %w", err)
					t.mu.Unlock()
				}
				return
			}
			line = strings.TrimRight(line, "\r\n")
			switch {
			case line == "":
				event = ""
			case strings.HasPrefix(line, "event:"):
				event = strings.TrimSpace(line[len("event:"):])
				if event == "hello" && !said {
					said = true
					close(hello)
				}
			case strings.HasPrefix(line, "data:") && event == "alarm":
				t.event([]byte(strings.TrimSpace(line[len("data:"):])), now)
			}
		}
	}()
	return hello, finished, nil
}

// crossingResult is what the crossings of a run showed.
type crossingResult struct {
	started, raised, repeated, unseen, wrongValue int
	cases                                         int // alarm events that opened a case
	latency, caseLatency                          []time.Duration
	events, other                                 map[string]int64
	readErr                                       error
}

// result sums up the crossings.
func (t *tracker) result() *crossingResult {
	t.mu.Lock()
	defer t.mu.Unlock()
	r := &crossingResult{started: len(t.all), events: maps.Clone(t.events), other: maps.Clone(t.other), readErr: t.readErr}
	for _, c := range t.all {
		switch {
		case c.seen == 0:
			r.unseen++
			continue
		case c.action == "repeat":
			r.repeated++
		default:
			r.raised++
		}
		if !c.valueOK {
			r.wrongValue++
		}
		if c.report != "" {
			r.cases++
		}
		r.latency = append(r.latency, c.seen)
		if c.opensCase {
			r.caseLatency = append(r.caseLatency, c.seen)
		}
	}
	slices.Sort(r.latency)
	slices.Sort(r.caseLatency)
	return r
}

// p is a quantile of the latencies with the crossings never seen counted
// as slower than any seen: a missed alarm is a slow one.
func (r *crossingResult) p(q int) time.Duration {
	all := slices.Clone(r.latency)
	for range r.unseen {
		all = append(all, time.Duration(1<<62))
	}
	return loadtool.Quantile(all, q)
}

// errNoHello is the failure of a live stream that never started.
var errNoHello = errors.New("the live stream did not say hello within 10 s")
