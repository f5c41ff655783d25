package cityops

import (
	"context"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Alarm severities, from the most to the least serious (ITU-T X.733, as
// ThingsBoard and most operations centres use them).
const (
	SeverityCritical = "critical"
	SeverityMajor    = "major"
	SeverityMinor    = "minor"
	SeverityWarning  = "warning"
)

// Severities lists the severities, most serious first.
var Severities = []string{SeverityCritical, SeverityMajor, SeverityMinor, SeverityWarning}

// SeverityRank orders severities: 4 for critical down to 1 for warning, 0
// for anything else.
func SeverityRank(s string) int {
	switch s {
	case SeverityCritical:
		return 4
	case SeverityMajor:
		return 3
	case SeverityMinor:
		return 2
	case SeverityWarning:
		return 1
	}
	return 0
}

// Kinds of alarm condition.
const (
	// RuleThreshold: the value compares (Op) with Value, for at least
	// ForMinutes; it clears once the value no longer compares with Clear
	// (hysteresis: a river alarm at > 3.5 m that clears below 3.3 m).
	RuleThreshold = "threshold"
	// RuleRate: the value changed by Op Value within WindowMinutes (a river
	// rising more than 0.3 m in an hour); clears when the change over the
	// window no longer compares with Clear.
	RuleRate = "rate"
	// RuleCount: the value compared (Op) with Value in at least Count
	// readings within WindowMinutes; clears when no reading in the window
	// does.
	RuleCount = "count"
	// RuleSilent: no reading of Attr (or of any attribute when Attr is
	// empty) for WindowMinutes; clears with the next reading.
	RuleSilent = "silent"
)

// RuleKinds lists the kinds of condition.
var RuleKinds = []string{RuleThreshold, RuleRate, RuleCount, RuleSilent}

// Comparison operators of alarm rules.
var RuleOps = []string{">", ">=", "<", "<="}

// Compare reports whether v op x holds.
func Compare(v float64, op string, x float64) bool {
	switch op {
	case ">":
		return v > x
	case ">=":
		return v >= x
	case "<":
		return v < x
	case "<=":
		return v <= x
	}
	return false
}

// AlarmRule is a condition on the city's live data that raises an alarm,
// and, when Category is set, opens a case for the responsible agency. Rules
// are data, edited by administrators.
type AlarmRule struct {
	ID       int64  `json:"id"`
	Code     string `json:"code"`
	Name     string `json:"name"`
	Names    Names  `json:"names,omitempty"`
	Sector   string `json:"sector,omitempty"`
	Severity string `json:"severity"`
	// What the rule watches: every entity of EntityType (an expanded type
	// IRI), one entity (EntityID) or those located in Area or below it,
	// in the NGSI-LD tenant Tenant ("" is the default tenant).
	Tenant     string `json:"tenant,omitempty"`
	EntityType string `json:"entity_type"`
	EntityID   string `json:"entity_id,omitempty"`
	Area       string `json:"area,omitempty"`
	// Attr is the attribute (expanded IRI); empty only for RuleSilent,
	// where any attribute counts as a sign of life.
	Attr string `json:"attr,omitempty"`
	Kind string `json:"kind"`
	Op   string `json:"op,omitempty"`
	// Value is the threshold (threshold, count) or the change (rate).
	Value float64 `json:"value"`
	// Clear is where a threshold or rate alarm clears; nil means Value.
	Clear         *float64 `json:"clear,omitempty"`
	ForMinutes    int      `json:"for_minutes,omitempty"`
	WindowMinutes int      `json:"window_minutes,omitempty"`
	Count         int      `json:"count,omitempty"`
	// AutoClear clears the alarm when the condition ends; without it an
	// operator clears it.
	AutoClear bool `json:"auto_clear"`
	// Category, when set, makes a new alarm open a case in it, handled by
	// Agency (or by the category's routing when empty) within DueHours
	// working hours (or the category's deadline when 0).
	Category string `json:"category,omitempty"`
	Agency   string `json:"agency,omitempty"`
	DueHours int    `json:"due_hours,omitempty"`
	// Message is the alarm's text; {value} and {entity} are replaced.
	Message   string    `json:"message,omitempty"`
	Enabled   bool      `json:"enabled"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// ClearLevel returns where a threshold or rate alarm clears.
func (r *AlarmRule) ClearLevel() float64 {
	if r.Clear != nil {
		return *r.Clear
	}
	return r.Value
}

// Validate checks a rule's fields. Names of types and attributes must be
// expanded by the caller.
func (r *AlarmRule) Validate() error {
	var v Validation
	r.Code, r.Name = strings.TrimSpace(r.Code), strings.TrimSpace(r.Name)
	v.Check(ValidCode(r.Code), "code", "must be 1–64 letters, digits, '_', '.' or '-'")
	v.Check(r.Name != "", "name", "is required")
	v.Check(utf8.RuneCountInString(r.Name) <= 300, "name", "is longer than 300 characters")
	validateNames(&v, "names", r.Names)
	v.Check(oneOf(r.Severity, Severities), "severity", "must be one of %s", strings.Join(Severities, ", "))
	v.Check(ValidTenant(r.Tenant), "tenant", "must be 1–64 letters, digits, '_' or '-' (empty for the default tenant)")
	v.Check(r.EntityType != "" && len(r.EntityType) <= 500, "entity_type", "is required (at most 500 characters)")
	v.Check(r.EntityID == "" || ValidURI(r.EntityID), "entity_id", "must be a URI")
	v.Check(r.Area == "" || ValidCode(r.Area), "area", "must be an area code")
	v.Check(oneOf(r.Kind, RuleKinds), "kind", "must be one of %s", strings.Join(RuleKinds, ", "))
	v.Check(len(r.Attr) <= 500, "attr", "is longer than 500 characters")
	finite := !math.IsNaN(r.Value) && !math.IsInf(r.Value, 0)
	v.Check(finite, "value", "must be a finite number")
	if r.Clear != nil {
		v.Check(!math.IsNaN(*r.Clear) && !math.IsInf(*r.Clear, 0), "clear", "must be a finite number")
	}
	v.Check(r.ForMinutes >= 0 && r.ForMinutes <= 10080, "for_minutes", "must be 0 to 10080 (a week)")
	v.Check(r.WindowMinutes >= 0 && r.WindowMinutes <= 10080, "window_minutes", "must be 0 to 10080 (a week)")
	switch r.Kind {
	case RuleThreshold, RuleRate, RuleCount:
		v.Check(r.Attr != "", "attr", "is required")
		v.Check(oneOf(r.Op, RuleOps), "op", "must be one of %s", strings.Join(RuleOps, " "))
		if r.Clear != nil && finite && oneOf(r.Op, RuleOps) {
			// Hysteresis must lie on the quiet side of the threshold.
			ok := r.ClearLevel() == r.Value || (strings.HasPrefix(r.Op, ">") == (*r.Clear < r.Value))
			v.Check(ok, "clear", "must be on the other side of value from the alarm (below it for > and >=, above it for < and <=)")
		}
	}
	switch r.Kind {
	case RuleRate:
		v.Check(r.WindowMinutes > 0, "window_minutes", "is required for a rate of change")
	case RuleCount:
		v.Check(r.WindowMinutes > 0, "window_minutes", "is required for N times in M minutes")
		v.Check(r.Count >= 1 && r.Count <= 10000, "count", "must be 1 to 10000")
	case RuleSilent:
		v.Check(r.WindowMinutes > 0, "window_minutes", "is required: how long a silence raises the alarm")
	}
	v.Check(r.Category == "" || ValidCode(r.Category), "category", "must be a category code")
	v.Check(r.Agency == "" || ValidCode(r.Agency), "agency", "must be an agency code")
	v.Check(r.Agency == "" || r.Category != "", "agency", "needs a category: the agency handles the case the alarm opens")
	v.Check(r.DueHours >= 0 && r.DueHours <= 2000, "due_hours", "must be 0 to 2000")
	v.Check(utf8.RuneCountInString(r.Message) <= 1000, "message", "is longer than 1000 characters")
	v.Check(r.Sector == "" || ValidCode(r.Sector), "sector", "must be a sector code")
	return v.Err()
}

// Alarm statuses.
const (
	AlarmActive       = "active"
	AlarmAcknowledged = "acknowledged"
	AlarmCleared      = "cleared"
)

// AlarmOpen reports whether an alarm in status s still needs attention.
func AlarmOpen(s string) bool { return s == AlarmActive || s == AlarmAcknowledged }

// Alarm is a rule's condition met by one entity. While it is open, the
// condition coming back updates it (Count, Value) instead of raising
// another.
type Alarm struct {
	ID         int64   `json:"id"`
	Rule       string  `json:"rule"` // the rule's code
	RuleName   string  `json:"rule_name"`
	Sector     string  `json:"sector,omitempty"`
	Severity   string  `json:"severity"`
	Status     string  `json:"status"`
	Tenant     string  `json:"tenant,omitempty"`
	EntityID   string  `json:"entity_id"`
	EntityType string  `json:"entity_type"`
	Attr       string  `json:"attr,omitempty"`
	Value      float64 `json:"value"`
	Message    string  `json:"message"`
	// Count is how many times the condition was met while it was open.
	Count     int        `json:"count"`
	Lat       *float64   `json:"lat,omitempty"`
	Lon       *float64   `json:"lon,omitempty"`
	Area      string     `json:"area,omitempty"`
	Agency    string     `json:"agency,omitempty"` // the rule's, or the lead agency of its case
	RaisedAt  time.Time  `json:"raised_at"`
	UpdatedAt time.Time  `json:"updated_at"`
	AckedAt   *time.Time `json:"acked_at,omitempty"`
	AckedBy   string     `json:"acked_by,omitempty"`
	ClearedAt *time.Time `json:"cleared_at,omitempty"`
	ClearedBy string     `json:"cleared_by,omitempty"`
	// Report is the tracking code of the case the alarm opened.
	Report string        `json:"report,omitempty"`
	Events []*AlarmEvent `json:"events,omitempty"`
}

// AlarmEvent is one change in an alarm's life.
type AlarmEvent struct {
	At     time.Time `json:"at"`
	Action string    `json:"action"` // raise, repeat, acknowledge, clear, case, case_failed
	Actor  string    `json:"actor"`  // "system" or the staff member's e-mail
	Value  *float64  `json:"value,omitempty"`
	Note   string    `json:"note,omitempty"`
}

// Alarm actions an operator takes.
const (
	AlarmActAcknowledge = "acknowledge"
	AlarmActClear       = "clear"
)

// AlarmRaise is a condition met, as the evaluator reports it.
type AlarmRaise struct {
	Rule       *AlarmRule
	Tenant     string
	EntityID   string
	EntityType string
	Value      float64
	Message    string
	Lat, Lon   *float64
	At         time.Time
}

// AlarmEnd is a condition that ended, as the evaluator reports it.
type AlarmEnd struct {
	Rule     string // the rule's code
	Tenant   string
	EntityID string
	Value    float64
}

// AlarmTransition is a raise or an end.
type AlarmTransition struct {
	Raise *AlarmRaise
	End   *AlarmEnd
}

// AlarmFilter selects alarms.
type AlarmFilter struct {
	Open     bool // active or acknowledged only
	Status   []string
	Severity []string
	Sector   *string
	Area     *string // the area or any below it
	Rule     *string
	EntityID *string
	Report   *string
	Since    *time.Time // raised at or after
	Limit    int
	Offset   int
}

// AlarmChange is told to listeners after an alarm change commits.
type AlarmChange struct {
	Alarm  *Alarm
	Action string // as AlarmEvent.Action
}

// AlarmService keeps alarm rules and alarms.
type AlarmService interface {
	// AlarmRules returns every rule, enabled or not, by code.
	AlarmRules(ctx context.Context) ([]*AlarmRule, error)
	// FindAlarmRule returns ENOTFOUND.
	FindAlarmRule(ctx context.Context, code string) (*AlarmRule, error)
	// SaveAlarmRule creates a rule or replaces the one with its code;
	// EINVALID, EFORBIDDEN.
	SaveAlarmRule(ctx context.Context, r *AlarmRule) error
	// SaveAlarmRules saves several rules at once: all or none.
	SaveAlarmRules(ctx context.Context, rules []*AlarmRule) error
	// DeleteAlarmRule returns ENOTFOUND, EFORBIDDEN. Its alarms stay.
	DeleteAlarmRule(ctx context.Context, code string) error

	// RaiseAlarm records a condition met: a new alarm (which opens the
	// rule's case) or, while one for the rule and entity is open, a repeat.
	RaiseAlarm(ctx context.Context, in *AlarmRaise) (*Alarm, error)
	// EndAlarmCondition clears the open alarm of a rule and entity when its
	// rule clears automatically; it returns nil when there was none to
	// clear.
	EndAlarmCondition(ctx context.Context, rule, tenant, entityID string, value float64) (*Alarm, error)
	// ApplyAlarmTransitions records several raises and ends at once (the
	// alarm engine's), in one transaction; errs says which failed.
	ApplyAlarmTransitions(ctx context.Context, ts []AlarmTransition) (errs []error, err error)
	// ActOnAlarm acknowledges or clears an alarm for a staff member;
	// ENOTFOUND, ECONFLICT when the alarm is past that, EFORBIDDEN.
	ActOnAlarm(ctx context.Context, id int64, action, note string) (*Alarm, error)
	// FindAlarm returns one alarm with its events; ENOTFOUND.
	FindAlarm(ctx context.Context, id int64) (*Alarm, error)
	// FindAlarms returns alarms, newest first, and how many match.
	FindAlarms(ctx context.Context, f AlarmFilter) ([]*Alarm, int, error)
}

// Expand fills {value} and {entity} into a rule's message (or a default).
func (r *AlarmRule) Expand(entityID string, value float64) string {
	m := r.Message
	if m == "" {
		m = r.Name + ": {value} ({entity})"
	}
	v := strings.TrimRight(strings.TrimRight(strconv.FormatFloat(value, 'f', 3, 64), "0"), ".")
	if v == "" || v == "-" {
		v = "0"
	}
	return strings.NewReplacer("{value}", v, "{entity}", entityID).Replace(m)
}

// EntitySeen is when an entity last changed, for rules on silence.
type EntitySeen struct {
	Tenant   string
	ID       string
	Type     string
	At       time.Time
	Lat, Lon *float64
}
