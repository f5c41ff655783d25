package http

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/cityops/cityops"
)

// EventSource hands out live outbox events (notify.Hub).
type EventSource interface {
	Subscribe() (<-chan *cityops.OutboxEvent, func())
}

// inScope reports whether a viewer may see a report event.
func inScope(a *cityops.Actor, e *cityops.OutboxEvent) bool { return sees(a, e.Agency, e.Area) }

// sees reports whether a viewer may see what belongs to an agency and an
// area, as storage scopes reports and alarms: the centre, the steering
// board and administrators see everything; agency staff their agency's;
// ward officers their agency's or their ward's.
func sees(a *cityops.Actor, agency, area string) bool {
	if a == nil {
		return false
	}
	if a.System {
		return true
	}
	if a.APIKey != nil {
		return a.APIKey.Agency == "" || agency == a.APIKey.Agency
	}
	u := a.User
	switch u.Role {
	case cityops.RoleOperator, cityops.RoleAdmin, cityops.RoleSteering:
		return true
	case cityops.RoleWardOfficer:
		return (u.AgencyCode != "" && agency == u.AgencyCode) || (u.AreaCode != "" && area == u.AreaCode)
	}
	return u.AgencyCode != "" && agency == u.AgencyCode
}

// handleStream is a Server-Sent Events stream of report events for the
// console. A client that reconnects with Last-Event-ID gets what it missed
// from the database first, so nothing falls between two connections.
func (s *Server) handleStream(w http.ResponseWriter, r *http.Request) error {
	if s.Events == nil || s.Outbox == nil {
		return cityops.Errorf(cityops.EUNAVAILABLE, "the event stream is not running")
	}
	actor := cityops.ActorFromContext(r.Context())
	live, leave := s.Events.Subscribe()
	defer leave()
	rc := startSSE(w)

	var last int64
	if id, err := strconv.ParseInt(r.Header.Get("Last-Event-ID"), 10, 64); err == nil && id > 0 {
		last = id
		for {
			evs, err := s.Outbox.OutboxAfter(r.Context(), last, 500)
			if err != nil {
				return nil // the response has started; the client reconnects
			}
			for _, e := range evs {
				send(w, actor, e)
				last = e.ID
			}
			if len(evs) < 500 {
				break
			}
		}
	}
	rc.Flush()
	beat := time.NewTicker(15 * time.Second)
	defer beat.Stop()
	for {
		select {
		case <-r.Context().Done():
			return nil
		case <-s.closing:
			return nil
		case <-beat.C:
			fmt.Fprint(w, ": keep-alive\n\n")
		case e := <-live:
			if e.ID <= last {
				continue
			}
			send(w, actor, e)
			last = e.ID
		}
		if err := rc.Flush(); err != nil {
			return nil
		}
	}
}

func send(w http.ResponseWriter, a *cityops.Actor, e *cityops.OutboxEvent) {
	if !inScope(a, e) {
		return
	}
	b, _ := json.Marshal(e)
	fmt.Fprintf(w, "id: %d\nevent: report\ndata: %s\n\n", e.ID, b)
}

func (s *Server) handleWebhookIndex(w http.ResponseWriter, r *http.Request) error {
	hooks, err := s.Outbox.FindWebhooks(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, list[*cityops.Webhook]{Items: hooks, Total: len(hooks)})
	return nil
}

func (s *Server) handleWebhookCreate(w http.ResponseWriter, r *http.Request) error {
	var h cityops.Webhook
	if err := decodeJSON(r, &h); err != nil {
		return err
	}
	if err := s.Outbox.CreateWebhook(r.Context(), &h); err != nil {
		return err
	}
	created(w, fmt.Sprintf("/api/v1/webhooks/%d", h.ID), &h)
	return nil
}

func (s *Server) handleWebhookDelete(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	if err := s.Outbox.DeleteWebhook(r.Context(), id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) handleDeliveryIndex(w http.ResponseWriter, r *http.Request) error {
	var v cityops.Validation
	status := r.URL.Query().Get("status")
	v.Check(status == "" || status == "pending" || status == "delivered" || status == "failed", "status", "must be pending, delivered or failed")
	limit := queryInt(r, &v, "limit", 100, 1, 1000)
	if err := v.Err(); err != nil {
		return err
	}
	ds, err := s.Outbox.FindDeliveries(r.Context(), status, limit)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, list[*cityops.Delivery]{Items: ds, Total: len(ds)})
	return nil
}

// startSSE answers with an event stream: the headers (no caching, no proxy
// buffering), the client's reconnection delay, and no write deadline, for
// a stream outlives the server's write timeout.
func startSSE(w http.ResponseWriter) *http.ResponseController {
	rc := http.NewResponseController(w)
	rc.SetWriteDeadline(time.Time{})
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, "retry: 2000\n\n")
	return rc
}
