package http

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/cityops/cityops"
)

// auditPageSize is how many entries the audit page shows at a time.
const auditPageSize = 50

func (s *Server) auditService() (cityops.AuditService, error) {
	if s.Audit == nil {
		return nil, cityops.Errorf(cityops.EUNAVAILABLE, "the audit trail is not served here")
	}
	return s.Audit, nil
}

// recordExport leaves a data export in the audit trail before the data
// goes out: an export that cannot be recorded does not happen.
func (s *Server) recordExport(r *http.Request, action, object, detail string) error {
	if s.Audit == nil {
		return nil
	}
	return s.Audit.Record(r.Context(), &cityops.AuditEntry{Action: action, Object: object, Outcome: cityops.AuditOK, Detail: detail})
}

// auditTime reads since and until as the command line's export does: an
// RFC 3339 time, or a date (midnight UTC).
func auditTime(q url.Values, v *cityops.Validation, name string) *time.Time {
	s := q.Get(name)
	if s == "" {
		return nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return &t
		}
	}
	v.Add(name, "must be an RFC 3339 time such as 2025-03-01T00:00:00+07:00, or a date such as 2025-03-01")
	return nil
}

// optional returns a pointer to a non-empty value, or nil.
func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// auditFilter reads the selection the export and the page share: q
// (text in actor, object or detail), actor, action (a prefix when it ends
// in a dot), object, outcome.
func auditFilter(q url.Values) cityops.AuditFilter {
	return cityops.AuditFilter{Text: optional(q.Get("q")), Actor: optional(q.Get("actor")), Action: optional(q.Get("action")),
		Object: optional(q.Get("object")), Outcome: optional(q.Get("outcome"))}
}

// handleAuditExport streams the selected entries as JSON lines, oldest
// first, for a SIEM: GET /api/v1/audit?since=…&until=…&actor=…&action=…
// &object=…&outcome=…&q=…. The export leaves an "audit.export" entry.
func (s *Server) handleAuditExport(w http.ResponseWriter, r *http.Request) error {
	audit, err := s.auditService()
	if err != nil {
		return err
	}
	var v cityops.Validation
	q := r.URL.Query()
	f := auditFilter(q)
	f.Since, f.Until = auditTime(q, &v, "since"), auditTime(q, &v, "until")
	if err := v.Err(); err != nil {
		return err
	}
	rc := http.NewResponseController(w)
	enc := json.NewEncoder(w)
	started := false
	start := func() {
		started = true
		h := w.Header()
		h.Set("Content-Type", "application/x-ndjson")
		h.Set("Content-Disposition", fmt.Sprintf(`attachment; filename="cityops-audit-%s.jsonl"`, time.Now().In(hueZone).Format("20060102-1504")))
		h.Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusOK)
	}
	var writeErr error
	n := 0
	err = audit.ExportAudit(r.Context(), f, func(e *cityops.AuditEntry) error {
		if !started {
			start()
		}
		if n%1000 == 0 {
			// A long export outlives the server's write timeout; each
			// batch gets a minute.
			rc.SetWriteDeadline(time.Now().Add(time.Minute))
			if n > 0 {
				rc.Flush()
			}
		}
		n++
		if err := enc.Encode(e); err != nil {
			writeErr = err
			return err
		}
		return nil
	})
	switch {
	case err == nil && !started:
		start() // nothing selected: an empty stream
	case err != nil && !started:
		return err
	case writeErr != nil:
		// The client went away.
	case err != nil:
		// The status is sent: cut the stream off so that the client
		// knows it is incomplete.
		s.Log.Error("audit export", "err", err, "entries", n)
		panic(http.ErrAbortHandler)
	}
	return nil
}

// auditRow is an entry as the page shows it.
type auditRow struct {
	*cityops.AuditEntry
	When                string // local time in Huế
	ActorURL, ObjectURL string // the page filtered on them
}

// auditPage is the administrators' view of the audit trail.
type auditPage struct {
	Entries []auditRow
	Total   int
	// First and Last number the entries shown, newest first.
	First, Last int
	// The form's values.
	Q, Action, Outcome, Actor, Object, From, To string
	Outcomes                                    []string
	// Newer and Older page; Download is the selection as JSON lines;
	// VerifyURL runs the verification.
	Newer, Older, Download, VerifyURL string
	Verified                          *cityops.AuditVerification
	Took                              string
}

// handleAuditPage lets administrators search the audit trail, download a
// selection for a SIEM and verify the chain. The period is in dates of
// Huế, both included.
func (s *Server) handleAuditPage(w http.ResponseWriter, r *http.Request) error {
	audit, err := s.auditService()
	if err != nil {
		return err
	}
	var v cityops.Validation
	q := r.URL.Query()
	p := &auditPage{Q: q.Get("q"), Action: q.Get("action"), Outcome: q.Get("outcome"), Actor: q.Get("actor"), Object: q.Get("object"),
		From: q.Get("from"), To: q.Get("to"), Outcomes: []string{cityops.AuditOK, cityops.AuditDenied, cityops.AuditFailed}}
	f := auditFilter(q)
	date := func(name, s string) *time.Time {
		if s == "" {
			return nil
		}
		t, err := time.ParseInLocation("2006-01-02", s, hueZone)
		if err != nil {
			v.Add(name, "must be a date such as 2025-03-01")
			return nil
		}
		return &t
	}
	f.Since = date("from", p.From)
	if to := date("to", p.To); to != nil {
		until := to.AddDate(0, 0, 1)
		f.Until = &until
	}
	f.Offset = queryInt(r, &v, "offset", 0, 0, 1<<30)
	f.Limit, f.NewestFirst = auditPageSize, true
	if err := v.Err(); err != nil {
		return err
	}
	list, total, err := audit.FindAudit(r.Context(), f)
	if err != nil {
		return err
	}
	p.Total = total
	if len(list) > 0 {
		p.First, p.Last = f.Offset+1, f.Offset+len(list)
	}
	for _, e := range list {
		p.Entries = append(p.Entries, auditRow{AuditEntry: e, When: e.At.In(hueZone).Format("02/01/2006 15:04:05"),
			ActorURL: "/staff/audit?" + url.Values{"actor": {e.Actor}}.Encode(), ObjectURL: "/staff/audit?" + url.Values{"object": {e.Object}}.Encode()})
	}

	// The selection without paging, for the other links.
	sel := url.Values{}
	for _, k := range []string{"q", "action", "outcome", "actor", "object", "from", "to"} {
		if x := q.Get(k); x != "" {
			sel.Set(k, x)
		}
	}
	page := func(offset int) string {
		u := url.Values{}
		for k, x := range sel {
			u[k] = x
		}
		if offset > 0 {
			u.Set("offset", fmt.Sprint(offset))
		}
		return "/staff/audit?" + u.Encode()
	}
	if f.Offset > 0 {
		p.Newer = page(max(f.Offset-auditPageSize, 0))
	}
	if f.Offset+len(list) < total {
		p.Older = page(f.Offset + len(list))
	}
	dl := url.Values{}
	for _, k := range []string{"q", "action", "outcome", "actor", "object"} {
		if x := sel.Get(k); x != "" {
			dl.Set(k, x)
		}
	}
	if f.Since != nil {
		dl.Set("since", f.Since.Format(time.RFC3339))
	}
	if f.Until != nil {
		dl.Set("until", f.Until.Format(time.RFC3339))
	}
	p.Download = "/api/v1/audit"
	if len(dl) > 0 {
		p.Download += "?" + dl.Encode()
	}
	verify := url.Values{}
	for k, x := range sel {
		verify[k] = x
	}
	verify.Set("verify", "1")
	p.VerifyURL = "/staff/audit?" + verify.Encode() + "#audit-verify"

	if q.Get("verify") != "" {
		start := time.Now()
		if p.Verified, err = audit.VerifyAudit(r.Context()); err != nil {
			return err
		}
		p.Took = time.Since(start).Round(time.Millisecond).String()
	}
	s.render(w, r, "audit.html", p)
	return nil
}
