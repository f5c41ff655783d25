package http

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cityops/cityops"
)

// Refusals — 401, 403, 413 and 429 answers — go into the audit trail, so
// that probing shows up there. A scanner could make thousands a second,
// so each (source, actor, status, path) is recorded at most once per
// refusalWindow, with the number of repeats since the last record.
const refusalWindow = 10 * time.Minute

// maxRefusalKeys bounds the memory of what was recorded; when it is full
// the oldest half is forgotten (which at worst records a repeat early).
const maxRefusalKeys = 10000

type refusalLog struct {
	mu   sync.Mutex
	seen map[string]*refusalSeen
}

type refusalSeen struct {
	at      time.Time
	repeats int
}

// auditRefusal records a refused request. Sign-in paths are left out:
// storage records each failed sign-in with its reason already.
func (s *Server) auditRefusal(r *http.Request, status int, err error) {
	if s.Audit == nil || r.URL.Path == "/login" || strings.HasPrefix(r.URL.Path, "/login/") {
		return
	}
	switch status {
	case http.StatusUnauthorized, http.StatusForbidden, http.StatusRequestEntityTooLarge, http.StatusTooManyRequests:
	default:
		return
	}
	ctx := r.Context()
	actor := cityops.ActorFromContext(ctx).AuditName()
	source := cityops.SourceFromContext(ctx)
	path := truncateString(r.URL.Path, 200)
	key := source + "|" + actor + "|" + strconv.Itoa(status) + "|" + r.Method + " " + path
	now := time.Now()
	s.refusals.mu.Lock()
	if s.refusals.seen == nil {
		s.refusals.seen = map[string]*refusalSeen{}
	}
	seen := s.refusals.seen[key]
	if seen != nil && now.Sub(seen.at) < refusalWindow {
		seen.repeats++
		s.refusals.mu.Unlock()
		return
	}
	repeats := 0
	if seen != nil {
		repeats = seen.repeats
	}
	if len(s.refusals.seen) >= maxRefusalKeys {
		for k, v := range s.refusals.seen {
			if now.Sub(v.at) >= refusalWindow/2 || len(s.refusals.seen) > maxRefusalKeys/2 {
				delete(s.refusals.seen, k)
			}
		}
	}
	s.refusals.seen[key] = &refusalSeen{at: now}
	s.refusals.mu.Unlock()

	detail := strconv.Itoa(status) + ": " + cityops.ErrorMessage(err)
	if repeats > 0 {
		detail += "; refused " + strconv.Itoa(repeats) + " more times in the " + refusalWindow.String() + " before"
	}
	// Recorded outside the request's cancellation: a client that hangs up
	// does not erase its refusal.
	rec := context.WithoutCancel(ctx)
	if err := s.Audit.Record(rec, &cityops.AuditEntry{Actor: actor, Source: source, Action: "http.refused",
		Object: r.Method + " " + path, Outcome: cityops.AuditDenied, Detail: detail}); err != nil {
		s.Log.Error("audit refusal", "err", err)
	}
}

func truncateString(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
