package notify

import (
	"context"
	"sync"
	"time"

	"github.com/cityops/cityops"
)

// LiveEvent is one update pushed to the operations centre's screens.
type LiveEvent struct {
	Kind string // "alarm", "warning", "readings", "case"
	// Alarm, Warning, Readings or Case is set, as Kind says.
	Alarm    *cityops.Alarm
	Action   string // the alarm's change
	Warning  *cityops.Warning
	Readings []Reading
	Case     *cityops.OutboxEvent
}

// Reading is the latest numeric state of one entity's attributes that
// changed, for the dashboard's map and charts.
type Reading struct {
	Tenant string             `json:"-"`
	ID     string             `json:"id"`
	Type   string             `json:"type"` // expanded
	At     time.Time          `json:"at"`
	Values map[string]float64 `json:"values"` // expanded attribute → value
}

// LiveHub fans alarms, warnings, case events and coalesced readings out to
// the dashboard's Server-Sent Events streams. Alarms and warnings go out
// at once; readings are coalesced per entity and sent every Interval, so a
// city writing 20,000 readings a second sends each screen one small batch
// per interval. A subscriber that falls behind loses events (its channel
// is bounded) rather than slowing anyone; the dashboard reloads its
// figures on reconnect.
type LiveHub struct {
	Interval time.Duration

	mu      sync.Mutex
	subs    map[chan LiveEvent]struct{}
	pending map[string]*Reading // tenant + id → latest
}

// NewLiveHub returns a hub flushing readings every interval.
func NewLiveHub(interval time.Duration) *LiveHub {
	return &LiveHub{Interval: interval, subs: map[chan LiveEvent]struct{}{}, pending: map[string]*Reading{}}
}

// Subscribe returns a channel of events and a function to leave.
func (h *LiveHub) Subscribe() (<-chan LiveEvent, func()) {
	c := make(chan LiveEvent, 256)
	h.mu.Lock()
	h.subs[c] = struct{}{}
	h.mu.Unlock()
	return c, func() {
		h.mu.Lock()
		delete(h.subs, c)
		h.mu.Unlock()
	}
}

func (h *LiveHub) publish(e LiveEvent) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for c := range h.subs {
		select {
		case c <- e:
		default: // a slow screen loses this event, nobody waits
		}
	}
}

// AlarmChanged is a storage alarm listener.
func (h *LiveHub) AlarmChanged(c cityops.AlarmChange) {
	h.publish(LiveEvent{Kind: "alarm", Alarm: c.Alarm, Action: c.Action})
}

// WarningChanged is a storage warning listener.
func (h *LiveHub) WarningChanged(w *cityops.Warning) {
	h.publish(LiveEvent{Kind: "warning", Warning: w})
}

// EntityChanged is a storage entity listener: it keeps the newest numeric
// values per entity until the next flush.
func (h *LiveHub) EntityChanged(changes []cityops.EntityChange) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.subs) == 0 {
		return // nobody watching: nothing to keep
	}
	for _, c := range changes {
		if c.Deleted || c.Entity == nil {
			continue
		}
		key := c.Tenant + "\x00" + c.ID
		r := h.pending[key]
		if r == nil {
			r = &Reading{Tenant: c.Tenant, ID: c.ID, Type: c.Type, Values: map[string]float64{}}
			h.pending[key] = r
		}
		r.At = c.At
		names := c.Attrs
		if len(names) == 0 {
			for name := range c.Entity.Attrs {
				names = append(names, name)
			}
		}
		for _, name := range names {
			for _, a := range c.Entity.Attrs[name] {
				if a.DatasetID() != "" {
					continue
				}
				if v, ok := a.Number(); ok {
					r.Values[name] = v
				}
			}
		}
	}
}

// Run follows the case events of src (the outbox hub, when given) and
// flushes readings every Interval until ctx ends.
func (h *LiveHub) Run(ctx context.Context, src *Hub) {
	var cases <-chan *cityops.OutboxEvent
	if src != nil {
		c, leave := src.Subscribe()
		defer leave()
		cases = c
	}
	t := time.NewTicker(h.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case e := <-cases:
			h.publish(LiveEvent{Kind: "case", Case: e})
		case <-t.C:
			h.flush()
		}
	}
}

func (h *LiveHub) flush() {
	h.mu.Lock()
	if len(h.pending) == 0 {
		h.mu.Unlock()
		return
	}
	rs := make([]Reading, 0, len(h.pending))
	for _, r := range h.pending {
		rs = append(rs, *r)
	}
	clear(h.pending)
	h.mu.Unlock()
	h.publish(LiveEvent{Kind: "readings", Readings: rs})
}
