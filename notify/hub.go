package notify

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/cityops/cityops"
)

// Hub follows the outbox and hands each new event to every subscriber, so
// that a thousand open consoles cost one database query per tick.
type Hub struct {
	Outbox   cityops.OutboxService
	Interval time.Duration
	Log      *slog.Logger

	mu   sync.Mutex
	subs map[chan *cityops.OutboxEvent]struct{}
	last int64
}

// Run follows the outbox until ctx ends, starting after the newest event.
func (h *Hub) Run(ctx context.Context) error {
	last, err := h.Outbox.LastOutboxID(ctx)
	if err != nil {
		return err
	}
	h.mu.Lock()
	h.last = last
	h.mu.Unlock()
	t := time.NewTicker(h.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		for {
			evs, err := h.Outbox.OutboxAfter(ctx, last, 500)
			if err != nil {
				if ctx.Err() == nil {
					h.Log.Warn("hub", "err", err)
				}
				break
			}
			h.mu.Lock()
			for _, e := range evs {
				for c := range h.subs {
					select {
					case c <- e:
					default: // a slow client misses live events; it reconnects with Last-Event-ID
					}
				}
				last = e.ID
			}
			h.last = last
			h.mu.Unlock()
			if len(evs) < 500 {
				break
			}
		}
	}
}

// Subscribe returns a channel of new events and a function to leave.
func (h *Hub) Subscribe() (<-chan *cityops.OutboxEvent, func()) {
	c := make(chan *cityops.OutboxEvent, 256)
	h.mu.Lock()
	if h.subs == nil {
		h.subs = map[chan *cityops.OutboxEvent]struct{}{}
	}
	h.subs[c] = struct{}{}
	h.mu.Unlock()
	return c, func() {
		h.mu.Lock()
		delete(h.subs, c)
		h.mu.Unlock()
	}
}

// Last returns the newest event the hub has passed on.
func (h *Hub) Last() int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.last
}
