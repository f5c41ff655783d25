package cityops

import (
	"context"
	"strings"
	"time"
	"unicode/utf8"
)

// Warning is a public warning the operations centre broadcasts: a flood
// warning, air too polluted to exercise outdoors, a road closed. It is
// shown on the public pages and published as an NGSI-LD Alert for
// subscribers while it is in force.
type Warning struct {
	ID         int64      `json:"id"`
	Title      string     `json:"title"`
	Body       string     `json:"body"`
	Severity   string     `json:"severity"`
	Sector     string     `json:"sector,omitempty"`
	Area       string     `json:"area,omitempty"` // the area it concerns; empty = the whole city
	ValidFrom  time.Time  `json:"valid_from"`
	ValidUntil *time.Time `json:"valid_until,omitempty"`
	CreatedBy  string     `json:"created_by,omitempty"`
	CreatedAt  time.Time  `json:"created_at"`
	Withdrawn  *time.Time `json:"withdrawn_at,omitempty"`
}

// InForce reports whether the warning applies at t.
func (w *Warning) InForce(t time.Time) bool {
	return w.Withdrawn == nil && !t.Before(w.ValidFrom) && (w.ValidUntil == nil || t.Before(*w.ValidUntil))
}

// Validate checks a warning's fields.
func (w *Warning) Validate() error {
	var v Validation
	w.Title, w.Body = strings.TrimSpace(w.Title), strings.TrimSpace(w.Body)
	n := utf8.RuneCountInString(w.Title)
	v.Check(n > 0 && n <= 200, "title", "is required, at most 200 characters")
	n = utf8.RuneCountInString(w.Body)
	v.Check(n > 0 && n <= 4000, "body", "is required, at most 4000 characters")
	v.Check(utf8.ValidString(w.Title) && utf8.ValidString(w.Body), "body", "is not valid UTF-8")
	v.Check(oneOf(w.Severity, Severities), "severity", "must be one of %s", strings.Join(Severities, ", "))
	v.Check(w.Sector == "" || ValidCode(w.Sector), "sector", "must be a sector code")
	v.Check(w.Area == "" || ValidCode(w.Area), "area", "must be an area code")
	if w.ValidUntil != nil && !w.ValidFrom.IsZero() {
		v.Check(w.ValidUntil.After(w.ValidFrom), "valid_until", "must be after valid_from")
	}
	return v.Err()
}

// WarningService keeps public warnings.
type WarningService interface {
	// CreateWarning broadcasts a warning; EINVALID, EFORBIDDEN.
	CreateWarning(ctx context.Context, w *Warning) error
	// WithdrawWarning ends a warning early; ENOTFOUND, EFORBIDDEN.
	WithdrawWarning(ctx context.Context, id int64) (*Warning, error)
	// FindWarnings returns warnings newest first: those in force now, or
	// all of them.
	FindWarnings(ctx context.Context, inForce bool, limit int) ([]*Warning, error)
}
