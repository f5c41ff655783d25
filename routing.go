package cityops

import (
	"context"
	"time"
)

// RoutingRule sends reports of a category (or of a whole sector, or of
// everything) in an area (and the areas below it, or the whole city) to an
// agency, or to the People's Committee of the report's own ward or commune.
// The most specific rule wins: a deeper area first, then a category over a
// sector over everything. Rules are data that administrators edit.
type RoutingRule struct {
	ID       int64  `json:"id"`
	Category string `json:"category,omitempty"`
	Sector   string `json:"sector,omitempty"`
	Area     string `json:"area,omitempty"`
	Agency   string `json:"agency,omitempty"`
	// LocalAgency routes to the local-kind agency responsible for the
	// report's innermost area instead of a fixed agency.
	LocalAgency bool      `json:"local_agency"`
	Note        string    `json:"note,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
}

// Validate checks the fields that do not need the database.
func (r *RoutingRule) Validate() error {
	var v Validation
	if r.Category != "" && r.Sector != "" {
		v.Add("sector", "give a category or a sector, not both (a category has its sector)")
	}
	if (r.Agency == "") == !r.LocalAgency {
		v.Add("agency", "give an agency, or local_agency true, but not both")
	}
	v.Check(len(r.Note) <= 500, "note", "is longer than 500 characters")
	return v.Err()
}

// RoutingService manages routing rules.
type RoutingService interface {
	// FindRoutingRules lists every rule.
	FindRoutingRules(ctx context.Context) ([]*RoutingRule, error)
	// CreateRoutingRule returns EINVALID (also for unknown codes), EFORBIDDEN.
	CreateRoutingRule(ctx context.Context, r *RoutingRule) error
	// DeleteRoutingRule returns ENOTFOUND, EFORBIDDEN.
	DeleteRoutingRule(ctx context.Context, id int64) error
}

// WorkCalendar counts deadlines in working time.
type WorkCalendar interface {
	// Add returns when d of working time has passed after start.
	Add(start time.Time, d time.Duration) time.Time
}

// ReportConfig holds the rules of report handling that a city sets.
type ReportConfig struct {
	// NightFrom and NightTo bound the night, in minutes after local
	// midnight: non-urgent reports that arrive then wait for the morning.
	// Huế handles only urgent reports between 24:00 and 07:30.
	NightFrom, NightTo int
	// Zone is the city's time zone.
	Zone *time.Location
	// ConfirmDays is how long a resolved report waits for the citizen to
	// confirm before it closes by itself.
	ConfirmDays int
	// ReopenDays is how long after resolution a citizen may reopen.
	ReopenDays int
	// Calendar counts timed deadlines in working hours.
	Calendar WorkCalendar
	// DuplicateRadius and DuplicateWindow bound the open reports of the
	// same category suggested to a citizen as possibly the same problem.
	DuplicateRadius float64 // metres
	DuplicateWindow time.Duration
	// WarnBefore is how long before the deadline the handling agency is
	// warned.
	WarnBefore time.Duration
	// EscalateAfter is how long after the deadline an overdue report that
	// went to the agency head goes on to the operations centre.
	EscalateAfter time.Duration
}

// Timer events: recorded on the timeline (for staff) and sent through the
// outbox; they do not change a report's status.
const (
	EventDeadlineWarning = "deadline_warning"
	EventEscalateHead    = "escalate_head"   // overdue: the agency head is told
	EventEscalateCentre  = "escalate_centre" // still overdue: the centre is told
)

// TimerService runs the clock-driven parts of the workflow.
type TimerService interface {
	// RunTimers warns of deadlines, escalates overdue reports and closes
	// resolved reports whose confirmation period ended. It returns how many
	// reports it touched.
	RunTimers(ctx context.Context) (int, error)
}
